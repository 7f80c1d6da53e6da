"""The ledger at scale: ``GET /v1/ledger``'s summary and one plan's cache-state lookup over a synthetic ledger, on
SQLite and PostgreSQL, beside the ledger as it was before the records moved to SQL (Qdrant payloads, scanned and
summed in Python).

1. Builds a synthetic ledger of ``--entries`` entries (default 1,000,000) with ``LedgerRecords.add_many`` in
   batches of ``--batch`` (one transaction each), in time order as billing writes them: 1,000 scopes of one to four
   of 2,500 documents, scopes as popular as a Zipf law makes them (the most asked one, tenant ``default``'s, gets
   about 18% of all requests), four tenants, retrieval, full-context, warm-up, cascade and coverage requests,
   pricing profiles with and without stored rates (the oldest entries were written before rates were stored; one
   profile is one Folio no longer knows), a few estimated usages. A ledger of ``--baseline-entries`` (default
   50,000) made the same way is built on every store, the baseline too: the same entries, measured side by side.
2. Measures each store in a fresh child process (its RSS is its own): ``Ledger.summary`` as ``GET /v1/ledger``
   calls it (tenant ``default``'s view, the current profile given), the whole ledger's summary (every tenant), one
   plan's cache state (``Ledger.memory(scope).cache_state(prefix)`` on the most asked scope and its full-context
   prefix: both reads hit their 500-request limit), ``GET /v1/ledger`` through the real app (fastapi's
   ``TestClient``, the records at the same database), and the process's RSS after them.
3. The baseline: the same entries' payloads (``LedgerEntry.to_payload()``) as vector-less points of a local-mode
   Qdrant collection (``QdrantClient(path=...)``), summed as the ledger did before the move: every payload
   scrolled, then one pass in Python (``scan_summary`` below); and the sum alone over payloads held in memory
   (local mode held them after the first read); the cache state filtered every held payload by prefix and scope.

Stores: ``sqlite`` (a temp file, Folio's default), ``postgres`` (a throwaway cluster from ``tests/postgres.py``, or
``--postgres-url`` of a server you run: a database is made in it and dropped after) and ``qdrant`` (the baseline).

    .venv/bin/python bench/ledger_bench.py                                  # 1M entries; every store at 50k (~16 min)
    .venv/bin/python bench/ledger_bench.py --entries 100000 --tag quick     # a quicker run
    .venv/bin/python bench/ledger_bench.py --stores sqlite,qdrant --baseline-entries 20000

Writes ``bench/results/ledger-<date>[-<tag>].json`` and ``.md``: the table, the command, the machine, the commit.
Timings are medians; compare stores within a run (the machine is shared), not across runs.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))

from benchlib import command_line, fmt, machine_info, results_dir  # noqa: E402

DOCUMENTS = 2_500
SCOPES = 1_000
DAYS = 120
TENANTS = ("default", "acme", "globex", "initech")
TENANT_WEIGHTS = (0.4, 0.3, 0.2, 0.1)
MODEL = "deepseek/deepseek-v4-flash"
# (kind, route, share of requests)
KINDS = (("question", "rag", 0.45), ("question", "full", 0.22), ("warmup", "full", 0.08),
         ("cascade_rag", "rag", 0.05), ("map", "coverage", 0.14), ("reduce", "coverage", 0.06))
RETIRED = "retired-provider"  # a profile Folio no longer knows, whose entries stored no rates


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the synthetic ledger ---------------------------------------------------------------------------------------


class Synthetic:
    """A deterministic stream of ledger entries (``LedgerEntry.to_payload()`` dicts), in time order."""

    def __init__(self, entries: int, seed: int = 16) -> None:
        from folio.service.context import prefix_key, scope_key

        self.entries = entries
        self.seed = seed
        rnd = random.Random(seed)
        documents = [(f"{rnd.getrandbits(256):064x}", rnd.randint(3_000, 250_000)) for _ in range(DOCUMENTS)]
        self.scopes: list[dict[str, Any]] = []
        for rank in range(SCOPES):
            chosen = rnd.sample(documents, rnd.choice((1, 1, 1, 2, 2, 3, 4)))
            ids = [d for d, _ in chosen]
            self.scopes.append({
                "tenant": "default" if rank == 0 else rnd.choices(TENANTS, TENANT_WEIGHTS)[0],
                "doc_ids": ids, "doc_tokens": [t for _, t in chosen], "scope_key": scope_key(ids),
                "prefix": prefix_key(MODEL, ids), "windows": 1 + sum(t for _, t in chosen) // 400_000})
        self.cum_weights = list(_accumulate(1 / (rank + 1) ** 1.1 for rank in range(SCOPES)))
        self.kind_weights = list(_accumulate(share for _, _, share in KINDS))
        self.start = 1_790_000_000.0
        self.step = DAYS * 86_400 / max(entries, 1)

    @property
    def hottest(self) -> dict[str, Any]:
        return self.scopes[0]

    @property
    def now(self) -> float:
        """A minute after the last entry: the plans measured come right after the ledger's last request."""
        return self.start + self.entries * self.step + 60

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from folio.service.ledger import LedgerEntry, Usage
        from folio.service.pricing import get_profile

        rnd = random.Random(self.seed + 1)
        profiles = {name: get_profile(name) for name in ("deepseek-v4-flash-compat", "deepseek-api", "self-hosted")}
        for i in range(self.entries):
            scope = self.scopes[bisect.bisect(self.cum_weights, rnd.random() * self.cum_weights[-1])]
            kind, route, _ = KINDS[bisect.bisect(self.kind_weights, rnd.random() * self.kind_weights[-1])]
            tenant, age = scope["tenant"], i / self.entries
            name = ("deepseek-v4-flash-compat" if age < 0.15 else "self-hosted" if tenant == "initech"
                    else "deepseek-api" if tenant == "acme" and age > 0.7 else "deepseek-v4-flash-compat")
            stored = age >= 0.15
            if rnd.random() < 0.005:
                name, stored = RETIRED, False
            profile = profiles.get(name, profiles["deepseek-v4-flash-compat"])
            scope_tokens = sum(scope["doc_tokens"])
            if route == "rag":
                prefix, prefix_tokens = f"{rnd.getrandbits(128):032x}", rnd.randint(1_500, 4_000)
                hit = prefix_tokens if rnd.random() < 0.05 else 0
            elif kind == "reduce":
                prefix, prefix_tokens, hit = None, 0, 0
            else:
                window = rnd.randrange(scope["windows"]) if route == "coverage" else None
                prefix = scope["prefix"] if window is None else f"{scope['prefix']}:{window}"
                prefix_tokens = scope_tokens // (scope["windows"] if route == "coverage" else 1) + 900
                hit = 0 if kind == "warmup" or rnd.random() < 0.15 else prefix_tokens
            usage = Usage(hit_tokens=hit, miss_tokens=prefix_tokens - hit + rnd.randint(20, 3_000),
                          output_tokens=2 if kind == "warmup" else rnd.randint(100, 1_500))
            ts = self.start + i * self.step + rnd.random() * self.step
            rates = profile.at(dt.datetime.fromtimestamp(ts, dt.UTC))
            yield LedgerEntry(
                kind=kind, route=route, prefix_hash=prefix, doc_ids=scope["doc_ids"], doc_tokens=scope["doc_tokens"],
                usage=usage, dollars=rates.dollars(hit_tokens=usage.hit_tokens, miss_tokens=usage.miss_tokens,
                                                   output_tokens=usage.output_tokens),
                estimated_dollars=round(rnd.uniform(0.0005, 0.05), 6), model=MODEL, profile=name,
                prefix_tokens=prefix_tokens, tenant=tenant, reasoning="high" if rnd.random() < 0.1 else "none",
                query_id=str(uuid.UUID(int=rnd.getrandbits(128), version=4)), scope_key=scope["scope_key"],
                usage_source="estimated" if rnd.random() < 0.005 else "provider",
                window=None, windows=None, prices=rates.per_million() if stored else None, ts=ts,
                id=str(uuid.UUID(int=rnd.getrandbits(128), version=4))).to_payload()


