"""A conversation turn priced with the thread's real prefix (DESIGN.md, "Conversations").

Notation as in ``service/plan.py``, plus: H the tokens of the earlier turns the prompt re-sends, C the tokens of
the previous request on the thread's prefix (its input and its answer: what the provider persisted), h_t the
probability that C is still cached now, r the probability that a prefix sent now is still cached at the next
turn (the thread's own hit ratios, times the cache's survival over the thread's own gaps between turns), N the
further turns expected, g the tokens a turn adds to the history.

    whole documents, extending the thread's documents prefix:  hit = h_t C,     miss = S + T + H + q - hit
    whole documents, a new prefix (first such turn, a trim, a changed scope):
                                                      hit = h_D (S + T),      miss = the rest (H read cold once)
    retrieval, extending the thread's bare prefix:    hit = h_t C,           miss = S + H + R + q - hit
    retrieval, a new prefix (first such turn, a trim):hit = h_S S,            miss = H + R + q

A thread keeps both prefixes: every request on one base extends the last request on it (the turns in between
join as turns), so going back to a route taken before extends that route's prefix, as long as the provider
keeps it. On the documents base the history is the questions and answers alone (H is small); on the bare base
it holds every retrieval turn's excerpts.

and each later turn k = 1..N reads its prefix (S [+ T] + H + k g) from the cache with P(r) and misses the new
question (and the excerpts, for retrieval; and the last answer when thinking is on, since the provider's history
drops the reasoning that its output unit holds). The amortised price is (now + the N later turns) / (N + 1), so
a thread that went to whole documents stays there while the cached documents cost less over the expected turns
than retrieval's fresh excerpts (or when the question needs every page), and a switch is paid for once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from statistics import fmean

from folio.service.plan import Estimate, PlanInputs
from folio.service.pricing import PER_MILLION, PricingProfile
from folio.service.retention import PRIOR_RETENTION, cache_survival
from folio.service.thread import READY_TOKENS, TURN_TEMPLATE_TOKENS, Base, PrefixState

RATIO_MEMORY = 5  # the last requests whose hit ratios say how reliably the provider keeps the thread's prefix


def prefix_retention(state: PrefixState) -> float:
    """P(the provider keeps a thread's prefix until the next turn, within the cache's lifetime): the mean of the
    last hit ratios on it, or the prior before any."""
    ratios = state.hit_ratios[-RATIO_MEMORY:]
    return min(0.99, max(0.05, fmean(ratios))) if ratios else PRIOR_RETENTION


def thread_h(state: PrefixState, now: float) -> float:
    """P(the previous request on the thread's prefix is still cached now)."""
    if state.cached_at is None or state.sent_turns == 0:
        return 0.0
    return prefix_retention(state) * cache_survival(max(0.0, now - state.cached_at))


def pace(turn_times: list[float]) -> float:
    """The mean P(a prefix outlives the gap to the next turn), over the thread's own gaps (1.0 without gaps)."""
    gaps = [b - a for a, b in itertools.pairwise(turn_times)]
    return fmean(cache_survival(g) for g in gaps) if gaps else 1.0


@dataclass(frozen=True)
class TurnInputs:
    """What a turn's price depends on, besides the one-off inputs (``x``: S, T, q, R, O, the window). The thread
    keeps a prefix per base; ``*_full`` is its documents prefix, ``*_rag`` its bare one."""

    x: PlanInputs
    history_full: int  # H for a whole-documents turn (after any trim it needs)
    history_rag: int  # H for a retrieval turn
    cached_full: int  # C of the documents prefix (0: never sent, or it cannot be extended)
    cached_rag: int
    h_full: float  # h_t of each
    h_rag: float
    h_documents: float  # h_D: the documents prefix, from one-off questions and warm-ups on the scope
    retention: float  # r
    expected_turns: float  # N
    answer_hits: bool  # the previous answer is read from the cache (thinking off)
    new_full: bool = True  # the documents turn starts a new prefix (first on this base, a trim, a scope change)
    new_rag: bool = True
    last_base: Base | None = None  # the base of the thread's last request (None: the first turn)


def _dollars(hit: float, miss: float, output: float, prices: PricingProfile) -> float:
    return (hit * prices.input_hit + miss * prices.input_miss * prices.cache_write_multiplier
            + output * prices.output) / PER_MILLION


def _later(prefix: float, growth: float, fresh: float, t: TurnInputs, prices: PricingProfile) -> float:
    """Dollars of the N expected later turns together, each reading the grown prefix with P(r)."""
    n_whole = int(t.expected_turns)
    fraction = t.expected_turns - n_whole
    total = 0.0
    answer_miss = 0 if t.answer_hits else t.x.output_tokens
    for k in range(1, n_whole + 2):
        weight = 1.0 if k <= n_whole else fraction
        if weight <= 0:
            break
        cached = prefix + k * growth - answer_miss
        total += weight * _dollars(t.retention * cached, (1 - t.retention) * cached + fresh + answer_miss,
                                   t.x.output_tokens, prices)
    return total


def estimate_turn_full(t: TurnInputs, prices: PricingProfile) -> Estimate:
    x = t.x
    documents = x.system_tokens + x.scope_tokens + READY_TOKENS
    prompt = documents + t.history_full + x.question_tokens
    if not t.new_full:
        hit = t.h_full * min(t.cached_full, prompt)
        note = (f"extends the thread's cached prefix ({t.cached_full:,} tokens, a {t.h_full:.0%} chance it is cached); "
                "misses only the new question" + ("" if t.answer_hits else " and the last answer"))
    else:
        hit = t.h_documents * documents
        note = (f"a new prefix: the documents (a {t.h_documents:.0%} chance they are cached)"
                + (f" then {t.history_full:,} tokens of earlier turns, read cold once" if t.history_full else ""))
    miss = prompt - hit
    dollars = _dollars(hit, miss, x.output_tokens, prices)
    growth = x.question_tokens + x.output_tokens + TURN_TEMPLATE_TOKENS
    later = _later(prompt + x.output_tokens, growth, x.question_tokens, t, prices)
    needed = prompt + x.output_reserve
    feasible = needed <= x.window
    if not feasible:
        note = f"needs {needed:,} tokens with the output reserve; the window is {x.window:,}"
    return Estimate(route="full", hit_tokens=hit, miss_tokens=miss, output_tokens=x.output_tokens, dollars=dollars,
                    feasible=feasible, amortised_dollars=(dollars + later) / (t.expected_turns + 1), note=note)


def estimate_turn_rag(t: TurnInputs, prices: PricingProfile) -> Estimate:
    x = t.x
    prefix = x.system_tokens + t.history_rag
    fresh = x.retrieved_tokens + x.question_tokens
    hit = x.system_tokens * x.system_cache_h if t.new_rag else t.h_rag * min(t.cached_rag, prefix)
    miss = prefix + fresh - hit
    dollars = _dollars(hit, miss, x.output_tokens, prices)
    growth = fresh + x.output_tokens + TURN_TEMPLATE_TOKENS
    later = _later(prefix + fresh + x.output_tokens, growth, fresh, t, prices)
    return Estimate(route="rag", hit_tokens=hit, miss_tokens=miss, output_tokens=x.output_tokens, dollars=dollars,
                    amortised_dollars=(dollars + later) / (t.expected_turns + 1))


def thread_words(t: TurnInputs, route_base: Base, turn: int, kept: int, dropped: int) -> str:
    """The thread's part of a turn's reason, in words."""
    parts = [f"turn {turn} of the conversation"]
    history = t.history_full if route_base == "documents" else t.history_rag
    if kept:
        parts.append(f"{kept} earlier turn(s) in the prompt ({history:,} tokens)")
    if dropped:
        parts.append(f"the oldest {dropped} turn(s) left out to fit the window")
    new = t.new_full if route_base == "documents" else t.new_rag
    h = t.h_full if route_base == "documents" else t.h_rag
    if turn > 1 and not new:
        back = " (it took this route before)" if t.last_base not in (None, route_base) else ""
        parts.append(f"it extends the thread's cached prefix{back} (a {h:.0%} chance it is cached)")
    elif turn > 1 and t.last_base is not None and t.last_base != route_base:
        switch = ("the documents, then the earlier questions and answers" if route_base == "documents" else
                  "the history without the documents")
        parts.append(f"switching route starts a new prefix ({switch}), read cold once")
    elif turn > 1:
        parts.append("the prompt's prefix changed, so it is read cold once")
    parts.append(f"{t.expected_turns:.1f} further turn(s) expected at this thread's pace")
    return "; ".join(parts)
