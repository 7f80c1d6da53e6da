"""The ledger's summary by query (``folio.records.ledger_summary``): what ``Ledger.summary`` reads from the running
totals agrees with an independent recount in Python over many random entries (several tenants, profiles with and
without stored rates, multi-document entries, estimated usage, replaced entries, a profile with time-of-day rates),
on SQLite and PostgreSQL; and a plan's two reads walk their index."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient
from sqlalchemy import text

from folio.config import Settings
from folio.ingest.store import Store
from folio.records.database import Database
from folio.records.ledger_records import LedgerRecords, cache_history_query, session_history_query
from folio.service.ledger import Ledger, LedgerEntry, Usage
from folio.service.pricing import PROFILES, PricingProfile, TimeOfDayRates, get_profile

TENANTS = ("default", "acme", "globex")
# (profile, whether its entries store the rates they were billed at)
PROFILE_CHOICES = (("deepseek-v4-flash-compat", True), ("deepseek-v4-flash-compat", False), ("deepseek-api", True),
                   ("self-hosted", True), ("retired-provider", False), (None, False))
DOCS = [c * 64 for c in "abcd"]
SEED = get_profile("deepseek-v4-flash-compat")
# a profile that prices two windows of the day apart, one of them across midnight
NIGHT_AND_MORNING = replace(get_profile("deepseek-api"), name="deepseek-api-night", time_of_day=(
    TimeOfDayRates(start=time(16, 30), end=time(0, 30), input_miss=0.14, input_hit=0.0028, output=0.21),
    TimeOfDayRates(start=time(8, 0), end=time(9, 15), input_miss=0.5, input_hit=0.01, output=0.8)))


@pytest.fixture
def database(tmp_path: Path, database_url: str | None) -> Iterator[Database]:
    db = Database.from_settings(Settings(data_dir=tmp_path / "data", database_url=database_url))
    yield db
    db.close()


def _ledger(database: Database) -> Ledger:
    return Ledger(Store(QdrantClient(location=":memory:"), database=database))


def _random_entry(rnd: random.Random, documents: list[str], *, ts: float, entry_id: str | None = None
                  ) -> dict[str, Any]:
    doc_ids = rnd.sample(documents, rnd.choice((0, 1, 1, 2, 3, 4)))
    doc_tokens = rnd.choice(([rnd.randint(1, 90_000) for _ in doc_ids], [], [0] * len(doc_ids)))
    profile, priced = rnd.choice(PROFILE_CHOICES)
    prices = None
    if priced:  # rates that differ from entry to entry: the summary shows the latest's
        prices = {"input_miss": rnd.choice((0.18, 0.28)), "input_hit": rnd.choice((0.04, 0.0056)),
                  "output": round(rnd.uniform(0.3, 0.5), 3), "cache_write_multiplier": 1.0}
    usage = Usage(hit_tokens=rnd.choice((0, rnd.randint(1, 400_000))), miss_tokens=rnd.randint(0, 90_000),
                  output_tokens=rnd.randint(0, 4_000), reasoning_tokens=rnd.randint(0, 500))
    entry = LedgerEntry(
        kind=rnd.choice(("question", "warmup", "map", "reduce", "cascade_rag")),
        route=rnd.choice(("rag", "full", "coverage")), prefix_hash=rnd.choice((None, "p1", "p2")), doc_ids=doc_ids,
        doc_tokens=doc_tokens, usage=usage, dollars=rnd.uniform(0, 0.2), estimated_dollars=None, model="m",
        profile=profile or "", prefix_tokens=rnd.randint(0, 400_000), tenant=rnd.choice(TENANTS),
        query_id=None, scope_key=rnd.choice(("s1", "s2")), usage_source=rnd.choice(("provider",) * 5 + ("estimated",)),
        prices=prices, ts=ts, id=entry_id or str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
        conversation_id=rnd.choice((None, None, "c1", "c2")))
    payload = entry.to_payload()
    if profile is None:
        payload["profile"] = None  # an entry written before profiles were recorded
    return payload


def _random_times(rnd: random.Random, n: int) -> list[float]:
    """Times over a week, some on a whole minute or tied with another entry, some just before a rate changes."""
    start = 1_790_000_000.0 - 1_790_000_000.0 % 86_400
    times = [start + rnd.uniform(0, 7 * 86_400) for _ in range(n)]
    for i in rnd.sample(range(n), n // 10):
        times[i] = start + rnd.randrange(7 * 1440) * 60.0
    for i in rnd.sample(range(n), n // 20):
        times[i] = start + 86_400 * rnd.randrange(7) + rnd.choice((16 * 3600 + 30 * 60, 9 * 3600 + 15 * 60)) - 0.25
    for i in rnd.sample(range(1, n), n // 20):
        times[i] = times[i - 1]
    return times


def recount(entries: list[dict[str, Any]], tenant: str | None, current: PricingProfile | None) -> dict[str, Any]:
    """The summary by its definition, one entry at a time (``Ledger.summary``'s docstring)."""
    mine = sorted((e for e in entries if tenant is None or e["tenant"] == tenant), key=lambda e: (e["ts"], e["id"]))
    sums: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(("requests", "shared", "hit", "miss", "output", "dollars", "estimated", "repriced"), 0))

    def count(group: tuple[str, str], e: dict[str, Any], share: float = 1.0, shared: bool = False) -> None:
        s = sums[group]
        s["requests"] += 1
        s["shared"] += shared
        s["estimated"] += e["usage_source"] == "estimated"
        s["hit"] += e["usage"]["hit_tokens"] * share
        s["miss"] += e["usage"]["miss_tokens"] * share
        s["output"] += e["usage"]["output_tokens"] * share
        s["dollars"] += e["dollars"] * share
        if current is not None:
            s["repriced"] += current.dollars(
                hit_tokens=e["usage"]["hit_tokens"], miss_tokens=e["usage"]["miss_tokens"],
                output_tokens=e["usage"]["output_tokens"], at=datetime.fromtimestamp(e["ts"], UTC))

    latest_rates: dict[str, dict[str, float]] = {}
    for e in mine:
        profile = e["profile"] or "(unknown)"
        count(("total", ""), e)
        count(("profile", profile), e)
        count(("route", e["route"]), e)
        count(("scope", ",".join(sorted(d[:12] for d in e["doc_ids"])) or "(none)"), e)
        if e.get("conversation_id"):
            count(("conversation", e["conversation_id"]), e)
        if e["prices"]:
            latest_rates[profile] = e["prices"]  # in time order, then id: the last one stays
        weights = e["doc_tokens"] or [1] * len(e["doc_ids"])
        for doc_id, weight in zip(e["doc_ids"], weights, strict=False):
            count(("document", doc_id), e, share=weight / (sum(weights) or 1), shared=len(e["doc_ids"]) > 1)

    def shown(group: tuple[str, str], *, estimated: bool = True, dollars: str = "dollars") -> dict[str, Any]:
        s = sums[group]
        return {"requests": s["requests"], "shared_requests": s["shared"], "hit_tokens": round(s["hit"]),
                "miss_tokens": round(s["miss"]), "output_tokens": round(s["output"]),
                "dollars": round(s[dollars], 8), "estimated_requests": s["estimated"] if estimated else 0}

    def keys(dimension: str) -> list[str]:
        return sorted(k for d, k in list(sums) if d == dimension)

    known = {name: profile.per_million() for name, profile in PROFILES.items()}
    out: dict[str, Any] = {"totals": shown(("total", "")), "by_profile": {
        k: {**shown(("profile", k)), "usd_per_million": latest_rates.get(k, known.get(k))} for k in keys("profile")}}
    if current is not None:
        out["totals_at_current_prices"] = {**shown(("total", ""), dollars="repriced"), "profile": current.name}
    for name, dimension in (("by_route", "route"), ("by_document", "document"), ("by_scope", "scope"),
                            ("by_conversation", "conversation")):
        out[name] = {k: shown((dimension, k), estimated=False) for k in keys(dimension)}
    return out


