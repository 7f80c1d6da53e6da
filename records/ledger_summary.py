"""The ledger's summary (``GET /v1/ledger``) by query: running totals that every write of entries keeps, in its
own transaction, and that a summary reads back with ``GROUP BY`` over a few thousand rows, never the entries.

Why running totals rather than a ``GROUP BY`` over the entries themselves: such a query reads every entry of the
tenant, once per grouping (totals, profile, route, scope, document, time of day), and at a million entries each
grouping takes hundreds of milliseconds on SQLite and the by-document join seconds; on PostgreSQL it is faster
but still grows with the ledger (``bench/ledger_bench.py`` measures both side by side; its results are linked in
``bench/README.md``). The totals make a summary's cost grow with the number of groups (documents, scopes,
profiles, routes, at most 1,440 minutes of the day), and cost each write a handful of upserts.

What is kept (``folio.records.tables``), per tenant:

- ``ledger_totals``: for the whole ledger (dimension ``total``, key ``""``) and for each profile, route, scope
  (``doc_scope``), conversation and document: requests, shared requests, estimated requests, hit, miss and output
  tokens and dollars. A request adds itself whole to the first five (a conversation's: its turns' requests), and
  to each of its documents with that document's share (``ledger_documents.share``) of its tokens and dollars,
  counted once as a request (and as shared when it was about several documents). Tokens are floats because a
  document's are fractional, as they were when the summary summed entries in Python; integer sums are exact in a
  float up to 2^53.
- ``ledger_minutes``: hit, miss and output tokens by UTC minute of the day, from which any profile re-prices the
  whole ledger at each minute's rates (``PricingProfile.dollars(at=...)``): exact for rates that change on a whole
  minute (``folio.service.pricing.TimeOfDayRates`` refuses others).
- ``ledger_rates``: the rates that the latest priced entry of each profile stored (latest by time, then id).

A write adds its entries' contributions, summed per group first, with ``INSERT ... ON CONFLICT DO UPDATE`` in key
order, so that concurrent writers of new entries on PostgreSQL lock the rows they share in one order and never
deadlock (the tenant's ``total`` row is the one every write updates: writers of one tenant queue on it for the
rest of their short transaction). Replacing an entry (``LedgerRecords.add`` with a known id, which billing never
does) first subtracts what the old one added; a group left with no request is not shown. Float sums kept this
way may differ from a sum in another order in the last bits, which the summary's rounding (tokens to units,
dollars to 1e-8) hides but for a value that lands on a rounding boundary.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from folio.records.tables import ledger, ledger_minutes, ledger_rates, ledger_totals

DIMENSIONS = ("total", "profile", "route", "scope", "document", "conversation")
_SUMS = ("requests", "shared", "estimated", "hit_tokens", "miss_tokens", "output_tokens", "dollars")
_TOKENS = ("hit_tokens", "miss_tokens", "output_tokens")


@dataclass(frozen=True)
class Sums:
    """One group's totals."""

    requests: int = 0
    shared: int = 0
    estimated: int = 0
    hit_tokens: float = 0.0
    miss_tokens: float = 0.0
    output_tokens: float = 0.0
    dollars: float = 0.0


@dataclass(frozen=True)
class MinuteTokens:
    """The tokens of the requests made in one UTC minute of the day (0 to 1439)."""

    minute_of_day: int
    hit_tokens: int
    miss_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class SummarySums:
    """What the summary is made of: each dimension's groups (by key), the tokens by minute of the day, and each
    profile's latest stored rates."""

    groups: dict[str, dict[str, Sums]] = field(default_factory=dict)
    minutes: list[MinuteTokens] = field(default_factory=list)
    rates: dict[str, dict[str, float]] = field(default_factory=dict)

    def total(self) -> Sums:
        return self.groups.get("total", {}).get("", Sums())


# -- kept as entries are written ------------------------------------------------------------------------------


def record(conn: Connection, rows: Iterable[Mapping[str, Any]], documents: Iterable[Mapping[str, Any]],
           *, sign: int = 1) -> None:
    """Add the contributions of ledger rows and their ``ledger_documents`` rows (``sign`` -1: take them away, for
    rows being deleted; their rates are then the caller's to recompute, ``forget_rates``)."""
    rows = list(rows)
    by_id = {row["id"]: row for row in rows}
    totals: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0] * len(_SUMS))
    minutes: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    rates: dict[tuple[str, str], tuple[float, str, Any]] = {}
    for row in rows:
        tenant = row["tenant"]
        whole = [sign, 0, sign * (row["usage_source"] == "estimated"),
                 *(sign * row[name] for name in _TOKENS), sign * row["dollars"]]
        for dimension, key in (("total", ""), ("profile", row["profile"]), ("route", row["route"]),
                               ("scope", row["doc_scope"])):
            _add(totals[(tenant, dimension, key)], whole)
        if row.get("conversation_id"):
            _add(totals[(tenant, "conversation", row["conversation_id"])], whole)
        _add(minutes[(tenant, row["minute_of_day"])], [sign * row[name] for name in _TOKENS])
        if sign > 0 and row["priced"]:
            latest = (row["ts"], row["id"], row["data"]["prices"])
            known = rates.get((tenant, row["profile"]))
            if known is None or latest[:2] > known[:2]:
                rates[(tenant, row["profile"])] = latest
    for doc in documents:
        row, share = by_id[doc["entry_id"]], doc["share"]
        part = [sign, sign * bool(doc["shared"]), 0, *(sign * row[name] * share for name in _TOKENS),
                sign * row["dollars"] * share]
        _add(totals[(doc["tenant"], "document", doc["document_id"])], part)
    _upsert_sums(conn, ledger_totals, ["tenant", "dimension", "key_hash"], _SUMS, [
        {"tenant": tenant, "dimension": dimension, "key_hash": key_hash(key), "key": key,
         **dict(zip(_SUMS, sums, strict=True))} for (tenant, dimension, key), sums in totals.items()])
    _upsert_sums(conn, ledger_minutes, ["tenant", "minute_of_day"], _TOKENS, [
        {"tenant": tenant, "minute_of_day": minute, **dict(zip(_TOKENS, tokens, strict=True))}
        for (tenant, minute), tokens in minutes.items()])
    _upsert_rates(conn, [{"tenant": tenant, "profile": profile, "ts": ts, "entry_id": entry_id, "prices": prices}
                         for (tenant, profile), (ts, entry_id, prices) in rates.items()])


