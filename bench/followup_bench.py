"""Follow-up questions: what retrieval finds for them, by the query it searches with.

Over the pairs of ``bench/data/followups.jsonl`` (a standalone first question, then a follow-up over the same
document; see ``bench/data/check_followups.py``), the documents each set uses are ingested with Folio's own
``Ingestor`` (``folio.evaluation.indexes.build_index``: default chunking, the bundled all-MiniLM-L6-v2) into a
temporary data dir, one per set. Then, for each pair, page-level recall@1/3/5 of the FOLLOW-UP with retrieval
scoped to the pair's document, through the function the service's planner calls (``folio.retrieval.search.search``,
hybrid, page-diverse, one search per k as ``folio eval`` does), under four queries:

- ``alone``: the follow-up as typed;
- ``folio``: what Folio searches without a model: ``expanded_query(followup, [first])`` when
  ``leans_on_history(followup).leans``, else the follow-up;
- ``always_expanded``: ``expanded_query(followup, [first])`` whatever the detector says;
- ``oracle``: the hand-written standalone rewrite, an upper bound for a model's rewrite.

A hit: any of the top k chunks spans a gold page. The main table is over the real follow-ups; the pairs whose
follow-up already names its subject (``standalone_already``) are reported apart, as the no-rewrite path. The report
also scores ``leans_on_history`` as a detector: real follow-ups should lean, standalone ones should not (and, as
extra negatives, the pairs' first questions and the data sets' own questions, all of which stand alone).

    .venv/bin/python bench/followup_bench.py                      # both sets (12 min wall on 2 busy cores)
    .venv/bin/python bench/followup_bench.py --sets cuad-dev --tag cuad
    .venv/bin/python bench/followup_bench.py --embed-cache bench/.cache/followup/embeddings.sqlite  # reruns

Writes ``bench/results/followup-<date>[-<tag>].md`` and ``.json``. Runs offline: no model is downloaded.

Kept import-light at the top: the ingestion's parser worker starts with ``spawn`` and re-imports this module.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (REPO, HERE, HERE / "data"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchlib import command_line, default_data_root, fmt, machine_info, offline_env, page_hit  # noqa: E402
from check_followups import DEFAULT_FILE, KNOWN_SETS, Pair, check, load_pairs, pdf_path  # noqa: E402

EMBED_MODEL = "all-MiniLM-L6-v2"
KS = (1, 3, 5)
STRATEGIES = ("alone", "folio", "always_expanded", "oracle")
STRATEGY_NOTES = {
    "alone": "the follow-up as typed",
    "folio": "expanded_query(follow-up, [first]) when leans_on_history says it leans, else the follow-up",
    "always_expanded": "expanded_query(follow-up, [first]) always",
    "oracle": "the hand-written standalone rewrite (upper bound for a model rewrite)",
}
SET_QUESTION_FILES = {"cuad-dev": ("question", "question_in_corpus"), "financebench-dev": ("question",)}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- queries and the detector ------------------------------------------------------------------------------


def queries(pair: Pair) -> dict[str, str]:
    """The query each strategy searches with for ``pair``'s follow-up."""
    from folio.service.followup import expanded_query, leans_on_history

    expanded = expanded_query(pair.followup, [pair.first])
    leans = leans_on_history(pair.followup).leans
    return {"alone": pair.followup, "folio": expanded if leans else pair.followup, "always_expanded": expanded,
            "oracle": pair.standalone}


@dataclass(frozen=True)
class Judged:
    text: str
    leans: bool
    cues: tuple[str, ...]


def judge(texts: Sequence[str]) -> list[Judged]:
    from folio.service.followup import leans_on_history

    out = []
    for text in texts:
        verdict = leans_on_history(text)
        out.append(Judged(text=text, leans=verdict.leans, cues=verdict.cues))
    return out


def confusion(positives: Sequence[Judged], negatives: Sequence[Judged]) -> dict[str, Any]:
    """``leans`` as a detector of follow-ups: positives should lean, negatives should not."""
    tp = sum(j.leans for j in positives)
    fp = sum(j.leans for j in negatives)
    fn = len(positives) - tp
    tn = len(negatives) - fp
    return {"tp": tp, "fn": fn, "fp": fp, "tn": tn,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "false_positive_rate": round(fp / (fp + tn), 4) if fp + tn else None}


