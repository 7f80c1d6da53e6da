"""Retrieval over the index: the query embedded once, then dense, BM25 or hybrid search in Qdrant.

Results are page-diverse by default: each of the top ``limit`` chunks spans a page the ones before it do not
(``ingest.local_index.distinct_pages``); ``distinct=False`` gives the plain top ``limit`` chunks. A hybrid search
for a question about a financial statement's lines (``ingest.statements.question_statements``) also ranks the
chunks of that statement's pages, as a third fused list; ``statements=False`` leaves that lane out.

Hybrid search weighs its rankings by the scope's genre (``ingest.genre``): when every document is a contract,
BM25 counts ``CONTRACT_BM25_WEIGHT`` times as much as dense (Qdrant's weighted reciprocal-rank fusion), since a
clause is found by its words; otherwise both count alike. Measured side by side on cuad-dev's non-trivial
categories (bench/results/eval-2026-11-28-retrieval-levers.md): recall@5 0.886 -> 0.902, and never lower on
either half of the contracts or on the other chunkings; on filings a BM25 weight above 1.5 loses questions.
``genre_weights=False`` fuses with equal weights everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from folio.ingest.embed import Embedder
from folio.ingest.sparse import query_vector
from folio.ingest.statements import question_statements
from folio.ingest.store import DocumentRecord, Hit, SearchMode, Store

CONTRACT_BM25_WEIGHT = 3.0


def bm25_weight(genres: Iterable[str | None]) -> float:
    """BM25's weight in the hybrid fusion of a scope whose documents have these genres."""
    genres = list(genres)
    return CONTRACT_BM25_WEIGHT if genres and all(g == "contract" for g in genres) else 1.0


def search(store: Store, embedder: Embedder, query: str, *, doc_ids: Sequence[str] | None = None,
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
