"""Collections in SQL, on SQLite and PostgreSQL: names per tenant, documents in the order they joined, tenants kept
apart, and a deleted document leaving its collections (the foreign key's cascade)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from folio.errors import CollectionNameTaken, CollectionNotFound, DocumentNotFound, InvalidRequest
from folio.records import DocumentRecord
from folio.records.collection_records import CollectionRecords
from folio.records.database import Database
from folio.records.sql_documents import SqlDocuments

A, B, C, D = "a" * 64, "b" * 64, "c" * 64, "d" * 64


def _document(docs: SqlDocuments, doc_id: str, tenant: str = "default") -> None:
    docs.begin(DocumentRecord(id=doc_id, file_name=f"{doc_id[:4]}.pdf", title=doc_id[:4], format="pdf",
                              size_bytes=10, n_pages=1, total_tokens=3, page_tokens=[3], status="writing",
                              ingested_at="2026-01-01T00:00:00+00:00", embed_model="hash-4", tenant=tenant,
                              pages=["one"]))
    docs.finish(doc_id, 1, {})


def test_collections_keep_their_documents_in_the_order_they_joined(databases: Callable[[], Database]) -> None:
    database = databases()
    docs = SqlDocuments(database)
    for doc_id in (A, B, C):
        _document(docs, doc_id)
    _document(docs, D, tenant="other")
    records = CollectionRecords(database)
    made = records.create(tenant="default", name="  Deal   room ")
    assert made.name == "Deal room" and made.documents == 0
    assert records.add(made.id, [C, A], tenant="default") == [C, A]
    assert records.add(made.id, [A, B], tenant="default") == [B]  # A keeps its place; B comes last
    assert records.documents(made.id, tenant="default") == [C, A, B]
    assert records.remove(made.id, A, tenant="default") and not records.remove(made.id, A, tenant="default")
    assert records.add(made.id, [A], tenant="default") == [A]  # back, at the end
    assert records.documents(made.id, tenant="default") == [C, B, A]
    positions = [m.position for m in records.members(made.id, tenant="default")]
    assert positions == sorted(positions) and len(set(positions)) == 3

    other = CollectionRecords(databases())  # another replica's pool
    assert other.find("Deal room", tenant="default").id == made.id
    assert other.find(made.id, tenant="default").documents == 3
    assert [(c.name, c.documents) for c in other.all(tenant="default")] == [("Deal room", 3)]
    assert [c.id for c in other.of_document(B, tenant="default")] == [made.id]

    # another tenant: not found, by id or by name; its documents cannot join ours, nor ours its
    with pytest.raises(CollectionNotFound) as missing:
        other.get(made.id, tenant="other")
    assert missing.value.code == "collection_not_found" and missing.value.http_status == 404
    with pytest.raises(CollectionNotFound):
        other.find("Deal room", tenant="other")
    with pytest.raises(CollectionNotFound):
        other.add(made.id, [D], tenant="other")
    with pytest.raises(DocumentNotFound):
        other.add(made.id, [D], tenant="default")
    assert other.all(tenant="other") == []
    theirs = other.create(tenant="other", name="Deal room")  # the same name in another tenant is fine
    assert other.of_document(B, tenant="other") == [] and theirs.id != made.id

    # a deleted document leaves its collections (ON DELETE CASCADE, SQLite included)
    docs.delete(B)
    assert records.documents(made.id, tenant="default") == [C, A]
    assert records.delete(made.id, tenant="default") == 2
    assert records.all(tenant="default") == []
    assert docs.get(A) is not None  # a collection's documents stay when it goes


def test_names_are_checked_and_unique_per_tenant(databases: Callable[[], Database]) -> None:
    records = CollectionRecords(databases())
    first = records.create(tenant="default", name="FY2022")
    second = records.create(tenant="default", name="FY2023")
    with pytest.raises(CollectionNameTaken) as taken:
        records.create(tenant="default", name=" FY2022 ")
    assert taken.value.code == "collection_name_taken" and taken.value.http_status == 409
    assert "FY2022" in taken.value.message and taken.value.to_dict()["collection"] == "FY2022"
    with pytest.raises(CollectionNameTaken):
        records.rename(second.id, tenant="default", name="FY2022")
    assert records.rename(first.id, tenant="default", name="FY2022").name == "FY2022"  # its own name: no change
    assert records.rename(second.id, tenant="default", name="Gamma 2023").name == "Gamma 2023"
    for bad in ("", "   ", "x" * 201):
        with pytest.raises(InvalidRequest, match=r"^name: "):
            records.create(tenant="default", name=bad)
    assert len(records.create(tenant="default", name="y" * 200).name) == 200
    assert [c.name for c in records.all(tenant="default")] == ["FY2022", "Gamma 2023", "y" * 200]


def test_a_document_written_again_keeps_its_collections(databases: Callable[[], Database]) -> None:
    """A write that stopped half-way is written again under the same id: the record is updated in place, so the
    collections that hold the document keep it (a delete and insert would cascade them away)."""
    database = databases()
    docs = SqlDocuments(database)
    _document(docs, A)
    records = CollectionRecords(database)
    made = records.create(tenant="default", name="Room")
    records.add(made.id, [A], tenant="default")
    docs.begin(DocumentRecord(id=A, file_name="a2.pdf", title="again", format="pdf", size_bytes=10, n_pages=2,
                              total_tokens=4, page_tokens=[2, 2], status="writing",
                              ingested_at="2026-01-02T00:00:00+00:00", embed_model="hash-4", pages=["x", "y"]))
    assert records.documents(made.id, tenant="default") == [A]
    written = docs.get(A, with_pages=True)
    assert written is not None and written.status == "writing" and written.pages == ["x", "y"]
    assert written.title == "again" and written.n_pages == 2
