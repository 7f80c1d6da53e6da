"""``POST /v1/query`` and ``POST /v1/plan``: the question and how to answer it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class QueryRequest(BaseModel):
    question: str = Field(min_length=1, max_length=1_000_000, description="At most FOLIO_MAX_QUESTION_CHARS")
    documents: list[str] | None = Field(default=None, description="Document ids (or unique prefixes); default: all")
    collection: str | None = Field(default=None, description="A collection's id or name: the scope is its ready "
                                   "documents in the order they joined (not with documents: 422 scope_conflict)")
    mode: Literal["auto", "rag", "full", "coverage"] = Field(
        default="auto", description="coverage: every page, read in cached windows (map-reduce) when the scope is "
        "larger than one context")
    max_cost_usd: float | None = Field(
        default=None, ge=0, description="A hard cap on what this question may cost now, whatever the mode: a request "
        "whose route is estimated over it is refused (error over_budget, HTTP 422) before anything is spent, unless "
        "fallback allows a cheaper route. Auto mode chooses within it (default FOLIO_MAX_COST_USD, a preference "
        "for auto mode only)")
    fallback: bool = Field(
        default=False, description="When the requested mode is estimated over max_cost_usd, answer by retrieval if "
        "that is within it (the plan's reason says so) instead of refusing")
    lookup_premium_usd: float | None = Field(
        default=None, ge=0, description="Extra dollars per question worth paying for whole documents on a lookup "
        "question (default FOLIO_LOOKUP_PREMIUM_USD)")
    reasoning: Literal["none", "high", "max"] = "none"
    stream: bool = False
    cascade: bool = Field(default=False, description="Self-Route: rag first, full when the chunks cannot answer")
    warm: bool | None = Field(default=None, description="Prime the cache before a cold full-context question")
