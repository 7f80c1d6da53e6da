"""``max_cost_usd`` is a hard cap whatever the mode (issue 21, item 7): a forced route over it is refused before
any provider request, or, when the request allows the fallback, answered by retrieval within it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from folio.cli import cli
from folio.config import Settings
from folio.errors import OverBudget
from folio.ingest.embed import HashEmbedder
from folio.service.answer import QueryRequest
from folio.service.need import classify
from folio.service.plan import CacheState, PlanInputs, decide, enforce_cap
from folio.service.pricing import get_profile
from folio.service.runtime import build_runtime
from tests.service_helpers import contract_pdf, service, service_settings, upload

SEED = get_profile("deepseek-v4-flash-compat")
QUESTION = "List every termination right in the agreement"


def _inputs() -> PlanInputs:
    return PlanInputs(system_tokens=200, scope_tokens=50_000, question_tokens=20, retrieved_tokens=2_000,
                      output_tokens=500, output_reserve=8_192, window=1_000_000, cache=CacheState(followups=2))


def test_a_forced_route_over_the_cap_is_refused_or_falls_back_to_retrieval():
    decision = decide(_inputs(), classify(QUESTION), SEED, mode="full")
    assert decision.route == "full"
    # by hand: 50,220 input tokens at $0.18 per million (cold), 500 output at $0.36
    full = (50_220 * 0.18 + 500 * 0.36) / 1e6
    rag = (200 * 0.04 + 2_020 * 0.18 + 500 * 0.36) / 1e6
    assert decision.full.dollars == pytest.approx(full) and decision.rag.dollars == pytest.approx(rag)
    with pytest.raises(OverBudget) as refused:
        enforce_cap(decision, mode="full", max_cost_usd=0.001)
    error = refused.value
    assert error.code == "over_budget" and error.http_status == 422
    assert f"${full:.5f}" in error.message and "$0.00100" in error.message and "fallback" in error.message
    assert error.to_dict()["estimate_usd"] == pytest.approx(full, abs=1e-8)
    fallen = enforce_cap(decision, mode="full", max_cost_usd=0.001, fallback=True)
    assert fallen.route == "rag" and "fallback" in fallen.reason and f"${rag:.5f}" in fallen.reason
    # within the cap, or with no cap, the decision stands
    assert enforce_cap(decision, mode="full", max_cost_usd=0.02) is decision
    assert enforce_cap(decision, mode="full", max_cost_usd=None) is decision
    # a cap below even retrieval: refused, fallback or not
    rag_decision = decide(_inputs(), classify(QUESTION), SEED, mode="rag")
    with pytest.raises(OverBudget, match="raise max_cost_usd"):
        enforce_cap(rag_decision, mode="rag", max_cost_usd=0.0001, fallback=True)


@pytest.fixture
def double(provider_double):
    return provider_double()


@pytest.fixture
def client(tmp_path, double):
    with service(service_settings(tmp_path, double)) as c:
        upload(c, "supply.pdf", contract_pdf())
        yield c


def _estimates(client) -> tuple[float, float]:
    """Whole documents' and retrieval's estimates for the question, by the plan (no model call)."""
    plan = client.post("/v1/plan", json={"question": QUESTION, "mode": "full"}).json()
    assert plan["route"] == "full"
    estimates = plan["plan"]["estimates"]
    return float(estimates["full"]["dollars"]), float(estimates["rag"]["dollars"])


def test_forced_whole_documents_over_the_cap_are_refused_before_any_request(client, double):
    full, _ = _estimates(client)
    cap = full / 2
    response = client.post("/v1/query", json={"question": QUESTION, "mode": "full", "max_cost_usd": cap})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "over_budget" and error["route"] == "full"
    assert error["estimate_usd"] == pytest.approx(full, abs=1e-8) and error["max_cost_usd"] == cap
    assert f"${full:.5f}" in error["message"] and f"${cap:.5f}" in error["message"]
    # streamed: the same 4xx before the stream starts, never an event inside a 200
    streamed = client.post("/v1/query", json={"question": QUESTION, "mode": "full", "max_cost_usd": cap,
                                              "stream": True})
    assert streamed.status_code == 422 and streamed.json()["error"]["code"] == "over_budget"
    # the OpenAI shim, plain and streamed, keeps the stable code
    for stream in (False, True):
        chat = client.post("/v1/chat/completions", json={
            "model": "folio-full", "stream": stream, "messages": [{"role": "user", "content": QUESTION}],
            "folio": {"max_cost_usd": cap}})
        assert chat.status_code == 422 and chat.json()["error"]["code"] == "over_budget", chat.text
    # the plan alone (no model call) shows the estimates and says that a query would be refused
    plan = client.post("/v1/plan", json={"question": QUESTION, "mode": "full", "max_cost_usd": cap}).json()
    assert plan["route"] == "full" and any("refuses this request (over_budget)" in n for n in plan["plan"]["notes"])
    assert double.requests() == []  # the provider heard nothing
    assert client.get("/v1/ledger").json()["totals"]["requests"] == 0


def test_auto_under_a_cap_below_even_retrieval_is_refused_too(client, double):
    """The cap is hard in auto mode as well: when no route fits it, nothing is spent."""
    _, rag = _estimates(client)
    response = client.post("/v1/query", json={"question": QUESTION, "max_cost_usd": rag / 2})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "over_budget" and f"${rag / 2:.5f}" in error["message"]
    assert double.requests() == []
    planned = client.post("/v1/plan", json={"question": QUESTION, "max_cost_usd": rag / 2})
    assert planned.status_code == 200 and any("refuses" in n for n in planned.json()["plan"]["notes"])


def test_the_opt_in_fallback_answers_by_retrieval_within_the_cap(client, double):
    full, rag = _estimates(client)
    assert rag < full
    cap = (rag + full) / 2  # the contract is small: retrieval is within it, whole documents are not
    result = client.post("/v1/query", json={"question": QUESTION, "mode": "full", "max_cost_usd": cap,
                                            "fallback": True}).json()
    assert result["route"] == "rag" and "fallback" in result["reason"] and f"${full:.5f}" in result["reason"]
    assert result["cost"]["estimated_dollars"] <= cap and result["cost"]["dollars"] <= cap
    assert len(double.requests()) == 1  # one retrieval question, no whole documents, no warm-up
    # a chat request is a conversation's first turn, priced as such (no warm-up: the thread's next turn extends
    # this one's prompt): the cap between its own two estimates
    thread = client.post("/v1/conversations", json={}).json()
    planned = client.post(f"/v1/conversations/{thread['id']}/messages",
                          json={"question": QUESTION, "mode": "full", "estimate_only": True}).json()
    estimates = planned["answer"]["plan"]["estimates"]
    turn_cap = (estimates["rag"]["dollars"] + estimates["full"]["dollars"]) / 2
    chat = client.post("/v1/chat/completions", json={
        "model": "folio-full", "messages": [{"role": "user", "content": QUESTION}],
        "folio": {"max_cost_usd": turn_cap, "fallback": True}})
    assert chat.status_code == 200 and chat.json()["folio"]["route"] == "rag"
    assert "fallback" in chat.json()["folio"]["reason"]


def test_folio_ask_over_the_cap_prints_one_error_line_and_fails(tmp_path, double):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "supply.pdf").write_bytes(contract_pdf())
    env = {"FOLIO_DATA_DIR": str(tmp_path / "data"), "FOLIO_EMBED_MODEL": "hash-64",
           "FOLIO_LLM_BASE_URL": double.base_url, "FOLIO_LLM_API_KEY": "sk-test", "FOLIO_LLM_MODEL": "deepseek-chat",
           "FOLIO_PRICING_PROFILE": "deepseek-v4-flash-compat"}
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(folder)], env=env).exit_code == 0
    refused = runner.invoke(cli, ["ask", QUESTION, "--mode", "full", "--max-cost", "0.00001"], env=env)
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "[over_budget]" in refused.output and "$0.00001" in refused.output
    assert double.requests() == []
    # a cap between what retrieval and whole documents are estimated at, from the planner itself
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", llm_base_url=double.base_url,
                        llm_api_key=SecretStr("sk-test"), llm_model="deepseek-chat",
                        pricing_profile="deepseek-v4-flash-compat")
    runtime = build_runtime(settings, embedder_factory=lambda: HashEmbedder(64))
    try:
        decision = runtime.answerer.plan(QueryRequest(question=QUESTION, mode="full")).decision
    finally:
        runtime.close()
    assert decision.rag.dollars < decision.full.dollars
    cap = (decision.rag.dollars + decision.full.dollars) / 2
    fallen = runner.invoke(cli, ["ask", QUESTION, "--mode", "full", "--max-cost", f"{cap:.8f}", "--fallback",
                                 "--json"], env=env)
    assert fallen.exit_code == 0, fallen.output
    assert json.loads(fallen.output)["route"] == "rag"
