"""Batch ingestion: files in, ready documents in the index out, with progress events.

Per file: read and hash (an unchanged file is skipped at once), prepare (parse, OCR the pages that need it,
normalise, count tokens, chunk) in a worker process that runs ahead of the embedder, embed in batches while
a writer thread stores the previous batch, then mark the document ready. A new version of a file at the
same source replaces the old one only once the new one is fully written.

The worker processes (``ingest.sandbox``) parse each file under a deadline (``FOLIO_PARSE_TIMEOUT_S``) and a
memory cap (``FOLIO_PARSE_MEMORY_MB``): a file past either fails with its code (``parse_timeout``,
``parse_memory``), its worker is replaced, and the batch goes on. With ``workers=0`` files are parsed inline,
in this process, with neither (tests).

OCR runs in parallel with embedding: a scanned file is read by Tesseract processes that the parser worker
starts (``ingest.ocr``) while the embedder works through the files before it; the worker sends "page k of
n" events back through a queue, and the embedding loop passes them on to the progress object.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import queue
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from folio.config import Settings
from folio.errors import DocumentConflict, FileNotFound, FileTooLarge, FolioError, TooManyPages
from folio.index.sparse import document_vector
from folio.ingest.chunk import document_text
from folio.ingest.embed import Embedder, backend_of
from folio.ingest.ocr import OcrOptions, OcrReport, ocr_run
from folio.ingest.parse import ParseLimits
from folio.ingest.prepare import ChunkParams, PreparedDocument, prepare
from folio.ingest.reports import FileResult, NullProgress, Progress, report_ocr_page
from folio.ingest.sandbox import ParserPool, SandboxLimits, report_event
from folio.ingest.sources import Source, document_id, safe_file_name
from folio.ingest.statements import pages_by_kind
from folio.ingest.store import STALE_WRITE_S, Store
from folio.records import DocumentRecord
from folio.records.document_files import DocumentFile

# Chunks per encode call: large enough that length-sorted batches waste little on padding, small enough
# that progress moves, the writer thread overlaps with the next call, and the model's thread count can
# follow the parser (``Ingestor._share_cores``).
EMBED_BATCH = 128
# A document is embedded in about this many batches (of at least MIN_EMBED_BATCH chunks) when it has fewer than
# PROGRESS_STEPS * EMBED_BATCH chunks, so the count of chunks embedded moves during embedding: a 125-chunk
# document in one batch of 128 would go from 0 to 125 only when it is done.
PROGRESS_STEPS = 8
MIN_EMBED_BATCH = 16
# How often the embedder looks for OCR progress while it waits for the parser worker.
EVENT_POLL_S = 0.25
def embed_batch_size(n_chunks: int) -> int:
    """Chunks per embedding call for a document of ``n_chunks``: ``EMBED_BATCH``, or less for a small document,
    so that its progress is reported in about ``PROGRESS_STEPS`` steps."""
    return max(MIN_EMBED_BATCH, min(EMBED_BATCH, -(-n_chunks // PROGRESS_STEPS)))




def _warm_worker(params: ChunkParams) -> None:
    """A parser worker's set-up: load the tokenizers (and start their threads) before its memory is capped and
    before its first file's clock starts."""
    prepare("warm-up.txt", b"The worker is ready.", params)


def _prepare_job(name: str, data: bytes, params: ChunkParams, max_bytes: int, ocr: OcrOptions,
                 limits: ParseLimits) -> tuple[PreparedDocument, OcrReport | None]:
    """In a parser worker: one file, its OCR progress sent back as ``(name, done, total)`` events."""
    def on_page(done: int, total: int) -> None:
        report_event((name, done, total))

    with ocr_run(ocr, on_page) as run:
        prepared = prepare(name, data, params, max_bytes, limits)
    return prepared, run.report


