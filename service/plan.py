"""The routing decision: price ``rag`` and ``full`` for one question, then choose (DESIGN.md, "The routing model").

Notation as in DESIGN.md: T scope tokens, S system tokens, q question tokens, R retrieved tokens, O expected
output tokens, p_m p_h p_o prices, w the cache-write multiplier, h the probability that the scope's prefix is
cached now, N the expected number of further questions on the scope while the cache lives, W the context
window and O_max the output reserve.

    C_rag      = S (h_S p_h + (1 - h_S) p_m) + (R + q) p_m + O p_o
    C_full     = (S + T)(h p_h + (1 - h) w p_m) + q p_m + O p_o
    C_full_avg = (S + T)(c_now + N (r p_h + (1 - r) w p_m)) / (N + 1) + q p_m + O p_o
    full is feasible only if S + T + q + O_max <= W

The amortised cost is what this question and the N expected follow-ups pay for the prefix, per question:
now c_now = h p_h + (1 - h) w p_m (or, with a warm-up, w p_m + p_h: the warm-up reads the prefix as a miss,
the question as a hit), and then, for each follow-up, the hit price with probability r, the probability that
the prefix sent now is still cached when the next question comes (the retention, learned from the gaps
between the scope's questions). DESIGN.md writes the first request as a miss and the follow-ups with the
current h; that prices a warm prefix as a cold one and a cold one's follow-ups as misses, although this very
request persists the prefix for them.

Coverage (map-reduce over windows of whole documents, ``service/coverage/``): each window is priced like a
full-context question on its own prefix P_w = S + T_w, with its own cache state h_w and the map question q_c;
the reduce reads the findings (F tokens, O per window that found something) in as many calls as it takes:

    C_cov = sum_w [P_w (h_w p_h + (1 - h_w) w p_m) + q_c p_m + O p_o]  (a cold window warmed: P_w (p_m + p_h))
            + sum_reduce_calls [(S + F_call + q) p_m + O p_o]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from folio.errors import OverBudget
from folio.service.need import Need
from folio.service.pricing import PER_MILLION, PricingProfile

Route = Literal["rag", "full", "coverage"]
WARMUP_OUTPUT_TOKENS = 3
Mode = Literal["auto", "rag", "full", "coverage"]
# Need classes for which auto mode reads every page of a scope too large for one context (issue 9).
COVERAGE_NEEDS = ("exhaustive",)


@dataclass(frozen=True)
class CacheState:
    """What the ledger says about a prefix: P(cached now), expected follow-ups, and the evidence for both."""

    h: float = 0.0
    followups: float = 0.0
    last_seen_s: float | None = None
    observed_hit_ratio: float | None = None
    requests: int = 0
    retention: float = 0.95  # P(a prefix sent now is still cached for the next question)
    session_questions: int = 0  # questions asked on the scope in its current session, any route
    mode_split: bool = False  # a change of thinking mode missed this prefix: each mode's requests count apart
    retention_evidence: str = ""  # what the retention was learned from, in words

    def explain(self) -> str:
        asked = self.session_questions
        session = (f"{asked} question{'' if asked == 1 else 's'} on this scope so far, so {self.followups:.1f} "
                   f"more expected, each with a {self.retention:.0%} chance of finding the prefix cached")
        if self.retention_evidence:
            session += f" (retention: {self.retention_evidence})"
        if self.mode_split:
            session += ("; a change of thinking mode missed this prefix before, so this mode's cache is "
                        "counted apart")
        if self.requests == 0:
            return f"never sent before: cold; {session}"
        age = f"{self.last_seen_s:.0f}s ago" if self.last_seen_s is not None else "at an unknown time"
        hit = f", last hit ratio {self.observed_hit_ratio:.0%}" if self.observed_hit_ratio is not None else ""
        requests = f"{self.requests} earlier request{'' if self.requests == 1 else 's'}"
        return f"{requests}, the last {age}{hit}: a {self.h:.0%} chance it is still cached; {session}"


def wants_warmup(cache: CacheState, warm_setting: str) -> bool:
    """Whether to prime a cold prefix before the question (``FOLIO_WARM_CACHE`` or the request's ``warm``):
    ``always``, or ``auto`` when the scope expects follow-ups that would read it from the cache."""
    return cache.h < 0.5 and (warm_setting == "always" or (warm_setting == "auto" and cache.followups >= 1))


@dataclass(frozen=True)
class Estimate:
    route: Route
    hit_tokens: float
    miss_tokens: float
    output_tokens: int
    dollars: float
    feasible: bool = True
    amortised_dollars: float | None = None
    note: str = ""


@dataclass(frozen=True)
class PlanInputs:
    system_tokens: int
    scope_tokens: int
    question_tokens: int
    retrieved_tokens: int
    output_tokens: int
    output_reserve: int
    window: int
    cache: CacheState
    system_cache_h: float = 1.0
    warmup: bool = False
    rag_prompt_h: float = 0.0  # P(this very retrieval prompt was sent before and is still cached)
    # why retrieval looks weak for this question (folio.retrieval.signals), or "": auto mode then reads whole
    # documents for a lookup when they are within the budget
    weak_retrieval: str = ""


@dataclass(frozen=True)
class Decision:
    route: Route
    reason: str
    rag: Estimate
    full: Estimate
    need: Need
    inputs: PlanInputs
    alternatives: list[str] = field(default_factory=list)
    coverage: Estimate | None = None
    coverage_reason: str = ""

    def estimate(self, route: Route) -> Estimate:
        if route == "coverage":
            if self.coverage is None:
                raise ValueError("coverage was not priced")
            return self.coverage
        return self.rag if route == "rag" else self.full


def _dollars(hit: float, miss: float, output: float, prices: PricingProfile) -> float:
    return (hit * prices.input_hit + miss * prices.input_miss * prices.cache_write_multiplier
            + output * prices.output) / PER_MILLION


def estimate_rag(x: PlanInputs, prices: PricingProfile) -> Estimate:
    """The system prompt hits with P(h_S); the whole prompt hits with P(rag_prompt_h), when the same question
    over the same excerpts was asked while the cache kept it. Amortised like full context, over this question
    and the expected follow-ups: they find the system prompt cached with P(max(h_S, retention)), since two
    requests that share it have the provider persist it."""
    prompt = x.system_tokens + x.retrieved_tokens + x.question_tokens
    s_hit = x.system_tokens * x.system_cache_h
    hit = x.rag_prompt_h * prompt + (1 - x.rag_prompt_h) * s_hit
    miss = prompt - hit
    dollars = _dollars(hit, miss, x.output_tokens, prices)
    later_hit = x.system_tokens * max(x.system_cache_h, x.cache.retention)
    later = _dollars(later_hit, prompt - later_hit, x.output_tokens, prices)
    n = x.cache.followups
    amortised = (dollars + n * later) / (n + 1)
    return Estimate(route="rag", hit_tokens=hit, miss_tokens=miss, output_tokens=x.output_tokens,
                    dollars=dollars, amortised_dollars=amortised)


def _prefix_price(cache: CacheState, *, warmup: bool, prices: PricingProfile) -> float:
    """Dollars per million prefix tokens per question, over this question and its expected follow-ups."""
    w = prices.cache_write_multiplier
    now = (w * prices.input_miss + prices.input_hit if warmup
           else cache.h * prices.input_hit + (1 - cache.h) * w * prices.input_miss)
    r = cache.retention
    later = r * prices.input_hit + (1 - r) * w * prices.input_miss
    n = cache.followups
    return (now + n * later) / (n + 1)


def estimate_full(x: PlanInputs, prices: PricingProfile) -> Estimate:
    prefix = x.system_tokens + x.scope_tokens
    h = x.cache.h
    output = x.output_tokens
    if x.warmup:
        # a priming request reads the prefix at the miss price, then the question reads it from the cache
        hit = float(prefix)
        miss = float(prefix + x.question_tokens)
        output += WARMUP_OUTPUT_TOKENS
    else:
        hit = prefix * h
        miss = prefix * (1 - h) + x.question_tokens
    dollars = _dollars(hit, miss, output, prices)
    amortised = (prefix * _prefix_price(x.cache, warmup=x.warmup, prices=prices)
                 + x.question_tokens * prices.input_miss + x.output_tokens * prices.output) / PER_MILLION
    needed = prefix + x.question_tokens + x.output_reserve
    feasible = needed <= x.window
    note = "" if feasible else f"needs {needed:,} tokens with the output reserve; the window is {x.window:,}"
    if x.warmup and feasible:
        note = "includes a cache warm-up request, after which this and later questions read the prefix as hits"
    return Estimate(route="full", hit_tokens=hit, miss_tokens=miss, output_tokens=x.output_tokens,
                    dollars=dollars, feasible=feasible, amortised_dollars=amortised, note=note)


# The question a price is quoted for before any is asked (the documents list): "Question: " and a sentence.
REFERENCE_QUESTION_TOKENS = 20
# Retrieved tokens per chunk for that quote (the plan counts the real excerpts).
REFERENCE_CHUNK_TOKENS = 230


def reference_costs(x: PlanInputs, prices: PricingProfile) -> dict[str, Any]:
    """What one question about a scope costs before it is asked, by the formulas the plan uses: ``x`` with the
    scope cold (and the warm-up the plan would add) and a reference question; "full_cached" with the prefix
    cached, "rag" with ``x.retrieved_tokens`` retrieved. A plan for a question of ``x.question_tokens`` tokens
    prices the same scope's cold full context at "full_cold" exactly."""
    cached = replace(x, cache=replace(x.cache, h=1.0), warmup=False)
    return {"full_cold": round(estimate_full(x, prices).dollars, 6),
            "full_cached": round(estimate_full(cached, prices).dollars, 6),
            "rag": round(estimate_rag(x, prices).dollars, 6),
            "warmup": x.warmup, "question_tokens": x.question_tokens, "output_tokens": x.output_tokens,
            "system_tokens": x.system_tokens}


def decide(x: PlanInputs, need: Need, prices: PricingProfile, *, mode: Mode = "auto",
           max_cost_usd: float | None = None, lookup_premium_usd: float = 0.0,
           estimates: tuple[Estimate, Estimate] | None = None) -> Decision:
    """Choose the route: forced by ``mode``, else by need and cost within ``max_cost_usd``.

    A question that needs the whole scope reads it whenever the budget allows; so does a lookup whose retrieval
    looks weak (``x.weak_retrieval``: dense and BM25 barely agree, ``folio.retrieval.signals``); any other lookup
    reads it when it costs (amortised) at most ``lookup_premium_usd`` more than retrieval: what the caller would
    pay per question for not depending on the retrieved chunks holding the evidence. ``estimates``: (rag, full)
    priced by the caller (a conversation turn, ``service/turn_plan.py``), instead of from ``x`` by the one-off
    formulas."""
    rag, full = estimates if estimates is not None else (estimate_rag(x, prices), estimate_full(x, prices))
    if mode == "rag":
        return Decision("rag", "retrieval was requested (mode=rag)", rag, full, need, x)
    if mode == "full":
        if not full.feasible:
            return Decision("rag", f"whole documents were requested but do not fit: {full.note}; retrieval instead",
                            rag, full, need, x)
        return Decision("full", "whole documents were requested (mode=full)", rag, full, need, x)
    if not full.feasible:
        return Decision("rag", f"the scope does not fit in the context ({full.note})", rag, full, need, x)
    full_cost = full.amortised_dollars if full.amortised_dollars is not None else full.dollars
    rag_cost = rag.amortised_dollars if rag.amortised_dollars is not None else rag.dollars
    extra = full_cost - rag_cost  # per question over the session, both routes alike
    if max_cost_usd is not None and full.dollars > max_cost_usd:
        # the budget caps what this question costs now, whatever the session would repay later
        if need.wants_full:
            why = (f"{need.explain()}; but whole documents (${full.dollars:.5f} now) exceed the cost limit "
                   f"of ${max_cost_usd:.5f} (max_cost_usd)")
        elif extra <= 0:
            why = (f"{need.explain()}; whole documents would cost no more than retrieval over the session "
                   f"(${full_cost:.5f} a question), but ${full.dollars:.5f} now, over the cost limit of "
                   f"${max_cost_usd:.5f} (max_cost_usd)")
        else:
            why = f"{need.explain()}; retrieval is enough"
        return Decision("rag", why, rag, full, need, x)
    costs = _cost_words(full, full_cost, rag, x.cache.followups)
    if extra <= 0:
        return Decision("full", f"whole documents cost no more than retrieval here ({costs}), and cover every "
                        "page", rag, full, need, x)
    if need.wants_full:
        return Decision("full", f"{need.explain()}; whole documents cost ${extra:.5f} more per question than "
                        f"retrieval ({costs}), and cover every page", rag, full, need, x)
    if x.weak_retrieval:
        return Decision("full", f"{need.explain()}; but retrieval looks weak ({x.weak_retrieval}), so whole "
                        f"documents, ${extra:.5f} more per question than retrieval ({costs}) and within the budget, "
                        "cover every page", rag, full, need, x)
    if extra <= lookup_premium_usd:
        return Decision("full", f"{need.explain()}; whole documents cost ${extra:.5f} more per question than "
                        f"retrieval ({costs}), within the lookup premium ${lookup_premium_usd:.5f}, and cover "
                        "every page", rag, full, need, x)
    premium = f" (more than the lookup premium ${lookup_premium_usd:.5f})" if lookup_premium_usd else ""
    return Decision("rag", f"{need.explain()}; retrieval is cheaper by ${extra:.5f} per question{premium} "
                    f"({costs})", rag, full, need, x)


def _cost_words(full: Estimate, full_amortised: float, rag: Estimate, followups: float) -> str:
    """Both prices of whole documents, plainly: this question now, and per question over the session (this one
    and the expected follow-ups, which read the prefix from the cache), beside retrieval's."""
    return (f"whole documents: ${full.dollars:.5f} for this question now, ${full_amortised:.5f} per question "
            f"spread over it and the {followups:.1f} follow-ups expected; retrieval: ${rag.dollars:.5f}")


ROUTE_WORDS: dict[Route, str] = {"rag": "retrieval", "full": "whole documents", "coverage": "coverage"}


def enforce_cap(decision: Decision, *, mode: Mode, max_cost_usd: float | None, fallback: bool = False) -> Decision:
    """``max_cost_usd`` as a hard cap, whatever the mode: the decision when its route's estimate is within the cap;
    retrieval instead when the request allows the ``fallback`` and retrieval is within it (the reason says so);
    otherwise ``OverBudget``, before anything is spent. Auto mode and coverage already choose within the budget;
    this catches a forced route, and a cap below even retrieval's estimate."""
    if max_cost_usd is None:
        return decision
    route = decision.route
    estimate = decision.estimate(route).dollars
    if estimate <= max_cost_usd:
        return decision
    rag = decision.rag.dollars
    asked = f"mode={mode}" if mode != "auto" else "the cheapest route"
    over = (f"{ROUTE_WORDS[route]} ({asked}): estimated at ${estimate:.5f}, over max_cost_usd "
            f"${max_cost_usd:.5f}")
    if route != "rag" and rag <= max_cost_usd:
        if fallback:
            return replace(decision, route="rag", reason=f"{over}; retrieval instead, within the cap "
                           f"(${rag:.5f}), as the request allows (fallback); before that: {decision.reason}")
        advice = (f"raise max_cost_usd, or allow the fallback (fallback: true) to answer by retrieval, estimated "
                  f"at ${rag:.5f}")
    else:
        advice = "raise max_cost_usd" + (f"; retrieval too is estimated at ${rag:.5f}" if route != "rag" else "")
    raise OverBudget(f"refused before spending anything: {over}; {advice}", estimate_usd=estimate,
                     max_cost_usd=max_cost_usd, route=route)


@dataclass(frozen=True)
class WindowInputs:
    """One coverage window: its cacheable prefix (system + its documents block), cache state and warm-up."""

    prefix_tokens: int
    cache: CacheState
    warmup: bool = False


def estimate_window(window: WindowInputs, *, question_tokens: int, output_tokens: int,
                    prices: PricingProfile) -> Estimate:
    """A map question on one window: C_full on the window's prefix (with its warm-up when cold)."""
    output = output_tokens
    if window.warmup:
        hit = float(window.prefix_tokens)
        miss = float(window.prefix_tokens + question_tokens)
        output += WARMUP_OUTPUT_TOKENS
    else:
        hit = window.prefix_tokens * window.cache.h
        miss = window.prefix_tokens * (1 - window.cache.h) + question_tokens
    amortised = (window.prefix_tokens * _prefix_price(window.cache, warmup=window.warmup, prices=prices)
                 + question_tokens * prices.input_miss + output_tokens * prices.output) / PER_MILLION
    return Estimate(route="coverage", hit_tokens=hit, miss_tokens=miss, output_tokens=output,
                    dollars=_dollars(hit, miss, output, prices), amortised_dollars=amortised)


def estimate_reduce(*, windows: int, output_tokens: int, system_tokens: int, question_tokens: int,
                    capacity: int, prices: PricingProfile) -> tuple[Estimate, int]:
    """The reduce, assuming every window finds something (O tokens each): (estimate, number of calls)."""
    findings = [output_tokens] * windows
    hit = miss = 0.0
    output = 0
    calls = 0
    while findings:
        if sum(findings) <= capacity or len(findings) <= 2:
            batches = [sum(findings)]
        else:
            batches = [sum(c) for c in pack_findings(findings, capacity)]
        for size in batches:
            miss += system_tokens + size + question_tokens
            output += output_tokens
            calls += 1
        findings = [] if len(batches) == 1 else [output_tokens] * len(batches)
    return Estimate(route="coverage", hit_tokens=hit, miss_tokens=miss, output_tokens=output,
                    dollars=_dollars(hit, miss, output, prices)), calls


def pack_findings(sizes: list[int], capacity: int) -> list[list[int]]:
    """Consecutive groups of sizes for one reduce round: at most ``capacity`` tokens a group (unless one finding
    alone is larger) and at least two findings a group, so every round shrinks the findings."""
    groups: list[list[int]] = [[]]
    for size in sizes:
        if len(groups[-1]) >= 2 and sum(groups[-1]) + size > capacity:
            groups.append([])
        groups[-1].append(size)
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2].extend(groups.pop())
    return groups


