"""The REST API over a real (in-process) app, local Qdrant and the provider double over real HTTP."""

from __future__ import annotations

import json

import pytest

from folio.service.pricing import get_profile
from tests.pdfs import image_only_pdf
from tests.service_helpers import SAMPLES, contract_pdf, service, service_settings, upload


@pytest.fixture
def double(provider_double):
    return provider_double()


@pytest.fixture
def client(tmp_path, double):
    with service(service_settings(tmp_path, double)) as c:
        yield c


def test_documents_lifecycle_and_pages(client):
    job = upload(client, "supply.pdf", contract_pdf())
    upload(client, "amendment-1.docx", (SAMPLES / "amendment-1.docx").read_bytes())
    docs = client.get("/v1/documents").json()["documents"]
    assert [d["file_name"] for d in docs] == ["supply.pdf", "amendment-1.docx"]
    supply = docs[0]
    assert supply["id"] == job["document_id"] and supply["n_pages"] == 3
    costs = supply["question_cost_usd"]
    assert costs["full_cached"] < costs["full_cold"]
    page = client.get(f"/v1/documents/{supply['id'][:10]}/pages/3").json()
    assert "State of Oregon" in page["text"] and page["page"] == 3
    missing = client.get(f"/v1/documents/{supply['id']}/pages/4")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "page_not_found"
    assert client.delete(f"/v1/documents/{supply['id']}").status_code == 200
    assert client.get(f"/v1/documents/{supply['id']}").json()["error"]["code"] == "document_not_found"
    assert [d["file_name"] for d in client.get("/v1/documents").json()["documents"]] == ["amendment-1.docx"]


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("broken.pdf", b"%PDF-1.4 garbage garbage", 422, "corrupt_file"),
    ("scan.pdf", image_only_pdf(1), 422, "no_text"),
    ("sheet.xlsx", b"PK\x03\x04", 415, "unsupported_format"),
    ("empty.txt", b"", 422, "empty_file"),
])
def test_bad_uploads_get_a_clear_4xx(client, name, data, status, code):
    upload(client, "supply.pdf", contract_pdf())
    response = client.post("/v1/documents?wait=true", files=[("files", (name, data))])
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["file"] == name
    assert len(client.get("/v1/documents").json()["documents"]) == 1


def test_a_batch_with_one_bad_file_goes_on(client):
    response = client.post("/v1/documents", files=[("files", ("a.pdf", contract_pdf())),
                                                   ("files", ("../../etc/bad.pdf", b"%PDF-1.4 junk"))])
    assert response.status_code == 202
    jobs = response.json()["jobs"]
    assert jobs[1]["file"] == "bad.pdf"  # path parts are dropped from uploaded names
    for job in jobs:
        while (state := client.get(f"/v1/jobs/{job['id']}").json())["finished"] is None:
            pass
        job.update(state)
    assert [j["status"] for j in jobs] == ["done", "failed"]
    assert jobs[1]["error"]["code"] == "corrupt_file"


def test_plan_prices_both_routes_without_calling_the_model(client, double):
    upload(client, "supply.pdf", contract_pdf())
    body = client.post("/v1/plan", json={"question": "What is the governing law?"}).json()
    assert body["route"] in ("rag", "full")
    estimates = body["plan"]["estimates"]
    assert estimates["rag"]["dollars"] > 0 and estimates["full"]["dollars"] > 0
    assert body["plan"]["need"]["class"] == "lookup"
    assert body["retrieved"] and body["model_configured"] is True
    assert double.requests() == []


def test_a_lookup_premium_turns_a_retrieval_plan_into_whole_documents(client, double):
    upload(client, "supply.pdf", contract_pdf())
    upload(client, "report.pdf", (SAMPLES / "brightwater-annual-report-2025.pdf").read_bytes())
    question = {"question": "Which state's laws govern the agreement?"}
    plain = client.post("/v1/plan", json=question).json()
    assert plain["route"] == "rag" and "retrieval is cheaper" in plain["reason"]
    estimates = plain["plan"]["estimates"]
    # both routes per question over the session, as the plan compares them
    extra = estimates["full"]["amortised_dollars"] - estimates["rag"]["amortised_dollars"]
    bought = client.post("/v1/plan", json={**question, "lookup_premium_usd": extra * 1.01}).json()
    assert bought["route"] == "full" and "within the lookup premium" in bought["reason"]
    short = client.post("/v1/plan", json={**question, "lookup_premium_usd": extra * 0.99}).json()
    assert short["route"] == "rag" and "more than the lookup premium" in short["reason"]
    assert double.requests() == []


