"""What Folio's document records offer, whatever holds them: ``DocumentRecords`` (one record per document, with
its status). ``folio.records.sql_documents`` implements it in the records' database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from folio.records.document_files import DocumentFile
from folio.records.model import DocumentRecord


class DocumentRecords(Protocol):
    """The document records. Statuses: ``writing`` (its chunks being written), ``ready`` (the only one searches
    see), ``deleting`` (its chunks being removed)."""

    def ensure(self) -> None:
        """Make the place the records live in, unless it exists."""

    def get(self, doc_id: str, *, with_pages: bool = False) -> DocumentRecord | None:
        """The document's record, its page texts only ``with_pages``; None if there is none."""

    def list_documents(self, *, status: str | None = "ready", tenant: str | None = None) -> list[DocumentRecord]:
        """Records (without page texts) in canonical order: ingest time, then id; of one status (None: any) and
        of one tenant (None: all)."""

    def page(self, doc_id: str, page: int) -> str | None:
        """The text of one 0-based page, or None when the document has no such page."""

    def embed_backends(self) -> dict[str | None, int]:
        """Ready documents of every tenant by the backend that embedded them (None: not recorded, i.e. torch)."""

    def find_by_source(self, source: str, *, tenant: str | None = None) -> list[DocumentRecord]:
        """The records of documents ingested from ``source`` (a path, or ``upload:NAME``)."""

    def begin(self, record: DocumentRecord, file: DocumentFile | None = None) -> None:
        """Write a new record (or overwrite one) with status ``writing``, with the document's original ``file``
        in the same write when given."""

    def set_status(self, doc_id: str, status: str, **fields: Any) -> None:
        """Set a record's status, and ``fields`` with it, in one write."""

    def finish(self, doc_id: str, n_chunks: int, containing: Mapping[int, int]) -> None:
        """Flip a record to ``ready`` with its chunk count and BM25 statistics (term -> the chunks holding it),
        in one write."""

    def set_title(self, doc_id: str, title: str) -> None: ...

    def set_tags(self, doc_id: str, statement_pages: dict[str, list[int]], genre: str) -> None:
        """Set a record's ``statement_pages`` and ``genre`` (``folio.records.migration``)."""

    def delete(self, doc_id: str) -> None:
        """Remove a record."""