def _accumulate(values: Iterator[float] | Any) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def quiet_local_mode() -> None:
    """Local mode warns past 20,000 points, for search; the baseline keeps the ledger there as Folio did."""
    warnings.filterwarnings("ignore", message="Local mode is not recommended")


def batches(items: Iterator[dict[str, Any]] | Synthetic, size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_sql(url: str, synthetic: Synthetic, batch: int) -> tuple[float, float]:
    """The entries into the records' database at ``url`` (made and migrated here): seconds taken, and the
    database's size in MB (the ledger's tables and indexes are all it holds)."""
    from sqlalchemy import create_engine

    from folio.records.database import Database
    from folio.records.ledger_records import LedgerRecords

    database = Database(create_engine(url), where="bench")
    records = LedgerRecords(database)
    start = time.perf_counter()
    done = 0
    for chunk in batches(synthetic, batch):
        done += records.add_many(chunk)
        if done % (batch * 20) == 0 or done == synthetic.entries:
            log(f"  {done:,} entries, {time.perf_counter() - start:.0f} s")
    seconds = time.perf_counter() - start
    with database.write() as conn:
        if database.dialect == "postgresql":
            conn.exec_driver_sql("ANALYZE")
            size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
        else:
            size = conn.exec_driver_sql("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
                                        ).scalar_one()
    database.close()
    return seconds, round(size / 1e6, 1)


def build_qdrant(path: Path, synthetic: Synthetic, batch: int) -> tuple[float, float]:
    """The entries' payloads as vector-less points of a local-mode Qdrant collection, as before the move: seconds
    taken and the collection's size on disk in MB."""
    from qdrant_client import QdrantClient, models

    quiet_local_mode()
    client = QdrantClient(path=str(path))
    client.create_collection("folio_ledger", vectors_config={})
    start = time.perf_counter()
    for chunk in batches(synthetic, min(batch, 1_000)):
        client.upsert("folio_ledger", [models.PointStruct(id=e["id"], vector={}, payload=e) for e in chunk])
    client.close()
    seconds = time.perf_counter() - start
    return seconds, round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6, 1)


