"""The store's write protocol across the index and the records: on the default SQLite file and on PostgreSQL
(``database_url``: this module's ``settings`` take it, so every test here runs on both)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from folio.config import Settings
from folio.errors import ConfigError, DocumentNotFound, StoreLocked
from folio.index.sparse import document_vector, query_vector
from folio.ingest.chunk import Chunk
from folio.ingest.store import Store
from folio.records import DocumentRecord
from tests.conftest import held_by_another_process


def _record(doc_id: str, **kw) -> DocumentRecord:
    base = dict(id=doc_id, file_name=f"{doc_id[:4]}.pdf", source=f"/x/{doc_id[:4]}.pdf", title="T", format="pdf",
                size_bytes=10, n_pages=2, total_tokens=7, page_tokens=[3, 4], status="writing",
                ingested_at="2026-01-01T00:00:00.000000+00:00", embed_model="hash-4", pages=["one", "two"])
    base.update(kw)
    return DocumentRecord(**base)


def _chunks(texts: list[str]) -> list[Chunk]:
    return [Chunk(index=i, text=t, start=0, end=len(t), first_page=0, last_page=0, heading=None, embed_text=t,
                  embed_tokens=3) for i, t in enumerate(texts)]


def _write(store: Store, doc_id: str, texts: list[str], *, finish: bool = True) -> None:
    store.ensure_chunks_collection(4)
    store.begin_document(_record(doc_id))
    dense = np.eye(4, dtype=np.float32)[[i % 4 for i in range(len(texts))]]
    store.upsert_chunks(doc_id, _chunks(texts), dense, [document_vector(t) for t in texts])
    if finish:
        store.finish_document(doc_id, len(texts))


A = "a" * 64
B = "b" * 64


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=0, database_url=database_url)


def test_recover_deletes_chunks_that_no_record_claims(store):
    """The vectors restored from a backup newer than the records': chunks of a document the records do not know
    are purged; a ready document's are kept."""
    _write(store, A, ["alpha", "beta"])
    _write(store, B, ["gamma"])
    store.document_records.delete(B)  # as if the records' backup predates B
    assert store.count_chunks(B) == 1
    assert store.recover() == [B]
    assert (store.count_chunks(A), store.count_chunks(B)) == (2, 0)
    assert store.recover() == []


def test_document_is_invisible_until_finished(store):
    _write(store, A, ["alpha termination", "alpha fees"], finish=False)
    assert store.list_documents() == []
    assert [r.status for r in store.list_documents(status=None)] == ["writing"]
    store.finish_document(A, 2)
    docs = store.list_documents()
    assert [d.id for d in docs] == [A]
    assert docs[0].pages is None  # page texts are loaded only on demand
    assert store.require_document(A, with_pages=True).pages == ["one", "two"]
    assert store.page_text(A, 1) == "two"


def test_search_is_restricted_to_the_scope(store):
    _write(store, A, ["alpha termination notice", "alpha fees"])
    _write(store, B, ["beta termination notice", "beta fees"])
    for mode in ("hybrid", "dense", "bm25"):
        hits = store.search(dense=np.eye(4, dtype=np.float32)[0], sparse=query_vector("termination notice"),
                            doc_ids=[B], limit=5, mode=mode)
        assert hits and {h.doc_id for h in hits} == {B}
    bm25 = store.search(dense=None, sparse=query_vector("termination"), doc_ids=[A, B], limit=5, mode="bm25")
    assert {h.text for h in bm25} == {"alpha termination notice", "beta termination notice"}
    assert store.search(dense=None, sparse=query_vector("zzz"), doc_ids=[], limit=5) == []


def test_search_gives_the_best_chunk_of_each_page_on_both_paths(store):
    """Chunks 0 and 1 share page 0, chunk 2 is on page 1: the page-diverse top 2 passes over chunk 1."""
    store.ensure_chunks_collection(4)
    store.begin_document(_record(A))
    texts = ["notice of termination", "termination notice period", "termination fees"]
    chunks = [Chunk(index=i, text=t, start=0, end=len(t), first_page=page, last_page=page, heading=None,
                    embed_text=t, embed_tokens=3) for i, (t, page) in enumerate(zip(texts, [0, 0, 1], strict=True))]
    dense = np.array([[1.0, 0.0, 0.0, 0.0], [0.9, 0.1, 0.0, 0.0], [0.6, 0.8, 0.0, 0.0]], dtype=np.float32)
    store.upsert_chunks(A, chunks, dense, [document_vector(t) for t in texts])
    store.finish_document(A, 3)
    query = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    for path in ("memory", "qdrant"):
        def top(distinct: bool, path: str = path) -> list[int]:
            if path == "memory":
                hits = store.search(dense=query, sparse=None, doc_ids=[A], limit=2, mode="dense", distinct=distinct)
            else:
                hits = store.search_qdrant(dense=query, sparse=None, doc_ids=[A], limit=2, mode="dense", pool=20,
                                           distinct=distinct)
            return [h.chunk_index for h in hits]

        assert top(distinct=True) == [0, 2], path
        assert top(distinct=False) == [0, 1], path
    hits = store.search(dense=query, sparse=None, doc_ids=[A], limit=3, mode="dense")
    assert [h.chunk_index for h in hits] == [0, 2, 1]  # out of new pages: the chunk passed over fills the slot


def test_delete_removes_every_point(store):
    _write(store, A, ["x"] * 5)
    _write(store, B, ["y"] * 3)
    store.delete_document(A)
    assert store.count_chunks(A) == 0
    assert store.count_chunks(B) == 3
    assert store.get_document(A) is None
    with pytest.raises(DocumentNotFound):
        store.delete_document(A)


def test_recover_purges_half_written_documents(store):
    _write(store, A, ["x"] * 4, finish=False)
    _write(store, B, ["y"] * 2)
    assert store.recover() == [A]
    assert store.count_chunks() == 2
    assert [r.id for r in store.list_documents(status=None)] == [B]


def test_recover_on_a_shared_server_spares_a_document_being_written_now(store):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    store.ensure_chunks_collection(4)
    store.begin_document(_record(A, ingested_at=(now - timedelta(hours=7)).isoformat()))  # abandoned
    store.begin_document(_record(B, ingested_at=(now - timedelta(seconds=5)).isoformat()))  # another writer's
    assert store.recover(older_than_s=6 * 3600) == [A]
    assert [r.id for r in store.list_documents(status=None)] == [B]
    assert store.recover() == [B]  # one process alone: whatever is unfinished was left by a killed run


def test_resolve_id_prefix(store):
    _write(store, A, ["x"])
    assert store.resolve_id(A[:8]) == A
    with pytest.raises(DocumentNotFound):
        store.resolve_id("aaa")  # too short to be unambiguous
    with pytest.raises(DocumentNotFound):
        store.resolve_id("c" * 10)


def test_dimension_mismatch_is_a_clear_error(store):
    store.ensure_chunks_collection(4)
    with pytest.raises(ConfigError, match="4-dimensional"):
        store.ensure_chunks_collection(8)


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_store_held_by_another_process_is_reported(settings: Settings, engine: str):
    settings = settings.model_copy(update={"index_engine": engine})
    store = Store.open(settings)
    store.close()
    with held_by_another_process(settings), pytest.raises(StoreLocked, match="another Folio process"):
        Store.open(settings)
