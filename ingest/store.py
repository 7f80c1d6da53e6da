"""Folio's index in Qdrant: one collection of chunks (dense + BM25 sparse vectors), one of documents.

Local mode on disk (``QdrantClient(path=...)``) by default; a Qdrant server when ``FOLIO_QDRANT_URL``
is set. Every qdrant-client exception is translated here into ``StoreError``s.

Availability: ``Store.open`` opens at once and raises ``StoreLocked`` / ``StoreUnavailable`` (the CLI);
``Store.lazy`` (the service) opens on first use instead, so that a process can start while the local index is
held by another one or the server is down. Either way, while the index cannot be used every call fails at once
with the last ``StoreError`` and a new attempt is made only after a backoff (0.5 s, doubling to 5 s): the first
call after it opens the store (or, in server mode, finds the server again) and everything works from there on.
A server that stops answering mid-run (refused or reset connections, timeouts, a 502/503/504 from a proxy) puts
the store in that state; other errors are translated as they come and leave it usable.

Write protocol (crash-safe, idempotent): the document record is written first with status ``writing``,
then its chunks (deterministic ids, so a re-run overwrites instead of duplicating), then the status flips
to ``ready`` in one single-point write. Queries only ever see chunks of ``ready`` documents. Deletion
flips the status to ``deleting`` before removing anything. ``recover()`` purges whatever a killed process
left half-written.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import numpy as np
from pydantic import BaseModel

from folio.config import Settings
from folio.errors import ConfigError, DocumentNotFound, StoreError, StoreLocked, StoreUnavailable
from folio.ingest.chunk import Chunk
from folio.ingest.genre import document_genre
from folio.ingest.local_index import LocalChunkIndex, candidate_depth, distinct_pages
from folio.ingest.sparse import SparseVector
from folio.ingest.statements import chunk_statements, document_statements, pages_by_kind

logger = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "bm25"
# On a shared server, a document left unfinished this long was abandoned by a killed writer (``recover``).
STALE_WRITE_S = 6 * 3600.0
_NAMESPACE = uuid.UUID("6f1c2b1e-2d3a-4c53-9d0e-6a9e6b8f0a11")
SearchMode = Literal["hybrid", "dense", "bm25"]
T = TypeVar("T")


class DocumentRecord(BaseModel):
    """One document as stored (page texts are loaded only when asked for)."""

    id: str
    file_name: str
    source: str | None = None
    title: str
    format: str
    size_bytes: int
    n_pages: int
    n_chunks: int = 0
    total_tokens: int
    page_tokens: list[int]
    status: str
    ingested_at: str
    embed_model: str
    virtual_pages: bool = False
    page_starts: list[int] = []
    # OCR (ingest/ocr.py): 0-based pages whose text was read by OCR, each one's mean word confidence (0-100),
    # the word-weighted mean over them, and the pages under the confidence floor, whose text is not indexed.
    ocr_pages: list[int] = []
    ocr_confidence: list[float] = []
    ocr_mean_confidence: float | None = None
    ocr_low_confidence_pages: list[int] = []
    # The tenant that owns it (service/access.py); records written before tenants existed are "default".
    tenant: str = "default"
    # The primary financial statements among its pages (ingest/statements.py): kind -> 0-based pages; None on a
    # record written before statements were tagged (``Store.tag_documents`` fills it in).
    statement_pages: dict[str, list[int]] | None = None
    # contract, filing or other (ingest/genre.py): how retrieval weighs BM25 against dense; None: not yet tagged.
    genre: str | None = None
    # What ingestion ignored or could not read: JavaScript or embedded files in a PDF, pages OCR failed on.
    warnings: list[str] = []
    pages: list[str] | None = None


@dataclass(frozen=True)
class Hit:
    doc_id: str
    chunk_index: int
    first_page: int
    last_page: int
    start: int
    end: int
    heading: str | None
    text: str
    score: float


def document_point_id(doc_id: str) -> str:
    return str(uuid.UUID(hex=doc_id[:32]))


def chunk_point_id(doc_id: str, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{doc_id}:{index}"))


LOCKED_MESSAGE = ("the local index is open in another Folio process (a running `folio serve` or another "
                  "`folio` command); stop it first, or point both at a Qdrant server with FOLIO_QDRANT_URL")
# While the index cannot be used, calls fail at once; the next attempt to open it (or to reach the server) is
# made this long after the last failure, doubling up to the maximum.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


def _is_outage(exc: Exception) -> bool:
    """Whether a qdrant-client error means the server could not be reached (no answer at all, or a gateway's
    502/503/504), as opposed to an answer that refused the request."""
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, ResponseHandlingException):  # raised around httpx's send, and on a body it cannot parse
        return isinstance(exc.source, httpx.TransportError)
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code in (502, 503, 504)
    code = getattr(exc, "code", None)  # gRPC (prefer_grpc): grpc.RpcError.code() is a StatusCode
    if callable(code) and type(exc).__module__.startswith("grpc"):
        return getattr(code(), "name", "") in ("UNAVAILABLE", "DEADLINE_EXCEEDED")
    return isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError)


def _translate(exc: Exception, what: str, where: str | None = None) -> StoreError:
    text = str(exc)
    if "already accessed by another instance" in text:
        return StoreLocked(LOCKED_MESSAGE)
    if _is_outage(exc):
        cause = getattr(exc, "source", None) or exc
        return StoreUnavailable(f"Qdrant{f' at {where}' if where else ''} cannot be reached ({what}): "
                                f"{type(cause).__name__}: {str(cause)[:300]}")
    return StoreUnavailable(f"Qdrant {what} failed: {type(exc).__name__}: {text[:300]}")


def _shown_url(url: str) -> str:
    """The server's URL as messages show it: scheme, host and port (never credentials or a query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def _is_local_client(client: Any) -> bool:
    return type(client).__name__ == "QdrantClient" and getattr(client, "_client", None) is not None \
        and type(client._client).__name__ == "QdrantLocal"


