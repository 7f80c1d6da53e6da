"""The coverage plan: the scope's windows, each priced on its own cache state, plus the reduce; cut to the budget
by retrieval rank (the formulas are ``service/plan.py``'s ``estimate_window`` and ``estimate_reduce``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from folio.config import Settings
from folio.index import Hit
from folio.ingest.tokens import TokenCounter
from folio.records import DocumentRecord
from folio.service.context import (
    DOCUMENTS_CLOSE,
    DOCUMENTS_OPEN,
    QUESTION_PREFIX,
    canonical_order,
    count_layout,
    prefix_key,
)
from folio.service.coverage.packing import Segment, split_windows, window_capacity
from folio.service.coverage.prompts import MAP_INSTRUCTIONS, MAP_TEMPLATE_TOKENS, REDUCE_INSTRUCTIONS
from folio.service.ledger import CacheMemory
from folio.service.plan import (
    CacheState,
    Estimate,
    WindowInputs,
    estimate_reduce,
    estimate_window,
    sum_estimates,
    wants_warmup,
)
from folio.service.pricing import PricingProfile
from folio.service.schemas import plan as api


@dataclass
class WindowPlan:
    index: int  # 1-based
    of: int
    segments: list[Segment]
    tokens: int  # the documents block
    key: str  # the prefix key (the ledger's cache memory)
    cache: CacheState
    warmup: bool
    estimate: Estimate
    rank: int | None  # the best retrieval rank of a chunk inside; None: no retrieved chunk
    selected: bool = True

    @property
    def label(self) -> str:
        return f"window {self.index} of {self.of}"

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.segments)

    def doc_tokens(self) -> tuple[list[str], list[int]]:
        return [s.doc_id for s in self.segments], [s.tokens for s in self.segments]

    def report(self) -> api.WindowPlan:
        return api.WindowPlan(window=self.index, of=self.of, documents=[s.report() for s in self.segments],
                              pages=self.pages, tokens=self.tokens, prefix_hash=self.key,
                              cache_h=round(self.cache.h, 3), warmup=self.warmup,
                              estimated_dollars=round(self.estimate.dollars, 8),
                              estimated_hit_tokens=round(self.estimate.hit_tokens),
                              estimated_miss_tokens=round(self.estimate.miss_tokens), retrieval_rank=self.rank,
                              selected=self.selected)


@dataclass
class CoveragePlan:
    records: list[DocumentRecord]  # the scope, without pages
    windows: list[WindowPlan]
    capacity: int
    system_tokens: int
    question_tokens: int
    output_tokens: int
    reduce_capacity: int
    total: Estimate  # every window and the reduce
    estimate: Estimate  # the windows that will be read (a budget may cut) and their reduce
    reduce_calls: int
    budget: float | None
    pages_in_scope: int
    left_out: list[api.DocumentLeftOut]
    notes: list[str] = field(default_factory=list)

    @property
    def selected(self) -> list[WindowPlan]:
        return [w for w in self.windows if w.selected]

    @property
    def budget_cut(self) -> bool:
        return len(self.selected) < len(self.windows)

    @property
    def pages_planned(self) -> int:
        return sum(w.pages for w in self.selected)

    def report(self, decision: str) -> api.CoveragePlan:
        """The plan as the API reports it; ``decision``: why coverage was or was not chosen."""
        return api.CoveragePlan(
            windows=len(self.windows), windows_within_budget=len(self.selected), window_tokens=self.capacity,
            pages_in_scope=self.pages_in_scope, pages_planned=self.pages_planned,
            pages_planned_percent=percent(self.pages_planned, self.pages_in_scope), budget_usd=self.budget,
            budget_cut=self.budget_cut, documents_left_out=self.left_out,
            estimated_dollars=round(self.estimate.dollars, 8),
            estimated_dollars_every_window=round(self.total.dollars, 8),
            cached_windows=sum(w.cache.h >= 0.5 for w in self.windows),
            warmups=sum(w.warmup for w in self.selected), reduce_calls=self.reduce_calls,
            reduce_tokens=self.reduce_capacity, notes=self.notes, per_window=[w.report() for w in self.windows],
            decision=decision)


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 100.0


def _rank(segments: Sequence[Segment], hits: Sequence[Hit]) -> int | None:
    for i, hit in enumerate(hits):
        if any(s.doc_id == hit.doc_id and s.first_page <= hit.first_page <= s.last_page for s in segments):
            return i
    return None


def plan_coverage(records: Sequence[DocumentRecord], hits: Sequence[Hit], question: str, *, reasoning: str,
                  settings: Settings, counter: TokenCounter, memory: CacheMemory, prices: PricingProfile,
                  system_tokens: int, output_tokens: int, warm_setting: str, budget: float | None) -> CoveragePlan:
    """Windows, each priced on its own cache state (``memory``: the plan's one reading of the ledger), plus the
    reduce; cut to the budget by retrieval rank."""
    question_tokens = counter.count(MAP_INSTRUCTIONS + "\n\n" + QUESTION_PREFIX + question) + MAP_TEMPLATE_TOKENS
    capacity = window_capacity(settings, system_tokens=system_tokens, question_tokens=question_tokens)
    limit = settings.context_window - settings.output_reserve - system_tokens - question_tokens
    notes: list[str] = []
    feasible = capacity > 0
    if not feasible:
        notes.append(f"the context window ({settings.context_window:,} tokens) leaves no room for documents after "
                     f"the output reserve, the system prompt and the question")
        segments_by_window: list[list[Segment]] = []
    else:
        segments_by_window = split_windows(records, counter, capacity)
    n = len(segments_by_window)
    base = sum(counter.count_many([DOCUMENTS_OPEN, DOCUMENTS_CLOSE]))
    windows: list[WindowPlan] = []
    for i, segments in enumerate(segments_by_window, 1):
        tokens = base + sum(s.tokens for s in segments)
        if tokens > limit:
            feasible = False
            notes.append(f"window {i}: page {segments[0].first_page + 1} of {segments[0].title!r} alone is "
                         f"{tokens:,} tokens, more than a window holds ({limit:,})")
        key = prefix_key(settings.llm_model, [s.key for s in segments])
        cache = memory.cache_state(key, reasoning)
        warmup = wants_warmup(cache, warm_setting)
        estimate = estimate_window(WindowInputs(system_tokens + tokens, cache, warmup),
                                   question_tokens=question_tokens, output_tokens=output_tokens, prices=prices)
        windows.append(WindowPlan(i, n, segments, tokens, key, cache, warmup, estimate, _rank(segments, hits)))
    reduce_question = counter.count(QUESTION_PREFIX + question) + 2 + count_layout(counter, REDUCE_INSTRUCTIONS)
    reduce_capacity = reduce_room(settings, system_tokens=system_tokens, question_tokens=reduce_question)

    def reduce_for(k: int) -> tuple[Estimate, int]:
        return estimate_reduce(windows=k, output_tokens=output_tokens, system_tokens=system_tokens,
                               question_tokens=reduce_question, capacity=reduce_capacity, prices=prices)

    reduce_all, calls_all = reduce_for(n)
    total = sum_estimates([w.estimate for w in windows] + [reduce_all], feasible=feasible and n > 0,
                          note=_note(windows, calls_all, notes))
    if not n and feasible:
        notes.append("the scope has no pages")
    chosen = windows
    if budget is not None and total.dollars > budget and feasible:
        chosen = []
        spent = 0.0
        for window in sorted(windows, key=lambda w: (w.rank is None, w.rank or 0, w.index)):
            if spent + window.estimate.dollars + reduce_for(len(chosen) + 1)[0].dollars <= budget:
                chosen.append(window)
                spent += window.estimate.dollars
        for window in windows:
            window.selected = window in chosen
    reduce_sel, calls_sel = reduce_for(len(chosen))
    left_out = documents_left_out(records, [w for w in windows if w.selected])
    if len(chosen) < n:
        if chosen:
            notes.append(f"the ${budget:.5f} budget covers {len(chosen)} of {n} windows (${total.dollars:.5f} for "
                         "all), the ones with the best retrieval hits first")
        else:
            notes.append(f"the ${budget:.5f} budget does not cover one window (${total.dollars:.5f} for all {n})")
    estimate = sum_estimates([w.estimate for w in chosen] + [reduce_sel], feasible=feasible and bool(chosen),
                             note=_note(chosen, calls_sel, notes))
    return CoveragePlan(records=list(records), windows=windows, capacity=capacity, system_tokens=system_tokens,
                        question_tokens=question_tokens, output_tokens=output_tokens, reduce_capacity=reduce_capacity,
                        total=total, estimate=estimate, reduce_calls=calls_sel, budget=budget,
                        pages_in_scope=sum(r.n_pages for r in records), left_out=left_out, notes=notes)


def reduce_room(settings: Settings, *, system_tokens: int, question_tokens: int) -> int:
    """Tokens of findings one reduce call holds (the instructions and question counted in ``question_tokens``)."""
    room = settings.context_window - settings.output_reserve - system_tokens - question_tokens - 64
    if settings.coverage_reduce_tokens is not None:
        room = min(room, settings.coverage_reduce_tokens)
    return max(room, 1)


def _note(windows: Sequence[WindowPlan], reduce_calls: int, notes: Sequence[str]) -> str:
    cold = sum(w.warmup for w in windows)
    cached = sum(w.cache.h >= 0.5 for w in windows)
    cut = len({s.doc_id for w in windows for s in w.segments if not s.whole})
    parts = [f"{len(windows)} window(s)" + (f" ({cut} document(s) longer than a window cut at page boundaries)"
                                             if cut else " of whole documents"),
             f"{cached} cached", f"{cold} to warm up", f"{reduce_calls} reduce call(s)"]
    return ", ".join(parts) + ("; " + "; ".join(notes) if notes else "")


def documents_left_out(records: Sequence[DocumentRecord], windows: Sequence[WindowPlan]) -> list[api.DocumentLeftOut]:
    """Documents with pages in no window of ``windows``: id, title, pages left out (1-based ranges)."""
    covered: dict[str, set[int]] = {}
    for window in windows:
        for s in window.segments:
            covered.setdefault(s.doc_id, set()).update(range(s.first_page, s.last_page + 1))
    out = []
    for record in canonical_order(records):
        missing = [p for p in range(record.n_pages) if p not in covered.get(record.id, set())]
        if missing:
            out.append(api.DocumentLeftOut(id=record.id, title=record.title, pages=record.n_pages,
                                           pages_left_out=len(missing), ranges=_ranges(missing)))
    return out


def _ranges(pages: Sequence[int]) -> str:
    """0-based page indices as 1-based ranges: [0, 1, 2, 5] -> '1-3, 6'."""
    out: list[str] = []
    start = prev = pages[0]
    for p in [*pages[1:], -2]:
        if p != prev + 1:
            out.append(f"{start + 1}" if start == prev else f"{start + 1}-{prev + 1}")
            start = p
        prev = p
    return ", ".join(out)
