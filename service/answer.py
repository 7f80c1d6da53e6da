"""One question's trip: scope -> plan -> context -> model -> citations -> ledger.

``Answerer.plan`` retrieves and prices without calling the model; ``Answerer.answer`` then follows the plan,
warming the cache, escalating (Self-Route) or falling back (context too long) as needed, and says so.
Progress is reported as events, which the API streams as server-sent events.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, Field

from folio.config import Settings
from folio.errors import ContextTooLong, DocumentNotFound, InvalidRequest, ProviderError, ProviderStreamBroken
from folio.ingest.embed import Embedder
from folio.ingest.search import search
from folio.ingest.statements import LABELS, question_statements
from folio.ingest.store import DocumentRecord, Hit, Store
from folio.ingest.tokens import TokenCounter
from folio.service import citations as cite
from folio.service.context import (
    NOT_FOUND,
    QUESTION_PREFIX,
    SYSTEM_PROMPT,
    WARM_REPLY,
    full_prompt,
    prefix_key,
    rag_prompt,
    render_documents,
    render_excerpts,
    scope_key,
    scope_tokens,
    warmup_messages,
)
from folio.service.coverage import CoveragePlan, CoverageRunner, plan_coverage
from folio.service.ledger import Ledger, LedgerEntry, Session, Usage
from folio.service.llm import Completion, LLMClient, Reasoning
from folio.service.need import classify
from folio.service.plan import Decision, Mode, PlanInputs, decide, decide_coverage
from folio.service.pricing import PricingProfile
from folio.service.schemas import answer as answer_api
from folio.service.schemas import plan as plan_api
from folio.service.schemas.common import RetrievedChunk

# Role markers and BOS the chat template adds around the system prompt and the turns.
TEMPLATE_TOKENS = 8
REASONING_OUTPUT = {"none": 0, "high": 1500, "max": 4000}
NO_MODEL_MESSAGE = ("No language model is configured, so here are the plan and the retrieved pages. To get "
                    "answers set FOLIO_LLM_API_KEY (DeepSeek's API by default), or FOLIO_LLM_BASE_URL (and "
                    "FOLIO_LLM_MODEL) for any OpenAI-compatible server, then restart.")

# progress: ("plan", the plan), ("done", the answer), other kinds with a dict (the SSE event's data)
Event = Callable[[str, dict[str, Any] | BaseModel], None]


class QuestionTooLong(InvalidRequest):
    code = "question_too_long"
    http_status = 413


class QueryRequest(BaseModel):
    question: str = Field(min_length=1, max_length=1_000_000, description="At most FOLIO_MAX_QUESTION_CHARS")
    documents: list[str] | None = Field(default=None, description="Document ids (or unique prefixes); default: all")
    mode: Literal["auto", "rag", "full", "coverage"] = Field(
        default="auto", description="coverage: every page, read in cached windows (map-reduce) when the scope is "
        "larger than one context")
    max_cost_usd: float | None = Field(default=None, ge=0)
    lookup_premium_usd: float | None = Field(
        default=None, ge=0, description="Extra dollars per question worth paying for whole documents on a lookup "
        "question (default FOLIO_LOOKUP_PREMIUM_USD)")
    reasoning: Literal["none", "high", "max"] = "none"
    stream: bool = False
    cascade: bool = Field(default=False, description="Self-Route: rag first, full when the chunks cannot answer")
    warm: bool | None = Field(default=None, description="Prime the cache before a cold full-context question")


@dataclass
class Plan:
    decision: Decision
    records: list[DocumentRecord]
    full_records: list[DocumentRecord]
    hits: list[Hit]
    prefix_hash: str
    warmup: bool
    notes: list[str] = field(default_factory=list)
    coverage: CoveragePlan | None = None
    query_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # its ledger entries, however many calls

    @property
    def scope_key(self) -> str:
        return scope_key([r.id for r in self.records])

    def report(self) -> plan_api.Plan:
        """The plan as the API reports it."""
        return plan_api.Plan.model_validate(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        data = self.decision.to_dict()
        data.update(prefix_hash=self.prefix_hash, warmup=self.warmup, notes=self.notes,
                    scope=[_doc_summary(r) for r in self.records],
                    full_scope=[r.id for r in self.full_records])
        if self.coverage is not None:
            data["coverage"] = {**self.coverage.to_dict(), "decision": self.decision.coverage_reason}
        return data


def _doc_summary(record: DocumentRecord) -> dict[str, Any]:
    return {"id": record.id, "title": record.title, "pages": record.n_pages, "tokens": record.total_tokens}


def retrieved_chunk(hit: Hit, titles: dict[str, str]) -> RetrievedChunk:
    return RetrievedChunk(document_id=hit.doc_id, title=titles.get(hit.doc_id), first_page=hit.first_page,
                          last_page=hit.last_page, heading=hit.heading, score=hit.score, text=hit.text)


def statement_lane_note(question: str, records: Sequence[DocumentRecord]) -> str | None:
    """What the retrieval's financial statement lane (``ingest.statements``) added for this question, if anything:
    the statements it asks about that the scope's documents hold."""
    need = question_statements(question)
    held = {kind for r in records for kind, pages in (r.statement_pages or {}).items() if pages}
    kinds = [k for k in need.kinds if k in held]
    if not kinds:
        return None
    names = " and ".join(LABELS[k] for k in kinds)
    return (f"the question asks about {', '.join(need.terms)}: retrieval also ranked the pages of the "
            f"{names}, where filings report those figures")