def _open_local(path: Path) -> Any:
    """A local-mode client on ``path``; ``StoreLocked`` at once when another process holds it.

    The lock is tried first on its own: QdrantLocal reads every collection into memory before it tries the lock,
    which for a large index would cost seconds on each attempt while another process holds it."""
    from qdrant_client import QdrantClient

    path.mkdir(parents=True, exist_ok=True)
    lock_file = path / ".lock"
    if lock_file.exists():
        import portalocker  # what QdrantLocal locks with (flock on POSIX), so that both see the same lock

        with lock_file.open("r+") as handle:
            try:
                portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
            except portalocker.exceptions.LockException:
                raise StoreLocked(LOCKED_MESSAGE) from None
            portalocker.unlock(handle)
    return QdrantClient(path=str(path))


class Store:
    """The document and chunk collections behind one Qdrant client."""

    def __init__(self, client: Any = None, *, prefix: str = "folio", shards: int = 1, replicas: int = 1,
                 connect: Callable[[], Any] | None = None, local: bool | None = None, where: str | None = None
                 ) -> None:
        """``client``: an open qdrant-client; or ``connect``, which makes one when the store is first used (and
        ``local``, whether it will be local mode)."""
        if client is None and connect is None:
            raise ValueError("a Store needs a client or a way to connect one")
        self.client = client
        self.chunks = f"{prefix}_chunks"
        self.documents = f"{prefix}_documents"
        self.shards = shards
        self.replicas = replicas
        self.where = where
        # local mode is not thread-safe, and the service calls from a thread pool: one call at a time
        self._lock = threading.RLock()
        self.local = _is_local_client(client) if local is None else local
        # Local mode only: this process holds the index's file lock and makes every write, so it keeps the
        # document records and a searchable copy of the chunks in memory (see ingest/local_index.py).
        self._records: list[DocumentRecord] | None = None
        self._index: LocalChunkIndex | None = None
        self._plain: dict[str, dict[str, dict[str, Any]]] = {}
        # A long-running process reads the chunks into memory once (seconds for ~25k chunks) to make every
        # search take milliseconds; a one-shot command (``folio search``) asks Qdrant directly instead.
        self.memory_index = True
        # Availability (the module's docstring): open or not, why not, and when to try again (on ``clock``).
        self.clock: Callable[[], float] = time.monotonic
        self._connect = connect
        self._usable = client is not None
        self._down: StoreError | None = None
        self._retry_at = 0.0
        self._backoff = 0.0
        self._closed = False
        self._opening: int | None = None  # the thread opening the store: its own calls go straight through
        self._record_names: list[str] = []  # record collections to make whenever the store is (re)opened
        self._after_open: list[Callable[[], None]] = []

    # -- opening -------------------------------------------------------------------------------------

    @classmethod
    def lazy(cls, settings: Settings) -> Store:
        """A store that opens itself on first use, and again after the index was unavailable (the service)."""
        from qdrant_client import QdrantClient

        url = settings.qdrant_url
        if url:
            key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None

            def connect() -> Any:
                return QdrantClient(url=url, api_key=key, timeout=30)

            return cls(connect=connect, local=False, where=_shown_url(url), prefix=settings.collection_prefix,
                       shards=settings.qdrant_shards, replicas=settings.qdrant_replicas)
        path = settings.qdrant_path
        return cls(connect=lambda: _open_local(path), local=True, where=str(path),
                   prefix=settings.collection_prefix, shards=settings.qdrant_shards, replicas=settings.qdrant_replicas)

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """The store, opened now: ``StoreLocked`` or ``StoreUnavailable`` when it cannot be (the CLI)."""
        store = cls.lazy(settings)
        try:
            store.check()
        except StoreError:
            store.close()
            raise
        return store

    def check(self) -> None:
        """Raise the ``StoreError`` that stops the store from being used now (the service's readiness check);
        opens the store, or tries the server again, when that is due."""
        self._call("check", lambda: self.client.collection_exists(self.documents))

    @property
    def unavailable(self) -> StoreError | None:
        """Why the store could not be used at its last attempt, or None (no attempt made, or it worked)."""
        return self._down

    def after_open(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` now if the store is open, and each time it is opened from now on (before any other call
        is let through)."""
        self._after_open.append(hook)
        if self._usable:
            hook()

    def _available(self) -> None:
        """Return when calls may go to Qdrant; else raise why not. Opens the store when that is due."""
        if self._usable or self._opening == threading.get_ident():
            return
        if self._closed:
            raise StoreUnavailable("the index was closed (the process is stopping)")
        if self._down is not None and self.clock() < self._retry_at:
            raise self._still_down()  # at once, without waiting for the calls in progress
        with self._lock:  # the one lock every call holds: no other order of locks to get wrong
            if self._usable:
                return
            if self._down is not None and self.clock() < self._retry_at:
                raise self._still_down()
            self._opening = threading.get_ident()
            try:
                self._establish()
            except StoreError as exc:
                self._mark_down(exc)
                raise
            finally:
                self._opening = None
            if self._down is not None:
                logger.info("the index is available again (%s)", self.where or "Qdrant")
            self._usable, self._down, self._backoff = True, None, 0.0

    def _still_down(self) -> StoreError:
        down = self._down or StoreUnavailable("the index is being opened")
        wait = max(0.0, self._retry_at - self.clock())
        return type(down)(f"{down.message} (next attempt in {wait:.1f} s)")

    def _establish(self) -> None:
        """Open the client if there is none, then make sure the collections are there (a round trip to Qdrant)."""
        if self.client is None:
            assert self._connect is not None
            try:
                client = self._connect()
            except StoreError:
                raise
            except Exception as exc:
                raise _translate(exc, "connection", self.where) from exc
            with self._lock:
                self.client = client
                self._records, self._index, self._plain = None, None, {}
        self.ensure_documents_collection()
        for name in self._record_names:
            self._ensure_record_collection(name)
        for hook in self._after_open:
            hook()

    def _mark_down(self, error: StoreError) -> None:
        with self._lock:
            if self._usable:  # it was working (an attempt to open raises to its caller, who says so)
                logger.warning("the index cannot be used: %s [%s]; trying again as requests come", error.message,
                               error.code)
            self._usable, self._down = False, error
            self._backoff = min(RETRY_MAX_S, self._backoff * 2 or RETRY_FIRST_S)
            self._retry_at = self.clock() + self._backoff

    def close(self) -> None:
        self._closed, self._usable = True, False
        if self.client is None:
            return
        try:
            self.client.close()
        except Exception:  # closing a half-open client must not hide the error that got us here
            logger.debug("closing the Qdrant client failed", exc_info=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, what: str, fn: Callable[[], T], *, retries: int = 2) -> T:
        self._available()
        opening = self._opening == threading.get_ident()
        if opening:
            retries = 0  # an attempt to open: its backoff is the retry, and it marks the store down itself
        for attempt in range(retries + 1):
            try:
                with self._lock:
                    return fn()
            except StoreError:
                raise
            except Exception as exc:
                if self.local or attempt == retries or "already accessed" in str(exc):
                    error = _translate(exc, what, self.where)
                    if not self.local and not opening and _is_outage(exc):
                        self._mark_down(error)
                    raise error from exc
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- schema --------------------------------------------------------------------------------------

    def _create_collection(self, name: str, create: Callable[[], Any]) -> None:
        """Create a collection; another replica creating it at the same moment is not an error."""
        try:
            self._call("create collection", create)
        except StoreError:
            if not self._call("collection check", lambda: self.client.collection_exists(name)):
                raise

    def ensure_documents_collection(self) -> None:
        if self._call("collection check", lambda: self.client.collection_exists(self.documents)):
            return
        self._create_collection(self.documents, lambda: self.client.create_collection(
            self.documents, vectors_config={}, shard_number=self.shards, replication_factor=self.replicas))
        if not self.local:
            from qdrant_client import models

            for field in ("status", "source"):
                self._call("create index", lambda f=field: self.client.create_payload_index(  # type: ignore[misc]
                    self.documents, f, models.PayloadSchemaType.KEYWORD))

    def ensure_chunks_collection(self, dim: int) -> None:
        from qdrant_client import models

        if self._call("collection check", lambda: self.client.collection_exists(self.chunks)):
            info = self._call("collection info", lambda: self.client.get_collection(self.chunks))
            vectors = info.config.params.vectors
            existing = vectors[DENSE].size if isinstance(vectors, dict) else None
            if existing != dim:
                raise ConfigError(
                    f"the index holds {existing}-dimensional vectors but the embedding model makes {dim}; "
                    "use the model the index was built with (FOLIO_EMBED_MODEL) or a new FOLIO_DATA_DIR"
                )
            return
        self._create_collection(self.chunks, lambda: self.client.create_collection(
            self.chunks,
            vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            shard_number=self.shards, replication_factor=self.replicas,
        ))
        if not self.local:
            for field in ("doc_id", "statements"):
                self._call("create index", lambda f=field: self.client.create_payload_index(  # type: ignore[misc]
                    self.chunks, f, models.PayloadSchemaType.KEYWORD))

    def has_chunks_collection(self) -> bool:
        return bool(self._call("collection check", lambda: self.client.collection_exists(self.chunks)))

    # -- documents -----------------------------------------------------------------------------------

    def get_document(self, doc_id: str, *, with_pages: bool = False,
                     tenant: str | None = None) -> DocumentRecord | None:
        """The document's record; with ``tenant``, only if that tenant owns it (else None, as if absent)."""
        exclude = None if with_pages else ["pages"]
        points = self._call("read", lambda: self.client.retrieve(
            self.documents, [document_point_id(doc_id)], with_payload=_payload_selector(exclude)))
        if not points or not points[0].payload or points[0].payload.get("id") != doc_id:
            return None
        record = DocumentRecord.model_validate(points[0].payload)
        if tenant is not None and record.tenant != tenant:
            return None
        return record

    def require_document(self, doc_id: str, *, with_pages: bool = False,
                         tenant: str | None = None) -> DocumentRecord:
        record = self.get_document(doc_id, with_pages=with_pages, tenant=tenant)
        if record is None:
            raise DocumentNotFound(f"no document with id {doc_id}", document_id=doc_id)
        return record

    def _scroll(self, collection: str, flt: Any, payload: Any) -> Iterator[Any]:
        offset = None
        while True:
            points, offset = self._call("scroll", lambda o=offset: self.client.scroll(  # type: ignore[misc]
                collection, scroll_filter=flt, limit=256, offset=o, with_payload=payload, with_vectors=False))
            yield from points
            if offset is None:
                return

    def list_documents(self, *, status: str | None = "ready", tenant: str | None = None) -> list[DocumentRecord]:
        """Documents in canonical order: ingest time, then id; with ``tenant``, only that tenant's."""
        from qdrant_client import models

        if self.local:
            with self._lock:
                if self._records is None:
                    self._records = sorted((DocumentRecord.model_validate(p.payload) for p in self._scroll(
                        self.documents, None, _payload_selector(["pages"]))), key=lambda r: (r.ingested_at, r.id))
                return [r for r in self._records if (status is None or r.status == status)
                        and (tenant is None or r.tenant == tenant)]
        flt = None
        if status is not None:
            flt = models.Filter(must=[models.FieldCondition(key="status", match=models.MatchValue(value=status))])
        # the tenant is checked here, not in the filter: records from before tenants lack the field
        records = [r for r in (DocumentRecord.model_validate(p.payload)
                               for p in self._scroll(self.documents, flt, _payload_selector(["pages"])))
                   if tenant is None or r.tenant == tenant]
        return sorted(records, key=lambda r: (r.ingested_at, r.id))

    def resolve_id(self, prefix: str, *, tenant: str | None = None) -> str:
        """The full id of the one document (of ``tenant``'s, if given) whose id starts with ``prefix`` (at
        least 6 characters)."""
        prefix = prefix.strip().lower()
        matches = [r.id for r in self.list_documents(status=None, tenant=tenant) if r.id.startswith(prefix)]
        if len(prefix) < 6 and prefix not in matches:
            matches = []
        if len(matches) != 1:
            reason = "no document" if not matches else f"{len(matches)} documents"
            raise DocumentNotFound(f"{reason} with an id starting {prefix!r}", document_id=prefix)
        return matches[0]

    def find_by_source(self, source: str, *, tenant: str | None = None) -> list[DocumentRecord]:
        """The documents ingested from ``source`` (a path, or ``upload:NAME``), of ``tenant`` if given."""
        from qdrant_client import models

        if self.local:
            return [r for r in self.list_documents(status=None, tenant=tenant) if r.source == source]
        flt = models.Filter(must=[models.FieldCondition(key="source", match=models.MatchValue(value=source))])
        records = [DocumentRecord.model_validate(p.payload)
                   for p in self._scroll(self.documents, flt, _payload_selector(["pages"]))]
        return [r for r in records if tenant is None or r.tenant == tenant]

    def page_text(self, doc_id: str, page: int, *, tenant: str | None = None) -> str:
        record = self.require_document(doc_id, with_pages=True, tenant=tenant)
        assert record.pages is not None
        if not 0 <= page < len(record.pages):
            raise DocumentNotFound(f"document {doc_id} has no page {page} (it has {record.n_pages})",
                                   document_id=doc_id)
        return record.pages[page]

    def begin_document(self, record: DocumentRecord) -> None:
        from qdrant_client import models

        payload = record.model_dump()
        payload["status"] = "writing"
        point = models.PointStruct(id=document_point_id(record.id), vector={}, payload=payload)
        self._write_documents(lambda: self.client.upsert(self.documents, [point], wait=True))

    def _write_documents(self, fn: Callable[[], Any]) -> None:
        with self._lock:
            self._records = None  # re-read after any write, even a failed one
            self._call("write", fn)

    def _set_status(self, doc_id: str, status: str, **extra: Any) -> None:
        self._write_documents(lambda: self.client.set_payload(
            self.documents, {"status": status, **extra}, points=[document_point_id(doc_id)], wait=True))

    def finish_document(self, doc_id: str, n_chunks: int) -> None:
        self._set_status(doc_id, "ready", n_chunks=n_chunks)

    def upsert_chunks(self, doc_id: str, chunks: Sequence[Chunk], dense: np.ndarray,
                      sparse: Sequence[SparseVector], statements: Mapping[int, Sequence[str]] | None = None) -> None:
        """Write a batch of a document's chunks; ``statements``: page -> the financial statements on it (a chunk
        on such a page carries their kinds in its payload's ``statements``, for the search's statement lane)."""
        from qdrant_client import models

        def payload(c: Chunk) -> dict[str, Any]:
            out: dict[str, Any] = {"doc_id": doc_id, "chunk_index": c.index, "first_page": c.first_page,
                                   "last_page": c.last_page, "start": c.start, "end": c.end, "heading": c.heading,
                                   "text": c.text}
            kinds = chunk_statements(c.first_page, c.last_page, statements or {})
            if kinds:
                out["statements"] = kinds
            return out

        points = [
            models.PointStruct(
                id=chunk_point_id(doc_id, c.index),
                vector={DENSE: dense[i].tolist(),
                        SPARSE: models.SparseVector(indices=sparse[i].indices, values=sparse[i].values)},
                payload=payload(c),
            )
            for i, c in enumerate(chunks)
        ]
        with self._lock:
            self._call("write", lambda: self.client.upsert(self.chunks, points, wait=True), retries=4)
            if self._index is not None:
                self._index.upsert(doc_id, [LocalChunkIndex.chunk(str(p.id), dense[i], sparse[i].indices,
                                                                  sparse[i].values, p.payload or {})
                                            for i, p in enumerate(points)])

    def _delete_chunks(self, doc_id: str) -> None:
        from qdrant_client import models

        if not self.has_chunks_collection():
            return
        flt = models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))])
        with self._lock:
            if self._index is not None:
                self._index.remove(doc_id)  # first: a failed delete must not leave stale search results
            self._call("delete", lambda: self.client.delete(
                self.chunks, points_selector=models.FilterSelector(filter=flt), wait=True))

    def delete_document(self, doc_id: str) -> None:
        """Remove a document and all of its chunks; invisible to queries from the first write on."""
        from qdrant_client import models

        if self.get_document(doc_id) is None:
            raise DocumentNotFound(f"no document with id {doc_id}", document_id=doc_id)
        self._set_status(doc_id, "deleting")
        self._delete_chunks(doc_id)
        self._write_documents(lambda: self.client.delete(
            self.documents, points_selector=models.PointIdsList(points=[document_point_id(doc_id)]), wait=True))

    def tag_documents(self) -> list[str]:
        """Tag every ready document ingested before Folio tagged its financial statement pages and its genre (a
        record's ``statement_pages`` or ``genre`` is None): computed from the stored page texts, then written to
        the record and to the payload of the chunks on statement pages. Returns the ids of the documents tagged
        now; idempotent, so replicas may run it at once."""
        from qdrant_client import models

        tagged: list[str] = []
        payload_index = self.local  # server mode: a collection made before the lane lacks its payload index
        for listed in self.list_documents(status="ready"):
            if listed.statement_pages is not None and listed.genre is not None:
                continue
            record = self.get_document(listed.id, with_pages=True)
            if record is None or record.status != "ready":
                continue  # deleted or replaced meanwhile
            found = (document_statements(record.pages or []) if record.statement_pages is None
                     else record.statement_pages)
            genre = record.genre or document_genre(record.pages or [], found)
            by_page = pages_by_kind(found) if record.statement_pages is None else {}
            if by_page and self.has_chunks_collection():
                if not payload_index:
                    self._call("create index", lambda: self.client.create_payload_index(
                        self.chunks, "statements", models.PayloadSchemaType.KEYWORD))
                    payload_index = True
                flt = models.Filter(must=[models.FieldCondition(key="doc_id",
                                                                match=models.MatchValue(value=record.id))])
                groups: dict[tuple[str, ...], list[Any]] = {}
                for point in self._scroll(self.chunks, flt, ["first_page", "last_page"]):
                    p = point.payload or {}
                    on = chunk_statements(int(p["first_page"]), int(p["last_page"]), by_page)
                    if on:
                        groups.setdefault(tuple(on), []).append(point.id)
                with self._lock:
                    for kinds, ids in groups.items():
                        self._call("write", lambda k=kinds, i=ids: self.client.set_payload(  # type: ignore[misc]
                            self.chunks, {"statements": list(k)}, points=i, wait=True))
                    self._index = None  # local mode: re-read with the new payloads on the next search
            self._write_documents(lambda f=found, g=genre, i=record.id: self.client.set_payload(  # type: ignore[misc]
                self.documents, {"statement_pages": f, "genre": g}, points=[document_point_id(i)], wait=True))
            tagged.append(record.id)
        return tagged

    def recover(self, *, older_than_s: float | None = None) -> list[str]:
        """Purge documents a killed process left in ``writing`` or ``deleting``; return their ids.

        ``older_than_s``: only those begun at least that long ago. On a shared Qdrant server another process may
        be writing a document right now; only one left unfinished for hours was abandoned."""
        cutoff = None if older_than_s is None else datetime.now(UTC) - timedelta(seconds=older_than_s)
        purged = []
        for record in self.list_documents(status=None):
            if record.status == "ready":
                continue
            begun = datetime.fromisoformat(record.ingested_at)
            if cutoff is not None and (begun if begun.tzinfo else begun.replace(tzinfo=UTC)) >= cutoff:
                continue
            self.delete_document(record.id)
            purged.append(record.id)
        return purged

    def count_chunks(self, doc_id: str | None = None) -> int:
        from qdrant_client import models

        if not self.has_chunks_collection():
            return 0
        flt = None
        if doc_id is not None:
            flt = models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))])
        result = self._call("count", lambda: self.client.count(self.chunks, count_filter=flt, exact=True))
        return int(result.count)

    # -- plain records (the service's ledger and upload jobs) ---------------------------------------------

    def record_collection(self, suffix: str) -> str:
        """A vector-less collection for plain records, created on first use: ``{prefix}_{suffix}``. While the
        index cannot be used, it is created when the store opens (or finds the server again)."""
        name = f"{self.chunks.rsplit('_', 1)[0]}_{suffix}"
        if name not in self._record_names:
            self._record_names.append(name)
        if not self._usable:
            try:
                self._available()  # opening makes every record collection
            except StoreError as exc:
                logger.debug("%s: made when the index opens (%s)", name, exc.code)
            return name
        self._ensure_record_collection(name)
        return name

    def _ensure_record_collection(self, name: str) -> None:
        if not self._call("collection check", lambda: self.client.collection_exists(name)):
            self._create_collection(name, lambda: self.client.create_collection(
                name, vectors_config={}, shard_number=self.shards, replication_factor=self.replicas))

    def get_record(self, collection: str, record_id: str) -> dict[str, Any] | None:
        """One plain record's payload by its id (a UUID), or None; read from Qdrant in both modes."""
        points = self._call("read", lambda: self.client.retrieve(collection, [record_id], with_payload=True))
        return dict(points[0].payload or {}) if points else None

    def delete_records(self, collection: str, record_ids: Sequence[str]) -> None:
        from qdrant_client import models

        if not record_ids:
            return
        with self._lock:
            self._call("delete", lambda: self.client.delete(
                collection, points_selector=models.PointIdsList(points=list(record_ids)), wait=True))
            for record_id in record_ids:
                self._plain.get(collection, {}).pop(str(uuid.UUID(record_id)), None)

    def put_record(self, collection: str, record_id: str, payload: dict[str, Any]) -> None:
        from qdrant_client import models

        point = models.PointStruct(id=record_id, vector={}, payload=payload)
        with self._lock:
            self._call("write", lambda: self.client.upsert(collection, [point], wait=True), retries=4)
            if collection in self._plain:
                self._plain[collection][str(uuid.UUID(record_id))] = dict(payload)

    def records(self, collection: str, *, key: str | None = None, value: str = "") -> list[dict[str, Any]]:
        """Every record's payload, or those whose ``key`` equals ``value``."""
        from qdrant_client import models

        if self.local:
            with self._lock:
                if collection not in self._plain:
                    self._plain[collection] = {str(p.id): dict(p.payload or {})
                                               for p in self._scroll(collection, None, True)}
                return [dict(p) for p in self._plain[collection].values() if key is None or p.get(key) == value]
        flt = None
        if key is not None:
            flt = models.Filter(must=[models.FieldCondition(key=key, match=models.MatchValue(value=value))])
        return [dict(p.payload or {}) for p in self._scroll(collection, flt, True)]

    # -- search --------------------------------------------------------------------------------------

    def search(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
               limit: int = 10, mode: SearchMode = "hybrid", candidates: int | None = None,
               distinct: bool = True, statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]:
        """Top chunks of the given (ready) documents: dense, BM25, or both fused by reciprocal rank.

        ``distinct`` (the default): the page-diverse top ``limit``, each result adding a page the ones before it do
        not span (``ingest.local_index.distinct_pages``); otherwise the plain top ``limit`` chunks.
        ``statements`` (hybrid only): financial statement kinds the question asks about (``ingest.statements``);
        the chunks of those statements' pages, ranked by dense similarity, join the fusion as a third list.
        ``bm25_weight`` (hybrid only): BM25's weight in the fusion (Qdrant's weighted RRF), dense's being 1.
        """
        if not doc_ids or not self.has_chunks_collection():
            return []
        pool = candidates or max(limit * 4, 20)
        if self.local and (self.memory_index or self._index is not None):
            with self._lock:
                index = self.local_index()
                found = index.search(dense=dense, sparse=(sparse.indices, sparse.values) if sparse else None,
                                     doc_ids=doc_ids, limit=limit, mode=mode, pool=pool, distinct=distinct,
                                     statements=statements, bm25_weight=bm25_weight)
            return [_hit(payload, score) for payload, score in found]
        return self.search_qdrant(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode, pool=pool,
                                  distinct=distinct, statements=statements, bm25_weight=bm25_weight)

    def search_qdrant(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
                      limit: int, mode: SearchMode, pool: int, distinct: bool = True,
                      statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]:
        """The same search as Qdrant's Query API runs it (prefetch both, fuse): the server-mode path, and
        in local mode the reference that tests and benchmarks hold the in-memory index to.

        With ``distinct``, Qdrant ranks ``candidate_depth`` chunks and the page-diverse top ``limit`` is picked
        from them here, by the same function as the in-memory index.
        """
        from qdrant_client import models

        flt = models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(doc_ids)))])
        dense_q = dense.tolist() if dense is not None else None
        sparse_q = models.SparseVector(indices=sparse.indices, values=sparse.values) if sparse else None
        if mode == "bm25" and (sparse_q is None or not sparse.indices):  # type: ignore[union-attr]
            return []
        if mode == "dense" or (mode == "hybrid" and (sparse_q is None or not sparse_q.indices)):
            mode = "dense"
        lanes = 3 if mode == "hybrid" and statements else 2
        depth = candidate_depth(mode, limit, pool, lanes) if distinct else limit
        if mode == "dense":
            response = self._call("search", lambda: self.client.query_points(
                self.chunks, query=dense_q, using=DENSE, query_filter=flt, limit=depth, with_payload=True))
        elif mode == "bm25":
            response = self._call("search", lambda: self.client.query_points(
                self.chunks, query=sparse_q, using=SPARSE, query_filter=flt, limit=depth, with_payload=True))
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
            response = self._call("search", lambda: self.client.query_points(
                self.chunks, prefetch=prefetch, query=fusion, limit=depth, with_payload=True))
        found = [(point.payload or {}, float(point.score)) for point in response.points]
        if distinct:
            found = distinct_pages(found, limit)
        return [_hit(payload, score) for payload, score in found]

    def local_index(self) -> LocalChunkIndex:
        """Local mode's in-memory copy of the chunks, read from the collection on first use."""
        with self._lock:
            if self._index is None:
                info = self._call("collection info", lambda: self.client.get_collection(self.chunks))
                vectors = info.config.params.vectors
                index = LocalChunkIndex(dim=vectors[DENSE].size if isinstance(vectors, dict) else 0)
                by_doc: dict[str, list[Any]] = {}
                offset = None
                while True:
                    points, offset = self._call("scroll", lambda o=offset: self.client.scroll(  # type: ignore[misc]
                        self.chunks, limit=4096, offset=o, with_payload=True, with_vectors=True))
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
                    index.upsert(doc_id, chunks)
                self._index = index
            return self._index


def _hit(p: dict[str, Any], score: float) -> Hit:
    return Hit(doc_id=p["doc_id"], chunk_index=p["chunk_index"], first_page=p["first_page"],
               last_page=p["last_page"], start=p["start"], end=p["end"], heading=p.get("heading"),
               text=p["text"], score=score)


def _payload_selector(exclude: list[str] | None) -> Any:
    if not exclude:
        return True
    from qdrant_client import models

    return models.PayloadSelectorExclude(exclude=exclude)