def sum_estimates(parts: list[Estimate], *, note: str = "", feasible: bool = True) -> Estimate:
    amortised = [p.amortised_dollars if p.amortised_dollars is not None else p.dollars for p in parts]
    return Estimate(route="coverage", hit_tokens=sum(p.hit_tokens for p in parts),
                    miss_tokens=sum(p.miss_tokens for p in parts),
                    output_tokens=sum(p.output_tokens for p in parts), dollars=sum(p.dollars for p in parts),
                    feasible=feasible, amortised_dollars=sum(amortised), note=note)


def decide_coverage(base: Decision, coverage: Estimate, *, mode: Mode, max_cost_usd: float | None,
                    scope_fits: bool, windows: int) -> Decision:
    """Put coverage beside ``base`` (the rag/full decision): forced by ``mode``, or chosen in auto mode for a
    question that needs every page of a scope too large for one context, within ``max_cost_usd``."""
    decision = replace(base, coverage=coverage)
    if mode == "coverage":
        if not coverage.feasible:
            return replace(decision, coverage_reason=coverage.note,
                           reason=f"every page was requested (mode=coverage) but {coverage.note}; {base.reason}")
        return replace(decision, route="coverage", coverage_reason="requested (mode=coverage)",
                       reason=f"every page was requested (mode=coverage): {coverage.note}")
    if mode != "auto":
        return replace(decision, coverage_reason=f"not chosen: mode={mode} was requested")
    if scope_fits:
        return replace(decision, coverage_reason="not needed: the scope fits one context, so full context reads "
                       "every page in one request")
    if base.need.label not in COVERAGE_NEEDS:
        return replace(decision, coverage_reason=f"not chosen: auto mode reads every page of a scope this large "
                       f"only for exhaustive questions, this one is {base.need.label} (ask with mode=coverage)")
    if not coverage.feasible:
        return replace(decision, coverage_reason=f"not possible: {coverage.note}")
    if max_cost_usd is not None and coverage.dollars > max_cost_usd:
        why = (f"coverage of every page would cost ${coverage.dollars:.5f} in {windows} windows, over the "
               f"max_cost_usd ${max_cost_usd:.5f}")
        return replace(decision, coverage_reason=f"not chosen: {why}", reason=f"{base.reason}; {why}")
    return replace(decision, route="coverage", coverage_reason="chosen",
                   reason=f"{base.need.explain()}; the scope does not fit one context, so coverage reads every page "
                   f"in {windows} windows for ${coverage.dollars:.5f} (map-reduce: {coverage.note})")
