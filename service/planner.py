"""The planner: a question's scope, its retrieval, and the route it takes, priced, without calling the model.

``Planner.plan`` resolves the scope, retrieves, reads the ledger once (``Ledger.memory``: the scope's session and
each prefix's cache state), prices rag and full (``service/plan.py``'s formulas), over the most relevant documents
that fit when the scope does not, and prices coverage only where it can be chosen (mode auto or coverage).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

from folio.config import Settings
from folio.errors import DocumentNotFound, InvalidRequest, OverBudget, QuestionTooLong
from folio.index import Hit
from folio.ingest.embed import Embedder
from folio.ingest.store import Store
from folio.ingest.tokens import TokenCounter
from folio.records import DocumentRecord
from folio.retrieval.search import retrieve
from folio.retrieval.statement_lane import LABELS, question_statements
from folio.service.collections import Collections, check_one_scope, ref
from folio.service.context import (
    QUESTION_PREFIX,
    SYSTEM_PROMPT,
    layout_keys,
    per_document_overhead,
    prefix_key,
    rag_prompt_key,
    render_excerpts,
    scope_key,
    scope_tokens,
)
from folio.service.coverage.plan import CoveragePlan, plan_coverage
from folio.service.ledger import CacheMemory, Ledger
from folio.service.need import Need, classify
from folio.service.plan import (
    Decision,
    Estimate,
    Mode,
    PlanInputs,
    decide,
    decide_coverage,
    enforce_cap,
    wants_warmup,
)
from folio.service.pricing import PricingProfile
from folio.service.schemas import plan as api
from folio.service.schemas.common import RetrievedChunk
from folio.service.schemas.query import QueryRequest

# Role markers and BOS the chat template adds around the system prompt and the turns.
TEMPLATE_TOKENS = 8
REASONING_OUTPUT = {"none": 0, "high": 1500, "max": 4000}


@dataclass
class Plan:
    decision: Decision
    records: list[DocumentRecord]
    full_records: list[DocumentRecord]
    hits: list[Hit]
    prefix_hash: str
    warmup: bool
    notes: list[str] = field(default_factory=list)
    coverage: CoveragePlan | None = None  # None: coverage was not priced (mode rag or full)
    rag_prompt_hash: str = ""  # the retrieval prompt's identity: its ledger entries say whether it was sent
    query_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # its ledger entries, however many calls
    refusal: OverBudget | None = None  # a named mode over the request's max_cost_usd: answer() raises it
    collection: api.CollectionRef | None = None  # the scope is this collection (records in the order they joined)

    @property
    def scope_key(self) -> str:
        return scope_key([r.id for r in self.records])

    def report(self) -> api.Plan:
        """The plan as the API reports it."""
        d, x = self.decision, self.decision.inputs
        inputs = {**asdict(x), "cache": api.CacheReport(**asdict(x.cache), explanation=x.cache.explain())}
        return api.Plan(
            route=d.route, reason=d.reason,
            need=api.NeedReport.model_validate({"class": d.need.label, "cues": d.need.cues,
                                                "explanation": d.need.explain()}),
            estimates=api.Estimates(rag=_estimate(d.rag), full=_estimate(d.full),
                                    coverage=_estimate(d.coverage) if d.coverage else None),
            inputs=api.PlanInputs.model_validate(inputs), coverage_reason=d.coverage_reason or None,
            prefix_hash=self.prefix_hash, warmup=self.warmup, notes=self.notes,
            scope=[api.DocumentSummary(id=r.id, title=r.title, pages=r.n_pages, tokens=r.total_tokens)
                   for r in self.records],
            full_scope=[r.id for r in self.full_records], collection=self.collection,
            coverage=self.coverage.report(d.coverage_reason) if self.coverage else None)


def _estimate(estimate: Estimate) -> api.Estimate:
    return api.Estimate(**asdict(estimate))


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


def named_note(titles: Sequence[str], spread: bool) -> str:
    """What the retrieval's named-documents lane (``folio.retrieval.named_lane``) did for this question."""
    shown = "; ".join(f"“{t}”" for t in titles[:3]) + (f" and {len(titles) - 3} more" if len(titles) > 3 else "")
    what = "document" if len(titles) == 1 else f"{len(titles)} documents"
    each = " and gave each of them at least one passage" if spread else ""
    return f"the question names the {what} {shown}: retrieval favoured {'its' if len(titles) == 1 else 'their'} " \
           f"passages{each}"


