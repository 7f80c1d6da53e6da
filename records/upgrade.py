"""The upgrade in place from the release that kept Folio's records in Qdrant.

That release kept them as the payloads of vector-less collections beside the chunks: ``{prefix}_documents`` (a
point per document: its whole ``DocumentRecord``, page texts included), ``{prefix}_ledger`` (a point per ledger
entry) and ``{prefix}_jobs`` (a point per upload job, with its ``heartbeat``). ``upgrade`` moves them into the
records' database once, when the index opens:

1. in one transaction, under a lock that makes other processes and replicas wait (SQLite's write lock, a
   PostgreSQL advisory lock): unless the ``facts`` row ``FACT`` says the records were moved already, copy each
   record the database lacks (by primary key: one that is there already is kept as it is, never doubled), then
   write that row;
2. after the commit, remove the old collections: their records live in the database now.

A crash before the commit leaves the database as it was and the collections in place: the next opening moves
them again. A crash after it leaves the collections behind: the next opening finds the fact, checks that the
database holds every record they hold, and removes them. A replica that starts at the same time waits for the
first one's transaction, finds the fact and moves nothing. Where Qdrant holds no such collection, the fact is
written all the same (nothing to move): ``settled`` then tells the store that its records are whole without
asking Qdrant.

Records are copied as they were. Documents keep their status (the recovery that follows purges those a killed
writer left ``writing`` or ``deleting``). Records from before tenants are tenant "default"; so are ledger entries
that carry ``legacy_tenant`` (``legacy_tenant()``), as the previous release read them. A record that cannot be
read is logged with its id and left out. Fields the current records do not know stay in a ledger entry's or a
job's ``data``; a document keeps the fields ``DocumentRecord`` defines.

Reading Qdrant is the caller's (``LegacyRecords``; ``folio.ingest.store`` implements it over the index), so that
this module knows only the records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import JSON, Connection, Table, delete, insert, select, text

from folio.errors import StoreError
from folio.records import job_records, ledger_records, sql_documents
from folio.records.database import Database
from folio.records.model import DocumentRecord
from folio.records.tables import document_pages, documents, facts, jobs, ledger, ledger_documents

logger = logging.getLogger(__name__)

FACT = "records_moved_from_qdrant"
KINDS = ("documents", "ledger", "jobs")  # the collections' suffixes, in the order they are moved
# any 64-bit number of our own, apart from the migrations' (``folio.records.database``)
_LOCK = 0x466F6C696F_55  # "Folio", "U"
# records per insert: a document brings its pages along
_BATCH = {"documents": 50, "ledger": 500, "jobs": 500}
_NAMES = {"documents": "document", "ledger": "ledger entry", "jobs": "upload job"}

Rows = dict[Table, list[dict[str, Any]]]  # a record's rows, by table, in the order they are inserted


class LegacyRecords(Protocol):
    """The previous release's record collections, as the caller reads them."""

    def collections(self) -> set[str]:
        """The names of the collections there are."""

    def scroll(self, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point of a collection: its id and its payload."""

    def drop(self, name: str) -> None:
        """Remove a collection (nothing, if it is gone already)."""


@dataclass(frozen=True)
class Moved:
    """What a move did."""

    documents: int = 0
    ledger_entries: int = 0
    jobs: int = 0
    kept: int = 0  # records the database held already
    unreadable: int = 0  # logged and left out
    removed: tuple[str, ...] = ()  # the collections removed


def legacy_tenant(user_id: str, key_tenants: Collection[str] = ()) -> str | None:
    """The tenant that ledger entries recorded before tenants existed carry: the provider cache id
    (``FOLIO_LLM_USER_ID``), whose entries are tenant "default"; None when an API key's tenant has that name, whose
    entries they then are."""
    return None if user_id in key_tenants else user_id


def settled(database: Database) -> bool:
    """Whether the database's records are whole: the move has run, or found nothing to move."""
    with database.read("read the records' facts") as conn:
        return _fact(conn) is not None


def upgrade(database: Database, legacy: LegacyRecords, *, prefix: str, legacy_tenant: str | None) -> Moved | None:
    """Move the previous release's records out of Qdrant into ``database`` (the module's docstring): what was
    moved, or None when there was nothing to do."""
    names = {kind: f"{prefix}_{kind}" for kind in KINDS}
    there = legacy.collections()
    present = {kind: name for kind, name in names.items() if name in there}
    if not present:
        if not settled(database):
            with database.write("record that no records are left in Qdrant") as conn:
                _lock(conn)
                if _fact(conn) is None:
                    _put_fact(conn, Moved())
        return None
    moved: Moved | None = None
    with database.write("move the records out of Qdrant") as conn:
        _lock(conn)
        fact = _fact(conn)
        if fact is None or not fact.get("collections"):  # not moved yet (or nothing was there to move)
            moved = replace(_copy(conn, legacy, present, legacy_tenant, write=True), removed=tuple(present.values()))
            _put_fact(conn, moved)
    if moved is None:
        return _remove_leftovers(database, legacy, present, legacy_tenant, fact or {})
    for name in moved.removed:
        legacy.drop(name)
    logger.info(
        "moved the records of the previous release out of Qdrant into the records' database (%s): %d documents "
        "with their pages, %d ledger entries, %d upload jobs%s%s; removed the collections %s, whose records now "
        "live there", database.where, moved.documents, moved.ledger_entries, moved.jobs,
        f"; {moved.kept} were there already and were kept" if moved.kept else "",
        f"; {moved.unreadable} could not be read and were left out (logged above)" if moved.unreadable else "",
        ", ".join(moved.removed))
    return moved


def _remove_leftovers(database: Database, legacy: LegacyRecords, present: dict[str, str],
                      legacy_tenant: str | None, fact: dict[str, Any]) -> Moved | None:
    """Collections a move left behind (it stopped after its commit): removed when the database holds every record
    they hold; kept, with a warning, when it lacks any, since they did not come from this database's move."""
    try:
        with database.read("check the records left in Qdrant") as conn:
            lacking = _copy(conn, legacy, present, legacy_tenant, write=False)
    except StoreError as error:
        if not _still_there(legacy, present):  # a replica that moved them removed them meanwhile
            return None
        logger.info("could not check the record collections %s left in Qdrant (%s); they are checked again when "
                    "the index next opens", ", ".join(present.values()), error.message)
        return None
    if lacking.documents or lacking.ledger_entries or lacking.jobs:
        logger.warning(
            "Qdrant holds the record collections %s of the previous release, with %d documents, %d ledger entries "
            "and %d upload jobs that the records' database (%s) lacks, although its records were moved out of "
            "Qdrant on %s: they were kept. If this Qdrant's records belong with this database, remove the fact "
            "%r from its facts table and start Folio again to move them", ", ".join(present.values()),
            lacking.documents, lacking.ledger_entries, lacking.jobs, database.where, fact.get("at", "?"), FACT)
        return None
    for name in present.values():
        legacy.drop(name)
    logger.info("removed the record collections %s that the move of %s left in Qdrant: the records' database (%s) "
                "holds their records", ", ".join(present.values()), fact.get("at", "?"), database.where)
    return Moved(removed=tuple(present.values()))


def _still_there(legacy: LegacyRecords, present: dict[str, str]) -> bool:
    try:
        return bool(set(present.values()) & legacy.collections())
    except StoreError:
        return True


# -- copying -------------------------------------------------------------------------------------------------


def _document_rows(point_id: str, payload: dict[str, Any], legacy_tenant: str | None) -> tuple[str, Rows]:
    record = DocumentRecord.model_validate(payload)
    pages = [{"document_id": record.id, "page": i, "text": page} for i, page in enumerate(record.pages or [])]
    return record.id, {documents: [sql_documents.to_row(record)], document_pages: pages}


def _ledger_rows(point_id: str, payload: dict[str, Any], legacy_tenant: str | None) -> tuple[str, Rows]:
    entry = {**payload, "id": payload.get("id") or point_id}  # the point's id is the entry's
    tenant = entry.get("tenant") or "default"
    entry["tenant"] = "default" if tenant == legacy_tenant else tenant
    row, shares = ledger_records.to_rows(entry)
    return row["id"], {ledger: [row], ledger_documents: shares}


def _job_rows(point_id: str, payload: dict[str, Any], legacy_tenant: str | None) -> tuple[str, Rows]:
    row = job_records.to_row(payload)
    return row["id"], {jobs: [{**row, "attempts": 0}]}


_READERS: dict[str, tuple[Table, Callable[[str, dict[str, Any], str | None], tuple[str, Rows]]]] = {
    "documents": (documents, _document_rows),
    "ledger": (ledger, _ledger_rows),
    "jobs": (jobs, _job_rows),
}


def _copy(conn: Connection, legacy: LegacyRecords, present: dict[str, str], legacy_tenant: str | None, *,
          write: bool) -> Moved:
    """Copy the records the database lacks (``write``), or only count them."""
    counts = {kind: 0 for kind in KINDS}
    kept = unreadable = 0
    for kind, name in present.items():
        table, read = _READERS[kind]
        seen: set[str] = set()
        batch: list[tuple[str, Rows]] = []
        for point_id, payload in legacy.scroll(name):
            try:
                record_id, rows = read(point_id, payload, legacy_tenant)
                _check(rows)
            except (ValueError, KeyError, TypeError, AttributeError) as error:  # pydantic's errors are ValueErrors
                unreadable += 1
                logger.warning("the %s %s in Qdrant (collection %s) cannot be read and is left out of the move: %s",
                               _NAMES[kind], _record_name(point_id, payload), name, _reason(error, payload))
                continue
            if record_id in seen:
                continue
            seen.add(record_id)
            batch.append((record_id, rows))
            if len(batch) >= _BATCH[kind]:
                new, old = _insert(conn, table, batch, write=write)
                counts[kind], kept, batch = counts[kind] + new, kept + old, []
        new, old = _insert(conn, table, batch, write=write)
        counts[kind], kept = counts[kind] + new, kept + old
    return Moved(documents=counts["documents"], ledger_entries=counts["ledger"], jobs=counts["jobs"], kept=kept,
                 unreadable=unreadable)


def _insert(conn: Connection, table: Table, batch: list[tuple[str, Rows]], *, write: bool) -> tuple[int, int]:
    """Insert the records of ``batch`` that ``table`` lacks (by id); how many were new and how many there."""
    if not batch:
        return 0, 0
    there = set(conn.execute(select(table.c.id).where(table.c.id.in_([i for i, _ in batch]))).scalars())
    new = [rows for record_id, rows in batch if record_id not in there]
    if write and new:
        for each in new[0]:  # every record of a kind has the same tables, in the same order
            values = [row for rows in new for row in rows[each]]
            if values:
                conn.execute(insert(each), values)
    return len(new), len(there)


def _check(rows: Rows) -> None:
    """``ValueError`` for a row the table would refuse: a required value missing, one of another type, a string
    longer than its column."""
    for table, values in rows.items():
        for row in values:
            for column in table.columns:
                value = row.get(column.name)
                if value is None:
                    if not column.nullable:
                        raise ValueError(f"it has no {column.name}")
                    continue
                if isinstance(column.type, JSON):
                    continue
                expected = column.type.python_type
                if not (isinstance(value, expected) or (expected is float and isinstance(value, int))):
                    raise ValueError(f"its {column.name} is a {type(value).__name__}, not a {expected.__name__}")
                length = getattr(column.type, "length", None)
                if length is not None and isinstance(value, str) and len(value) > length:
                    raise ValueError(f"its {column.name} is longer than {length} characters")


def _record_name(point_id: str, payload: dict[str, Any]) -> str:
    record_id = payload.get("id")
    if not isinstance(record_id, str) or not record_id:
        return f"at point {point_id}"
    return record_id if record_id == point_id else f"{record_id} (point {point_id})"


def _reason(error: Exception, payload: dict[str, Any]) -> str:
    """Why a record cannot be read, and what it holds (without page texts), so that the log keeps it."""
    if isinstance(error, ValidationError):
        why = "its " + ", ".join(".".join(map(str, e["loc"])) for e in error.errors()) + " missing or wrong"
    elif isinstance(error, KeyError):
        why = f"it has no {error.args[0]}"
    else:
        why = " ".join(str(error).split())[:300]
    held = json.dumps({k: v for k, v in payload.items() if k != "pages"}, default=str)
    return f"{why}; it holds {held[:1000]}{'...' if len(held) > 1000 else ''}"


# -- the fact ------------------------------------------------------------------------------------------------


def _lock(conn: Connection) -> None:
    """Make other processes' moves wait for this transaction (SQLite: its write lock, taken as it began)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})


def _fact(conn: Connection) -> dict[str, Any] | None:
    value = conn.execute(select(facts.c.value).where(facts.c.key == FACT)).scalar_one_or_none()
    return None if value is None else dict(json.loads(value))


def _put_fact(conn: Connection, moved: Moved) -> None:
    value = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "collections": list(moved.removed),
             "documents": moved.documents, "ledger_entries": moved.ledger_entries, "jobs": moved.jobs}
    conn.execute(delete(facts).where(facts.c.key == FACT))
    conn.execute(insert(facts), [{"key": FACT, "value": json.dumps(value)}])
