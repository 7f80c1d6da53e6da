"""``POST /v1/search``: the chunks that best match a query (the fields of ``folio search --json``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SearchHit(BaseModel):
    """A chunk (pages 0-based, character offsets in the document's text)."""

    doc_id: str
    chunk_index: int
    first_page: int
    last_page: int
    start: int
    end: int
    heading: str | None
    text: str
    score: float = Field(description="dense: the cosine similarity of the query and the chunk; bm25: BM25 over the "
                         "documents searched (their own term statistics only: no other document or tenant moves "
                         "it); hybrid: the reciprocal-rank fusion score, which says only how high the chunk ranked "
                         "in each list")
    title: str | None


class SearchResults(BaseModel):
    query: str
    mode: Literal["hybrid", "dense", "bm25"]
    hits: list[SearchHit] = Field(description="best first")