class Ingestor:
    """Ingests sources into a store with one embedder; reusable across batches (CLI and API)."""

    def __init__(self, store: Store, embedder_factory: Callable[[], Embedder], settings: Settings, *,
                 workers: int | None = None, worker_idle_s: float | None = None) -> None:
        self.store = store
        self.settings = settings
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._workers = settings.ingest_worker_count if workers is None else workers
        self._pool: ParserPool | None = None  # started with the first file, in a worker process
        self._tagged = False  # Store.tag_documents has run for this ingestor
        self._worker_idle_s = worker_idle_s  # a parser worker with nothing to do for this long exits
        self._closed = False
        self._inflight: list[cf.Future[tuple[PreparedDocument, OcrReport | None]]] = []
        self.params = ChunkParams(model=settings.embed_model, chunk_tokens=settings.chunk_tokens,
                                  overlap=settings.chunk_overlap, heading_tokens=settings.heading_tokens)
        self.ocr = OcrOptions.from_settings(settings)
        self.limits = ParseLimits.from_settings(settings)
        self.sandbox = SandboxLimits.from_settings(settings)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        return self._embedder

    def close(self) -> None:
        """Stop the parser workers: a file being parsed, or queued, fails with ``interrupted``, and so does any
        file given to the ingestor after this."""
        self._closed = True
        if self._pool is not None:
            self._pool.close()

    def _get_pool(self) -> ParserPool:
        if self._pool is None:
            self._pool = ParserPool(self._workers, self.sandbox, setup=_warm_worker, setup_args=(self.params,),
                                    idle_s=self._worker_idle_s)
            if self._closed:
                self._pool.close()
        return self._pool

    def parser_pids(self) -> list[int]:
        """The parser worker processes now running (none before the first file, or inline)."""
        return self._pool.pids() if self._pool is not None else []

    def _drain_events(self, progress: Progress) -> None:
        """Pass the parser worker's OCR progress events on to ``progress``."""
        pool = self._pool
        while pool is not None:
            try:
                name, done, total = pool.events.get_nowait()
            except queue.Empty:
                return
            report_ocr_page(progress, name, done, total)

    def _wait(self, future: cf.Future[tuple[PreparedDocument, OcrReport | None]], progress: Progress
              ) -> tuple[PreparedDocument, OcrReport | None]:
        while True:
            try:
                result = future.result(timeout=EVENT_POLL_S)
            except cf.TimeoutError:
                self._drain_events(progress)
                continue
            self._drain_events(progress)
            return result

    @property
    def max_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1_000_000)

    def run(self, sources: list[Source], progress: Progress | None = None) -> list[FileResult]:
        """Ingest every source; a failing file is reported and the batch goes on. Results keep input order."""
        progress = progress or NullProgress()
        progress.start(len(sources))
        # local mode: this process is the only writer, so anything unfinished was left by a killed run; on a
        # shared server another process may be writing right now, so only the long-abandoned goes
        self.store.recover(older_than_s=None if self.store.local else STALE_WRITE_S)
        if not self._tagged:  # documents from before statement pages and genres were tagged: once an ingestor
            self.store.tag_documents()  # (the service's lives as long as it does, and tags when the index opens)
            self._tagged = True
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
                doc_id = document_id(data, source.tenant)
                existing = self.store.get_document(doc_id)
                if existing is not None and existing.tenant != source.tenant:
                    raise DocumentConflict("another tenant's document has this file's id", file=source.name)
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
                # an earlier run may have stopped between writing this version and deleting the one it
                # replaces (a kill, an outage): finish that now, or both versions would stay visible
                try:
                    replaced = self._delete_older_versions(source, doc_id)
                except FolioError as exc:
                    done(position, FileResult(name=source.name, status="failed", doc_id=doc_id, error=exc))
                    continue
                done(position, FileResult(name=source.name, status="skipped", doc_id=doc_id, title=existing.title,
                                          pages=existing.n_pages, chunks=existing.n_chunks,
                                          tokens=existing.total_tokens, seconds=time.perf_counter() - started,
                                          replaced=replaced))
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

    def _prepared(self, todo: list[tuple[Source, bytes | None, str, float]], before_wait: Callable[[], object],
                  progress: Progress
                  ) -> Iterator[tuple[Source, str, float, bytes,
                                      tuple[PreparedDocument, OcrReport | None] | FolioError]]:
        """Prepared documents (with what OCR did) and the bytes they were parsed from (the document's original file,
        kept with it), in input order, up to ``workers + 1`` files prepared ahead.

        ``before_wait`` runs once the first jobs are submitted, before waiting for them (model loading).
        """
        if not todo:
            return
        if self._workers == 0:  # inline: no process start-up, and no deadline or memory cap (tests)
            for source, data, doc_id, started in todo:
                def on_page(done: int, total: int, name: str = source.name) -> None:
                    report_ocr_page(progress, name, done, total)

                payload = b""
                try:
                    payload = data if data is not None else source.read()
                    with ocr_run(self.ocr, on_page) as run:
                        prepared = prepare(source.name, payload, self.params, self.max_bytes, self.limits)
                    yield source, doc_id, started, payload, (prepared, run.report)
                except FolioError as exc:
                    yield source, doc_id, started, payload, exc
            return
        pool = self._get_pool()
        ahead = self._workers + 1  # every worker busy, and one file more parsed ahead of the embedder
        futures: list[cf.Future[tuple[PreparedDocument, OcrReport | None]]] = []
        payloads: list[bytes] = []  # each file's bytes, until it is written (the document keeps its file)

        def submit(source: Source, data: bytes | None) -> cf.Future[tuple[PreparedDocument, OcrReport | None]]:
            try:
                payload = data if data is not None else source.read()
            except FolioError as exc:
                failed: cf.Future[tuple[PreparedDocument, OcrReport | None]] = cf.Future()
                failed.set_exception(exc)
                payloads.append(b"")
                return failed
            payloads.append(payload)
            return pool.submit(_prepare_job, source.name, payload, self.params, self.max_bytes, self.ocr,
                               self.limits, name=source.name)

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
                yield source, doc_id, started, payloads[i], self._wait(futures[i], progress)
            except FolioError as exc:  # the file's own, or the sandbox's (parse_timeout, parse_memory, a crash)
                yield source, doc_id, started, payloads[i], exc
            todo[i] = (source, None, doc_id, started)  # free the bytes early
            payloads[i] = b""

    def _ingest_prepared(self, todo: list[tuple[Source, bytes | None, str, float]],
                         progress: Progress) -> Iterator[FileResult]:
        # the model loads while the worker parses the first files
        for source, doc_id, started, payload, item in self._prepared(todo, lambda: self.embedder, progress):
            if isinstance(item, FolioError):
                yield FileResult(name=source.name, status="failed", error=item,
                                 seconds=time.perf_counter() - started)
                continue
            prepared, ocr = item
            prepared.id = doc_id  # the tenant's id for these bytes (``document_id``)
            if len(prepared.pages) > self.settings.max_pages:
                yield FileResult(name=source.name, status="failed", seconds=time.perf_counter() - started,
                                 error=TooManyPages(f"the document has {len(prepared.pages):,} pages, over the "
                                                    f"{self.settings.max_pages:,} limit (FOLIO_MAX_PAGES)",
                                                    file=source.name))
                continue
            progress.file_prepared(source.name, len(prepared.pages), len(prepared.chunks))
            embed_started = time.perf_counter()
            try:
                replaced = self._write(source, prepared, payload, progress, ocr)
            except FolioError as exc:
                yield FileResult(name=source.name, status="failed", doc_id=doc_id, error=exc,
                                 seconds=time.perf_counter() - started)
                if exc.http_status >= 500:  # the store itself failed: stop rather than fail every file
                    raise
                continue
            yield FileResult(name=source.name, status="replaced" if replaced else "ingested", doc_id=doc_id,
                             title=prepared.title, pages=len(prepared.pages), chunks=len(prepared.chunks),
                             tokens=prepared.total_tokens, seconds=time.perf_counter() - started,
                             replaced=replaced, ocr=ocr, warnings=list(prepared.warnings),
                             parse_s=prepared.prepare_s, embed_s=time.perf_counter() - embed_started)

    def _share_cores(self, embedder: Embedder) -> None:
        """While the parser worker has a file to parse, the model leaves it one core; otherwise it takes all.

        On 2 cores a parser and a 2-thread model running together make torch's threads wait on each other
        (encoding ran at half speed); splitting the cores keeps both busy without that contention.
        """
        set_threads = getattr(embedder, "set_threads", None)
        if set_threads is None or self._workers == 0:
            return
        parsing = any(not f.done() for f in self._inflight)
        cores = len(os.sched_getaffinity(0)) or 1
        set_threads(max(1, cores - self._workers) if parsing else cores)

    def _write(self, source: Source, doc: PreparedDocument, data: bytes, progress: Progress,
               ocr: OcrReport | None = None) -> list[str]:
        embedder = self.embedder
        self.store.ensure_chunks_collection(embedder.dim)
        ocr = ocr or OcrReport()
        # a title names one document of the tenant; an older version of this file, replaced below, keeps its own
        older = [r.id for r in self.store.find_by_source(source.key, tenant=source.tenant)]
        doc.title = self.store.unique_title(doc.title, tenant=source.tenant, exclude=[doc.id, *older])
        record = DocumentRecord(
            id=doc.id, file_name=safe_file_name(source.name), source=source.key, title=doc.title, format=doc.format,
            size_bytes=doc.size_bytes, n_pages=len(doc.pages), n_chunks=len(doc.chunks),
            total_tokens=doc.total_tokens, page_tokens=doc.page_tokens, status="writing",
            ingested_at=datetime.now(UTC).isoformat(timespec="microseconds"), embed_model=embedder.name,
            embed_backend=backend_of(embedder),
            virtual_pages=doc.virtual_pages, page_starts=document_text(doc.pages)[1], pages=doc.pages,
            ocr_pages=ocr.page_indexes, ocr_confidence=ocr.confidences, ocr_mean_confidence=ocr.mean_confidence,
            ocr_low_confidence_pages=ocr.low_confidence_pages, tenant=source.tenant,
            statement_pages=doc.statement_pages, genre=doc.genre, warnings=doc.warnings,
        )
        statements = pages_by_kind(doc.statement_pages)
        self.store.begin_document(record, DocumentFile.of(data, doc.format))  # the original, for page images
        with cf.ThreadPoolExecutor(1) as writer:
            pending: cf.Future[None] | None = None
            size = embed_batch_size(len(doc.chunks))
            for i in range(0, len(doc.chunks), size):
                batch = doc.chunks[i : i + size]
                texts = [c.embed_text for c in batch]
                self._share_cores(embedder)
                dense = embedder.embed(texts)
                sparse = [document_vector(t) for t in texts]
                if pending is not None:
                    pending.result()
                pending = writer.submit(self.store.upsert_chunks, doc.id, batch, dense, sparse, statements)
                progress.chunks_done(source.name, len(batch))
                self._drain_events(progress)  # the next file's OCR, meanwhile
            if pending is not None:
                pending.result()
        self.store.finish_document(doc.id, len(doc.chunks))
        return self._delete_older_versions(source, doc.id)

    def _delete_older_versions(self, source: Source, doc_id: str) -> list[str]:
        """Delete the other documents ingested from the same source (path, or uploaded name) as ``doc_id``."""
        replaced = [old.id for old in self.store.find_by_source(source.key, tenant=source.tenant) if old.id != doc_id]
        for old_id in replaced:
            self.store.delete_document(old_id)
        return replaced