def test_rag_answer_cites_a_verified_page_and_bills_the_ledger(client, double):
    upload(client, "supply.pdf", contract_pdf())
    result = client.post("/v1/query", json={"question": "Which state's laws govern the agreement?",
                                            "mode": "rag"}).json()
    assert result["route"] == "rag"
    assert "Oregon" in result["answer"]
    assert result["citations"] and result["citations"][0]["verified"] is True
    assert result["citations"][0]["page"] == 3
    usage, cost = result["usage"], result["cost"]
    prices = get_profile()
    assert cost["dollars"] == pytest.approx(prices.dollars(hit_tokens=usage["hit_tokens"],
                                                           miss_tokens=usage["miss_tokens"],
                                                           output_tokens=usage["output_tokens"]), rel=1e-6)
    billed = double.requests()[-1]
    assert usage["miss_tokens"] + usage["hit_tokens"] == billed["prompt_tokens"]
    ledger = client.get("/v1/ledger").json()
    assert ledger["totals"]["requests"] == 1
    assert ledger["totals"]["dollars"] == pytest.approx(cost["dollars"])
    assert list(ledger["by_route"]) == ["rag"]


def _ask_full(client, question, **extra):
    return client.post("/v1/query", json={"question": question, "mode": "full", **extra}).json()


def test_without_warming_hits_come_from_the_third_question_and_only_on_the_detected_prefix(client, double):
    upload(client, "supply.pdf", contract_pdf())
    upload(client, "msa.pdf", (SAMPLES / "northwind-brightwater-msa.pdf").read_bytes())
    questions = ("What is the governing law?", "What are the payment terms?", "What is the initial term?",
                 "How much notice ends the agreement?")
    hits = [_ask_full(client, q, warm=False)["usage"]["hit_tokens"] for q in questions]
    scope = client.post("/v1/plan", json={"question": "x", "mode": "full"}).json()["plan"]["inputs"]["scope_tokens"]
    # 1 and 2 miss; the provider then notices their common prefix, which ends inside "Question: What"
    assert hits[0] == 0 and hits[1] == 0
    assert hits[2] >= scope - 64 and hits[2] % 64 == 0
    # a question that starts differently does not contain that unit: it misses again
    assert hits[3] == 0
    # so the planner stops trusting the prefix and auto mode warms it: the next question hits
    plan = client.post("/v1/plan", json={"question": "Who signs?", "mode": "full"}).json()["plan"]
    assert plan["warmup"] is True
    assert _ask_full(client, "Who signs?")["usage"]["hit_tokens"] >= scope - 64


def test_warming_makes_the_first_question_hit_and_the_estimate_matches_the_bill(client, double):
    upload(client, "msa.pdf", (SAMPLES / "northwind-brightwater-msa.pdf").read_bytes())
    plan = client.post("/v1/plan", json={"question": "What is the liability cap?", "mode": "full",
                                         "warm": True}).json()["plan"]
    assert plan["warmup"] is True
    result = _ask_full(client, "What is the liability cap?", warm=True)
    warm_request, question_request = double.requests()
    assert warm_request["hit_tokens"] == 0
    assert question_request["hit_tokens"] >= plan["inputs"]["scope_tokens"] - 64
    # the planner's token estimate is within 1% of what the provider counted, its dollars within 5%
    estimate = plan["estimates"]["full"]
    billed_prompt = warm_request["prompt_tokens"] + question_request["prompt_tokens"]
    assert estimate["hit_tokens"] + estimate["miss_tokens"] == pytest.approx(billed_prompt, rel=0.01)
    prices = get_profile()
    estimated = prices.dollars(hit_tokens=int(estimate["hit_tokens"]), miss_tokens=int(estimate["miss_tokens"]),
                               output_tokens=result["usage"]["output_tokens"])
    assert estimated == pytest.approx(result["cost"]["dollars"], rel=0.05)
    # the next question's plan knows the prefix is cached now
    again = client.post("/v1/plan", json={"question": "Who pays the insurance?", "mode": "full"}).json()["plan"]
    assert again["inputs"]["cache"]["h"] > 0.9 and again["warmup"] is False


def test_cache_expires_after_the_providers_ttl(tmp_path, provider_double):
    double = provider_double(ttl_s=600)
    with service(service_settings(tmp_path, double)) as client:
        upload(client, "msa.pdf", (SAMPLES / "northwind-brightwater-msa.pdf").read_bytes())
        assert _ask_full(client, "What is the liability cap?", warm=True)["usage"]["hit_tokens"] > 0
        assert _ask_full(client, "Who are the parties?")["usage"]["hit_tokens"] > 0
        double.advance_clock(601)
        assert _ask_full(client, "What is the governing law?", warm=False)["usage"]["hit_tokens"] == 0