def dataset_questions(root: Path, set_names: Sequence[str]) -> dict[str, list[str]]:
    """The sets' own questions (each asked on its own, so none leans on a history), per set and field."""
    out: dict[str, list[str]] = {}
    for set_name in set_names:
        path = root / set_name / "questions.jsonl"
        if not path.exists():
            continue
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for field in SET_QUESTION_FILES.get(set_name, ("question",)):
            out[f"{set_name} {field}"] = [str(r[field]) for r in records if r.get(field)]
    return out


def detector_report(pairs: Sequence[Pair], root: Path) -> dict[str, Any]:
    followups = [p for p in pairs if not p.standalone_already]
    standalone = [p for p in pairs if p.standalone_already]
    pos = judge([p.followup for p in followups])
    neg = judge([p.followup for p in standalone])
    report: dict[str, Any] = {
        "pairs": confusion(pos, neg),
        "missed_followups": [{"id": p.id, "followup": p.followup} for p, j in zip(followups, pos, strict=True)
                             if not j.leans],
        "standalone_flagged": [{"id": p.id, "followup": p.followup, "cues": list(j.cues)}
                               for p, j in zip(standalone, neg, strict=True) if j.leans],
        "caught_followups_cues": {p.id: list(j.cues) for p, j in zip(followups, pos, strict=True) if j.leans},
    }
    extra: dict[str, Any] = {}
    firsts = judge([p.first for p in pairs])
    extra["first questions of the pairs"] = _negatives(firsts)
    for name, texts in dataset_questions(root, sorted({p.set for p in pairs})).items():
        extra[name] = _negatives(judge(texts))
    report["extra_negatives"] = extra
    return report


def _negatives(judged: Sequence[Judged]) -> dict[str, Any]:
    flagged = [j for j in judged if j.leans]
    return {"n": len(judged), "flagged": len(flagged),
            "rate": round(len(flagged) / len(judged), 4) if judged else None,
            "examples": [{"text": j.text, "cues": list(j.cues)} for j in flagged[:8]]}


# -- index and retrieval -----------------------------------------------------------------------------------


def ingest_and_search(set_name: str, pairs: Sequence[Pair], root: Path, tmp: Path, embed_cache: Path | None,
                      workers: int) -> dict[str, Any]:
    """Ingest the set's documents into a fresh data dir, then search every pair under every strategy."""
    from folio.evaluation.embed_cache import CachedEmbedder, EmbeddingCache
    from folio.evaluation.indexes import DEFAULT_CONFIG, build_index, index_dir
    from folio.ingest.embed import load_embedder
    from folio.ingest.store import Store
    from folio.retrieval.search import search

    docs = sorted({p.doc for p in pairs})
    paths = [pdf_path(root, set_name, d) for d in docs]
    cache_root = tmp / set_name
    settings = DEFAULT_CONFIG.settings(index_dir(cache_root, set_name, DEFAULT_CONFIG, EMBED_MODEL), EMBED_MODEL,
                                       workers)
    cache = EmbeddingCache(embed_cache or cache_root / "embeddings.sqlite")
    # one model for ingestion and queries, loaded as build_index would load it
    embedder = CachedEmbedder(EMBED_MODEL, cache, lambda: load_embedder(
        EMBED_MODEL, dtype=settings.embed_dtype, batch_size=settings.embed_batch_size))
    log(f"{set_name}: ingesting {len(paths)} PDFs into {settings.data_dir}")
    built = build_index(set_name, paths, DEFAULT_CONFIG, cache_root=cache_root, cache=cache, embed_model=EMBED_MODEL,
                        log=log, embedder=embedder, workers=workers)
    failed = [r.to_dict() for r in built.results if r.status == "failed"]
    if failed:
        raise SystemExit(f"ingestion failed: {failed}")
    log(f"{set_name}: {built.chunks:,} chunks in {built.seconds:.0f}s ({built.embedded:,} embedded now)")
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with Store.open(settings) as store:
        records = store.list_documents()
        pages = {r.id: r.n_pages for r in records}
        for pair in pairs:
            doc_id = built.ids[Path(pdf_path(root, set_name, pair.doc)).name]
            row: dict[str, Any] = {"id": pair.id, "set": set_name, "doc": pair.doc, "gold": list(pair.pages),
                                   "standalone_already": pair.standalone_already, "doc_pages": pages.get(doc_id),
                                   "queries": queries(pair), "hit": {}, "top": {}}
            for strategy, query in row["queries"].items():
                hits_at: dict[str, bool] = {}  # keyed by str(k), as the JSON has it
                for k in KS:
                    found = search(store, embedder, query, doc_ids=[doc_id], limit=k, records=records)
                    hits_at[str(k)] = page_hit(pair.pages, [(h.first_page, h.last_page) for h in found])
                    if k == 1:
                        row.setdefault("top1", {})[strategy] = [[h.first_page, h.last_page] for h in found]
                    if k == max(KS):
                        row["top"][strategy] = [[h.first_page, h.last_page] for h in found]
                row["hit"][strategy] = hits_at
            rows.append(row)
    cache.close()
    return {"set": set_name, "documents": len(docs), "chunks": built.chunks, "ingest_s": round(built.seconds, 1),
            "search_s": round(time.perf_counter() - started, 1), "embedded_now": built.embedded,
            "doc_pages": {d: pages.get(built.ids[Path(pdf_path(root, set_name, d)).name]) for d in docs},
            "rows": rows}


