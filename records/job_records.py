"""Upload jobs in the records' database (``folio.records.tables.jobs``): one row per job, the dict ``GET /v1/jobs``
shows in ``data``, and in columns what the queue filters and orders on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update

from folio.records.database import Database
from folio.records.tables import jobs

COLUMNS = ("tenant", "status", "created", "finished", "heartbeat", "worker")


def to_row(payload: dict[str, Any]) -> dict[str, Any]:
    row = {name: payload.get(name) for name in COLUMNS}
    row["tenant"] = row["tenant"] or "default"
    row["created"] = float(row["created"] or 0.0)
    row["worker"] = row["worker"] or None
    return {"id": payload["id"], **row, "data": dict(payload)}


class JobRecords:
    """The upload jobs' records."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def put(self, payload: dict[str, Any]) -> None:
        """Write a job's record (``payload["id"]`` is its id), replacing the one there."""
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
