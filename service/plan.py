"""The routing decision: price ``rag`` and ``full`` for one question, then choose (DESIGN.md, "The routing model").

Notation as in DESIGN.md: T scope tokens, S system tokens, q question tokens, R retrieved tokens, O expected
output tokens, p_m p_h p_o prices, w the cache-write multiplier, h the probability that the scope's prefix is
cached now, N the expected number of further questions on the scope while the cache lives, W the context
window and O_max the output reserve.

    C_rag      = S (h_S p_h + (1 - h_S) p_m) + (R + q) p_m + O p_o
    C_full     = (S + T)(h p_h + (1 - h) w p_m) + q p_m + O p_o
    C_full_avg = (S + T)(w p_m + N (h p_h + (1 - h) w p_m)) / (N + 1) + q p_m + O p_o
    full is feasible only if S + T + q + O_max <= W
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from service.need import Need
from service.pricing import PER_MILLION, PricingProfile

Route = Literal["rag", "full"]
WARMUP_OUTPUT_TOKENS = 3
Mode = Literal["auto", "rag", "full"]


@dataclass(frozen=True)
class CacheState:
    """What the ledger says about a prefix: P(cached now), expected follow-ups, and the evidence for both."""

    h: float = 0.0
    followups: float = 0.0
    last_seen_s: float | None = None
    observed_hit_ratio: float | None = None
    requests: int = 0

    def explain(self) -> str:
        if self.requests == 0:
            return "never sent before: cold"
        age = f"{self.last_seen_s:.0f}s ago" if self.last_seen_s is not None else "at an unknown time"
        hit = f", last hit ratio {self.observed_hit_ratio:.0%}" if self.observed_hit_ratio is not None else ""
        return (f"{self.requests} earlier request(s), last {age}{hit}: P(cached)={self.h:.2f}, "
                f"expected follow-ups {self.followups:.1f}")


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


@dataclass(frozen=True)
class Decision:
    route: Route
    reason: str
    rag: Estimate
    full: Estimate
    need: Need
    inputs: PlanInputs
    alternatives: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route, "reason": self.reason,
            "need": {"class": self.need.label, "cues": self.need.cues, "explanation": self.need.explain()},
            "estimates": {"rag": asdict(self.rag), "full": asdict(self.full)},
            "inputs": {**asdict(self.inputs), "cache": {**asdict(self.inputs.cache),
                                                        "explanation": self.inputs.cache.explain()}},
        }


def _dollars(hit: float, miss: float, output: float, prices: PricingProfile) -> float:
    return (hit * prices.input_hit + miss * prices.input_miss * prices.cache_write_multiplier
            + output * prices.output) / PER_MILLION


def estimate_rag(x: PlanInputs, prices: PricingProfile) -> Estimate:
    s_hit = x.system_tokens * x.system_cache_h
    hit = s_hit
    miss = x.system_tokens - s_hit + x.retrieved_tokens + x.question_tokens
    return Estimate(route="rag", hit_tokens=hit, miss_tokens=miss, output_tokens=x.output_tokens,
                    dollars=_dollars(hit, miss, x.output_tokens, prices))


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
    n = x.cache.followups
    w = prices.cache_write_multiplier
    per_prefix_token = (w * prices.input_miss + n * (h * prices.input_hit + (1 - h) * w * prices.input_miss)) / (n + 1)
    amortised = (prefix * per_prefix_token + x.question_tokens * prices.input_miss
                 + x.output_tokens * prices.output) / PER_MILLION
    needed = prefix + x.question_tokens + x.output_reserve
    feasible = needed <= x.window
    note = "" if feasible else f"needs {needed:,} tokens with the output reserve; the window is {x.window:,}"
    if x.warmup and feasible:
        note = "includes a cache warm-up request, after which this and later questions read the prefix as hits"
    return Estimate(route="full", hit_tokens=hit, miss_tokens=miss, output_tokens=x.output_tokens,
                    dollars=dollars, feasible=feasible, amortised_dollars=amortised, note=note)


def decide(x: PlanInputs, need: Need, prices: PricingProfile, *, mode: Mode = "auto",
           max_cost_usd: float | None = None) -> Decision:
    """Choose the route: forced by ``mode``, else by need and cost within ``max_cost_usd``."""
    rag = estimate_rag(x, prices)
    full = estimate_full(x, prices)
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
    extra = full_cost - rag.dollars
    if extra <= 0:
        return Decision("full", f"whole documents cost no more than retrieval here (${full_cost:.5f} amortised "
                        f"vs ${rag.dollars:.5f}), and cover every page", rag, full, need, x)
    if max_cost_usd is not None and full.dollars > max_cost_usd:
        why = (f"{need.explain()}; but whole documents (${full.dollars:.5f} now) exceed max_cost_usd "
               f"${max_cost_usd:.5f}") if need.wants_full else f"{need.explain()}; retrieval is enough"
        return Decision("rag", why, rag, full, need, x)
    if need.wants_full:
        return Decision("full", f"{need.explain()}; whole documents cost ${extra:.5f} more per question "
                        f"(amortised over {x.cache.followups:.1f} follow-ups) and cover every page",
                        rag, full, need, x)
    return Decision("rag", f"{need.explain()}; retrieval is cheaper by ${extra:.5f}", rag, full, need, x)
