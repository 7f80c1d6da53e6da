"""fp32 versus bf16 embeddings: encode throughput, page-level recall@5 and how far the vectors move.

Ingests the same cuad-dev subset twice with Folio's Ingestor, ``Settings(embed_dtype='fp32')`` and
``Settings(embed_dtype='bf16')``, each into its own temp data dir in its own fresh child process, and
reports for each: encode throughput (chunks per second spent inside the embedder's ``embed``), the whole
ingest's wall time, and page-level recall@5 (hybrid and dense; queries embedded in the same dtype).
Then the mean (and minimum) cosine between the two vectors each chunk got.

On a CPU without native bf16 (no AVX512-BF16 / AMX) bf16 is emulated and slower; this reports what it
measures.

    .venv/bin/python bench/embed_dtype.py --docs 4
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from benchlib import (
    command_line,
    default_data_root,
    fmt,
    headline_recall,
    load_questions,
    machine_info,
    offline_env,
    results_dir,
    run_child,
    select_docs,
)

DTYPES = ("fp32", "bf16")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--docs", type=int, default=6,
                       help="the N smallest cuad-dev contracts by page count (default 6)")
    group.add_argument("--all", action="store_true", help="all 20 cuad-dev contracts")
    ap.add_argument("--data-root", type=Path, default=None,
                    help="folder holding cuad-dev/ (default ../shared/data or $FOLIO_BENCH_DATA)")
    ap.add_argument("--out-dir", type=Path, default=None, help="where the reports go (default bench/results)")
    ap.add_argument("--tag", default="", help="suffix for the report file names")
    return ap.parse_args(argv)


def read_vectors(data_dir: Path) -> dict[str, np.ndarray]:
    """Every chunk's dense vector from a local Folio store, by point id."""
    from qdrant_client import QdrantClient

    from folio.index.schema import DENSE

    client = QdrantClient(path=str(data_dir / "qdrant"))
    out: dict[str, np.ndarray] = {}
    try:
        offset = None
        while True:
            points, offset = client.scroll("folio_chunks", limit=256, offset=offset, with_payload=False,
                                           with_vectors=[DENSE])
            for p in points:
                vec = p.vector[DENSE] if isinstance(p.vector, dict) else p.vector
                out[str(p.id)] = np.asarray(vec, dtype=np.float32)
            if offset is None:
                break
    finally:
        client.close()
    return out


