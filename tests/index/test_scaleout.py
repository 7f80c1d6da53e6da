"""Scale-out: collections made with the configured shards and replicas, and replicas that keep nothing of their
own, so any of them answers any request (jobs included). Two apps share one Qdrant engine in server mode
(``tests/shared_qdrant.py`` says what that does and does not exercise)."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from folio.config import Settings
from folio.ingest.embed import HashEmbedder
from folio.ingest.reports import FileResult
from folio.ingest.sources import Source
from folio.ingest.store import Store
from folio.service.app import create_app
from folio.service.jobs import JobQueue
from tests.service_helpers import contract_pdf, service_settings, upload
from tests.shared_qdrant import shared_qdrant

URL = "http://qdrant.test:6333"


@pytest.fixture(autouse=True)
def shared_records(tmp_path, monkeypatch):
    """Replicas share the records' database as they share Qdrant."""
    monkeypatch.setenv("FOLIO_DATABASE_URL", f"sqlite:///{tmp_path / 'records.db'}")


def _server_settings(tmp_path, double=None, **overrides) -> Settings:
    return service_settings(tmp_path, double, qdrant_url=URL, **overrides)


def test_collections_get_the_configured_shards_and_replicas(tmp_path, monkeypatch):
    """Every collection Folio makes asks Qdrant for the configured shard and replica counts. The in-process engine
    cannot report them back (local mode's collection info says ``shard_number=None, replication_factor=None``),
    so they are read from the create calls the shim recorded, and those calls are every collection the engine
    holds."""
    with shared_qdrant(monkeypatch, tmp_path / "engine") as shared:
        store = Store.open(_server_settings(tmp_path, qdrant_shards=6, qdrant_replicas=2))
        assert not store.local and (store.shards, store.replicas) == (6, 2)
        store.ensure_chunks_collection(64)
        asked = {c["name"]: (c["shard_number"], c["replication_factor"]) for c in shared.created}
        assert asked == {"folio_chunks": (6, 2)}  # the records live in the database, not in Qdrant
        assert {c.name for c in shared.engine.get_collections().collections} == set(asked)


def test_two_replicas_creating_the_same_collection_at_once(tmp_path, monkeypatch):
    with shared_qdrant(monkeypatch, tmp_path / "engine") as shared:
        shared.race_on_create = True  # every create finds the collection made by "another replica"
        store = Store.open(_server_settings(tmp_path))
        store.ensure_chunks_collection(64)
        assert store.has_chunks_collection() is True


def test_local_mode_ignores_shards_but_accepts_them(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", qdrant_shards=3, qdrant_replicas=2)
    with Store.open(settings) as store:
        assert store.local and (store.shards, store.replicas) == (3, 2)
        store.ensure_chunks_collection(64)
        assert store.has_chunks_collection()


def _app(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, embedder_factory=lambda: HashEmbedder(64)))


def test_any_replica_answers_for_jobs_documents_and_the_ledger(tmp_path, monkeypatch, provider_double):
    double = provider_double()
    with shared_qdrant(monkeypatch, tmp_path / "engine") as shared, \
            _app(_server_settings(tmp_path / "a", double)) as a, _app(_server_settings(tmp_path / "b", double)) as b:
        job = upload(a, "msa.pdf", contract_pdf())
        seen = b.get(f"/v1/jobs/{job['id']}").json()
        assert b.get("/v1/documents").status_code == 200 and b.get("/readyz").status_code == 200
        assert len(shared.clients) == 2  # each replica its own client, nothing shared but Qdrant and the records
        assert seen["status"] == "done" and seen["document_id"] == job["document_id"]
        assert seen["worker"] == job["worker"] and seen["pages"] == job["pages"]
        assert [j["id"] for j in b.get("/v1/jobs").json()["jobs"]] == [job["id"]]
        assert [d["id"] for d in b.get("/v1/documents").json()["documents"]] == [job["document_id"]]
        # a question asked on replica A is in the ledger replica B reads, and B's plan knows the cache is warm
        answer = a.post("/v1/query", json={"question": "What is the liability cap?", "mode": "full"}).json()
        assert answer["route"] == "full"
        assert b.get("/v1/ledger").json()["totals"]["dollars"] == pytest.approx(answer["cost"]["dollars"])
        plan = b.post("/v1/plan", json={"question": "What is the liability cap?", "mode": "full"}).json()
        assert plan["plan"]["inputs"]["cache"]["h"] > 0.5 and plan["retrieved"]  # B searches through Qdrant
        # a document deleted on B is gone from A at once (no copy of the list anywhere)
        assert b.delete(f"/v1/documents/{job['document_id'][:8]}").status_code == 200
        assert a.get("/v1/documents").json()["documents"] == []
        assert b.get("/v1/jobs/ffffffffffffffff").status_code == 422


