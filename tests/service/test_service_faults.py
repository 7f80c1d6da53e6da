"""Provider faults through the whole service: retries, fallbacks the response states, an honest ledger."""

from __future__ import annotations

import pytest

from tests.service_helpers import SAMPLES, contract_pdf, service, service_settings, upload


@pytest.fixture
def double(provider_double):
    return provider_double(retry_after_s=0)


@pytest.fixture
def client(tmp_path, double):
    with service(service_settings(tmp_path, double, llm_timeout_s=1.5)) as c:
        upload(c, "supply.pdf", contract_pdf())
        yield c


def _ask(client, **body):
    return client.post("/v1/query", json={"question": "Which state's laws govern the agreement?", **body})


def test_a_burst_of_429_and_500_is_retried(client, double):
    double.add_faults("429", "500")
    response = _ask(client, mode="rag")
    assert response.status_code == 200, response.text
    assert "Oregon" in response.json()["answer"]
    assert [r["status"] for r in double.requests()] == [429, 500, 200]
    # the ledger bills the one request that was answered
    assert client.get("/v1/ledger").json()["totals"]["requests"] == 1


def test_rate_limit_that_outlasts_the_retries_is_a_429_with_retry_after(client, double):
    double.add_faults("429", "429", "429", "429")
    response = _ask(client, mode="rag")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "provider_rate_limited"
    assert "Retry-After" in response.headers
    assert client.get("/v1/ledger").json()["totals"]["requests"] == 0


def test_timeouts_are_retried_then_reported(client, double):
    double.add_faults({"kind": "timeout", "seconds": 3}, {"kind": "timeout", "seconds": 3},
                      {"kind": "timeout", "seconds": 3})
    response = _ask(client, mode="rag")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "provider_timeout"


def test_malformed_json_is_retried(client, double):
    double.add_faults("malformed_json")
    response = _ask(client, mode="rag")
    assert response.status_code == 200, response.text
    assert "Oregon" in response.json()["answer"]


def test_context_length_error_falls_back_to_rag_and_says_so(client, double):
    double.add_faults("context_length")
    result = _ask(client, mode="full", warm=False).json()
    assert result["route"] == "rag"
    assert result["events"][0]["kind"] == "fallback" and result["events"][0]["to"] == "rag"
    assert "Oregon" in result["answer"]


def test_a_scope_over_the_window_is_planned_as_rag(tmp_path, provider_double):
    double = provider_double()
    settings = service_settings(tmp_path, double, context_window=3_000, output_reserve=500)
    with service(settings) as client:
        upload(client, "msa.pdf", (SAMPLES / "northwind-brightwater-msa.pdf").read_bytes())
        # a summary (not exhaustive: auto mode would read every page of it in coverage windows, issue 9)
        plan = client.post("/v1/plan", json={"question": "Summarise the obligations", "mode": "auto"}).json()
        assert plan["route"] == "rag"
        assert plan["plan"]["estimates"]["full"]["feasible"] is False
        assert "does not fit" in plan["reason"]
        forced = client.post("/v1/query", json={"question": "Summarise all obligations", "mode": "full"}).json()
        assert forced["route"] == "rag" and "do not fit" in forced["reason"]


def test_over_window_collection_uses_the_most_relevant_documents_that_fit(tmp_path, provider_double):
    double = provider_double()
    settings = service_settings(tmp_path, double, context_window=8_500, output_reserve=500)
    with service(settings) as client:
        upload(client, "supply.pdf", contract_pdf())
        upload(client, "msa.pdf", (SAMPLES / "northwind-brightwater-msa.pdf").read_bytes())
        upload(client, "report.pdf", (SAMPLES / "brightwater-annual-report-2025.pdf").read_bytes())
        plan = client.post("/v1/plan", json={"question": "Compare the termination rights across all contracts",
                                             "mode": "full"}).json()["plan"]
        assert plan["route"] == "full"
        assert 0 < len(plan["full_scope"]) < 3
        assert "most relevant" in plan["notes"][0]


