"""The OpenAI-compatible shim's answers (``/v1/models``, ``/v1/chat/completions``), with Folio's extra ``folio``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from folio.service.schemas.answer import AnswerEvent, CoverageReport
from folio.service.schemas.common import Citation, Cost, RetrievedChunk, Usage, omitted_when_none
from folio.service.schemas.plan import DocumentSummary, Estimates


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "folio"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class PromptTokensDetails(BaseModel):
    cached_tokens: int


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int


class ChatUsage(BaseModel):
    """OpenAI's usage, with the cache hits as OpenAI reports them and as DeepSeek does."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails
    prompt_cache_hit_tokens: int
    prompt_cache_miss_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ConversationRef(BaseModel):
    """The conversation a chat request was a turn of, and how it was found."""

    id: str
    turn: int
    matched: bool = True  # False: earlier messages were sent that match no conversation (see note)
    note: str = ""
    recorded: bool | None = None  # the turn was added to the conversation (None: not answered yet)
    dollars: float | None = None  # the conversation's dollars so far


class FolioExtra(BaseModel):
    """What the chat format has no place for: route, reason, estimates, cost, citations, events."""

    route: str
    reason: str
    mode: str
    model: str | None
    estimates: Estimates
    cost: Cost | None
    usage: Usage | None
    citations: list[Citation]
    events: list[AnswerEvent]
    scope: list[DocumentSummary]
    answered: bool
    conversation: ConversationRef | None = omitted_when_none("the conversation this request was a turn of")
    coverage: CoverageReport | None = omitted_when_none()
    message: str | None = omitted_when_none()
    retrieved: list[RetrievedChunk] | None = omitted_when_none()


class ChatCompletion(BaseModel):
    id: str
    created: int
    model: str
    object: Literal["chat.completion"] = "chat.completion"
    system_fingerprint: None = None
    choices: list[Choice]
    usage: ChatUsage
    folio: FolioExtra
