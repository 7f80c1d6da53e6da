"""The chunk index in Qdrant Edge (``qdrant-edge-py``): Qdrant's storage engine embedded in this process.

Edge keeps the chunk collection as one shard in a folder (``DATA_DIR/edge``): segments of dense and BM25
vectors, searched exactly (Folio never builds Edge's HNSW index: the note after the imports says why), keyword
indexes on ``doc_id`` and ``statements``, and the payloads on disk (memory-mapped), behind a write-ahead log.
Unlike Qdrant's local mode (``folio.index.local``) it filters through its payload indexes and scores in native
code, so it answers from disk without an in-memory copy and opens in seconds (2 s at 250,000 chunks on 2 cores;
local mode took 34 s at 100,000: ``bench/results/index-scale-2026-12-03-*.md``).

A shard is open in one process at a time: ``EdgeStorage`` takes a file lock on the folder before it loads the shard
(Edge's own lock is on its log, and only once the shard exists), so a second process gets ``StoreLocked`` at once.
The searches are Qdrant's Query API, the same prefetches and fusion as ``folio.index.query``; the page-diverse top
``limit`` is picked from the ranking by the same ``distinct_pages``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from folio.errors import ConfigError, StoreLocked
from folio.index.chunks import stored_chunk
from folio.index.memory import candidate_depth, distinct_pages
from folio.index.protocol import ChunkPoint, Hit, SearchMode, StoredChunk, hit
from folio.index.retry import LOCAL, LOCKED_MESSAGE, Qdrant
from folio.index.schema import CHUNK_KEYWORDS, DENSE, SPARSE, chunk_point_id
from folio.index.sparse import SparseVector

MAX_DOCUMENTS = 10_000_000  # the most documents ``documents`` lists (a facet counts values up to a limit)
RRF_K = 2  # Qdrant's reciprocal-rank constant, as the server's and local mode's fusion use
# Edge builds a segment's HNSW index only when asked (``EdgeShard.optimize``), and Folio's shards are configured never
# to build one (``indexing_threshold=0``): every search is exact. Measured at 250,000 chunks on 2 cores
# (bench/results/index-scale-2026-12-03-250k-edge-exact.md): p99 under 40 ms over every document and under 3 ms in one
# document's scope, the write path 5x faster, and no index rebuild, which holds Python's interpreter lock for minutes
# (76-167 s at 25,000 points) and so would stall a serving process.
#
# What ``optimize`` still does then is vacuum: a segment of which at least a fifth of the points were deleted (Qdrant's
# ``deleted_threshold``) is rewritten without them, which is how Edge gives their disk space back. It holds the
# interpreter lock while it runs (11 s at 250,000 chunks with a quarter deleted: index-scale-*-compact.md), so it
# runs only when asked, by ``folio compact`` with Folio stopped (``EdgeChunks.compact``), never while a process
# serves or starts.


def shard_config(dim: int, *, indexing_threshold: int = 0) -> Any:
    """The configuration of Folio's shards: a cosine dense vector of ``dim``, the BM25 sparse vector (scored as a
    plain dot product), and no HNSW index ever built (``indexing_threshold`` 0, the note above; the scale benchmark
    sets Qdrant's default to measure the index Folio does without)."""
    import qdrant_edge as qe

    return qe.EdgeConfig(vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
                         sparse_vectors={SPARSE: qe.EdgeSparseVectorParams()},
                         optimizers=qe.EdgeOptimizersConfig(indexing_threshold=indexing_threshold))


class EdgeStorage:
    """The folder of one Edge shard, locked for this process, and the shard once it exists (made by ``create``).

    It stands where a qdrant-client stands for the other engines (``Qdrant.client``): ``collection_exists`` and
    ``close`` are what ``folio.ingest.store.Store`` asks of it."""

    def __init__(self, path: Path) -> None:
        import portalocker
        import qdrant_edge

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = (path / ".folio-lock").open("a+")
        try:
            portalocker.lock(self._lock, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.LockException:
            self._lock.close()
            raise StoreLocked(LOCKED_MESSAGE) from None
        dim = self.dim()
        self.shard: Any = None if dim is None else qdrant_edge.EdgeShard.load(str(self.shard_path), shard_config(dim))

    @property
    def shard_path(self) -> Path:
        return self.path / "shard"

    def made(self) -> bool:
        return (self.shard_path / "edge_config.json").exists()

    def dim(self) -> int | None:
        """The dense vectors' dimension, as the shard's configuration on disk records it."""
        if not self.made():
            return None
        config = json.loads((self.shard_path / "edge_config.json").read_text())
        return int(config["vectors"][DENSE]["size"])

    def create(self, dim: int, where: Path | None = None) -> None:
        """Make the shard for ``dim``-dimensional dense vectors (in ``where``, to ``commit`` later: a migration)."""
        import qdrant_edge as qe

        self.shard = qe.EdgeShard.create(str(where or self.shard_path), shard_config(dim))
        for field in CHUNK_KEYWORDS:
            self.shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))

    def commit(self, where: Path) -> None:
        """Make the complete shard written in ``where`` this folder's shard (a rename, after a flush)."""
        import qdrant_edge as qe

        self.shard.flush()
        self.shard.close()
        self.shard = None
        where.rename(self.shard_path)
        self.shard = qe.EdgeShard.load(str(self.shard_path), shard_config(int(self.dim() or 0)))

    def collection_exists(self, name: str) -> bool:
        return self.shard is not None

    def close(self) -> None:
        try:
            if self.shard is not None:
                self.shard.flush()
                self.shard.close()
                self.shard = None
        finally:
            self._lock.close()  # releases the lock


