"""Documents (records, pages, deletions) and ingestion jobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from folio.service.schemas.common import ErrorInfo, omitted_when_none


class QuestionCost(BaseModel):
    """What one reference question on this document alone would cost, priced by the plan's own formulas, by
    route and cache state ("full_cold" includes the warm-up the plan would send)."""

    full_cold: float
    full_cached: float
    rag: float
    warmup: bool = Field(description="whether the cold price includes a cache warm-up request")
    question_tokens: int = Field(description="the reference question's tokens")
    output_tokens: int = Field(description="the answer's expected tokens")
    system_tokens: int = Field(description="the system prompt's tokens")
    profile: str


class Document(BaseModel):
    """A document's record (pages 0-based), without its page texts."""

    id: str
    file_name: str
    title: str
    format: str
    size_bytes: int
    n_pages: int
    n_chunks: int
    total_tokens: int
    page_tokens: list[int]
    status: str = Field(description="ready, writing or deleting")
    ingested_at: str
    embed_model: str
    virtual_pages: bool
    page_starts: list[int]
    ocr_pages: list[int]
    ocr_confidence: list[float]
    ocr_mean_confidence: float | None
    ocr_low_confidence_pages: list[int]
    statement_pages: dict[str, list[int]] | None
    genre: str | None
    warnings: list[str]
    scope_tokens: int
    question_cost_usd: QuestionCost


class DocumentList(BaseModel):
    documents: list[Document]


class PageBox(BaseModel):
    """A rectangle on the page as printed, 0..1 of its width and height from its top-left corner."""

    x: float
    y: float
    width: float
    height: float


class Page(BaseModel):
    document_id: str
    title: str
    page: int = Field(description="1-based")
    pages: int
    tokens: int
    text: str
    printed: bool = Field(default=False, description="the page can be shown as printed: /image answers (a PDF "
                          "whose original file was kept)")
    quote: str | None = Field(default=None, description="the quote asked for (the request's `quote`)")
    boxes: list[PageBox] = Field(default_factory=list, description="where the quote is on the printed page, one box "
                                 "per line it covers; empty when it is not there (or no quote was asked for)")
    boxes_source: Literal["text_layer", "ocr", "none"] | None = Field(
        default=None, description="where the boxes came from: the PDF's text layer, Tesseract's words on the "
        "rendered page (an OCR'd page), or none (no printed page); null without a quote")
    boxes_error: ErrorInfo | None = omitted_when_none("why the boxes could not be found (the page took too long "
                                                      "to read, say); the text above still holds")


class Deleted(BaseModel):
    deleted: str = Field(description="the document's full id")
    title: str


class Job(BaseModel):
    """An upload's ingestion job."""

    id: str
    file: str
    size_bytes: int
    status: str = Field(description="queued, parsing, embedding, done, skipped or failed")
    stage: str
    pages: int
    chunks_total: int
    chunks_done: int
    progress: float
    pages_per_s: float | None = omitted_when_none("how fast its pages were parsed (and OCR'd), once they were")
    chunks_per_s: float | None = omitted_when_none("how fast its chunks are being embedded, while they are")
    document_id: str | None
    error: ErrorInfo | None
    warnings: list[str]
    created: float
    finished: float | None
    worker: str
    request_id: str | None
    tenant: str
    collection: str | None = omitted_when_none("the id of the collection its document joins when ready")


class JobList(BaseModel):
    """The jobs of an upload (or the recent ones); a single file that failed adds its ``error``."""

    error: ErrorInfo | None = omitted_when_none("a single file that failed: the failure, with the file")
    jobs: list[Job]
