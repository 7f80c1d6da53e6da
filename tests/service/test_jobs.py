"""Upload jobs (folio.service.jobs): one queue in the records' database for every replica on it. Every test runs on
SQLite and PostgreSQL (``database_url``) but the outage tests, which stop the PostgreSQL server.

Replicas here are ``JobQueue`` objects in one process, each with a store of its own (its own database connections,
its own client onto one Qdrant engine in server mode: ``tests/shared_qdrant.py``), and a fake ingest that counts
its calls; a killed service is a real process killed with SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from folio.config import Settings
from folio.errors import DatabaseUnavailable, ParseInterrupted
from folio.ingest.reports import FileResult
from folio.ingest.sources import Source
from folio.ingest.store import Store
from folio.records.tables import jobs as jobs_table
from folio.service.jobs import JobQueue
from tests.postgres import PostgresServer
from tests.service_helpers import contract_pdf, service, service_settings
from tests.shared_qdrant import shared_qdrant

URL = "http://qdrant.test:6333"
Ingest = Callable[[Source, Any], FileResult]


class Ingests:
    """A fake ingest: counts its calls per file, keeps the bytes and the worker of each, and, when ``hold`` is
    set, stays in the call until ``release`` is set (a stuck parser)."""

    def __init__(self, *, hold: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.seen: list[tuple[str, bytes, str]] = []  # file, bytes, the worker that ran it
        self.hold = hold
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, source: Source, progress: Any) -> FileResult:
        progress.start(1)
        with self._lock:
            self.calls[source.name] += 1
            self.seen.append((source.name, source.read(), progress.job.worker))
        time.sleep(random.uniform(0.0, 0.01))  # let the replicas' claims interleave
        if self.hold:
            self.release.wait(60)
        return FileResult(name=source.name, status="ingested", doc_id=source.name.ljust(64, "0"), pages=1, chunks=1)

    def runs(self) -> int:
        with self._lock:
            return len(self.seen)


def _upload(name: str) -> Source:
    return Source(name=name, key=f"upload:{name}", data=f"the bytes of {name}".encode())


def _eventually(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


@pytest.fixture
def replica(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            database_url: str | None) -> Iterator[Callable[..., JobQueue]]:
    """Starts replicas on one Qdrant and one records database; closes them after the test."""
    started: list[JobQueue] = []
    settings = service_settings(tmp_path, None, qdrant_url=URL, database_url=database_url)
    with shared_qdrant(monkeypatch, tmp_path / "engine"):

        def start(ingest: Ingest, **options: Any) -> JobQueue:
            queue = JobQueue(ingest, Store.open(settings), **{"poll_s": 0.05, **options})
            started.append(queue)
            return queue

        yield start
        for queue in started:
            queue.close()
            queue.store.close()


def test_every_job_runs_exactly_once_whichever_replica_takes_it(replica: Callable[..., JobQueue]) -> None:
    ingest = Ingests()
    replicas = [replica(ingest, worker=f"replica-{i}") for i in range(3)]
    jobs = [replicas[i % 3].submit(_upload(f"file-{i:02d}.txt")) for i in range(20)]
    finished = [replicas[(i + 1) % 3].wait(job.id, timeout=60) for i, job in enumerate(jobs)]
    assert [j.status if j else None for j in finished] == ["done"] * 20
    assert ingest.calls == Counter({job.file_name: 1 for job in jobs})  # every job once, none twice
    assert all(data == f"the bytes of {name}".encode() for name, data, _ in ingest.seen)
    assert {j.worker for j in finished if j} <= {q.worker for q in replicas}
    assert all(replicas[0].records.upload(job.id) is None for job in jobs)  # every upload's bytes are gone


def test_a_job_whose_replica_dies_is_retried_once_elsewhere_then_failed(replica: Callable[..., JobQueue]) -> None:
    now = [time.time()]
    ingest = Ingests(hold=True)  # every run gets stuck: each try's replica "dies" (sends no more heartbeats)
    clock = {"clock": lambda: now[0], "heartbeat_s": 3600.0, "stale_after_s": 120.0}
    a, b = replica(ingest, worker="replica-a", **clock), replica(ingest, worker="replica-b", **clock)
    watcher = replica(ingest, worker="watcher", run_jobs=False, **clock)  # reaps, runs nothing
    try:
        job = watcher.submit(_upload("big.pdf"))
        _eventually(lambda: ingest.runs() == 1, "a replica runs the job")
        first = ingest.seen[0][2]
        assert watcher.reap() == []  # its heartbeat is fresh
        now[0] += 600  # ten minutes without a heartbeat: that replica is gone
        [retried] = watcher.reap()
        assert retried.retried and f"({first}) stopped sending heartbeats 600 s ago" in retried.reason
        _eventually(lambda: ingest.runs() == 2, "the other replica runs it again")
        second = ingest.seen[1][2]
        assert {first, second} == {a.worker, b.worker}  # the first one is still stuck in its run
        running = watcher.get(job.id)
        assert running is not None and running.worker == second
        assert running.warnings == [f"tried again: the first try was interrupted ({retried.reason})"]
        now[0] += 600
        [failed] = watcher.reap()
        assert not failed.retried and failed.worker == second
        ended = watcher.wait(job.id, timeout=5)
        assert ended is not None and (ended.status, ended.stage) == ("failed", "interrupted")
        assert ended.error is not None and ended.error["code"] == "interrupted"
        assert f"({second}) stopped" in ended.error["message"] and "tried twice" in ended.error["message"]
        assert watcher.records.upload(job.id) is None
    finally:
        ingest.release.set()
    for queue in (a, b):
        queue.close()  # their stuck runs end now, but the job is no longer theirs: nothing they write counts
    assert watcher.records.get(job.id) == ended.to_dict() and ingest.runs() == 2


def test_queued_jobs_survive_a_restart(replica: Callable[..., JobQueue]) -> None:
    ingest = Ingests()
    front = replica(ingest, worker="front", run_jobs=False)  # its worker is not running
    jobs = [front.submit(_upload(name)) for name in ("one.txt", "two.txt")]
    front.close()
    front.store.close()  # gone, with nothing of the uploads in memory anywhere
    assert ingest.runs() == 0
    restarted = replica(ingest, worker="restarted")
    for job in jobs:
        done = restarted.wait(job.id, timeout=30)
        assert done is not None and done.status == "done" and done.worker == "restarted"
        assert restarted.records.upload(job.id) is None
    assert sorted((name, data) for name, data, _ in ingest.seen) == [
        ("one.txt", b"the bytes of one.txt"), ("two.txt", b"the bytes of two.txt")]


def test_a_job_cut_short_by_its_replica_stopping_goes_back_to_the_queue(replica: Callable[..., JobQueue]) -> None:
    """The service stops its queue before its parser (``Runtime.close``): the upload the parser drops is not a
    failure of the file, so it is queued again without counting as a try, and the next replica runs it."""
    running, parser_stopped = threading.Event(), threading.Event()

    def interrupted(source: Source, progress: Any) -> FileResult:
        progress.start(1)
        running.set()
        assert parser_stopped.wait(30)
        return FileResult(name=source.name, status="failed", error=ParseInterrupted("parsing was stopped"))

    stopping = replica(interrupted, worker="stopping")
    job = stopping.submit(_upload("long.pdf"))
    assert running.wait(30)
    stopping.stop()
    parser_stopped.set()
    stopping.close()
    back = stopping.get(job.id)
    assert back is not None and (back.status, back.worker, back.finished, back.error) == ("queued", "", None, None)
    assert back.stage == "queued again: the replica running it (stopping) stopped"
    ingest = Ingests()
    following = replica(ingest, worker="next")
    done = following.wait(job.id, timeout=30)
    assert done is not None and done.status == "done" and done.warnings == []
    assert ingest.calls == Counter({"long.pdf": 1})
    with following.store.database.read() as conn:  # its first try, again: the retry is still there if needed
        assert conn.execute(select(jobs_table.c.attempts).where(jobs_table.c.id == job.id)).scalar_one() == 1


KILLED_SERVICE = """
import sys, threading
from folio.config import Settings
from folio.ingest.sources import Source
from folio.ingest.store import Store
from folio.service.jobs import JobQueue

