"""Writes around the store, for tests that need a record as an older Folio left it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from folio.ingest.store import Store
from folio.records.tables import documents


def set_record_fields(store: Store, doc_id: str, **fields: Any) -> None:
    """Overwrite fields of a document's record that live in its ``data`` (e.g. ``genre=None``)."""
    with store.database.write() as conn:
        data = conn.execute(select(documents.c.data).where(documents.c.id == doc_id)).scalar_one()
        conn.execute(update(documents).where(documents.c.id == doc_id).values(data={**data, **fields}))