# -- the baseline: the summary as a scan in Python ---------------------------------------------------------------


def scan_summary(payloads: list[dict[str, Any]], tenant: str | None, current: Any) -> dict[str, Any]:
    """The summary as the ledger computed it before the move: one pass over every entry of the tenant."""
    from folio.service.pricing import PROFILES

    def zero() -> list[float]:
        return [0, 0, 0.0, 0.0, 0.0, 0.0, 0]  # requests, shared, hit, miss, output, dollars, estimated

    def add(into: list[float], e: dict[str, Any], share: float = 1.0, shared: bool = False) -> None:
        into[0] += 1
        into[1] += shared
        into[2] += e["usage"]["hit_tokens"] * share
        into[3] += e["usage"]["miss_tokens"] * share
        into[4] += e["usage"]["output_tokens"] * share
        into[5] += e["dollars"] * share

    def shown(v: list[float]) -> dict[str, float]:
        return {"requests": v[0], "shared_requests": v[1], "hit_tokens": round(v[2]), "miss_tokens": round(v[3]),
                "output_tokens": round(v[4]), "dollars": round(v[5], 8), "estimated_requests": v[6]}

    totals, repriced = zero(), zero()
    groups: dict[str, dict[str, list[float]]] = {k: defaultdict(zero) for k in ("profile", "route", "doc", "scope")}
    rates: dict[str, tuple[float, dict[str, float]]] = {}
    for e in sorted((p for p in payloads if tenant is None or p["tenant"] == tenant), key=lambda p: (p["ts"], p["id"])):
        estimated = e["usage_source"] == "estimated"
        add(totals, e)
        totals[6] += estimated
        profile = e["profile"] or "(unknown)"
        add(groups["profile"][profile], e)
        groups["profile"][profile][6] += estimated
        if e.get("prices") and e["ts"] >= rates.get(profile, (-1e18, {}))[0]:
            rates[profile] = (e["ts"], e["prices"])
        u = e["usage"]
        add(repriced, {**e, "dollars": current.dollars(
            hit_tokens=u["hit_tokens"], miss_tokens=u["miss_tokens"], output_tokens=u["output_tokens"],
            at=dt.datetime.fromtimestamp(e["ts"], dt.UTC))})
        repriced[6] += estimated
        add(groups["route"][e["route"]], e)
        add(groups["scope"][",".join(sorted(d[:12] for d in e["doc_ids"])) or "(none)"], e)
        weights = e["doc_tokens"] or [1] * len(e["doc_ids"])
        for doc_id, weight in zip(e["doc_ids"], weights, strict=False):
            add(groups["doc"][doc_id], e, weight / (sum(weights) or 1), len(e["doc_ids"]) > 1)

    def known(profile: str) -> dict[str, float] | None:
        return rates[profile][1] if profile in rates else (
            PROFILES[profile].per_million() if profile in PROFILES else None)

    return {"totals": shown(totals),
            "by_profile": {k: {**shown(v), "usd_per_million": known(k)} for k, v in sorted(groups["profile"].items())},
            "totals_at_current_prices": {**shown(repriced), "profile": current.name},
            **{name: {k: shown(v) for k, v in sorted(groups[key].items())}
               for name, key in (("by_route", "route"), ("by_document", "doc"), ("by_scope", "scope"))}}


