"""What Folio's records offer, whatever holds them: ``DocumentRecords`` (one record per document, with its
status) and ``KeyValueRecords`` (named collections of plain records: the ledger, the upload jobs).

Today both are Qdrant payloads (``folio.records.qdrant_documents``, ``folio.records.qdrant_keyvalue``); a SQL
implementation (SQLAlchemy: SQLite by default, PostgreSQL at scale) replaces them behind these protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

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

    def find_by_source(self, source: str, *, tenant: str | None = None) -> list[DocumentRecord]:
        """The records of documents ingested from ``source`` (a path, or ``upload:NAME``)."""

    def begin(self, record: DocumentRecord) -> None:
        """Write a new record (or overwrite one) with status ``writing``."""

    def set_status(self, doc_id: str, status: str, **fields: Any) -> None:
        """Set a record's status, and ``fields`` with it, in one write."""

    def set_title(self, doc_id: str, title: str) -> None: ...

    def set_tags(self, doc_id: str, statement_pages: dict[str, list[int]], genre: str) -> None:
        """Set a record's ``statement_pages`` and ``genre`` (``folio.records.migration``)."""

    def delete(self, doc_id: str) -> None:
        """Remove a record."""


class KeyValueRecords(Protocol):
    """Named collections of plain records (a JSON-able dict each), keyed by a UUID."""

    def collection(self, suffix: str) -> str:
        """The name of the collection for ``suffix`` (``ledger``, ``jobs``), made on first use."""

    def get(self, collection: str, record_id: str) -> dict[str, Any] | None:
        """One record by its id, or None."""

    def put(self, collection: str, record_id: str, payload: dict[str, Any]) -> None:
        """Write a record (an existing one with that id is overwritten)."""

    def delete(self, collection: str, record_ids: Sequence[str]) -> None:
        """Remove records by id."""

    def scan(self, collection: str, *, key: str | None = None, value: str = "") -> list[dict[str, Any]]:
        """Every record, or those whose ``key`` equals ``value``."""
