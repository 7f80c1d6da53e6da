"""The routing model's arithmetic, the need classifier and the pricing profiles."""

from __future__ import annotations

import pytest

from folio.errors import ConfigError
from folio.service.need import classify
from folio.service.plan import (
    CacheState,
    PlanInputs,
    decide,
    estimate_full,
    estimate_rag,
    reference_costs,
    wants_warmup,
)
from folio.service.pricing import PROFILES, get_profile

SEED = get_profile("deepseek-v4-flash-compat")
DEEPSEEK = get_profile("deepseek-api")


def _inputs(**kw) -> PlanInputs:
    base = dict(system_tokens=200, scope_tokens=50_000, question_tokens=20, retrieved_tokens=2_000,
                output_tokens=500, output_reserve=8_192, window=1_000_000, cache=CacheState())
    base.update(kw)
    return PlanInputs(**base)


def test_profiles_are_dated_and_priced():
    assert SEED.input_miss == 0.18 and SEED.input_hit == 0.04 and SEED.output == 0.36
    assert DEEPSEEK.hit_ratio == pytest.approx(0.02)
    assert PROFILES["self-hosted"].dollars(hit_tokens=10**6, miss_tokens=10**6, output_tokens=10**6) == 0
    assert all(p.as_of.year >= 2026 and p.source for p in PROFILES.values())
    with pytest.raises(ConfigError, match="known"):
        get_profile("nope")


def test_rag_and_full_follow_the_design_formulas():
    x = _inputs(cache=CacheState(h=0.5, followups=3))
    rag = estimate_rag(x, SEED)
    assert rag.dollars == pytest.approx((200 * 0.04 + 2_020 * 0.18 + 500 * 0.36) / 1e6)
    full = estimate_full(x, SEED)
    prefix = 50_200
    assert full.dollars == pytest.approx((prefix * (0.5 * 0.04 + 0.5 * 0.18) + 20 * 0.18 + 500 * 0.36) / 1e6)
    # this question reads the prefix at today's h; each of the 3 follow-ups at the retention r = 0.95
    now, later = 0.5 * 0.04 + 0.5 * 0.18, 0.95 * 0.04 + 0.05 * 0.18
    amortised = (prefix * (now + 3 * later) / 4 + 20 * 0.18 + 500 * 0.36) / 1e6
    assert full.amortised_dollars == pytest.approx(amortised)


def test_a_warm_up_is_amortised_over_the_follow_ups_at_the_hit_price():
    x = _inputs(warmup=True, cache=CacheState(h=0.0, followups=4, retention=0.9))
    full = estimate_full(x, DEEPSEEK)
    per_token = ((0.28 + 0.0056) + 4 * (0.9 * 0.0056 + 0.1 * 0.28)) / 5
    assert full.amortised_dollars == pytest.approx((50_200 * per_token + 20 * 0.28 + 500 * 0.42) / 1e6)
    # the more follow-ups, the closer a question's share of the prefix comes to the cached price
    longer = estimate_full(_inputs(warmup=True, cache=CacheState(followups=40, retention=0.9)), DEEPSEEK)
    assert longer.amortised_dollars is not None and longer.amortised_dollars < full.amortised_dollars


def test_a_warm_prefix_is_priced_as_cached_not_as_a_first_miss():
    # A contract-sized scope at DeepSeek's prices: cold, whole documents cost more than retrieval; once the
    # prefix is cached, the whole contract is cheaper than five excerpts read at the miss price.
    lookup = classify("What is the governing law?")
    contract = dict(scope_tokens=15_000, retrieved_tokens=1_500)
    cold = decide(_inputs(**contract, warmup=True, cache=CacheState(followups=2)), lookup, DEEPSEEK)
    assert cold.route == "rag"
    warm = decide(_inputs(**contract, cache=CacheState(h=0.95, followups=2, requests=3)), lookup, DEEPSEEK)
    assert warm.route == "full" and "no more than retrieval" in warm.reason
    assert warm.full.amortised_dollars is not None and warm.full.amortised_dollars < warm.rag.dollars
    # at the seed's prices (hits at 22% of a miss) the same warm contract still costs more than retrieval
    assert decide(_inputs(**contract, cache=CacheState(h=0.95, followups=2, requests=3)), lookup, SEED).route == "rag"