def _on_cover(row: dict[str, Any], strategy: str) -> bool:
    """Whether the strategy's top chunk starts on the document's first page while that page is not gold (the
    title page, where a contract names its parties and a filing its company)."""
    top = row.get("top1", {}).get(strategy) or []
    return bool(top) and top[0][0] == 0 and 0 not in row["gold"]


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows)}
    for strategy in STRATEGIES:
        out[strategy] = {str(k): round(sum(r["hit"][strategy][str(k)] for r in rows) / len(rows), 4) if rows
                         else None for k in KS}
        out[strategy][f"hits@{max(KS)}"] = sum(r["hit"][strategy][str(max(KS))] for r in rows)
        out[strategy]["top1_on_first_page"] = sum(_on_cover(r, strategy) for r in rows)
    return out


def summaries(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Recall per set and overall, for the real follow-ups and for the standalone ones apart."""
    out: dict[str, Any] = {}
    groups: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
        ("followups", lambda r: not r["standalone_already"]),
        ("standalone_already", lambda r: bool(r["standalone_already"])),
    ]
    for label, keep in groups:
        per: dict[str, Any] = {}
        every: list[dict[str, Any]] = []
        for res in results:
            rows = [r for r in res["rows"] if keep(r)]
            every += rows
            per[res["set"]] = summarize(rows)
        per["overall"] = summarize(every)
        out[label] = per
    return out


def leaning_split(results: Sequence[dict[str, Any]], detector: dict[str, Any]) -> dict[str, Any]:
    """Recall@5 of the real follow-ups, split by whether the detector caught them (where the strategies differ)."""
    missed = {m["id"] for m in detector["missed_followups"]}
    rows = [r for res in results for r in res["rows"] if not r["standalone_already"]]
    return {"caught": summarize([r for r in rows if r["id"] not in missed]),
            "missed": summarize([r for r in rows if r["id"] in missed])}


# -- report ------------------------------------------------------------------------------------------------


def _recall_cells(summary: dict[str, Any], strategy: str) -> str:
    cells = summary[strategy]
    return " / ".join(fmt(cells[str(k)]) for k in KS)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    sets = [r["set"] for r in report["sets"]]
    lines = [f"# Follow-up retrieval benchmark ({report['date']})", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu_model']}, {m['cpus_usable']} usable cores, {m['memory_gb']} GB RAM; Python "
             f"{m['python']}; Folio commit {m['folio']['commit']}. Wall time {report['wall_s']:.0f} s (1-minute load "
             f"average {m['load_avg_at_start'][0]:.1f} at the start"
             + (f", {report['load_avg_at_end'][0]:.1f} at the end" if report.get("load_avg_at_end") else "")
             + ": other processes share the 2 cores). Folio's default "
             f"settings (200-token chunks, {report['embed_model']}), OCR {report['ocr']}"
             + (" (no Tesseract here: pages without a text layer are not indexed)" if report["ocr"] == "off" else "")
             + ".", "",
             f"Pairs: `{report['pairs_file']}`, checked against the PDFs before the run. "
             + "; ".join(f"{r['set']}: {r['pairs']} pairs ({r['followups']} follow-ups, {r['standalone']} standalone "
                         f"already) over {r['documents']} documents, {r['chunks']:,} chunks, ingested in "
                         f"{r['ingest_s']:.0f} s" for r in report["sets"]) + ".", "",
             "Page-level recall of the follow-up, retrieval scoped to the pair's document (`folio.retrieval.search."
             "search`, hybrid, page-diverse; one search per k). A hit: a top-k chunk spans a gold page.", ""]
    for label, title in (("followups", "Real follow-ups"), ("standalone_already",
                                                            "Follow-ups that already name their subject")):
        block = report["recall"][label]
        lines += [f"## {title}: recall@1 / @3 / @5", "",
                  "| strategy | " + " | ".join(f"{s} (n={block[s]['n']})" for s in sets)
                  + f" | overall (n={block['overall']['n']}) |",
                  "|---|" + "---:|" * (len(sets) + 1)]
        for strategy in STRATEGIES:
            lines.append(f"| {strategy} | " + " | ".join(_recall_cells(block[s], strategy) for s in sets)
                         + f" | {_recall_cells(block['overall'], strategy)} |")
        lines.append("")
    lines += ["Strategies: " + "; ".join(f"`{s}`: {n}" for s, n in STRATEGY_NOTES.items()) + ".", ""]
    overall = report["recall"]["followups"]["overall"]
    lines += ["Real follow-ups whose top-1 chunk is on the document's first page (the title or parties page) "
              "although that page is not gold for them: "
              + ", ".join(f"{s} {overall[s]['top1_on_first_page']}" for s in STRATEGIES) + f" of {overall['n']}.", ""]
    split = report["recall_by_detector"]
    lines += ["Real follow-ups split by the detector's verdict (recall@5; `folio` equals `always_expanded` on the "
              "caught ones and `alone` on the missed ones):", "",
              "| follow-ups | n | alone | folio | always_expanded | oracle |", "|---|---:|---:|---:|---:|---:|"]
    for label in ("caught", "missed"):
        s = split[label]
        lines.append(f"| {label} by leans_on_history | {s['n']} | "
                     + " | ".join(fmt(s[st]["5"]) if s["n"] else "—" for st in STRATEGIES) + " |")
    det = report["detector"]
    c = det["pairs"]
    lines += ["", "## `leans_on_history` as a detector", "",
              "Positives: the real follow-ups (should lean); negatives: the follow-ups marked `standalone_already` "
              "(should not).", "",
              "| | says leans | says stands alone |", "|---|---:|---:|",
              f"| real follow-up | {c['tp']} (TP) | {c['fn']} (FN) |",
              f"| standalone already | {c['fp']} (FP) | {c['tn']} (TN) |", "",
              f"Precision {fmt(c['precision'])}, recall {fmt(c['recall'])}.", "",
              "Missed follow-ups (searched as typed by `folio`):", ""]
    lines += [f"- {m['id']}: \"{m['followup']}\"" for m in det["missed_followups"]] or ["- none"]
    lines += ["", "Standalone follow-ups flagged as leaning (expanded by `folio`):", ""]
    lines += [f"- {m['id']}: \"{m['followup']}\" (cues: {', '.join(m['cues'])})"
              for m in det["standalone_flagged"]] or ["- none"]
    lines += ["", "Extra negatives (questions asked on their own; every flag is a false positive):", "",
              "| questions | n | flagged as leaning | rate |", "|---|---:|---:|---:|"]
    for name, e in det["extra_negatives"].items():
        lines.append(f"| {name} | {e['n']} | {e['flagged']} | {fmt(e['rate'])} |")
    examples = [(name, x) for name, e in det["extra_negatives"].items() for x in e["examples"][:4]]
    if examples:
        lines += ["", "Examples of flagged standalone questions:", ""]
        lines += [f"- ({name}) \"{x['text']}\" (cues: {', '.join(x['cues'])})" for name, x in examples]
    lines += ["", "## Per pair (hit@5 per strategy)", "",
              "| id | set | gold pages | leans | alone | folio | always_expanded | oracle |",
              "|---|---|---|---|---|---|---|---|"]
    missed = {x["id"] for x in det["missed_followups"]}
    flagged = {x["id"] for x in det["standalone_flagged"]}
    for res in report["sets"]:
        for r in res["rows"]:
            leans = (r["id"] in flagged) if r["standalone_already"] else (r["id"] not in missed)
            kind = "standalone" if r["standalone_already"] else "follow-up"
            lines.append(f"| {r['id']} | {r['set']} | {r['gold']} | {'yes' if leans else 'no'} ({kind}) | "
                         + " | ".join("hit" if r["hit"][s][str(max(KS))] else "miss" for s in STRATEGIES) + " |")
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--data", type=Path, default=None, help="data root (default ../shared/data)")
    parser.add_argument("--sets", default=",".join(KNOWN_SETS), help="comma-separated: cuad-dev,financebench-dev")
    parser.add_argument("--embed-cache", type=Path, default=None,
                        help="SQLite embedding cache to reuse across runs (default: a temporary one)")
    parser.add_argument("--workers", type=int, default=1, help="parser processes ahead of the embedder (0: inline)")
    parser.add_argument("--ocr", choices=("auto", "off"), default=None,
                        help="Folio's OCR setting (default: auto when tesseract is on PATH, else off: text layers "
                        "only, as FOLIO_OCR=off)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    offline_env()
    ocr = args.ocr or ("auto" if shutil.which("tesseract") else "off")
    os.environ["FOLIO_OCR"] = ocr  # read by Folio's Settings, in this process and the parser worker
    started = time.perf_counter()
    root = args.data or default_data_root()
    wanted = [s.strip() for s in args.sets.split(",") if s.strip()]
    pairs = [p for p in load_pairs(args.pairs) if p.set in wanted]
    if not pairs:
        raise SystemExit("no pairs for the chosen sets")
    problems = check(pairs, root)
    if problems:
        for pair_id, found in problems.items():
            log(f"FAIL {pair_id}: {'; '.join(found)}")
        return 1
    machine = machine_info()
    results = []
    with tempfile.TemporaryDirectory(prefix="folio-followup-") as tmp:
        for set_name in wanted:
            own = [p for p in pairs if p.set == set_name]
            if own:
                results.append(ingest_and_search(set_name, own, root, Path(tmp), args.embed_cache, args.workers))
    detector = detector_report(pairs, root)
    for res in results:
        own = [p for p in pairs if p.set == res["set"]]
        res["pairs"] = len(own)
        res["followups"] = sum(not p.standalone_already for p in own)
        res["standalone"] = sum(p.standalone_already for p in own)
    report = {
        "date": dt.date.today().isoformat(), "command": command_line(), "machine": machine,
        "pairs_file": str(args.pairs.resolve().relative_to(REPO)) if args.pairs.resolve().is_relative_to(REPO)
        else str(args.pairs),
        "embed_model": EMBED_MODEL, "ocr": ocr, "ks": list(KS), "strategies": STRATEGY_NOTES,
        "recall": summaries(results), "recall_by_detector": leaning_split(results, detector), "detector": detector,
        "sets": results, "wall_s": round(time.perf_counter() - started, 1), "load_avg_at_end": list(os.getloadavg()),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"followup-{report['date']}" + (f"-{args.tag}" if args.tag else "")
    (args.out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out_dir / f"{stem}.md").write_text(text)
    print(text)
    log(f"wrote {args.out_dir / stem}.md / .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
