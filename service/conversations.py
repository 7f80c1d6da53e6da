"""Conversations, as one tenant sees them: create, list, read, change, delete, and ask the next question.

A turn holds its conversation for as long as it runs (``ConversationRecords.claim``), so two questions sent at
once to one thread never interleave its history: the second gets 409 ``conversation_busy``. The turn's record,
the thread's new state and the conversation's totals are written in one transaction when it has been answered;
a failed turn writes none of them (its provider calls are in the ledger all the same).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from folio.errors import CollectionNotFound, ConversationBusy, FolioError
from folio.records.conversation_records import ConversationRecords, ConversationRow, TurnRow
from folio.service.answer import Answerer
from folio.service.collections import check_one_scope, ref
from folio.service.explain import summarise
from folio.service.metrics import Metrics
from folio.service.planner import retrieved_chunk
from folio.service.retention import cache_survival
from folio.service.schemas import answer as api
from folio.service.schemas.answer import Emit
from folio.service.schemas.conversations import (
    ConversationDetail,
    ConversationSummary,
    ScopeDocument,
    Turn,
    TurnRequest,
    TurnResult,
)
from folio.service.thread import ThreadState, question_message, thread_digest
from folio.service.turn import TurnAnswerer
from folio.service.turn_plan import prefix_retention
from folio.service.turn_planner import TurnPlan, history_of

TITLE_FROM_QUESTION = 80  # characters of the first question that name an untitled conversation
UNTITLED = "New conversation"


def _ago(seconds: float) -> str:
    """Seconds ago in words: "40 seconds ago", "12 minutes ago", "3 hours ago"."""
    if seconds < 90:
        return f"{seconds:.0f} seconds ago"
    return f"{seconds / 60:.0f} minutes ago" if seconds < 5400 else f"{seconds / 3600:.0f} hours ago"


@dataclass
class PreparedTurn:
    """A turn planned and holding its conversation (``token``), ready to be answered by ``Conversations.run``."""

    row: ConversationRow
    request: TurnRequest
    turns: list[TurnRow]
    plan: TurnPlan
    token: str | None  # None: an estimate, which holds nothing


class Conversations:
    """One tenant's conversations, answered with that tenant's answerer view."""

    def __init__(self, answerer: Answerer, *, clock: Callable[[], float] = time.time,
                 metrics: Metrics | None = None) -> None:
        self.answerer = answerer
        self.metrics = metrics
        self.tenant = answerer.tenant
        self.records = ConversationRecords(answerer.store.database)
        self.turns = TurnAnswerer(answerer, clock=clock)
        self.clock = clock

    # -- the resource ------------------------------------------------------------------------------------------

    def create(self, *, title: str | None, documents: list[str] | None,
               collection: str | None = None) -> ConversationRow:
        scope, followed = self._scope(documents, collection)
        return self.records.create(tenant=self.tenant, title=(title or "").strip(), scope=scope, collection=followed)

    def _scope(self, documents: list[str] | None, collection: str | None) -> tuple[list[str] | None, str | None]:
        """A new scope: document ids (or None: every document), and the id of the collection it follows."""
        check_one_scope(documents, collection)
        if collection is not None:
            records, ref = self.answerer.collection_scope(collection)
            return [r.id for r in records], ref.id
        return ([r.id for r in self.answerer.scope(documents)] if documents else None), None

    def get(self, conversation_id: str) -> ConversationRow:
        return self.records.get(conversation_id, tenant=self.tenant)

    def rename_or_rescope(self, conversation_id: str, *, title: str | None, documents: list[str] | None,
                          set_scope: bool, collection: str | None = None) -> tuple[ConversationRow, str]:
        """Change the title or the scope; the second value says what that does to the thread's cache."""
        before = self.get(conversation_id)
        scope, followed = self._scope(documents, collection) if set_scope else (None, None)
        row = self.records.update(conversation_id, tenant=self.tenant, title=title.strip() if title else None,
                                  scope=scope, set_scope=set_scope, collection=followed)
        state = ThreadState.from_dict(row.thread)
        if not set_scope or scope == before.scope:
            return row, "unchanged: the title is not part of any prompt"
        if state.prefix("documents").sent_turns == 0:
            return row, ("the next retrieval turns search the new scope; the thread's history is unchanged, so its "
                         "cached prefix still holds")
        return row, ("the thread has read whole documents, so its next whole-documents turn starts a new prefix: "
                     "the new scope's documents, then the earlier questions and answers, read cold once (retrieval "
                     "turns keep the history cached)")

    def delete(self, conversation_id: str) -> int:
        return self.records.delete(conversation_id, tenant=self.tenant)

    def recent(self, *, limit: int = 100, offset: int = 0) -> tuple[list[ConversationSummary], int]:
        rows, total = self.records.recent(tenant=self.tenant, limit=limit, offset=offset)
        ready = self._ready_titles()
        return [self.summary(row, ready=ready) for row in rows], total

    def detail(self, conversation_id: str) -> ConversationDetail:
        row = self.get(conversation_id)
        turns = self.records.turns(conversation_id, tenant=self.tenant)
        summary = self.summary(row)
        return ConversationDetail(**summary.model_dump(), history=[self._turn(t) for t in turns],
                                  cache=self.cache_words(row))

    def summary(self, row: ConversationRow, *, ready: dict[str, str] | None = None) -> ConversationSummary:
        ready = ready if ready is not None else self._ready_titles()
        if row.scope is None:
            documents = [ScopeDocument(id=i, title=t) for i, t in ready.items()]
        else:
            documents = [ScopeDocument(id=i, title=ready.get(i, i[:12]), deleted=i not in ready) for i in row.scope]
        collection = None
        if row.collection is not None:
            try:
                collection = ref(self.answerer.collections().records.get(row.collection, tenant=self.tenant))
            except CollectionNotFound:  # deleted: the conversation keeps the documents it had
                collection = None
        return ConversationSummary(
            id=row.id, title=row.title or UNTITLED, created=row.created, updated=row.updated, turns=row.turns,
            dollars=round(row.dollars, 8), documents=documents,
            scope="all" if row.scope is None else "collection" if collection else "documents", collection=collection,
            route=row.last.get("route"), last_question=row.last.get("question"))

    def cache_words(self, row: ConversationRow) -> str:
        state = ThreadState.from_dict(row.thread)
        parts = []
        for base, what in (("documents", "with the documents"), ("none", "with retrieval's excerpts")):
            prefix = state.prefix(base)  # type: ignore[arg-type]
            if prefix.sent_turns == 0 or prefix.cached_at is None:
                continue
            age = max(0.0, self.clock() - prefix.cached_at)
            h = prefix_retention(prefix) * cache_survival(age)
            parts.append(f"the thread's prompt {what} ({prefix.cached_tokens:,} tokens, turns from "
                         f"{prefix.first_turn} on) was last sent {_ago(age)}: a {h:.0%} chance it is still cached")
        return "; ".join(parts) if parts else "nothing cached yet: the next turn reads its prompt cold"

    # -- a turn --------------------------------------------------------------------------------------------

    def prepare(self, conversation_id: str, request: TurnRequest) -> PreparedTurn:
        """Plan the next turn, holding the conversation unless it is an estimate: every 4xx (an unknown id, a busy
        thread, an emptied scope, a cap) is raised here, before anything is spent or streamed."""
        row = self.get(conversation_id)
        token = None if request.estimate_only else self.records.claim(conversation_id, tenant=self.tenant)
        try:
            row = self.get(conversation_id) if token else row  # as of the claim: the previous turn is written
            turns = self.records.turns(conversation_id, tenant=self.tenant)
            history = history_of([{**t.data, "n": t.n} for t in turns])
            plan = self.turns.plan(row, request, history, [t.created for t in turns])
        except BaseException:
            if token:
                self.records.release(conversation_id, token)
            raise
        return PreparedTurn(row=row, request=request, turns=turns, plan=plan, token=token)

    def run(self, prepared: PreparedTurn, emit: Emit | None = None) -> TurnResult:
        """Answer a prepared turn and record it (an estimate only reports its plan)."""
        emit = emit or (lambda kind, data: None)
        row, request = prepared.row, prepared.request
        history = history_of([{**t.data, "n": t.n} for t in prepared.turns])
        if prepared.token is None:
            return self._estimate(prepared, history, emit)
        try:
            outcome = self.turns.answer(row.id, prepared.plan, request, history, emit)
        except BaseException as exc:
            self.records.release(row.id, prepared.token)
            if self.metrics is not None:
                self.metrics.observe_failure(exc.code if isinstance(exc, FolioError) else "internal_error")
            raise
        if self.metrics is not None:
            self.metrics.observe_answer(request.mode, outcome.answer)
        if outcome.answer.answer is None:  # no model configured: nothing to continue from
            self.records.release(row.id, prepared.token)
            return self._result(row, prepared.plan.turn, False, outcome.search_query, outcome.rewrite,
                                outcome.answer)
        answer = outcome.answer
        counter = self.answerer.counter
        data: dict[str, Any] = {
            "question": request.question, "user_content": outcome.user_content,
            "user_tokens": counter.count(outcome.user_content),
            "question_tokens": counter.count(question_message(request.question)), "answer_text": answer.answer,
            "answer_tokens": counter.count(answer.answer or ""), "search_query": outcome.search_query,
            "rewrite": outcome.rewrite, "answer": answer.model_dump(mode="json", by_alias=True)}
        pairs = [(t.data["question"], t.data["answer_text"]) for t in prepared.turns]
        pairs.append((request.question, answer.answer or ""))
        title = request.question[:TITLE_FROM_QUESTION].strip() if not row.title else None
        written = self.records.add_turn(row.id, prepared.token, tenant=self.tenant, route=answer.route,
                                        dollars=outcome.dollars, thread_digest=thread_digest(pairs), data=data,
                                        thread=outcome.state.to_dict(), title=title,
                                        scope=prepared.plan.scope_ids,
                                        forget_collection=prepared.plan.collection_gone)
        if written is None:
            raise ConversationBusy(f"conversation {row.id} was taken over by another turn while this one was "
                                   "answered (it ran past the claim's lifetime); this answer was billed but not "
                                   "added to the thread", conversation_id=row.id)
        return self._result(self.get(row.id), written.n, True, outcome.search_query, outcome.rewrite, answer)

    def ask(self, conversation_id: str, request: TurnRequest, emit: Emit | None = None) -> TurnResult:
        return self.run(self.prepare(conversation_id, request), emit)

    def _estimate(self, prepared: PreparedTurn, history: list[Any], emit: Emit) -> TurnResult:
        plan = prepared.plan
        report = plan.plan.report()
        report.thread = plan.report(prepared.row.id, history)
        emit("plan", report)
        titles = {r.id: r.title for r in plan.plan.records}
        answer = api.Answer(question=prepared.request.question, route=plan.plan.decision.route,
                            reason=plan.plan.decision.reason, plan=report,
                            retrieved=[retrieved_chunk(h, titles) for h in plan.plan.hits],
                            message="estimate only: the turn was planned, not asked, and nothing was recorded",
                            events=[api.AnswerEvent.model_validate(e) for e in plan.events])
        answer.summary = summarise(answer, self.answerer.prices, estimate_only=True)
        emit("done", answer)
        return self._result(prepared.row, plan.turn, False, plan.search_query, plan.rewrite, answer)

    def _result(self, row: ConversationRow, n: int, recorded: bool, search_query: str, rewrite: Any,
                answer: api.Answer) -> TurnResult:
        return TurnResult(conversation_id=row.id, turn=n, recorded=recorded, search_query=search_query,
                          rewrite=rewrite, summary=answer.summary, answer=answer, conversation=self.summary(row),
                          cache=self.cache_words(row))

    def _ready_titles(self) -> dict[str, str]:
        return {r.id: r.title for r in self.answerer.store.list_documents(tenant=self.tenant)}

    def _turn(self, row: TurnRow) -> Turn:
        answer = api.Answer.model_validate(row.data["answer"])
        if not answer.summary:  # recorded before answers carried their summary
            answer.summary = summarise(answer, self.answerer.prices)
        return Turn(n=row.n, created=row.created, question=row.data["question"],
                    search_query=row.data.get("search_query", row.data["question"]),
                    rewrite=row.data.get("rewrite", "none"), dollars=round(row.dollars, 8), answer=answer)