def forget_rates(conn: Connection, *, tenant: str, profile: str, entry_id: str) -> None:
    """An entry was deleted: if its rates were its profile's latest, the profile's latest priced entry left in
    the ledger stores them now (or none does)."""
    current = conn.execute(select(ledger_rates.c.entry_id).where(
        ledger_rates.c.tenant == tenant, ledger_rates.c.profile == profile)).scalar_one_or_none()
    if current != entry_id:
        return
    conn.execute(delete(ledger_rates).where(ledger_rates.c.tenant == tenant, ledger_rates.c.profile == profile))
    latest = conn.execute(
        select(ledger.c.ts, ledger.c.id, ledger.c.data)
        .where(ledger.c.tenant == tenant, ledger.c.profile == profile, ledger.c.priced)
        .order_by(ledger.c.ts.desc(), ledger.c.id.desc()).limit(1)).one_or_none()
    if latest is not None:
        _upsert_rates(conn, [{"tenant": tenant, "profile": profile, "ts": latest.ts, "entry_id": latest.id,
                              "prices": latest.data["prices"]}])


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _add(into: list[Any], values: list[Any]) -> None:
    for i, value in enumerate(values):
        into[i] += value


def _insert(conn: Connection, table: Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _upsert_sums(conn: Connection, table: Table, keys: list[str], summed: Iterable[str],
                 rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    statement = _insert(conn, table)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={name: table.c[name] + statement.excluded[name] for name in summed})
    conn.execute(statement, sorted(rows, key=lambda row: tuple(row[k] for k in keys)))


def _upsert_rates(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    statement = _insert(conn, ledger_rates)
    new, old = statement.excluded, ledger_rates.c
    statement = statement.on_conflict_do_update(
        index_elements=["tenant", "profile"],
        set_={"ts": new.ts, "entry_id": new.entry_id, "prices": new.prices},
        where=or_(new.ts > old.ts, and_(new.ts == old.ts, new.entry_id > old.entry_id)))
    conn.execute(statement, sorted(rows, key=lambda row: (row["tenant"], row["profile"])))


# -- read -----------------------------------------------------------------------------------------------------


def read(conn: Connection, tenant: str | None) -> SummarySums:
    """The summary's sums for one tenant, or for every tenant together (``None``)."""
    t = ledger_totals.c
    query = (select(t.dimension, func.min(t.key).label("key"), *(func.sum(t[name]).label(name) for name in _SUMS))
             .group_by(t.dimension, t.key_hash).having(func.sum(t.requests) > 0))
    groups: dict[str, dict[str, Sums]] = {dimension: {} for dimension in DIMENSIONS}
    for row in conn.execute(query if tenant is None else query.where(t.tenant == tenant)):
        groups[row.dimension][row.key] = Sums(
            requests=int(row.requests), shared=int(row.shared), estimated=int(row.estimated),
            hit_tokens=float(row.hit_tokens), miss_tokens=float(row.miss_tokens),
            output_tokens=float(row.output_tokens), dollars=float(row.dollars))
    m = ledger_minutes.c
    by_minute = (select(m.minute_of_day, *(func.sum(m[name]).label(name) for name in _TOKENS))
                 .group_by(m.minute_of_day).order_by(m.minute_of_day))
    minutes = [MinuteTokens(int(row.minute_of_day), int(row.hit_tokens), int(row.miss_tokens),
                            int(row.output_tokens))
               for row in conn.execute(by_minute if tenant is None else by_minute.where(m.tenant == tenant))]
    r = ledger_rates.c
    latest: dict[str, tuple[float, str, dict[str, float]]] = {}
    stored = select(r.profile, r.ts, r.entry_id, r.prices)
    for row in conn.execute(stored if tenant is None else stored.where(r.tenant == tenant)):
        if row.profile not in latest or (row.ts, row.entry_id) > latest[row.profile][:2]:
            latest[row.profile] = (row.ts, row.entry_id, dict(row.prices))
    return SummarySums(groups=groups, minutes=minutes, rates={k: v[2] for k, v in latest.items()})
