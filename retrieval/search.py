"""Retrieval over the index: the query embedded once, then dense, BM25 or hybrid search of the chunk index.

Results are page-diverse by default: each of the top ``limit`` chunks spans a page the ones before it do not
(``folio.index.memory.distinct_pages``); ``distinct=False`` gives the plain top ``limit`` chunks. A hybrid search
for a question about a financial statement's lines (``folio.retrieval.statement_lane``) also ranks the chunks of
that statement's pages, as a third fused list; ``statements=False`` leaves that lane out.

Hybrid search weighs its rankings by the scope's genre (``folio.ingest.genre``): when every document is a contract,
BM25 counts ``CONTRACT_BM25_WEIGHT`` times as much as dense (Qdrant's weighted reciprocal-rank fusion), since a
clause is found by its words; otherwise both count alike. Measured side by side on cuad-dev's non-trivial
categories (bench/results/eval-2026-11-28-retrieval-levers.md): recall@5 0.886 -> 0.902, and never lower on
either half of the contracts or on the other chunkings; on filings a BM25 weight above 1.5 loses questions.
``genre_weights=False`` fuses with equal weights everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from folio.index.protocol import Hit, SearchMode
from folio.index.sparse import SparseVector, query_vector
from folio.records.model import DocumentRecord
from folio.retrieval.statement_lane import question_statements

CONTRACT_BM25_WEIGHT = 3.0


class QueryEmbedder(Protocol):
    """What search needs of an embedder (``folio.ingest.embed.Embedder`` is one)."""

    def embed_query(self, text: str) -> np.ndarray: ...


class Searchable(Protocol):
    """What search needs of the store (``folio.ingest.store.Store`` is one): the ready documents, and a search of
    their chunks (``folio.index.ChunkIndex.search``)."""

    def list_documents(self, *, status: str | None = "ready", tenant: str | None = None) -> list[DocumentRecord]:
        ...

    def search(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
               limit: int = 10, mode: SearchMode = "hybrid", candidates: int | None = None, distinct: bool = True,
               statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]: ...


def bm25_weight(genres: Iterable[str | None]) -> float:
    """BM25's weight in the hybrid fusion of a scope whose documents have these genres."""
    genres = list(genres)
    return CONTRACT_BM25_WEIGHT if genres and all(g == "contract" for g in genres) else 1.0


def search(store: Searchable, embedder: QueryEmbedder, query: str, *, doc_ids: Sequence[str] | None = None,
           limit: int = 10, mode: SearchMode = "hybrid", distinct: bool = True, statements: bool = True,
           records: Sequence[DocumentRecord] | None = None, genre_weights: bool = True) -> list[Hit]:
    """Top ``limit`` chunks for ``query`` among ``doc_ids`` (default: every ready document), best first.

    ``records``: the ready documents' records, when the caller has them (else they are listed here), for the
    scope's genres."""
    if records is None:
        records = store.list_documents()
    if doc_ids is None:
        doc_ids = [r.id for r in records]
    dense = embedder.embed_query(query) if mode != "bm25" else None
    sparse = query_vector(query) if mode != "dense" else None
    kinds = question_statements(query).kinds if statements and mode == "hybrid" else ()
    scope = set(doc_ids)
    weight = bm25_weight(r.genre for r in records if r.id in scope) if genre_weights else 1.0
    return store.search(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode, distinct=distinct,
                        statements=kinds, bm25_weight=weight)
