"""The map: read the planned windows under a concurrency limit and a budget, warm cold ones first, retry a failed
window once after the others; then the reduce (``reduce``) and the report (``report``)."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from folio.config import Settings
from folio.errors import ContextTooLong, ProviderError
from folio.ingest.store import Store
from folio.ingest.tokens import TokenCounter
from folio.records import DocumentRecord
from folio.service import citations as cite
from folio.service.billing import Bill, Window
from folio.service.context import render_block, render_pages, warmup_messages
from folio.service.coverage.plan import CoveragePlan, WindowPlan
from folio.service.coverage.prompts import map_messages, says_nothing
from folio.service.ledger import Usage
from folio.service.llm import Completion, LLMClient, Reasoning
from folio.service.schemas import answer as api
from folio.service.schemas.answer import Emit
from folio.service.schemas.common import Citation

RETRY_ROUNDS = 1
WindowStatus = Literal["found", "nothing", "failed", "skipped"]


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
    citations: list[Citation] = field(default_factory=list)

    @property
    def read(self) -> bool:
        return self.status in ("found", "nothing")

    def report(self) -> api.WindowReport:
        w = self.window
        prompt = self.usage.hit_tokens + self.usage.miss_tokens
        return api.WindowReport(
            window=w.index, of=w.of, status=self.status, documents=[s.report() for s in w.segments], pages=w.pages,
            tokens=w.tokens, warmed_up=self.warmed, attempts=self.attempts, hit_tokens=self.usage.hit_tokens,
            miss_tokens=self.usage.miss_tokens, output_tokens=self.usage.output_tokens,
            cache_hit_ratio=round(self.usage.hit_tokens / prompt, 4) if prompt else None,
            dollars=round(self.dollars, 8), estimated_dollars=round(w.estimate.dollars, 8),
            seconds=round(self.seconds, 3), error=self.error, findings=self.text or None, citations=self.citations)

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


T = TypeVar("T")
R = TypeVar("R")


def in_callers_context(fn: Callable[[T], R]) -> Callable[[T], R]:
    """``fn`` run in a copy of the caller's context variables (the request id) from a pool's threads."""
    context = contextvars.copy_context()

    def run(arg: T) -> R:
        return context.copy().run(fn, arg)

    return run


class CoverageRunner:
    """Reads the planned windows (map), charging every call to the question's ``bill``."""

    def __init__(self, *, llm: LLMClient, store: Store, settings: Settings, counter: TokenCounter, bill: Bill,
                 loaded: dict[str, DocumentRecord] | None = None) -> None:
        self.llm = llm
        self.store = store
        self.settings = settings
        self.counter = counter
        self.bill = bill
        self.loaded = loaded if loaded is not None else {}
        self._store_lock = threading.Lock()
        self._money = threading.Lock()
        self._spent = 0.0
        self._reserved = 0.0
        self._system_tokens = 0

    def load(self, doc_id: str) -> DocumentRecord:
        with self._store_lock:
            if doc_id not in self.loaded:
                self.loaded[doc_id] = self.store.require_document(doc_id, with_pages=True)
            return self.loaded[doc_id]

    def cited_records(self, answer: str, plan: CoveragePlan) -> list[DocumentRecord]:
        """The scope's records, with pages loaded for the documents the answer cites (to check its quotes)."""
        ids = list(dict.fromkeys(s.doc_id for w in plan.windows for s in w.segments))
        with self._store_lock:
            bare = [self.loaded.get(i) or self.store.require_document(i) for i in ids]
        wanted = {c.document_id for c in cite.extract(answer, bare) if c.document_id}
        return [self.load(r.id) if r.id in wanted else r for r in bare]

    def _charge(self, kind: str, completion: Completion, window: WindowPlan, estimated: float | None) -> float:
        doc_ids, doc_tokens = window.doc_tokens()
        dollars = self.bill.charge(kind, completion.usage, model=completion.model, route="coverage",
                                   doc_ids=doc_ids, doc_tokens=doc_tokens, estimated=estimated,
                                   prefix_hash=window.key, prefix_tokens=window.tokens + self._system_tokens,
                                   window=Window(window.index, window.of))
        with self._money:
            self._spent += dollars
        return dollars

    def map(self, plan: CoveragePlan, pool: ThreadPoolExecutor, *, question: str, reasoning: Reasoning,
            emit: Emit) -> dict[int, WindowResult]:
        """Every selected window read (a failed one retried once after the others), by window number."""
        self._system_tokens = plan.system_tokens
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

        run_one = in_callers_context(one)
        list(pool.map(run_one, todo))
        for _ in range(RETRY_ROUNDS):
            again = [results[w.index].window for w in todo
                     if results[w.index].status == "failed" and results[w.index].retryable]
            list(pool.map(run_one, again))
        if todo and not any(r.read for r in results.values()):
            errors = "; ".join(f"{r.window.label}: {r.error}" for r in results.values() if r.status == "failed")
            raise ProviderError(f"coverage could not read any window: {errors}")
        return results

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
            if window.warmup and not result.warmed:
                warm = self.llm.complete(warmup_messages(block), reasoning=reasoning, max_tokens=8)
                result.dollars += self._charge("warmup", warm, window, None)
                result.usage = result.usage.add(warm.usage)
                result.warmed = True
            completion = self.llm.complete(map_messages(block, question), reasoning=reasoning,
                                           max_tokens=self.settings.output_reserve)
            result.dollars += self._charge("map", completion, window, window.estimate.dollars)
            result.usage = result.usage.add(completion.usage)
            result.text = completion.text.strip()
            result.status = "nothing" if says_nothing(result.text) or not result.text else "found"
            result.error = None
            if result.status == "found":
                result.citations = cite.extract(result.text, records)
        except ContextTooLong as exc:
            result.status, result.error, result.retryable = "failed", exc.message, False
        except ProviderError as exc:
            result.status, result.error, result.retryable = "failed", exc.message, True
        finally:
            result.seconds += time.perf_counter() - started
            with self._money:
                self._reserved -= window.estimate.dollars
