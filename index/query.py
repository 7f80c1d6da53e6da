"""A search as Qdrant's Query API runs it: dense, BM25, or both prefetched and fused by reciprocal rank, with the
statement lane as a third prefetch. The server's search, and in local mode the reference the in-memory index
(``folio.index.memory``) is held to by tests and benchmarks.

With ``distinct``, Qdrant ranks ``candidate_depth`` chunks and the page-diverse top ``limit`` is picked from them
here, by the same function as the in-memory index (``distinct_pages``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from folio.index.memory import candidate_depth, distinct_pages
from folio.index.protocol import Hit, SearchMode, hit
from folio.index.retry import Qdrant
from folio.index.schema import DENSE, SPARSE
from folio.index.sparse import SparseVector


def query_qdrant(qdrant: Qdrant, collection: str, *, dense: np.ndarray | None, sparse: SparseVector | None,
                 doc_ids: Sequence[str], limit: int, mode: SearchMode, pool: int, distinct: bool = True,
                 statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]:
    """Top ``limit`` chunks of ``doc_ids`` in ``collection``; ``pool``: each prefetch's depth."""
    from qdrant_client import models

    flt = models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(doc_ids)))])
    dense_q = dense.tolist() if dense is not None else None
    sparse_q = models.SparseVector(indices=sparse.indices, values=sparse.values) if sparse else None
    if mode == "bm25" and (sparse_q is None or not sparse_q.indices):
        return []
    if mode == "dense" or (mode == "hybrid" and (sparse_q is None or not sparse_q.indices)):
        mode = "dense"
    lanes = 3 if mode == "hybrid" and statements else 2
    depth = candidate_depth(mode, limit, pool, lanes) if distinct else limit
    if mode == "dense":
        response = qdrant.call("search", lambda: qdrant.client.query_points(
            collection, query=dense_q, using=DENSE, query_filter=flt, limit=depth, with_payload=True))
    elif mode == "bm25":
        response = qdrant.call("search", lambda: qdrant.client.query_points(
            collection, query=sparse_q, using=SPARSE, query_filter=flt, limit=depth, with_payload=True))
    else:
        prefetch = [models.Prefetch(query=dense_q, using=DENSE, filter=flt, limit=pool),
                    models.Prefetch(query=sparse_q, using=SPARSE, filter=flt, limit=pool)]
        if statements:  # the statement lane: chunks of the asked-about statements' pages, by dense similarity
            lane = models.Filter(must=[*flt.must, models.FieldCondition(  # type: ignore[misc]
                key="statements", match=models.MatchAny(any=list(statements)))])
            prefetch.append(models.Prefetch(query=dense_q, using=DENSE, filter=lane, limit=pool))
        # weighted RRF needs Qdrant 1.17; an unweighted search keeps the plain fusion older servers know
        fusion: Any = models.FusionQuery(fusion=models.Fusion.RRF) if bm25_weight == 1.0 else models.RrfQuery(
            rrf=models.Rrf(weights=[1.0, bm25_weight] + [1.0] * (len(prefetch) - 2)))
        response = qdrant.call("search", lambda: qdrant.client.query_points(
            collection, prefetch=prefetch, query=fusion, limit=depth, with_payload=True))
    found = [(point.payload or {}, float(point.score)) for point in response.points]
    if distinct:
        found = distinct_pages(found, limit)
    return [hit(payload, score) for payload, score in found]
