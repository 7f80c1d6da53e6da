"""Parts shared by several answers: usage, cost, a checked citation, a retrieved chunk, an error."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _is_none(value: Any) -> bool:
    return value is None


def omitted_when_none(description: str = "", *, alias: str | None = None) -> Any:
    """A field that is left out of the JSON when it is None (the API has always omitted it then)."""
    return Field(default=None, exclude_if=_is_none, description=description or None, alias=alias)


class Usage(BaseModel):
    """Tokens the provider billed, input split into cache hits and misses; output includes reasoning."""

    hit_tokens: int = 0
    miss_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0


class Cost(BaseModel):
    """What a question cost at the pricing profile's prices, beside what the plan estimated."""

    dollars: float
    estimated_dollars: float
    profile: str
    prices_as_of: str


class Citation(BaseModel):
    """A ``[TITLE p.N]`` citation in an answer, matched to a document, its quote checked against the page."""

    label: str
    title: str
    page: int = Field(description="1-based, as cited")
    last_page: int
    document_id: str | None
    quote: str | None
    verified: bool | None = Field(description="None: nothing quoted to check")
    note: str = ""


class RetrievedChunk(BaseModel):
    """A chunk retrieval found for the question (pages 0-based)."""

    document_id: str
    title: str | None
    first_page: int
    last_page: int
    heading: str | None
    score: float
    text: str


class ErrorInfo(BaseModel):
    """An error as the API reports it: a stable code and a message (and the file or document it concerns)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
