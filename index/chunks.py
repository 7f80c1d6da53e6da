"""The chunk collection in Qdrant, as both implementations write it: batched upserts, deletes by document,
counts, scrolls and the statement tags. ``ServerChunks`` (``folio.index.server``) and ``LocalChunks``
(``folio.index.local``) add how each one searches and which payload indexes it makes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from folio.index.protocol import ChunkPoint, Hit, SearchMode, StoredChunk
from folio.index.query import query_qdrant
from folio.index.retry import Qdrant
from folio.index.schema import (
    DENSE,
    SPARSE,
    chunk_point_id,
    collection_idf,
    drop_collection_idf,
    ensure_chunk_collection,
)
from folio.index.sparse import SparseVector

# the most documents ``documents`` lists (Qdrant's facet counts values up to a limit)
MAX_DOCUMENTS = 10_000_000


def doc_filter(doc_id: str) -> Any:
    """The payload filter for one document's chunks."""
    from qdrant_client import models

    return models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))])


def stored_chunk(point_id: Any, payload: Mapping[str, Any] | None, vectors: Any) -> StoredChunk:
    """A point read back from Qdrant (qdrant-client or Qdrant Edge) as a ``StoredChunk``."""
    named: Mapping[str, Any] = vectors or {}
    sparse = named.get(SPARSE)
    return StoredChunk(id=str(point_id), payload=dict(payload or {}),
                       dense=np.asarray(named[DENSE], dtype=np.float32),
                       sparse=SparseVector(list(sparse.indices), list(sparse.values)) if sparse is not None
                       else SparseVector([], []))


class QdrantChunks:
    """What both implementations of ``ChunkIndex`` share: every write, delete and read that is the same."""

    keywords: tuple[str, ...] = ()  # payload fields indexed as the collection is made

    def __init__(self, qdrant: Qdrant, name: str, *, shards: int = 1, replicas: int = 1) -> None:
        self.qdrant = qdrant
        self.name = name
        self.shards = shards
        self.replicas = replicas

    def ensure(self, dim: int) -> None:
        ensure_chunk_collection(self.qdrant, self.name, dim, shards=self.shards, replicas=self.replicas,
                                keywords=self.keywords)

    def exists(self) -> bool:
        return bool(self.qdrant.call("collection check", lambda: self.qdrant.client.collection_exists(self.name)))

    def upsert(self, doc_id: str, points: Sequence[ChunkPoint]) -> None:
        from qdrant_client import models

        structs = [models.PointStruct(
            id=chunk_point_id(doc_id, p.chunk_index),
            vector={DENSE: p.dense.tolist(),
                    SPARSE: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values)},
            payload=p.payload(doc_id)) for p in points]
        self.qdrant.call("write", lambda: self.qdrant.client.upsert(self.name, structs, wait=True), retries=4)

    def delete(self, doc_id: str) -> None:
        from qdrant_client import models

        if not self.exists():
            return
        self.qdrant.call("delete", lambda: self.qdrant.client.delete(
            self.name, points_selector=models.FilterSelector(filter=doc_filter(doc_id)), wait=True))

    def count(self, doc_id: str | None = None) -> int:
        if not self.exists():
            return 0
        flt = None if doc_id is None else doc_filter(doc_id)
        result = self.qdrant.call("count", lambda: self.qdrant.client.count(self.name, count_filter=flt, exact=True))
        return int(result.count)

    def documents(self) -> set[str]:
        if not self.exists():
            return set()
        result = self.qdrant.call("read", lambda: self.qdrant.client.facet(
            self.name, key="doc_id", limit=MAX_DOCUMENTS, exact=True))
        return {str(hit.value) for hit in result.hits}

    def chunk_terms(self, doc_id: str) -> Iterator[list[int]]:
        for point in self.qdrant.scroll(self.name, doc_filter(doc_id), False, [SPARSE]):
            vector = (point.vector or {}).get(SPARSE)
            yield list(vector.indices) if vector is not None else []

    def collection_idf(self) -> bool:
        return self.exists() and collection_idf(self.qdrant, self.name)

    def drop_collection_idf(self) -> None:
        drop_collection_idf(self.qdrant, self.name)

    def spans(self, doc_id: str) -> Iterator[tuple[Any, int, int]]:
        for point in self.qdrant.scroll(self.name, doc_filter(doc_id), ["first_page", "last_page"]):
            p = point.payload or {}
            yield point.id, int(p["first_page"]), int(p["last_page"])

    def stored(self, doc_id: str | None = None) -> Iterator[StoredChunk]:
        if not self.exists():
            return
        flt = None if doc_id is None else doc_filter(doc_id)
        for point in self.qdrant.scroll(self.name, flt, True, [DENSE, SPARSE]):
            yield stored_chunk(point.id, point.payload, point.vector)

    def prepare_statement_tags(self) -> None:
        pass

    def warm(self) -> None:
        pass

    def tag_statements(self, groups: Mapping[tuple[str, ...], Sequence[Any]]) -> None:
        with self.qdrant.lock:
            for kinds, ids in groups.items():
                self.qdrant.call("write", lambda k=kinds, i=ids: self.qdrant.client.set_payload(  # type: ignore[misc]
                    self.name, {"statements": list(k)}, points=list(i), wait=True))

    def search(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
               limit: int = 10, mode: SearchMode = "hybrid", candidates: int | None = None, distinct: bool = True,
               statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]:
        """Top chunks of the given (ready) documents: dense, BM25, or both fused by reciprocal rank.

        ``distinct`` (the default): the page-diverse top ``limit``, each result adding a page the ones before it do
        not span (``folio.index.memory.distinct_pages``); otherwise the plain top ``limit`` chunks.
        ``statements`` (hybrid only): financial statement kinds the question asks about
        (``folio.retrieval.statement_lane``); the chunks of those statements' pages, ranked by dense similarity, join
        the fusion as a third list. ``bm25_weight`` (hybrid only): BM25's weight in the fusion (Qdrant's weighted
        RRF), dense's being 1. ``candidates``: each ranked list's depth (default: 4 x ``limit``, at least 20).
        """
        if not doc_ids or not self.exists():
            return []
        pool = candidates or max(limit * 4, 20)
        return self.ranked(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode, pool=pool,
                           distinct=distinct, statements=statements, bm25_weight=bm25_weight)

    def ranked(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str], limit: int,
               mode: SearchMode, pool: int, distinct: bool, statements: Sequence[str],
               bm25_weight: float) -> list[Hit]:
        """The search itself, each list ``pool`` deep: Qdrant's Query API here; an implementation may differ."""
        return self.search_qdrant(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode, pool=pool,
                                  distinct=distinct, statements=statements, bm25_weight=bm25_weight)

    def search_qdrant(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
                      limit: int, mode: SearchMode, pool: int, distinct: bool = True,
                      statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]:
        """The search as Qdrant's Query API runs it (``folio.index.query``)."""
        return query_qdrant(self.qdrant, self.name, dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit,
                            mode=mode, pool=pool, distinct=distinct, statements=statements, bm25_weight=bm25_weight)