class Planner:
    def __init__(self, *, store: Store, embedder: Callable[[], Embedder], settings: Settings, ledger: Ledger,
                 counter: TokenCounter, prices: PricingProfile) -> None:
        self.store = store
        self._embedder = embedder
        self.settings = settings
        self.ledger = ledger
        self.counter = counter
        self.prices = prices
        self.tenant = "default"
        self._system_count: int | None = None

    def validate(self, request: QueryRequest) -> list[DocumentRecord]:
        """What makes a request a 4xx before any work: the question's length and the scope."""
        return self.validated_scope(request)[0]

    def validated_scope(self, request: QueryRequest) -> tuple[list[DocumentRecord], api.CollectionRef | None]:
        """``validate``'s scope, and the collection it is when the request names one."""
        limit = self.settings.max_question_chars
        if len(request.question) > limit:
            raise QuestionTooLong(f"the question has {len(request.question):,} characters, over the {limit:,} "
                                  "limit (FOLIO_MAX_QUESTION_CHARS)")
        check_one_scope(request.documents, request.collection)
        if request.collection is not None:
            return self.collection_scope(request.collection)
        return self.scope(request.documents), None

    def collections(self) -> Collections:
        return Collections(self.store, self.tenant)

    def collection_scope(self, name_or_id: str) -> tuple[list[DocumentRecord], api.CollectionRef]:
        """A collection's ready documents in the order they joined: the order of its whole-documents prompt, so
        that a document added later comes last and the earlier ones' prefix holds."""
        collections = self.collections()
        row = collections.find(name_or_id)
        records = collections.scope_records(row)
        if not records:
            raise InvalidRequest(f"collection: {row.name!r} holds no ready documents yet: add some first")
        return records, ref(row)

    def system_tokens(self) -> int:
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
        records, collection = self.validated_scope(request)
        titles = {r.id: r.title for r in records}
        need = classify(request.question, n_documents=len(records))
        found = retrieve(self.store, self._embedder(), request.question, doc_ids=[r.id for r in records],
                         limit=self.settings.top_k, records=records,
                         signals=request.mode == "auto" and self.settings.weak_retrieval_full)
        hits = found.hits
        weak = found.signals.describe() if found.signals is not None and found.signals.weak else ""
        retrieved = self.counter.count(render_excerpts(hits, titles, {r.id: r.page_starts for r in records}))
        notes: list[str] = []
        lane = statement_lane_note(request.question, records)
        if lane:
            notes.append(lane)
        if found.named:
            notes.append(named_note([titles[d] for d in found.named], found.spread))
        full_records = records
        memory = self.ledger.memory(scope_key([r.id for r in records]))  # the ledger, read once for the plan
        rag_key = rag_prompt_key(self.settings.llm_model, request.question, [(h.doc_id, h.chunk_index) for h in hits])
        rag_h = self.ledger.prompt_seen(rag_key)
        decision, prefix, warmup = self._decide(request, records, need, retrieved, memory, rag_h, weak)
        scope_fits = decision.full.feasible
        if not decision.full.feasible and len(records) > 1 and request.mode not in ("rag", "coverage"):
            subset = self._fitting_subset(records, hits)
            if subset:
                decision, prefix, warmup = self._decide(request, subset, need, retrieved, memory, rag_h, weak)
                full_records = subset
                notes.append(f"the {len(records)} documents ({sum(r.total_tokens for r in records):,} tokens) do "
                             f"not fit the context; full context would cover the {len(subset)} most relevant "
                             "documents that fit")
                decision = replace(decision, reason=decision.reason + f" (over the {len(subset)} of "
                                   f"{len(records)} documents that fit, ranked by retrieval)")
        coverage = None
        if request.mode in ("auto", "coverage"):  # coverage is priced only where it can be chosen
            coverage = self._plan_coverage(request, records, hits, decision, memory)
            forced = request.mode == "coverage"
            decision = decide_coverage(decision, coverage.estimate if forced else coverage.total, mode=request.mode,
                                       max_cost_usd=self._budget(request), scope_fits=scope_fits,
                                       windows=len(coverage.windows))
        else:
            decision = replace(decision, coverage_reason=f"not priced: mode={request.mode} was requested, so "
                               "coverage cannot be chosen")
        refusal = None
        if request.max_cost_usd is not None:
            # the request's own cap is hard, whatever the mode (auto has chosen within it unless even retrieval
            # is over it): retrieval instead when the request allows the fallback, else a refusal that answer()
            # raises before any model call (the plan alone reports it)
            try:
                decision = enforce_cap(decision, mode=request.mode, max_cost_usd=request.max_cost_usd,
                                       fallback=request.fallback)
            except OverBudget as exc:
                refusal = exc
                notes.append(f"POST /v1/query refuses this request ({exc.code}): {exc.message}")
        return Plan(decision=decision, records=records, full_records=full_records, hits=hits, prefix_hash=prefix,
                    warmup=warmup and decision.route == "full", notes=notes, coverage=coverage, refusal=refusal,
                    rag_prompt_hash=rag_key, collection=collection)

    def retrieve(self, query: str, records: list[DocumentRecord]) -> list[Hit]:
        """The top-k chunks for ``query`` among ``records`` (hybrid search, ``folio.retrieval``)."""
        return retrieve(self.store, self._embedder(), query, doc_ids=[r.id for r in records],
                        limit=self.settings.top_k, records=records).hits

    def plan_to_answer(self, request: QueryRequest) -> Plan:
        """``plan``, raising its refusal (``OverBudget``) if it has one: nothing is spent on a refused request."""
        plan = self.plan(request)
        if plan.refusal is not None:
            raise plan.refusal
        return plan

    def _budget(self, request: QueryRequest) -> float:
        return request.max_cost_usd if request.max_cost_usd is not None else self.settings.max_cost_usd

    def _warm_setting(self, request: QueryRequest) -> str:
        return self.settings.warm_cache if request.warm is None else ("always" if request.warm else "never")

    def _plan_coverage(self, request: QueryRequest, records: list[DocumentRecord], hits: list[Hit],
                       decision: Decision, memory: CacheMemory) -> CoveragePlan:
        """Coverage priced beside rag and full; within the budget (its windows cut to it when forced)."""
        return plan_coverage(records, hits, request.question, reasoning=request.reasoning, settings=self.settings,
                             counter=self.counter, memory=memory, prices=self.prices,
                             system_tokens=decision.inputs.system_tokens,
                             output_tokens=decision.inputs.output_tokens, warm_setting=self._warm_setting(request),
                             budget=self._budget(request))

    def _decide(self, request: QueryRequest, records: list[DocumentRecord], need: Need,
                retrieved: int, memory: CacheMemory, rag_h: float, weak: str = "") -> tuple[Decision, str, bool]:
        collection = request.collection is not None
        prefix = prefix_key(self.settings.llm_model, layout_keys(records, collection=collection))
        cache = memory.cache_state(prefix, request.reasoning)
        warmup = wants_warmup(cache, self._warm_setting(request))
        inputs = PlanInputs(
            system_tokens=self.system_tokens(),
            scope_tokens=scope_tokens(records, self.counter)
            + per_document_overhead(records, self.counter, collection=collection),
            question_tokens=self.counter.count(QUESTION_PREFIX + request.question) + 2,
            retrieved_tokens=retrieved,
            output_tokens=self.settings.expected_output_tokens + REASONING_OUTPUT[request.reasoning],
            output_reserve=self.settings.output_reserve,
            window=self.settings.context_window,
            cache=cache,
            warmup=warmup,
            system_cache_h=memory.session.system_prompt_h,
            rag_prompt_h=rag_h,
            weak_retrieval=weak,
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
        kept = {r.id for r in chosen}
        return [r for r in records if r.id in kept]  # the scope's own order: canonical, or a collection's
