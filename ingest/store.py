"""Folio's store: the chunk index (``folio.index``, in Qdrant) and the records (``folio.records``, in a SQL
database), and the write protocol that keeps the two consistent. Ingestion writes through it; the service reads.

The front only chooses: an embedded index on disk by default, Qdrant Edge (``EdgeChunks``) or, for a data dir
an earlier Folio made (``Settings.embedded_engine``), Qdrant's local mode (``LocalChunks``: this process holds the
index's file lock, so it keeps the chunks in memory for search); a Qdrant server when ``FOLIO_QDRANT_URL`` is set
(``ServerChunks``); the records in ``DATA_DIR/folio.db`` (SQLite) or at ``FOLIO_DATABASE_URL`` (PostgreSQL).
Availability and retries are ``folio.index.retry``'s and ``folio.records.database``'s: ``Store.open`` opens at
once and raises a ``StoreError`` (the CLI); ``Store.lazy`` (the service) opens on first use, and again after an
outage of either store.

Upgrade in place: the previous release kept the records in Qdrant collections beside the chunks. Each time the
index opens, before any other hook, ``folio.records.upgrade`` moves whatever records are still there into the
database (once: later openings find nothing to move); until a move has run (or found nothing), the records are
held back (``Database.guard``): their first use opens the index, and so runs it.

Write protocol (crash-safe, idempotent): the document record is written first with status ``writing``,
then its chunks (deterministic ids, so a re-run overwrites instead of duplicating), then the status flips
to ``ready`` in one single-point write. Queries only ever see chunks of ``ready`` documents. Deletion
flips the status to ``deleting`` before removing anything. ``recover()`` purges whatever a killed process
left half-written.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from folio.config import Settings
from folio.errors import DocumentNotFound, InvalidRequest, StoreError, TitleTaken
from folio.index.connection import connect, is_local_client
from folio.index.edge import EdgeChunks
from folio.index.legacy import LegacyCollections, NoLegacyCollections
from folio.index.local import LocalChunks
from folio.index.protocol import ChunkIndex, ChunkPoint, Hit, SearchMode
from folio.index.query import query_qdrant
from folio.index.retry import LOCAL, SERVER, Qdrant
from folio.index.server import ServerChunks
from folio.index.sparse import SparseVector, weighted
from folio.ingest.chunk import Chunk
from folio.ingest.genre import document_genre
from folio.ingest.statements import chunk_statements, document_statements, pages_by_kind
from folio.records import lookup, upgrade
from folio.records.database import Database
from folio.records.document_files import DocumentFile, DocumentFiles
from folio.records.job_records import JobRecords
from folio.records.ledger_records import LedgerRecords
from folio.records.migration import tag_documents
from folio.records.model import DocumentRecord
from folio.records.protocol import DocumentRecords
from folio.records.sql_documents import SqlDocuments
from folio.records.term_stats import TermStats

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 300

# On a shared server, a document left unfinished this long was abandoned by a killed writer (``recover``).
STALE_WRITE_S = 6 * 3600.0


class _IngestTagger:
    """The tags ingestion computes from a document's pages (``folio.records.migration.Tagger``)."""

    def statement_pages(self, pages: list[str]) -> dict[str, list[int]]:
        return document_statements(pages)

    def genre(self, pages: list[str], statement_pages: dict[str, list[int]]) -> str:
        return document_genre(pages, statement_pages)


