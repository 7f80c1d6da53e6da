"""Coverage: a question that needs every page of a scope too large for one context, as a cached map-reduce.

Windows. The scope, in the global canonical order, is packed into windows of whole documents; a document larger
than a window is cut at page boundaries (its slices keep their own page numbers). Each window is rendered with
``full``'s byte-stable layout, so a window is one cacheable prefix: the same collection gives the same windows
and a later question hits window by window; a window holding whole documents is byte-identical to ``full`` over
them (same prefix key, same warm-up). Window size: the context window less the output reserve, the system
prompt and a fixed question budget (``FOLIO_COVERAGE_WINDOW_TOKENS`` caps it), so windows do not depend on the
question's length.

Map. Every window gets ``[system, documents, assistant: Ready., user: map instructions + question]`` under a
concurrency limit; a cold window is warmed first with ``full``'s warm-up (DESIGN.md: finish one request on a
cold prefix before others use it). A window answers with its findings and page citations, or that it holds
nothing relevant. A failed window is retried once after the others, then reported, never dropped silently.

Reduce. The findings are merged into one answer with citations; when they are too long for one call they are
merged in rounds (groups of at least two, so every round shrinks them).

Budget. Coverage never spends more than ``max_cost_usd``: when every window would cost more, it reads the
windows with the best retrieval hits first, as many as the budget holds, and names the documents left out.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from folio.config import Settings
from folio.errors import ContextTooLong, ProviderError
from folio.index import Hit
from folio.ingest.store import Store
from folio.ingest.tokens import TokenCounter
from folio.records import DocumentRecord
from folio.service import citations as cite
from folio.service.context import (
    DOCUMENT_FOOTER,
    DOCUMENTS_CLOSE,
    DOCUMENTS_OPEN,
    NOT_FOUND,
    QUESTION_PREFIX,
    SYSTEM_PROMPT,
    WARM_REPLY,
    canonical_order,
    count_layout,
    document_header,
    fence,
    page_tags_tokens,
    prefix_key,
    render_block,
    render_pages,
    scope_key,
    warmup_messages,
)
from folio.service.ledger import Ledger, LedgerEntry, Session, Usage
from folio.service.llm import Completion, LLMClient, Reasoning
from folio.service.plan import (
    CacheState,
    Estimate,
    WindowInputs,
    estimate_reduce,
    estimate_window,
    pack_findings,
    sum_estimates,
)
from folio.service.pricing import PricingProfile

MAP_INSTRUCTIONS = (
    "The documents above are one part of a larger collection; another step merges what every part holds. "
    "From this part only, list everything that bears on the question below, each point with its citation "
    "[TITLE p.N] and the exact words in double quotes where they matter. Leave out nothing relevant and add "
    f"nothing from elsewhere. If nothing in this part bears on the question, reply exactly: {NOT_FOUND}"
)
REDUCE_INSTRUCTIONS = (
    "Below are findings about the question, each from one part of a collection of documents, with citations "
    "[TITLE p.N] to the pages they came from. Merge them into one complete answer to the question: keep every "
    "relevant point with its citations and quotes exactly as given, drop repetitions, and cite nothing that is not "
    f"in the findings. If no finding bears on the question, reply exactly: {NOT_FOUND}"
)
# Tokens kept for the map question, so that windows do not change with the question's length.
QUESTION_BUDGET = 1_024
# As for full: the system tokens already count the markers around the documents and the reply "Ready.".
MAP_TEMPLATE_TOKENS = 2
RETRY_ROUNDS = 1
WindowStatus = Literal["found", "nothing", "failed", "skipped"]
Event = Callable[[str, dict[str, Any]], None]


def map_messages(documents_block: str, question: str) -> list[dict[str, str]]:
    """A map question on one window: the warm-up's messages, its reply, then the instructions and question."""
    return [*warmup_messages(documents_block), {"role": "assistant", "content": WARM_REPLY},
            {"role": "user", "content": MAP_INSTRUCTIONS + "\n\n" + QUESTION_PREFIX + question}]


