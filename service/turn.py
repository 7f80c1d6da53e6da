"""One conversation turn, forward only: scope -> follow-up -> plan (thread-priced) -> rewrite -> prompt -> llm ->
citations -> ledger -> the turn's record.

The turn is planned like a one-off question (``Planner.plan``: scope, need, retrieval, the documents' cache state,
coverage), then re-priced with the thread's real prefix (``service/turn_plan.py``) and decided by the same rules
(``plan.decide``). Its prompt is the thread's append-only layout (``service/thread.py``). Every request it makes
(the rewrite, the question, a cascade's second step, coverage's windows) is billed with the conversation's id.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from folio.errors import ContextTooLong, ProviderStreamBroken, QuestionTooLong, ScopeEmpty
from folio.records import DocumentRecord
from folio.records.conversation_records import ConversationRow
from folio.service import citations as cite
from folio.service.answer import NO_MODEL_MESSAGE, Answerer
from folio.service.billing import Bill
from folio.service.context import (
    NOT_FOUND,
    document_key,
    render_documents,
    render_excerpts,
)
from folio.service.followup import (
    REWRITE_OUTPUT_TOKENS,
    FollowUp,
    expanded_query,
    leans_on_history,
    rewrite_messages,
    usable_rewrite,
)
from folio.service.ledger import Usage
from folio.service.llm import Completion
from folio.service.need import classify
from folio.service.plan import Decision, decide, decide_coverage, enforce_cap
from folio.service.planner import Plan, retrieved_chunk
from folio.service.pricing import PER_MILLION
from folio.service.schemas import answer as api
from folio.service.schemas.answer import Emit
from folio.service.schemas.common import Usage as UsageReport
from folio.service.schemas.conversations import TurnRequest
from folio.service.schemas.plan import ThreadReport
from folio.service.schemas.query import QueryRequest
from folio.service.thread import (
    READY_TOKENS,
    Base,
    HistoryTurn,
    ThreadState,
    excerpts_message,
    history_tokens,
    keep_turns,
    question_message,
    thread_messages,
)
from folio.service.turn_plan import (
    TurnInputs,
    estimate_turn_full,
    estimate_turn_rag,
    pace,
    prefix_retention,
    thread_h,
    thread_words,
)

Rewrite = Literal["none", "expanded", "model"]
ROOM_MARGIN = 256  # tokens kept free beside the prompt's counted parts (the template's markers, rounding)


@dataclass
class TurnPlan:
    """A turn's plan: the one-off ``Plan`` re-priced and re-decided for the thread, and the thread's parts."""

    plan: Plan
    turn: int
    question: str
    follow_up: FollowUp
    search_query: str
    rewrite: Rewrite
    kept: dict[Base, list[HistoryTurn]]
    first_turn: dict[Base, int]
    new_prefix: dict[Base, bool]
    inputs: TurnInputs
    state: ThreadState
    events: list[dict[str, Any]] = field(default_factory=list)
    rewrite_estimate: float | None = None

    @property
    def base(self) -> Base:
        return "documents" if self.plan.decision.route == "full" else "none"

    def report(self, conversation_id: str, history: Sequence[HistoryTurn]) -> ThreadReport:
        base = self.base
        kept = self.kept[base]
        return ThreadReport(
            conversation_id=conversation_id, turn=self.turn, base=base, history_tokens=history_tokens(kept),
            turns_in_prompt=len(kept), turns_dropped=len(history) - len(kept),
            cached_tokens=self.state.cached_tokens if not self.new_prefix[base] else 0,
            cache_h=round(self.inputs.h_thread if not self.new_prefix[base] else 0.0, 4),
            new_prefix=self.new_prefix[base], expected_turns=round(self.inputs.expected_turns, 2),
            follow_up=self.follow_up.explain() if self.turn > 1 else "the conversation's first question",
            search_query=self.search_query, rewrite=self.rewrite,
            rewrite_estimated_dollars=round(self.rewrite_estimate, 8) if self.rewrite_estimate is not None else None)


@dataclass
class TurnOutcome:
    """What a turn produced: the answer, and what its record and the thread's next state hold."""

    answer: api.Answer
    user_content: str
    state: ThreadState
    search_query: str
    rewrite: Rewrite
    dollars: float


def history_of(turns: Sequence[dict[str, Any]]) -> list[HistoryTurn]:
    """The turns as the thread re-sends them (each turn's record's ``data``, with its number)."""
    return [HistoryTurn(n=t["n"], question=t["question"], user_content=t["user_content"], answer=t["answer_text"],
                        user_tokens=t["user_tokens"], answer_tokens=t["answer_tokens"]) for t in turns]


def thread_prefix_id(conversation_id: str, base: Base, first_turn: int, documents: Sequence[str]) -> str:
    """The ledger's name for a thread's prefix (its entries are kept apart from the documents' own prefix)."""
    digest = hashlib.sha256(f"thread\x00{conversation_id}\x00{base}\x00{first_turn}".encode())
    for key in documents:
        digest.update(key.encode() + b"\x00")
    return digest.hexdigest()


