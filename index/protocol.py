"""What the chunk index offers, whichever Qdrant holds it: the ``ChunkIndex`` protocol, the ``ChunkPoint`` it
writes, the ``StoredChunk`` it reads back and the ``Hit`` a search returns. ``folio.index.edge``,
``folio.index.local`` and ``folio.index.server`` implement it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from folio.index.sparse import SparseVector

SearchMode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class ChunkPoint:
    """One chunk as the index stores it: where it sits in its document, its text, its two vectors, and the
    financial statement kinds of the pages it spans (``statements``, for the search's statement lane)."""

    chunk_index: int
    first_page: int
    last_page: int
    start: int
    end: int
    heading: str | None
    text: str
    dense: np.ndarray
    sparse: SparseVector
    statements: Sequence[str] = ()

    def payload(self, doc_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"doc_id": doc_id, "chunk_index": self.chunk_index, "first_page": self.first_page,
                               "last_page": self.last_page, "start": self.start, "end": self.end,
                               "heading": self.heading, "text": self.text}
        if self.statements:
            out["statements"] = list(self.statements)
        return out


@dataclass(frozen=True)
class Hit:
    """A chunk a search found, with its score (cosine, BM25, or reciprocal-rank fusion)."""

    doc_id: str
    chunk_index: int
    first_page: int
    last_page: int
    start: int
    end: int
    heading: str | None
    text: str
    score: float


@dataclass(frozen=True)
class StoredChunk:
    """A chunk point as the index holds it: its id, payload (``ChunkPoint.payload``) and both vectors."""

    id: str
    payload: dict[str, Any]
    dense: np.ndarray
    sparse: SparseVector


def hit(payload: Mapping[str, Any], score: float) -> Hit:
    """The ``Hit`` for a chunk point's payload."""
    return Hit(doc_id=payload["doc_id"], chunk_index=payload["chunk_index"], first_page=payload["first_page"],
               last_page=payload["last_page"], start=payload["start"], end=payload["end"],
               heading=payload.get("heading"), text=payload["text"], score=score)


class ChunkIndex(Protocol):
    """The chunk collection: its schema, writes, deletes, scrolls and searches."""

    name: str

    def ensure(self, dim: int) -> None:
        """Make the collection for ``dim``-dimensional dense vectors, or check the one there has that size."""

    def exists(self) -> bool:
        """Whether the collection exists (nothing was ever ingested, if not)."""

    def upsert(self, doc_id: str, points: Sequence[ChunkPoint]) -> None:
        """Write a batch of a document's chunks (retried on a server; the same ids overwrite)."""

    def delete(self, doc_id: str) -> None:
        """Remove every chunk of a document."""

    def count(self, doc_id: str | None = None) -> int:
        """How many chunks (of one document, if given) the collection holds."""

    def documents(self) -> set[str]:
        """The ids of the documents that have chunks in the collection."""

    def chunk_terms(self, doc_id: str) -> Iterator[list[int]]:
        """The BM25 term indices of each chunk of a document (the terms its sparse vector holds)."""

    def collection_idf(self) -> bool:
        """Whether the collection still scores BM25 with Qdrant's collection-wide IDF (made by an older Folio)."""

    def drop_collection_idf(self) -> None:
        """Score BM25 by a plain dot product from now on (the query carries the scope's IDF)."""

    def spans(self, doc_id: str) -> Iterator[tuple[Any, int, int]]:
        """``(point id, first page, last page)`` of each chunk of a document."""

    def stored(self, doc_id: str | None = None) -> Iterator[StoredChunk]:
        """Every chunk point (of one document, if given) as it is stored: for copying an index and for checks."""

    def prepare_statement_tags(self) -> None:
        """Get ready for ``tag_statements`` on a collection made before the statement lane existed."""

    def tag_statements(self, groups: Mapping[tuple[str, ...], Sequence[Any]]) -> None:
        """Set the ``statements`` payload: statement kinds -> the ids of the chunk points on their pages."""

    def warm(self) -> None:
        """Read now what searches need in memory, if anything (a service starting up)."""

    def search(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
               limit: int = 10, mode: SearchMode = "hybrid", candidates: int | None = None, distinct: bool = True,
               statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]:
        """Top chunks of the given documents: dense, BM25, or both fused by reciprocal rank (``Store.search``)."""