def findings_block(findings: Sequence[tuple[str, str]]) -> str:
    """Findings as the reduce reads them: ``(source label, text)`` pairs in order."""
    parts = ["<findings>\n"]
    for label, text in findings:
        parts.append(f'<finding source="{label}">\n{fence(text.strip())}\n</finding>\n')  # text from the documents
    parts.append("</findings>")
    return "".join(parts)


def reduce_messages(findings: Sequence[tuple[str, str]], question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": REDUCE_INSTRUCTIONS + "\n\n" + findings_block(findings) + "\n\n"
             + QUESTION_PREFIX + question}]


def says_nothing(text: str) -> bool:
    return text.strip().startswith(NOT_FOUND[:30])


# -- windows -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Segment:
    """Pages ``first_page..last_page`` (0-based, inclusive) of one document, as one window holds them."""

    doc_id: str
    title: str
    first_page: int
    last_page: int
    n_pages: int
    tokens: int

    @property
    def whole(self) -> bool:
        return self.first_page == 0 and self.last_page == self.n_pages - 1

    @property
    def pages(self) -> int:
        return self.last_page - self.first_page + 1

    @property
    def key(self) -> str:
        return self.doc_id if self.whole else f"{self.doc_id}:{self.first_page}-{self.last_page}"

    def to_dict(self) -> dict[str, Any]:
        return {"document_id": self.doc_id, "title": self.title, "pages": f"{self.first_page + 1}-{self.last_page + 1}",
                "n_pages": self.pages, "whole": self.whole, "tokens": self.tokens}


def window_capacity(settings: Settings, *, system_tokens: int, question_tokens: int) -> int:
    """Tokens of documents one window holds: the context less the output reserve, system prompt and question."""
    room = (settings.context_window - settings.output_reserve - system_tokens
            - max(QUESTION_BUDGET, question_tokens))
    if settings.coverage_window_tokens is not None:
        room = min(room, settings.coverage_window_tokens)
    return room


def split_windows(records: Sequence[DocumentRecord], counter: TokenCounter, capacity: int) -> list[list[Segment]]:
    """Pack the scope, in canonical order, into windows of at most ``capacity`` tokens (documents block included).

    A document goes whole into the current window if it fits, else whole into a new one; a document larger than a
    window fills the current window's room with its first pages and continues in new windows, cut at page
    boundaries. A single page larger than a window gets a window of its own (over the limit: the plan says so).
    """
    base = sum(counter.count_many([DOCUMENTS_OPEN, DOCUMENTS_CLOSE]))
    footer = count_layout(counter, DOCUMENT_FOOTER)
    windows: list[list[Segment]] = []
    current: list[Segment] = []
    used = base

    def close() -> None:
        nonlocal current, used
        if current:
            windows.append(current)
        current, used = [], base

    for record in canonical_order(records):
        n = record.n_pages
        whole = (record.total_tokens + count_layout(counter, document_header(record)) + footer
                 + page_tags_tokens(counter, 0, n - 1))
        segment = Segment(record.id, record.title, 0, n - 1, n, whole)
        if used + whole <= capacity or base + whole <= capacity:
            if used + whole > capacity:
                close()
            current.append(segment)
            used += whole
            continue
        head = count_layout(counter, document_header(record, (n - 1, n - 1))) + footer  # the longest slice header
        page = 0
        while page < n:
            size, last = head, page - 1
            while last + 1 < n:
                cost = record.page_tokens[last + 1] + page_tags_tokens(counter, last + 1, last + 1)
                if used + size + cost > capacity:
                    break
                size += cost
                last += 1
            if last < page:
                if current:
                    close()
                    continue
                last = page  # one page larger than a window
            span = None if (page, last) == (0, n - 1) else (page, last)
            exact = (sum(record.page_tokens[page:last + 1]) + page_tags_tokens(counter, page, last) + footer
                     + count_layout(counter, document_header(record, span)))
            current.append(Segment(record.id, record.title, page, last, n, exact))
            used += exact
            page = last + 1
            if page < n:
                close()
    close()
    return windows