def stuck(source, progress):
    progress.start(1)
    print("running", source.name, flush=True)
    threading.Event().wait()

settings = Settings(data_dir=sys.argv[1], database_url=sys.argv[2] or None, embed_model="hash-64")
queue = JobQueue(stuck, Store.open(settings), worker="killed", poll_s=0.05)
for name in ("first.txt", "second.txt"):
    job = queue.submit(Source(name=name, key="upload:" + name, data=name.encode()))
    print("queued", name, job.id, flush=True)
threading.Event().wait()
"""


def test_a_killed_service_runs_its_jobs_when_it_starts_again(tmp_path: Path, database_url: str | None) -> None:
    """A local index: the killed process held it, so the next one to open it takes back the job it was running
    (queued again for its last try) and runs the one still queued."""
    data_dir = tmp_path / "data"
    service_process = subprocess.Popen([sys.executable, "-c", KILLED_SERVICE, str(data_dir), database_url or ""],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       start_new_session=True)
    lines: list[str] = []
    guard = threading.Timer(60, os.killpg, (service_process.pid, signal.SIGKILL))  # a hung child ends the test
    guard.start()
    try:
        assert service_process.stdout is not None
        while not (sum(line.startswith("queued") for line in lines) == 2 and
                   any(line.startswith("running") for line in lines)):
            line = service_process.stdout.readline()
            assert line, service_process.stderr.read() if service_process.stderr else "the service ended"
            lines.append(line.strip())
    finally:
        guard.cancel()
        os.killpg(service_process.pid, signal.SIGKILL)
        service_process.communicate(timeout=30)
    ids = {line.split()[1]: line.split()[2] for line in lines if line.startswith("queued")}
    [running] = [line.split()[1] for line in lines if line.startswith("running")]
    [waiting] = set(ids) - {running}
    ingest = Ingests()
    with Store.open(Settings(data_dir=data_dir, database_url=database_url, embed_model="hash-64")) as store:
        queue = JobQueue(ingest, store, worker="restarted", poll_s=0.05)
        try:
            ran_again, queued = queue.wait(ids[running], timeout=30), queue.wait(ids[waiting], timeout=30)
            assert ran_again is not None and ran_again.status == "done" and ran_again.worker == "restarted"
            assert ran_again.warnings == ["tried again: the first try was interrupted (the process running it "
                                          "(killed) stopped before it finished)"]
            assert queued is not None and queued.status == "done" and queued.warnings == []
            assert all(store.job_records.upload(job_id) is None for job_id in ids.values())
        finally:
            queue.close()
    assert sorted((name, data) for name, data, _ in ingest.seen) == [("first.txt", b"first.txt"),
                                                                     ("second.txt", b"second.txt")]


# -- the database goes away (PostgreSQL: the tests stop and start its server) ---------------------------------------


def test_a_database_outage_mid_job_loses_nothing(tmp_path: Path, postgres_server: PostgresServer,
                                                 postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    escaped: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook_args: escaped.append(hook_args.exc_value))
    started, database_down = threading.Event(), threading.Event()

    def ingest(source: Source, progress: Any) -> FileResult:
        progress.start(1)
        started.set()
        assert database_down.wait(30)
        progress.file_prepared(source.name, 2, 5)  # writes the database refuses: logged, the work goes on
        progress.chunks_done(source.name, 5)
        return FileResult(name=source.name, status="ingested", doc_id="d" * 64, pages=2, chunks=5)

    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, embed_model="hash-64")
    with Store.open(settings) as store:
        queue = JobQueue(ingest, store, worker="replica-a", heartbeat_s=0.1, progress_every_s=0.0, poll_s=0.05)
        try:
            job = queue.submit(_upload("report.pdf"))
            assert started.wait(30)
            postgres_server.stop()
            database_down.set()
            ended = queue.wait(job.id, timeout=30)  # its end is kept in memory, and answered from there
            assert ended is not None and ended.status == "done" and (ended.chunks_total, ended.chunks_done) == (5, 5)
            with pytest.raises(DatabaseUnavailable):  # a submit the database cannot take queues nothing
                queue.submit(_upload("refused.pdf"))
            postgres_server.start()

            def recorded() -> bool:
                try:
                    record = store.job_records.get(job.id)
                except DatabaseUnavailable:
                    return False
                return record is not None and record["status"] == "done"

            _eventually(recorded, "the heartbeat writes the job's end once the database is back")
            assert store.job_records.get(job.id) == ended.to_dict()
            assert store.job_records.upload(job.id) is None
            assert [j["id"] for j in store.job_records.all()] == [job.id]  # nothing of the refused submit
            later = queue.submit(_upload("later.pdf"))  # the worker went on through the outage
            assert (queue.wait(later.id, timeout=30) or later).status == "done"
        finally:
            database_down.set()
            if not postgres_server.running:
                postgres_server.start()
            queue.close()
    assert escaped == []


def test_an_upload_the_database_cannot_take_is_503_and_queues_nothing(tmp_path: Path,
                                                                      postgres_server: PostgresServer,
                                                                      postgres_url: str) -> None:
    with service(service_settings(tmp_path, None, database_url=postgres_url)) as client:
        assert client.get("/v1/jobs").json()["jobs"] == []
        postgres_server.stop()
        try:
            response = client.post("/v1/documents", files=[("files", ("supply.pdf", contract_pdf()))])
        finally:
            postgres_server.start()
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "database_unavailable"
        _eventually(lambda: client.get("/v1/jobs").status_code == 200, "the jobs answer again")
        assert client.get("/v1/jobs").json()["jobs"] == []
