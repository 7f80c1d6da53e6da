"""Collections in the records' database (``folio.records.tables.collections``, ``collection_documents``).

A collection is a named set of one tenant's documents (a deal room, a year of filings). Its documents keep the
order they joined (``position`` grows with each addition), because that order is the order of the whole-documents
prompt of a question scoped to the collection: a document added later comes last, so the cached prefix of the
earlier ones still holds.

What the records guarantee, on SQLite and PostgreSQL alike:

- names are trimmed, 1 to 200 characters, and unique per tenant (``CollectionNameTaken``, 409);
- every read and write names the tenant: another tenant's collection is not found, and only the tenant's own
  documents can join one;
- a deleted document leaves every collection (the foreign key's ON DELETE CASCADE: SQLite's foreign keys are
  switched on for every connection, ``folio.records.database``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, exc, func, insert, select, update

from folio.errors import CollectionNameTaken, CollectionNotFound, DocumentNotFound, InvalidRequest
from folio.records.database import Database
from folio.records.tables import collection_documents, collections, documents

NAME_MAX = 200


@dataclass
class CollectionRow:
    """A collection as stored, with the number of documents it holds."""

    id: str
    tenant: str
    name: str
    created: float
    updated: float
    documents: int = 0


@dataclass(frozen=True)
class Member:
    """A document of a collection: its place (positions grow; gaps are left where documents were removed)."""

    document_id: str
    position: int
    added: float


def clean_name(name: str) -> str:
    """A collection's name as stored: trimmed, 1 to 200 characters (``InvalidRequest`` naming the field)."""
    trimmed = " ".join(name.split()) if name else ""
    if not trimmed:
        raise InvalidRequest("name: a collection's name cannot be empty")
    if len(trimmed) > NAME_MAX:
        raise InvalidRequest(f"name: a collection's name has at most {NAME_MAX} characters ({len(trimmed)} given)")
    return trimmed


def _row(row: Any, count: int = 0) -> CollectionRow:
    return CollectionRow(id=row.id, tenant=row.tenant, name=row.name, created=row.created, updated=row.updated,
                         documents=int(count))