def test_break_even_ratio_matches_design():
    # DESIGN.md: with the seed's prices full costs no more than rag (fully cached) when T/R <= 4.5
    for ratio, cheaper in ((4.0, True), (5.0, False)):
        x = _inputs(scope_tokens=int(2_000 * ratio), system_tokens=0, question_tokens=0, output_tokens=0,
                    cache=CacheState(h=1.0, followups=1000))
        assert (estimate_full(x, SEED).dollars <= estimate_rag(x, SEED).dollars) is cheaper
    # and at DeepSeek's own 2% ratio the break-even is 50
    x = _inputs(scope_tokens=2_000 * 49, system_tokens=0, question_tokens=0, output_tokens=0,
                cache=CacheState(h=1.0))
    assert estimate_full(x, DEEPSEEK).dollars <= estimate_rag(x, DEEPSEEK).dollars


def test_window_check_includes_the_output_reserve():
    x = _inputs(scope_tokens=995_000)  # fits without the 8,192-token output reserve, not with it
    full = estimate_full(x, SEED)
    assert not full.feasible and "window" in full.note
    decision = decide(x, classify("Summarise all the contracts"), SEED)
    assert decision.route == "rag" and "does not fit" in decision.reason


def test_decisions():
    lookup = classify("What is the governing law?")
    exhaustive = classify("List every termination right in the contract")
    assert decide(_inputs(), lookup, SEED).route == "rag"
    assert decide(_inputs(), exhaustive, SEED).route == "full"
    over_budget = decide(_inputs(), exhaustive, SEED, max_cost_usd=0.001)
    assert over_budget.route == "rag" and "max_cost_usd" in over_budget.reason
    small_scope = decide(_inputs(scope_tokens=1_500), lookup, SEED)
    assert small_scope.route == "full" and "no more than retrieval" in small_scope.reason
    assert decide(_inputs(), exhaustive, SEED, mode="rag").route == "rag"
    assert decide(_inputs(), lookup, SEED, mode="full").route == "full"


def test_the_reason_shows_the_cost_now_and_the_amortised_cost_per_question():
    # issue 21 (8): an exhaustive question quoted only "$0.00816 more per question" while it cost $0.018 now
    exhaustive = classify("List every termination right in the contract")
    decision = decide(_inputs(cache=CacheState(followups=2)), exhaustive, SEED)
    full, rag = decision.full, decision.rag
    assert decision.route == "full" and full.amortised_dollars is not None
    # by hand: 50,200 prefix tokens cold (h=0) at the miss price, 20 question tokens, 500 output tokens
    now = (50_200 * 0.18 + 20 * 0.18 + 500 * 0.36) / 1e6
    assert full.dollars == pytest.approx(now)
    assert f"${now:.5f} for this question now" in decision.reason
    # amortised: this question reads the prefix as a miss, each of the 2 follow-ups as a hit with P=0.95
    later = 0.95 * 0.04 + 0.05 * 0.18
    amortised = (50_200 * (0.18 + 2 * later) / 3 + 20 * 0.18 + 500 * 0.36) / 1e6
    assert full.amortised_dollars == pytest.approx(amortised) and amortised < now
    assert (f"${full.amortised_dollars:.5f} per question spread over it and the 2.0 follow-ups expected"
            in decision.reason)
    assert f"retrieval: ${rag.dollars:.5f}" in decision.reason
    assert f"${full.amortised_dollars - rag.dollars:.5f} more per question than retrieval" in decision.reason
    # a lookup that stays on retrieval says what whole documents would have cost, both ways
    lookup = decide(_inputs(cache=CacheState(followups=2)), classify("What is the governing law?"), SEED)
    assert lookup.route == "rag" and f"${now:.5f} for this question now" in lookup.reason


