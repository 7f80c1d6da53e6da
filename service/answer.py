"""One question's trip, forward only: route -> planner -> context -> llm -> citations -> ledger.

``Answerer.answer`` plans (``service/planner.py``), builds the context the plan chose (``service/context.py``),
asks the model (``service/llm.py``), warming the cache, escalating (Self-Route) or falling back (context too
long) as needed, and says so; coverage reads window by window (``service/coverage/``). The answer's citations
are checked against the stored pages (``service/citations.py``), and only then are the question's provider calls
written to the ledger (``service/billing.py``). Progress is reported as events, which the API streams.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from folio.config import Settings
from folio.errors import ContextTooLong, ProviderError, ProviderStreamBroken, QuestionTooLong
from folio.ingest.embed import Embedder
from folio.ingest.store import Store
from folio.ingest.tokens import TokenCounter
from folio.records import DocumentRecord
from folio.service import citations as cite
from folio.service.billing import Bill
from folio.service.context import (
    NOT_FOUND,
    WARM_REPLY,
    document_blocks,
    full_prompt,
    rag_prompt,
    render_excerpts,
    warmup_messages,
)
from folio.service.coverage.answer import answer_coverage
from folio.service.explain import summarise
from folio.service.ledger import Ledger, Usage
from folio.service.llm import Completion, LLMClient
from folio.service.planner import Plan, Planner, retrieved_chunk
from folio.service.pricing import PricingProfile
from folio.service.schemas import answer as api
from folio.service.schemas.answer import Emit
from folio.service.schemas.common import Cost
from folio.service.schemas.common import Usage as UsageReport
from folio.service.schemas.query import QueryRequest

__all__ = ["Answerer", "Emit", "QueryRequest", "QuestionTooLong"]

NO_MODEL_MESSAGE = ("No language model is configured, so here are the plan and the retrieved pages. To get "
                    "answers set FOLIO_LLM_API_KEY (DeepSeek's API by default), or FOLIO_LLM_BASE_URL (and "
                    "FOLIO_LLM_MODEL) for any OpenAI-compatible server, then restart.")

# progress: ("plan", the plan), ("done", the answer), other kinds with a dict (the SSE event's data)


class Answerer(Planner):
    def __init__(self, *, store: Store, embedder: Callable[[], Embedder], settings: Settings, ledger: Ledger,
                 llm: LLMClient | None, counter: TokenCounter, prices: PricingProfile) -> None:
        super().__init__(store=store, embedder=embedder, settings=settings, ledger=ledger, counter=counter,
                         prices=prices)
        self.llm = llm

    def for_tenant(self, tenant: str, *, ledger: Ledger, llm: LLMClient | None) -> Answerer:
        """This answerer as one tenant sees it: its documents only, its ledger view (bill and cache memory),
        and a model client with its own cache isolation id."""
        self.system_tokens()  # counted once, for every view
        view = copy.copy(self)
        view.tenant, view.ledger, view.llm = tenant, ledger, llm
        return view

    def answer(self, request: QueryRequest, emit: Emit | None = None, *, plan: Plan | None = None) -> api.Answer:
        """Answer ``request``, by ``plan`` when the caller planned it already (a stream plans before its 200, so
        that a refusal, over the budget for one, is a 4xx). A refused plan raises before any model call."""
        emit = emit or (lambda kind, data: None)
        if plan is not None and plan.refusal is not None:
            raise plan.refusal
        plan = plan or self.plan_to_answer(request)
        report = plan.report()
        emit("plan", report)
        titles = {r.id: r.title for r in plan.records}
        answer = api.Answer(question=request.question, route=plan.decision.route, reason=plan.decision.reason,
                            plan=report, retrieved=[retrieved_chunk(h, titles) for h in plan.hits])
        if self.llm is None:
            answer.message = NO_MODEL_MESSAGE
        else:
            bill = Bill(self.ledger, self.prices, tenant=self.tenant, query_id=plan.query_id,
                        scope_key=plan.scope_key, reasoning=request.reasoning)
            try:
                if plan.decision.route == "coverage":
                    self._answer_coverage(self.llm, request, plan, answer, bill, emit)
                else:
                    self._answer_one(request, plan, answer, bill, emit)
            finally:
                bill.write()  # after the citations are checked; on a failure, what was spent so far
            answer.usage = UsageReport(**asdict(bill.usage))
        answer.summary = summarise(answer, self.prices)
        emit("done", answer)
        return answer

    # -- one request (rag or full, with a warm-up, a fallback or an escalation) ---------------------------------

    def _answer_one(self, request: QueryRequest, plan: Plan, answer: api.Answer, bill: Bill, emit: Emit) -> None:
        route = plan.decision.route
        completion: Completion | None = None
        loaded: dict[str, DocumentRecord] = {}  # records with their pages, loaded once per question
        if route == "full":
            try:
                completion = self._ask_full(request, plan, bill, emit, loaded)
            except ContextTooLong as exc:
                self._event(answer, emit, {"kind": "fallback", "from": "full", "to": "rag", "reason": exc.message})
                route = "rag"
        if route == "rag":
            completion = self._ask_rag(request, plan, bill, emit)
            budget = self._budget(request)
            not_found = completion.text.strip().startswith(NOT_FOUND[:30])
            full = plan.decision.full
            if request.cascade and not_found and request.mode == "auto" and not (
                    full.feasible and full.dollars <= budget):
                self._event(answer, emit, {
                    "kind": "no_escalation", "reason": "the chunks did not hold the answer, but whole documents "
                    + ("do not fit" if not full.feasible else
                       f"would cost ${full.dollars:.5f}, over the ${budget:.5f} budget")})
            elif request.cascade and not_found and request.mode == "auto":
                self._event(answer, emit, {"kind": "escalation", "from": "rag", "to": "full",
                                           "reason": "the retrieved chunks did not hold the answer (Self-Route)"})
                completion = self._ask_full(request, plan, bill, emit, loaded)
                route = "full"
        assert completion is not None and route != "coverage"
        cited_ids = {r.id for r in (plan.full_records if route == "full" else plan.records)}
        with_pages = [self._with_pages(r.id, loaded) for r in plan.records if r.id in cited_ids]
        answer.route, answer.answer, answer.model = route, completion.text, completion.model
        answer.citations = cite.extract(completion.text, with_pages)
        answer.cost = self._cost(bill, plan.decision.estimate(route).dollars)
        if completion.finish_reason == "length":
            answer.events.append(api.AnswerEvent(kind="truncated", reason="the answer hit the output limit"))

    def _answer_coverage(self, llm: LLMClient, request: QueryRequest, plan: Plan, answer: api.Answer, bill: Bill,
                         emit: Emit) -> None:
        """Map over the planned windows, reduce the findings, report what was covered (``service/coverage/``)."""
        assert plan.coverage is not None
        outcome = answer_coverage(plan.coverage, question=request.question, reasoning=request.reasoning,
                                  stream=request.stream, emit=emit, llm=llm, store=self.store,
                                  settings=self.settings, counter=self.counter, bill=bill, loaded={})
        answer.events.extend(outcome.events)
        answer.answer, answer.model, answer.citations = outcome.answer, outcome.model, outcome.citations
        answer.coverage = outcome.report
        answer.cost = self._cost(bill, plan.coverage.estimate.dollars)
        if outcome.finish_reason == "length":
            answer.events.append(api.AnswerEvent(kind="truncated", reason="the answer hit the output limit"))

    @staticmethod
    def _event(answer: api.Answer, emit: Emit, event: dict[str, Any]) -> None:
        answer.events.append(api.AnswerEvent.model_validate(event))
        emit(event["kind"], event)

    def _cost(self, bill: Bill, estimated: float) -> Cost:
        return Cost(dollars=round(bill.dollars, 8), estimated_dollars=round(estimated, 8), profile=self.prices.name,
                    prices_as_of=self.prices.as_of.isoformat())

    # -- the model calls --------------------------------------------------------------------------------------

    def _call(self, messages: list[dict[str, str]], request: QueryRequest, emit: Emit,
              *, max_tokens: int | None = None, stream: bool | None = None) -> Completion:
        assert self.llm is not None
        limit = max_tokens or self.settings.output_reserve
        if stream if stream is not None else request.stream:
            return self.llm.stream(messages, reasoning=request.reasoning, max_tokens=limit,
                                   on_text=lambda text: emit("delta", {"text": text}))
        return self.llm.complete(messages, reasoning=request.reasoning, max_tokens=limit)

    @staticmethod
    def _charge(bill: Bill, kind: str, route: str, plan: Plan, records: list[DocumentRecord], usage: Usage, *,
                model: str, estimated: float | None, prefix_tokens: int, usage_source: str = "provider") -> None:
        bill.charge(kind, usage, model=model, route=route, doc_ids=[r.id for r in records],
                    doc_tokens=[r.total_tokens for r in records], estimated=estimated,
                    prefix_hash=plan.prefix_hash if route == "full" else plan.rag_prompt_hash or None,
                    prefix_tokens=prefix_tokens,
                    usage_source=usage_source)

    def _charge_broken(self, bill: Bill, exc: ProviderStreamBroken, route: str, plan: Plan,
                       records: list[DocumentRecord], *, hit_tokens: float, miss_tokens: float,
                       prefix_tokens: int) -> None:
        """A stream cut mid-answer sends no usage, but the provider has read the prompt and written part of an
        answer, and bills them: the ledger records the plan's input estimate and the tokens of the text that
        arrived, marked as estimated."""
        usage = Usage(hit_tokens=round(hit_tokens), miss_tokens=round(miss_tokens),
                      output_tokens=self.counter.count(exc.partial_text))
        estimate = plan.decision.full if route == "full" else plan.decision.rag
        self._charge(bill, "question", route, plan, records, usage, model=self.settings.llm_model,
                     estimated=estimate.dollars, prefix_tokens=prefix_tokens, usage_source="estimated")

    def _with_pages(self, doc_id: str, loaded: dict[str, DocumentRecord]) -> DocumentRecord:
        if doc_id not in loaded:
            loaded[doc_id] = self.store.require_document(doc_id, with_pages=True, tenant=self.tenant)
        return loaded[doc_id]

    def _ask_full(self, request: QueryRequest, plan: Plan, bill: Bill, emit: Emit,
                  loaded: dict[str, DocumentRecord]) -> Completion:
        records = [self._with_pages(r.id, loaded) for r in plan.full_records]
        block = document_blocks(records, collection=plan.collection is not None)
        prefix_tokens = plan.decision.inputs.system_tokens + plan.decision.inputs.scope_tokens
        if plan.warmup:
            warm = self._call(warmup_messages(block), request, emit, max_tokens=8, stream=False)
            self._charge(bill, "warmup", "full", plan, records, warm.usage, model=warm.model, estimated=None,
                         prefix_tokens=prefix_tokens)
            emit("warmup", {"usage": asdict(warm.usage), "reply": warm.text, "expected": WARM_REPLY})
        prompt = full_prompt(block, request.question, layout="warm")
        try:
            completion = self._call(prompt.messages, request, emit)
        except ProviderStreamBroken as exc:
            estimate = plan.decision.full
            hit, miss = ((prefix_tokens, plan.decision.inputs.question_tokens) if plan.warmup
                         else (estimate.hit_tokens, estimate.miss_tokens))
            self._charge_broken(bill, exc, "full", plan, records, hit_tokens=hit, miss_tokens=miss,
                                prefix_tokens=prefix_tokens)
            raise
        self._charge(bill, "question", "full", plan, records, completion.usage, model=completion.model,
                     estimated=plan.decision.full.dollars, prefix_tokens=prefix_tokens)
        return completion

    def _ask_rag(self, request: QueryRequest, plan: Plan, bill: Bill, emit: Emit) -> Completion:
        titles = {r.id: r.title for r in plan.records}
        starts = {r.id: r.page_starts for r in plan.records}
        messages = rag_prompt(render_excerpts(plan.hits, titles, starts), request.question)
        try:
            completion = self._call(messages, request, emit)
        except ContextTooLong as exc:  # pragma: no cover - excerpts are small
            raise ProviderError(f"even the retrieved excerpts were refused as too long: {exc.message}") from exc
        except ProviderStreamBroken as exc:
            rag = plan.decision.rag
            self._charge_broken(bill, exc, "rag", plan, plan.records, hit_tokens=rag.hit_tokens,
                                miss_tokens=rag.miss_tokens, prefix_tokens=0)
            raise
        self._charge(bill, "question", "rag", plan, plan.records, completion.usage, model=completion.model,
                     estimated=plan.decision.rag.dollars, prefix_tokens=0)
        return completion