def test_self_route_escalates_when_the_chunks_cannot_answer(client, double):
    double.add_faults({"kind": "reply", "text": "The documents do not contain the answer."})
    # a lookup over a scope a few times the size of its retrieved chunks (the contract and an annual report):
    # retrieval is planned (over the short contract alone, whole documents would cost no more over a session,
    # and auto would read it whole)
    upload(client, "report.pdf", (SAMPLES / "brightwater-annual-report-2025.pdf").read_bytes())
    result = _ask(client, cascade=True, mode="auto").json()
    assert result["plan"]["route"] == "rag"
    assert [e["kind"] for e in result["events"]] == ["escalation"]
    assert result["route"] == "full" and "Oregon" in result["answer"]
    kinds = [r["fault"] for r in double.requests()]
    assert kinds[0] == "reply" and len(kinds) >= 2
    ledger = client.get("/v1/ledger").json()
    assert set(ledger["by_route"]) == {"rag", "full"}  # both steps were billed
    assert result["usage"]["miss_tokens"] == sum(r["miss_tokens"] for r in double.requests())


def test_self_route_respects_the_budget(client, double):
    double.add_faults({"kind": "reply", "text": "The documents do not contain the answer."})
    # a budget that retrieval fits and whole documents do not
    plan = client.post("/v1/plan", json={"question": "Which state's laws govern the agreement?"}).json()["plan"]
    rag, full = plan["estimates"]["rag"]["dollars"], plan["estimates"]["full"]["dollars"]
    assert rag < full
    result = _ask(client, cascade=True, mode="auto", max_cost_usd=(rag + full) / 2).json()
    assert result["route"] == "rag"
    assert result["events"][0]["kind"] == "no_escalation" and "budget" in result["events"][0]["reason"]
    assert len(double.requests()) == 1


def test_a_cut_connection_before_any_text_is_retried(client, double):
    double.add_faults("cut_stream")
    response = _ask(client, mode="rag")
    assert response.status_code == 200, response.text
    assert [r["fault"] for r in double.requests()] == ["cut_stream", None]


def test_a_stream_cut_mid_answer_ends_with_an_error_event(client, double):
    double.add_faults("cut_stream")
    with client.stream("POST", "/v1/query", json={"question": "Which state's laws govern the agreement?",
                                                  "mode": "rag", "stream": True}) as response:
        body = response.read().decode()
    kinds = [line.removeprefix("event: ") for line in body.splitlines() if line.startswith("event: ")]
    assert kinds[0] == "plan" and kinds[-1] == "error" and "done" not in kinds
    assert "delta" in kinds  # part of the answer had been shown: it is not silently replaced
    assert '"provider_error"' in body
    # the provider sent no usage, but read the prompt and wrote part of an answer: the ledger bills its estimate
    billed = double.requests()
    assert len(billed) == 1
    ledger = client.get("/v1/ledger").json()["totals"]
    assert ledger["requests"] == 1 and ledger["estimated_requests"] == 1
    assert ledger["hit_tokens"] + ledger["miss_tokens"] == pytest.approx(billed[0]["prompt_tokens"], rel=0.05)
    assert ledger["output_tokens"] > 0 and ledger["dollars"] > 0


def test_a_full_context_stream_cut_is_billed_on_the_whole_prompt(client, double):
    double.add_faults("cut_stream")
    with client.stream("POST", "/v1/query", json={"question": "Which state's laws govern the agreement?",
                                                  "mode": "full", "warm": False, "stream": True}) as response:
        body = response.read().decode()
    assert "event: error" in body and "event: done" not in body
    billed = double.requests()
    ledger = client.get("/v1/ledger").json()
    totals = ledger["totals"]
    assert totals["estimated_requests"] == 1 and list(ledger["by_route"]) == ["full"]
    assert totals["hit_tokens"] + totals["miss_tokens"] == pytest.approx(billed[-1]["prompt_tokens"], rel=0.05)

