"""Structured logs: JSON lines with the request id, X-Request-ID taken or made and sent back, the id carried
into the threads and the ingestion job a request starts, and no secrets in any line."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from folio.ingest.embed import HashEmbedder
from folio.service.app import create_app
from folio.service.logs import configure_logging, current_request_id, request_id_context
from tests.service_helpers import contract_pdf, service, service_settings


@pytest.fixture
def captured():
    """Log lines in ``fmt`` into a buffer, next to pytest's own handlers; removed afterwards."""
    handlers = []
    root = logging.getLogger()
    level = root.level

    def start(fmt: str = "json") -> io.StringIO:
        buffer = io.StringIO()
        handlers.append(configure_logging(fmt, "INFO", stream=buffer, exclusive=False))
        return buffer

    yield start
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_request_ids_are_taken_or_made_and_on_every_line(tmp_path, captured):
    buffer = captured("json")
    settings = service_settings(tmp_path, None, llm_api_key=SecretStr("sk-secret-abc"))
    with service(settings) as client:
        given = client.get("/v1/documents", headers={"X-Request-ID": "lb-7f3a:42"})
        made = client.get("/v1/documents")
        refused = client.get("/v1/documents", headers={"X-Request-ID": "not a valid id;" + "x" * 200})
    assert given.headers["X-Request-ID"] == "lb-7f3a:42"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["X-Request-ID"])
    lines = _lines(buffer)
    access = [line for line in lines if line["logger"] == "folio.access"]
    assert [a["request_id"] for a in access] == ["lb-7f3a:42", made.headers["X-Request-ID"],
                                                 refused.headers["X-Request-ID"]]
    first = access[0]
    assert first["method"] == "GET" and first["path"] == "/v1/documents" and first["status"] == 200
    assert first["duration_ms"] >= 0 and first["level"] == "INFO" and first["ts"].endswith("Z")
    assert "sk-secret-abc" not in buffer.getvalue()


def test_health_probes_stay_quiet(tmp_path, captured):
    buffer = captured("json")
    with service(service_settings(tmp_path, None)) as client:
        client.get("/healthz")
        client.get("/readyz")
        client.get("/metrics")
    assert not [line for line in _lines(buffer) if line["logger"] == "folio.access"]


def test_an_upload_job_logs_under_the_uploading_request_id(tmp_path, captured):
    buffer = captured("json")
    with service(service_settings(tmp_path, None)) as client:
        response = client.post("/v1/documents?wait=true", files=[("files", ("msa.pdf", contract_pdf()))],
                               headers={"X-Request-ID": "upload-1"})
        job = response.json()["jobs"][0]
        assert job["request_id"] == "upload-1"
        assert client.get(f"/v1/jobs/{job['id']}").json()["request_id"] == "upload-1"
    ingested = [line for line in _lines(buffer) if line["logger"] == "folio.service.jobs"]
    assert ingested and ingested[0]["request_id"] == "upload-1"  # written by the worker thread
    assert ingested[0]["job_id"] == job["id"] and ingested[0]["status"] == "done"


def test_errors_are_logged_with_their_request_id_and_traceback(tmp_path, captured):
    buffer = captured("json")
    app = create_app(service_settings(tmp_path, None), embedder_factory=lambda: HashEmbedder(64))
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.runtime.store.list_documents = _boom
        response = client.get("/v1/documents", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500 and response.headers["X-Request-ID"] == "req-500"
    errors = [line for line in _lines(buffer) if line["level"] == "ERROR"]
    assert errors and errors[0]["request_id"] == "req-500" and "RuntimeError: boom" in errors[0]["exception"]
    access = [line for line in _lines(buffer) if line["logger"] == "folio.access"]
    assert access[-1]["status"] == 500 and access[-1]["request_id"] == "req-500"


def _boom(**_: object) -> None:
    raise RuntimeError("boom")


def test_text_format_and_the_context_helpers(captured):
    buffer = captured("text")
    log = logging.getLogger("folio.test")
    with request_id_context("abc123"):
        assert current_request_id() == "abc123"
        log.info("inside")
    assert current_request_id() is None
    log.info("outside")
    inside, outside = buffer.getvalue().splitlines()
    assert "INFO folio.test [abc123] inside" in inside and "[-] outside" in outside


def test_extra_fields_and_unserialisable_values_become_json(captured):
    buffer = captured("json")
    thing = object()
    logging.getLogger("folio.test").warning("odd %s", "value", extra={"thing": thing, "n": 3})
    line = _lines(buffer)[-1]
    assert line["message"] == "odd value" and line["n"] == 3 and line["thing"] == str(thing)
    assert "request_id" not in line


@pytest.mark.parametrize("stream", [False, True])
def test_the_request_id_reaches_the_provider(tmp_path, provider_double, stream):
    double = provider_double()
    with service(service_settings(tmp_path, double)) as client:
        job = client.post("/v1/documents?wait=true", files=[("files", ("supply.pdf", contract_pdf()))]).json()
        assert job["jobs"][0]["status"] == "done"
        response = client.post("/v1/query", headers={"X-Request-ID": "trace-me-42"},
                               json={"question": "What law governs?", "mode": "full", "stream": stream})
        assert response.status_code == 200
        _ = response.text  # the streamed body to its end
    seen = [r["request_id"] for r in double.requests()]
    assert seen and set(seen) == {"trace-me-42"}, seen