# -- the plan ----------------------------------------------------------------------------------------------------

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

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.index, "of": self.of, "documents": [s.to_dict() for s in self.segments],
                "pages": self.pages, "tokens": self.tokens, "prefix_hash": self.key,
                "cache_h": round(self.cache.h, 3), "warmup": self.warmup,
                "estimated_dollars": round(self.estimate.dollars, 8),
                "estimated_hit_tokens": round(self.estimate.hit_tokens),
                "estimated_miss_tokens": round(self.estimate.miss_tokens), "retrieval_rank": self.rank,
                "selected": self.selected}


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
    left_out: list[dict[str, Any]]
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "windows": len(self.windows), "windows_within_budget": len(self.selected),
            "window_tokens": self.capacity, "pages_in_scope": self.pages_in_scope,
            "pages_planned": self.pages_planned,
            "pages_planned_percent": _percent(self.pages_planned, self.pages_in_scope),
            "budget_usd": self.budget, "budget_cut": self.budget_cut, "documents_left_out": self.left_out,
            "estimated_dollars": round(self.estimate.dollars, 8),
            "estimated_dollars_every_window": round(self.total.dollars, 8),
            "cached_windows": sum(w.cache.h >= 0.5 for w in self.windows),
            "warmups": sum(w.warmup for w in self.selected),
            "reduce_calls": self.reduce_calls, "reduce_tokens": self.reduce_capacity, "notes": self.notes,
            "per_window": [w.to_dict() for w in self.windows],
        }


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 100.0


def _rank(segments: Sequence[Segment], hits: Sequence[Hit]) -> int | None:
    for i, hit in enumerate(hits):
        if any(s.doc_id == hit.doc_id and s.first_page <= hit.first_page <= s.last_page for s in segments):
            return i
    return None


def plan_coverage(records: Sequence[DocumentRecord], hits: Sequence[Hit], question: str, *, reasoning: str,
                  settings: Settings, counter: TokenCounter, ledger: Ledger, prices: PricingProfile,
                  system_tokens: int, output_tokens: int, warm_setting: str, budget: float | None,
                  session: Session | None = None) -> CoveragePlan:
    """Windows, each priced on its own cache state, plus the reduce; cut to the budget by retrieval rank.
    ``session``: the scope's session (``Ledger.session``), read here when not given."""
    question_tokens = counter.count(MAP_INSTRUCTIONS + "\n\n" + QUESTION_PREFIX + question) + MAP_TEMPLATE_TOKENS
    capacity = window_capacity(settings, system_tokens=system_tokens, question_tokens=question_tokens)
    limit = settings.context_window - settings.output_reserve - system_tokens - question_tokens
    session = session or ledger.session(scope_key([r.id for r in records]))  # one read for every window
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
        key = prefix_key(settings.llm_model, reasoning, [s.key for s in segments])
        cache = ledger.cache_state(key, session=session)
        warmup = cache.h < 0.5 and (warm_setting == "always" or (warm_setting == "auto" and cache.followups >= 1))
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


def documents_left_out(records: Sequence[DocumentRecord], windows: Sequence[WindowPlan]) -> list[dict[str, Any]]:
    """Documents with pages in no window of ``windows``: id, title, pages left out (1-based ranges)."""
    covered: dict[str, set[int]] = {}
    for window in windows:
        for s in window.segments:
            covered.setdefault(s.doc_id, set()).update(range(s.first_page, s.last_page + 1))
    out = []
    for record in canonical_order(records):
        missing = [p for p in range(record.n_pages) if p not in covered.get(record.id, set())]
        if missing:
            out.append({"id": record.id, "title": record.title, "pages": record.n_pages,
                        "pages_left_out": len(missing), "ranges": _ranges(missing)})
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


# -- the run -----------------------------------------------------------------------------------------------------

