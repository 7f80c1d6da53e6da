"""Background ingestion for uploads: a queue in the records' database, shared by every replica that uses it.

``JobQueue`` is the API's side. ``submit_all`` writes an upload's jobs and their bytes in one transaction
(``folio.records.job_records``) before the API answers: nothing of an upload lives only in memory, so a replica
that stops, even killed, loses no queued job; it runs when that replica or another starts. A database that
cannot take them makes the upload fail (``DatabaseUnavailable``, 503) with nothing queued.

Any replica reports any job from its record (``get``, ``all``), which its worker keeps up to date; the replica
running a job answers from memory, which is the same or a moment newer. ``wait`` waits for a job's end
whichever replica runs it. Claiming, running, heartbeats and reaping are ``service.job_worker``'s; finished
records beyond the newest ``keep`` are deleted.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from folio.errors import FolioError, StoreError
from folio.ingest.reports import FileResult
from folio.ingest.sources import Source
from folio.ingest.store import Store
from folio.records.job_records import Reaped, Upload
from folio.service.job import Job
from folio.service.job_worker import JobWorker
from folio.service.logs import current_request_id
from folio.service.metrics import Metrics

__all__ = ["Job", "JobQueue", "Refused"]

logger = logging.getLogger("folio.service.jobs")


@dataclass(frozen=True)
class Refused:
    """A file an upload refused before ingestion (too large, an unknown format): its job is failed at once."""

    name: str
    size: int
    error: FolioError
    tenant: str = "default"


class JobQueue:
    """One replica's side of the shared queue: it takes uploads, runs jobs (its ``JobWorker``), reports any job."""

    def __init__(self, ingest: Callable[[Source, Any], FileResult], store: Store, *, keep: int = 1000,
                 metrics: Metrics | None = None, clock: Callable[[], float] = time.time,
                 heartbeat_s: float = 15.0, stale_after_s: float = 120.0, progress_every_s: float = 0.5,
                 poll_s: float = 0.5, trim_every: int = 25, worker: str | None = None,
                 store_wait_s: float = 300.0, run_jobs: bool = True) -> None:
        """``worker``: this replica's name in the records (default: host, process id and a random part);
        ``run_jobs=False``: it takes uploads and reports jobs but runs none (the other replicas do)."""
        self.store = store
        self.records = store.job_records
        self.metrics = metrics
        self.clock = clock
        self.poll_s = poll_s
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._worker = JobWorker(ingest, store, name=self.worker, clock=clock, metrics=metrics, keep=keep,
                                 heartbeat_s=heartbeat_s, stale_after_s=stale_after_s,
                                 progress_every_s=progress_every_s, poll_s=poll_s, trim_every=trim_every,
                                 store_wait_s=store_wait_s, run_jobs=run_jobs)
        if metrics is not None:
            metrics.queue_depth(lambda: float(self.pending()))

    @property
    def store_wait_s(self) -> float:
        """How long a claimed job waits for an unusable index before it fails with the store's code."""
        return self._worker.store_wait_s

    @store_wait_s.setter
    def store_wait_s(self, seconds: float) -> None:
        self._worker.store_wait_s = seconds

    # -- uploads ---------------------------------------------------------------------------------------

    def submit(self, source: Source) -> Job:
        """Queue one upload (``submit_all`` of one)."""
        return self.submit_all([source])[0]

    def submit_all(self, uploads: Sequence[Source | Refused], *, collection: str | None = None) -> list[Job]:
        """Queue an upload's files and record its refused ones, in one transaction, in their order: every job
        is written with its bytes, or (``StoreError``) none is. ``collection``: the id of the collection each
        file's document joins once ready, in the order the files finish."""
        now, request_id = self.clock(), current_request_id()
        entries: list[tuple[Job, Upload | None]] = []
        for item in uploads:
            job_id = uuid.uuid4().hex[:16]
            if isinstance(item, Refused):
                job = Job(id=job_id, file_name=item.name, size_bytes=item.size, status="failed", stage="refused",
                          error=item.error.to_dict(), created=now, finished=now, worker=self.worker,
                          request_id=request_id, tenant=item.tenant)
                entries.append((job, None))
            else:
                data = item.read()
                job = Job(id=job_id, file_name=item.name, size_bytes=len(data), created=now, request_id=request_id,
                          tenant=item.tenant, collection=collection)
                entries.append((job, Upload(name=item.name, key=item.key, data=data)))
        self.records.add([(job.to_dict(), upload) for job, upload in entries])
        if any(upload is not None for _, upload in entries):
            self._worker.wake()
        if self.metrics is not None:
            for job, _ in entries:
                if job.error is not None:
                    self.metrics.observe_ingest(status="failed", error_code=job.error["code"])
        return [job for job, _ in entries]

    # -- reports ---------------------------------------------------------------------------------------

    def get(self, job_id: str, *, tenant: str | None = None) -> Job | None:
        """The job, or None; with ``tenant``, None too when another tenant's."""
        job = self._worker.local(job_id)
        if job is None:
            payload = self.records.get(job_id)
            job = None if payload is None else Job.from_record(payload)
        return job if job is not None and (tenant is None or job.tenant == tenant) else None

    def all(self, *, tenant: str | None = None) -> list[Job]:
        """The jobs, newest first (those beyond ``keep`` finished ones are gone)."""
        local = self._worker.local_jobs()
        jobs = {p["id"]: Job.from_record(p) for p in self.records.all(tenant=tenant) if p.get("id") not in local}
        jobs.update(local)
        return sorted((j for j in jobs.values() if tenant is None or j.tenant == tenant),
                      key=lambda j: j.created, reverse=True)

    def wait(self, job_id: str, *, timeout: float | None = None) -> Job | None:
        """The job once it has finished, whichever replica runs it (None: no such job; unfinished: the timeout
        passed). Woken at once when this replica's worker ends a job; otherwise it reads the record every
        ``poll_s``, and keeps waiting through a database outage."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job: Job | None = None
        while True:
            try:
                job = self.get(job_id)
            except StoreError as exc:  # the database is away: wait for it as for the job
                logger.debug("waiting for job %s: %s [%s]", job_id, exc.message, exc.code)
            else:
                if job is None or job.finished is not None:
                    return job
            left = self.poll_s if deadline is None else min(self.poll_s, deadline - time.monotonic())
            if left <= 0:
                return job
            self._worker.wait_for_an_end(left)

    def pending(self) -> int:
        """The jobs queued (as this replica's worker last counted them) plus the one it runs."""
        return self._worker.waiting_seen + self._worker.running()

    # -- the worker's ----------------------------------------------------------------------------------

    def reap(self) -> list[Reaped]:
        """Retry once, or fail as interrupted, the jobs of replicas that stopped (the heartbeat does it too)."""
        return self._worker.reap()

    def stop(self) -> None:
        """Take no more jobs; a running job that fails from now on (its parser shut down) goes back to the queue."""
        self._worker.stop()

    def close(self) -> None:
        self._worker.close()
