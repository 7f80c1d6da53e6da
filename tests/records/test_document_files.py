"""A document's original file (folio.records.document_files): written with its record, read back per tenant,
gone with the document (the foreign key cascades) and with a write that never finished. On SQLite and on
PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from folio.config import Settings
from folio.ingest.embed import HashEmbedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import collect_paths
from folio.ingest.store import Store
from folio.records import DocumentRecord
from folio.records.document_files import DocumentFile
from folio.records.tables import document_files

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _record(doc_id: str, tenant: str = "default") -> DocumentRecord:
    return DocumentRecord(id=doc_id, file_name="x.pdf", source="/x/x.pdf", title=f"T {doc_id[:4]}", format="pdf",
                          size_bytes=10, n_pages=1, total_tokens=3, page_tokens=[3], status="writing",
                          ingested_at="2026-01-01T00:00:00.000000+00:00", embed_model="hash-64", pages=["one"],
                          tenant=tenant)


def _files(store: Store) -> int:
    with store.database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(document_files)).scalar_one())


@pytest.fixture
def store(tmp_path: Path, database_url: str | None) -> Iterator[Store]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, embed_model="hash-64",
                        ingest_workers=0)
    with Store.open(settings) as opened:
        yield opened


def test_the_file_is_kept_with_its_record_per_tenant_and_deleted_with_it(store: Store) -> None:
    a, b = "a" * 64, "b" * 64
    store.ensure_chunks_collection(64)
    store.begin_document(_record(a, tenant="t1"), DocumentFile.of(b"%PDF-1.7 first", "pdf"))
    store.begin_document(_record(b, tenant="t1"), DocumentFile.of(b"plain words", "text"))
    kept = store.document_files.get(a, tenant="t1")
    assert kept is not None and kept.content == b"%PDF-1.7 first" and kept.media_type == "application/pdf"
    assert store.document_files.digest(a, tenant="t1") == hashlib.sha256(b"%PDF-1.7 first").hexdigest()
    assert store.document_files.get(a, tenant="t2") is None  # another tenant's document: as if it had none
    assert store.document_files.digest(a, tenant="t2") is None
    # written again (an ingest re-run over a half-written document): one file, the new bytes
    store.begin_document(_record(a, tenant="t1"), DocumentFile.of(b"%PDF-1.7 second", "pdf"))
    again = store.document_files.get(a, tenant="t1")
    assert again is not None and again.content == b"%PDF-1.7 second" and _files(store) == 2
    store.finish_document(a, 0)
    store.delete_document(a)
    assert store.document_files.get(a, tenant="t1") is None and _files(store) == 1
    # a write that never finished (a killed ingest) is purged by recovery, its file with it
    assert store.recover() == [b]
    assert _files(store) == 0


def test_a_record_without_a_file_has_none(store: Store) -> None:
    store.begin_document(_record("c" * 64))  # as every document ingested before revision 0003
    assert store.document_files.get("c" * 64, tenant="default") is None and _files(store) == 0


def test_the_cli_ingest_keeps_the_original_bytes(store: Store, tmp_path: Path) -> None:
    pdf = SAMPLES / "northwind-brightwater-msa.pdf"
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=0)
    ingestor = Ingestor(store, lambda: HashEmbedder(64), settings, workers=0)
    try:
        [result] = ingestor.run(collect_paths([pdf]))
    finally:
        ingestor.close()
    assert result.status == "ingested" and result.doc_id is not None
    kept = store.document_files.get(result.doc_id, tenant="default")
    assert kept is not None and kept.content == pdf.read_bytes() and kept.media_type == "application/pdf"
    assert hashlib.sha256(kept.content).hexdigest() == result.doc_id  # the default tenant's id is the bytes' hash
