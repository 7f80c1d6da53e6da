"""An answer's route and cost in one plain sentence, for people: what was read, why, and what it cost.

``summarise(answer, prices)`` reads only the answer (its plan, usage, cost, events and coverage report) and the
pricing profile, so a recorded turn can be summarised again later. It covers every route (retrieval, whole
documents, coverage), a fallback or an escalation on the way, no model configured and an estimate only, and the
cache situations of whole documents: already cached, warmed up first, expected but dropped, read cold. The
numbers stay in the answer's other fields; the web UI shows this sentence first and folds them under it.
"""

from __future__ import annotations

import math

from folio.service.pricing import PricingProfile
from folio.service.schemas.answer import Answer
from folio.service.schemas.plan import Plan

# A share of the input read from the cache at or above which a prompt counts as "already cached".
MOSTLY_CACHED = 0.5
# The plan's P(cached) at or above which a miss means the provider dropped a prefix it was expected to hold.
EXPECTED_CACHED = 0.5
# Marks a plan that fell back to retrieval under a hard cap (``service/plan.py``'s ``enforce_cap``).
CAP_FALLBACK_MARK = "as the request allows (fallback)"


def money(dollars: float) -> str:
    """Dollars with two significant figures below $1 ("$0.0011", "$0.031"), cents above, "$0" for nothing."""
    if dollars <= 0:
        return "$0"
    if dollars >= 1:
        return f"${dollars:,.2f}"
    digits = max(2, 1 - math.floor(math.log10(dollars)))
    return f"${dollars:.{digits}f}"


# A title longer than this is cut at a word, so that the sentence stays within two lines of the answer's card.
TITLE_CHARS = 48


def short_title(title: str) -> str:
    if len(title) <= TITLE_CHARS:
        return title
    cut = title[:TITLE_CHARS].rsplit(" ", 1)[0].rstrip(" -,.;:")
    return f"{cut}…"


def scope_words(plan: Plan) -> str:
    """The scope as a reader names it: the document's title in quotes (a long one shortened), or "the N
    documents"."""
    documents = plan.scope
    if len(documents) == 1:
        return f"“{short_title(documents[0].title)}”"
    return f"the {len(documents)} documents" if documents else "the documents"


def _whole(plan: Plan) -> str:
    return f"the whole of {scope_words(plan)}" if len(plan.scope) == 1 else f"all of {scope_words(plan)}"


def _passages(plan: Plan, retrieved: int) -> str:
    n = retrieved or 0
    return f"Searched {scope_words(plan)} for the {n} most relevant passage{'' if n == 1 else 's'}"


def _prefix_tokens(plan: Plan) -> int:
    """What precedes the question in a whole-documents prompt: system prompt, documents, a thread's turns."""
    history = plan.thread.history_tokens if plan.thread is not None else 0
    return plan.inputs.system_tokens + plan.inputs.scope_tokens + history


def _cached_price(plan: Plan, prices: PricingProfile) -> float:
    """A whole-documents question with its prefix read from the cache."""
    return prices.dollars(hit_tokens=_prefix_tokens(plan), miss_tokens=plan.inputs.question_tokens,
                          output_tokens=plan.inputs.output_tokens)


def _rag_why(plan: Plan) -> str:
    """Why retrieval rather than reading everything, with what reading everything would have cost."""
    full = plan.estimates.full
    total = f"{plan.inputs.scope_tokens:,} tokens"
    if not full.feasible:
        return f"all {total} do not fit in the model's context"
    if CAP_FALLBACK_MARK in plan.reason:
        return f"reading all {total} was estimated at {money(full.dollars)}, over your cost limit"
    if plan.need.class_ != "lookup" and "exceed" in plan.reason:
        return f"reading all {total} ({money(full.dollars)}) would be over the budget"
    return f"reading all {total} would have cost {money(full.dollars)}"


def _spent(answer: Answer) -> float:
    return answer.cost.dollars if answer.cost is not None else 0.0


def _hit_share(answer: Answer) -> float:
    usage = answer.usage
    if usage is None or usage.hit_tokens + usage.miss_tokens == 0:
        return 0.0
    return usage.hit_tokens / (usage.hit_tokens + usage.miss_tokens)


def _expected_h(plan: Plan) -> float:
    return plan.thread.cache_h if plan.thread is not None and not plan.thread.new_prefix else plan.inputs.cache.h


