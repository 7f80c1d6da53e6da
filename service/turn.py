"""One conversation turn answered, forward only: rewrite -> the thread's prompt -> llm -> citations -> ledger.

``TurnAnswerer`` answers what ``TurnPlanner`` planned (``service/turn_planner.py``). Its prompt is the thread's
append-only layout (``service/thread.py``). Every request it makes (the rewrite, the question, a cascade's second
step, coverage's windows) is billed with the conversation's id; the caller records the turn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from folio.errors import ContextTooLong, ProviderStreamBroken
from folio.records import DocumentRecord
from folio.service import citations as cite
from folio.service.answer import NO_MODEL_MESSAGE
from folio.service.billing import Bill
from folio.service.context import (
    NOT_FOUND,
    document_blocks,
    layout_keys,
    render_excerpts,
)
from folio.service.explain import summarise
from folio.service.followup import (
    REWRITE_OUTPUT_TOKENS,
    rewrite_messages,
    usable_rewrite,
)
from folio.service.ledger import Usage
from folio.service.llm import Completion
from folio.service.planner import retrieved_chunk
from folio.service.schemas import answer as api
from folio.service.schemas.answer import Emit
from folio.service.schemas.common import Usage as UsageReport
from folio.service.schemas.conversations import TurnRequest
from folio.service.schemas.query import QueryRequest
from folio.service.thread import (
    Base,
    HistoryTurn,
    PrefixState,
    ThreadState,
    excerpts_message,
    question_message,
    thread_messages,
)
from folio.service.turn_planner import Rewrite, TurnPlan, TurnPlanner


@dataclass
class TurnOutcome:
    """What a turn produced: the answer, and what its record and the thread's next state hold."""

    answer: api.Answer
    user_content: str
    state: ThreadState
    search_query: str
    rewrite: Rewrite
    dollars: float


def thread_prefix_id(conversation_id: str, base: Base, first_turn: int, documents: Sequence[str]) -> str:
    """The ledger's name for a thread's prefix (its entries are kept apart from the documents' own prefix)."""
    digest = hashlib.sha256(f"thread\x00{conversation_id}\x00{base}\x00{first_turn}".encode())
    for key in documents:
        digest.update(key.encode() + b"\x00")
    return digest.hexdigest()


