"""A document's record: what Folio knows about one ingested document, apart from its chunks."""

from __future__ import annotations

from pydantic import BaseModel


class DocumentRecord(BaseModel):
    """One document as stored (page texts are loaded only when asked for)."""

    id: str
    file_name: str
    source: str | None = None
    title: str
    format: str
    size_bytes: int
    n_pages: int
    n_chunks: int = 0
    total_tokens: int
    page_tokens: list[int]
    status: str
    ingested_at: str
    embed_model: str
    # What computed its vectors ('torch-fp32', 'onnx-int8', ...; ``folio.ingest.embed.backend_of``); None on a
    # record written before it was recorded, when torch was the only backend.
    embed_backend: str | None = None
    virtual_pages: bool = False
    page_starts: list[int] = []
    # OCR (ingest/ocr.py): 0-based pages whose text was read by OCR, each one's mean word confidence (0-100),
    # the word-weighted mean over them, and the pages under the confidence floor, whose text is not indexed.
    ocr_pages: list[int] = []
    ocr_confidence: list[float] = []
    ocr_mean_confidence: float | None = None
    ocr_low_confidence_pages: list[int] = []
    # The tenant that owns it (service/access.py); records written before tenants existed are "default".
    tenant: str = "default"
    # The primary financial statements among its pages (ingest/statements.py): kind -> 0-based pages; None on a
    # record written before statements were tagged (``folio.records.migration`` fills it in).
    statement_pages: dict[str, list[int]] | None = None
    # contract, filing or other (ingest/genre.py): how retrieval weighs BM25 against dense; None: not yet tagged.
    genre: str | None = None
    # What ingestion ignored or could not read: JavaScript or embedded files in a PDF, pages OCR failed on.
    warnings: list[str] = []
    pages: list[str] | None = None
