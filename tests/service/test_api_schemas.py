"""The OpenAPI schema names a model for every answer (what /docs shows), and the answers match their models."""

from __future__ import annotations

from typing import Any

import pytest

from folio.service.app import create_app
from tests.service_helpers import service_settings

# path, method -> the model the 200 (or 202) answer is declared as
MAIN_ROUTES = {
    ("/v1/plan", "post"): "PlanResponse",
    ("/v1/query", "post"): "Answer",
    ("/v1/conversations", "post"): "ConversationSummary",
    ("/v1/conversations/{conversation_id}", "get"): "ConversationDetail",
    ("/v1/conversations/{conversation_id}/messages", "post"): "TurnResult",
    ("/v1/documents", "get"): "DocumentList",
    ("/v1/documents", "post"): "JobList",
    ("/v1/documents/{doc_id}", "get"): "Document",
    ("/v1/documents/{doc_id}/pages/{n}", "get"): "Page",
    ("/v1/documents/{doc_id}", "delete"): "Deleted",
    ("/v1/ledger", "get"): "LedgerSummary",
    ("/v1/jobs", "get"): "JobList",
    ("/v1/jobs/{job_id}", "get"): "Job",
    ("/v1/search", "post"): "SearchResults",
    ("/v1/chat/completions", "post"): "ChatCompletion",
    ("/v1/models", "get"): "ModelList",
    ("/v1/info", "get"): "Info",
    ("/healthz", "get"): "Health",
    ("/readyz", "get"): "Readiness",
}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> dict[str, Any]:
    app = create_app(service_settings(tmp_path_factory.mktemp("openapi"), None), preload_model=False)
    return app.openapi()


def _ref(operation: dict[str, Any]) -> str | None:
    for status in ("200", "201", "202"):
        content = operation["responses"].get(status, {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref")
        if ref:
            return str(ref).rsplit("/", 1)[-1]
    return None


@pytest.mark.parametrize(("path", "method"), list(MAIN_ROUTES))
def test_main_routes_name_their_models(openapi, path, method):
    assert _ref(openapi["paths"][path][method]) == MAIN_ROUTES[(path, method)]


def _binary(operation: dict[str, Any]) -> bool:
    """An answer that is not JSON (a page image): its media types say what it is."""
    content = operation["responses"].get("200", {}).get("content", {})
    return bool(content) and all(not kind.endswith("json") for kind in content)


def test_every_json_route_declares_a_model(openapi):
    untyped = [f"{method.upper()} {path}" for path, methods in openapi["paths"].items()
               for method, operation in methods.items()
               if path != "/metrics" and not _binary(operation) and _ref(operation) is None]
    assert untyped == []
    image = openapi["paths"]["/v1/documents/{doc_id}/pages/{n}/image"]["get"]
    assert list(image["responses"]["200"]["content"]) == ["image/png"]


def test_the_models_spell_out_the_plan_and_the_answer(openapi):
    schemas = openapi["components"]["schemas"]
    answer = schemas["Answer"]["properties"]
    for field in ("plan", "retrieved", "citations", "usage", "cost", "events", "coverage"):
        assert field in answer
    for model in ("Plan", "Estimate", "Estimates", "Usage", "Cost", "Citation", "CoverageReport", "CoveragePlan",
                  "RetrievedChunk", "Totals", "Pricing"):
        assert model in schemas, model
    assert set(schemas["Estimates"]["properties"]) == {"rag", "full", "coverage"}
    assert "class" in schemas["NeedReport"]["properties"]  # the wire name, not the Python one
    assert "from" in schemas["AnswerEvent"]["properties"]