@dataclass
class WindowResult:
    window: WindowPlan
    status: WindowStatus = "skipped"
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    dollars: float = 0.0
    attempts: int = 0
    warmed: bool = False
    error: str | None = None
    retryable: bool = False
    seconds: float = 0.0
    citations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        w = self.window
        prompt = self.usage.hit_tokens + self.usage.miss_tokens
        return {"window": w.index, "of": w.of, "status": self.status,
                "documents": [s.to_dict() for s in w.segments], "pages": w.pages, "tokens": w.tokens,
                "warmed_up": self.warmed, "attempts": self.attempts, "hit_tokens": self.usage.hit_tokens,
                "miss_tokens": self.usage.miss_tokens, "output_tokens": self.usage.output_tokens,
                "cache_hit_ratio": round(self.usage.hit_tokens / prompt, 4) if prompt else None,
                "dollars": round(self.dollars, 8), "estimated_dollars": round(w.estimate.dollars, 8),
                "seconds": round(self.seconds, 3), "error": self.error, "findings": self.text or None,
                "citations": self.citations}

    def progress(self, done: int, total: int) -> dict[str, Any]:
        what = {"found": "found something", "nothing": "nothing relevant", "failed": f"failed ({self.error})",
                "skipped": f"skipped ({self.error})"}[self.status]
        hits = self.usage.hit_tokens
        prompt = hits + self.usage.miss_tokens
        cache = f", {hits:,} of {prompt:,} prompt tokens from the cache" if prompt else ""
        return {"window": self.window.index, "of": self.window.of, "done": done, "total": total,
                "status": self.status, "hit_tokens": hits, "miss_tokens": self.usage.miss_tokens,
                "dollars": round(self.dollars, 8),
                "message": f"{self.window.label}: {what}{cache}, ${self.dollars:.5f} ({done} of {total} done)"}


@dataclass
class CoverageOutcome:
    answer: str
    model: str
    usage: Usage
    dollars: float
    citations: list[dict[str, Any]]
    report: dict[str, Any]
    events: list[dict[str, Any]]
    finish_reason: str


T = TypeVar("T")
R = TypeVar("R")


def _in_callers_context(fn: Callable[[T], R]) -> Callable[[T], R]:
    """``fn`` run in a copy of the caller's context variables (the request id) from a pool's threads."""
    context = contextvars.copy_context()

    def run(arg: T) -> R:
        return context.copy().run(fn, arg)

    return run


