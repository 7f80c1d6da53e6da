"""Background ingestion for uploads: jobs whose status lives in Qdrant, so that any replica can report any job.

The work runs in the replica that received the upload: one worker thread, uploads in the order they came. The
job's record (collection ``{prefix}_jobs``) is written when the upload is queued, at each stage, at most every
``progress_every_s`` while its chunks are embedded, and when it ends; ``GET /v1/jobs/{id}`` on any replica
reads it from there (the replica running the job answers from memory, which is the same or a moment newer).

A replica that stops (a crash, a redeploy) leaves its unfinished jobs behind. While it runs, it rewrites their
``heartbeat`` every ``heartbeat_s``; a job whose heartbeat is older than ``stale_after_s`` is reported as failed
(``interrupted``) by whichever replica is asked, and the record says so from then on. With a local store only
one process can hold the index, so when it opens the index every unfinished job but its own is such a leftover.
Finished records beyond the newest ``keep`` are deleted.

When the index cannot be used mid-upload (``StoreError``: a Qdrant server gone, a local index held by another
process), the job waits for it, trying again with a backoff, for up to ``store_wait_s``, then runs the upload again
from the start: ingestion is idempotent (the same document id, the same chunk ids; the half-written document is
invisible until it is finished, and is overwritten). A job the index does not come back for fails with the
store's code. Either way the document ends fully written or not visible at all.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from folio.errors import FolioError, StoreError
from folio.ingest.reports import FileResult
from folio.ingest.sources import Source
from folio.ingest.store import Store
from folio.service.logs import current_request_id, request_id_context
from folio.service.metrics import Metrics

logger = logging.getLogger("folio.service.jobs")
UNFINISHED = ("queued", "parsing", "ocr", "embedding")


@dataclass
class Job:
    id: str
    file_name: str
    size_bytes: int
    status: str = "queued"  # queued, parsing, embedding, done, skipped, failed
    stage: str = "waiting for earlier uploads"
    pages: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    document_id: str | None = None
    error: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)  # what ingestion ignored or could not read
    created: float = field(default_factory=time.time)
    finished: float | None = None
    worker: str = ""  # the replica that runs it
    request_id: str | None = None  # the upload's request id, also on the job's log lines
    tenant: str = "default"  # who uploaded it: only that tenant sees the job
    done_event: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        progress = 1.0 if self.finished else (self.chunks_done / self.chunks_total if self.chunks_total else 0.0)
        return {"id": self.id, "file": self.file_name, "size_bytes": self.size_bytes, "status": self.status,
                "stage": self.stage, "pages": self.pages, "chunks_total": self.chunks_total,
                "chunks_done": self.chunks_done, "progress": round(progress, 3), "document_id": self.document_id,
                "error": self.error, "warnings": self.warnings, "created": self.created, "finished": self.finished,
                "worker": self.worker, "request_id": self.request_id, "tenant": self.tenant}

    @classmethod
    def from_record(cls, payload: dict[str, Any]) -> Job:
        names = {f.name for f in fields(cls)} - {"done_event", "file_name"}
        job = cls(file_name=payload.get("file", ""), **{k: v for k, v in payload.items() if k in names})
        if job.finished is not None:
            job.done_event.set()
        return job


class _JobProgress:
    """The pipeline's progress events, written onto one job (and, now and then, into its record)."""

    def __init__(self, jobs: JobQueue, job: Job) -> None:
        self.jobs = jobs
        self.job = job

    def start(self, total_files: int) -> None:
        self.job.status, self.job.stage = "parsing", "parsing and chunking"
        self.jobs.save(self.job, quiet=True)

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        self.job.status, self.job.stage = "embedding", f"embedding {chunks} chunks"
        self.job.pages, self.job.chunks_total = pages, chunks
        self.jobs.save(self.job, quiet=True)

    def ocr_page(self, name: str, done: int, total: int) -> None:
        self.job.status, self.job.stage = "ocr", f"OCR page {done}/{total}"
        self.jobs.save_progress(self.job)

    def chunks_done(self, name: str, n: int) -> None:
        self.job.chunks_done += n
        self.jobs.save_progress(self.job)

    def file_done(self, result: FileResult) -> None:
        pass

    def finish(self, results: list[FileResult]) -> None:
        pass