class TurnAnswerer(TurnPlanner):
    """Plans (``TurnPlanner``) and answers turns of one tenant's conversations."""

    def answer(self, conversation_id: str, tp: TurnPlan, request: TurnRequest, history: list[HistoryTurn],
               emit: Emit) -> TurnOutcome:
        """Answer the planned turn (the caller holds the conversation's claim and records the outcome)."""
        a = self.answerer
        plan = tp.plan
        report = plan.report()
        report.thread = tp.report(conversation_id, history)
        emit("plan", report)
        titles = {r.id: r.title for r in plan.records}
        answer = api.Answer(question=request.question, route=plan.decision.route, reason=plan.decision.reason,
                            plan=report, retrieved=[retrieved_chunk(h, titles) for h in plan.hits])
        for event in tp.events:
            self._event(answer, emit, event)
        if a.llm is None:
            answer.message = NO_MODEL_MESSAGE
            answer.summary = summarise(answer, a.prices)
            emit("done", answer)
            return TurnOutcome(answer=answer, user_content="", state=tp.state, search_query=tp.search_query,
                               rewrite=tp.rewrite, dollars=0.0)
        query = self._query(request, request.question, plan.records, plan.collection.id if plan.collection else None)
        bill = Bill(a.ledger, a.prices, tenant=a.tenant, query_id=plan.query_id, scope_key=plan.scope_key,
                    reasoning=request.reasoning, conversation_id=conversation_id)
        try:
            if plan.decision.route == "coverage":
                a._answer_coverage(a.llm, query, plan, answer, bill, emit)
                user_content, state = question_message(request.question), tp.state
            else:
                user_content, state = self._answer_thread(conversation_id, tp, query, answer, bill, emit, history)
        finally:
            bill.write()
        answer.usage = UsageReport(**asdict(bill.usage))
        answer.summary = summarise(answer, a.prices)
        emit("done", answer)
        return TurnOutcome(answer=answer, user_content=user_content, state=state, search_query=tp.search_query,
                           rewrite=tp.rewrite, dollars=bill.dollars)

    def _answer_thread(self, conversation_id: str, tp: TurnPlan, query: QueryRequest, answer: api.Answer,
                       bill: Bill, emit: Emit, history: list[HistoryTurn]) -> tuple[str, ThreadState]:
        a = self.answerer
        plan = tp.plan
        route: Literal["rag", "full"] = "full" if plan.decision.route == "full" else "rag"
        loaded: dict[str, DocumentRecord] = {}
        completion: Completion | None = None
        user_content = ""
        if route == "full":
            try:
                completion, user_content = self._ask_full(conversation_id, tp, query, bill, emit, loaded)
            except ContextTooLong as exc:
                self._event(answer, emit, {"kind": "fallback", "from": "full", "to": "rag", "reason": exc.message})
                route = "rag"
        if route == "rag":
            self._rewrite(tp, query, bill, emit, answer, history)
            completion, user_content = self._ask_rag(conversation_id, tp, query, bill, emit)
            not_found = completion.text.strip().startswith(NOT_FOUND[:30])
            full = plan.decision.full
            budget = query.max_cost_usd if query.max_cost_usd is not None else a.settings.max_cost_usd
            if query.cascade and not_found and query.mode == "auto" and full.feasible and full.dollars <= budget:
                self._event(answer, emit, {"kind": "escalation", "from": "rag", "to": "full",
                                           "reason": "the retrieved chunks did not hold the answer (Self-Route)"})
                completion, user_content = self._ask_full(conversation_id, tp, query, bill, emit, loaded)
                route = "full"
        assert completion is not None
        cited = {r.id for r in (plan.full_records if route == "full" else plan.records)}
        with_pages = [a._with_pages(r.id, loaded) for r in plan.records if r.id in cited]
        answer.route, answer.answer, answer.model = route, completion.text, completion.model
        answer.citations = cite.extract(completion.text, with_pages)
        answer.cost = a._cost(bill, plan.decision.estimate(route).dollars + (tp.rewrite_estimate or 0.0)
                              * (tp.rewrite == "model"))
        if completion.finish_reason == "length":
            answer.events.append(api.AnswerEvent(kind="truncated", reason="the answer hit the output limit"))
        return user_content, self._next_state(tp, route, completion.usage, user_content)

    def _rewrite(self, tp: TurnPlan, query: QueryRequest, bill: Bill, emit: Emit, answer: api.Answer,
                 history: list[HistoryTurn]) -> None:
        """A follow-up that leans on the history is rewritten by the model into a standalone question (a billed
        request), and retrieval searches with it; an unusable reply keeps the expanded query."""
        a = self.answerer
        if not tp.follow_up.leans or a.llm is None:
            return
        messages = rewrite_messages(tp.question, [(t.question, t.answer) for t in history])
        completion = a.llm.complete(messages, reasoning="none", max_tokens=REWRITE_OUTPUT_TOKENS)
        bill.charge("rewrite", completion.usage, model=completion.model, route="rag", doc_ids=[], doc_tokens=[],
                    estimated=tp.rewrite_estimate)
        standalone = usable_rewrite(completion.text, tp.question)
        event: dict[str, Any] = {"kind": "rewrite", "reason": (
            f"the question leans on the conversation; retrieval searched with the model's standalone form: "
            f"{standalone!r}" if standalone else "the model's rewrite was not a usable question; retrieval "
            f"searched with the previous question and this one: {tp.search_query!r}")}
        self._event(answer, emit, event)
        if standalone is None:
            return
        plan = tp.plan
        hits = a.retrieve(standalone, plan.records)
        tp.search_query, tp.rewrite = standalone, "model"
        tp.plan = replace(plan, hits=hits)
        titles = {r.id: r.title for r in plan.records}
        answer.retrieved = [retrieved_chunk(h, titles) for h in hits]
        if answer.plan.thread is not None:
            answer.plan.thread.search_query, answer.plan.thread.rewrite = standalone, "model"

    def _ask_full(self, conversation_id: str, tp: TurnPlan, query: QueryRequest, bill: Bill, emit: Emit,
                  loaded: dict[str, DocumentRecord]) -> tuple[Completion, str]:
        a = self.answerer
        plan = tp.plan
        records = [a._with_pages(r.id, loaded) for r in plan.full_records]
        user_content = question_message(tp.question)
        collection = plan.collection is not None
        messages = thread_messages(document_blocks(records, collection=collection), tp.kept["documents"],
                                   user_content)
        doc_keys = layout_keys(plan.full_records, collection=collection)
        prefix = thread_prefix_id(conversation_id, "documents", tp.first_turn["documents"], doc_keys)
        cacheable = 0 if tp.new_prefix["documents"] else tp.inputs.cached_full
        return self._send(messages, query, bill, emit, route="full", records=records, prefix=prefix,
                          cacheable=cacheable, estimate=plan.decision.full), user_content

    def _ask_rag(self, conversation_id: str, tp: TurnPlan, query: QueryRequest, bill: Bill,
                 emit: Emit) -> tuple[Completion, str]:
        plan = tp.plan
        titles = {r.id: r.title for r in plan.records}
        starts = {r.id: r.page_starts for r in plan.records}
        user_content = excerpts_message(render_excerpts(plan.hits, titles, starts), tp.question)
        messages = thread_messages(None, tp.kept["none"], user_content)
        prefix = thread_prefix_id(conversation_id, "none", tp.first_turn["none"], [])
        cacheable = 0 if tp.new_prefix["none"] else tp.inputs.cached_rag
        return self._send(messages, query, bill, emit, route="rag", records=plan.records, prefix=prefix,
                          cacheable=cacheable, estimate=plan.decision.rag), user_content

    def _send(self, messages: list[dict[str, str]], query: QueryRequest, bill: Bill, emit: Emit, *, route: str,
              records: list[DocumentRecord], prefix: str, cacheable: int, estimate: Any) -> Completion:
        a = self.answerer
        try:
            completion = a._call(messages, query, emit)
        except ProviderStreamBroken as exc:
            usage = Usage(hit_tokens=round(estimate.hit_tokens), miss_tokens=round(estimate.miss_tokens),
                          output_tokens=a.counter.count(exc.partial_text))
            bill.charge("question", usage, model=a.settings.llm_model, route=route, doc_ids=[r.id for r in records],
                        doc_tokens=[r.total_tokens for r in records], estimated=estimate.dollars,
                        prefix_hash=prefix, prefix_tokens=cacheable, usage_source="estimated")
            raise
        bill.charge("question", completion.usage, model=completion.model, route=route,
                    doc_ids=[r.id for r in records], doc_tokens=[r.total_tokens for r in records],
                    estimated=estimate.dollars, prefix_hash=prefix, prefix_tokens=cacheable)
        return completion

    def _next_state(self, tp: TurnPlan, route: Literal["rag", "full"], usage: Usage,
                    user_content: str) -> ThreadState:
        """The thread's state after a request on ``route``'s prefix: what the provider now holds of it (the other
        prefix stays as it was: a later turn on it extends it while the provider keeps it)."""
        base: Base = "documents" if route == "full" else "none"
        doc_keys = (layout_keys(tp.plan.full_records, collection=tp.plan.collection is not None)
                    if base == "documents" else [])
        before = tp.state.prefix(base)
        same = not tp.new_prefix[base]
        ratios = list(before.hit_ratios) if same else []
        if same and before.cached_tokens > 0:
            # what the provider read from the cache, of what it could (to its 64-token unit)
            ratios.append(min(1.0, usage.hit_tokens / max(1, before.cached_tokens - 64)))
        prompt = usage.prompt_tokens or (self.answerer.counter.count(user_content) + before.cached_tokens)
        prefixes = dict(tp.state.prefixes)
        prefixes[base] = PrefixState(documents=doc_keys, first_turn=tp.first_turn[base],
                                     cached_tokens=prompt + usage.output_tokens, cached_at=self.clock(),
                                     sent_turns=(before.sent_turns + 1) if same else 1, hit_ratios=ratios[-10:])
        return ThreadState(base=base, prefixes=prefixes)

    @staticmethod
    def _event(answer: api.Answer, emit: Emit, event: dict[str, Any]) -> None:
        answer.events.append(api.AnswerEvent.model_validate(event))
        emit(event["kind"], event)
