"""A coverage answer: the map over the planned windows, the reduce of their findings, the report, the citations."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from folio.config import Settings
from folio.ingest.store import Store
from folio.ingest.tokens import TokenCounter
from folio.records import DocumentRecord
from folio.service import citations as cite
from folio.service.billing import Bill
from folio.service.coverage.plan import CoveragePlan
from folio.service.coverage.reduce import reduce_findings
from folio.service.coverage.report import coverage_report
from folio.service.coverage.runner import CoverageRunner
from folio.service.llm import LLMClient, Reasoning
from folio.service.schemas import answer as api
from folio.service.schemas.answer import Emit
from folio.service.schemas.common import Citation


@dataclass
class CoverageOutcome:
    answer: str
    model: str
    citations: list[Citation]
    report: api.CoverageReport
    events: list[api.AnswerEvent]
    finish_reason: str


def answer_coverage(plan: CoveragePlan, *, question: str, reasoning: Reasoning, stream: bool, emit: Emit,
                    llm: LLMClient, store: Store, settings: Settings, counter: TokenCounter, bill: Bill,
                    loaded: dict[str, DocumentRecord]) -> CoverageOutcome:
    """Read the windows (map), merge their findings (reduce), report what was covered; every call charged to
    ``bill``. A note on what was not read ends the answer."""
    started = time.perf_counter()
    runner = CoverageRunner(llm=llm, store=store, settings=settings, counter=counter, bill=bill, loaded=loaded)
    workers = max(1, min(settings.coverage_concurrency, len(plan.selected) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="folio-coverage") as pool:
        results = runner.map(plan, pool, question=question, reasoning=reasoning, emit=emit)
        reduce = reduce_findings(plan, results, llm=llm, bill=bill, counter=counter,
                                 output_reserve=settings.output_reserve, question=question, reasoning=reasoning,
                                 stream=stream, emit=emit, pool=pool)
    report = coverage_report(plan, results, reduce, seconds=time.perf_counter() - started,
                             concurrency=settings.coverage_concurrency)
    answer = reduce.text
    if report.note:
        addition = "\n\n" + report.note
        if stream:
            emit("delta", {"text": addition})
        answer += addition
    events = [api.AnswerEvent(kind="window_failed", window=r.window.index, of=r.window.of,
                              reason=f"{r.window.label} could not be read after {r.attempts} attempt(s): {r.error}")
              for r in results.values() if r.status == "failed"]
    if plan.budget_cut or any(r.status == "skipped" for r in results.values()):
        events.append(api.AnswerEvent(kind="budget_cut", reason=report.note))
    citations = cite.extract(answer, runner.cited_records(answer, plan))
    return CoverageOutcome(answer=answer, model=reduce.model, citations=citations, report=report, events=events,
                           finish_reason=reduce.finish_reason)
