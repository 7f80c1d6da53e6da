"""Writes around the store, for tests that need a record as an older Folio left it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from folio.ingest.store import Store
from folio.records.tables import document_pages, documents


def set_record_fields(store: Store, doc_id: str, **fields: Any) -> None:
    """Overwrite fields of a document's record that live in its ``data`` (e.g. ``genre=None``)."""
    with store.database.write() as conn:
        data = conn.execute(select(documents.c.data).where(documents.c.id == doc_id)).scalar_one()
        conn.execute(update(documents).where(documents.c.id == doc_id).values(data={**data, **fields}))


def document_rows(store: Store) -> dict[str, str]:
    """Every document's record and page texts as stored, by document id, each as one canonical string."""
    out: dict[str, str] = {}
    with store.database.read() as conn:
        for row in conn.execute(select(documents).order_by(documents.c.id)):
            values = dict(row._mapping)
            pages = list(conn.execute(select(document_pages.c.text).where(
                document_pages.c.document_id == values["id"]).order_by(document_pages.c.page)).scalars())
            out[values["id"]] = json.dumps({**values, "pages": pages}, sort_keys=True, default=str)
    return out
