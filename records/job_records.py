"""Upload jobs in the records' database: the queue every replica on that database takes its work from.

One row per job (``folio.records.tables.jobs``): in columns what the queue filters and orders on, in ``data`` the
dict ``GET /v1/jobs`` shows. An upload's bytes wait in ``job_uploads`` until its job has run.

What the queue guarantees, on SQLite and PostgreSQL alike:

- ``add``: the jobs of an upload and their bytes are written in one transaction: all of them are queued or none.
- ``claim``: a job is claimed by one worker at a time. The oldest queued job with no worker is locked and marked
  in one transaction (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so workers never wait on each other's
  candidate; SQLite: the transaction holds the database's write lock, ``BEGIN IMMEDIATE``). A claim is the
  worker's name and the attempt number it set; every later write of that worker (``update``, ``finish``,
  ``release``) is conditional on both, so a worker that lost its job (it was reaped and claimed again) changes
  nothing, and its write says so (False).
- ``finish``: the job's last state and the deletion of its bytes are one transaction.
- ``reap``: a claimed, unfinished job whose heartbeat is older than the cutoff (its worker stopped) goes back to
  the queue once (``ATTEMPTS``), and fails as ``interrupted`` when its retry stops too. Each job is reaped by
  one conditional UPDATE (its worker, its attempt, its status unfinished, its heartbeat older than the cutoff),
  so two replicas reaping at once never both act on it: the second finds its condition no longer true.

A queued job waiting for the index keeps its worker: status ``queued`` with a worker is held, not claimable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from folio.records.database import Database
from folio.records.tables import job_uploads, jobs

COLUMNS = ("tenant", "status", "created", "finished", "heartbeat", "worker")
UNFINISHED = ("queued", "parsing", "ocr", "embedding")
ATTEMPTS = 2  # a job whose worker stopped is tried once more, then fails as interrupted


@dataclass(frozen=True)
class Upload:
    """An upload's bytes, as its job's worker reads them."""

    name: str
    key: str
    data: bytes


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a job: its writes count while the job's row names this worker and this attempt."""

    job_id: str
    worker: str
    attempt: int  # 1, or 2 for the retry


@dataclass(frozen=True)
class Claimed:
    """What ``claim`` hands a worker: the hold, the job's record as claimed, and its bytes (None: missing)."""

    claim: Claim
    record: dict[str, Any]
    upload: Upload | None


@dataclass(frozen=True)
class Reaped:
    """A job taken from a worker that stopped: queued again (``retried``) or failed as interrupted."""

    job_id: str
    worker: str  # the one that stopped
    retried: bool
    reason: str


def to_row(payload: dict[str, Any]) -> dict[str, Any]:
    row = {name: payload.get(name) for name in COLUMNS}
    row["tenant"] = row["tenant"] or "default"
    row["created"] = float(row["created"] or 0.0)
    row["worker"] = row["worker"] or None
    return {"id": payload["id"], **row, "data": dict(payload)}


def _held(claim: Claim) -> Any:
    """The condition every write of a claimed job's worker is made under."""
    return (jobs.c.id == claim.job_id) & (jobs.c.worker == claim.worker) & (jobs.c.attempts == claim.attempt) & (
        jobs.c.finished.is_(None))


