"""The coverage report: pages read, windows that found nothing or failed, cache hits and the bill per window,
and a note for the answer when it is incomplete."""

from __future__ import annotations

from folio.service.coverage.plan import CoveragePlan, documents_left_out, percent
from folio.service.coverage.reduce import ReduceOutcome
from folio.service.coverage.runner import WindowResult
from folio.service.ledger import Usage
from folio.service.schemas import answer as api


def incomplete_note(plan: CoveragePlan, results: dict[int, WindowResult]) -> str:
    """What the answer did not read, in words ("" when it read every page)."""
    ordered = [results[w.index] for w in plan.windows]
    read = [r.window for r in ordered if r.read]
    pages_sent = sum(w.pages for w in read)
    left_out = documents_left_out(plan.records, read)
    skipped = [r for r in ordered if r.status == "skipped"]
    notes = []
    if skipped:
        notes.append(f"{len(skipped)} of {len(ordered)} windows were not read within the "
                     f"${plan.budget or 0:.5f} budget")
    for r in ordered:
        if r.status == "failed":
            where = ", ".join(f"{s.title} pp.{s.first_page + 1}-{s.last_page + 1}" for s in r.window.segments)
            notes.append(f"{r.window.label} ({where}) could not be read after {r.attempts} attempt(s): {r.error}")
    if not notes and not left_out:
        return ""
    missing = "; ".join(f"{d.title} ({d.pages_left_out} of {d.pages} pages: {d.ranges})" for d in left_out)
    return (f"Coverage: {pages_sent} of {plan.pages_in_scope} pages were read "
            f"({percent(pages_sent, plan.pages_in_scope)}%). " + " ".join(n + "." for n in notes)
            + (f" Not covered: {missing}." if missing else ""))


def coverage_report(plan: CoveragePlan, results: dict[int, WindowResult], reduce: ReduceOutcome, *, seconds: float,
                    concurrency: int) -> api.CoverageReport:
    ordered = [results[w.index] for w in plan.windows]
    read = [r.window for r in ordered if r.read]
    pages_sent = sum(w.pages for w in read)
    map_usage = Usage()
    for r in ordered:
        map_usage = map_usage.add(r.usage)
    prompt = map_usage.hit_tokens + map_usage.miss_tokens
    map_dollars = sum(r.dollars for r in ordered)
    return api.CoverageReport(
        windows=len(ordered), windows_read=len(read), window_tokens=plan.capacity,
        pages_in_scope=plan.pages_in_scope, pages_sent=pages_sent,
        pages_sent_percent=percent(pages_sent, plan.pages_in_scope), complete=pages_sent == plan.pages_in_scope,
        budget_usd=plan.budget, budget_cut=any(r.status == "skipped" for r in ordered),
        documents_left_out=documents_left_out(plan.records, read),
        windows_found_nothing=[r.window.index for r in ordered if r.status == "nothing"],
        windows_failed=[api.WindowFailure(window=r.window.index, attempts=r.attempts, error=r.error)
                        for r in ordered if r.status == "failed"],
        windows_retried=[r.window.index for r in ordered if r.attempts > 1],
        cache_hit_tokens=map_usage.hit_tokens, cache_miss_tokens=map_usage.miss_tokens,
        cache_hit_ratio=round(map_usage.hit_tokens / prompt, 4) if prompt else None,
        map_dollars=round(map_dollars, 8),
        reduce=api.ReduceReport(rounds=reduce.rounds, calls=reduce.calls, dollars=round(reduce.dollars, 8),
                                hit_tokens=reduce.usage.hit_tokens, miss_tokens=reduce.usage.miss_tokens,
                                output_tokens=reduce.usage.output_tokens,
                                reasoning_tokens=reduce.usage.reasoning_tokens),
        dollars=round(map_dollars + reduce.dollars, 8), estimated_dollars=round(plan.estimate.dollars, 8),
        seconds=round(seconds, 3), concurrency=concurrency, note=incomplete_note(plan, results),
        per_window=[r.report() for r in ordered])