class HeldPayloads:
    """The records as local mode read them before the move: every payload held, each read a filter in Python."""

    def __init__(self, payloads: list[dict[str, Any]]) -> None:
        self.payloads = payloads

    def cache_history(self, *, tenant: str | None, prefix_hash: str) -> list[dict[str, Any]]:
        return self._scan(tenant, "prefix_hash", prefix_hash)

    def session_history(self, *, tenant: str | None, scope_key: str) -> list[dict[str, Any]]:
        return self._scan(tenant, "scope_key", scope_key)

    def _scan(self, tenant: str | None, key: str, value: str) -> list[dict[str, Any]]:
        return [dict(p) for p in self.payloads if p.get(key) == value and (tenant is None or p["tenant"] == tenant)]


# -- measuring, in a child process ----------------------------------------------------------------------------------


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm: the first call opens connections, fills caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 1e6, 1)


def child_sql(spec: dict[str, Any]) -> dict[str, Any]:
    from qdrant_client import QdrantClient
    from sqlalchemy import create_engine

    from folio.ingest.store import Store
    from folio.records.database import Database
    from folio.service.ledger import Ledger
    from folio.service.pricing import get_profile

    start_rss = rss_mb()
    database = Database(create_engine(spec["url"]), where="bench")
    ledger = Ledger(Store(QdrantClient(location=":memory:"), database=database), clock=lambda: spec["now"])
    current = get_profile("deepseek-v4-flash-compat")
    view = ledger.for_tenant("default")
    out: dict[str, Any] = {
        "summary_ms": median_ms(lambda: view.summary(current=current), spec["repeat"]),
        "summary_all_tenants_ms": median_ms(lambda: ledger.summary(current=current), max(3, spec["repeat"] // 2)),
        "cache_state_ms": median_ms(lambda: view.memory(spec["scope_key"]).cache_state(spec["prefix"]),
                                    spec["repeat"] * 5),
        "rss_mb": rss_mb(), "rss_at_start_mb": start_rss,
    }
    out["summary"] = view.summary(current=current)  # compared with the other stores' at the same size
    out["groups"] = {"documents": len(out["summary"]["by_document"]), "scopes": len(out["summary"]["by_scope"])}
    out["plans"] = query_plans(database, spec)
    if spec.get("group_by"):
        out["group_by_ms"] = median_ms(lambda: group_by_entries(database, "default"), 3)
    database.close()
    out["app_summary_ms"], out["rss_after_app_mb"] = app_summary_ms(spec)
    return out


def group_by_entries(database: Any, tenant: str) -> int:
    """The alternative to running totals: the summary's sums as GROUP BY queries over the tenant's entries (the
    whole, by profile, route, scope and minute of the day, and by document through ``ledger_documents``)."""
    from sqlalchemy import case, func, select

    from folio.records.tables import ledger, ledger_documents

    e, d = ledger.c, ledger_documents.c
    estimated = func.sum(case((e.usage_source == "estimated", 1), else_=0))
    whole = [func.count(), func.sum(e.hit_tokens), func.sum(e.miss_tokens), func.sum(e.output_tokens),
             func.sum(e.dollars), estimated]
    queries = [select(*whole).where(e.tenant == tenant)]
    queries += [select(key, *whole).where(e.tenant == tenant).group_by(key)
                for key in (e.profile, e.route, e.doc_scope, e.minute_of_day)]
    queries.append(select(d.document_id, func.count(), func.sum(case((d.shared, 1), else_=0)),
                          func.sum(e.hit_tokens * d.share), func.sum(e.miss_tokens * d.share),
                          func.sum(e.output_tokens * d.share), func.sum(e.dollars * d.share))
                   .select_from(ledger_documents.join(ledger, e.id == d.entry_id))
                   .where(d.tenant == tenant).group_by(d.document_id))
    with database.read() as conn:
        return sum(len(conn.execute(query).all()) for query in queries)


def app_summary_ms(spec: dict[str, Any]) -> tuple[float, float]:
    """``GET /v1/ledger`` through the real app, its records at the bench's database."""
    from fastapi.testclient import TestClient

    from folio.config import Settings
    from folio.ingest.embed import HashEmbedder
    from folio.service.app import create_app

    with tempfile.TemporaryDirectory(prefix="folio-ledger-app-") as data_dir:
        settings = Settings(data_dir=Path(data_dir), database_url=spec["url"], embed_model="hash-64",
                            ingest_workers=0)
        with TestClient(create_app(settings, embedder_factory=lambda: HashEmbedder(64))) as client:
            def get() -> None:
                response = client.get("/v1/ledger")
                assert response.status_code == 200, response.text
            ms = median_ms(get, spec["repeat"])
            return ms, rss_mb()


def query_plans(database: Any, spec: dict[str, Any]) -> dict[str, str]:
    """How the database runs a plan's two reads (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL)."""
    from folio.records.ledger_records import cache_history_query, session_history_query

    plans = {}
    with database.read() as conn:
        for name, query in (("prefix", cache_history_query("default", spec["prefix"])),
                            ("scope", session_history_query("default", spec["scope_key"]))):
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            explain = "EXPLAIN QUERY PLAN " if database.dialect == "sqlite" else "EXPLAIN "
            rows = conn.exec_driver_sql(explain + sql).fetchall()
            plans[name] = " | ".join(str(row[-1]) if database.dialect == "sqlite" else str(row[0]) for row in rows)
    return plans


def child_qdrant(spec: dict[str, Any]) -> dict[str, Any]:
    from qdrant_client import QdrantClient

    from folio.service.ledger import Ledger
    from folio.service.pricing import get_profile

    start_rss = rss_mb()
    quiet_local_mode()
    client = QdrantClient(path=spec["path"])
    current = get_profile("deepseek-v4-flash-compat")

    def scroll() -> list[dict[str, Any]]:
        payloads, offset = [], None
        while True:
            points, offset = client.scroll("folio_ledger", limit=1_000, offset=offset, with_payload=True)
            payloads.extend(dict(p.payload or {}) for p in points)
            if offset is None:
                return payloads

    repeat = max(3, spec["repeat"] // 2)
    out: dict[str, Any] = {"summary_ms": median_ms(lambda: scan_summary(scroll(), "default", current), repeat)}
    held = scroll()
    out["summary_held_ms"] = median_ms(lambda: scan_summary(held, "default", current), repeat)
    ledger = Ledger(SimpleNamespace(ledger_records=HeldPayloads(held)), clock=lambda: spec["now"])  # type: ignore[arg-type]
    view = ledger.for_tenant("default")
    out["cache_state_ms"] = median_ms(lambda: view.memory(spec["scope_key"]).cache_state(spec["prefix"]),
                                      spec["repeat"])
    out["rss_mb"], out["rss_at_start_mb"] = rss_mb(), start_rss
    out["summary"] = scan_summary(held, "default", current)
    client.close()
    return out


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="folio-ledger-bench-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec))
        subprocess.run([sys.executable, __file__, "--child", str(spec_path), str(out_path)], check=True)
        return dict(json.loads(out_path.read_text()))


# -- the run ----------------------------------------------------------------------------------------------------


@contextmanager
def postgres(url: str | None) -> Iterator[Any]:
    """A PostgreSQL server: yours (``--postgres-url``) or a throwaway cluster (``tests/postgres.py``)."""
    from tests.postgres import PostgresServer, find_bin_dir, temporary_server

    if url:
        yield PostgresServer.external(url)
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL's programs are not installed (apt-get install postgresql), or pass --postgres-url")
    with temporary_server(bin_dir) as server:
        yield server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in the SQL stores' ledger")
    parser.add_argument("--baseline-entries", type=int, default=50_000,
                        help="entries at which every store, the Qdrant baseline too, is measured side by side")
    parser.add_argument("--stores", default="sqlite,postgres,qdrant", help="any of sqlite, postgres, qdrant")
    parser.add_argument("--postgres-url", help="a server of yours (postgresql+psycopg://USER@HOST:PORT/DB) in which "
                        "a database is made for the run and dropped after; default: a throwaway cluster")
    parser.add_argument("--batch", type=int, default=10_000, help="entries per add_many transaction")
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per measurement (the median is shown)")
    parser.add_argument("--no-group-by", action="store_true",
                        help="skip the GROUP BY over the entries (seconds per call at a million entries)")
    parser.add_argument("--tag", default="")
    parser.add_argument("--render", metavar="JSON", help="rewrite a run's .md from its .json, and print it")
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render:
        source = Path(args.render)
        markdown = render(json.loads(source.read_text()))
        source.with_suffix(".md").write_text(markdown)
        print(markdown)
        return 0
    if args.child:
        spec = json.loads(Path(args.child[0]).read_text())
        result = (child_qdrant if spec["store"] == "qdrant" else child_sql)(spec)
        Path(args.child[1]).write_text(json.dumps(result, indent=2))
        return 0

    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    summaries: dict[int, dict[str, Any]] = {}  # entries -> store -> tenant default's summary
    sizes = sorted({args.baseline_entries, args.entries})
    report: dict[str, Any] = {"command": command_line(), "machine": machine_info(), "rows": [],
                              "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="folio-ledger-bench-")))
        server = stack.enter_context(postgres(args.postgres_url)) if "postgres" in stores else None
        for store in stores:
            for size in sizes if store != "qdrant" else [args.baseline_entries]:
                synthetic = Synthetic(size)
                spec = {"store": store, "entries": size, "repeat": args.repeat, "now": synthetic.now,
                        "group_by": not args.no_group_by,
                        "scope_key": synthetic.hottest["scope_key"], "prefix": synthetic.hottest["prefix"]}
                log(f"{store}, {size:,} entries: building")
                if store == "qdrant":
                    spec["path"] = str(tmp / f"qdrant-{size}")
                    build_s, size_mb = build_qdrant(Path(spec["path"]), synthetic, args.batch)
                elif store == "sqlite":
                    spec["url"] = f"sqlite:///{tmp / f'ledger-{size}.db'}"
                    build_s, size_mb = build_sql(spec["url"], synthetic, args.batch)
                else:
                    name = f"folio_ledger_bench_{size}"
                    server.create_database(name)
                    stack.callback(server.drop_database, name)
                    spec["url"] = server.url(name)
                    build_s, size_mb = build_sql(spec["url"], synthetic, args.batch)
                log(f"{store}, {size:,} entries: built in {build_s:.0f} s; measuring")
                row = {"store": store, "entries": size, "build_s": round(build_s, 1), "size_mb": size_mb,
                       **run_child(spec)}
                summaries.setdefault(size, {})[store] = row.pop("summary")
                report["rows"].append(row)
                log(f"  summary {row['summary_ms']} ms, cache state {row['cache_state_ms']} ms, RSS {row['rss_mb']} MB")
                if store == "qdrant":
                    shutil.rmtree(spec["path"], ignore_errors=True)
    report["agreement"] = agreement(summaries)
    markdown = render(report)
    print(markdown)
    stem = f"ledger-{dt.date.today().isoformat()}" + (f"-{args.tag}" if args.tag else "")
    (results_dir() / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (results_dir() / f"{stem}.md").write_text(markdown)
    log(f"wrote bench/results/{stem}.md and .json")
    return 0


def _times(base: float, ours: float) -> str:
    ratio = base / ours
    return f"{ratio:.0f}x faster than" if ratio >= 1 else f"{1 / ratio:.1f}x slower than"


def agreement(summaries: dict[int, dict[str, Any]]) -> list[str]:
    """Whether the stores' summaries of the same entries are the same: byte for byte (as JSON), else within the
    float sums' last bits (a dollar figure or a document's token count one rounding step apart), else not."""
    lines = []
    for size, by_store in sorted(summaries.items()):
        stores = sorted(by_store)
        for store in stores[1:]:
            first, other = by_store[stores[0]], by_store[store]
            if json.dumps(first) == json.dumps(other):
                verdict = "byte-identical"
            else:
                verdict = "equal to the rounding step" if _close(first, other) else "DIFFERENT"
            lines.append(f"{size:,} entries: {stores[0]} and {store}: {verdict}")
    return lines


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 2e-8 * max(1.0, abs(a))
    return bool(a == b or (isinstance(a, int) and isinstance(b, int) and abs(a - b) <= 1))


def render(report: dict[str, Any]) -> str:
    rows = report["rows"]
    lines = ["# The ledger at scale: summary and cache-state lookup", "", f"`{report['command']}`", "",
             f"{report['machine']['cpu_model']}, {report['machine']['cpus_usable']} cores usable, commit "
             f"{report['machine']['folio']['commit']}, started {report['started']}.", "",
             "| store | entries | summary ms | all tenants ms | GET /v1/ledger ms | GROUP BY entries ms "
             "| cache state ms | RSS MB | build s | size MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        store = {"sqlite": "SQLite (running totals)", "postgres": "PostgreSQL (running totals)",
                 "qdrant": "Qdrant payloads, scanned (before the move)"}[r["store"]]
        lines.append(f"| {store} | {r['entries']:,} | {fmt(r['summary_ms'], 1)} | "
                     f"{fmt(r.get('summary_all_tenants_ms'), 1)} | {fmt(r.get('app_summary_ms'), 1)} | "
                     f"{fmt(r.get('group_by_ms'), 0)} | "
                     f"{fmt(r['cache_state_ms'], 2)} | {fmt(r['rss_mb'], 0)} | {fmt(r['build_s'], 0)} | "
                     f"{fmt(r['size_mb'], 0)} |")
    lines += ["", "Summary: `Ledger.summary(current=...)` for tenant `default` (what `GET /v1/ledger` returns); "
              "all tenants: the same without a tenant. Cache state: `Ledger.memory(scope).cache_state(prefix)` on "
              "the most asked scope. RSS: the measuring process after its summaries and cache states (for SQL "
              "stores, before the app's run; `rss_after_app_mb` in the JSON is after it). The Qdrant row's "
              "summary scrolls every payload and sums in Python, as a Qdrant server did on every call. GROUP BY "
              "entries: the same sums as six GROUP BY queries over tenant `default`'s entries, the alternative to "
              "the running totals (not what Folio runs)."]
    held = [r for r in rows if "summary_held_ms" in r]
    if held:
        lines.append(f"With the payloads already held in memory (local mode after its first read) the sum alone "
                     f"took {fmt(held[0]['summary_held_ms'], 1)} ms.")
    same = {r["store"]: r for r in rows if r["entries"] == min(x["entries"] for x in rows)}
    if "qdrant" in same:
        for store in ("sqlite", "postgres"):
            if store in same:
                base, ours = same["qdrant"], same[store]
                lines.append(f"At {ours['entries']:,} entries, {store}: the summary is "
                             f"{_times(base['summary_ms'], ours['summary_ms'])} the scan, the cache state is "
                             f"{_times(base['cache_state_ms'], ours['cache_state_ms'])} the baseline's.")
    if report.get("agreement"):
        lines += ["", "Tenant `default`'s summary, store against store on the same entries: "
                  + "; ".join(report["agreement"]) + "."]
    plans = [(r["store"], r["entries"], r["plans"]) for r in rows if "plans" in r]
    if plans:
        lines += ["", "## Query plans of a plan's two reads", ""]
        for store, entries, plan in plans:
            for name, text in plan.items():
                lines.append(f"- {store}, {entries:,}, {name}: `{text}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
