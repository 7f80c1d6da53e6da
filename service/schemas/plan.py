"""The plan of a question: the route, the reason, the need, every estimate and (when priced) the coverage plan."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from folio.service.schemas.common import RetrievedChunk, omitted_when_none

Route = Literal["rag", "full", "coverage"]


class Estimate(BaseModel):
    """One route priced before any model call (``service/plan.py`` has the formulas)."""

    route: Route
    hit_tokens: float
    miss_tokens: float
    output_tokens: int
    dollars: float
    feasible: bool = True
    amortised_dollars: float | None = None
    note: str = ""


class Estimates(BaseModel):
    """rag and full are always priced; coverage only when it can be chosen (mode auto or coverage)."""

    rag: Estimate
    full: Estimate
    coverage: Estimate | None = omitted_when_none("absent when coverage was not priced")


class NeedReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class", description="lookup, exhaustive, comparative, ...")
    cues: list[str]
    explanation: str


class CacheReport(BaseModel):
    """What the ledger says about the scope's prefix."""

    h: float = Field(description="P(the prefix is cached now)")
    followups: float
    last_seen_s: float | None
    observed_hit_ratio: float | None
    requests: int
    retention: float = Field(description="P(a prefix sent now is still cached at the next question)")
    session_questions: int
    mode_split: bool = Field(description="a change of thinking mode missed this prefix before: each mode's "
                             "requests are counted apart")
    retention_evidence: str = Field(description="what the retention was learned from")
    explanation: str


class PlanInputs(BaseModel):
    system_tokens: int
    scope_tokens: int
    question_tokens: int
    retrieved_tokens: int
    output_tokens: int
    output_reserve: int
    window: int
    cache: CacheReport
    system_cache_h: float = Field(description="P(the system prompt is cached): after two questions of the session")
    rag_prompt_h: float = Field(description="P(this very retrieval prompt was sent before and is still cached)")
    warmup: bool
    weak_retrieval: str = Field(default="", description="why retrieval looks weak for this question (dense and "
                                "BM25 barely agree), or empty; auto mode then reads whole documents within the budget")


class CollectionRef(BaseModel):
    """The collection a question or a conversation is scoped to."""

    id: str
    name: str


class DocumentSummary(BaseModel):
    id: str
    title: str
    pages: int
    tokens: int


class Segment(BaseModel):
    """Pages of one document as a coverage window holds them (``pages``: 1-based range)."""

    document_id: str
    title: str
    pages: str
    n_pages: int
    whole: bool
    tokens: int


class DocumentLeftOut(BaseModel):
    id: str
    title: str
    pages: int
    pages_left_out: int
    ranges: str = Field(description="1-based page ranges, e.g. '1-3, 6'")


class WindowPlan(BaseModel):
    window: int
    of: int
    documents: list[Segment]
    pages: int
    tokens: int
    prefix_hash: str
    cache_h: float
    warmup: bool
    estimated_dollars: float
    estimated_hit_tokens: int
    estimated_miss_tokens: int
    retrieval_rank: int | None
    selected: bool


class CoveragePlan(BaseModel):
    """The windows coverage would read, each priced on its own cache state, cut to the budget."""

    windows: int
    windows_within_budget: int
    window_tokens: int
    pages_in_scope: int
    pages_planned: int
    pages_planned_percent: float
    budget_usd: float | None
    budget_cut: bool
    documents_left_out: list[DocumentLeftOut]
    estimated_dollars: float
    estimated_dollars_every_window: float
    cached_windows: int
    warmups: int
    reduce_calls: int
    reduce_tokens: int
    notes: list[str]
    per_window: list[WindowPlan]
    decision: str


class ThreadReport(BaseModel):
    """A conversation turn's prompt: what precedes the question, what of it the provider can have cached, and
    what retrieval searched with."""

    conversation_id: str
    turn: int = Field(description="this turn's number, from 1")
    base: Literal["none", "documents"] = Field(description="the prefix the chosen route builds on: the documents "
                                               "(whole-documents turns) or none (retrieval turns)")
    history_tokens: int = Field(description="tokens of the earlier turns the prompt re-sends")
    turns_in_prompt: int
    turns_dropped: int = Field(description="earlier turns left out of the prompt to fit the window (kept in the "
                               "conversation's record)")
    cached_tokens: int = Field(description="tokens of the previous request on this prefix (its input and answer): "
                               "what this turn can read from the cache")
    cache_h: float = Field(description="P(that prefix is still cached now), from the thread's own usage and gaps")
    new_prefix: bool = Field(description="the route starts a new prefix (first turn, a switch of route, a trim, a "
                             "changed scope): read cold once")
    expected_turns: float = Field(description="further turns expected, from the thread's own pace")
    follow_up: str = Field(description="whether the question leans on the conversation, and why")
    search_query: str = Field(description="what retrieval searched with: the question, or its standalone form")
    rewrite: str = Field(description="how the standalone form was made: 'none' (the question stands alone), "
                         "'expanded' (the previous question prefixed, no model call) or 'model' (rewritten by the "
                         "model: a billed request)")
    rewrite_estimated_dollars: float | None = None


class Plan(BaseModel):
    """The route chosen for a question, why, and what each route would cost."""

    route: Route
    reason: str
    need: NeedReport
    estimates: Estimates
    inputs: PlanInputs
    coverage_reason: str | None = omitted_when_none("why coverage was or was not chosen; 'not priced: ...' when "
                                                    "the mode ruled it out")
    prefix_hash: str
    warmup: bool
    notes: list[str]
    scope: list[DocumentSummary]
    full_scope: list[str]
    collection: CollectionRef | None = omitted_when_none("the collection the scope is (its documents in the order "
                                                         "they joined); absent for a scope of documents")
    coverage: CoveragePlan | None = omitted_when_none("absent when coverage was not priced")
    thread: ThreadReport | None = omitted_when_none("a conversation turn's prompt; absent for one-off questions")


class PlanResponse(BaseModel):
    """``POST /v1/plan``: the plan and the retrieved chunks, without a model call."""

    plan: Plan
    route: Route
    reason: str
    summary: str = Field(default="", description="what the question would read and cost, in one plain sentence "
                         "(service/explain.py)")
    retrieved: list[RetrievedChunk]
    model_configured: bool
