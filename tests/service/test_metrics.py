"""GET /metrics: Prometheus text with requests and latencies by route, routes chosen, tokens, dollars and
ingestion, parsed with prometheus_client's own parser and checked against the ledger."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from folio.service.metrics import Metrics, MetricsMiddleware
from tests.service_helpers import contract_pdf, service, service_settings, upload


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def _value(samples, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_count_routes_tokens_dollars_and_ingestion(tmp_path, provider_double):
    double = provider_double()
    with service(service_settings(tmp_path, double)) as client:
        job = upload(client, "msa.pdf", contract_pdf())
        refused = client.post("/v1/documents?wait=true", files=[("files", ("notes.exe", b"MZ\x90\x00binary"))])
        assert refused.status_code == 415
        assert client.get(f"/v1/documents/{job['document_id']}").status_code == 200
        assert client.get("/v1/documents/ffffffffffff").status_code == 404
        rag = client.post("/v1/query", json={"question": "What is the liability cap?", "mode": "rag"}).json()
        full = client.post("/v1/query", json={"question": "What is the liability cap?", "mode": "full"}).json()
        assert (rag["route"], full["route"]) == ("rag", "full")
        assert client.post("/v1/query", json={"question": "x?", "documents": ["ffffffffffff"]}).status_code == 404
        ledger = client.get("/v1/ledger").json()
        response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)

    # requests by route template (never the id) and status, with latencies
    assert _value(samples, "folio_http_requests_total", handler="/v1/documents/{doc_id}", status="200") == 1
    assert _value(samples, "folio_http_requests_total", handler="/v1/documents/{doc_id}", status="404") == 1
    assert _value(samples, "folio_http_requests_total", handler="/v1/query", method="POST") == 3
    assert _value(samples, "folio_http_request_duration_seconds_count", handler="/v1/query") == 3
    assert _value(samples, "folio_http_request_duration_seconds_sum", handler="/v1/query") > 0
    assert job["document_id"] not in response.text
    # routes chosen, and the question that failed
    assert _value(samples, "folio_questions_total", mode="rag", route="rag") == 1
    assert _value(samples, "folio_questions_total", mode="full", route="full") == 1
    assert _value(samples, "folio_question_failures_total", code="document_not_found") == 1
    # tokens and dollars add up to the ledger
    totals = ledger["totals"]
    assert _value(samples, "folio_tokens_total", type="cache_hit") == totals["hit_tokens"]
    assert _value(samples, "folio_tokens_total", type="cache_miss") == totals["miss_tokens"]
    assert _value(samples, "folio_tokens_total", type="output") == totals["output_tokens"] > 0
    assert _value(samples, "folio_cost_dollars_total") == pytest.approx(totals["dollars"])
    assert _value(samples, "folio_cost_dollars_total", route="full") > 0
    assert _value(samples, "folio_provider_requests_total") == totals["requests"]
    # ingestion: throughput counters, outcomes and the refused upload's code
    assert _value(samples, "folio_ingest_files_total", status="done") == 1
    assert _value(samples, "folio_ingest_files_total", status="failed") == 1
    assert _value(samples, "folio_ingest_failures_total", code="unsupported_format") == 1
    assert _value(samples, "folio_ingest_pages_total") == job["pages"]
    assert _value(samples, "folio_ingest_chunks_total") == job["chunks_total"] > 0
    assert _value(samples, "folio_ingest_duration_seconds_count") == 1
    assert _value(samples, "folio_ingest_queue_depth") == 0
    assert _value(samples, "folio_info", store="edge", pricing_profile="deepseek-v4-flash-compat") == 1
    assert _value(samples, "process_cpu_seconds_total") > 0


def test_a_streamed_response_is_timed_to_its_last_byte():
    metrics = Metrics(process=False)
    app = FastAPI()
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/slow/{n}")
    async def slow(n: int) -> StreamingResponse:
        async def body():
            for i in range(n):
                await asyncio.sleep(0.1)
                yield f"{i}\n"

        return StreamingResponse(body())

    with TestClient(app) as client:
        assert client.get("/slow/3").text == "0\n1\n2\n"
        assert client.get("/nowhere").status_code == 404
    samples = _samples(metrics.render()[0].decode())
    assert _value(samples, "folio_http_request_duration_seconds_sum", handler="/slow/{n}") >= 0.3
    assert _value(samples, "folio_http_requests_total", handler="unmatched", status="404") == 1
    assert _value(samples, "folio_http_requests_in_flight") == 0


def test_two_apps_in_one_process_count_apart(tmp_path):
    with service(service_settings(tmp_path / "one", None)) as one, \
            service(service_settings(tmp_path / "two", None)) as two:
        one.get("/healthz")
        one.get("/healthz")
        two.get("/healthz")
        first, second = _samples(one.get("/metrics").text), _samples(two.get("/metrics").text)
    assert _value(first, "folio_http_requests_total", handler="/healthz") == 2
    assert _value(second, "folio_http_requests_total", handler="/healthz") == 1


def test_a_refused_question_counts_once_whether_streamed_or_not(tmp_path, provider_double):
    double = provider_double()
    with service(service_settings(tmp_path, double)) as client:
        upload(client, "msa.pdf", contract_pdf())
        body = {"question": "What is the liability cap?", "mode": "full", "max_cost_usd": 1e-7}
        assert client.post("/v1/query", json=body).status_code == 422
        assert client.post("/v1/query", json={**body, "stream": True}).status_code == 422
        samples = _samples(client.get("/metrics").text)
    assert _value(samples, "folio_question_failures_total", code="over_budget") == 2
    assert double.requests() == []