def test_a_lookup_premium_buys_whole_documents_when_they_cost_little_more():
    lookup = classify("What is the governing law?")
    x = _inputs(scope_tokens=15_000, retrieved_tokens=1_500, cache=CacheState(h=0.95, followups=4, requests=3))
    plain = decide(x, lookup, SEED)
    assert plain.route == "rag"
    extra = plain.full.amortised_dollars - plain.rag.dollars
    assert 0 < extra < 0.001
    bought = decide(x, lookup, SEED, lookup_premium_usd=0.001)
    assert bought.route == "full" and "within the lookup premium $0.00100" in bought.reason
    short = decide(x, lookup, SEED, lookup_premium_usd=extra / 2)
    assert short.route == "rag" and "more than the lookup premium" in short.reason
    # the budget still caps what the question costs now
    assert decide(x, lookup, SEED, lookup_premium_usd=1.0, max_cost_usd=plain.full.dollars / 2).route == "rag"


def test_a_lookup_whose_retrieval_looks_weak_reads_whole_documents_within_the_budget():
    lookup = classify("What is the governing law?")
    x = _inputs(scope_tokens=15_000, retrieved_tokens=1_500, cache=CacheState(followups=2))
    plain = decide(x, lookup, SEED)
    assert plain.route == "rag"  # whole documents cost more, and retrieval looked fine
    weak = "dense and BM25 agree on 1 of their top 5 pages"
    x_weak = _inputs(scope_tokens=15_000, retrieved_tokens=1_500, cache=CacheState(followups=2), weak_retrieval=weak)
    chosen = decide(x_weak, lookup, SEED)
    assert chosen.route == "full" and f"retrieval looks weak ({weak})" in chosen.reason
    assert "within the budget" in chosen.reason
    # never over the question's budget, and never against a named mode
    assert decide(x_weak, lookup, SEED, max_cost_usd=chosen.full.dollars / 2).route == "rag"
    assert decide(x_weak, lookup, SEED, mode="rag").route == "rag"
    # whole documents that do not fit stay out of reach
    assert decide(_inputs(scope_tokens=2_000_000, weak_retrieval=weak), lookup, SEED).route == "rag"


def test_warmup_is_priced_as_one_miss_then_hits():
    x = _inputs(warmup=True)
    full = estimate_full(x, SEED)
    assert full.hit_tokens == 50_200 and full.miss_tokens == 50_220
    assert "warm-up" in full.note


@pytest.mark.parametrize(("question", "label"), [
    ("What is the governing law?", "lookup"),
    ("When does the initial term end?", "lookup"),
    ("List all termination rights", "exhaustive"),
    ("How many contracts have a non-compete clause?", "exhaustive"),
    ("Compare the liability caps of the two agreements", "comparative"),
    ("How did revenue change from 2024 to 2025?", "comparative"),
    ("Summarize the main obligations of the supplier", "summary"),
    ("Give me a timeline of the amendments", "timeline"),
])
def test_need_classes(question, label):
    need = classify(question, n_documents=1)
    assert need.label == label
    assert (need.cues == []) == (label == "lookup")
    assert need.explain().startswith(label)


def test_multi_document_cue_needs_several_documents():
    question = "What do these contracts say about assignment?"
    assert classify(question, n_documents=1).label == "lookup"
    assert classify(question, n_documents=3).label == "multi_document"


def test_the_documents_list_quotes_a_question_by_the_plan_formulas():
    """The list's prices for one question (hand-worked with the seed prices): cold with the warm-up the plan adds
    under warm_cache=auto and a follow-up expected, cached at the hit price, rag with the system prompt cached."""
    cold = CacheState(followups=2)
    assert wants_warmup(cold, "auto") and wants_warmup(cold, "always") and not wants_warmup(cold, "never")
    assert not wants_warmup(CacheState(followups=0.5), "auto") and not wants_warmup(CacheState(h=0.9), "always")
    costs = reference_costs(_inputs(cache=cold, warmup=True), SEED)
    prefix = 50_200
    # the warm-up reads the prefix as misses (and 3 output tokens), the question reads it as hits
    assert costs["full_cold"] == round((prefix * (0.18 + 0.04) + 20 * 0.18 + 503 * 0.36) / 1e6, 6)
    assert costs["full_cached"] == round((prefix * 0.04 + 20 * 0.18 + 500 * 0.36) / 1e6, 6)
    assert costs["rag"] == round((200 * 0.04 + 2_020 * 0.18 + 500 * 0.36) / 1e6, 6)
    assert costs["warmup"] is True and costs["question_tokens"] == 20
