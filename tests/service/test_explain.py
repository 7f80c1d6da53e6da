"""The plain sentence an answer leads with (``service/explain.py``): every route and cache situation, from real
answers of the service over the provider double, and from those answers with one thing changed (an event, the
usage) where the double cannot be made to produce it cheaply."""

from __future__ import annotations

from typing import Any

import pytest

from folio.service.explain import money, short_title, summarise
from folio.service.pricing import get_profile
from folio.service.schemas.answer import Answer, AnswerEvent
from folio.service.schemas.common import Usage
from folio.testing.provider import double_factory
from tests.service.test_coverage import EXHAUSTIVE, _settings, lease
from tests.service_helpers import service, upload

PRICES = get_profile("deepseek-v4-flash-compat")
QUESTION = "What is the notice period for termination?"


def test_money_keeps_two_significant_figures():
    assert [money(d) for d in (0.0, 0.0011, 0.00412, 0.031, 0.25, 1.5, 0.0000123)] == [
        "$0", "$0.0011", "$0.0041", "$0.031", "$0.25", "$1.50", "$0.000012"]


def test_a_long_title_is_cut_at_a_word():
    assert short_title("Harbourside Warehouse Lease") == "Harbourside Warehouse Lease"
    assert short_title("Master Services Agreement - Northwind Analytics Ltd. and Brightwater Logistics Inc.") == (
        "Master Services Agreement - Northwind Analytics…")


