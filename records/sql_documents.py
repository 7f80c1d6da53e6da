"""Document records in the records' database (``folio.records.tables``): one ``documents`` row per document, its
page texts in ``document_pages`` (read only when asked for). Every change is one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from folio.records.database import Database
from folio.records.document_files import DocumentFile, write_file
from folio.records.model import DocumentRecord
from folio.records.tables import document_pages, document_terms, documents
from folio.records.term_stats import insert_rows

# the record's fields that are columns of their own; every other field (but the pages) lives in ``data``
COLUMNS = ("id", "tenant", "status", "source", "title", "file_name", "ingested_at", "n_pages", "total_tokens")
_LISTED = [documents.c[name] for name in COLUMNS] + [documents.c.data]


def to_row(record: DocumentRecord) -> dict[str, Any]:
    """A record as a ``documents`` row (without its pages)."""
    fields = record.model_dump(exclude={"pages"})
    row = {name: fields.pop(name) for name in COLUMNS}
    row["data"] = fields
    return row


def from_row(row: Row[Any], pages: list[str] | None = None) -> DocumentRecord:
    values = row._mapping
    return DocumentRecord.model_validate({**values["data"], **{name: values[name] for name in COLUMNS},
                                          "pages": pages})


class SqlDocuments:
    """``DocumentRecords`` in SQL."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def ensure(self) -> None:
        self.database.check()

    def get(self, doc_id: str, *, with_pages: bool = False) -> DocumentRecord | None:
        with self.database.read() as conn:
            row = conn.execute(select(*_LISTED).where(documents.c.id == doc_id)).first()
            if row is None:
                return None
            pages = None
            if with_pages:
                pages = list(conn.execute(select(document_pages.c.text).where(
                    document_pages.c.document_id == doc_id).order_by(document_pages.c.page)).scalars())
        return from_row(row, pages)

    def page(self, doc_id: str, page: int) -> str | None:
        """One page's text (0-based), or None when the document has no such page."""
        with self.database.read() as conn:
            return conn.execute(select(document_pages.c.text).where(
                document_pages.c.document_id == doc_id, document_pages.c.page == page)).scalar_one_or_none()

    def list_documents(self, *, status: str | None = "ready", tenant: str | None = None) -> list[DocumentRecord]:
        query = select(*_LISTED).order_by(documents.c.ingested_at, documents.c.id)
        if status is not None:
            query = query.where(documents.c.status == status)
        if tenant is not None:
            query = query.where(documents.c.tenant == tenant)
        with self.database.read() as conn:
            return [from_row(row) for row in conn.execute(query)]

    def embed_backends(self) -> dict[str | None, int]:
        backend = documents.c.data["embed_backend"].as_string()
        query = select(backend, func.count()).where(documents.c.status == "ready").group_by(backend)
        with self.database.read() as conn:
            return {name: int(n) for name, n in conn.execute(query)}

    def find_by_source(self, source: str, *, tenant: str | None = None) -> list[DocumentRecord]:
        query = select(*_LISTED).where(documents.c.source == source).order_by(documents.c.ingested_at,
                                                                                documents.c.id)
        if tenant is not None:
            query = query.where(documents.c.tenant == tenant)
        with self.database.read() as conn:
            return [from_row(row) for row in conn.execute(query)]

    def begin(self, record: DocumentRecord, file: DocumentFile | None = None) -> None:
        """The record with status ``writing``, its pages, and its original ``file`` when given, in one
        transaction (``folio.records.document_files``).

        A record of this id that is there already (a write that stopped half-way, written again) is updated in
        place, its pages and BM25 statistics replaced: deleting the row would cascade to what refers to the
        document (its collections), which a rewrite of the same bytes keeps."""
        row = {**to_row(record), "status": "writing"}
        with self.database.write("write a document's record") as conn:
            there = conn.execute(select(documents.c.id).where(documents.c.id == record.id)).first() is not None
            if there:
                conn.execute(delete(document_pages).where(document_pages.c.document_id == record.id))
                conn.execute(delete(document_terms).where(document_terms.c.document_id == record.id))
                conn.execute(update(documents).where(documents.c.id == record.id).values(
                    {k: v for k, v in row.items() if k != "id"}))
            else:
                conn.execute(insert(documents), [row])
            if record.pages:
                conn.execute(insert(document_pages), [{"document_id": record.id, "page": i, "text": text}
                                                      for i, text in enumerate(record.pages)])
            if file is not None:
                write_file(conn, record.id, record.tenant, file)

    def set_status(self, doc_id: str, status: str, **fields: Any) -> None:
        columns = {k: v for k, v in fields.items() if k in COLUMNS}
        extra = {k: v for k, v in fields.items() if k not in COLUMNS}
        with self.database.write("update a document's record") as conn:
            if extra:
                data = conn.execute(select(documents.c.data).where(documents.c.id == doc_id)).scalar_one_or_none()
                if data is None:
                    return
                columns["data"] = {**data, **extra}
            conn.execute(update(documents).where(documents.c.id == doc_id).values(status=status, **columns))

    def finish(self, doc_id: str, n_chunks: int, containing: Mapping[int, int]) -> None:
        """The document becomes ``ready`` with its BM25 statistics (``folio.records.term_stats``), in one
        transaction: a search never sees one without the other."""
        with self.database.write("finish a document's record") as conn:
            data = conn.execute(select(documents.c.data).where(documents.c.id == doc_id)).scalar_one_or_none()
            if data is None:
                return
            conn.execute(delete(document_terms).where(document_terms.c.document_id == doc_id))
            insert_rows(conn, doc_id, n_chunks, containing)
            conn.execute(update(documents).where(documents.c.id == doc_id).values(
                status="ready", data={**data, "n_chunks": n_chunks}))

    def set_title(self, doc_id: str, title: str) -> None:
        with self.database.write("rename a document") as conn:
            conn.execute(update(documents).where(documents.c.id == doc_id).values(title=title))

    def set_tags(self, doc_id: str, statement_pages: dict[str, list[int]], genre: str) -> None:
        with self.database.write("tag a document") as conn:
            data = conn.execute(select(documents.c.data).where(documents.c.id == doc_id)).scalar_one_or_none()
            if data is not None:
                conn.execute(update(documents).where(documents.c.id == doc_id).values(
                    data={**data, "statement_pages": statement_pages, "genre": genre}))

    def delete(self, doc_id: str) -> None:
        with self.database.write("delete a document's record") as conn:
            conn.execute(delete(documents).where(documents.c.id == doc_id))