def _disk_bytes(folder: Path) -> int:
    """The bytes a folder's files take on disk (allocated blocks: Edge preallocates what it has not filled)."""
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file())


def connect_edge(path: Path) -> Qdrant:
    """The Edge shard in ``path`` as a ``Qdrant`` (the retry policy of a file in this process), opened on first use."""
    return Qdrant(connect=lambda: EdgeStorage(path), policy=LOCAL, where=str(path))


def _filter(field: str, values: Sequence[str]) -> Any:
    import qdrant_edge as qe

    match = qe.MatchValue(value=values[0]) if len(values) == 1 else qe.MatchAny(any=list(values))
    return qe.FieldCondition(key=field, match=match)


def doc_filter(*doc_ids: str) -> Any:
    import qdrant_edge as qe

    return qe.Filter(must=[_filter("doc_id", doc_ids)])


class EdgeChunks:
    """``ChunkIndex`` in a Qdrant Edge shard: writes, reads and searches all go to the shard."""

    def __init__(self, qdrant: Qdrant, name: str, *, shards: int = 1, replicas: int = 1) -> None:
        self.qdrant = qdrant
        self.name = name  # one shard holds the one collection; the name is kept for messages
        # the documents with chunks in the shard, or more (read once, then kept by every write of this process,
        # the only one that has the shard open): a search's scope is then the cheaper of its documents or the rest
        self._known: set[str] | None = None

    @property
    def storage(self) -> EdgeStorage:
        self.qdrant.available()
        storage: EdgeStorage = self.qdrant.client
        return storage

    def _call(self, what: str, fn: Any) -> Any:
        return self.qdrant.call(what, fn)

    def ensure(self, dim: int) -> None:
        storage = self.storage
        with self.qdrant.lock:
            existing = storage.dim()
            if existing is None:
                self._call("create collection", lambda: storage.create(dim))
            elif existing != dim:
                raise ConfigError(
                    f"the index holds {existing}-dimensional vectors but the embedding model makes {dim}; "
                    "use the model the index was built with (FOLIO_EMBED_MODEL) or a new FOLIO_DATA_DIR")

    def exists(self) -> bool:
        return self.storage.shard is not None

    def upsert(self, doc_id: str, points: Sequence[ChunkPoint]) -> None:
        import qdrant_edge as qe

        with self.qdrant.lock:
            if self._known is not None:
                self._known.add(doc_id)
        structs = [qe.Point(id=chunk_point_id(doc_id, p.chunk_index),
                            vector={DENSE: p.dense.tolist(),
                                    SPARSE: qe.SparseVector(indices=p.sparse.indices, values=p.sparse.values)},
                            payload=p.payload(doc_id)) for p in points]
        self.write_points(structs)

    def write_points(self, structs: Sequence[Any]) -> None:
        """Write Edge points as they are (an upsert, or points copied from another index: ``folio.index.migrate``)."""
        import qdrant_edge as qe

        storage = self.storage
        with self.qdrant.lock:
            self._call("write", lambda: storage.shard.update(qe.UpdateOperation.upsert_points(list(structs))))

    def delete(self, doc_id: str) -> None:
        import qdrant_edge as qe

        if not self.exists():
            return
        with self.qdrant.lock:
            self._call("delete", lambda: self.storage.shard.update(
                qe.UpdateOperation.delete_points_by_filter(doc_filter(doc_id))))
            if self._known is not None:
                self._known.discard(doc_id)

    def count(self, doc_id: str | None = None) -> int:
        import qdrant_edge as qe

        if not self.exists():
            return 0
        flt = None if doc_id is None else doc_filter(doc_id)
        return int(self._call("count", lambda: self.storage.shard.count(qe.CountRequest(filter=flt, exact=True))))

    def documents(self) -> set[str]:
        import qdrant_edge as qe

        if not self.exists():
            return set()
        found = self._call("read", lambda: self.storage.shard.facet(
            qe.FacetRequest(key="doc_id", limit=MAX_DOCUMENTS, exact=True)))
        return {str(h.value) for h in found.hits if h.count > 0}  # a deleted document stays, counted 0

    def scope(self, doc_ids: Sequence[str]) -> tuple[list[Any], list[Any]]:
        """The ``(must, must_not)`` conditions that keep a search to ``doc_ids``: none when they are every document
        in the shard, the others left out when they are fewer. A condition on a thousand documents costs Edge more
        than the search itself (bench/results/index-scale-*)."""
        wanted = set(doc_ids)
        with self.qdrant.lock:
            if self._known is None:
                self._known = self.documents()
            rest = self._known - wanted
            inside = len(self._known) - len(rest)
        if not rest:
            return [], []
        if len(rest) < inside:
            return [], [_filter("doc_id", sorted(rest))]
        return [_filter("doc_id", sorted(wanted))], []

    def scroll(self, flt: Any, payload: Any, vectors: Any = False, page: int = 1024) -> Iterator[Any]:
        """Every point that matches ``flt`` (None: all), a page per call."""
        import qdrant_edge as qe

        offset = None
        while True:
            request = qe.ScrollRequest(offset=offset, limit=page, filter=flt, with_payload=payload,
                                       with_vector=vectors)
            records, offset = self._call("scroll", lambda r=request: self.storage.shard.scroll(r))
            yield from records
            if offset is None:
                return

    def chunk_terms(self, doc_id: str) -> Iterator[list[int]]:
        for record in self.scroll(doc_filter(doc_id), False, [SPARSE]):
            vector = (record.vector or {}).get(SPARSE)
            yield list(vector.indices) if vector is not None else []

    def collection_idf(self) -> bool:
        return False  # made after the scope's IDF: the BM25 vectors are always a plain dot product

    def drop_collection_idf(self) -> None:
        pass

    def spans(self, doc_id: str) -> Iterator[tuple[Any, int, int]]:
        import qdrant_edge as qe

        fields = qe.PayloadSelector.Include(["first_page", "last_page"])
        for record in self.scroll(doc_filter(doc_id), fields):
            p = record.payload or {}
            yield str(record.id), int(p["first_page"]), int(p["last_page"])

    def stored(self, doc_id: str | None = None) -> Iterator[StoredChunk]:
        if not self.exists():
            return
        flt = None if doc_id is None else doc_filter(doc_id)
        for record in self.scroll(flt, True, [DENSE, SPARSE]):
            yield stored_chunk(record.id, record.payload, record.vector)

    def prepare_statement_tags(self) -> None:
        pass  # the shard is made with the ``statements`` index

    def tag_statements(self, groups: Mapping[tuple[str, ...], Sequence[Any]]) -> None:
        import qdrant_edge as qe

        with self.qdrant.lock:
            for kinds, ids in groups.items():
                self._call("write", lambda k=kinds, i=ids: self.storage.shard.update(  # type: ignore[misc]
                    qe.UpdateOperation.set_payload([str(x) for x in i], {"statements": list(k)})))

    def compact(self) -> tuple[int, int]:
        """Rewrite each segment of which a fifth or more of the chunks were deleted, without them (a vacuum: never an
        HNSW index, ``shard_config``), close the shard (``folio compact``'s whole job), and return the segments'
        bytes on disk before and after."""
        storage = self.storage
        segments = storage.shard_path / "segments"
        if storage.shard is None:
            return 0, 0
        with self.qdrant.lock:
            before = _disk_bytes(segments)
            self._call("compact", storage.shard.optimize)
            storage.shard.flush()
        self.qdrant.close()  # the segments a vacuum replaced leave the disk as the shard closes
        return before, _disk_bytes(segments)

    def warm(self) -> None:
        """Open the shard now (the service, as it starts): its first search then finds it loaded."""
        self.exists()

    def search(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
               limit: int = 10, mode: SearchMode = "hybrid", candidates: int | None = None, distinct: bool = True,
               statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]:
        """Top chunks of the given documents, as ``folio.index.chunks.QdrantChunks.search`` defines them."""
        if not doc_ids or not self.exists():
            return []
        pool = candidates or max(limit * 4, 20)
        return self.ranked(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode, pool=pool,
                           distinct=distinct, statements=statements, bm25_weight=bm25_weight)

    def ranked(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str], limit: int,
               mode: SearchMode, pool: int, distinct: bool = True, statements: Sequence[str] = (),
               bm25_weight: float = 1.0) -> list[Hit]:
        """The search as ``folio.index.query.query_qdrant`` asks a server, each prefetch ``pool`` deep."""
        import qdrant_edge as qe

        must, must_not = self.scope(doc_ids)
        flt = qe.Filter(must=must, must_not=must_not) if must or must_not else None
        dense_q = qe.Query.Nearest(np.asarray(dense, dtype=np.float32).tolist(), using=DENSE) \
            if dense is not None else None
        sparse_q = qe.Query.Nearest(qe.SparseVector(indices=list(sparse.indices), values=list(sparse.values)),
                                    using=SPARSE) if sparse is not None and sparse.indices else None
        if mode == "bm25" or (mode == "hybrid" and dense_q is None):
            if sparse_q is None:
                return []
            mode = "bm25"
        elif mode == "dense" or sparse_q is None:
            mode = "dense"
        lanes = 3 if mode == "hybrid" and statements else 2
        depth = candidate_depth(mode, limit, pool, lanes) if distinct else limit
        if mode != "hybrid":
            request = qe.QueryRequest(limit=depth, query=dense_q if mode == "dense" else sparse_q, filter=flt,
                                      with_payload=True)
        else:
            prefetch = [qe.Prefetch(limit=pool, query=dense_q, filter=flt),
                        qe.Prefetch(limit=pool, query=sparse_q, filter=flt)]
            if statements:  # the statement lane: chunks of the asked-about statements' pages, by dense similarity
                lane = qe.Filter(must=[*must, _filter("statements", list(statements))], must_not=must_not)
                prefetch.append(qe.Prefetch(limit=pool, query=dense_q, filter=lane))
            weights = [1.0, bm25_weight] + [1.0] * (len(prefetch) - 2)
            request = qe.QueryRequest(limit=depth, prefetches=prefetch, with_payload=True,
                                      query=qe.Fusion.Rrf(k=RRF_K, weights=weights))  # type: ignore[arg-type]
        points = self._call("search", lambda: self.storage.shard.query(request))
        found = [(dict(p.payload or {}), float(p.score)) for p in points]
        if distinct:
            found = distinct_pages(found, limit)
        return [hit(payload, score) for payload, score in found]