def test_streaming_sends_plan_text_and_result(client):
    upload(client, "supply.pdf", contract_pdf())
    with client.stream("POST", "/v1/query", json={"question": "Which state's laws govern the agreement?",
                                                  "mode": "rag", "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = []
        for block in response.read().decode().split("\n\n"):
            if block.strip() and not block.startswith(":"):  # ":": a comment, the keep-alive ping
                kind, data = block.split("\n", 1)
                events.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    kinds = [k for k, _ in events]
    assert kinds[0] == "plan" and kinds[-1] == "done" and "delta" in kinds
    text = "".join(d["text"] for k, d in events if k == "delta")
    assert text == events[-1][1]["answer"]
    assert events[-1][1]["citations"][0]["verified"] is True


def test_no_model_configured_still_plans_and_retrieves(tmp_path):
    with service(service_settings(tmp_path, None)) as client:
        upload(client, "supply.pdf", contract_pdf())
        result = client.post("/v1/query", json={"question": "Which state's laws govern?"}).json()
        assert result["answer"] is None
        assert "FOLIO_LLM_API_KEY" in result["message"]
        assert result["retrieved"] and result["plan"]["estimates"]["full"]["dollars"] > 0
        assert client.get("/readyz").json()["checks"]["llm_configured"] is False


def test_unknown_scope_is_404_and_bad_request_is_422(client):
    upload(client, "supply.pdf", contract_pdf())
    response = client.post("/v1/query", json={"question": "x?", "documents": ["ffffffffffff"]})
    assert response.status_code == 404 and response.json()["error"]["code"] == "document_not_found"
    response = client.post("/v1/query", json={"question": "", "mode": "sideways"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_health(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["qdrant"] == "ok"


def test_document_list_by_status_and_info(client):
    job = upload(client, "supply.pdf", contract_pdf())
    store = client.app.state.runtime.store
    half = store.require_document(job["document_id"], with_pages=True).model_copy(
        update={"id": "f" * 64, "file_name": "half.pdf", "ingested_at": "2099-01-01T00:00:00+00:00"})
    store.begin_document(half)  # as a killed upload would leave it: status "writing", no chunks
    assert [d["file_name"] for d in client.get("/v1/documents").json()["documents"]] == ["supply.pdf"]
    every = client.get("/v1/documents?status=all").json()["documents"]
    assert [(d["file_name"], d["status"]) for d in every] == [("supply.pdf", "ready"), ("half.pdf", "writing")]
    writing = client.get("/v1/documents?status=writing").json()["documents"]
    assert [d["file_name"] for d in writing] == ["half.pdf"]
    bad = client.get("/v1/documents?status=gone")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    info = client.get("/v1/info").json()
    assert info["max_cost_usd"] == 0.25 and info["top_k"] == 8 and info["llm_configured"] is True


def test_the_documents_list_prices_a_cold_whole_document_question_as_the_plan_does(client):
    """The list's "whole, cold" is the plan's full-context estimate for a cold scope (system prompt, layout,
    output, warm-up), for a question of the list's reference length (issue 21: $0.00247 listed, $0.00301 planned)."""
    upload(client, "supply.pdf", contract_pdf())
    [doc] = client.get("/v1/documents").json()["documents"]
    costs = doc["question_cost_usd"]
    plan = client.post("/v1/plan", json={"question": "What is the liability cap?", "mode": "full"}).json()["plan"]
    inputs, full = plan["inputs"], plan["estimates"]["full"]
    assert (inputs["system_tokens"], inputs["scope_tokens"]) == (costs["system_tokens"], doc["scope_tokens"])
    assert inputs["warmup"] == costs["warmup"] and inputs["output_tokens"] == costs["output_tokens"]
    prices = get_profile(costs["profile"])
    question_gap = (inputs["question_tokens"] - costs["question_tokens"]) * prices.input_miss / 1e6
    assert full["dollars"] == pytest.approx(costs["full_cold"] + question_gap, abs=1e-6)
    assert costs["full_cached"] < costs["full_cold"]


def test_the_ledger_after_a_pricing_profile_switch_shows_each_profile_and_reprices(tmp_path, double):
    """The same data dir served at one profile, then at another (FOLIO_PRICING_PROFILE changed): the ledger says
    what was billed at each and what the whole costs at the current prices (issue 21, item 3)."""
    question = {"question": "Which state's laws govern the agreement?", "mode": "rag"}
    usages = []
    for profile in ("deepseek-v4-flash-compat", "deepseek-api"):
        with service(service_settings(tmp_path, double, pricing_profile=profile)) as client:
            if not usages:
                upload(client, "supply.pdf", contract_pdf())
            result = client.post("/v1/query", json=question).json()
            assert result["cost"]["profile"] == profile
            usages.append(result["usage"])
            ledger = client.get("/v1/ledger").json()
    seed, api = get_profile("deepseek-v4-flash-compat"), get_profile("deepseek-api")

    def at(prices, usage):
        return prices.dollars(hit_tokens=usage["hit_tokens"], miss_tokens=usage["miss_tokens"],
                              output_tokens=usage["output_tokens"])

    assert ledger["pricing"]["profile"] == "deepseek-api"
    assert ledger["totals"]["dollars"] == pytest.approx(at(seed, usages[0]) + at(api, usages[1]), abs=1e-8)
    assert set(ledger["by_profile"]) == {"deepseek-v4-flash-compat", "deepseek-api"}
    assert ledger["by_profile"]["deepseek-v4-flash-compat"]["dollars"] == pytest.approx(at(seed, usages[0]), abs=1e-8)
    assert ledger["by_profile"]["deepseek-api"]["usd_per_million"]["input_hit"] == 0.0056
    repriced = ledger["totals_at_current_prices"]
    assert repriced["profile"] == "deepseek-api" and repriced["requests"] == 2
    assert repriced["dollars"] == pytest.approx(at(api, usages[0]) + at(api, usages[1]), abs=1e-8)
