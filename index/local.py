"""The chunk index in Qdrant's local mode (an embedded index on disk), searched in memory.

Local mode answers a filtered query by checking every point's payload in Python: seconds per query on a few
thousand pages. A local index is open in one process only (Qdrant's file lock), and every write goes through
this class, so a long-running process keeps a copy of the vectors in memory (``folio.index.memory``), in sync
write by write, and searches that in milliseconds. A one-shot command (``folio search``) sets ``memory_index``
off: reading every chunk into memory would cost more than asking Qdrant once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from folio.index.chunks import QdrantChunks
from folio.index.memory import LocalChunkIndex
from folio.index.protocol import ChunkPoint, Hit, SearchMode, hit
from folio.index.retry import Qdrant
from folio.index.schema import DENSE, SPARSE, chunk_point_id, dense_size
from folio.index.sparse import SparseVector


class LocalChunks(QdrantChunks):
    """``ChunkIndex`` in local mode, with its in-memory copy for searching."""

    def __init__(self, qdrant: Qdrant, name: str, *, shards: int = 1, replicas: int = 1) -> None:
        super().__init__(qdrant, name, shards=shards, replicas=replicas)
        self.memory_index = True
        self._memory: LocalChunkIndex | None = None
        qdrant.on_reset(self.reset)

    def reset(self) -> None:
        """Forget the in-memory copy; it is read again on the next search (after a write made elsewhere)."""
        with self.qdrant.lock:
            self._memory = None

    def upsert(self, doc_id: str, points: Sequence[ChunkPoint]) -> None:
        with self.qdrant.lock:
            super().upsert(doc_id, points)
            if self._memory is not None:
                self._memory.upsert(doc_id, [LocalChunkIndex.chunk(
                    chunk_point_id(doc_id, p.chunk_index), p.dense, p.sparse.indices, p.sparse.values,
                    p.payload(doc_id)) for p in points])

    def delete(self, doc_id: str) -> None:
        with self.qdrant.lock:
            if self._memory is not None:
                self._memory.remove(doc_id)  # first: a failed delete must not leave stale search results
            super().delete(doc_id)

    def tag_statements(self, groups: Mapping[tuple[str, ...], Sequence[Any]]) -> None:
        with self.qdrant.lock:
            super().tag_statements(groups)
            self._memory = None  # re-read with the new payloads on the next search

    def ranked(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str], limit: int,
               mode: SearchMode, pool: int, distinct: bool, statements: Sequence[str],
               bm25_weight: float) -> list[Hit]:
        """The in-memory copy's search (Qdrant's scores, ``folio.index.memory``), or Qdrant's own when the copy
        is turned off and not yet read."""
        if not self.memory_index and self._memory is None:
            return self.search_qdrant(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode,
                                      pool=pool, distinct=distinct, statements=statements, bm25_weight=bm25_weight)
        with self.qdrant.lock:
            found = self.memory().search(dense=dense, sparse=(sparse.indices, sparse.values) if sparse else None,
                                         doc_ids=doc_ids, limit=limit, mode=mode, pool=pool, distinct=distinct,
                                         statements=statements, bm25_weight=bm25_weight)
        return [hit(payload, score) for payload, score in found]

    def warm(self) -> None:
        """Read the in-memory copy and lay it out now (the service, as it starts), not in the first search."""
        if self.exists():
            with self.qdrant.lock:
                self.memory().prepare()

    def memory(self) -> LocalChunkIndex:
        """The in-memory copy of the chunks, read from the collection on first use."""
        with self.qdrant.lock:
            if self._memory is None:
                memory = LocalChunkIndex(dim=dense_size(self.qdrant, self.name) or 0)
                by_doc: dict[str, list[Any]] = {}
                offset = None
                while True:
                    points, offset = self.qdrant.call("scroll", lambda o=offset: (  # type: ignore[misc]
                        self.qdrant.client.scroll(self.name, limit=4096, offset=o, with_payload=True,
                                                  with_vectors=True)))
                    for p in points:
                        vec = p.vector or {}
                        sparse = vec.get(SPARSE)
                        by_doc.setdefault(p.payload["doc_id"], []).append(LocalChunkIndex.chunk(
                            str(p.id), vec[DENSE], sparse.indices if sparse else [], sparse.values if sparse else [],
                            p.payload))
                    if offset is None:
                        break
                for doc_id, chunks in by_doc.items():
                    chunks.sort(key=lambda c: c.payload.get("chunk_index", 0))
                    memory.upsert(doc_id, chunks)
                self._memory = memory
            return self._memory