def _full_sentence(answer: Answer, prices: PricingProfile) -> str:
    plan, usage = answer.plan, answer.usage
    spent = _spent(answer)
    read = f"Read {_whole(plan)}" + (" with the conversation so far" if plan.thread and plan.thread.turns_in_prompt
                                     else "")
    if prices.input_miss == 0 and prices.output == 0:
        return f"{read}: the model is self-hosted, so tokens cost nothing here"
    if plan.warmup:
        return (f"{read}: it was not cached yet, so it was loaded into the cache first; this cost {money(spent)}, "
                f"and a follow-up soon after should cost about {money(_cached_price(plan, prices))}")
    if usage is not None and _hit_share(answer) >= MOSTLY_CACHED:
        cold = prices.dollars(hit_tokens=0, miss_tokens=usage.hit_tokens + usage.miss_tokens,
                              output_tokens=usage.output_tokens)
        return f"{read}: it was already cached, so this cost {money(spent)} instead of {money(cold)}"
    if _expected_h(plan) >= EXPECTED_CACHED:
        estimated = answer.cost.estimated_dollars if answer.cost is not None else 0.0
        return (f"{read}: it was expected in the cache, but the provider had dropped it, so it was read at the "
                f"full price: {money(spent)} instead of the {money(estimated)} estimated")
    return f"{read}: it was not cached, so this cost {money(spent)}; a follow-up soon after reads it from the cache"


def _rag_sentence(answer: Answer) -> str:
    plan = answer.plan
    cached = " (its prompt was already cached)" if _hit_share(answer) >= MOSTLY_CACHED else ""
    return f"{_passages(plan, len(answer.retrieved))}{cached}: {_rag_why(plan)}; this cost {money(_spent(answer))}"


def _coverage_sentence(answer: Answer) -> str:
    report = answer.coverage
    if report is None:
        return f"Read every page of {scope_words(answer.plan)} window by window; this cost {money(_spent(answer))}"
    windows = f"{report.windows_read} window{'' if report.windows_read == 1 else 's'}"
    if report.complete:
        read = (f"Read all {report.pages_in_scope:,} pages of {scope_words(answer.plan)} in {windows}, as they are "
                "too long to read at once")
    elif report.budget_cut:
        read = (f"Read {report.pages_sent:,} of {report.pages_in_scope:,} pages of {scope_words(answer.plan)} in "
                f"{windows} (the ones with the best search hits first) to stay within the "
                f"{money(report.budget_usd or 0)} limit")
    else:
        read = (f"Read {report.pages_sent:,} of {report.pages_in_scope:,} pages of {scope_words(answer.plan)} in "
                f"{windows}")
    failed = f" ({len(report.windows_failed)} failed)" if report.windows_failed else ""
    cached = (f", {round(report.cache_hit_ratio * 100)}% of it from the cache"
              if report.cache_hit_ratio and report.cache_hit_ratio >= 0.05 else "")
    return f"{read}{failed}; this cost {money(_spent(answer))}{cached}"


def _estimate_sentence(answer: Answer, *, estimate_only: bool) -> str:
    plan = answer.plan
    estimate = getattr(plan.estimates, answer.route, None)
    dollars = estimate.dollars if estimate is not None else 0.0
    if answer.route == "full":
        cache = (" (already cached)" if _expected_h(plan) >= EXPECTED_CACHED and not plan.warmup
                 else " (not cached yet: it would be loaded into the cache first)" if plan.warmup else "")
        would = f"read {_whole(plan)}{cache}"
    elif answer.route == "coverage":
        would = f"read every page of {scope_words(plan)} window by window"
    else:
        would = f"search {scope_words(plan)} for the {len(answer.retrieved)} most relevant passages"
    if estimate_only:
        return f"Estimate only: this would {would}, for about {money(dollars)}; nothing was asked or spent"
    return f"No model is configured, so nothing was asked or spent: Folio would {would}, for about {money(dollars)}"


def summarise(answer: Answer, prices: PricingProfile, *, estimate_only: bool = False) -> str:
    """One sentence on why this route and what it cost (see the module docstring)."""
    if answer.answer is None:
        return _estimate_sentence(answer, estimate_only=estimate_only) + "."
    kinds = {event.kind: event for event in answer.events}
    spent = money(_spent(answer))
    if "fallback" in kinds:
        n = len(answer.retrieved)
        return (f"Tried to read {_whole(answer.plan)}, but the model refused it as too long, so searched it for "
                f"the {n} most relevant passage{'' if n == 1 else 's'} instead; this cost {spent}.")
    if "escalation" in kinds:
        return (f"{_passages(answer.plan, len(answer.retrieved))} first, but they did not hold the answer, so it then "
                f"read {_whole(answer.plan)}; together this cost {spent}.")
    if answer.route == "coverage":
        return _coverage_sentence(answer) + "."
    if answer.route == "full":
        return _full_sentence(answer, prices) + "."
    sentence = _rag_sentence(answer)
    if "no_escalation" in kinds:
        sentence += "; the passages did not hold the answer, and reading everything was over the budget"
    return sentence + "."