class JobQueue:
    def __init__(self, ingest: Callable[[Source, Any], FileResult], store: Store, *, keep: int = 1000,
                 metrics: Metrics | None = None, clock: Callable[[], float] = time.time,
                 heartbeat_s: float = 15.0, stale_after_s: float = 120.0, progress_every_s: float = 0.5,
                 trim_every: int = 25, worker: str | None = None, store_wait_s: float = 300.0) -> None:
        self._ingest = ingest
        self.store = store
        self.records = store.job_records
        self.metrics = metrics
        self.clock = clock
        self.keep = keep
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.progress_every_s = progress_every_s
        self.trim_every = trim_every
        self.store_wait_s = store_wait_s
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._live: dict[str, Job] = {}  # this replica's unfinished jobs
        # finished jobs whose last record could not be written (the index was unavailable): answered from here,
        # and written by the heartbeat once the index is back
        self._unsaved: dict[str, Job] = {}
        self._saved_at: dict[str, float] = {}
        self._lock = threading.Lock()
        # a snapshot and its write go together, so an older one never wins; re-entered when a write opens the
        # index and its leftovers are marked interrupted
        self._save_lock = threading.RLock()
        self._finished_since_trim = 0
        self._queue: queue.Queue[tuple[Job, Source] | None] = queue.Queue()
        self._stop = threading.Event()
        if metrics is not None:
            metrics.queue_depth(lambda: float(len(self._live)))
        if store.local:  # when the index opens (now, or once another process lets go of it)
            store.after_open(self._interrupt_leftovers)
        self._thread = threading.Thread(target=self._work, name="folio-ingest", daemon=True)
        self._thread.start()
        self._beat = threading.Thread(target=self._heartbeat, name="folio-jobs-heartbeat", daemon=True)
        self._beat.start()

    # -- the API's side --------------------------------------------------------------------------------

    def submit(self, source: Source, size: int) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], file_name=source.name, size_bytes=size, created=self.clock(),
                  worker=self.worker, request_id=current_request_id(), tenant=source.tenant)
        self.save(job)  # before it is queued: a job nobody could poll must not run
        with self._lock:
            self._live[job.id] = job
        self._queue.put((job, source))
        return job

    def fail(self, file_name: str, size: int, error: FolioError, *, tenant: str = "default") -> Job:
        now = self.clock()
        job = Job(id=uuid.uuid4().hex[:16], file_name=file_name, size_bytes=size, status="failed",
                  stage="refused", error=error.to_dict(), created=now, finished=now, worker=self.worker,
                  request_id=current_request_id(), tenant=tenant)
        job.done_event.set()
        if self.metrics is not None:
            self.metrics.observe_ingest(status="failed", error_code=error.code)
        self.save(job)
        return job

    def get(self, job_id: str, *, tenant: str | None = None) -> Job | None:
        """The job, or None; with ``tenant``, None too when another tenant's."""
        with self._lock:
            live = self._live.get(job_id) or self._unsaved.get(job_id)
        if live is not None:
            return live if tenant is None or live.tenant == tenant else None
        payload = self.records.get(job_id)
        if payload is None:
            return None
        if tenant is not None and (payload.get("tenant") or "default") != tenant:
            return None
        return self._checked(Job.from_record(payload), payload)

    def all(self, *, tenant: str | None = None) -> list[Job]:
        with self._lock:
            live = {**self._unsaved, **self._live}
        jobs = {p["id"]: self._checked(Job.from_record(p), p) for p in self.records.all(tenant=tenant)
                if p.get("id") not in live}
        jobs.update(live)
        return sorted((j for j in jobs.values() if tenant is None or j.tenant == tenant),
                      key=lambda j: j.created, reverse=True)

    def pending(self) -> int:
        with self._lock:
            return len(self._live)

    # -- records ---------------------------------------------------------------------------------------

    def save(self, job: Job, *, quiet: bool = False) -> bool:
        """Write the job's record; ``quiet``: a failed write is logged and False, not raised (the work goes on)."""
        try:
            with self._save_lock:
                now = self.clock()
                payload = {**job.to_dict(), "heartbeat": now}
                self.records.put(payload)
                self._saved_at[job.id] = now
        except StoreError as exc:
            if not quiet:
                raise
            logger.warning("could not write the status of job %s: %s [%s]", job.id, exc.message, exc.code)
            return False
        return True

    def save_progress(self, job: Job) -> None:
        if self.clock() - self._saved_at.get(job.id, 0.0) >= self.progress_every_s:
            self.save(job, quiet=True)

    def _checked(self, job: Job, payload: dict[str, Any]) -> Job:
        """A job left unfinished by a replica that stopped is reported (and recorded) as interrupted."""
        if job.finished is None and job.status in UNFINISHED:
            beat = float(payload.get("heartbeat") or job.created)
            if self.clock() - beat > self.stale_after_s:
                self._interrupt(job, f"the replica running it ({job.worker or 'unknown'}) stopped sending "
                                     f"heartbeats {self.clock() - beat:.0f} s ago")
        return job

    def _interrupt(self, job: Job, why: str) -> None:
        job.status, job.stage, job.finished = "failed", "interrupted", self.clock()
        job.error = {"code": "interrupted", "message": f"ingestion was interrupted: {why}; upload the file again"}
        job.done_event.set()
        self.save(job, quiet=True)

    def _interrupt_leftovers(self) -> None:
        with self._lock:
            live = set(self._live) | set(self._unsaved)
        for payload in self.records.all(unfinished=True):
            unfinished = payload.get("finished") is None and payload.get("status") in UNFINISHED
            if unfinished and payload.get("id") not in live:
                self._interrupt(Job.from_record(payload), "the service stopped before it finished")

    def _trim(self) -> None:
        self.records.trim(self.keep)

    # -- the worker's side -----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, source = item
            with request_id_context(job.request_id):
                self._run(job, source)

    def _run(self, job: Job, source: Source) -> None:
        started = time.perf_counter()
        try:
            result = self._ingest_when_possible(job, source)
            job.document_id = result.doc_id
            job.pages = result.pages or job.pages
            job.warnings = list(result.warnings)
            if result.error is not None:
                job.status, job.stage, job.error = "failed", "failed", result.error.to_dict()
            elif result.status == "skipped":
                job.status, job.stage = "skipped", "already indexed (same bytes)"
            else:
                job.status, job.stage = "done", result.status
        except FolioError as exc:
            job.status, job.stage, job.error = "failed", "failed", exc.to_dict()
        except Exception as exc:  # the worker must survive anything one file does
            logger.exception("ingesting %s failed", job.file_name)
            job.status, job.stage = "failed", "failed"
            job.error = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
        finally:
            job.finished = self.clock()
            saved = self.save(job, quiet=True)
            with self._lock:
                self._live.pop(job.id, None)
                self._saved_at.pop(job.id, None)
                if not saved:
                    self._unsaved[job.id] = job
            job.done_event.set()
            seconds = time.perf_counter() - started
            logger.info("ingested %s: %s in %.1f s", job.file_name, job.status, seconds,
                        extra={"job_id": job.id, "status": job.status, "pages": job.pages,
                               "chunks": job.chunks_total, "seconds": round(seconds, 3)})
            if self.metrics is not None:
                self.metrics.observe_ingest(status=job.status, error_code=(job.error or {}).get("code"),
                                            pages=job.pages, chunks=job.chunks_total, size_bytes=job.size_bytes,
                                            seconds=seconds)
            self._finished_since_trim += 1
            if self._finished_since_trim >= self.trim_every:
                self._finished_since_trim = 0
                try:
                    self._trim()
                except StoreError:
                    logger.warning("could not delete old job records", exc_info=True)

    def _ingest_when_possible(self, job: Job, source: Source) -> FileResult:
        """The upload, run again from the start when the index was unavailable and came back in time."""
        deadline = time.monotonic() + self.store_wait_s
        delay = 0.5
        while True:
            try:
                result = self._ingest(source, _JobProgress(self, job))
            except StoreError as exc:
                error = exc
            else:
                if not isinstance(result.error, StoreError):
                    return result
                error = result.error
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    raise error
                job.status, job.stage = "queued", f"waiting for the index ({error.code}): {error.message}"
                job.chunks_done = 0
                logger.log(logging.WARNING if delay == 0.5 else logging.DEBUG,  # once, not on every try
                           "%s: the index cannot be used (%s); waiting for it for up to %.0f s", job.file_name,
                           error.code, left, extra={"job_id": job.id})
                self.save(job, quiet=True)
                if self._stop.wait(min(delay, left)):
                    raise error
                delay = min(delay * 2, 5.0)
                try:
                    self.store.check()
                except StoreError as again:
                    error = again
                    continue
                break

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            with self._lock:
                live = list(self._live.values())
                unsaved = list(self._unsaved.values())
            for job in live:
                if job.finished is None:
                    self.save(job, quiet=True)
            for job in unsaved:
                if self.save(job, quiet=True):
                    with self._lock:
                        self._unsaved.pop(job.id, None)

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._beat.join(timeout=5)