class CoverageRunner:
    """Reads the planned windows (map) and merges their findings (reduce), billing every call in the ledger."""

    def __init__(self, *, llm: LLMClient, store: Store, ledger: Ledger, settings: Settings, prices: PricingProfile,
                 counter: TokenCounter, loaded: dict[str, DocumentRecord] | None = None) -> None:
        self.llm = llm
        self.store = store
        self.ledger = ledger
        self.settings = settings
        self.prices = prices
        self.counter = counter
        self.loaded = loaded if loaded is not None else {}
        self._store_lock = threading.Lock()
        self._money = threading.Lock()
        self._spent = 0.0
        self._reserved = 0.0
        self.query_id = ""
        self.scope_key = ""
        self._system_tokens = 0

    def load(self, doc_id: str) -> DocumentRecord:
        with self._store_lock:
            if doc_id not in self.loaded:
                self.loaded[doc_id] = self.store.require_document(doc_id, with_pages=True)
            return self.loaded[doc_id]

    def _record(self, kind: str, completion: Completion, *, window: WindowPlan | None, doc_ids: list[str],
                doc_tokens: list[int], estimated: float | None) -> float:
        dollars = self.prices.dollars(hit_tokens=completion.usage.hit_tokens, miss_tokens=completion.usage.miss_tokens,
                                      output_tokens=completion.usage.output_tokens)
        entry = LedgerEntry(
            kind=kind, route="coverage", prefix_hash=window.key if window else None, doc_ids=doc_ids,
            doc_tokens=doc_tokens, usage=completion.usage, dollars=dollars, estimated_dollars=estimated,
            model=completion.model, profile=self.prices.name,
            prefix_tokens=(window.tokens + self._system_tokens) if window else 0, tenant=self.settings.llm_user_id,
            query_id=self.query_id, window=window.index if window else None, windows=window.of if window else None,
            scope_key=self.scope_key)
        with self._store_lock:
            self.ledger.record(entry)
        with self._money:
            self._spent += dollars
        return dollars

    # the map ------------------------------------------------------------------------------------------------

    def run(self, plan: CoveragePlan, *, question: str, reasoning: Reasoning, stream: bool, emit: Event,
            query_id: str) -> CoverageOutcome:
        self.query_id = query_id
        self.scope_key = scope_key([r.id for r in plan.records])
        self._system_tokens = plan.system_tokens
        started = time.perf_counter()
        results = {w.index: WindowResult(w, error="over the budget") for w in plan.windows}
        todo = plan.selected
        reduce_reserve = plan.estimate.dollars - sum(w.estimate.dollars for w in todo)
        done = 0
        progress_lock = threading.Lock()

        def one(window: WindowPlan) -> None:
            nonlocal done
            result = results[window.index]
            self._map(window, result, question=question, reasoning=reasoning, budget=plan.budget,
                      reduce_reserve=reduce_reserve)
            with progress_lock:
                if result.status != "failed" or not result.retryable or result.attempts > RETRY_ROUNDS:
                    done += 1
                emit("window", result.progress(done, len(todo)))

        workers = max(1, min(self.settings.coverage_concurrency, len(todo) or 1))
        run_one = _in_callers_context(one)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="folio-coverage") as pool:
            list(pool.map(run_one, todo))
            for _ in range(RETRY_ROUNDS):
                again = [results[w.index].window for w in todo
                         if results[w.index].status == "failed" and results[w.index].retryable]
                list(pool.map(run_one, again))
            read = [results[w.index] for w in plan.windows if results[w.index].status in ("found", "nothing")]
            if todo and not read:
                errors = "; ".join(f"{r.window.label}: {r.error}" for r in results.values() if r.status == "failed")
                raise ProviderError(f"coverage could not read any window: {errors}")
            reduce = self._reduce(plan, results, question=question, reasoning=reasoning, stream=stream, emit=emit,
                                  pool=pool)
        answer, model, finish, reduce_usage, reduce_dollars, rounds, calls = reduce
        report = self._report(plan, results, reduce_usage, reduce_dollars, rounds, calls,
                              time.perf_counter() - started)
        if report["note"]:
            addition = "\n\n" + report["note"]
            if stream:
                emit("delta", {"text": addition})
            answer += addition
        events = []
        for r in results.values():
            if r.status == "failed":
                events.append({"kind": "window_failed", "window": r.window.index, "of": r.window.of,
                               "reason": f"{r.window.label} could not be read after {r.attempts} attempt(s): "
                                         f"{r.error}"})
        if plan.budget_cut or any(r.status == "skipped" for r in results.values()):
            events.append({"kind": "budget_cut", "reason": report["note"]})
        total = Usage()
        for r in results.values():
            total = total.add(r.usage)
        total = total.add(reduce_usage)
        dollars = sum(r.dollars for r in results.values()) + reduce_dollars
        cited = self._cited_records(answer, plan)
        return CoverageOutcome(answer=answer, model=model, usage=total, dollars=dollars,
                               citations=[c.to_dict() for c in cite.extract(answer, cited)], report=report,
                               events=events, finish_reason=finish)

    def _map(self, window: WindowPlan, result: WindowResult, *, question: str, reasoning: Reasoning,
             budget: float | None, reduce_reserve: float) -> None:
        with self._money:
            if (budget is not None
                    and self._spent + self._reserved + window.estimate.dollars + reduce_reserve > budget + 1e-12):
                if result.attempts == 0:
                    result.status, result.error = "skipped", "the spend so far leaves no budget for it"
                else:
                    result.retryable = False
                    result.error = f"{result.error}; not retried: the spend so far leaves no budget for it"
                return
            self._reserved += window.estimate.dollars
        started = time.perf_counter()
        result.attempts += 1
        try:
            records = [self.load(s.doc_id) for s in window.segments]
            block = render_block([render_pages(r, s.first_page, s.last_page)
                                  for r, s in zip(records, window.segments, strict=True)])
            doc_ids, doc_tokens = window.doc_tokens()
            if window.warmup and not result.warmed:
                warm = self.llm.complete(warmup_messages(block), reasoning=reasoning, max_tokens=8)
                result.dollars += self._record("warmup", warm, window=window, doc_ids=doc_ids,
                                               doc_tokens=doc_tokens, estimated=None)
                result.usage = result.usage.add(warm.usage)
                result.warmed = True
            completion = self.llm.complete(map_messages(block, question), reasoning=reasoning,
                                           max_tokens=self.settings.output_reserve)
            result.dollars += self._record("map", completion, window=window, doc_ids=doc_ids, doc_tokens=doc_tokens,
                                           estimated=window.estimate.dollars)
            result.usage = result.usage.add(completion.usage)
            result.text = completion.text.strip()
            result.status = "nothing" if says_nothing(result.text) or not result.text else "found"
            result.error = None
            if result.status == "found":
                result.citations = [c.to_dict() for c in cite.extract(result.text, records)]
        except ContextTooLong as exc:
            result.status, result.error, result.retryable = "failed", exc.message, False
        except ProviderError as exc:
            result.status, result.error, result.retryable = "failed", exc.message, True
        finally:
            result.seconds += time.perf_counter() - started
            with self._money:
                self._reserved -= window.estimate.dollars

    # the reduce ---------------------------------------------------------------------------------------------

    def _reduce(self, plan: CoveragePlan, results: dict[int, WindowResult], *, question: str, reasoning: Reasoning,
                stream: bool, emit: Event, pool: ThreadPoolExecutor
                ) -> tuple[str, str, str, Usage, float, int, int]:
        findings = [(r.window.label, r.text, r.window) for r in results.values() if r.status == "found"]
        usage = Usage()
        dollars = 0.0
        rounds = calls = 0
        model = self.llm.model
        if not findings:
            return NOT_FOUND, model, "stop", usage, dollars, rounds, calls
        overhead = self.counter.count('<finding source="window 10 of 10">\n\n</finding>\n')
        lock = threading.Lock()

        def call(group: Sequence[tuple[str, str, WindowPlan | None]], *, live: bool) -> Completion:
            nonlocal usage, dollars, calls
            messages = reduce_messages([(label, text) for label, text, _ in group], question)
            if live:
                completion = self.llm.stream(messages, reasoning=reasoning, max_tokens=self.settings.output_reserve,
                                             on_text=lambda text: emit("delta", {"text": text}))
            else:
                completion = self.llm.complete(messages, reasoning=reasoning, max_tokens=self.settings.output_reserve)
            windows = [w for _, _, w in group if w is not None]
            doc_ids = [s.doc_id for w in windows for s in w.segments]
            doc_tokens = [s.tokens for w in windows for s in w.segments]
            spent = self._record("reduce", completion, window=None, doc_ids=doc_ids, doc_tokens=doc_tokens,
                                 estimated=None)
            with lock:
                usage = usage.add(completion.usage)
                dollars += spent
                calls += 1
            return completion

        current: list[tuple[str, str, WindowPlan | None]] = list(findings)
        while True:
            sizes = [self.counter.count(text) + overhead for _, text, _ in current]
            if len(current) <= 2 or sum(sizes) <= plan.reduce_capacity:
                rounds += 1
                emit("reduce", {"round": rounds, "calls": 1, "findings": len(current), "final": True,
                                "message": f"merging the findings of {len(current)} source(s) into the answer"})
                final = call(current, live=stream)
                return final.text, final.model, final.finish_reason, usage, dollars, rounds, calls
            groups: list[list[tuple[str, str, WindowPlan | None]]] = []
            start = 0
            for group in pack_findings(sizes, plan.reduce_capacity):
                groups.append(current[start:start + len(group)])
                start += len(group)
            rounds += 1
            emit("reduce", {"round": rounds, "calls": len(groups), "findings": len(current), "final": False,
                            "message": f"reduce round {rounds}: {len(current)} findings in {len(groups)} calls"})
            merged = list(pool.map(_in_callers_context(lambda g: call(g, live=False)), groups))
            current = [(f"merged findings {i} of round {rounds}", c.text.strip(), None)
                       for i, c in enumerate(merged, 1) if c.text.strip() and not says_nothing(c.text)]
            if not current:
                return NOT_FOUND, model, "stop", usage, dollars, rounds, calls

    # the report ---------------------------------------------------------------------------------------------

    def _cited_records(self, answer: str, plan: CoveragePlan) -> list[DocumentRecord]:
        """The scope's records, with pages loaded for the documents the answer cites (to check its quotes)."""
        ids = list(dict.fromkeys(s.doc_id for w in plan.windows for s in w.segments))
        with self._store_lock:
            bare = [self.loaded.get(i) or self.store.require_document(i) for i in ids]
        wanted = {c.document_id for c in cite.extract(answer, bare) if c.document_id}
        return [self.load(r.id) if r.id in wanted else r for r in bare]

    def _report(self, plan: CoveragePlan, results: dict[int, WindowResult], reduce_usage: Usage,
                reduce_dollars: float, rounds: int, calls: int, seconds: float) -> dict[str, Any]:
        ordered = [results[w.index] for w in plan.windows]
        read = [r.window for r in ordered if r.status in ("found", "nothing")]
        pages_sent = sum(w.pages for w in read)
        left_out = documents_left_out(plan.records, read)
        failed = [r for r in ordered if r.status == "failed"]
        skipped = [r for r in ordered if r.status == "skipped"]
        map_usage = Usage()
        for r in ordered:
            map_usage = map_usage.add(r.usage)
        prompt = map_usage.hit_tokens + map_usage.miss_tokens
        notes = []
        if skipped:
            notes.append(f"{len(skipped)} of {len(ordered)} windows were not read within the "
                         f"${plan.budget or 0:.5f} budget")
        for r in failed:
            where = ", ".join(f"{s.title} pp.{s.first_page + 1}-{s.last_page + 1}" for s in r.window.segments)
            notes.append(f"{r.window.label} ({where}) could not be read after {r.attempts} attempt(s): {r.error}")
        note = ""
        if notes or left_out:
            missing = "; ".join(f"{d['title']} ({d['pages_left_out']} of {d['pages']} pages: {d['ranges']})"
                                for d in left_out)
            note = (f"Coverage: {pages_sent} of {plan.pages_in_scope} pages were read "
                    f"({_percent(pages_sent, plan.pages_in_scope)}%). " + " ".join(n + "." for n in notes)
                    + (f" Not covered: {missing}." if missing else ""))
        return {
            "windows": len(ordered), "windows_read": len(read), "window_tokens": plan.capacity,
            "pages_in_scope": plan.pages_in_scope, "pages_sent": pages_sent,
            "pages_sent_percent": _percent(pages_sent, plan.pages_in_scope),
            "complete": pages_sent == plan.pages_in_scope,
            "budget_usd": plan.budget, "budget_cut": bool(skipped), "documents_left_out": left_out,
            "windows_found_nothing": [r.window.index for r in ordered if r.status == "nothing"],
            "windows_failed": [{"window": r.window.index, "attempts": r.attempts, "error": r.error} for r in failed],
            "windows_retried": [r.window.index for r in ordered if r.attempts > 1],
            "cache_hit_tokens": map_usage.hit_tokens, "cache_miss_tokens": map_usage.miss_tokens,
            "cache_hit_ratio": round(map_usage.hit_tokens / prompt, 4) if prompt else None,
            "map_dollars": round(sum(r.dollars for r in ordered), 8),
            "reduce": {"rounds": rounds, "calls": calls, "dollars": round(reduce_dollars, 8),
                       **asdict(reduce_usage)},
            "dollars": round(sum(r.dollars for r in ordered) + reduce_dollars, 8),
            "estimated_dollars": round(plan.estimate.dollars, 8), "seconds": round(seconds, 3),
            "concurrency": self.settings.coverage_concurrency, "note": note,
            "per_window": [r.to_dict() for r in ordered],
        }