def assert_same(actual: Any, expected: Any, where: str = "summary") -> None:
    """Equal keys in the same order and equal values: dollars to float precision, a document's tokens (sums of
    shares) to the unit, everything else exactly and of the same type."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), where
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}.{key}")
    elif where.endswith(".dollars"):
        assert isinstance(actual, float) and actual == pytest.approx(expected, rel=1e-9, abs=2e-8), where
    elif ".by_document." in where and where.endswith("_tokens"):
        assert isinstance(actual, int) and abs(actual - expected) <= 1, where
    else:
        assert type(actual) is type(expected) and actual == expected, (where, actual, expected)


def test_the_summary_agrees_with_a_recount_over_many_random_entries(database: Database) -> None:
    rnd = random.Random(16)
    documents = [f"{rnd.getrandbits(256):064x}" for _ in range(12)]
    times = _random_times(rnd, 700)
    entries = [_random_entry(rnd, documents, ts=ts) for ts in times]
    records = LedgerRecords(database)
    for start in range(0, 600, 150):  # in batches, as the upgrade and the benchmark write
        records.add_many(entries[start:start + 150])
    for entry in entries[600:]:  # one at a time, as billing writes
        records.add(entry)
    for i in rnd.sample(range(700), 40):  # written again with the same id: replaced, the totals follow
        entries[i] = _random_entry(rnd, documents, ts=rnd.choice(times), entry_id=entries[i]["id"])
        records.add(entries[i])
    ledger = _ledger(database)
    for tenant in (None, *TENANTS, "nobody"):
        view = ledger if tenant is None else ledger.for_tenant(tenant)
        for current in (None, SEED, NIGHT_AND_MORNING):
            assert_same(view.summary(current=current), recount(entries, tenant, current), f"{tenant}/{current}")
    whole = ledger.summary(current=NIGHT_AND_MORNING)
    assert len(whole["by_profile"]) == 5 and whole["by_profile"]["retired-provider"]["usd_per_million"] is None
    assert whole["totals"]["estimated_requests"] > 0 and max(
        d["shared_requests"] for d in whole["by_document"].values()) > 0


def test_an_empty_ledger_sums_to_zero(database: Database) -> None:
    zero = {"requests": 0, "shared_requests": 0, "hit_tokens": 0, "miss_tokens": 0, "output_tokens": 0,
            "dollars": 0.0, "estimated_requests": 0}
    assert _ledger(database).summary(current=SEED) == {
        "totals": zero, "by_profile": {}, "totals_at_current_prices": {**zero, "profile": SEED.name},
        "by_route": {}, "by_document": {}, "by_scope": {}, "by_conversation": {}}


def test_replacing_a_profile_s_latest_priced_entry_shows_the_rates_of_the_one_before(database: Database) -> None:
    rnd = random.Random(3)
    records = LedgerRecords(database)
    older, latest = (_random_entry(rnd, DOCS, ts=ts) for ts in (1_000.0, 2_000.0))
    for entry, rate in ((older, 0.11), (latest, 0.22)):
        entry.update(profile="p", tenant="default", prices={"input_miss": rate, "input_hit": 0.01, "output": 0.5,
                                                            "cache_write_multiplier": 1.0})
        records.add(entry)
    ledger = _ledger(database)
    assert ledger.summary()["by_profile"]["p"]["usd_per_million"]["input_miss"] == 0.22
    records.add({**latest, "prices": None})  # the same request, without its rates
    assert ledger.summary()["by_profile"]["p"]["usd_per_million"]["input_miss"] == 0.11
    records.add({**latest, "profile": "q"})  # moved to another profile: p keeps the older one's entries only
    summary = ledger.summary()
    assert summary["by_profile"]["p"]["requests"] == 1 and summary["by_profile"]["q"]["requests"] == 1
    records.add({**older, "profile": "q"})
    assert list(ledger.summary()["by_profile"]) == ["q"]  # a group left with no request is not shown


def test_time_of_day_rates_change_on_a_whole_minute() -> None:
    """The summary re-prices by the minute of the day: a window that starts within a minute would be misread."""
    with pytest.raises(ValueError, match="whole minute"):
        TimeOfDayRates(start=time(16, 30, 30), end=time(0, 30), input_miss=0.1, input_hit=0.01, output=0.2)


def test_a_plan_reads_the_history_with_only_what_a_cache_state_and_a_session_read(database: Database) -> None:
    rnd = random.Random(5)
    records = LedgerRecords(database)
    records.add_many(_random_entry(rnd, DOCS, ts=float(i // 2)) for i in range(60))  # ties on time
    on_prefix = records.history(tenant="acme", prefix_hash="p1")
    assert records.cache_history(tenant="acme", prefix_hash="p1") == [
        {"id": e["id"], "ts": e["ts"], "kind": e["kind"], "reasoning": e["reasoning"],
         "prefix_tokens": e["prefix_tokens"], "usage": {"hit_tokens": e["usage"]["hit_tokens"]}} for e in on_prefix]
    of_scope = records.of_scope(tenant="acme", scope_key="s2")
    assert records.session_history(tenant="acme", scope_key="s2") == [
        {"id": e["id"], "ts": e["ts"], "kind": e["kind"], "query_id": e["query_id"]} for e in of_scope]
    assert len(records.cache_history(tenant="acme", prefix_hash="p1", limit=3)) == 3
    assert records.session_history(tenant="acme", scope_key="s2", limit=3) == records.session_history(
        tenant="acme", scope_key="s2")[-3:]


READS = {"prefix": (cache_history_query, "ix_ledger_tenant_prefix"),
         "scope": (session_history_query, "ix_ledger_tenant_scope")}


@pytest.mark.parametrize("read", list(READS))
def test_a_plan_s_reads_walk_their_index_backwards_without_sorting_on_sqlite(tmp_path: Path, read: str) -> None:
    """Each of a plan's two reads finds every column it needs in its index (a covering index: the table is never
    read) in the order it wants (no sort), whatever the ledger's size."""
    query, index = READS[read]
    database = Database.sqlite(tmp_path / "folio.db")
    with database.read() as conn:
        sql = str(query("default", "x").compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert f"USING COVERING INDEX {index} (tenant=? AND" in plan and "TEMP B-TREE" not in plan, plan
    database.close()


@pytest.mark.parametrize("read", list(READS))
def test_a_plan_s_reads_can_walk_their_index_without_sorting_on_postgresql(tmp_path: Path, postgres_url: str,
                                                                          read: str) -> None:
    """On an empty table PostgreSQL would rather scan it: with scans and sorts priced out, the plan left is an
    index-only scan of the read's index, backwards, with no sort."""
    query, index = READS[read]
    database = Database.from_settings(Settings(data_dir=tmp_path, database_url=postgres_url))
    with database.read() as conn:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(text(f"SET LOCAL {setting} = off"))
        sql = str(query("default", "x").compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
    assert f"Index Only Scan Backward using {index}" in plan and "Sort" not in plan, plan
    database.close()
