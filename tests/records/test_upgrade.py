"""The upgrade in place (folio.records.upgrade): a data dir of the release that kept the records in Qdrant opens,
and its records move into the records' database once.

The old data dir is made for real: documents ingested by the current code (so that their chunks are real), their
records then taken out of the database and written, as the previous release wrote them, into the vector-less
collections ``folio_documents``, ``folio_ledger`` and ``folio_jobs`` of the same local Qdrant, with qdrant-client;
the database file is deleted. The move's tests run on SQLite and PostgreSQL (``database_url``)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from folio.cli import cli
from folio.config import Settings
from folio.errors import StoreLocked, StoreUnavailable
from folio.index.legacy import LegacyCollections
from folio.index.retry import LOCAL, Qdrant
from folio.ingest.embed import HashEmbedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import collect_paths
from folio.ingest.store import Store
from folio.records import upgrade
from folio.records.database import Database
from folio.records.ledger_records import LedgerRecords
from folio.records.model import DocumentRecord
from folio.records.sql_documents import SqlDocuments
from folio.records.tables import document_pages, documents, facts, jobs, ledger
from folio.service.app import create_app
from folio.service.ledger import LedgerEntry, Usage
from tests.conftest import held_by_another_process

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
INGESTED = ("northwind-brightwater-msa.pdf", "q3-2025-board-update.md")
COLLECTIONS = ("folio_documents", "folio_ledger", "folio_jobs")
LOG = "folio.records.upgrade"
KEY_FOLIO, KEY_DEFAULT = "k-folio-0123456789abcdef", "k-default-0123456789abcdef"


@dataclass
class Legacy:
    """What the old data dir holds: the payloads written into each record collection, by record id."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # ids of records the move cannot read
    ready: list[str] = field(default_factory=list)  # the ingested documents, with chunks


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DocumentRecord]]:
    """A data dir whose Qdrant holds real chunks of two samples, and their records (with pages); made once."""
    data_dir = tmp_path_factory.mktemp("chunked") / "data"
    with pytest.MonkeyPatch.context() as env:  # the clean environment of tests/conftest.py, for a module
        for key in [k for k in os.environ if k.startswith("FOLIO_")]:
            env.delenv(key)
        env.setenv("HF_HUB_OFFLINE", "1")
        # the previous release's embedded index was Qdrant's local mode (a new data dir now gets Qdrant Edge)
        settings = Settings(data_dir=data_dir, embed_model="hash-64", ingest_workers=0, index_engine="local")
        with Store.open(settings) as store:
            ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
            results = ingestor.run([s for s in collect_paths([SAMPLES]) if s.path and s.path.name in INGESTED])
            ingestor.close()
            records = [store.get_document(r.doc_id, with_pages=True) for r in results]
    assert all(r is not None and r.status == "ready" and r.pages for r in records)
    return data_dir, [r for r in records if r is not None]


def _ledger_payload(doc: DocumentRecord, dollars: float, tenant: str | None, ts: float) -> dict[str, Any]:
    entry = LedgerEntry(kind="question", route="full", prefix_hash="p-" + doc.id[:8], doc_ids=[doc.id],
                        doc_tokens=[doc.total_tokens], usage=Usage(100, 900, 50, 0), dollars=dollars,
                        estimated_dollars=dollars, model="deepseek-chat", profile="deepseek-api", ts=ts,
                        scope_key=doc.id[:12], prices={"input_miss": 0.27, "input_hit": 0.07, "output": 1.1,
                                                       "cache_write_multiplier": 1.0})
    payload = entry.to_payload()
    if tenant is None:
        del payload["tenant"]
    else:
        payload["tenant"] = tenant
    return payload


def _job_payload(job_id: str, doc_id: str | None, *, status: str, finished: float | None,
                 tenant: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": job_id, "file": f"{job_id}.pdf", "size_bytes": 1234, "status": status, "stage": status, "pages": 3,
        "chunks_total": 10, "chunks_done": 10 if finished else 4, "progress": 1.0 if finished else 0.4,
        "document_id": doc_id, "error": None, "warnings": [], "created": 1_700_000_000.0, "finished": finished,
        "worker": "old-host:12:abcdef", "request_id": "req-" + job_id, "heartbeat": 1_700_000_100.0}
    if tenant is not None:
        payload["tenant"] = tenant
    return payload