class Answerer:
    def __init__(self, *, store: Store, embedder: Callable[[], Embedder], settings: Settings, ledger: Ledger,
                 llm: LLMClient | None, counter: TokenCounter, prices: PricingProfile) -> None:
        self.store = store
        self._embedder = embedder
        self.settings = settings
        self.ledger = ledger
        self.llm = llm
        self.counter = counter
        self.prices = prices
        self.tenant = "default"
        self._system_count: int | None = None

    def for_tenant(self, tenant: str, *, ledger: Ledger, llm: LLMClient | None) -> Answerer:
        """This answerer as one tenant sees it: its documents only, its ledger view (bill and cache memory),
        and a model client with its own cache isolation id."""
        self._system_tokens()  # counted once, for every view
        view = copy.copy(self)
        view.tenant, view.ledger, view.llm = tenant, ledger, llm
        return view

    def validate(self, request: QueryRequest) -> list[DocumentRecord]:
        """What makes a request a 4xx before any work: the question's length and the scope."""
        limit = self.settings.max_question_chars
        if len(request.question) > limit:
            raise QuestionTooLong(f"the question has {len(request.question):,} characters, over the {limit:,} "
                                  "limit (FOLIO_MAX_QUESTION_CHARS)")
        return self.scope(request.documents)

    # -- planning ------------------------------------------------------------------------------------

    def _system_tokens(self) -> int:
        if self._system_count is None:
            self._system_count = self.counter.count(SYSTEM_PROMPT) + TEMPLATE_TOKENS
        return self._system_count

    def scope(self, doc_ids: Sequence[str] | None) -> list[DocumentRecord]:
        ready = self.store.list_documents(tenant=self.tenant)
        if not doc_ids:
            if not ready:
                raise InvalidRequest("no documents are indexed yet: upload or ingest some first")
            return ready
        by_id = {r.id: r for r in ready}
        chosen: list[DocumentRecord] = []
        for given in dict.fromkeys(doc_ids):
            matches = [r for r in ready if r.id.startswith(given.lower())] if len(given) >= 6 else []
            if given in by_id:
                matches = [by_id[given]]
            if len(matches) != 1:
                raise DocumentNotFound(f"no ready document with id {given!r}", document_id=given)
            chosen.append(matches[0])
        return sorted(chosen, key=lambda r: (r.ingested_at, r.id))

    def plan(self, request: QueryRequest) -> Plan:
        records = self.validate(request)
        titles = {r.id: r.title for r in records}
        need = classify(request.question, n_documents=len(records))
        hits = search(self.store, self._embedder(), request.question, doc_ids=[r.id for r in records],
                      limit=self.settings.top_k, records=records)
        retrieved = self.counter.count(render_excerpts(hits, titles, {r.id: r.page_starts for r in records}))
        notes: list[str] = []
        lane = statement_lane_note(request.question, records)
        if lane:
            notes.append(lane)
        full_records = records
        session = self.ledger.session(scope_key([r.id for r in records]))  # read once for the whole plan
        decision, prefix, warmup = self._decide(request, records, need, retrieved, session)
        scope_fits = decision.full.feasible
        if not decision.full.feasible and len(records) > 1 and request.mode not in ("rag", "coverage"):
            subset = self._fitting_subset(records, hits)
            if subset:
                decision, prefix, warmup = self._decide(request, subset, need, retrieved, session)
                full_records = subset
                notes.append(f"the {len(records)} documents ({sum(r.total_tokens for r in records):,} tokens) do "
                             f"not fit the context; full context would cover the {len(subset)} most relevant "
                             "documents that fit")
                decision = replace(decision, reason=decision.reason + f" (over the {len(subset)} of "
                                   f"{len(records)} documents that fit, ranked by retrieval)")
        coverage = self._plan_coverage(request, records, hits, decision, session)
        forced = request.mode == "coverage"
        decision = decide_coverage(decision, coverage.estimate if forced else coverage.total, mode=request.mode,
                                   max_cost_usd=self._budget(request), scope_fits=scope_fits,
                                   windows=len(coverage.windows))
        return Plan(decision=decision, records=records, full_records=full_records, hits=hits, prefix_hash=prefix,
                    warmup=warmup and decision.route == "full", notes=notes, coverage=coverage)

    def _budget(self, request: QueryRequest) -> float:
        return request.max_cost_usd if request.max_cost_usd is not None else self.settings.max_cost_usd

    def _warm_setting(self, request: QueryRequest) -> str:
        return self.settings.warm_cache if request.warm is None else ("always" if request.warm else "never")

    def _plan_coverage(self, request: QueryRequest, records: list[DocumentRecord], hits: list[Hit],
                       decision: Decision, session: Session) -> CoveragePlan:
        """Coverage priced beside rag and full; within the budget (its windows cut to it when forced)."""
        return plan_coverage(records, hits, request.question, reasoning=request.reasoning, settings=self.settings,
                             counter=self.counter, ledger=self.ledger, prices=self.prices,
                             system_tokens=decision.inputs.system_tokens,
                             output_tokens=decision.inputs.output_tokens, warm_setting=self._warm_setting(request),
                             budget=self._budget(request), session=session)

    def _decide(self, request: QueryRequest, records: list[DocumentRecord], need: Any,
                retrieved: int, session: Session) -> tuple[Decision, str, bool]:
        prefix = prefix_key(self.settings.llm_model, request.reasoning, [r.id for r in records])
        cache = self.ledger.cache_state(prefix, session=session)
        warm_setting = self._warm_setting(request)
        warmup = cache.h < 0.5 and (warm_setting == "always" or (warm_setting == "auto" and cache.followups >= 1))
        inputs = PlanInputs(
            system_tokens=self._system_tokens(),
            scope_tokens=scope_tokens(records, self.counter),
            question_tokens=self.counter.count(QUESTION_PREFIX + request.question) + 2,
            retrieved_tokens=retrieved,
            output_tokens=self.settings.expected_output_tokens + REASONING_OUTPUT[request.reasoning],
            output_reserve=self.settings.output_reserve,
            window=self.settings.context_window,
            cache=cache,
            warmup=warmup,
        )
        mode: Mode = "auto" if request.mode == "coverage" else request.mode
        premium = (request.lookup_premium_usd if request.lookup_premium_usd is not None
                   else self.settings.lookup_premium_usd)
        return (decide(inputs, need, self.prices, mode=mode, max_cost_usd=self._budget(request),
                       lookup_premium_usd=premium), prefix, warmup)

    def _fitting_subset(self, records: list[DocumentRecord], hits: list[Hit]) -> list[DocumentRecord]:
        """The most relevant whole documents (by their best retrieval rank) that fit the window together."""
        rank: dict[str, int] = {}
        for i, hit in enumerate(hits):
            rank.setdefault(hit.doc_id, i)
        ordered = sorted(records, key=lambda r: rank.get(r.id, len(hits)))
        budget = self.settings.context_window - self.settings.output_reserve - 1_000  # system + question
        chosen: list[DocumentRecord] = []
        used = 0
        for record in ordered:
            size = scope_tokens([record], self.counter)
            if used + size <= budget:
                chosen.append(record)
                used += size
        return sorted(chosen, key=lambda r: (r.ingested_at, r.id))

    # -- answering -----------------------------------------------------------------------------------

    def answer(self, request: QueryRequest, emit: Event | None = None) -> answer_api.Answer:
        emit = emit or (lambda kind, data: None)
        plan = self.plan(request)
        titles = {r.id: r.title for r in plan.records}
        report = plan.report()
        emit("plan", report)
        retrieved = [retrieved_chunk(h, titles).model_dump() for h in plan.hits]
        result: dict[str, Any] = {
            "question": request.question, "route": plan.decision.route, "reason": plan.decision.reason,
            "plan": report, "retrieved": retrieved, "answer": None, "citations": [], "events": [],
            "usage": None, "cost": None, "model": None,
        }
        if self.llm is None:
            result["message"] = NO_MODEL_MESSAGE
            return self._done(result, emit)
        total = Usage()
        dollars = 0.0
        route = plan.decision.route
        completion: Completion | None = None
        loaded: dict[str, DocumentRecord] = {}  # records with their pages, loaded once per question
        if route == "coverage":
            return self._answer_coverage(request, plan, result, emit, loaded)
        if route == "full":
            try:
                completion, spent = self._ask_full(request, plan, emit, loaded)
                total, dollars = total.add(spent[0]), dollars + spent[1]
            except ContextTooLong as exc:
                result["events"].append({"kind": "fallback", "from": "full", "to": "rag", "reason": exc.message})
                emit("fallback", result["events"][-1])
                route = "rag"
        if route == "rag":
            completion = self._ask_rag(request, plan, emit, kind="question")
            total, dollars = total.add(completion.usage), dollars + self._dollars(completion.usage)
            budget = request.max_cost_usd if request.max_cost_usd is not None else self.settings.max_cost_usd
            not_found = completion.text.strip().startswith(NOT_FOUND[:30])
            if request.cascade and not_found and request.mode == "auto" and not (
                    plan.decision.full.feasible and plan.decision.full.dollars <= budget):
                event = {"kind": "no_escalation", "reason": "the chunks did not hold the answer, but whole documents "
                         + ("do not fit" if not plan.decision.full.feasible else
                            f"would cost ${plan.decision.full.dollars:.5f}, over the ${budget:.5f} budget")}
                result["events"].append(event)
                emit("no_escalation", event)
            elif request.cascade and not_found and request.mode == "auto":
                event = {"kind": "escalation", "from": "rag", "to": "full",
                         "reason": "the retrieved chunks did not hold the answer (Self-Route)"}
                result["events"].append(event)
                emit("escalation", event)
                completion, spent = self._ask_full(request, plan, emit, loaded)
                total, dollars = total.add(spent[0]), dollars + spent[1]
                route = "full"
        assert completion is not None
        cited_ids = {r.id for r in (plan.full_records if route == "full" else plan.records)}
        with_pages = [self._with_pages(r.id, loaded) for r in plan.records if r.id in cited_ids]
        result.update(
            route=route, answer=completion.text, model=completion.model,
            citations=[c.to_dict() for c in cite.extract(completion.text, with_pages)],
            usage={"hit_tokens": total.hit_tokens, "miss_tokens": total.miss_tokens,
                   "output_tokens": total.output_tokens, "reasoning_tokens": total.reasoning_tokens},
            cost={"dollars": round(dollars, 8),
                  "estimated_dollars": round(getattr(plan.decision, route).dollars, 8),
                  "profile": self.prices.name, "prices_as_of": self.prices.as_of.isoformat()},
        )
        if completion.finish_reason == "length":
            result["events"].append({"kind": "truncated", "reason": "the answer hit the output limit"})
        return self._done(result, emit)

    @staticmethod
    def _done(result: dict[str, Any], emit: Event) -> answer_api.Answer:
        answer = answer_api.Answer.model_validate(result)
        emit("done", answer)
        return answer

    def _answer_coverage(self, request: QueryRequest, plan: Plan, result: dict[str, Any], emit: Event,
                         loaded: dict[str, DocumentRecord]) -> answer_api.Answer:
        """Map over the planned windows, reduce the findings, report what was covered (``service/coverage.py``)."""
        assert self.llm is not None and plan.coverage is not None
        runner = CoverageRunner(llm=self.llm, store=self.store, ledger=self.ledger, settings=self.settings,
                                prices=self.prices, counter=self.counter, loaded=loaded)
        outcome = runner.run(plan.coverage, question=request.question, reasoning=request.reasoning,
                             stream=request.stream, emit=emit, query_id=plan.query_id)
        usage = outcome.usage
        result["events"].extend(outcome.events)
        result.update(
            answer=outcome.answer, model=outcome.model, citations=outcome.citations, coverage=outcome.report,
            usage={"hit_tokens": usage.hit_tokens, "miss_tokens": usage.miss_tokens,
                   "output_tokens": usage.output_tokens, "reasoning_tokens": usage.reasoning_tokens},
            cost={"dollars": round(outcome.dollars, 8), "estimated_dollars": round(plan.coverage.estimate.dollars, 8),
                  "profile": self.prices.name, "prices_as_of": self.prices.as_of.isoformat()},
        )
        if outcome.finish_reason == "length":
            result["events"].append({"kind": "truncated", "reason": "the answer hit the output limit"})
        return self._done(result, emit)

    def _dollars(self, usage: Usage) -> float:
        return self.prices.dollars(hit_tokens=usage.hit_tokens, miss_tokens=usage.miss_tokens,
                                   output_tokens=usage.output_tokens)

    def _call(self, messages: list[dict[str, str]], request: QueryRequest, emit: Event,
              *, max_tokens: int | None = None, stream: bool | None = None) -> Completion:
        assert self.llm is not None
        reasoning: Reasoning = request.reasoning
        limit = max_tokens or self.settings.output_reserve
        if stream if stream is not None else request.stream:
            return self.llm.stream(messages, reasoning=reasoning, max_tokens=limit,
                                   on_text=lambda text: emit("delta", {"text": text}))
        return self.llm.complete(messages, reasoning=reasoning, max_tokens=limit)

    def _record(self, kind: str, route: str, plan: Plan, records: list[DocumentRecord], completion: Completion,
                estimated: float | None, prefix_tokens: int, *, usage_source: str = "provider") -> float:
        dollars = self._dollars(completion.usage)
        self.ledger.record(LedgerEntry(
            kind=kind, route=route, prefix_hash=plan.prefix_hash if route == "full" else None,
            doc_ids=[r.id for r in records], doc_tokens=[r.total_tokens for r in records], usage=completion.usage,
            dollars=dollars, estimated_dollars=estimated, model=completion.model, profile=self.prices.name,
            prefix_tokens=prefix_tokens, tenant=self.tenant, query_id=plan.query_id, scope_key=plan.scope_key,
            usage_source=usage_source))
        return dollars

    def _record_broken(self, exc: ProviderStreamBroken, route: str, plan: Plan, records: list[DocumentRecord], *,
                       hit_tokens: float, miss_tokens: float, prefix_tokens: int) -> None:
        """A stream cut mid-answer sends no usage, but the provider has read the prompt and written part of an
        answer, and bills them: the ledger records the plan's input estimate and the tokens of the text that
        arrived, marked as estimated."""
        usage = Usage(hit_tokens=round(hit_tokens), miss_tokens=round(miss_tokens),
                      output_tokens=self.counter.count(exc.partial_text))
        broken = Completion(text=exc.partial_text, usage=usage, finish_reason="error", model=self.settings.llm_model,
                            seconds=0.0, attempts=0)
        estimate = plan.decision.full if route == "full" else plan.decision.rag
        self._record("question", route, plan, records, broken, estimate.dollars, prefix_tokens,
                     usage_source="estimated")

    def _with_pages(self, doc_id: str, loaded: dict[str, DocumentRecord]) -> DocumentRecord:
        if doc_id not in loaded:
            loaded[doc_id] = self.store.require_document(doc_id, with_pages=True, tenant=self.tenant)
        return loaded[doc_id]

    def _ask_full(self, request: QueryRequest, plan: Plan, emit: Event,
                  loaded: dict[str, DocumentRecord]) -> tuple[Completion, tuple[Usage, float]]:
        records = [self._with_pages(r.id, loaded) for r in plan.full_records]
        block = render_documents(records)
        prefix_tokens = plan.decision.inputs.system_tokens + plan.decision.inputs.scope_tokens
        usage = Usage()
        dollars = 0.0
        if plan.warmup:
            warm = self._call(warmup_messages(block), request, emit, max_tokens=8, stream=False)
            dollars += self._record("warmup", "full", plan, records, warm, None, prefix_tokens)
            usage = usage.add(warm.usage)
            emit("warmup", {"usage": warm.usage.__dict__, "reply": warm.text,
                            "expected": WARM_REPLY})
        prompt = full_prompt(block, request.question, layout="warm", model=self.settings.llm_model)
        try:
            completion = self._call(prompt.messages, request, emit)
        except ProviderStreamBroken as exc:
            estimate = plan.decision.full
            hit, miss = ((prefix_tokens, plan.decision.inputs.question_tokens) if plan.warmup
                         else (estimate.hit_tokens, estimate.miss_tokens))
            self._record_broken(exc, "full", plan, records, hit_tokens=hit, miss_tokens=miss,
                                prefix_tokens=prefix_tokens)
            raise
        dollars += self._record("question", "full", plan, records, completion, plan.decision.full.dollars,
                                prefix_tokens)
        return completion, (usage.add(completion.usage), dollars)

    def _ask_rag(self, request: QueryRequest, plan: Plan, emit: Event, *, kind: str) -> Completion:
        titles = {r.id: r.title for r in plan.records}
        starts = {r.id: r.page_starts for r in plan.records}
        messages = rag_prompt(render_excerpts(plan.hits, titles, starts), request.question)
        try:
            completion = self._call(messages, request, emit)
        except ContextTooLong as exc:  # pragma: no cover - excerpts are small
            raise ProviderError(f"even the retrieved excerpts were refused as too long: {exc.message}") from exc
        except ProviderStreamBroken as exc:
            rag = plan.decision.rag
            self._record_broken(exc, "rag", plan, plan.records, hit_tokens=rag.hit_tokens, miss_tokens=rag.miss_tokens,
                                prefix_tokens=0)
            raise
        self._record(kind, "rag", plan, plan.records, completion, plan.decision.rag.dollars, 0)
        return completion
