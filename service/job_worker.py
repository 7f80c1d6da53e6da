"""One replica's worker on the shared upload queue (``folio.records.job_records``): it claims jobs, runs them,
writes their progress and end, beats, and reaps the jobs of replicas that stopped. ``service.jobs.JobQueue`` is
the front that the API uses; this is what runs behind it.

The worker thread claims the oldest queued job, runs it from its stored bytes, and writes its end and deletes the
bytes in one transaction. It is woken at once by a local submit (``wake``) and otherwise looks every ``poll_s``,
for jobs submitted elsewhere. It claims only while it can use the index (a local index is held by one process; a
replica that cannot reach the Qdrant server leaves the work to one that can). A claimed job whose index becomes
unusable mid-upload (``StoreError``) waits for it, trying again with a backoff, for up to ``store_wait_s``, then
runs the upload again from the start: ingestion is idempotent (the same document id, the same chunk ids; a
half-written document is invisible until it is finished, and is overwritten). A job the index does not come back
for fails with the store's code. Either way the document ends fully written or not visible.

The job's record is written when it is claimed, at each stage, at most every ``progress_every_s`` while its
chunks are embedded, and at its end. A progress write the database refuses is logged (once) and left to the next
one; an end it refuses is kept in memory (``local`` answers it) and written by the heartbeat once the database is
back. No error of the database or the index ends the worker thread.

The heartbeat thread rewrites the running job's ``heartbeat`` every ``heartbeat_s`` and reaps: a job whose worker
sent none for ``stale_after_s`` is queued again once, for any replica, and fails as ``interrupted`` when its retry
stops too; this replica's own jobs are never reaped by it. With a local index, which only one process can hold,
every job claimed by another worker is such a leftover as soon as this process opens the index. A worker whose
job was taken from it finishes the upload (it cannot be stopped halfway safely) but its writes change nothing.
After ``stop``, a running job that fails (its parser was shut down) goes back to the queue, not counted as a try.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from folio.errors import CollectionNotFound, FolioError, StoreError
from folio.ingest.reports import FileResult
from folio.ingest.sources import Source
from folio.ingest.store import Store
from folio.records.collection_records import CollectionRecords
from folio.records.job_records import Claimed, Reaped
from folio.service.job import Job
from folio.service.job_progress import Held, JobProgress
from folio.service.logs import request_id_context
from folio.service.metrics import Metrics

logger = logging.getLogger("folio.service.jobs")


class JobWorker:
    """The worker and heartbeat threads of one replica (``name``); ``run_jobs=False``: the heartbeat only."""

    def __init__(self, ingest: Callable[[Source, Any], FileResult], store: Store, *, name: str,
                 clock: Callable[[], float], metrics: Metrics | None, keep: int, heartbeat_s: float,
                 stale_after_s: float, progress_every_s: float, poll_s: float, trim_every: int,
                 store_wait_s: float, run_jobs: bool) -> None:
        self._ingest = ingest
        self.store = store
        self.records = store.job_records
        self.name = name
        self.clock = clock
        self.metrics = metrics
        self.keep = keep
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.progress_every_s = progress_every_s
        self.poll_s = poll_s
        self.trim_every = trim_every
        self.store_wait_s = store_wait_s
        self.waiting_seen = 0  # queued jobs at the last look
        self._live: dict[str, Held] = {}  # the job this worker runs
        self._unsaved: dict[str, Held] = {}  # finished jobs whose end the database did not take yet
        self._saved_at: dict[str, float] = {}
        self._failing: set[str] = set()  # jobs whose last write failed (logged once, not on every try)
        self._taken: set[str] = set()  # jobs reaped from this replica while it ran them (logged once)
        self._lock = threading.Lock()
        self._save_lock = threading.RLock()  # a snapshot and its write go together, so an older one never wins
        self._ended = threading.Condition()  # notified when this worker ends a job
        self._finished_since_trim = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        if store.local:  # when the index opens (now, or once another process lets go of it)
            store.after_open(self._take_back_leftovers)
        self._threads = [threading.Thread(target=self._heartbeat, name="folio-jobs-heartbeat", daemon=True)]
        if run_jobs:
            self._threads.append(threading.Thread(target=self._work, name="folio-ingest", daemon=True))
        for thread in self._threads:
            thread.start()

    # -- what the front asks -------------------------------------------------------------------------------

    def wake(self) -> None:
        """A job was queued here: look now rather than at the next poll."""
        self._wake.set()

    def local(self, job_id: str) -> Job | None:
        """A snapshot of the job if this worker runs it or holds its unwritten end (newer than its record)."""
        with self._lock:
            held = self._live.get(job_id) or self._unsaved.get(job_id)
            return held.job.copy() if held is not None else None

    def local_jobs(self) -> dict[str, Job]:
        with self._lock:
            return {job_id: held.job.copy() for job_id, held in {**self._unsaved, **self._live}.items()}

    def running(self) -> int:
        with self._lock:
            return len(self._live)

    def wait_for_an_end(self, seconds: float) -> None:
        """Return when this worker ends a job, or after ``seconds``."""
        with self._ended:
            self._ended.wait(seconds)

    # -- writes ----------------------------------------------------------------------------------------

    def save(self, held: Held) -> bool:
        """Write the running job's state and heartbeat. A failed write is logged (once) and False: the work goes
        on, and the next write or heartbeat brings the record up to date."""
        job = held.job
        with self._save_lock:
            now = self.clock()
            try:
                kept = self.records.update(held.claim, job.to_dict(), now=now)
            except StoreError as exc:
                self._write_failed(job, exc)
                return False
            self._saved_at[job.id] = now
        self._write_worked(job)
        if not kept and job.id not in self._taken:
            self._taken.add(job.id)
            logger.warning("job %s was taken from this replica (%s: its heartbeat stopped for too long); this "
                           "run's writes are ignored", job.id, self.name, extra={"job_id": job.id})
        return kept

    def save_progress(self, held: Held) -> None:
        if self.clock() - self._saved_at.get(held.job.id, 0.0) >= self.progress_every_s:
            self.save(held)

    def _finish(self, held: Held) -> Literal["written", "taken", "unsaved"]:
        try:
            kept = self.records.finish(held.claim, held.job.to_dict(), now=self.clock())
        except StoreError as exc:
            self._write_failed(held.job, exc)
            return "unsaved"
        self._write_worked(held.job)
        return "written" if kept else "taken"

    def _write_failed(self, job: Job, exc: StoreError) -> None:
        level = logging.DEBUG if job.id in self._failing else logging.WARNING
        self._failing.add(job.id)
        logger.log(level, "could not write the status of job %s: %s [%s]; trying again", job.id, exc.message,
                   exc.code, extra={"job_id": job.id})

    def _write_worked(self, job: Job) -> None:
        if job.id in self._failing:
            self._failing.discard(job.id)
            logger.info("the status of job %s is written again", job.id, extra={"job_id": job.id})

    # -- the worker thread -----------------------------------------------------------------------------

    def _work(self) -> None:
        unavailable = False
        while not self._stop.is_set():
            try:
                claimed = self._claim()
            except Exception as exc:  # the database or the index: logged once, tried again at the next look
                if not unavailable:
                    logger.warning("cannot take upload jobs now: %s; trying again every %g s",
                                   getattr(exc, "message", exc), self.poll_s)
                unavailable, claimed = True, None
            else:
                if unavailable:
                    logger.info("taking upload jobs again")
                unavailable = False
            if claimed is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            with request_id_context(claimed.record.get("request_id")):
                self._run(claimed)

    def _claim(self) -> Claimed | None:
        self.waiting_seen = self.records.waiting()
        if not self.waiting_seen:
            return None
        self.store.check_index()  # only what this replica can run now: another one may take it meanwhile
        return self.records.claim(self.name, now=self.clock())

    def _run(self, claimed: Claimed) -> None:
        held = Held(Job.from_record(claimed.record), claimed.claim)
        job = held.job
        with self._lock:
            self._live[job.id] = held
        started = time.perf_counter()
        try:
            if claimed.upload is None:
                job.status, job.stage = "failed", "failed"
                job.error = {"code": "internal_error", "message": "the upload's bytes are missing from the records "
                                                                  "database; upload the file again"}
            else:
                upload = claimed.upload
                source = Source(name=upload.name, key=upload.key, data=upload.data, tenant=job.tenant)
                self._record_result(job, self._ingest_when_possible(held, source))
                self._join_collection(job)
        except FolioError as exc:
            job.status, job.stage, job.error = "failed", "failed", exc.to_dict()
        except Exception as exc:  # the worker must survive anything one file does
            logger.exception("ingesting %s failed", job.file_name)
            job.status, job.stage = "failed", "failed"
            job.error = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
        finally:
            self._end(held, time.perf_counter() - started)

    @staticmethod
    def _record_result(job: Job, result: FileResult) -> None:
        job.document_id = result.doc_id
        job.pages = result.pages or job.pages
        job.warnings = [*job.warnings, *result.warnings]
        if result.error is not None:
            job.status, job.stage, job.error = "failed", "failed", result.error.to_dict()
        elif result.status == "skipped":
            job.status, job.stage = "skipped", "already indexed (same bytes)"
        else:
            job.status, job.stage = "done", result.status

    def _join_collection(self, job: Job) -> None:
        """The upload's document joins the collection it named (at its end), before the job says it is done."""
        if job.collection is None or job.document_id is None or job.status not in ("done", "skipped"):
            return
        try:
            CollectionRecords(self.store.database).add(job.collection, [job.document_id], tenant=job.tenant)
        except CollectionNotFound:
            job.warnings = [*job.warnings, "the collection it was to join was deleted meanwhile: the document is "
                            "ready, in no collection"]

    def _ingest_when_possible(self, held: Held, source: Source) -> FileResult:
        """The upload, run again from the start when the index was unavailable and came back in time."""
        job = held.job
        deadline = time.monotonic() + self.store_wait_s
        delay = 0.5
        while True:
            try:
                result = self._ingest(source, JobProgress(self, held))
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
                self.save(held)
                if self._stop.wait(min(delay, left)):
                    raise error
                delay = min(delay * 2, 5.0)
                try:
                    self.store.check()
                except StoreError as again:
                    error = again
                    continue
                break

    def _end(self, held: Held, seconds: float) -> None:
        if self._stop.is_set() and held.job.status == "failed":
            self._give_back(held)
            return
        # finished on a copy: until its end is written (or kept as unsaved) nobody is told the job has ended
        job = dataclasses.replace(held.job.copy(), finished=self.clock())
        ended = Held(job, held.claim)
        outcome = self._finish(ended)
        self._forget(job.id, unsaved=ended if outcome == "unsaved" else None)
        with self._ended:
            self._ended.notify_all()
        if outcome == "taken":
            logger.warning("ingested %s, but its job was taken from this replica meanwhile: its end is not "
                           "recorded here", job.file_name, extra={"job_id": job.id})
            return
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
                self.records.trim(self.keep)
            except StoreError:
                logger.warning("could not delete old job records", exc_info=True)

    def _give_back(self, held: Held) -> None:
        """The replica is stopping and the job failed on that account: back to the queue, not counted."""
        job = held.job
        job.status, job.stage = "queued", f"queued again: the replica running it ({self.name}) stopped"
        job.error, job.chunks_done, job.document_id = None, 0, None
        try:
            self.records.release(held.claim, job.to_dict())
        except StoreError as exc:  # the heartbeat is gone with us: another replica reaps it
            logger.warning("could not give job %s back to the queue: %s [%s]", job.id, exc.message, exc.code)
        self._forget(job.id)

    def _forget(self, job_id: str, *, unsaved: Held | None = None) -> None:
        """The worker is done with a job: it is no longer live (and is kept as ``unsaved`` until written)."""
        with self._lock:
            self._live.pop(job_id, None)
            self._saved_at.pop(job_id, None)
            self._taken.discard(job_id)
            if unsaved is not None:
                self._unsaved[job_id] = unsaved

    # -- the heartbeat thread --------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self.beat()

    def beat(self) -> None:
        """What the heartbeat does every ``heartbeat_s``: write the ends the database refused before, the
        running job's heartbeat, then reap. Never raises: an unavailable database waits for the next beat."""
        self._write_unsaved()
        with self._lock:
            live = list(self._live.values())
        for held in live:
            self.save(held)
        try:
            self.reap()
        except StoreError as exc:
            logger.debug("could not look for the jobs of stopped replicas: %s [%s]", exc.message, exc.code)

    def reap(self) -> list[Reaped]:
        """Take back the jobs of workers that sent no heartbeat for ``stale_after_s`` (never this replica's):
        queued again once, then failed as interrupted (``JobRecords.reap``)."""
        now = self.clock()
        return self._took_back(self.records.reap(now=now, stale_before=now - self.stale_after_s, spare=self.name))

    def _take_back_leftovers(self) -> None:
        """Local index: this process holds it, so a job another worker claimed was left by a process that stopped."""
        try:
            self._took_back(self.records.reap(now=self.clock(), stale_before=None, spare=self.name))
        except StoreError as exc:  # the heartbeat's reaper finds them later
            logger.warning("could not look for jobs left unfinished: %s [%s]", exc.message, exc.code)

    def _took_back(self, reaped: list[Reaped]) -> list[Reaped]:
        for each in reaped:
            logger.warning("job %s: %s; %s", each.job_id, each.reason,
                           "queued again for its last try" if each.retried else "it failed (tried twice)",
                           extra={"job_id": each.job_id})
        if any(each.retried for each in reaped):
            self._wake.set()
        return reaped

    def _write_unsaved(self) -> None:
        with self._lock:
            unsaved = list(self._unsaved.values())
        for held in unsaved:
            if self._finish(held) != "unsaved":
                with self._lock:
                    self._unsaved.pop(held.job.id, None)

    # -- stopping --------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Take no more jobs; a running job that fails from now on (its parser shut down) goes back to the queue."""
        self._stop.set()
        self._wake.set()

    def close(self) -> None:
        self.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._write_unsaved()  # a last try: what the database still refuses is left for the reaper