def make_old_data_dir(chunked: tuple[Path, list[DocumentRecord]], data_dir: Path) -> Legacy:
    """The chunked data dir, with its records where the previous release kept them (module docstring)."""
    from qdrant_client import QdrantClient, models

    source, records = chunked
    shutil.copytree(source, data_dir)
    for leftover in data_dir.glob("folio.db*"):
        leftover.unlink()  # the records are Qdrant's, as before
    legacy = Legacy(ready=[r.id for r in records])
    first, second = records
    # from before tenants (no tenant field) and with a field this release does not know; a current one
    old = first.model_dump()
    del old["tenant"]
    old["layout_hint"] = {"columns": 2}
    legacy.documents[first.id] = old
    legacy.documents[second.id] = second.model_dump()
    # a document a killed writer left half-written: moved as it is (the recovery purges it later)
    writing = "e" * 64
    legacy.documents[writing] = {**second.model_dump(), "id": writing, "status": "writing", "title": "Half"}
    broken = "f" * 64
    legacy.unreadable.append(broken)
    documents_points = [*legacy.documents.items(), (broken, {"id": broken, "title": "no pages, no anything"})]

    legacy.ledger = {p["id"]: p for p in (
        _ledger_payload(first, 0.0123, "folio", 1_700_000_000.0),  # before tenants: the provider cache id
        _ledger_payload(first, 0.0200, None, 1_700_000_060.0),  # no tenant at all
        _ledger_payload(second, 0.0031, "default", 1_700_000_120.0),
        _ledger_payload(second, 0.5000, "acme", 1_700_000_180.0),  # an API key's tenant: stays its own
    )}
    next(iter(legacy.ledger.values()))["cache_note"] = "a field this release does not know"
    bad_entry = str(uuid.uuid4())
    legacy.unreadable.append(bad_entry)
    ledger_points = [*legacy.ledger.items(), (bad_entry, {"id": bad_entry, "kind": "question", "ts": "yesterday"})]

    legacy.jobs = {p["id"]: p for p in (
        _job_payload("job-done", first.id, status="done", finished=1_700_000_050.0, tenant=None),
        _job_payload("job-acme", second.id, status="done", finished=1_700_000_060.0, tenant="acme"),
        _job_payload("job-cut", None, status="embedding", finished=None, tenant="default"),
    )}
    legacy.jobs["job-acme"]["retry_hint"] = "a field this release does not know"

    client = QdrantClient(path=str(data_dir / "qdrant"))
    try:
        for name, points in (("folio_documents", [(str(uuid.UUID(hex=i[:32])), p) for i, p in documents_points]),
                             ("folio_ledger", ledger_points),
                             ("folio_jobs", [(str(uuid.uuid5(uuid.NAMESPACE_URL, i)), p)
                                             for i, p in legacy.jobs.items()])):
            client.create_collection(name, vectors_config={})
            client.upsert(name, [models.PointStruct(id=point_id, vector={}, payload=payload)
                                 for point_id, payload in points], wait=True)
        assert {c.name for c in client.get_collections().collections} == {"folio_chunks", *COLLECTIONS}
    finally:
        client.close()
    return legacy


def expected_document(payload: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord.model_validate(payload)  # tenant "default" where it had none; unknown fields dropped


def expected_entries(legacy: Legacy, legacy_tenant: str | None) -> dict[str, dict[str, Any]]:
    mapped = {}
    for entry_id, payload in legacy.ledger.items():
        tenant = payload.get("tenant") or "default"
        mapped[entry_id] = {**payload, "tenant": "default" if tenant == legacy_tenant else tenant}
    return mapped


def counts(database: Database) -> dict[str, int]:
    with database.read() as conn:
        return {table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (documents, document_pages, ledger, jobs, facts)}


def legacy_collections(store: Store) -> set[str]:
    return set(COLLECTIONS) & LegacyCollections(store.qdrant).collections()


def moved_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG and r.getMessage().startswith("moved")]


@pytest.fixture
def old_settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=0, database_url=database_url)


# -- the move ----------------------------------------------------------------------------------------------------