class CollectionRecords:
    """The collections of every tenant; each call names the tenant it acts for."""

    def __init__(self, database: Database, *, clock: Any = time.time) -> None:
        self.database = database
        self.clock = clock

    # -- collections -------------------------------------------------------------------------------------

    def create(self, *, tenant: str, name: str) -> CollectionRow:
        name = clean_name(name)
        now = self.clock()
        row = CollectionRow(id=uuid.uuid4().hex, tenant=tenant, name=name, created=now, updated=now)
        try:
            with self.database.write("create a collection") as conn:
                self._name_free(conn, tenant, name)
                conn.execute(insert(collections).values(id=row.id, tenant=tenant, name=name, created=now,
                                                        updated=now))
        except exc.IntegrityError:  # the same name created at the same moment elsewhere
            raise self._taken(name) from None
        return row

    def all(self, *, tenant: str) -> list[CollectionRow]:
        """The tenant's collections by name, each with its number of documents."""
        c, m = collections.c, collection_documents.c
        counts = (select(m.collection_id, func.count().label("n")).group_by(m.collection_id).subquery())
        with self.database.read("list collections") as conn:
            rows = conn.execute(select(collections, func.coalesce(counts.c.n, 0).label("n"))
                                .outerjoin(counts, counts.c.collection_id == c.id)
                                .where(c.tenant == tenant).order_by(c.name, c.id)).all()
        return [_row(r, r.n) for r in rows]

    def get(self, collection_id: str, *, tenant: str) -> CollectionRow:
        with self.database.read("read a collection") as conn:
            return self._get(conn, collection_id, tenant)

    def find(self, ref: str, *, tenant: str) -> CollectionRow:
        """The tenant's collection with this id, else with this name (trimmed); ``CollectionNotFound``."""
        c = collections.c
        name = " ".join(ref.split())
        with self.database.read("find a collection") as conn:
            row = conn.execute(select(collections).where(c.tenant == tenant, c.id == ref)).one_or_none()
            if row is None and name:
                row = conn.execute(select(collections).where(c.tenant == tenant, c.name == name)).one_or_none()
            if row is None:
                raise CollectionNotFound(f"no collection with id or name {ref!r}", collection=ref)
            return _row(row, self._count(conn, row.id))

    def rename(self, collection_id: str, *, tenant: str, name: str) -> CollectionRow:
        name = clean_name(name)
        try:
            with self.database.write("rename a collection") as conn:
                row = self._get(conn, collection_id, tenant)
                if row.name != name:
                    self._name_free(conn, tenant, name)
                    row.name, row.updated = name, self.clock()
                    conn.execute(update(collections).where(collections.c.id == collection_id)
                                 .values(name=name, updated=row.updated))
        except exc.IntegrityError:
            raise self._taken(name) from None
        return row

    def delete(self, collection_id: str, *, tenant: str) -> int:
        """Delete the collection (its documents stay); how many documents it held."""
        with self.database.write("delete a collection") as conn:
            row = self._get(conn, collection_id, tenant)
            conn.execute(delete(collection_documents)
                         .where(collection_documents.c.collection_id == collection_id))
            conn.execute(delete(collections).where(collections.c.id == collection_id))
        return row.documents

    # -- its documents -------------------------------------------------------------------------------------

    def add(self, collection_id: str, doc_ids: Sequence[str], *, tenant: str) -> list[str]:
        """Append the documents (of the tenant) at the end, in the order given; those already in it keep their
        place. The ids appended."""
        now = self.clock()
        m = collection_documents.c
        with self.database.write("add documents to a collection") as conn:
            # the collection's row locked (PostgreSQL; SQLite's write lock is the database's): positions never
            # collide between two additions at once
            self._get(conn, collection_id, tenant, lock=True)
            wanted = list(dict.fromkeys(doc_ids))
            owned = set(conn.execute(select(documents.c.id).where(
                documents.c.id.in_(wanted), documents.c.tenant == tenant)).scalars()) if wanted else set()
            for doc_id in wanted:
                if doc_id not in owned:
                    raise DocumentNotFound(f"no document with id {doc_id[:12]!r}", document_id=doc_id)
            present = set(conn.execute(select(m.document_id).where(
                m.collection_id == collection_id, m.document_id.in_(wanted))).scalars()) if wanted else set()
            new = [d for d in wanted if d not in present]
            if new:
                last = conn.execute(select(func.max(m.position)).where(m.collection_id == collection_id)).scalar()
                start = -1 if last is None else int(last)
                conn.execute(insert(collection_documents), [
                    {"collection_id": collection_id, "document_id": d, "position": start + 1 + i, "added": now}
                    for i, d in enumerate(new)])
                conn.execute(update(collections).where(collections.c.id == collection_id).values(updated=now))
        return new

    def remove(self, collection_id: str, doc_id: str, *, tenant: str) -> bool:
        """Take a document out of the collection; whether it was in it."""
        m = collection_documents.c
        with self.database.write("remove a document from a collection") as conn:
            self._get(conn, collection_id, tenant)
            gone = conn.execute(delete(collection_documents).where(
                m.collection_id == collection_id, m.document_id == doc_id)).rowcount
            if gone:
                conn.execute(update(collections).where(collections.c.id == collection_id)
                             .values(updated=self.clock()))
        return bool(gone)

    def members(self, collection_id: str, *, tenant: str) -> list[Member]:
        """The collection's documents in the order they joined (any status: the caller keeps the ready ones)."""
        m = collection_documents.c
        with self.database.read("read a collection's documents") as conn:
            self._get(conn, collection_id, tenant)
            rows = conn.execute(select(m.document_id, m.position, m.added).where(m.collection_id == collection_id)
                                .order_by(m.position, m.document_id)).all()
        return [Member(document_id=r.document_id, position=r.position, added=r.added) for r in rows]

    def documents(self, collection_id: str, *, tenant: str) -> list[str]:
        """The ids of the collection's documents, in the order they joined."""
        return [m.document_id for m in self.members(collection_id, tenant=tenant)]

    def of_document(self, doc_id: str, *, tenant: str) -> list[CollectionRow]:
        """The tenant's collections that hold the document, by name."""
        c, m = collections.c, collection_documents.c
        with self.database.read("read a document's collections") as conn:
            rows = conn.execute(select(collections).join(collection_documents, m.collection_id == c.id)
                                .where(m.document_id == doc_id, c.tenant == tenant).order_by(c.name, c.id)).all()
            return [_row(r, self._count(conn, r.id)) for r in rows]

    # -- helpers -------------------------------------------------------------------------------------------

    @staticmethod
    def _count(conn: Connection, collection_id: str) -> int:
        return int(conn.execute(select(func.count()).select_from(collection_documents).where(
            collection_documents.c.collection_id == collection_id)).scalar_one())

    def _get(self, conn: Connection, collection_id: str, tenant: str, *, lock: bool = False) -> CollectionRow:
        query = select(collections).where(collections.c.id == collection_id, collections.c.tenant == tenant)
        row = conn.execute(query.with_for_update() if lock else query).one_or_none()
        if row is None:
            raise CollectionNotFound(f"no collection with id {collection_id!r}", collection=collection_id)
        return _row(row, self._count(conn, collection_id))

    def _name_free(self, conn: Connection, tenant: str, name: str) -> None:
        c = collections.c
        if conn.execute(select(c.id).where(c.tenant == tenant, c.name == name)).first() is not None:
            raise self._taken(name)

    @staticmethod
    def _taken(name: str) -> CollectionNameTaken:
        return CollectionNameTaken(f"name: you already have a collection named {name!r}; choose another name",
                                   collection=name)