def _ask(client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/query", json={"question": QUESTION, **body})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> dict[str, Any]:
    """One service, one journey over a lease longer than one coverage window: retrieval, whole document (warmed
    up, then cached, then dropped by the provider), coverage, a cap's fallback, a conversation's turn and an
    estimate of its next one."""
    out: dict[str, Any] = {}
    with double_factory() as start:
        double = start(context_window=4_000, retry_after_s=0)
        with service(_settings(tmp_path_factory.mktemp("explain"), double)) as client:
            lease_id = upload(client, "lease.txt", lease())["document_id"]
            one = [lease_id]
            out["title"] = client.get(f"/v1/documents/{lease_id}").json()["title"]
            out["rag"] = _ask(client, documents=one, mode="rag")
            rag_dollars = out["rag"]["plan"]["estimates"]["rag"]["dollars"]
            out["capped"] = _ask(client, documents=one, question="Summarise the whole lease.", mode="full",
                                 max_cost_usd=rag_dollars * 1.1, fallback=True)
            out["warm"] = _ask(client, documents=one, mode="full", warm=True)
            out["cached"] = _ask(client, documents=one, mode="full")
            double.reset()  # the provider forgets every prefix
            out["dropped"] = _ask(client, documents=one, mode="full")
            out["coverage"] = _ask(client, question=EXHAUSTIVE, mode="coverage")
            conversation = client.post("/v1/conversations", json={"documents": one}).json()["id"]
            turn = client.post(f"/v1/conversations/{conversation}/messages",
                               json={"question": QUESTION, "mode": "rag"})
            assert turn.status_code == 200, turn.text
            out["turn"] = turn.json()
            estimate = client.post(f"/v1/conversations/{conversation}/messages",
                                   json={"question": "And the rent?", "mode": "rag", "estimate_only": True})
            assert estimate.status_code == 200, estimate.text
            out["estimate"] = estimate.json()
            out["detail"] = client.get(f"/v1/conversations/{conversation}").json()
            out["plan"] = client.post("/v1/plan", json={"question": QUESTION, "documents": one, "mode": "rag"}).json()
    return out


def test_every_route_and_cache_situation_in_one_sentence(answers):
    title = answers["title"]
    rag = answers["rag"]
    n = len(rag["retrieved"])
    scope = rag["plan"]["inputs"]["scope_tokens"]
    assert rag["summary"] == (
        f"Searched “{title}” for the {n} most relevant passage{'s' * (n != 1)}: reading all {scope:,} tokens would "
        f"have cost {money(rag['plan']['estimates']['full']['dollars'])}; this cost {money(rag['cost']['dollars'])}.")

    warm = answers["warm"]
    assert warm["plan"]["warmup"] is True
    assert warm["summary"].startswith(f"Read the whole of “{title}”: it was not cached yet, so it was loaded into the "
                                      f"cache first; this cost {money(warm['cost']['dollars'])}, and a follow-up")

    cached = answers["cached"]
    usage = cached["usage"]
    assert usage["hit_tokens"] > usage["miss_tokens"]
    cold = PRICES.dollars(hit_tokens=0, miss_tokens=usage["hit_tokens"] + usage["miss_tokens"],
                          output_tokens=usage["output_tokens"])
    assert cold > cached["cost"]["dollars"]
    assert cached["summary"] == (f"Read the whole of “{title}”: it was already cached, so this cost "
                                 f"{money(cached['cost']['dollars'])} instead of {money(cold)}.")
    # the warm-up's sentence prices a follow-up with the prefix cached, at the plan's output estimate
    x = warm["plan"]["inputs"]
    promised = PRICES.dollars(hit_tokens=x["system_tokens"] + x["scope_tokens"], miss_tokens=x["question_tokens"],
                              output_tokens=x["output_tokens"])
    assert warm["summary"].endswith(f"should cost about {money(promised)}.")

    dropped = answers["dropped"]
    assert dropped["usage"]["hit_tokens"] < dropped["usage"]["miss_tokens"]
    assert dropped["summary"] == (
        f"Read the whole of “{title}”: it was expected in the cache, but the provider had dropped it, so it was read "
        f"at the full price: {money(dropped['cost']['dollars'])} instead of the "
        f"{money(dropped['cost']['estimated_dollars'])} estimated.")

    coverage = answers["coverage"]
    report = coverage["coverage"]
    assert report["complete"] and report["windows_read"] > 1
    assert coverage["summary"].startswith(
        f"Read all {report['pages_in_scope']:,} pages of “{title}” in "
        f"{report['windows_read']} windows, as they are too long to read at once; this cost "
        f"{money(coverage['cost']['dollars'])}")

    capped = answers["capped"]
    assert capped["route"] == "rag"
    assert "over your cost limit" in capped["summary"]
    assert money(capped["plan"]["estimates"]["full"]["dollars"]) in capped["summary"]

    planned = answers["plan"]  # POST /v1/plan: the same sentence as a turn's estimate
    assert planned["summary"] == (
        f"Estimate only: this would search “{title}” for the {len(planned['retrieved'])} most relevant passages, "
        f"for about {money(planned['plan']['estimates']['rag']['dollars'])}; nothing was asked or spent.")

    estimate = answers["estimate"]
    assert estimate["summary"] == estimate["answer"]["summary"]
    assert estimate["summary"] == (
        f"Estimate only: this would search “{title}” for the {len(estimate['answer']['retrieved'])} most relevant "
        f"passages, for about {money(estimate['answer']['plan']['estimates']['rag']['dollars'])}; nothing was asked "
        "or spent.")


def test_fallback_escalation_and_the_unrecorded_cases(answers):
    """The events the double does not produce on demand, on a real answer: the sentence follows the event."""
    title = answers["title"]
    rag = Answer.model_validate(answers["rag"])
    n = len(rag.retrieved)
    fell = rag.model_copy(update={"events": [AnswerEvent.model_validate(
        {"kind": "fallback", "from": "full", "to": "rag", "reason": "context too long"})]})
    assert summarise(fell, PRICES) == (
        f"Tried to read the whole of “{title}”, but the model refused it as too long, so searched it for the {n} "
        f"most relevant passages instead; this cost {money(rag.cost.dollars)}.")
    full = Answer.model_validate(answers["cached"])
    up = full.model_copy(update={"events": [AnswerEvent.model_validate(
        {"kind": "escalation", "from": "rag", "to": "full", "reason": "Self-Route"})]})
    assert summarise(up, PRICES).startswith(f"Searched “{title}” for the {len(full.retrieved)} most relevant passages "
                                            f"first, but they did not hold the answer, so it then read the whole of")
    no_model = rag.model_copy(update={"answer": None, "cost": None, "usage": None})
    assert summarise(no_model, PRICES).startswith("No model is configured, so nothing was asked or spent: Folio "
                                                  f"would search “{title}”")
    # a prompt read mostly from the cache says so; a self-hosted model costs nothing per token
    hit = rag.model_copy(update={"usage": Usage(hit_tokens=900, miss_tokens=100, output_tokens=50)})
    assert "(its prompt was already cached)" in summarise(hit, PRICES)
    free = summarise(full, get_profile("self-hosted"))
    assert free.endswith("the model is self-hosted, so tokens cost nothing here.")


def test_a_turn_carries_its_sentence_and_a_reload_keeps_it(answers):
    body = answers["turn"]
    assert body["summary"].startswith(f"Searched “{answers['title']}”") and body["summary"] == body["answer"]["summary"]
    assert answers["detail"]["history"][0]["answer"]["summary"] == body["summary"]
