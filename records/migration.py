"""The migration of records from before Folio tagged documents: a ready document whose record lacks its
financial statement pages or its genre (``statement_pages`` or ``genre`` is None) gets them, computed from its
stored page texts, on the record and on its chunks (through ``tag_chunks``).

What the tags are is ingestion's knowledge (``folio.ingest.statements``, ``folio.ingest.genre``); the caller
passes it in as a ``Tagger``, so this module knows only the records. Idempotent: replicas may run it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from folio.records.model import DocumentRecord
from folio.records.protocol import DocumentRecords


class Tagger(Protocol):
    """Computes a document's tags from its page texts."""

    def statement_pages(self, pages: list[str]) -> dict[str, list[int]]:
        """Statement kind -> the 0-based pages that hold it."""

    def genre(self, pages: list[str], statement_pages: dict[str, list[int]]) -> str:
        """``contract``, ``filing`` or ``other``."""


def tag_documents(records: DocumentRecords, tagger: Tagger,
                  tag_chunks: Callable[[DocumentRecord, dict[str, list[int]]], None]) -> list[str]:
    """Tag every ready document not yet tagged; ``tag_chunks(record, statement_pages)`` is called for a document
    whose statement pages are new (before its record says so). Returns the ids of the documents tagged now."""
    tagged: list[str] = []
    for listed in records.list_documents(status="ready"):
        if listed.statement_pages is not None and listed.genre is not None:
            continue
        record = records.get(listed.id, with_pages=True)
        if record is None or record.status != "ready":
            continue  # deleted or replaced meanwhile
        pages = record.pages or []
        found = tagger.statement_pages(pages) if record.statement_pages is None else record.statement_pages
        genre = record.genre or tagger.genre(pages, found)
        if record.statement_pages is None:
            tag_chunks(record, found)
        records.set_tags(record.id, found, genre)
        tagged.append(record.id)
    return tagged
