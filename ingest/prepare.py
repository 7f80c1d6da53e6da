"""The CPU-only half of ingestion for one file: parse, normalise, count tokens, chunk.

It runs in a worker process (``ingest.pipeline``) so that parsing the next file overlaps with embedding
the current one, and so that a parser crash on a hostile file cannot take the batch down.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from functools import lru_cache

from folio.ingest.chunk import Chunk, Chunker
from folio.ingest.embed import model_tokenizer, model_window
from folio.ingest.genre import document_genre
from folio.ingest.normalize import normalize_pages
from folio.ingest.parse import ParseLimits, parse_bytes
from folio.ingest.statements import document_statements
from folio.ingest.titles import choose_title
from folio.ingest.tokens import deepseek_counter

BUNDLED_TOKENIZER_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ChunkParams:
    model: str
    chunk_tokens: int
    overlap: int
    heading_tokens: int


@dataclass
class PreparedDocument:
    id: str
    file_name: str
    title: str
    format: str
    size_bytes: int
    pages: list[str]
    page_tokens: list[int]
    chunks: list[Chunk]
    virtual_pages: bool
    warnings: list[str] = field(default_factory=list)
    statement_pages: dict[str, list[int]] = field(default_factory=dict)  # financial statement kind -> pages
    genre: str = "other"  # contract, filing or other (ingest/genre.py)
    prepare_s: float = 0.0  # wall time of ``prepare`` itself (in the worker, not counting its wait in the queue)

    @property
    def total_tokens(self) -> int:
        return sum(self.page_tokens)


def content_id(data: bytes) -> str:
    """A document's id: the SHA-256 of its bytes, so the same bytes are always one document."""
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=4)
def _chunker(params: ChunkParams) -> Chunker:
    model = BUNDLED_TOKENIZER_MODEL if params.model.startswith("hash-") else params.model
    return Chunker(model_tokenizer(model), chunk_tokens=params.chunk_tokens, overlap=params.overlap,
                   heading_tokens=params.heading_tokens, window=model_window(model))


def prepare(name: str, data: bytes, params: ChunkParams, max_bytes: int | None = None,
            limits: ParseLimits | None = None) -> PreparedDocument:
    """Everything about a file that needs no model: raises an ``InputError`` for bad input (``limits``: what
    parsing it may cost, by default the settings')."""
    started = time.perf_counter()
    parsed = parse_bytes(name, data, max_bytes=max_bytes, limits=limits)
    pages = normalize_pages(parsed.pages)
    page_tokens = deepseek_counter().count_many(pages)
    chunks = _chunker(params).split(pages)
    title = choose_title(parsed.title, pages, name)
    statement_pages = document_statements(pages)
    return PreparedDocument(
        id=content_id(data), file_name=name, title=title, format=parsed.format, size_bytes=len(data),
        pages=pages, page_tokens=page_tokens, chunks=chunks, virtual_pages=parsed.virtual_pages,
        warnings=parsed.warnings, statement_pages=statement_pages, genre=document_genre(pages, statement_pages),
        prepare_s=time.perf_counter() - started,
    )
