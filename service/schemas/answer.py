"""The answer to a question, and the coverage report of a map-reduce answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from folio.service.schemas.common import Citation, Cost, RetrievedChunk, Usage, omitted_when_none
from folio.service.schemas.plan import DocumentLeftOut, Plan, Route, Segment

# How an answer reports its progress as it goes: ``emit(kind, data)`` ("plan", "warmup", "window", "delta",
# ...); the API streams each as a server-sent event of that name.
Emit = Callable[[str, "dict[str, Any] | BaseModel"], None]


class AnswerEvent(BaseModel):
    """Something that happened on the way: fallback, escalation, no_escalation, truncated, window_failed,
    budget_cut."""

    model_config = ConfigDict(populate_by_name=True)

    kind: str
    from_: str | None = omitted_when_none(alias="from")
    to: str | None = omitted_when_none()
    window: int | None = omitted_when_none()
    of: int | None = omitted_when_none()
    reason: str


class WindowReport(BaseModel):
    """One coverage window as it was read."""

    window: int
    of: int
    status: Literal["found", "nothing", "failed", "skipped"]
    documents: list[Segment]
    pages: int
    tokens: int
    warmed_up: bool
    attempts: int
    hit_tokens: int
    miss_tokens: int
    output_tokens: int
    cache_hit_ratio: float | None
    dollars: float
    estimated_dollars: float
    seconds: float
    error: str | None
    findings: str | None
    citations: list[Citation]


class WindowFailure(BaseModel):
    window: int
    attempts: int
    error: str | None


class ReduceReport(BaseModel):
    rounds: int
    calls: int
    dollars: float
    hit_tokens: int
    miss_tokens: int
    output_tokens: int
    reasoning_tokens: int


class CoverageReport(BaseModel):
    """What a coverage answer read: pages, windows, cache hits, dollars, and what it left out."""

    windows: int
    windows_read: int
    window_tokens: int
    pages_in_scope: int
    pages_sent: int
    pages_sent_percent: float
    complete: bool
    budget_usd: float | None
    budget_cut: bool
    documents_left_out: list[DocumentLeftOut]
    windows_found_nothing: list[int]
    windows_failed: list[WindowFailure]
    windows_retried: list[int]
    cache_hit_tokens: int
    cache_miss_tokens: int
    cache_hit_ratio: float | None
    map_dollars: float
    reduce: ReduceReport
    dollars: float
    estimated_dollars: float
    seconds: float
    concurrency: int
    note: str
    per_window: list[WindowReport]


class Answer(BaseModel):
    """``POST /v1/query``: the answer with its route, plan, checked citations, usage and cost. Without a model
    configured: ``answer`` is null and ``message`` says how to configure one."""

    question: str
    route: Route
    reason: str
    summary: str = Field(default="", description="why this route and what it cost, in one plain sentence "
                         "(service/explain.py); the numbers are in the other fields")
    plan: Plan
    retrieved: list[RetrievedChunk]
    answer: str | None = None
    citations: list[Citation] = []
    events: list[AnswerEvent] = []
    usage: Usage | None = None
    cost: Cost | None = None
    model: str | None = None
    message: str | None = omitted_when_none("why there is no answer (no model configured)")
    coverage: CoverageReport | None = omitted_when_none("the coverage report, when the coverage route answered")
