"""Retrieval over the index: the query embedded once, then dense, BM25 or hybrid search in Qdrant.

Results are page-diverse by default: each of the top ``limit`` chunks spans a page the ones before it do not
(``ingest.local_index.distinct_pages``); ``distinct=False`` gives the plain top ``limit`` chunks. A hybrid search
for a question about a financial statement's lines (``ingest.statements.question_statements``) also ranks the
chunks of that statement's pages, as a third fused list; ``statements=False`` leaves that lane out.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.embed import Embedder
from ingest.sparse import query_vector
from ingest.statements import question_statements
from ingest.store import Hit, SearchMode, Store


def search(store: Store, embedder: Embedder, query: str, *, doc_ids: Sequence[str] | None = None,
           limit: int = 10, mode: SearchMode = "hybrid", distinct: bool = True, statements: bool = True
           ) -> list[Hit]:
    """Top ``limit`` chunks for ``query`` among ``doc_ids`` (default: every ready document), best first."""
    if doc_ids is None:
        doc_ids = [r.id for r in store.list_documents()]
    dense = embedder.embed_query(query) if mode != "bm25" else None
    sparse = query_vector(query) if mode != "dense" else None
    kinds = question_statements(query).kinds if statements and mode == "hybrid" else ()
    return store.search(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode, distinct=distinct,
                        statements=kinds)
