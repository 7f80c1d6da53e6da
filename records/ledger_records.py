"""The ledger's entries in the records' database (``folio.records.tables.ledger``), one row per provider request,
with the share of each document it was about in ``ledger_documents``.

An entry goes in and comes out as the plain dict ``folio.service.ledger.LedgerEntry.to_payload`` makes (its
``usage`` a dict of hit, miss, output and reasoning tokens); the columns hold what queries filter, order and sum
on. Reads are indexed: a prefix's history by (tenant, prefix, time, id), a scope's by (tenant, scope, time, id);
a plan reads only the columns it needs of them, which those indexes hold (``cache_history``, ``session_history``).
The summary reads running totals that each write keeps in its own transaction (``folio.records.ledger_summary``),
never the entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, delete, func, insert, select

from folio.records import ledger_summary
from folio.records.database import Database
from folio.records.ledger_summary import SummarySums
from folio.records.tables import ledger, ledger_documents

USAGE = ("hit_tokens", "miss_tokens", "output_tokens", "reasoning_tokens")
# the entry's fields that are columns of their own (besides the usage's four); the rest live in ``data``
COLUMNS = ("id", "tenant", "ts", "kind", "route", "prefix_hash", "scope_key", "query_id", "profile", "model",
           "reasoning", "usage_source", "prefix_tokens", "dollars", "conversation_id")
# the most recent requests a prefix's or a scope's history is read back to: what a cache state or a session
# needs (the cache's lifetime is hours; a posterior of this many reports is settled), whatever the ledger's size
HISTORY_LIMIT = 500


def doc_scope(doc_ids: Iterable[str]) -> str:
    """The summary's name for the documents a request was about: their 12-digit ids, sorted, or ``(none)``."""
    return ",".join(sorted(d[:12] for d in doc_ids)) or "(none)"