def _result(source: Source) -> FileResult:
    return FileResult(name=source.name, status="ingested", doc_id="d" * 64, pages=3, chunks=10)


def _ingested(source: Source, progress) -> FileResult:
    return _result(source)


def test_a_running_job_is_visible_from_another_replica(tmp_path, monkeypatch):
    release, embedding = threading.Event(), threading.Event()

    def slow_ingest(source: Source, progress) -> FileResult:
        progress.start(1)
        progress.file_prepared(source.name, 3, 10)
        progress.chunks_done(source.name, 4)
        embedding.set()
        assert release.wait(30)
        return _result(source)

    with shared_qdrant(monkeypatch, tmp_path / "engine"):
        store_a, store_b = Store.open(_server_settings(tmp_path)), Store.open(_server_settings(tmp_path))
        a = JobQueue(slow_ingest, store_a, progress_every_s=0.0, worker="replica-a")
        # B only answers: the queue is shared, so a B that runs jobs could claim this one before A does
        b = JobQueue(_ingested, store_b, worker="replica-b", run_jobs=False)
        try:
            job = a.submit(Source(name="msa.pdf", key="upload:msa.pdf", data=b"x"))
            assert embedding.wait(30)
            seen = b.get(job.id)
            assert seen is not None and seen is not job
            assert (seen.status, seen.chunks_total, seen.chunks_done, seen.worker) == ("embedding", 10, 4, "replica-a")
            release.set()
            finished = b.wait(job.id, timeout=30)  # B waits for A's job by reading its record
            assert finished is not None and finished.status == "done" and finished.document_id == "d" * 64
            assert finished.worker == "replica-a" and finished.finished is not None
        finally:
            release.set()
            a.close()
            b.close()


def test_a_job_whose_replica_stopped_is_run_again_by_another(tmp_path, monkeypatch):
    """Before the queue was shared, such a job was reported interrupted; now its bytes are in the database, so
    another replica runs it again (once: tests/service/test_jobs.py fails a job whose retry stops too)."""
    release, started = threading.Event(), threading.Event()

    def stuck(source: Source, progress) -> FileResult:
        progress.start(1)
        started.set()
        release.wait(30)
        return _result(source)

    now = [time.time()]
    with shared_qdrant(monkeypatch, tmp_path / "engine"):
        a = JobQueue(stuck, Store.open(_server_settings(tmp_path)), heartbeat_s=3600, worker="replica-a")
        b = None
        try:
            job = a.submit(Source(name="big.pdf", key="upload:big.pdf", data=b"x"))
            assert started.wait(30)  # A claimed it; B starts now, so that A is the one that did
            b = JobQueue(_ingested, Store.open(_server_settings(tmp_path)), clock=lambda: now[0], stale_after_s=120,
                         worker="replica-b")
            assert b.reap() == [] and b.get(job.id).status == "parsing"  # heartbeat fresh: still running
            now[0] += 600  # ten minutes without a heartbeat: replica A is gone
            [taken] = b.reap()
            assert taken.job_id == job.id and taken.retried and "replica-a" in taken.reason
            done = b.wait(job.id, timeout=30)
            assert done is not None and done.status == "done" and done.worker == "replica-b"
            assert any("tried again" in w and "replica-a" in w for w in done.warnings)
            assert b.records.get(job.id)["status"] == "done"  # recorded for everyone
            release.set()
            a.close()  # A's stuck run ends: its claim was taken, so its end changes nothing
            assert b.records.get(job.id)["worker"] == "replica-b"
            assert [j.status for j in b.all()] == ["done"]
        finally:
            release.set()
            a.close()
            if b is not None:
                b.close()


