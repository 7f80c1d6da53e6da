"""The embedded chunk index at data-room scale: Qdrant's local mode with Folio's in-memory copy (``local``) against
Qdrant Edge (``edge``), both behind ``folio.index.protocol.ChunkIndex``.

    .venv/bin/python bench/index_scale_bench.py --chunks 250000 --out bench/results/index-scale-DATE

The chunks: the 20 cuad-dev contracts' texts (``cuad-dev/txt``) cut into ~1,000-character chunks, each with its
real BM25 vector (``folio.index.sparse.document_vector``) and a synthetic unit dense vector (384 dimensions: a
random centroid per contract plus noise per chunk), then replicated as documents of their own until ``--chunks``
(each replica's dense vectors moved by small noise and its BM25 weights jittered by up to 5 %). No model runs.

Each engine runs in fresh child processes: ``build`` (write every document's chunks as ingestion does, one upsert
per document, then close), then ``search`` (open the index and get it ready to search: the start-up; then
``--queries`` searches per scope and mode: one document, all documents; dense, bm25, hybrid; p50/p99 latency),
each reporting its peak RSS and any warning a library raised. ``local``'s searches are the in-memory copy's (what
``folio serve`` runs); ``edge``'s are the shard's. The top-10 of each search is kept so that the report gives how
often both engines agree. For Edge a third child, ``compact``, deletes a quarter of the documents, reopens the
index (start-up with the deleted chunks still on disk) and times ``folio compact``'s vacuum
(``EdgeChunks.compact``): the segments' disk before and after, and the longest time another thread of the process
waited for the interpreter lock meanwhile.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "cuad-dev" / "txt"
DIM = 384
CHUNK_CHARS = 1000
MODES = ("dense", "bm25", "hybrid")


def base_documents() -> list[tuple[str, list[str]]]:
    """The cuad-dev contracts as ``(name, chunk texts)``."""
    out = []
    for path in sorted(DATA.glob("*.txt")):
        text = " ".join(path.read_text(errors="replace").split())
        out.append((path.stem[:40], [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]))
    return out


def corpus(total: int) -> tuple[list[tuple[str, list[str]]], list[np.ndarray], list[list[Any]], int]:
    """The base documents, their dense vectors and BM25 vectors, and how many replicas reach ``total`` chunks."""
    from folio.index.sparse import document_vector

    docs = base_documents()
    rng = np.random.default_rng(7)
    dense, sparse = [], []
    for _, chunks in docs:
        centroid = rng.normal(size=DIM)
        vecs = centroid + 0.8 * rng.normal(size=(len(chunks), DIM))
        dense.append((vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32))
        sparse.append([document_vector(c) for c in chunks])
    per_round = sum(len(c) for _, c in docs)
    return docs, dense, sparse, -(-total // per_round)


def open_engine(engine: str, path: Path) -> Any:
    from folio.index.connection import open_local
    from folio.index.edge import EdgeChunks, connect_edge
    from folio.index.local import LocalChunks
    from folio.index.retry import LOCAL, Qdrant

    if engine == "edge":
        return EdgeChunks(connect_edge(path), "folio_chunks")
    return LocalChunks(Qdrant(connect=lambda: open_local(path), policy=LOCAL), "folio_chunks")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(engine: str, path: Path, total: int, fast_local: bool, hnsw: bool = False) -> dict[str, Any]:
    from folio.index.protocol import ChunkPoint
    from folio.index.sparse import SparseVector

    docs, dense, sparse, rounds = corpus(total)
    rng = np.random.default_rng(11)
    index = open_engine(engine, path)
    written = 0
    t0 = time.perf_counter()
    index.ensure(DIM)
    if engine == "local" and fast_local:  # local mode commits (fsyncs) SQLite once per point: ~40 chunks/s here
        index.qdrant.client._client.collections[index.name].storage.storage.execute("PRAGMA synchronous=OFF")
    names = set()
    for r in range(rounds):
        for d, (name, chunks) in enumerate(docs):
            n = min(len(chunks), total - written)
            if n <= 0:
                break
            noise = dense[d][:n] + (0.15 * rng.normal(size=(n, DIM)) / np.sqrt(DIM)).astype(np.float32) if r \
                else dense[d][:n]
            points = []
            for i in range(n):
                base = sparse[d][i]
                jitter = 1 + 0.05 * rng.uniform(-1, 1, len(base.values)) if r else np.ones(len(base.values))
                points.append(ChunkPoint(
                    chunk_index=i, first_page=i // 3, last_page=(i + 1) // 3, start=0, end=len(chunks[i]), heading=None,
                    text=chunks[i], dense=noise[i],
                    sparse=SparseVector(indices=base.indices, values=[float(v * j) for v, j in zip(base.values, jitter,
                                                                                                  strict=True)]),
                    statements=("income",) if i % 40 == 0 else ()))
            index.upsert(f"r{r:03d}-{name}", points)
            names.add(f"r{r:03d}-{name}")
            written += n
    if engine == "edge" and hnsw:  # Folio searches Edge exactly; this measures the HNSW index it no longer builds
        import qdrant_edge as qe

        from folio.index.edge import shard_config

        storage = index.storage  # Folio's shards never index (indexing_threshold=0): reopened with Qdrant's default
        storage.shard.flush()
        storage.shard.close()
        qdrant_default = shard_config(DIM, indexing_threshold=10_000)  # KB of vectors, Qdrant's default
        storage.shard = qe.EdgeShard.load(str(storage.shard_path), qdrant_default)
        storage.shard.optimize()
        storage.shard.flush()
    build_s = time.perf_counter() - t0
    index.qdrant.close()
    return {"chunks": written, "documents": len(names), "fsync_per_point": engine == "local" and not fast_local,
            "build_s": round(build_s, 1), "chunks_per_s": round(written / build_s), "peak_rss_mb": round(rss_mb()),
            "disk_mb": round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20)}


def search(engine: str, path: Path, total: int, queries: int) -> dict[str, Any]:
    from folio.index.sparse import SparseVector, idf, query_vector

    docs, dense, sparse, rounds = corpus(total)
    rng = np.random.default_rng(13)
    t0 = time.perf_counter()
    index = open_engine(engine, path)
    index.warm()
    open_s = time.perf_counter() - t0
    all_ids = sorted(index.documents())
    index.search(dense=dense[0][0], sparse=sparse[0][0], doc_ids=all_ids, limit=10)  # ready: one search answered
    startup_s = time.perf_counter() - t0
    chunks_total = index.count()
    df: dict[int, int] = {}
    for vecs in sparse:
        for v in vecs:
            for t in v.indices:
                df[t] = df.get(t, 0) + 1
    n_base = sum(len(v) for v in sparse)
    results: dict[str, Any] = {}
    tops: dict[str, list[list[str]]] = {}
    for scope in ("one", "all"):
        for mode in MODES:
            lat, top = [], []
            for q in range(queries):
                d = int(rng.integers(len(docs)))
                i = int(rng.integers(len(docs[d][1])))
                words = docs[d][1][i].split()
                start = int(rng.integers(max(1, len(words) - 8)))
                sq = query_vector(" ".join(words[start:start + 8]))
                sq = SparseVector(indices=sq.indices, values=[idf(n_base, df.get(t, 0)) for t in sq.indices])
                dq = dense[d][i] + 0.3 * rng.normal(size=DIM).astype(np.float32) / np.sqrt(DIM)
                ids = [f"r{int(rng.integers(rounds)) if q % 2 else 0:03d}-{docs[d][0]}"] if scope == "one" else all_ids
                t = time.perf_counter()
                hits = index.search(dense=dq, sparse=sq, doc_ids=ids, limit=10, mode=mode)
                lat.append((time.perf_counter() - t) * 1000)
                top.append([f"{h.doc_id}:{h.chunk_index}" for h in hits])
            results[f"{scope}/{mode}"] = {"p50_ms": round(float(np.percentile(lat, 50)), 2),
                                          "p99_ms": round(float(np.percentile(lat, 99)), 2)}
            tops[f"{scope}/{mode}"] = top
    index.qdrant.close()
    return {"open_s": round(open_s, 2), "startup_s": round(startup_s, 2), "chunks": chunks_total,
            "documents": len(all_ids), "latency": results, "peak_rss_mb": round(rss_mb()), "tops": tops}


def child(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["stderr_lines"] = [line for line in done.stderr.splitlines() if line.strip()][:10]
    return dict(out)


def compact(path: Path) -> dict[str, Any]:
    """Delete every fourth document, then reopen and compact (Edge): what ``folio compact`` does and costs."""
    import threading

    index = open_engine("edge", path)
    documents = sorted(index.documents())
    before = index.count()
    for doc_id in documents[::4]:
        index.delete(doc_id)
    deleted = before - index.count()
    index.qdrant.close()
    t0 = time.perf_counter()
    index = open_engine("edge", path)
    index.warm()
    reopen_s = time.perf_counter() - t0
    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    ticker = threading.Thread(target=tick)
    ticker.start()
    t0 = time.perf_counter()
    disk_before, disk_after = index.compact()
    compact_s = time.perf_counter() - t0
    stop.set()
    ticker.join()
    return {"deleted": deleted, "kept": before - deleted, "reopen_s": round(reopen_s, 2),
            "compact_s": round(compact_s, 2), "lock_held_s": round(float(np.diff(ticks).max()), 2),
            "segments_mb_before": round(disk_before / 2**20), "segments_mb_after": round(disk_after / 2**20)}


def agreement(a: list[list[str]], b: list[list[str]]) -> float:
    pairs = [(len(set(x) & set(y)) / max(1, len(x))) for x, y in zip(a, b, strict=True) if x or y]
    return round(float(np.mean(pairs)), 3) if pairs else 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", nargs="?", choices=["build", "search", "compact"])
    parser.add_argument("--engine", choices=["local", "edge"])
    parser.add_argument("--engines", default="local,edge")
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--hnsw", action="store_true",
                        help="build Edge's HNSW index after writing (as Folio did before 2026-12-03); Folio's Edge "
                             "searches exactly")
    parser.add_argument("--local-fsync", action="store_true",
                        help="build the local index as Folio writes it (SQLite commit per point; slow)")
    args = parser.parse_args()
    if args.phase:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.phase == "build":
                out = build(args.engine, args.dir, args.chunks, not args.local_fsync, args.hnsw)
            elif args.phase == "compact":
                out = compact(args.dir)
            else:
                out = search(args.engine, args.dir, args.chunks, args.queries)
        out["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
        print(json.dumps(out))
        return
    report: dict[str, Any] = {"command": " ".join(sys.argv), "chunks": args.chunks, "queries": args.queries,
                              "engines": {}}
    for engine in args.engines.split(","):
        where = Path(tempfile.mkdtemp(prefix=f"scale-{engine}-"))
        try:
            built = child(["build", "--engine", engine, "--dir", str(where), "--chunks", str(args.chunks)]
                          + (["--local-fsync"] if args.local_fsync else []) + (["--hnsw"] if args.hnsw else []))
            print(engine, "build", json.dumps(built), flush=True)
            searched = child(["search", "--engine", engine, "--dir", str(where), "--chunks", str(args.chunks),
                              "--queries", str(args.queries)])
            print(engine, "search", json.dumps({k: v for k, v in searched.items() if k != "tops"}), flush=True)
            compacted = child(["compact", "--engine", engine, "--dir", str(where)]) if engine == "edge" else None
            if compacted:
                print(engine, "compact", json.dumps(compacted), flush=True)
        finally:
            shutil.rmtree(where, ignore_errors=True)
        report["engines"][engine] = {"build": built, "search": searched, "compact": compacted}
    engines = list(report["engines"])
    if len(engines) == 2:
        a, b = (report["engines"][e]["search"]["tops"] for e in engines)
        report["top10_agreement"] = {k: agreement(a[k], b[k]) for k in a}
    for e in engines:
        report["engines"][e]["search"].pop("tops")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
        args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Embedded index at {report['chunks']:,} chunks", "", f"`{report['command']}`", "",
             "| engine | build s | chunks/s | build RSS MB | disk MB | open s | start-up s | search RSS MB "
             "| warnings |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e, r in report["engines"].items():
        b, s = r["build"], r["search"]
        lines.append(f"| {e} | {b['build_s']} | {b['chunks_per_s']} | {b['peak_rss_mb']} | {b['disk_mb']} | "
                     f"{s['open_s']} | {s['startup_s']} | {s['peak_rss_mb']} | "
                     f"{len(b['warnings']) + len(s['warnings'])} |")
    lines += ["", "Search latency, ms (p50 / p99), top 10:", "",
              "| scope/mode | " + " | ".join(report["engines"]) + " | top-10 agreement |",
              "|---|" + "---|" * (len(report["engines"]) + 1)]
    keys = next(iter(report["engines"].values()))["search"]["latency"]
    for k in keys:
        cells = [f"{r['search']['latency'][k]['p50_ms']} / {r['search']['latency'][k]['p99_ms']}"
                 for r in report["engines"].values()]
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {report.get('top10_agreement', {}).get(k, '')} |")
    for e, r in report["engines"].items():
        c = r.get("compact")
        if c:
            lines += ["", f"{e}, a quarter of the documents deleted ({c['deleted']:,} chunks; {c['kept']:,} kept): "
                      f"reopened in {c['reopen_s']} s; `folio compact` took {c['compact_s']} s (another thread "
                      f"waited up to {c['lock_held_s']} s for the interpreter lock), segments "
                      f"{c['segments_mb_before']} -> {c['segments_mb_after']} MB on disk."]
    for e, r in report["engines"].items():
        for w in r["build"]["warnings"] + r["search"]["warnings"]:
            lines.append(f"\n{e} warning: {w}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