def cosine_stats(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, Any]:
    common = sorted(set(a) & set(b))
    if not common:
        return {"n": 0}
    x = np.stack([a[k] for k in common])
    y = np.stack([b[k] for k in common])
    cos = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
    return {"n": len(common), "only_in_fp32": len(set(a) - set(b)), "only_in_bf16": len(set(b) - set(a)),
            "mean": round(float(cos.mean()), 6), "min": round(float(cos.min()), 6),
            "p01": round(float(np.quantile(cos, 0.01)), 6)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    offline_env()
    root = args.data_root or default_data_root()
    docs = select_docs("cuad", root, None if args.all else args.docs)
    names = {p.name for p, _ in docs}
    questions = [q for q in load_questions("cuad", root) if q.file in names]
    print(f"cuad: {len(docs)} PDFs, {sum(c for _, c in docs)} pages, {len(questions)} questions", flush=True)
    info = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="folio-dtype-"))
    base = {"files": [str(p) for p, _ in docs], "questions": [q.__dict__ for q in questions], "k": 5,
            "modes": ["hybrid", "dense"]}
    runs: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    try:
        for dtype in DTYPES:
            data_dir = tmp / dtype
            data_dir.mkdir()
            print(f"ingesting with embed_dtype={dtype} ...", flush=True)
            runs[dtype] = run_child({**base, "kind": "ours", "data_dir": str(data_dir), "tag": dtype,
                                     "settings": {"embed_dtype": dtype}}, tmp)
            r = runs[dtype]
            print(f"  {r['chunks']} chunks, encode {r['encode_chunks_per_s']} chunks/s, "
                  f"ingest {r['seconds']:.1f}s", flush=True)
        cosine = cosine_stats(read_vectors(tmp / "fp32"), read_vectors(tmp / "bf16"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    report = {
        "benchmark": "embed-dtype",
        "date": date.today().isoformat(),
        "command": command_line(),
        "set": "cuad",
        "selection": "all cuad-dev PDFs" if args.all else
        f"the {args.docs} smallest cuad-dev PDFs by page count (ties by name)",
        "documents": [{"file": p.name, "pages": c} for p, c in docs],
        "questions": len(questions),
        "questions_nontrivial": sum(1 for q in questions if not q.trivial),
        "machine": info,
        "total_wall_s": round(time.perf_counter() - started, 1),
        "cosine_fp32_vs_bf16": cosine,
        "runs": runs,
    }
    out_dir = args.out_dir or results_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"embed-dtype-{date.today().isoformat()}{'-' + args.tag if args.tag else ''}"
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / f"{stem}.md").write_text(render_markdown(report) + "\n")
    print(render_markdown(report))
    print(f"\nwrote {out_dir / stem}.json and .md")
    return 0


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    c = report["cosine_fp32_vs_bf16"]
    lines = [
        f"# Embedding dtype: fp32 vs bf16 on cuad-dev ({report['date']})",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {m['cpu_model']}, {m['cpu_count']} cores, native bf16: {m['cpu_bf16_native']} "
        f"(without it bf16 is emulated); torch {m['versions']['torch']}; Folio commit {m['folio']['commit']}"
        + (f", uncommitted changes in {', '.join(m['folio']['ingest_uncommitted'])}"
           if m["folio"]["ingest_uncommitted"] else "") + ".",
        "",
        f"Documents: {report['selection']}: "
        + "; ".join(f"{d['file']} ({d['pages']} p.)" for d in report["documents"])
        + f". Questions: {report['questions']} ({report['questions_nontrivial']} non-trivial).",
        "",
        "| embed_dtype | chunks | encode chunks/s | encode s | ingest s | recall@5 hybrid | recall@5 dense "
        "| hybrid (all categories) | dense (all categories) | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for dtype, r in report["runs"].items():
        rec = r["recall"]
        lines.append(
            f"| {dtype} | {r['chunks']} | {fmt(r['encode_chunks_per_s'], 1)} | "
            f"{r['breakdown_s']['dense_encode_s']:.1f} | {r['seconds']:.1f} | "
            f"{fmt(headline_recall(rec['hybrid']))} | {fmt(headline_recall(rec['dense']))} | "
            f"{fmt(rec['hybrid']['recall'])} | {fmt(rec['dense']['recall'])} | {r['peak_rss_mb']:.0f} |")
    lines += [
        "",
        f"Cosine between the fp32 and the bf16 vector of the same chunk, over {c.get('n', 0)} chunks: "
        f"mean {fmt(c.get('mean'), 6)}, 1st percentile {fmt(c.get('p01'), 6)}, min {fmt(c.get('min'), 6)}.",
        "",
        "recall@5 is page-level: a question is a hit when one of its top-5 chunks (searched within its own "
        "contract) spans a gold evidence page; the headline columns leave out the trivial categories "
        "(Document Name, Parties, Agreement Date, Effective Date). Encode chunks/s counts only the time "
        "inside the embedder's `embed`; ingest s is `Store.open` + `Ingestor.run`, model load included.",
        "",
        f"Timings are noisy on this shared {m['cpu_count']}-core machine (load average at start "
        f"{m['load_avg_at_start'][0]:.2f}; CPU-seconds other processes used during each ingest: "
        + ", ".join(f"{d} {r['cpu']['others_cpu_s']:.0f}" for d, r in report["runs"].items())
        + f"). Whole run: {report['total_wall_s']:.0f} s.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
