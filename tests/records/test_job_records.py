"""The upload jobs' queue in SQL (folio.records.job_records): claims, writes under a claim, reaping, on SQLite and
PostgreSQL (``tests/postgres.py``). The queue's behaviour with workers and replicas is tests/service/test_jobs.py."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from folio.records.database import Database
from folio.records.job_records import ATTEMPTS, Claim, Claimed, JobRecords, Upload


@pytest.fixture
def records(databases: Callable[[], Database]) -> JobRecords:
    return JobRecords(databases())


def _job(job_id: str, created: float, **kw: Any) -> dict[str, Any]:
    return {"id": job_id, "file": f"{job_id}.txt", "status": "queued", "stage": "waiting for earlier uploads",
            "created": created, "finished": None, "worker": "", "tenant": "default", "warnings": [], **kw}


def _queue(records: JobRecords, n: int) -> list[str]:
    ids = [f"job{i:02d}" for i in range(n)]
    records.add([(_job(job_id, float(i)), Upload(f"{job_id}.txt", f"upload:{job_id}.txt", job_id.encode()))
                 for i, job_id in enumerate(ids)])
    return ids


def _claimed(records: JobRecords, worker: str, now: float = 100.0) -> Claimed:
    claimed = records.claim(worker, now=now)
    assert claimed is not None
    return claimed


def test_jobs_are_claimed_oldest_first_each_once_with_their_bytes(records: JobRecords) -> None:
    refused = _job("refused", 0.5, status="failed", finished=0.5, error={"code": "empty_file", "message": "empty"})
    records.add([(_job("b", 2.0), Upload("b.txt", "upload:b.txt", b"bee")), (refused, None),
                 (_job("a", 1.0), Upload("a.txt", "upload:a.txt", b"\x00ay"))])
    assert records.waiting() == 2  # the refused one is recorded, finished, and never claimed
    first, second = _claimed(records, "w1"), _claimed(records, "w2")
    assert records.claim("w3", now=100.0) is None and records.waiting() == 0
    assert first.claim == Claim("a", "w1", 1) and first.upload == Upload("a.txt", "upload:a.txt", b"\x00ay")
    assert (second.claim.job_id, second.upload) == ("b", Upload("b.txt", "upload:b.txt", b"bee"))
    assert first.record["status"] == "parsing" and first.record["worker"] == "w1"
    assert records.get("a") == first.record  # the claim is in the record everyone reads


def test_an_upload_is_queued_whole_or_not_at_all(records: JobRecords) -> None:
    _queue(records, 1)
    with pytest.raises(IntegrityError):  # its second job's id is taken: the first one is not queued either
        records.add([(_job("new", 5.0), Upload("n", "k", b"n")), (_job("job00", 6.0), Upload("o", "k", b"o"))])
    assert records.get("new") is None and records.upload("new") is None and records.waiting() == 1


def test_workers_on_several_connections_never_claim_a_job_twice(databases: Callable[[], Database]) -> None:
    ids = _queue(JobRecords(databases()), 30)
    taken: Counter[str] = Counter()
    lock, start = threading.Lock(), threading.Barrier(4)

    def work(worker: str, records: JobRecords) -> None:
        start.wait()
        while (claimed := records.claim(worker, now=1.0)) is not None:
            with lock:
                taken[claimed.claim.job_id] += 1

    threads = [threading.Thread(target=work, args=(f"w{i}", JobRecords(databases()))) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(taken) == ids and set(taken.values()) == {1}


def test_a_finished_job_loses_its_bytes_in_the_same_write(records: JobRecords) -> None:
    [job_id] = _queue(records, 1)
    claimed = _claimed(records, "w1")
    assert records.update(claimed.claim, {**claimed.record, "status": "embedding", "chunks_done": 3}, now=101.0)
    assert records.get(job_id)["chunks_done"] == 3  # type: ignore[index]
    assert records.upload(job_id) is not None
    assert records.finish(claimed.claim, {**claimed.record, "status": "done", "finished": 102.0}, now=102.0)
    assert records.get(job_id)["status"] == "done" and records.upload(job_id) is None  # type: ignore[index]
    assert not records.finish(claimed.claim, {**claimed.record, "status": "failed", "finished": 103.0}, now=103.0)
    assert records.get(job_id)["status"] == "done"  # type: ignore[index]  # finished once


def test_a_worker_whose_job_was_taken_back_changes_nothing(records: JobRecords) -> None:
    [job_id] = _queue(records, 1)
    old = _claimed(records, "w1", now=100.0)
    assert records.reap(now=150.0, stale_before=99.0) == []  # its heartbeat is newer than the cutoff
    assert records.update(old.claim, old.record, now=200.0)  # a heartbeat
    [reaped] = records.reap(now=500.0, stale_before=300.0)
    assert (reaped.job_id, reaped.worker, reaped.retried) == (job_id, "w1", True)
    assert "(w1) stopped sending heartbeats 300 s ago" in reaped.reason
    queued = records.get(job_id)
    assert queued is not None and (queued["status"], queued["worker"]) == ("queued", "")
    assert queued["stage"].startswith("queued again (its last try)")
    assert queued["warnings"] == [f"tried again: the first try was interrupted ({reaped.reason})"]
    new = _claimed(records, "w2", now=600.0)
    assert new.claim == Claim(job_id, "w2", 2) and new.upload is not None  # the retry has the bytes
    assert not records.update(old.claim, {**old.record, "chunks_done": 9}, now=601.0)
    assert not records.finish(old.claim, {**old.record, "status": "done", "finished": 602.0}, now=602.0)
    assert not records.release(old.claim, old.record)
    assert records.get(job_id) == new.record and records.upload(job_id) is not None


def test_a_retry_that_stops_too_fails_as_interrupted(records: JobRecords) -> None:
    [job_id] = _queue(records, 1)
    _claimed(records, "w1", now=100.0)
    assert [r.retried for r in records.reap(now=400.0, stale_before=300.0)] == [True]
    assert _claimed(records, "w2", now=400.0).claim.attempt == ATTEMPTS
    [reaped] = records.reap(now=700.0, stale_before=600.0)
    assert not reaped.retried and reaped.worker == "w2"
    failed = records.get(job_id)
    assert failed is not None and (failed["status"], failed["stage"], failed["finished"]) == (
        "failed", "interrupted", 700.0)
    assert failed["error"]["code"] == "interrupted"
    assert "(w2) stopped" in failed["error"]["message"] and "tried twice" in failed["error"]["message"]
    assert records.upload(job_id) is None and records.waiting() == 0
    assert records.reap(now=2000.0, stale_before=1900.0) == []  # finished: never reaped again


def test_two_replicas_reaping_at_once_take_each_job_back_once(databases: Callable[[], Database]) -> None:
    first = JobRecords(databases())
    ids = _queue(first, 12)
    for _ in ids:
        _claimed(first, "gone", now=100.0)
    reapers = [first, JobRecords(databases())]
    start, results = threading.Barrier(len(reapers)), []

    def reap(records: JobRecords) -> None:
        start.wait()
        results.extend(records.reap(now=1000.0, stale_before=900.0))

    threads = [threading.Thread(target=reap, args=(records,)) for records in reapers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.job_id for r in results) == ids  # every job once, by one replica or the other
    assert first.waiting() == len(ids)
    assert all(len(first.get(job_id)["warnings"]) == 1 for job_id in ids)  # type: ignore[index]


def test_reaping_spares_a_worker_and_can_ignore_heartbeats(records: JobRecords) -> None:
    mine, theirs = _queue(records, 2)
    assert _claimed(records, "me", now=100.0).claim.job_id == mine
    _claimed(records, "them", now=100.0)
    # a process that holds the local index knows every other worker is gone, however fresh its heartbeat
    [reaped] = records.reap(now=101.0, stale_before=None, spare="me")
    assert reaped.job_id == theirs and reaped.reason == "the process running it (them) stopped before it finished"
    assert records.reap(now=10_000.0, stale_before=9_000.0, spare="me") == []


def test_a_job_given_back_is_not_counted_as_a_try(records: JobRecords) -> None:
    [job_id] = _queue(records, 1)
    claimed = _claimed(records, "w1")
    assert records.release(claimed.claim, {**claimed.record, "stage": "given back"})
    back = records.get(job_id)
    assert back is not None and (back["status"], back["worker"], back["stage"]) == ("queued", "", "given back")
    assert _claimed(records, "w2").claim.attempt == 1 and records.upload(job_id) is not None
