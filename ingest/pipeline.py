"""Batch ingestion: files in, ready documents in the index out, with progress events.

Per file: read and hash (an unchanged file is skipped at once), prepare (parse, normalise, count tokens,
chunk) in a worker process that runs ahead of the embedder, embed in batches while a writer thread stores
the previous batch, then mark the document ready. A new version of a file at the same source replaces
the old one only once the new one is fully written.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from ingest.chunk import document_text
from ingest.config import Settings
from ingest.embed import Embedder
from ingest.errors import CorruptFile, FileNotFound, FileTooLarge, FolioError, InputError
from ingest.prepare import ChunkParams, PreparedDocument, content_id, prepare
from ingest.sparse import document_vector
from ingest.store import DocumentRecord, Store

Status = Literal["ingested", "replaced", "skipped", "failed"]
# Chunks per encode call: large enough that length-sorted batches waste little on padding, small enough
# that progress moves, the writer thread overlaps with the next call, and the model's thread count can
# follow the parser (``Ingestor._share_cores``).
EMBED_BATCH = 128


@dataclass
class Source:
    """One input: a file on disk, or uploaded bytes with a name."""

    name: str
    key: str
    path: Path | None = None
    data: bytes | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            return self.path.read_bytes()
        except FileNotFoundError as exc:
            raise FileNotFound("file not found", file=self.name) from exc
        except IsADirectoryError as exc:
            raise InputError("is a directory", file=self.name) from exc
        except PermissionError as exc:
            raise InputError("permission denied", file=self.name) from exc
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror}", file=self.name) from exc


@dataclass
class FileResult:
    name: str
    status: Status
    doc_id: str | None = None
    title: str | None = None
    pages: int = 0
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0
    replaced: list[str] = field(default_factory=list)
    error: FolioError | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.name, "status": self.status, "document_id": self.doc_id,
                               "title": self.title, "pages": self.pages, "chunks": self.chunks,
                               "tokens": self.tokens, "seconds": round(self.seconds, 3)}
        if self.replaced:
            out["replaced"] = self.replaced
        if self.error is not None:
            out["error"] = self.error.to_dict()
        return out


class Progress(Protocol):
    """Receives ingestion events; the CLI draws bars, the API keeps a status to poll."""

    def start(self, total_files: int) -> None: ...

    def file_prepared(self, name: str, pages: int, chunks: int) -> None: ...

    def chunks_done(self, name: str, n: int) -> None: ...

    def file_done(self, result: FileResult) -> None: ...

    def finish(self, results: list[FileResult]) -> None: ...


class NullProgress:
    def start(self, total_files: int) -> None:
        pass

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        pass

    def chunks_done(self, name: str, n: int) -> None:
        pass

    def file_done(self, result: FileResult) -> None:
        pass

    def finish(self, results: list[FileResult]) -> None:
        pass


def collect_paths(paths: Iterable[Path], *, recursive: bool = False, glob: str | None = None) -> list[Source]:
    """Expand files and folders into sources in a stable order; missing paths become failing sources."""
    from ingest.parse import SUPPORTED_SUFFIXES

    out: list[Source] = []
    for path in paths:
        if path.is_dir():
            pattern = glob or "*"
            found = path.rglob(pattern) if recursive else path.glob(pattern)
            files = sorted(p for p in found if p.is_file() and not p.name.startswith("."))
            if glob is None:
                files = [p for p in files if p.suffix.lower() in SUPPORTED_SUFFIXES]
            out.extend(Source(name=str(p), key=str(p.resolve()), path=p) for p in files)
        else:
            out.append(Source(name=str(path), key=str(path.resolve()), path=path))
    return out


def _lower_priority() -> None:
    """Parser workers yield a little to the embedder, for the moments before ``_share_cores`` hands the
    model fewer threads; a much lower priority starves the parser when other processes load the machine."""
    with contextlib.suppress(OSError):  # not permitted: run at normal priority
        os.nice(5)


def _prepare_job(name: str, data: bytes, params: ChunkParams, max_bytes: int) -> PreparedDocument:
    return prepare(name, data, params, max_bytes)


class Ingestor:
    """Ingests sources into a store with one embedder; reusable across batches (CLI and API)."""

    def __init__(self, store: Store, embedder_factory: Callable[[], Embedder], settings: Settings, *,
                 workers: int | None = None) -> None:
        self.store = store
        self.settings = settings
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._workers = settings.ingest_workers if workers is None else workers
        self._pool: cf.ProcessPoolExecutor | None = None
        self._inflight: list[cf.Future[PreparedDocument]] = []
        self.params = ChunkParams(model=settings.embed_model, chunk_tokens=settings.chunk_tokens,
                                  overlap=settings.chunk_overlap, heading_tokens=settings.heading_tokens)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        return self._embedder

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_lower_priority)
        return self._pool

    @property
    def max_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1_000_000)

    def run(self, sources: list[Source], progress: Progress | None = None) -> list[FileResult]:
        """Ingest every source; a failing file is reported and the batch goes on. Results keep input order."""
        progress = progress or NullProgress()
        progress.start(len(sources))
        self.store.recover()
        results: dict[int, FileResult] = {}

        def done(position: int, result: FileResult) -> None:
            results[position] = result
            progress.file_done(result)

        todo: list[tuple[Source, bytes | None, str, float]] = []
        positions: list[int] = []
        for position, source in enumerate(sources):
            started = time.perf_counter()
            try:
                data = self._read_checked(source)
                doc_id = content_id(data)
                existing = self.store.get_document(doc_id)
            except FolioError as exc:
                done(position, FileResult(name=source.name, status="failed", error=exc))
                continue
            duplicate = next((t for t in todo if t[2] == doc_id), None)
            if duplicate is not None:
                result = FileResult(name=source.name, status="skipped", doc_id=doc_id,
                                    title=f"same bytes as {duplicate[0].name}",
                                    seconds=time.perf_counter() - started)
                done(position, result)
                continue
            if existing is not None and existing.status == "ready":
                done(position, FileResult(name=source.name, status="skipped", doc_id=doc_id, title=existing.title,
                                          pages=existing.n_pages, chunks=existing.n_chunks,
                                          tokens=existing.total_tokens, seconds=time.perf_counter() - started))
                continue
            # files on disk are read again when their parse job starts: memory holds only the files in flight
            todo.append((source, None if source.path is not None and source.data is None else data, doc_id, started))
            positions.append(position)
        for position, result in zip(positions, self._ingest_prepared(todo, progress), strict=False):
            done(position, result)
        ordered = [results[i] for i in sorted(results)]
        progress.finish(ordered)
        return ordered

    def _read_checked(self, source: Source) -> bytes:
        if source.path is not None and source.data is None:
            try:
                size = source.path.stat().st_size
            except FileNotFoundError as exc:
                raise FileNotFound("file not found", file=source.name) from exc
            if size > self.max_bytes:
                raise FileTooLarge(f"file is {size / 1e6:.1f} MB, over the {self.settings.max_file_mb:g} MB "
                                   "limit (FOLIO_MAX_FILE_MB)", file=source.name)
        return source.read()

    def _prepared(self, todo: list[tuple[Source, bytes | None, str, float]], before_wait: Callable[[], object]
                  ) -> Iterator[tuple[Source, str, float, PreparedDocument | FolioError]]:
        """Prepared documents in input order, with up to two files prepared ahead of the consumer.

        ``before_wait`` runs once the first jobs are submitted, before waiting for them (model loading).
        """
        if not todo:
            return
        if self._workers == 0:  # inline: no process start-up (tests, tiny uploads)
            for source, data, doc_id, started in todo:
                try:
                    payload = data if data is not None else source.read()
                    yield source, doc_id, started, prepare(source.name, payload, self.params, self.max_bytes)
                except FolioError as exc:
                    yield source, doc_id, started, exc
            return
        pool = self._get_pool()
        ahead = 2
        futures: list[cf.Future[PreparedDocument]] = []

        def submit(source: Source, data: bytes | None) -> cf.Future[PreparedDocument]:
            try:
                payload = data if data is not None else source.read()
            except FolioError as exc:
                failed: cf.Future[PreparedDocument] = cf.Future()
                failed.set_exception(exc)
                return failed
            return pool.submit(_prepare_job, source.name, payload, self.params, self.max_bytes)

        for source, data, _, _ in todo[:ahead]:
            futures.append(submit(source, data))
        self._inflight = futures
        before_wait()
        for i, (source, _, doc_id, started) in enumerate(todo):
            nxt = i + ahead
            if nxt < len(todo):
                s, d, _, _ = todo[nxt]
                futures.append(submit(s, d))
            try:
                yield source, doc_id, started, futures[i].result()
            except FolioError as exc:
                yield source, doc_id, started, exc
            except cf.process.BrokenProcessPool:
                self._pool = None
                yield source, doc_id, started, CorruptFile(
                    "the parser crashed on this file (worker process died)", file=source.name)
                # the rest of the queue was lost with the pool: resubmit it
                pool = self._get_pool()
                futures[i + 1:] = [submit(s, d) for s, d, _, _ in todo[i + 1 : i + 1 + ahead]]
            todo[i] = (source, None, doc_id, started)  # free the bytes early

    def _ingest_prepared(self, todo: list[tuple[Source, bytes | None, str, float]],
                         progress: Progress) -> Iterator[FileResult]:
        # the model loads while the worker parses the first files
        for source, doc_id, started, prepared in self._prepared(todo, before_wait=lambda: self.embedder):
            if isinstance(prepared, FolioError):
                yield FileResult(name=source.name, status="failed", error=prepared,
                                 seconds=time.perf_counter() - started)
                continue
            progress.file_prepared(source.name, len(prepared.pages), len(prepared.chunks))
            try:
                replaced = self._write(source, prepared, progress)
            except FolioError as exc:
                yield FileResult(name=source.name, status="failed", doc_id=doc_id, error=exc,
                                 seconds=time.perf_counter() - started)
                if exc.http_status >= 500:  # the store itself failed: stop rather than fail every file
                    raise
                continue
            yield FileResult(name=source.name, status="replaced" if replaced else "ingested", doc_id=doc_id,
                             title=prepared.title, pages=len(prepared.pages), chunks=len(prepared.chunks),
                             tokens=prepared.total_tokens, seconds=time.perf_counter() - started,
                             replaced=replaced)

    def _share_cores(self, embedder: Embedder) -> None:
        """While the parser worker has a file to parse, the model leaves it one core; otherwise it takes all.

        On 2 cores a parser and a 2-thread model running together make torch's threads wait on each other
        (encoding ran at half speed); splitting the cores keeps both busy without that contention.
        """
        set_threads = getattr(embedder, "set_threads", None)
        if set_threads is None or self._workers == 0:
            return
        parsing = any(not f.done() for f in self._inflight)
        cores = os.cpu_count() or 1
        set_threads(max(1, cores - self._workers) if parsing else cores)

    def _write(self, source: Source, doc: PreparedDocument, progress: Progress) -> list[str]:
        embedder = self.embedder
        self.store.ensure_chunks_collection(embedder.dim)
        record = DocumentRecord(
            id=doc.id, file_name=Path(source.name).name, source=source.key, title=doc.title, format=doc.format,
            size_bytes=doc.size_bytes, n_pages=len(doc.pages), n_chunks=len(doc.chunks),
            total_tokens=doc.total_tokens, page_tokens=doc.page_tokens, status="writing",
            ingested_at=datetime.now(UTC).isoformat(timespec="microseconds"), embed_model=embedder.name,
            virtual_pages=doc.virtual_pages, page_starts=document_text(doc.pages)[1], pages=doc.pages,
        )
        self.store.begin_document(record)
        with cf.ThreadPoolExecutor(1) as writer:
            pending: cf.Future[None] | None = None
            for i in range(0, len(doc.chunks), EMBED_BATCH):
                batch = doc.chunks[i : i + EMBED_BATCH]
                texts = [c.embed_text for c in batch]
                self._share_cores(embedder)
                dense = embedder.embed(texts)
                sparse = [document_vector(t) for t in texts]
                if pending is not None:
                    pending.result()
                pending = writer.submit(self.store.upsert_chunks, doc.id, batch, dense, sparse)
                progress.chunks_done(source.name, len(batch))
            if pending is not None:
                pending.result()
        self.store.finish_document(doc.id, len(doc.chunks))
        replaced = [old.id for old in self.store.find_by_source(source.key) if old.id != doc.id]
        for old_id in replaced:
            self.store.delete_document(old_id)
        return replaced
