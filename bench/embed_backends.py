"""The encoder alone, torch fp32 beside ONNX Runtime int8, on the same chunks of real documents, and whether their
vectors can be mixed (an index written by one backend, searched with the other's query vectors).

On the N smallest PDFs of a set that have questions: parse + chunk each with Folio's own ``prepare`` (timed, CPU
seconds, so the parse share of ingestion shows beside the encode), then encode every chunk with both backends in
alternating blocks of 64 (so a change in the shared machine's load hits both alike), then:

- chunks/s and CPU seconds per chunk of each backend, and their ratio;
- the cosine between the two backends' vectors of each chunk and each question;
- dense page-level recall@5 (plain top-5 chunks within the question's document, brute-force cosine) for the
  four mixes of index backend x query backend.

    .venv/bin/python bench/embed_backends.py --set cuad --docs 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    command_line,
    default_data_root,
    load_questions,
    machine_info,
    offline_env,
    page_hit,
    results_dir,
    select_docs,
)

BLOCK = 64


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", dest="set_name", choices=("financebench", "cuad"), default="cuad")
    ap.add_argument("--docs", type=int, default=5, help="the N smallest PDFs that have a question (default 5)")
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    offline_env()
    from folio.config import Settings
    from folio.ingest.embed import SentenceTransformerEmbedder, load_embedder
    from folio.ingest.prepare import ChunkParams, prepare

    root = args.data_root or default_data_root()
    docs = select_docs(args.set_name, root, args.docs)
    files = {p.name for p, _ in docs}
    questions = [q for q in load_questions(args.set_name, root) if q.file in files]
    settings = Settings()
    params = ChunkParams(settings.embed_model, settings.chunk_tokens, settings.chunk_overlap, settings.heading_tokens)
    chunks: dict[str, list[Any]] = {}
    parse_cpu = 0.0
    pages = sum(n for _, n in docs)
    for path, _ in docs:
        t = time.process_time()
        chunks[path.name] = prepare(path.name, path.read_bytes(), params).chunks
        parse_cpu += time.process_time() - t
    texts = [c.embed_text for name in sorted(chunks) for c in chunks[name]]
    print(f"{len(docs)} docs, {pages} pages, {len(texts)} chunks, {len(questions)} questions", flush=True)

    torch = SentenceTransformerEmbedder(settings.embed_model, dtype="fp32")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        onnx = load_embedder(settings.embed_model, backend="onnx", cache_dir=Path(tmp))
        export_s = time.perf_counter() - t
        backends = {"torch-fp32": torch, "onnx-int8": onnx}
        wall = dict.fromkeys(backends, 0.0)
        cpu = dict.fromkeys(backends, 0.0)
        vectors: dict[str, list[np.ndarray]] = {b: [] for b in backends}
        for i, start in enumerate(range(0, len(texts), BLOCK)):
            order = list(backends) if i % 2 == 0 else list(backends)[::-1]
            for name in order:
                t, c = time.perf_counter(), time.process_time()
                vectors[name].append(backends[name].embed(texts[start:start + BLOCK]))
                wall[name] += time.perf_counter() - t
                cpu[name] += time.process_time() - c
        chunk_vecs = {b: np.concatenate(v) for b, v in vectors.items()}
        query_vecs = {b: np.stack([e.embed_query(q.text) for q in questions]) for b, e in backends.items()}

    cos_chunks = np.sum(chunk_vecs["torch-fp32"] * chunk_vecs["onnx-int8"], axis=1)
    cos_queries = np.sum(query_vecs["torch-fp32"] * query_vecs["onnx-int8"], axis=1)
    offsets, start = {}, 0
    for name in sorted(chunks):
        offsets[name] = (start, start + len(chunks[name]))
        start += len(chunks[name])
    mixes: dict[str, Any] = {}
    for index_b in backends:
        for query_b in backends:
            hits = []
            for qi, q in enumerate(questions):
                lo, hi = offsets[q.file]
                scores = chunk_vecs[index_b][lo:hi] @ query_vecs[query_b][qi]
                top = np.argsort(-scores)[:5]
                spans = [(chunks[q.file][j].first_page, chunks[q.file][j].last_page) for j in top]
                hits.append((q, page_hit(q.pages, spans)))
            hard = [h for q, h in hits if not q.trivial]
            mixes[f"index {index_b} / query {query_b}"] = {
                "recall@5": round(sum(h for _, h in hits) / len(hits), 4),
                "recall@5_nontrivial": round(sum(hard) / len(hard), 4) if hard else None}
    result = {
        "set": args.set_name, "docs": [p.name for p, _ in docs], "pages": pages, "chunks": len(texts),
        "questions": len(questions), "parse_chunk_cpu_s": round(parse_cpu, 2),
        "parse_cpu_s_per_page": round(parse_cpu / pages, 4), "onnx_export_s": round(export_s, 1),
        "encode": {b: {"wall_s": round(wall[b], 2), "cpu_s": round(cpu[b], 2),
                       "chunks_per_s": round(len(texts) / wall[b], 2),
                       "cpu_s_per_chunk": round(cpu[b] / len(texts), 4)} for b in backends},
        "speedup_wall": round(wall["torch-fp32"] / wall["onnx-int8"], 3),
        "speedup_cpu": round(cpu["torch-fp32"] / cpu["onnx-int8"], 3),
        "cosine_chunks": {"mean": round(float(cos_chunks.mean()), 5), "min": round(float(cos_chunks.min()), 5),
                          "p1": round(float(np.percentile(cos_chunks, 1)), 5)},
        "cosine_queries": {"mean": round(float(cos_queries.mean()), 5), "min": round(float(cos_queries.min()), 5)},
        "recall_dense_plain_top5": mixes, "command": command_line(), "machine": machine_info(),
    }
    stem = f"embed-backends-{args.set_name}-{date.today().isoformat()}{('-' + args.tag) if args.tag else ''}"
    out = results_dir()
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (out / f"{stem}.md").write_text(report(result))
    print(report(result))
    return 0


def report(r: dict[str, Any]) -> str:
    e = r["encode"]
    lines = [
        f"# Encoder backends side by side: {r['set']}-dev, {len(r['docs'])} smallest PDFs with questions",
        "",
        f"`{r['command']}` on {r['machine']['cpu_model']}, {r['machine']['cpus_usable']} usable cores, load average "
        f"at start {r['machine']['load_avg_at_start']} (the machine is shared: read the ratios, not the rates).",
        "",
        f"{r['pages']} pages, {r['chunks']} chunks, {r['questions']} questions. Parse + chunk (Folio's `prepare`, "
        f"pypdf): {r['parse_chunk_cpu_s']} CPU-s, {r['parse_cpu_s_per_page']} CPU-s a page. ONNX export + "
        f"self-check on first use: {r['onnx_export_s']} s.",
        "",
        "| encoder alone, same chunks | wall s | chunks/s | CPU-s | CPU-s a chunk |",
        "|---|---|---|---|---|",
    ]
    for b, v in e.items():
        lines.append(f"| {b} | {v['wall_s']} | {v['chunks_per_s']} | {v['cpu_s']} | {v['cpu_s_per_chunk']} |")
    lines += [
        "",
        f"int8 / fp32 speed: **{r['speedup_wall']}x** wall, {r['speedup_cpu']}x CPU time (alternating blocks of "
        f"{BLOCK} chunks).",
        "",
        f"Cosine between the two backends' vectors: chunks mean {r['cosine_chunks']['mean']}, 1st percentile "
        f"{r['cosine_chunks']['p1']}, min {r['cosine_chunks']['min']}; questions mean "
        f"{r['cosine_queries']['mean']}, min {r['cosine_queries']['min']}.",
        "",
        "| dense page-level recall@5 (plain top 5 within the question's document) | all | non-trivial |",
        "|---|---|---|",
    ]
    for mix, v in r["recall_dense_plain_top5"].items():
        lines.append(f"| {mix} | {v['recall@5']} | {v['recall@5_nontrivial']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
