"""A conversation turn's plan: scope -> follow-up -> the one-off plan -> re-priced with the thread -> decided.

The turn is planned like a one-off question (``Planner.plan``: scope, need, retrieval, the documents' cache state,
coverage), then both routes are re-priced with the thread's real prefix (``service/turn_plan.py``) and chosen by
the same rules (``plan.decide``). Nothing here calls the model: a leaning follow-up is searched with the previous
question and itself, and what its model rewrite would cost is priced (``service/turn.py`` asks for it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from folio.errors import CollectionNotFound, QuestionTooLong, ScopeEmpty
from folio.records import DocumentRecord
from folio.records.conversation_records import ConversationRow
from folio.service.answer import Answerer
from folio.service.context import layout_keys
from folio.service.followup import (
    REWRITE_OUTPUT_TOKENS,
    FollowUp,
    expanded_query,
    leans_on_history,
    rewrite_messages,
)
from folio.service.need import classify
from folio.service.plan import Decision, decide, decide_coverage, enforce_cap
from folio.service.planner import Plan
from folio.service.pricing import PER_MILLION
from folio.service.schemas.conversations import TurnRequest
from folio.service.schemas.plan import ThreadReport
from folio.service.schemas.query import QueryRequest
from folio.service.thread import (
    READY_TOKENS,
    Base,
    HistoryTurn,
    ThreadState,
    history_tokens,
    keep_turns,
    question_message,
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
    scope_ids: list[str] | None = None  # the documents asked about, for a conversation that follows a collection
    collection_gone: bool = False  # the collection it followed was deleted: the turn's write forgets it

    @property
    def base(self) -> Base:
        return "documents" if self.plan.decision.route == "full" else "none"

    def report(self, conversation_id: str, history: Sequence[HistoryTurn]) -> ThreadReport:
        base = self.base
        coverage = self.plan.decision.route == "coverage"  # windows of documents, without the history
        kept = [] if coverage else self.kept[base]
        new = coverage or self.new_prefix[base]
        cached, h = ((self.inputs.cached_full, self.inputs.h_full) if base == "documents" else
                     (self.inputs.cached_rag, self.inputs.h_rag))
        return ThreadReport(
            conversation_id=conversation_id, turn=self.turn, base=base, history_tokens=history_tokens(kept, base),
            turns_in_prompt=len(kept), turns_dropped=len(history) - len(kept),
            cached_tokens=0 if new else cached, cache_h=round(0.0 if new else h, 4),
            new_prefix=self.new_prefix[base], expected_turns=round(self.inputs.expected_turns, 2),
            follow_up=self.follow_up.explain() if self.turn > 1 else "the conversation's first question",
            search_query=self.search_query, rewrite=self.rewrite,
            rewrite_estimated_dollars=round(self.rewrite_estimate, 8) if self.rewrite_estimate is not None else None)


def history_of(turns: Sequence[dict[str, Any]]) -> list[HistoryTurn]:
    """The turns as the thread re-sends them (each turn's record's ``data``, with its number)."""
    return [HistoryTurn(n=t["n"], question=t["question"], user_content=t["user_content"], answer=t["answer_text"],
                        user_tokens=t["user_tokens"], answer_tokens=t["answer_tokens"],
                        question_tokens=t.get("question_tokens", t["user_tokens"])) for t in turns]


class TurnPlanner:
    """Plans turns of one tenant's conversations, with that tenant's answerer view."""

    def __init__(self, answerer: Answerer, *, clock: Any = time.time) -> None:
        self.answerer = answerer
        self.clock = clock

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
            raise ScopeEmpty("this conversation has no documents left to ask about: give it other documents "
                             "(change its scope) or start another conversation", conversation_id=row.id)
        return sorted(records, key=lambda r: (r.ingested_at, r.id))

    def _followed(self, row: ConversationRow, events: list[dict[str, Any]]) -> list[DocumentRecord] | None:
        """The collection's documents now, with an event naming those that joined or left it since the last
        turn; None when the collection was deleted (the conversation keeps the documents it had)."""
        collections = self.answerer.collections()
        try:
            found = collections.records.get(row.collection or "", tenant=self.answerer.tenant)
        except CollectionNotFound:
            events.append({"kind": "scope_changed", "reason": (
                "the collection this conversation followed was deleted: it keeps asking about the documents it "
                "had")})
            return None
        records = collections.scope_records(found)
        before = row.scope or []
        now = [r.id for r in records]
        joined = [r for r in records if r.id not in set(before)]
        left = [d for d in before if d not in set(now)]
        if before and (joined or left):
            parts = []
            if joined:
                parts.append(f"{len(joined)} document(s) joined collection {found.name!r} ("
                             + ", ".join(r.title for r in joined) + ") and join the end of this conversation's "
                             "scope")
            if left:
                parts.append(f"{len(left)} left it (removed or deleted: " + ", ".join(d[:12] for d in left) + ")")
            cache = ("the documents before them keep their place at the start of the prompt, and the rest is "
                     "read cold once" if joined and not left else
                     "a whole-documents thread reads its new documents block cold once")
            events.append({"kind": "scope_changed", "reason": "; ".join(parts) + f": it now asks about "
                           f"{len(records)} document(s); {cache}"})
        if not records:
            raise ScopeEmpty(f"collection {found.name!r} holds no ready documents: add some to it, or give this "
                             "conversation another scope", conversation_id=row.id)
        return records

    def plan(self, row: ConversationRow, request: TurnRequest, history: list[HistoryTurn],
             turn_times: list[float]) -> TurnPlan:
        a = self.answerer
        limit = a.settings.max_question_chars
        if len(request.question) > limit:
            raise QuestionTooLong(f"the question has {len(request.question):,} characters, over the {limit:,} "
                                  "limit (FOLIO_MAX_QUESTION_CHARS)")
        events: list[dict[str, Any]] = []
        followed = self._followed(row, events) if row.collection is not None else None
        records = followed if followed is not None else self.scope(row, events)
        follow_up = leans_on_history(request.question) if history else FollowUp(leans=False)
        search_query: str = request.question
        rewrite: Rewrite = "none"
        if follow_up.leans:
            search_query, rewrite = expanded_query(request.question, [t.question for t in history]), "expanded"
        base = a.plan(self._query(request, search_query, records, row.collection if followed else None))
        state = ThreadState.from_dict(row.thread)
        x0 = base.decision.inputs
        q_tokens = a.counter.count(question_message(request.question)) + 2
        settings = a.settings
        documents_tokens = x0.system_tokens + x0.scope_tokens + READY_TOKENS
        room_full = settings.context_window - settings.output_reserve - documents_tokens - q_tokens - ROOM_MARGIN
        room_rag = (settings.context_window - settings.output_reserve - x0.system_tokens - x0.retrieved_tokens
                    - q_tokens - ROOM_MARGIN)
        full_state, rag_state = state.prefix("documents"), state.prefix("none")
        kept_full, first_full = keep_turns(history, room=max(0, room_full), first_turn=full_state.first_turn,
                                           base="documents")
        kept_rag, first_rag = keep_turns(history, room=max(0, room_rag), first_turn=rag_state.first_turn,
                                         base="none")
        doc_keys = layout_keys(base.full_records, collection=base.collection is not None)
        new_full = not full_state.extends(doc_keys, first_full)
        new_rag = not rag_state.extends([], first_rag)
        now = self.clock()
        expected = max(settings.expected_followups, float(len(history)))
        inputs = TurnInputs(
            x=replace(x0, question_tokens=q_tokens, cache=replace(x0.cache, followups=expected)),
            history_full=history_tokens(kept_full, "documents"), history_rag=history_tokens(kept_rag, "none"),
            cached_full=full_state.cached_tokens, cached_rag=rag_state.cached_tokens,
            h_full=thread_h(full_state, now), h_rag=thread_h(rag_state, now), h_documents=x0.cache.h,
            retention=prefix_retention(state.prefix(state.base)) * pace(turn_times), expected_turns=expected,
            answer_hits=request.reasoning == "none", new_full=new_full, new_rag=new_rag,
            last_base=state.base if state.sent_turns > 0 else None)
        decision = self._decide(inputs, base, request, n_documents=len(records))
        route_base: Base = "documents" if decision.route == "full" else "none"
        kept: dict[Base, list[HistoryTurn]] = {"documents": kept_full, "none": kept_rag}
        dropped = len(history) - len(kept[route_base])
        turn = len(history) + 1
        words = thread_words(inputs, route_base, turn, len(kept[route_base]), dropped)
        decision = replace(decision, reason=f"{words}; {decision.reason}")
        if (decision.route == "full" and full_state.sent_turns > 0 and doc_keys != full_state.documents
                and not any(e["kind"] == "scope_changed" for e in events)):
            events.append({"kind": "scope_changed", "reason": (
                "the scope's documents changed since the last turn (added, renamed or deleted): the documents "
                "and the earlier turns are read cold once")})
        first = {"documents": first_full, "none": first_rag}
        if decision.route != "coverage" and first[route_base] > state.prefix(route_base).first_turn:  # said once
            events.append({"kind": "history_trimmed", "reason": (
                f"the documents and all {len(history)} earlier turns no longer fit the "
                f"{settings.context_window:,}-token window: the oldest {dropped} turn(s) are left out of the "
                "prompt (they stay in the conversation), and the rest is read cold once")})
        plan = replace(base, decision=decision, warmup=False)
        rewrite_estimate = self._rewrite_estimate(request.question, history) if follow_up.leans else None
        return TurnPlan(plan=plan, turn=turn, question=request.question, follow_up=follow_up,
                        search_query=search_query, rewrite=rewrite, kept=kept,
                        first_turn={"documents": first_full, "none": first_rag},
                        new_prefix={"documents": new_full, "none": new_rag},
                        inputs=inputs, state=state, events=events, rewrite_estimate=rewrite_estimate,
                        scope_ids=[r.id for r in records] if followed is not None else None,
                        collection_gone=row.collection is not None and followed is None)

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

    def _query(self, request: TurnRequest, search_query: str, records: list[DocumentRecord],
               collection: str | None) -> QueryRequest:
        if collection is not None:  # the collection's order, and its name in the plan
            return QueryRequest(question=search_query, collection=collection, mode=request.mode,
                                lookup_premium_usd=request.lookup_premium_usd, reasoning=request.reasoning,
                                stream=request.stream, cascade=request.cascade, warm=False)
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