class TurnAnswerer:
    """Plans and answers turns of one tenant's conversations, with that tenant's answerer view."""

    def __init__(self, answerer: Answerer, *, clock: Any = time.time) -> None:
        self.answerer = answerer
        self.clock = clock

    # -- the plan ----------------------------------------------------------------------------------------------

    def scope(self, row: ConversationRow, events: list[dict[str, Any]]) -> list[DocumentRecord]:
        """The conversation's ready documents; a deleted one is named in an event, an emptied scope refused."""
        a = self.answerer
        ready = a.store.list_documents(tenant=a.tenant)
        if row.scope is None:
            records = ready
        else:
            wanted = set(row.scope)
            records = [r for r in ready if r.id in wanted]
            missing = [d for d in row.scope if d not in {r.id for r in records}]
            if missing:
                events.append({"kind": "scope_changed", "reason": (
                    f"{len(missing)} document(s) of this conversation were deleted ("
                    + ", ".join(d[:12] for d in missing) + f"); it now asks about the {len(records)} left, and "
                    "a whole-documents thread reads its new documents block cold once")})
        if not records:
            raise ScopeEmpty("this conversation has no documents left to ask about: add documents to its scope "
                             "(PATCH /v1/conversations/{id}) or start another", conversation_id=row.id)
        return sorted(records, key=lambda r: (r.ingested_at, r.id))

    def plan(self, row: ConversationRow, request: TurnRequest, history: list[HistoryTurn],
             turn_times: list[float]) -> TurnPlan:
        a = self.answerer
        limit = a.settings.max_question_chars
        if len(request.question) > limit:
            raise QuestionTooLong(f"the question has {len(request.question):,} characters, over the {limit:,} "
                                  "limit (FOLIO_MAX_QUESTION_CHARS)")
        events: list[dict[str, Any]] = []
        records = self.scope(row, events)
        follow_up = leans_on_history(request.question) if history else FollowUp(leans=False)
        search_query: str = request.question
        rewrite: Rewrite = "none"
        if follow_up.leans:
            search_query, rewrite = expanded_query(request.question, [t.question for t in history]), "expanded"
        base = a.plan(self._query(request, search_query, records))
        state = ThreadState.from_dict(row.thread)
        x0 = base.decision.inputs
        q_tokens = a.counter.count(question_message(request.question)) + 2
        settings = a.settings
        documents_tokens = x0.system_tokens + x0.scope_tokens + READY_TOKENS
        room_full = settings.context_window - settings.output_reserve - documents_tokens - q_tokens - ROOM_MARGIN
        room_rag = (settings.context_window - settings.output_reserve - x0.system_tokens - x0.retrieved_tokens
                    - q_tokens - ROOM_MARGIN)
        kept_full, first_full = keep_turns(history, room=max(0, room_full), first_turn=state.first_turn)
        kept_rag, first_rag = keep_turns(history, room=max(0, room_rag), first_turn=state.first_turn)
        doc_keys = [document_key(r.id, r.title) for r in base.full_records]
        continuing: Base | None = state.base if state.sent_turns > 0 else None
        new_full = not state.same_prefix("documents", doc_keys, first_full)
        new_rag = not state.same_prefix("none", [], first_rag)
        now = self.clock()
        expected = max(settings.expected_followups, float(len(history)))
        inputs = TurnInputs(
            x=replace(x0, question_tokens=q_tokens, cache=replace(x0.cache, followups=expected)),
            history_full=history_tokens(kept_full), history_rag=history_tokens(kept_rag), continuing=continuing,
            cached_tokens=state.cached_tokens, h_thread=thread_h(state, now), h_documents=x0.cache.h,
            retention=prefix_retention(state) * pace(turn_times), expected_turns=expected,
            answer_hits=request.reasoning == "none", new_full=new_full, new_rag=new_rag)
        decision = self._decide(inputs, base, request, n_documents=len(records))
        route_base: Base = "documents" if decision.route == "full" else "none"
        kept: dict[Base, list[HistoryTurn]] = {"documents": kept_full, "none": kept_rag}
        dropped = len(history) - len(kept[route_base])
        turn = len(history) + 1
        words = thread_words(inputs, route_base, turn, len(kept[route_base]), dropped)
        decision = replace(decision, reason=f"{words}; {decision.reason}")
        if (decision.route == "full" and continuing == "documents" and doc_keys != state.documents
                and not any(e["kind"] == "scope_changed" for e in events)):
            events.append({"kind": "scope_changed", "reason": (
                "the scope's documents changed since the last turn (added, renamed or deleted): the documents "
                "and the earlier turns are read cold once")})
        first = {"documents": first_full, "none": first_rag}
        if decision.route != "coverage" and first[route_base] > state.first_turn:  # a new trim, said once
            events.append({"kind": "history_trimmed", "reason": (
                f"the documents and all {len(history)} earlier turns no longer fit the "
                f"{settings.context_window:,}-token window: the oldest {dropped} turn(s) are left out of the "
                "prompt (they stay in the conversation), and the rest is read cold once")})
        plan = replace(base, decision=decision, warmup=False)
        rewrite_estimate = self._rewrite_estimate(request.question, history) if follow_up.leans else None
        return TurnPlan(plan=plan, turn=turn, question=request.question, follow_up=follow_up,
                        search_query=search_query, rewrite=rewrite, kept=kept,
                        first_turn={"documents": first_full, "none": first_rag},
                        new_prefix={"documents": new_full or continuing != "documents",
                                    "none": new_rag or continuing != "none"},
                        inputs=inputs, state=state, events=events, rewrite_estimate=rewrite_estimate)

    def _decide(self, inputs: TurnInputs, base: Plan, request: TurnRequest, *, n_documents: int) -> Decision:
        """Both routes priced for the thread, chosen by the one-off rules (need, budget, lookup premium), coverage
        beside them, and the request's hard cap (``OverBudget`` before anything is spent)."""
        a, settings = self.answerer, self.answerer.settings
        rag, full = estimate_turn_rag(inputs, a.prices), estimate_turn_full(inputs, a.prices)
        need = classify(request.question, n_documents=n_documents)
        budget = request.max_cost_usd if request.max_cost_usd is not None else settings.max_cost_usd
        premium = (request.lookup_premium_usd if request.lookup_premium_usd is not None
                   else settings.lookup_premium_usd)
        mode = "auto" if request.mode == "coverage" else request.mode
        decision = decide(inputs.x, need, a.prices, mode=mode, max_cost_usd=budget, lookup_premium_usd=premium,
                          estimates=(rag, full))
        decision = self._coverage(decision, base, request, budget, scope_fits=full.feasible)
        if request.max_cost_usd is not None:
            decision = enforce_cap(decision, mode=request.mode, max_cost_usd=request.max_cost_usd,
                                   fallback=request.fallback)
        return decision

    def _rewrite_estimate(self, question: str, history: list[HistoryTurn]) -> float | None:
        """What the model's rewrite of a follow-up would cost (None without a model: it is not asked)."""
        a = self.answerer
        if a.llm is None:
            return None
        messages = rewrite_messages(question, [(t.question, t.answer) for t in history])
        prompt = a.counter.count("".join(m["content"] for m in messages)) + 8
        return (prompt * a.prices.input_miss + REWRITE_OUTPUT_TOKENS // 2 * a.prices.output) / PER_MILLION

    def _query(self, request: TurnRequest, search_query: str, records: list[DocumentRecord]) -> QueryRequest:
        return QueryRequest(question=search_query, documents=[r.id for r in records], mode=request.mode,
                            lookup_premium_usd=request.lookup_premium_usd, reasoning=request.reasoning,
                            stream=request.stream, cascade=request.cascade, warm=False)

    def _coverage(self, decision: Decision, base: Plan, request: TurnRequest, budget: float,
                  *, scope_fits: bool) -> Decision:
        if request.mode in ("auto", "coverage") and base.coverage is not None:
            forced = request.mode == "coverage"
            return decide_coverage(decision, base.coverage.estimate if forced else base.coverage.total,
                                   mode=request.mode, max_cost_usd=budget, scope_fits=scope_fits,
                                   windows=len(base.coverage.windows))
        return replace(decision, coverage_reason=f"not priced: mode={request.mode} was requested, so coverage "
                       "cannot be chosen")

    # -- the answer --------------------------------------------------------------------------------------------

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
            emit("done", answer)
            return TurnOutcome(answer=answer, user_content="", state=tp.state, search_query=tp.search_query,
                               rewrite=tp.rewrite, dollars=0.0)
        query = self._query(request, request.question, plan.records)
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
        messages = thread_messages(render_documents(records), tp.kept["documents"], user_content)
        doc_keys = [document_key(r.id, r.title) for r in plan.full_records]
        prefix = thread_prefix_id(conversation_id, "documents", tp.first_turn["documents"], doc_keys)
        cacheable = 0 if tp.new_prefix["documents"] else tp.state.cached_tokens
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
        cacheable = 0 if tp.new_prefix["none"] else tp.state.cached_tokens
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
        """The thread's state after a request on ``route``'s prefix: what the provider now holds of it."""
        base: Base = "documents" if route == "full" else "none"
        doc_keys = [document_key(r.id, r.title) for r in tp.plan.full_records] if base == "documents" else []
        same = not tp.new_prefix[base]
        ratios = list(tp.state.hit_ratios) if same else []
        if same and tp.state.cached_tokens > 0:
            # what the provider read from the cache, of what it could (to its 64-token unit)
            ratios.append(min(1.0, usage.hit_tokens / max(1, tp.state.cached_tokens - 64)))
        a = self.answerer
        prompt = usage.prompt_tokens or (a.counter.count(user_content) + tp.state.cached_tokens)
        return ThreadState(base=base, documents=doc_keys, first_turn=tp.first_turn[base],
                           cached_tokens=prompt + usage.output_tokens, cached_at=self.clock(),
                           sent_turns=(tp.state.sent_turns + 1) if same else 1, hit_ratios=ratios[-10:])

    @staticmethod
    def _event(answer: api.Answer, emit: Emit, event: dict[str, Any]) -> None:
        answer.events.append(api.AnswerEvent.model_validate(event))
        emit(event["kind"], event)
