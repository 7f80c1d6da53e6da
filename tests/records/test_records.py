"""The records in SQL (folio.records): the document records' contract, the ledger's and the jobs' records, the
schema Alembic makes, the SQLite file shared by processes, and bad database settings. Every test runs on SQLite;
those that take ``database`` run on PostgreSQL too (``tests/postgres.py``)."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, update

from folio.config import Settings
from folio.errors import DatabaseConfigError, DatabaseUnavailable
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import collect_paths
from folio.ingest.store import Store
from folio.records import DocumentRecord, tables
from folio.records.database import Database
from folio.records.job_records import JobRecords
from folio.records.ledger_records import LedgerRecords
from folio.records.sql_documents import SqlDocuments
from folio.records.tables import metadata

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def _record(doc_id: str, **kw: Any) -> DocumentRecord:
    base: dict[str, Any] = dict(
        id=doc_id, file_name=f"{doc_id[:4]}.pdf", source=f"/x/{doc_id[:4]}.pdf", title="T", format="pdf",
        size_bytes=10, n_pages=2, total_tokens=7, page_tokens=[3, 4], status="ready",
        ingested_at="2026-01-01T00:00:00.000000+00:00", embed_model="hash-4", pages=["one", "two"])
    base.update(kw)
    return DocumentRecord(**base)


@pytest.fixture
def database(tmp_path: Path, database_url: str | None) -> Iterator[Database]:
    """The records' database: a SQLite file, or a fresh PostgreSQL database."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    db = Database.from_settings(settings)
    yield db
    db.close()


def _entry(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        kind="question", route="full", prefix_hash="p1", doc_ids=[A], doc_tokens=[100],
        usage={"hit_tokens": 10, "miss_tokens": 90, "output_tokens": 5, "reasoning_tokens": 0}, dollars=0.01,
        estimated_dollars=0.012, model="m", profile="deepseek-api", prefix_tokens=100, tenant="default",
        reasoning=None, query_id=None, scope_key="s1", usage_source="provider", window=None, windows=None,
        prices=None, ts=1_000.0, id=str(uuid.uuid4()), conversation_id=None)
    base.update(kw)
    return base


def test_the_schema_is_alembics_head_and_matches_the_tables(database: Database) -> None:
    database.check()  # the first use migrates
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == "0003"
        assert compare_metadata(context, metadata) == []  # tables.py and the migrations agree
    again = Database(database.engine, where=database.where)
    again.check()  # a second process finds the head and changes nothing
    assert again.migrated


