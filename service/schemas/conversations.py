"""Conversations (``/v1/conversations``): threads of questions over a scope, each turn answered with the earlier
turns in its prompt and read from the provider's cache."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from folio.service.schemas.answer import Answer
from folio.service.schemas.common import omitted_when_none
from folio.service.schemas.plan import CollectionRef

TITLE_MAX = 200


class ConversationCreate(BaseModel):
    title: str | None = Field(default=None, max_length=TITLE_MAX,
                              description="default: the first question, once it is asked")
    documents: list[str] | None = Field(default=None, description="document ids (or unique prefixes) the "
                                        "conversation asks about; default: every ready document, as it changes")
    collection: str | None = Field(default=None, description="a collection's id or name: the conversation follows "
                                   "it (a document added to it later joins the end of the scope at the next turn, a "
                                   "removed one leaves it); not with documents (422 scope_conflict)")


class ConversationPatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    documents: list[str] | None = Field(default=None, description="the new scope; null: every ready document. "
                                        "Left out: unchanged")
    collection: str | None = Field(default=None, description="follow this collection (id or name) instead; not "
                                   "with documents")


class ScopeDocument(BaseModel):
    id: str
    title: str
    deleted: bool = Field(default=False, description="deleted since it was put in the scope")


class ConversationSummary(BaseModel):
    """A conversation as lists show it."""

    id: str
    title: str
    created: float = Field(description="Unix time")
    updated: float = Field(description="Unix time of the last activity")
    turns: int
    dollars: float = Field(description="every request of its turns, at the prices billed")
    scope: Literal["all", "documents", "collection"]
    documents: list[ScopeDocument] = Field(description="the scope's documents (scope 'all': every ready one now; "
                                           "'collection': its documents as of the last turn, in the order they "
                                           "joined)")
    collection: CollectionRef | None = omitted_when_none("the collection it follows (scope 'collection')")
    route: Literal["rag", "full", "coverage"] | None = Field(description="the last turn's route")
    last_question: str | None


class ConversationList(BaseModel):
    conversations: list[ConversationSummary]
    total: int


class Turn(BaseModel):
    """One turn: the question, the standalone form retrieval searched with, and the answer with its plan, route,
    reason, estimates, usage, dollars, checked citations and events."""

    n: int
    created: float
    question: str
    search_query: str
    rewrite: Literal["none", "expanded", "model"]
    dollars: float
    answer: Answer


class ConversationDetail(ConversationSummary):
    history: list[Turn] = Field(description="every turn, oldest first")
    cache: str = Field(description="what the provider can have cached of the thread, in words")


class PatchResult(BaseModel):
    conversation: ConversationSummary
    cache: str = Field(description="what the change does to the thread's cache")


class ConversationDeleted(BaseModel):
    deleted: str
    turns: int


class TurnRequest(BaseModel):
    """``POST /v1/conversations/{id}/messages``: the next question, with ``/v1/query``'s options."""

    question: str = Field(min_length=1, max_length=1_000_000, description="At most FOLIO_MAX_QUESTION_CHARS")
    mode: Literal["auto", "rag", "full", "coverage"] = "auto"
    max_cost_usd: float | None = Field(default=None, ge=0, description="a hard cap on what this turn may cost now "
                                       "(see /v1/query)")
    fallback: bool = False
    lookup_premium_usd: float | None = Field(default=None, ge=0)
    reasoning: Literal["none", "high", "max"] = "none"
    stream: bool = False
    cascade: bool = Field(default=False, description="Self-Route: rag first, full when the chunks cannot answer")
    warm: bool | None = None
    estimate_only: bool = Field(default=False, description="plan the turn without calling the model or recording "
                                "it")


class TurnResult(BaseModel):
    """A turn's answer, and the conversation after it."""

    conversation_id: str
    turn: int = Field(description="the turn's number (for an estimate, the number it would have)")
    recorded: bool = Field(description="false for an estimate, or when no model is configured")
    search_query: str
    rewrite: Literal["none", "expanded", "model"]
    summary: str = Field(description="the answer's summary: why this route and what it cost, in one sentence")
    answer: Answer
    conversation: ConversationSummary
    cache: str = Field(description="what the provider can have cached of the thread now, in words")