def test_a_local_store_reopened_runs_leftover_jobs_again(store):
    """Before the queue was shared, leftovers were marked interrupted; now their bytes wait in the database, so
    the process that opens the index next runs them again (their second and last try)."""
    release, started = threading.Event(), threading.Event()

    def stuck(source: Source, progress) -> FileResult:
        started.set()
        release.wait(30)
        return _result(source)

    first = JobQueue(stuck, store, worker="first")
    try:
        job = first.submit(Source(name="a.pdf", key="upload:a.pdf", data=b"x"))
        assert started.wait(30)
        # a new process on the same local store (only one can hold it, so the first one is gone)
        second = JobQueue(_ingested, store, worker="second")
        leftover = second.wait(job.id, timeout=30)
        assert leftover is not None and leftover.status == "done" and leftover.worker == "second"
        assert any("tried again" in w and "first" in w for w in leftover.warnings)
        assert store.job_records.upload(job.id) is None  # its bytes went with its end
        second.close()
    finally:
        release.set()
        first.close()


def test_finished_job_records_beyond_keep_are_deleted(store):
    jobs = JobQueue(_ingested, store, keep=2, trim_every=1)
    try:
        submitted = [jobs.submit(Source(name=f"{i}.pdf", key=f"upload:{i}.pdf", data=b"x")) for i in range(4)]
        for job in submitted:
            # a job that ended and was trimmed before this wait began reads as gone (None): trimming deletes
            # finished records only, so gone means finished here
            ended = jobs.wait(job.id, timeout=30)
            assert ended is None or ended.finished is not None
        deadline = time.monotonic() + 10
        while len(store.job_records.all()) > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        kept = [j.id for j in jobs.all()]
        assert kept == [submitted[3].id, submitted[2].id]
    finally:
        jobs.close()


def test_an_upload_on_one_replica_leaves_another_replicas_unfinished_document_alone(tmp_path, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from folio.records import DocumentRecord

    def record(doc_id: str, age: timedelta) -> DocumentRecord:
        return DocumentRecord(id=doc_id, file_name=f"{doc_id[:4]}.pdf", title="t", format="pdf", size_bytes=1,
                              n_pages=1, total_tokens=1, page_tokens=[1], status="writing",
                              ingested_at=(datetime.now(UTC) - age).isoformat(), embed_model="hash-64")

    with shared_qdrant(monkeypatch, tmp_path / "engine"), _app(_server_settings(tmp_path / "a")) as a:
        other = Store.open(_server_settings(tmp_path / "b"))
        other.begin_document(record("a" * 64, timedelta(minutes=5)))  # replica B is writing it now
        other.begin_document(record("b" * 64, timedelta(hours=7)))  # left by a replica that died hours ago
        upload(a, "msa.pdf", contract_pdf())
        statuses = {r.id: r.status for r in other.list_documents(status=None)}
        assert statuses.get("a" * 64) == "writing" and "b" * 64 not in statuses


def test_a_cli_batch_on_a_shared_server_leaves_another_writers_document_alone(tmp_path, monkeypatch):
    """``folio ingest`` with FOLIO_QDRANT_URL runs the pipeline on a plain server-mode store (no service
    around it): its recovery before the batch must spare what another process is writing now."""
    from datetime import UTC, datetime, timedelta

    from folio.ingest.pipeline import Ingestor
    from folio.records import DocumentRecord

    def record(doc_id: str, age: timedelta) -> DocumentRecord:
        return DocumentRecord(id=doc_id, file_name=f"{doc_id[:4]}.pdf", title="t", format="pdf", size_bytes=1,
                              n_pages=1, total_tokens=1, page_tokens=[1], status="writing",
                              ingested_at=(datetime.now(UTC) - age).isoformat(), embed_model="hash-64")

    settings = _server_settings(tmp_path / "cli")
    with shared_qdrant(monkeypatch, tmp_path / "engine"):
        service_store = Store.open(_server_settings(tmp_path / "service"))
        service_store.begin_document(record("a" * 64, timedelta(seconds=30)))  # a replica is writing it now
        service_store.begin_document(record("b" * 64, timedelta(hours=7)))  # abandoned hours ago
        path = tmp_path / "msa.pdf"
        path.write_bytes(contract_pdf())
        cli_store = Store.open(settings)
        source = Source(name=path.name, key=str(path), path=path)
        results = Ingestor(cli_store, lambda: HashEmbedder(64), settings, workers=0).run([source])
        assert [r.status for r in results] == ["ingested"]
        statuses = {r.id: r.status for r in service_store.list_documents(status=None)}
        assert statuses.get("a" * 64) == "writing" and "b" * 64 not in statuses