def to_rows(entry: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An entry's ``ledger`` row and its ``ledger_documents`` rows."""
    rest = dict(entry)
    usage = rest.pop("usage")
    row = {name: rest.pop(name, None) for name in COLUMNS}
    row["tenant"] = row["tenant"] or "default"
    row["usage_source"] = row["usage_source"] or "provider"
    row["profile"] = row["profile"] or "(unknown)"
    row["model"] = row["model"] or ""
    row.update({name: int(usage.get(name) or 0) for name in USAGE})
    moment = datetime.fromtimestamp(row["ts"], UTC)  # as the summary's re-pricing reads an entry's time of day
    row["minute_of_day"] = moment.hour * 60 + moment.minute
    row["priced"] = bool(rest.get("prices"))
    doc_ids = list(rest.get("doc_ids") or [])
    row["doc_scope"] = doc_scope(doc_ids)
    row["data"] = rest
    weights = rest.get("doc_tokens") or [1] * len(doc_ids)
    total = sum(weights) or 1
    shares: dict[str, float] = {}
    for doc_id, weight in zip(doc_ids, weights, strict=False):
        shares[doc_id] = shares.get(doc_id, 0.0) + weight / total
    documents = [{"entry_id": row["id"], "document_id": doc_id, "tenant": row["tenant"], "share": share,
                  "shared": len(doc_ids) > 1} for doc_id, share in shares.items()]
    return row, documents


def from_row(row: Row[Any]) -> dict[str, Any]:
    """The entry's dict, as it was recorded."""
    values = row._mapping
    entry = {**values["data"], **{name: values[name] for name in COLUMNS}}
    entry["usage"] = {name: values[name] for name in USAGE}
    return entry


_ENTRY = [ledger.c[name] for name in COLUMNS + USAGE] + [ledger.c.data]
# What a plan reads of the requests on a prefix (its cache state, ``folio.service.retention``) and of a scope's
# (its session): the index of each read holds these columns (``folio.records.tables``), so neither reads the table.
_CACHE = [ledger.c[name] for name in ("id", "ts", "kind", "reasoning", "prefix_tokens", "hit_tokens")]
_SESSION = [ledger.c[name] for name in ("id", "ts", "kind", "query_id")]


def cache_history_query(tenant: str | None, prefix_hash: str, limit: int = HISTORY_LIMIT) -> Select[Any]:
    """The read behind ``cache_history``, newest first."""
    return _newest(_CACHE, ledger.c.prefix_hash == prefix_hash, tenant, limit)


def session_history_query(tenant: str | None, scope_key: str, limit: int = HISTORY_LIMIT) -> Select[Any]:
    """The read behind ``session_history``, newest first."""
    return _newest(_SESSION, ledger.c.scope_key == scope_key, tenant, limit)


def _newest(columns: list[Any], condition: Any, tenant: str | None, limit: int) -> Select[Any]:
    """Newest first by (time, id): a tenant's walks its index on (tenant, prefix or scope, ts, id) backwards and
    stops at ``limit``, with no sort."""
    where = condition if tenant is None else and_(ledger.c.tenant == tenant, condition)
    return select(*columns).where(where).order_by(ledger.c.ts.desc(), ledger.c.id.desc()).limit(limit)


class LedgerRecords:
    """The ledger's entries in SQL. ``tenant`` None: every tenant's."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, entry: dict[str, Any]) -> None:
        """Record one entry (an entry with the same id is replaced)."""
        row, documents = to_rows(entry)
        with self.database.write("record a ledger entry") as conn:
            self._delete(conn, row["id"])
            conn.execute(insert(ledger), [row])
            if documents:
                conn.execute(insert(ledger_documents), documents)
            ledger_summary.record(conn, [row], documents)

    def add_many(self, entries: Iterable[dict[str, Any]]) -> int:
        """Record entries in one transaction (an upgrade's move, a benchmark's synthetic ledger); ids must be new."""
        rows: list[dict[str, Any]] = []
        documents: list[dict[str, Any]] = []
        for entry in entries:
            row, docs = to_rows(entry)
            rows.append(row)
            documents.extend(docs)
        if rows:
            with self.database.write("record ledger entries") as conn:
                conn.execute(insert(ledger), rows)
                if documents:
                    conn.execute(insert(ledger_documents), documents)
                ledger_summary.record(conn, rows, documents)
        return len(rows)

    def summary_sums(self, *, tenant: str | None) -> SummarySums:
        """What ``GET /v1/ledger``'s summary is made of, read from the running totals."""
        with self.database.read("read the ledger's summary") as conn:
            return ledger_summary.read(conn, tenant)

    def history(self, *, tenant: str | None, prefix_hash: str, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """The most recent ``limit`` entries on a prefix, oldest first."""
        return self._recent(ledger.c.prefix_hash == prefix_hash, tenant, limit)

    def of_scope(self, *, tenant: str | None, scope_key: str, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """The most recent ``limit`` entries of a question scope, oldest first."""
        return self._recent(ledger.c.scope_key == scope_key, tenant, limit)

    def cache_history(self, *, tenant: str | None, prefix_hash: str, limit: int = HISTORY_LIMIT
                      ) -> list[dict[str, Any]]:
        """The most recent ``limit`` requests on a prefix, oldest first, with only what a cache state reads of
        them: id, ts, kind, reasoning, prefix_tokens and the usage's hit tokens, as an entry's dict holds them."""
        with self.database.read("read the ledger") as conn:
            rows = conn.execute(cache_history_query(tenant, prefix_hash, limit)).all()
        return [{"id": r[0], "ts": r[1], "kind": r[2], "reasoning": r[3], "prefix_tokens": r[4],
                 "usage": {"hit_tokens": r[5]}} for r in reversed(rows)]

    def session_history(self, *, tenant: str | None, scope_key: str, limit: int = HISTORY_LIMIT
                        ) -> list[dict[str, Any]]:
        """The most recent ``limit`` requests of a scope, oldest first, with only what a session reads of them:
        id, ts, kind and query_id."""
        with self.database.read("read the ledger") as conn:
            rows = conn.execute(session_history_query(tenant, scope_key, limit)).all()
        return [{"id": r[0], "ts": r[1], "kind": r[2], "query_id": r[3]} for r in reversed(rows)]

    def last_seen(self, *, tenant: str | None, prefix_hash: str) -> float | None:
        """When a request on the prefix was last made, or None."""
        query = select(func.max(ledger.c.ts)).where(ledger.c.prefix_hash == prefix_hash)
        if tenant is not None:
            query = query.where(ledger.c.tenant == tenant)
        with self.database.read("read the ledger") as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else float(value)

    def entries(self, *, tenant: str | None) -> list[dict[str, Any]]:
        """Every entry, oldest first (an export; summaries are queries)."""
        query = select(*_ENTRY).order_by(ledger.c.ts, ledger.c.id)
        if tenant is not None:
            query = query.where(ledger.c.tenant == tenant)
        with self.database.read("read the ledger") as conn:
            return [from_row(row) for row in conn.execute(query)]

    def count(self, *, tenant: str | None = None) -> int:
        query = select(func.count()).select_from(ledger)
        if tenant is not None:
            query = query.where(ledger.c.tenant == tenant)
        with self.database.read("read the ledger") as conn:
            return int(conn.execute(query).scalar_one())

    def _recent(self, condition: Any, tenant: str | None, limit: int) -> list[dict[str, Any]]:
        with self.database.read("read the ledger") as conn:
            rows = conn.execute(_newest(_ENTRY, condition, tenant, limit)).all()
        return [from_row(row) for row in reversed(rows)]

    def _delete(self, conn: Connection, entry_id: str) -> None:
        """Delete an entry and take it out of the summary's totals."""
        found = conn.execute(select(ledger).where(ledger.c.id == entry_id)).mappings().one_or_none()
        if found is None:
            return
        old = dict(found)
        documents = conn.execute(select(ledger_documents).where(ledger_documents.c.entry_id == entry_id)).mappings()
        ledger_summary.record(conn, [old], [dict(d) for d in documents], sign=-1)
        conn.execute(delete(ledger).where(ledger.c.id == entry_id))
        if old["priced"]:
            ledger_summary.forget_rates(conn, tenant=old["tenant"], profile=old["profile"], entry_id=entry_id)
