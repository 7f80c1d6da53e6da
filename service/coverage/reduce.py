"""The reduce: the windows' findings merged into one answer, in rounds when they are too long for one call."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from folio.ingest.tokens import TokenCounter
from folio.service.billing import Bill
from folio.service.context import NOT_FOUND
from folio.service.coverage.plan import CoveragePlan, WindowPlan
from folio.service.coverage.prompts import reduce_messages, says_nothing
from folio.service.coverage.runner import WindowResult, in_callers_context
from folio.service.ledger import Usage
from folio.service.llm import Completion, LLMClient, Reasoning
from folio.service.plan import pack_findings
from folio.service.schemas.answer import Emit

Finding = tuple[str, str, WindowPlan | None]  # (source label, text, the window it came from; None: merged)


@dataclass
class ReduceOutcome:
    text: str
    model: str
    finish_reason: str
    usage: Usage
    dollars: float
    rounds: int
    calls: int


def reduce_findings(plan: CoveragePlan, results: dict[int, WindowResult], *, llm: LLMClient, bill: Bill,
                    counter: TokenCounter, output_reserve: int, question: str, reasoning: Reasoning, stream: bool,
                    emit: Emit, pool: ThreadPoolExecutor) -> ReduceOutcome:
    """Merge the findings: in one call when they fit ``plan.reduce_capacity`` (or are two or fewer), else in
    rounds of parallel calls, each over consecutive groups of at least two. The last call streams when asked."""
    outcome = ReduceOutcome(NOT_FOUND, llm.model, "stop", Usage(), 0.0, 0, 0)
    current: list[Finding] = [(r.window.label, r.text, r.window) for r in results.values() if r.status == "found"]
    if not current:
        return outcome
    overhead = counter.count('<finding source="window 10 of 10">\n\n</finding>\n')
    lock = threading.Lock()

    def call(group: Sequence[Finding], *, live: bool) -> Completion:
        messages = reduce_messages([(label, text) for label, text, _ in group], question)
        if live:
            completion = llm.stream(messages, reasoning=reasoning, max_tokens=output_reserve,
                                    on_text=lambda text: emit("delta", {"text": text}))
        else:
            completion = llm.complete(messages, reasoning=reasoning, max_tokens=output_reserve)
        windows = [w for _, _, w in group if w is not None]
        spent = bill.charge("reduce", completion.usage, model=completion.model, route="coverage",
                            doc_ids=[s.doc_id for w in windows for s in w.segments],
                            doc_tokens=[s.tokens for w in windows for s in w.segments], estimated=None)
        with lock:  # the calls of a round run in parallel
            outcome.usage = outcome.usage.add(completion.usage)
            outcome.dollars += spent
            outcome.calls += 1
        return completion

    while True:
        sizes = [counter.count(text) + overhead for _, text, _ in current]
        if len(current) <= 2 or sum(sizes) <= plan.reduce_capacity:
            outcome.rounds += 1
            emit("reduce", {"round": outcome.rounds, "calls": 1, "findings": len(current), "final": True,
                            "message": f"merging the findings of {len(current)} source(s) into the answer"})
            final = call(current, live=stream)
            outcome.text, outcome.model, outcome.finish_reason = final.text, final.model, final.finish_reason
            return outcome
        groups: list[list[Finding]] = []
        start = 0
        for group in pack_findings(sizes, plan.reduce_capacity):
            groups.append(current[start:start + len(group)])
            start += len(group)
        outcome.rounds += 1
        emit("reduce", {"round": outcome.rounds, "calls": len(groups), "findings": len(current), "final": False,
                        "message": f"reduce round {outcome.rounds}: {len(current)} findings in {len(groups)} calls"})
        merged = list(pool.map(in_callers_context(lambda g: call(g, live=False)), groups))
        current = [(f"merged findings {i} of round {outcome.rounds}", c.text.strip(), None)
                   for i, c in enumerate(merged, 1) if c.text.strip() and not says_nothing(c.text)]
        if not current:
            outcome.text, outcome.finish_reason = NOT_FOUND, "stop"
            return outcome