class JobRecords:
    """The upload jobs' records and queue."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- records -------------------------------------------------------------------------------------------

    def put(self, payload: dict[str, Any]) -> None:
        """Write a job's record whole (``payload["id"]`` is its id), replacing the one there, outside the queue's
        claims (the tests' and tools' door; workers write through their claim)."""
        row = to_row(payload)
        with self.database.write("write a job's record") as conn:
            done = conn.execute(update(jobs).where(jobs.c.id == row["id"]).values(
                {k: v for k, v in row.items() if k != "id"})).rowcount
            if not done:
                conn.execute(insert(jobs), [{**row, "attempts": 0}])

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self.database.read("read a job's record") as conn:
            data = conn.execute(select(jobs.c.data).where(jobs.c.id == job_id)).scalar_one_or_none()
        return None if data is None else dict(data)

    def all(self, *, tenant: str | None = None, unfinished: bool = False) -> list[dict[str, Any]]:
        """Jobs, newest first; ``unfinished``: only those not finished."""
        query = select(jobs.c.data).order_by(jobs.c.created.desc(), jobs.c.id)
        if tenant is not None:
            query = query.where(jobs.c.tenant == tenant)
        if unfinished:
            query = query.where(jobs.c.finished.is_(None))
        with self.database.read("read the jobs") as conn:
            return [dict(data) for data in conn.execute(query).scalars()]

    def upload(self, job_id: str) -> Upload | None:
        """A job's bytes while it waits or runs; None once it has finished."""
        with self.database.read("read an upload") as conn:
            row = conn.execute(select(job_uploads.c.name, job_uploads.c.key, job_uploads.c.data).where(
                job_uploads.c.job_id == job_id)).first()
        return None if row is None else Upload(name=row.name, key=row.key, data=bytes(row.data))

    def delete(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            with self.database.write("delete job records") as conn:
                conn.execute(delete(jobs).where(jobs.c.id.in_(list(job_ids))))

    def trim(self, keep: int) -> int:
        """Delete all but the ``keep`` newest finished jobs; how many were deleted."""
        with self.database.write("delete old job records") as conn:
            old = list(conn.execute(select(jobs.c.id).where(jobs.c.finished.is_not(None)).order_by(
                jobs.c.created.desc(), jobs.c.id).offset(keep)).scalars())
            for start in range(0, len(old), 500):
                conn.execute(delete(jobs).where(jobs.c.id.in_(old[start:start + 500])))
        return len(old)

    # -- the queue -----------------------------------------------------------------------------------------

    def add(self, entries: Sequence[tuple[dict[str, Any], Upload | None]]) -> None:
        """Write new jobs in one transaction: each with its upload is queued; one without (refused before
        ingestion) is recorded as it is, finished."""
        if not entries:
            return
        with self.database.write("queue an upload") as conn:
            conn.execute(insert(jobs), [{**to_row(payload), "heartbeat": None, "attempts": 0}
                                        for payload, _ in entries])
            uploads = [{"job_id": payload["id"], "name": u.name, "key": u.key, "data": u.data}
                       for payload, u in entries if u is not None]
            if uploads:
                conn.execute(insert(job_uploads), uploads)

    def waiting(self) -> int:
        """How many jobs wait for a worker to claim them."""
        with self.database.read("count the queued jobs") as conn:
            return int(conn.execute(select(func.count()).select_from(jobs).where(
                jobs.c.status == "queued", jobs.c.worker.is_(None))).scalar_one())

    def claim(self, worker: str, *, now: float) -> Claimed | None:
        """Take the oldest queued job for ``worker`` (status ``parsing``, heartbeat ``now``, one more attempt),
        with its bytes; None when no job waits (or every waiting one is being claimed by another worker)."""
        with self.database.write("claim a job") as conn:
            row = conn.execute(
                select(jobs.c.id, jobs.c.attempts, jobs.c.data)
                .where(jobs.c.status == "queued", jobs.c.worker.is_(None))
                .order_by(jobs.c.created, jobs.c.id).limit(1)
                .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            claim = Claim(job_id=row.id, worker=worker, attempt=row.attempts + 1)
            record = {**row.data, "status": "parsing", "stage": "starting", "worker": worker}
            if not conn.execute(update(jobs).where(jobs.c.id == row.id, jobs.c.worker.is_(None)).values(
                    status="parsing", worker=worker, heartbeat=now, attempts=claim.attempt, data=record)).rowcount:
                return None  # not reached with the row lock; kept so that a claim can never be doubled
            upload = conn.execute(select(job_uploads.c.name, job_uploads.c.key, job_uploads.c.data).where(
                job_uploads.c.job_id == row.id)).first()
        found = None if upload is None else Upload(name=upload.name, key=upload.key, data=bytes(upload.data))
        return Claimed(claim=claim, record=record, upload=found)

    def update(self, claim: Claim, payload: dict[str, Any], *, now: float) -> bool:
        """The running job's state and heartbeat; False (nothing written) when ``claim`` no longer holds it."""
        with self.database.write("write a job's progress") as conn:
            return bool(conn.execute(update(jobs).where(_held(claim)).values(
                status=payload["status"], heartbeat=now, data=dict(payload))).rowcount)

    def finish(self, claim: Claim, payload: dict[str, Any], *, now: float) -> bool:
        """The job's last state (``payload`` says finished) and the deletion of its bytes, in one transaction;
        False (nothing written, the bytes kept for whoever holds it now) when ``claim`` no longer holds it."""
        with self.database.write("write a job's end") as conn:
            held = conn.execute(update(jobs).where(_held(claim)).values(
                status=payload["status"], finished=payload["finished"], heartbeat=now,
                data=dict(payload))).rowcount
            if held:
                conn.execute(delete(job_uploads).where(job_uploads.c.job_id == claim.job_id))
        return bool(held)

    def release(self, claim: Claim, payload: dict[str, Any]) -> bool:
        """Give a job back to the queue without counting the attempt (its worker is stopping, the job did not
        fail by itself): status ``queued``, no worker, its bytes kept. False when ``claim`` no longer holds it."""
        record = {**payload, "status": "queued", "worker": "", "finished": None}
        with self.database.write("give a job back") as conn:
            return bool(conn.execute(update(jobs).where(_held(claim)).values(
                status="queued", worker=None, heartbeat=None, attempts=claim.attempt - 1,
                data=record)).rowcount)

    def reap(self, *, now: float, stale_before: float | None, spare: str | None = None) -> list[Reaped]:
        """Take back the claimed, unfinished jobs whose worker stopped: those whose heartbeat is older than
        ``stale_before`` (None: every one, for a process that knows it is the only one), except ``spare``'s
        (the caller's own). A job on its first attempt is queued again; one on its retry fails as interrupted
        and its bytes are deleted."""
        candidates = select(jobs.c.id, jobs.c.worker, jobs.c.attempts, jobs.c.heartbeat, jobs.c.data).where(
            jobs.c.status.in_(UNFINISHED), jobs.c.finished.is_(None), jobs.c.worker.is_not(None))
        if stale_before is not None:
            candidates = candidates.where(jobs.c.heartbeat < stale_before)
        if spare is not None:
            candidates = candidates.where(jobs.c.worker != spare)
        with self.database.read("find the jobs of stopped workers") as conn:
            rows = list(conn.execute(candidates))
        if not rows:
            return []
        reaped: list[Reaped] = []
        with self.database.write("take back the jobs of stopped workers") as conn:
            for row in rows:
                if stale_before is None:
                    why = f"the process running it ({row.worker}) stopped before it finished"
                else:
                    why = (f"the replica running it ({row.worker}) stopped sending heartbeats "
                           f"{now - float(row.heartbeat or now):.0f} s ago")
                retried = row.attempts < ATTEMPTS
                if self._take_back(conn, row, now=now, stale_before=stale_before, why=why, retry=retried):
                    reaped.append(Reaped(job_id=row.id, worker=row.worker, retried=retried, reason=why))
        return reaped

    @staticmethod
    def _take_back(conn: Connection, row: Any, *, now: float, stale_before: float | None, why: str,
                   retry: bool) -> bool:
        """One conditional UPDATE: it acts only if the job is still as ``row`` saw it (the same worker and
        attempt, unfinished, its heartbeat still stale)."""
        condition = (jobs.c.id == row.id) & (jobs.c.worker == row.worker) & (jobs.c.attempts == row.attempts) & (
            jobs.c.status.in_(UNFINISHED)) & jobs.c.finished.is_(None)
        if stale_before is not None:
            condition &= jobs.c.heartbeat < stale_before
        data = dict(row.data)
        if retry:
            data.update(status="queued", worker="", chunks_done=0, progress=0.0,
                        stage=f"queued again (its last try): {why}",
                        warnings=[*data.get("warnings", []), f"tried again: the first try was interrupted ({why})"])
            values: dict[str, Any] = {"status": "queued", "worker": None, "heartbeat": None, "data": data}
        else:
            data.update(status="failed", stage="interrupted", finished=now, progress=1.0, error={
                "code": "interrupted",
                "message": f"ingestion was interrupted: {why}; it was tried twice, so it is not tried again; "
                           "upload the file again"})
            values = {"status": "failed", "finished": now, "data": data}
        if not conn.execute(update(jobs).where(condition).values(values)).rowcount:
            return False  # another replica took it back first, or its worker beat meanwhile
        if not retry:
            conn.execute(delete(job_uploads).where(job_uploads.c.job_id == row.id))
        return True