class Store:
    """The chunk index (one Qdrant: local mode or a server) and the records (one SQL database)."""

    def __init__(self, client: Any = None, *, qdrant: Qdrant | None = None, database: Database | None = None,
                 prefix: str = "folio", shards: int = 1, replicas: int = 1, edge: bool = False) -> None:
        """``client``: an open qdrant-client; or ``qdrant``, one that opens on first use
        (``folio.index.connection.connect``); ``edge``: it is a Qdrant Edge shard (``folio.index.edge``).
        ``database``: the records' (default: one in memory, for a store that lives as long as this process, such
        as an evaluation's)."""
        if qdrant is None:
            if client is None:
                raise ValueError("a Store needs a client or a Qdrant to connect")
            qdrant = Qdrant(client, policy=LOCAL if is_local_client(client) else SERVER)
        self.qdrant = qdrant
        self.local = qdrant.policy == LOCAL
        self.prefix = prefix
        self.chunks = f"{prefix}_chunks"
        self.shards = shards
        self.replicas = replicas
        self.database = database or Database.memory()
        self.document_records: DocumentRecords = SqlDocuments(self.database)
        self.document_files = DocumentFiles(self.database)
        self.ledger_records = LedgerRecords(self.database)
        self.term_stats = TermStats(self.database)
        # the BM25 statistics of the documents this process is writing: term -> chunks holding it so far
        self._writing: dict[str, Counter[int]] = {}
        self.job_records = JobRecords(self.database)
        scale = {"shards": shards, "replicas": replicas}
        self.engine = "edge" if edge else "local" if self.local else "server"
        self.index: ChunkIndex = (EdgeChunks if edge else LocalChunks if self.local else ServerChunks)(
            qdrant, self.chunks, **scale)
        qdrant.after_open(self._count_terms)  # an index from before the scope's IDF: brought up to date first

    # -- opening -------------------------------------------------------------------------------------

    @classmethod
    def lazy(cls, settings: Settings, *, key_tenants: Collection[str] = ()) -> Store:
        """A store that opens itself on first use, and again after the index was unavailable (the service).
        ``key_tenants``: the tenants API keys name; the ledger entries of the previous release that carry
        ``FOLIO_LLM_USER_ID`` as their tenant (recorded before tenants existed) move as tenant "default", unless
        it is one of them (``folio.records.upgrade.legacy_tenant``)."""
        store = cls(qdrant=connect(settings), database=Database.from_settings(settings),
                    prefix=settings.collection_prefix, shards=settings.qdrant_shards,
                    replicas=settings.qdrant_replicas,
                    edge=not settings.qdrant_url and settings.embedded_engine == "edge")
        store._upgrade_on_open(upgrade.legacy_tenant(settings.llm_user_id, key_tenants))
        return store

    @classmethod
    def open(cls, settings: Settings, *, key_tenants: Collection[str] = ()) -> Store:
        """The store, opened now: ``StoreLocked`` or ``StoreUnavailable`` when it cannot be (the CLI)."""
        store = cls.lazy(settings, key_tenants=key_tenants)
        try:
            store.check()
        except StoreError:
            store.close()
            raise
        return store

    def check(self) -> None:
        """Raise the ``StoreError`` that stops the store from being used now (the service's readiness check):
        the records' database first, then the index; opens the index, or tries the server again, when due."""
        self.database.check()
        self.check_index()

    def _upgrade_on_open(self, legacy_tenant: str | None) -> None:
        """Move the previous release's records out of Qdrant each time the index opens, before the ``after_open``
        hooks (which read records), and hold the records back until a move has run."""
        legacy = NoLegacyCollections() if self.engine == "edge" else LegacyCollections(self.qdrant)

        def move() -> None:
            upgrade.upgrade(self.database, legacy, prefix=self.prefix, legacy_tenant=legacy_tenant)

        self.qdrant.on_open(move)

        def records_whole() -> bool:
            if upgrade.settled(self.database):
                return True
            self.qdrant.available()  # opens the index (which moves them), or raises why it cannot
            return upgrade.settled(self.database)

        self.database.guard(records_whole)

    def check_index(self) -> None:
        """Raise the ``StoreError`` that stops the index from being used now (the records may still be)."""
        self.qdrant.call("check", lambda: self.qdrant.client.collection_exists(self.chunks))

    @property
    def client(self) -> Any:
        """The qdrant-client (None until the store first opens)."""
        return self.qdrant.client

    @property
    def clock(self) -> Callable[[], float]:
        return self.qdrant.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.qdrant.clock = clock

    @property
    def unavailable(self) -> StoreError | None:
        """Why the store could not be used at its last attempt, or None (no attempt made, or it worked)."""
        return self.qdrant.unavailable

    @property
    def memory_index(self) -> bool:
        """Local mode: whether searches read the chunks into memory (a long-running process), or ask Qdrant
        (a one-shot command such as ``folio search``). A server is always asked."""
        return isinstance(self.index, LocalChunks) and self.index.memory_index

    @memory_index.setter
    def memory_index(self, on: bool) -> None:
        if isinstance(self.index, LocalChunks):
            self.index.memory_index = on

    def reread(self) -> None:
        """Drop what local mode holds in memory (the chunks): read again when next needed. For writes made around
        the store, straight to Qdrant."""
        self.qdrant.reset()

    def after_open(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` now if the store is open, and each time it is opened from now on."""
        self.qdrant.after_open(hook)

    def close(self) -> None:
        self.qdrant.close()
        self.database.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- documents -----------------------------------------------------------------------------------

    def get_document(self, doc_id: str, *, with_pages: bool = False,
                     tenant: str | None = None) -> DocumentRecord | None:
        """The document's record; with ``tenant``, only if that tenant owns it (else None, as if absent)."""
        return lookup.get_document(self.document_records, doc_id, with_pages=with_pages, tenant=tenant)

    def require_document(self, doc_id: str, *, with_pages: bool = False,
                         tenant: str | None = None) -> DocumentRecord:
        return lookup.require_document(self.document_records, doc_id, with_pages=with_pages, tenant=tenant)

    def list_documents(self, *, status: str | None = "ready", tenant: str | None = None) -> list[DocumentRecord]:
        """Documents in canonical order: ingest time, then id; with ``tenant``, only that tenant's."""
        return self.document_records.list_documents(status=status, tenant=tenant)

    def resolve_id(self, prefix: str, *, tenant: str | None = None) -> str:
        """The full id of the one document whose id starts with ``prefix`` (at least 6 characters)."""
        return lookup.resolve_id(self.document_records, prefix, tenant=tenant)

    def find_by_source(self, source: str, *, tenant: str | None = None) -> list[DocumentRecord]:
        """The documents ingested from ``source`` (a path, or ``upload:NAME``), of ``tenant`` if given."""
        return self.document_records.find_by_source(source, tenant=tenant)

    def page_text(self, doc_id: str, page: int, *, tenant: str | None = None) -> str:
        return lookup.page_text(self.document_records, doc_id, page, tenant=tenant)

    # -- the write protocol --------------------------------------------------------------------------

    def ensure_chunks_collection(self, dim: int) -> None:
        self.index.ensure(dim)

    def has_chunks_collection(self) -> bool:
        return self.index.exists()

    def begin_document(self, record: DocumentRecord, file: DocumentFile | None = None) -> None:
        """The record, status ``writing``, with the original ``file`` (kept for the page images) in one write."""
        self._writing[record.id] = Counter()
        self.document_records.begin(record, file)

    def upsert_chunks(self, doc_id: str, chunks: Sequence[Chunk], dense: np.ndarray,
                      sparse: Sequence[SparseVector], statements: Mapping[int, Sequence[str]] | None = None) -> None:
        """Write a batch of a document's chunks; ``statements``: page -> the financial statements on it (a chunk
        on such a page carries their kinds in its payload's ``statements``, for the search's statement lane)."""
        by_page = statements or {}
        counts = self._writing.setdefault(doc_id, Counter())
        for vector in sparse:
            counts.update(set(vector.indices))
        self.index.upsert(doc_id, [ChunkPoint(
            chunk_index=c.index, first_page=c.first_page, last_page=c.last_page, start=c.start, end=c.end,
            heading=c.heading, text=c.text, dense=dense[i], sparse=sparse[i],
            statements=chunk_statements(c.first_page, c.last_page, by_page)) for i, c in enumerate(chunks)])

    def finish_document(self, doc_id: str, n_chunks: int) -> None:
        """The document becomes visible, with its BM25 statistics (from the chunks written since ``begin``)."""
        counts = self._writing.pop(doc_id, Counter())
        self.document_records.finish(doc_id, n_chunks, counts)

    def rename_document(self, doc_id: str, title: str, *, tenant: str | None = None) -> DocumentRecord:
        """Give a document a new title (what citations name it by); refused when another document of the tenant
        has it. Earlier answers keep resolving: their citations carry the document's id."""
        record = self.require_document(doc_id, tenant=tenant)
        title = " ".join(title.split())
        if not title or len(title) > MAX_TITLE_CHARS:
            raise InvalidRequest(f"a title has 1 to {MAX_TITLE_CHARS} characters", document_id=doc_id)
        if lookup.unique_title(self.document_records, title, tenant=record.tenant, exclude={doc_id}) != title:
            raise TitleTaken(f"another document is already titled {title!r}", document_id=doc_id)
        self.document_records.set_title(doc_id, title)
        return record.model_copy(update={"title": title})

    def unique_title(self, title: str, *, tenant: str, exclude: Sequence[str] = ()) -> str:
        """``title``, numbered if another document of ``tenant`` (but those in ``exclude``) has it already."""
        return lookup.unique_title(self.document_records, title, tenant=tenant, exclude=set(exclude))

    def delete_document(self, doc_id: str) -> None:
        """Remove a document and all of its chunks; invisible to queries from the first write on."""
        if self.document_records.get(doc_id) is None:
            raise DocumentNotFound(f"no document with id {doc_id}", document_id=doc_id)
        self.check_index()  # a delete that cannot reach the chunks changes nothing
        self.document_records.set_status(doc_id, "deleting")
        self.index.delete(doc_id)
        self.document_records.delete(doc_id)

    def recover(self, *, older_than_s: float | None = None) -> list[str]:
        """Purge documents a killed process left in ``writing`` or ``deleting``, and chunks that no record
        claims (the index restored from a backup newer than the records'); return the documents' ids.

        ``older_than_s``: only those begun at least that long ago. On a shared Qdrant server another process may
        be writing a document right now; only one left unfinished for hours was abandoned. Chunks without a
        record are never another writer's: a writer makes the record before the first chunk (the index is read
        first, the records after, so a document begun in between has its record seen)."""
        cutoff = None if older_than_s is None else datetime.now(UTC) - timedelta(seconds=older_than_s)
        indexed = self.index.documents()
        records = self.list_documents(status=None)
        orphans = sorted(indexed - {r.id for r in records})
        for doc_id in orphans:
            self.index.delete(doc_id)
        if orphans:
            logger.warning("deleted the chunks of %d documents that have no record (the index is newer than the "
                           "records, e.g. restored from a later backup): %s", len(orphans),
                           ", ".join(d[:12] for d in orphans[:10]))
        purged = list(orphans)
        for record in records:
            if record.status == "ready":
                continue
            begun = datetime.fromisoformat(record.ingested_at)
            if cutoff is not None and (begun if begun.tzinfo else begun.replace(tzinfo=UTC)) >= cutoff:
                continue
            self.delete_document(record.id)
            purged.append(record.id)
        return purged

    def tag_documents(self) -> list[str]:
        """Tag every ready document ingested before Folio tagged its financial statement pages and its genre
        (``folio.records.migration``): the record, and the payload of the chunks on statement pages. Returns the
        ids of the documents tagged now; idempotent, so replicas may run it at once."""
        prepared = False

        def tag_chunks(record: DocumentRecord, found: dict[str, list[int]]) -> None:
            nonlocal prepared
            by_page = pages_by_kind(found)
            if not by_page or not self.index.exists():
                return
            if not prepared:
                self.index.prepare_statement_tags()
                prepared = True
            groups: dict[tuple[str, ...], list[Any]] = {}
            for point_id, first, last in self.index.spans(record.id):
                on = chunk_statements(first, last, by_page)
                if on:
                    groups.setdefault(tuple(on), []).append(point_id)
            self.index.tag_statements(groups)

        return tag_documents(self.document_records, _IngestTagger(), tag_chunks)

    def count_chunks(self, doc_id: str | None = None) -> int:
        return self.index.count(doc_id)

    # -- search --------------------------------------------------------------------------------------

    def search(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
               limit: int = 10, mode: SearchMode = "hybrid", candidates: int | None = None,
               distinct: bool = True, statements: Sequence[str] = (), bm25_weight: float = 1.0,
               idf_documents: Sequence[str] | None = None) -> list[Hit]:
        """Top chunks of the given (ready) documents (``folio.index.chunks.QdrantChunks.search``); BM25 with the
        IDF of these documents' chunks (``bm25_query``), or of ``idf_documents``' (the evaluation's comparison
        with a collection-wide IDF)."""
        if mode != "dense":
            sparse = self.bm25_query(sparse, idf_documents or doc_ids)
        return self.index.search(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode,
                                 candidates=candidates, distinct=distinct, statements=statements,
                                 bm25_weight=bm25_weight)

    def search_qdrant(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
                      limit: int, mode: SearchMode, pool: int, distinct: bool = True,
                      statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]:
        """The same search as Qdrant's Query API runs it, whatever the mode: in local mode the reference that
        tests and benchmarks hold the in-memory index to (``folio.index.query``)."""
        if mode != "dense":
            sparse = self.bm25_query(sparse, doc_ids)
        if isinstance(self.index, EdgeChunks):  # Edge's own search is Qdrant's Query API
            return self.index.ranked(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode, pool=pool,
                                     distinct=distinct, statements=statements, bm25_weight=bm25_weight)
        return query_qdrant(self.qdrant, self.chunks, dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit,
                            mode=mode, pool=pool, distinct=distinct, statements=statements, bm25_weight=bm25_weight)

    def bm25_query(self, sparse: SparseVector | None, doc_ids: Sequence[str]) -> SparseVector | None:
        """A query's BM25 vector weighted by each term's IDF over the chunks of ``doc_ids`` (the question's scope):
        the score is then BM25 over those documents alone, whatever else the index holds."""
        if sparse is None or not sparse.indices or not doc_ids:
            return sparse
        chunks, containing = self.term_stats.scope(doc_ids, sparse.indices)
        return weighted(sparse, chunks, containing)

    def count_terms(self) -> list[str]:
        """Bring an index from before the scope's IDF up to date: the BM25 statistics of each ready document that
        lacks them, counted from its chunks' vectors, then the collection's own IDF turned off. Idempotent (run
        each time the index opens; replicas may run it at once). Returns the documents counted now."""
        if not self.index.exists():
            return []
        counted = []
        for doc_id in self.term_stats.missing():
            containing: Counter[int] = Counter()
            chunks = 0
            for terms in self.index.chunk_terms(doc_id):
                containing.update(set(terms))
                chunks += 1
            self.term_stats.put(doc_id, chunks, containing)
            counted.append(doc_id)
        if self.index.collection_idf():
            self.index.drop_collection_idf()
            logger.info("BM25 now weighs terms by the question's scope (%d documents counted); the collection's "
                        "own IDF is off", len(counted))
        return counted

    def _count_terms(self) -> None:
        self.count_terms()

    def warm(self) -> None:
        """Read now what searches need in memory (local mode: the chunks), rather than on the first search."""
        self.index.warm()