def test_a_release_1_database_upgrades_in_place_keeping_its_ledger(database: Database) -> None:
    """A database made by the release before conversations (revision 0001) gains them on first use, and its
    ledger entries stay, read back as they were (with no conversation)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(database_module_file()).with_name("migrations")))
    with database.engine.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    entry = _entry()
    entry.pop("conversation_id", None)
    with database.engine.connect() as conn, conn.begin():
        from folio.records.ledger_records import to_rows
        from folio.records.tables import ledger

        row, _ = to_rows(entry)
        row.pop("conversation_id")
        conn.execute(ledger.insert(), [row])
    upgraded = Database(database.engine, where=database.where)
    records = LedgerRecords(upgraded)
    [back] = records.entries(tenant="default")
    assert back["id"] == entry["id"] and back["conversation_id"] is None
    with database.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0003"


def database_module_file() -> str:
    import folio.records.database as module

    return str(module.__file__)


def test_document_records_contract(database: Database) -> None:
    documents = SqlDocuments(database)
    documents.begin(_record(A, ingested_at="2026-01-02T00:00:00+00:00", tenant="t1"))
    documents.begin(_record(B, source="/x/shared.pdf"))
    documents.begin(_record(C, source="/x/shared.pdf", tenant="t1"))
    assert documents.list_documents() == []  # begun: status "writing", invisible
    assert [r.id for r in documents.list_documents(status=None)] == [B, C, A]  # ingest time, then id
    documents.set_status(A, "ready", n_chunks=3)
    [ready] = documents.list_documents()
    assert (ready.id, ready.n_chunks, ready.pages, ready.tenant) == (A, 3, None, "t1")  # listed without pages
    assert documents.get(A, with_pages=True).pages == ["one", "two"]  # type: ignore[union-attr]
    assert documents.get(A).pages is None  # type: ignore[union-attr]
    assert (documents.page(A, 1), documents.page(A, 2)) == ("two", None)
    assert documents.get("d" * 64) is None
    assert [r.id for r in documents.list_documents(status="writing", tenant="t1")] == [C]
    assert sorted(r.id for r in documents.find_by_source("/x/shared.pdf")) == [B, C]
    assert [r.id for r in documents.find_by_source("/x/shared.pdf", tenant="default")] == [B]
    documents.set_tags(A, {"balance": [1]}, "filing")
    documents.set_title(A, "Renamed")
    tagged = documents.get(A)
    assert tagged is not None and (tagged.statement_pages, tagged.genre, tagged.title) == (
        {"balance": [1]}, "filing", "Renamed")
    assert documents.list_documents()[0].genre == "filing"
    documents.begin(_record(B, pages=["new"], n_pages=1, page_tokens=[1]))  # written again: pages replaced
    assert documents.get(B, with_pages=True).pages == ["new"]  # type: ignore[union-attr]
    documents.delete(B)
    assert documents.get(B) is None and [r.id for r in documents.list_documents(status=None)] == [C, A]
    assert documents.page(B, 0) is None  # its pages went with it


def test_ready_documents_are_counted_by_the_backend_that_embedded_them(database: Database) -> None:
    """What FOLIO_EMBED_BACKEND=auto follows (``folio.ingest.embed.resolve_backend``): every tenant's ready
    documents; a record from before the backend was recorded (no such field in its data) counts as None."""
    documents = SqlDocuments(database)
    assert documents.embed_backends() == {}
    documents.begin(_record(A, embed_backend="onnx-int8", tenant="t1"))
    documents.begin(_record(B, embed_backend="onnx-int8"))
    documents.begin(_record(C))
    documents.begin(_record("d" * 64, embed_backend="torch-fp32"))  # still writing: not counted
    for doc_id in (A, B, C):
        documents.set_status(doc_id, "ready")
    with database.write("a record from before embed_backend") as conn:
        data = conn.execute(select(tables.documents.c.data).where(tables.documents.c.id == C)).scalar_one()
        conn.execute(update(tables.documents).where(tables.documents.c.id == C).values(
            data={k: v for k, v in data.items() if k != "embed_backend"}))
    assert documents.embed_backends() == {"onnx-int8": 2, None: 1}
    assert documents.get(C).embed_backend is None  # type: ignore[union-attr]


def test_a_record_keeps_every_field(database: Database) -> None:
    documents = SqlDocuments(database)
    full = _record(A, ocr_pages=[1], ocr_confidence=[71.5], ocr_mean_confidence=71.5, ocr_low_confidence_pages=[],
                   statement_pages={"income": [0]}, genre="filing", warnings=["JavaScript ignored"],
                   virtual_pages=True, page_starts=[0, 5], n_chunks=4, title="Ünïcode ☂ title")
    documents.begin(full)
    documents.set_status(A, "ready")
    assert documents.get(A, with_pages=True) == full


def test_ledger_records_read_by_prefix_scope_and_tenant(database: Database) -> None:
    ledger = LedgerRecords(database)
    first = _entry(ts=1_000.0)
    ledger.add(first)
    ledger.add(_entry(ts=1_100.0, prefix_hash="p2", scope_key="s2", doc_ids=[A, B], doc_tokens=[100, 300]))
    ledger.add(_entry(ts=1_200.0, tenant="t2"))
    ledger.add({**first, "dollars": 0.5})  # the same id again: replaced, not added
    assert ledger.count() == 3 and ledger.count(tenant="default") == 2
    [mine] = ledger.history(tenant="default", prefix_hash="p1")
    assert mine == {**first, "dollars": 0.5}  # what went in comes out
    assert [e["ts"] for e in ledger.history(tenant=None, prefix_hash="p1")] == [1_000.0, 1_200.0]  # oldest first
    assert [e["tenant"] for e in ledger.of_scope(tenant="t2", scope_key="s1")] == ["t2"]
    assert ledger.last_seen(tenant="default", prefix_hash="p2") == 1_100.0
    assert ledger.last_seen(tenant="t2", prefix_hash="p2") is None
    assert [e["prefix_hash"] for e in ledger.entries(tenant="default")] == ["p1", "p2"]


def test_a_long_history_is_read_back_to_its_most_recent_entries(database: Database) -> None:
    ledger = LedgerRecords(database)
    ledger.add_many(_entry(ts=float(i)) for i in range(30))
    assert [e["ts"] for e in ledger.history(tenant="default", prefix_hash="p1", limit=5)] == [25.0, 26.0, 27.0,
                                                                                               28.0, 29.0]


def test_job_records_put_get_list_and_trim(database: Database) -> None:
    jobs = JobRecords(database)
    for i in range(5):
        jobs.put({"id": f"job{i}", "tenant": "t1" if i % 2 else "default", "status": "queued",
                  "created": float(i), "finished": None, "worker": "w"})
    jobs.put({"id": "job1", "tenant": "t1", "status": "done", "created": 1.0, "finished": 9.0, "worker": "w"})
    assert jobs.get("job1") == {"id": "job1", "tenant": "t1", "status": "done", "created": 1.0, "finished": 9.0,
                                "worker": "w"}
    assert jobs.get("nope") is None
    assert [j["id"] for j in jobs.all()] == ["job4", "job3", "job2", "job1", "job0"]  # newest first
    assert [j["id"] for j in jobs.all(tenant="t1")] == ["job3", "job1"]
    assert "job1" not in [j["id"] for j in jobs.all(unfinished=True)]
    for i in (0, 2, 3):
        jobs.put({**jobs.get(f"job{i}"), "status": "done", "finished": 10.0})  # type: ignore[dict-item]
    assert jobs.trim(keep=2) == 2  # the two oldest finished jobs go; the unfinished one stays
    assert [j["id"] for j in jobs.all()] == ["job4", "job3", "job2"]
    jobs.delete(["job4"])
    jobs.delete([])
    assert [j["id"] for j in jobs.all()] == ["job3", "job2"]


def test_records_outlive_the_process_and_every_status_change_is_seen(store: Store, ingestor: Ingestor,
                                                                     settings: Settings) -> None:
    first = collect_paths([SAMPLES], recursive=False)[0]
    [result] = ingestor.run([first])
    [record] = store.list_documents()
    assert record.id == result.doc_id and record.status == "ready"
    store.document_records.set_status(record.id, "deleting")
    assert store.list_documents() == [] and store.list_documents(status=None)[0].status == "deleting"
    store.document_records.set_status(record.id, "ready")
    ingestor.close()
    store.close()
    with Store.open(settings) as reopened:
        assert [r.id for r in reopened.list_documents()] == [record.id]
        assert reopened.page_text(record.id, 0)
        assert settings.database_path.exists()


def _write_entries(path: str, worker: int, n: int) -> None:
    db = Database.sqlite(Path(path))
    ledger = LedgerRecords(db)
    for i in range(n):
        ledger.add(_entry(ts=float(worker * 10_000 + i), tenant=f"w{worker}"))
    db.close()


def test_processes_share_the_sqlite_file(tmp_path: Path) -> None:
    """WAL: a CLI and a running service (here three processes) write the same file at once, and none fails on
    the lock; a reader meanwhile reads a consistent snapshot."""
    path = tmp_path / "folio.db"
    Database.sqlite(path).check()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_entries, args=(str(path), w, 60)) for w in range(3)]
    for worker in workers:
        worker.start()
    reader = LedgerRecords(Database.sqlite(path))
    seen = []
    while any(w.is_alive() for w in workers):
        seen.append(reader.count())
        time.sleep(0.01)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert seen == sorted(seen)  # each read saw a committed state, never one going back
    assert reader.count() == 180 and {reader.count(tenant=f"w{w}") for w in range(3)} == {60}


@pytest.mark.parametrize(("url", "words"), [
    ("not a url", "is not a database URL"),
    ("mysql://u:p@localhost/folio", "'mysql' is not supported"),
    ("sqlite://", "needs a file"),
    ("postgresql+psycopg://u:p@127.0.0.1:1/", "names no database"),
])
def test_a_wrong_database_url_is_a_clear_error_naming_the_setting(tmp_path: Path, url: str, words: str) -> None:
    with pytest.raises(DatabaseConfigError, match=words) as error:
        Database.from_settings(Settings(data_dir=tmp_path, database_url=url))
    assert "FOLIO_DATABASE_URL" in str(error.value) and "p@" not in str(error.value)


def test_a_database_that_cannot_be_reached_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://folio:secret@127.0.0.1:1/folio")
    db = Database.from_settings(settings)
    with pytest.raises(DatabaseUnavailable, match="cannot be used") as error:
        db.check()
    assert error.value.code == "database_unavailable" and "secret" not in str(error.value)
    assert error.value.http_status == 503