def test_an_old_data_dir_opens_with_its_records_in_sql_once(chunked, old_settings: Settings,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    legacy = make_old_data_dir(chunked, old_settings.data_dir)
    caplog.set_level(logging.INFO, logger=LOG)
    with Store.open(old_settings) as store:  # the CLI's way: FOLIO_LLM_USER_ID ("folio") is no key's tenant
        for doc_id, payload in legacy.documents.items():
            assert store.get_document(doc_id, with_pages=True) == expected_document(payload)  # pages included
        assert store.get_document(legacy.unreadable[0]) is None
        assert [r.id for r in store.list_documents()] == sorted(legacy.ready, key=lambda i: (
            legacy.documents[i]["ingested_at"], i))
        assert {r.id: r.tenant for r in store.list_documents(status=None)} == dict.fromkeys(legacy.documents,
                                                                                           "default")
        assert store.get_document("e" * 64).status == "writing"  # type: ignore[union-attr]
        entries = {e["id"]: e for e in store.ledger_records.entries(tenant=None)}
        assert entries == expected_entries(legacy, "folio")
        assert sorted(e["tenant"] for e in entries.values()) == ["acme", "default", "default", "default"]
        assert {job_id: store.job_records.get(job_id) for job_id in legacy.jobs} == legacy.jobs
        assert [j["id"] for j in store.job_records.all(tenant="acme")] == ["job-acme"]
        assert legacy_collections(store) == set()  # their records live in the database now
        assert all(store.count_chunks(doc_id) > 0 for doc_id in legacy.ready)  # the chunks stay
        before = counts(store.database)
    [line] = moved_lines(caplog)
    assert "3 documents with their pages, 4 ledger entries, 3 upload jobs" in line
    assert "2 could not be read" in line and "folio_documents, folio_ledger, folio_jobs" in line
    skipped = [r.getMessage() for r in caplog.records if r.name == LOG and r.levelno == logging.WARNING]
    assert len(skipped) == 2 and all(any(i in m for m in skipped) for i in legacy.unreadable)
    assert before == {"documents": 3, "document_pages": sum(len(legacy.documents[i]["pages"])
                                                            for i in legacy.documents),
                      "ledger": 4, "jobs": 3, "facts": 1}

    caplog.clear()
    with Store.open(old_settings) as store:  # again: nothing to move, nothing doubled
        assert counts(store.database) == before
    assert not [r for r in caplog.records if r.name == LOG]

    default_entries = [e for e in expected_entries(legacy, "folio").values() if e["tenant"] == "default"]
    first = legacy.documents[legacy.ready[0]]
    app = create_app(old_settings, embedder_factory=lambda: HashEmbedder(64), preload_model=False)
    with TestClient(app) as http:
        listed = http.get("/v1/documents").json()["documents"]
        assert sorted(d["id"] for d in listed) == sorted(legacy.ready)
        page = http.get(f"/v1/documents/{first['id']}/pages/1").json()
        assert page["text"] == first["pages"][0] and page["pages"] == first["n_pages"]
        totals = http.get("/v1/ledger").json()["totals"]
        assert totals["requests"] == len(default_entries) == 3
        assert totals["dollars"] == pytest.approx(sum(e["dollars"] for e in default_entries))
        words = " ".join(first["pages"][0].split()[:12])
        hits = http.post("/v1/search", json={"query": words, "limit": 5}).json()["hits"]
        assert hits and hits[0]["doc_id"] == first["id"]
        assert {h["doc_id"] for h in hits} <= set(legacy.ready)


def test_a_move_stopped_before_the_collections_went_is_finished_by_the_next_opening(
        chunked, old_settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = make_old_data_dir(chunked, old_settings.data_dir)

    def fails(self: LegacyCollections, name: str) -> None:
        raise StoreUnavailable(f"Qdrant remove a collection failed: {name} (the process was killed)")

    monkeypatch.setattr(LegacyCollections, "drop", fails)
    with pytest.raises(StoreUnavailable, match="killed"):
        Store.open(old_settings)  # the records were committed; the collections are still there
    database = Database.from_settings(old_settings)
    committed = counts(database)
    assert committed["documents"] == 3 and committed["ledger"] == 4 and committed["jobs"] == 3
    database.close()

    monkeypatch.undo()
    caplog.set_level(logging.INFO, logger=LOG)
    with Store.open(old_settings) as store:
        assert counts(store.database) == committed  # nothing moved twice
        assert legacy_collections(store) == set()
        assert {e["id"] for e in store.ledger_records.entries(tenant=None)} == set(legacy.ledger)
    assert not moved_lines(caplog)
    assert any("removed the record collections" in r.getMessage() for r in caplog.records if r.name == LOG)


def test_records_the_database_holds_already_are_kept_not_doubled(chunked, old_settings: Settings,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A copy that ran before, without the fact (a crash mid-way of a move made in several transactions, another
    replica's): the move copies only what the database lacks."""
    legacy = make_old_data_dir(chunked, old_settings.data_dir)
    database = Database.from_settings(old_settings)
    doc_id = legacy.ready[1]
    SqlDocuments(database).begin(expected_document({**legacy.documents[doc_id], "title": "Copied before"}))
    SqlDocuments(database).set_status(doc_id, "ready")
    entry = next(iter(expected_entries(legacy, "folio").values()))
    LedgerRecords(database).add(entry)
    database.close()

    caplog.set_level(logging.INFO, logger=LOG)
    with Store.open(old_settings) as store:
        assert store.get_document(doc_id).title == "Copied before"  # type: ignore[union-attr]
        assert {e["id"] for e in store.ledger_records.entries(tenant=None)} == set(legacy.ledger)
        assert counts(store.database)["documents"] == 3 and counts(store.database)["ledger"] == 4
    [line] = moved_lines(caplog)
    assert "2 documents with their pages, 3 ledger entries, 3 upload jobs; 2 were there already" in line


def test_two_processes_that_start_together_move_each_record_once(chunked, old_settings: Settings) -> None:
    """Two replicas on one database and one Qdrant: one moves, the other waits for its transaction and finds the
    records moved."""
    from qdrant_client import QdrantClient

    legacy = make_old_data_dir(chunked, old_settings.data_dir)
    qdrant = Qdrant(QdrantClient(path=str(old_settings.qdrant_path)), policy=LOCAL)
    replicas = [Database.from_settings(old_settings) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = upgrade.upgrade(replicas[i], LegacyCollections(qdrant), prefix="folio",
                                         legacy_tenant="folio")
        except Exception as error:  # pragma: no cover - reported below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert not any(isinstance(r, Exception) for r in results), [f"{type(r).__name__}: {r}" for r in results]
        moves = [r for r in results if r is not None and r.documents]
        assert len(moves) == 1 and (moves[0].documents, moves[0].ledger_entries, moves[0].jobs) == (3, 4, 3)
        assert {c for c in COLLECTIONS if qdrant.client.collection_exists(c)} == set()
        assert counts(replicas[0])["ledger"] == len(legacy.ledger) and counts(replicas[1])["documents"] == 3
        assert upgrade.settled(replicas[0]) and upgrade.settled(replicas[1])
    finally:
        for database in replicas:
            database.close()
        qdrant.close()


# -- where the move runs ----------------------------------------------------------------------------------------


def test_the_service_moves_them_before_its_first_read_with_its_api_key_tenants(chunked, tmp_path: Path) -> None:
    """FOLIO_LLM_USER_ID ("folio") names an API key's tenant here: the entries that carry it stay that tenant's,
    as the previous release read them. The service opens the index lazily: the first read of a record does."""
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=0,
                        api_keys=SecretStr(f"{KEY_FOLIO}:folio,{KEY_DEFAULT}:default"))
    legacy = make_old_data_dir(chunked, settings.data_dir)
    app = create_app(settings, embedder_factory=lambda: HashEmbedder(64), preload_model=False)
    with TestClient(app) as http:
        as_folio = {"Authorization": f"Bearer {KEY_FOLIO}"}
        as_default = {"Authorization": f"Bearer {KEY_DEFAULT}"}
        folio_totals = http.get("/v1/ledger", headers=as_folio).json()["totals"]
        assert folio_totals["requests"] == 1 and folio_totals["dollars"] == pytest.approx(0.0123)
        assert http.get("/v1/ledger", headers=as_default).json()["totals"]["requests"] == 2
        listed = http.get("/v1/documents", headers=as_default).json()["documents"]
        assert sorted(d["id"] for d in listed) == sorted(legacy.ready)
        assert http.get("/v1/documents", headers=as_folio).json()["documents"] == []
        jobs_seen = http.get("/v1/jobs", headers=as_default).json()
        assert {j["id"] for j in jobs_seen["jobs"]} == {"job-done", "job-cut"}
        cut = next(j for j in jobs_seen["jobs"] if j["id"] == "job-cut")
        assert cut["status"] == "failed"  # the previous release's unfinished job: interrupted, once moved


def test_the_cli_lists_the_documents_of_an_old_data_dir(chunked, tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    legacy = make_old_data_dir(chunked, data_dir)
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "documents", "--json", "--all"])
    assert result.exit_code == 0, result.output
    listed = {d["id"]: d for d in json.loads(result.output)}
    assert set(listed) == set(legacy.documents)
    assert all(listed[i]["status"] == "ready" for i in legacy.ready)


def test_records_wait_for_the_move_while_the_index_cannot_be_opened(chunked, tmp_path: Path) -> None:
    """Before the move the records are in Qdrant: an empty list from the database would be wrong, so a read waits
    for the index (503 with the store's code), as every read did in the previous release."""
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64")
    legacy = make_old_data_dir(chunked, settings.data_dir)
    store = Store.lazy(settings)
    try:
        with held_by_another_process(settings), pytest.raises(StoreLocked):
            store.list_documents()
        store.clock = lambda: 1e12  # the backoff has passed
        assert sorted(r.id for r in store.list_documents()) == sorted(legacy.ready)
    finally:
        store.close()


def test_a_new_data_dir_records_that_nothing_was_left_in_qdrant(settings: Settings) -> None:
    with Store.open(settings) as store:
        assert upgrade.settled(store.database) and counts(store.database)["facts"] == 1
    store = Store.lazy(settings)
    try:  # from now on the records need no index: a store that cannot open one still reads them
        with held_by_another_process(settings):
            assert store.list_documents() == [] and store.ledger_records.count() == 0
    finally:
        store.close()


def test_the_legacy_tenant_is_the_provider_cache_id_unless_a_key_names_it() -> None:
    assert upgrade.legacy_tenant("folio") == "folio"
    assert upgrade.legacy_tenant("folio", {"acme"}) == "folio"
    assert upgrade.legacy_tenant("folio", {"acme", "folio"}) is None
