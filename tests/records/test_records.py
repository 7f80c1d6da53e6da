"""The records (folio.records): the same contract from both Qdrant-backed implementations (a server's, and local
mode's, which holds them in memory), and local mode's copies following every write through the store."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from folio.index.retry import LOCAL, SERVER, Qdrant
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import collect_paths
from folio.ingest.store import Store
from folio.records import DocumentRecord, DocumentRecords, KeyValueRecords
from folio.records.qdrant_documents import LocalQdrantDocuments, QdrantDocuments
from folio.records.qdrant_keyvalue import LocalQdrantKeyValue, QdrantKeyValue

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def _record(doc_id: str, **kw) -> DocumentRecord:
    base = dict(id=doc_id, file_name=f"{doc_id[:4]}.pdf", source=f"/x/{doc_id[:4]}.pdf", title="T", format="pdf",
                size_bytes=10, n_pages=2, total_tokens=7, page_tokens=[3, 4], status="ready",
                ingested_at="2026-01-01T00:00:00.000000+00:00", embed_model="hash-4", pages=["one", "two"])
    base.update(kw)
    return DocumentRecord(**base)


@pytest.fixture(params=["local", "server"])
def qdrant(request) -> Iterator[Qdrant]:
    """An in-memory Qdrant under the local or the server policy (the implementations differ in what they hold in
    memory and which payload indexes they make, not in the engine they need)."""
    with warnings.catch_warnings():  # "payload indexes have no effect in local mode": expected for "server"
        warnings.simplefilter("ignore", UserWarning)
        qdrant = Qdrant(QdrantClient(location=":memory:"), policy=LOCAL if request.param == "local" else SERVER)
        yield qdrant
        qdrant.close()


@pytest.fixture
def documents(qdrant: Qdrant) -> DocumentRecords:
    made = (LocalQdrantDocuments if qdrant.policy == LOCAL else QdrantDocuments)(qdrant, "t_documents")
    made.ensure()
    return made


@pytest.fixture
def key_values(qdrant: Qdrant) -> KeyValueRecords:
    return (LocalQdrantKeyValue if qdrant.policy == LOCAL else QdrantKeyValue)(qdrant, "t")


def test_document_records_contract(documents: DocumentRecords) -> None:
    documents.begin(_record(A, ingested_at="2026-01-02T00:00:00+00:00", tenant="t1"))
    documents.begin(_record(B, source="/x/shared.pdf"))
    documents.begin(_record(C, source="/x/shared.pdf", tenant="t1"))
    assert documents.list_documents() == []  # begun: status "writing", invisible
    assert [r.id for r in documents.list_documents(status=None)] == [B, C, A]  # ingest time, then id
    documents.set_status(A, "ready", n_chunks=3)
    [ready] = documents.list_documents()
    assert (ready.id, ready.n_chunks, ready.pages) == (A, 3, None)  # listed without page texts
    assert documents.get(A, with_pages=True).pages == ["one", "two"]  # type: ignore[union-attr]
    assert documents.get(A).pages is None  # type: ignore[union-attr]
    assert documents.get("d" * 64) is None
    assert [r.id for r in documents.list_documents(status="writing", tenant="t1")] == [C]
    assert sorted(r.id for r in documents.find_by_source("/x/shared.pdf")) == [B, C]
    assert [r.id for r in documents.find_by_source("/x/shared.pdf", tenant="default")] == [B]
    documents.set_tags(A, {"balance": [1]}, "filing")
    tagged = documents.get(A)
    assert tagged is not None and (tagged.statement_pages, tagged.genre) == ({"balance": [1]}, "filing")
    assert documents.list_documents()[0].genre == "filing"
    documents.delete(B)
    assert documents.get(B) is None and [r.id for r in documents.list_documents(status=None)] == [C, A]


def test_key_value_records_contract(key_values: KeyValueRecords) -> None:
    name = key_values.collection("ledger")
    assert name == "t_ledger"
    ids = [str(uuid.uuid4()) for _ in range(3)]
    assert key_values.scan(name) == [] and key_values.get(name, ids[0]) is None
    key_values.put(name, ids[0], {"kind": "a", "n": 0})
    key_values.put(name, ids[1], {"kind": "b", "n": 1})
    assert key_values.scan(name, key="kind", value="a") == [{"kind": "a", "n": 0}]  # read (and held, locally)
    key_values.put(name, ids[2], {"kind": "a", "n": 2})
    key_values.put(name, ids[0], {"kind": "a", "n": 3})  # an overwrite, not a second record
    assert sorted(r["n"] for r in key_values.scan(name, key="kind", value="a")) == [2, 3]
    assert key_values.get(name, ids[1]) == {"kind": "b", "n": 1}
    key_values.delete(name, [ids[0], ids[1]])
    key_values.delete(name, [])
    assert key_values.scan(name) == [{"kind": "a", "n": 2}]


def test_local_records_see_every_status_change(store: Store, ingestor: Ingestor) -> None:
    first = collect_paths([SAMPLES], recursive=False)[0]
    assert store.list_documents(status=None) == []
    [result] = ingestor.run([first])
    [record] = store.list_documents()
    assert record.id == result.doc_id and record.status == "ready"
    store.document_records.set_status(record.id, "deleting")
    assert store.list_documents() == [] and store.list_documents(status=None)[0].status == "deleting"
    assert store.recover() == [record.id]
    assert store.list_documents(status=None) == []


def test_local_plain_records_are_read_once_then_follow_writes(store: Store, settings) -> None:
    collection = store.record_collection("ledger")
    ids = [str(uuid.uuid4()) for _ in range(3)]
    store.put_record(collection, ids[0], {"prefix_hash": "a", "n": 0})
    assert store.records(collection, key="prefix_hash", value="a") == [{"prefix_hash": "a", "n": 0}]
    store.put_record(collection, ids[1], {"prefix_hash": "b", "n": 1})
    store.put_record(collection, ids[2], {"prefix_hash": "a", "n": 2})
    store.put_record(collection, ids[0], {"prefix_hash": "a", "n": 3})  # an overwrite, not a second record
    assert sorted(r["n"] for r in store.records(collection, key="prefix_hash", value="a")) == [2, 3]
    assert len(store.records(collection)) == 3
    store.close()
    with Store.open(settings) as reopened:
        assert sorted(r["n"] for r in reopened.records(collection)) == [1, 2, 3]
