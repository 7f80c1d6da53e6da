"""The coverage route (issue 9) on real collections larger than one context, against the provider double.

Two measurements, written to ``bench/results/coverage-<set>-<date>[-<tag>].json`` and ``.md``:

1. Evidence coverage and dollars, per question, with every indexed document of the set as the scope, for
   - rag: the top-k chunks hybrid retrieval sends (page-level evidence hit: a chunk spans a gold page);
   - full over the most relevant whole documents that fit the 1M-token window (Folio's fallback);
   - coverage over every window, and coverage cut to a budget (default ``FOLIO_MAX_COST_USD``'s $0.25), which
     reads the windows with the best retrieval hits first.
   Evidence is financebench's gold pages (0-based) or, for sec10q (document-level evidence only), the documents a
   question names. Dollars are the planner's token estimates priced under the seed's prices and DeepSeek's own,
   cold (nothing cached: full and coverage warm up first) and cached (every prefix in the provider's cache).
   No model call: ``Answerer.plan`` only.
2. End to end over the provider double (DeepSeek's prefix-cache rules, 64-token units, 1M-token window): the
   first questions run coverage over the whole set. The first is cold (each window warmed up, then asked), the
   next ones should hit the cache window by window. Reported per question: windows, pages read, hit tokens per
   window, the bill (both price profiles), the planner's estimate beside it, wall time.

The index is built with ``embed_model='hash-384'`` (as ``service_bench.py``): dense ranking is meaningless with hash
vectors, BM25 is real, so rag's evidence hits here are BM25-driven and a lower bound on what the bundled model
retrieves. Coverage's and full's evidence coverage do not depend on retrieval except for the budget cut's order
and full's choice of documents.

    .venv/bin/python bench/coverage_bench.py --data-dir /tmp/folio-fb-hash40           # financebench-dev, reuse index
    .venv/bin/python bench/coverage_bench.py --set sec10q --data-dir /tmp/folio-sec10q  # builds it the first time
    .venv/bin/python bench/coverage_bench.py --questions 10 --runs 2                    # a quicker subset
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SETS = {"financebench": "financebench-dev", "sec10q": "sec10q"}
HASH_DIM = 384
EXHAUSTIVE = {
    "financebench": ["List every company in these filings that reports a goodwill impairment charge.",
                     "Which of these filings disclose a share repurchase program, and how large is each?",
                     "List all dividends per share declared across these filings."],
    "sec10q": ["List every legal proceeding disclosed in these filings.",
               "Which of these filings report a share repurchase program, and how large is each?",
               "List all risk factors related to supply chain disruption across these filings."],
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Question:
    id: str
    text: str
    evidence: dict[str, set[int] | None]  # PDF stem -> gold pages (0-based); None: document-level evidence


def load_questions(set_name: str, root: Path, multi_doc_only: bool) -> list[Question]:
    out = []
    for line in (root / SETS[set_name] / "questions.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if set_name == "financebench":
            pages: dict[str, set[int] | None] = {}
            for e in rec["evidence"]:
                page_set = pages.setdefault(e.get("doc", rec["doc"]), set())
                assert page_set is not None
                page_set.add(int(e["page"]))
            out.append(Question(rec["id"], rec["question"], pages))
        else:
            if multi_doc_only and len(rec["docs"]) < 2:
                continue
            out.append(Question(rec["id"], rec["question"], {d: None for d in rec["docs"]}))
    return out


def build_index(settings: Any, pdfs: Sequence[Path]) -> None:
    from folio.ingest.embed import HashEmbedder
    from folio.ingest.pipeline import Ingestor
    from folio.ingest.progress import PlainProgress
    from folio.ingest.sources import collect_paths
    from folio.ingest.store import Store

    store = Store.open(settings)
    ingestor = Ingestor(store, lambda: HashEmbedder(HASH_DIM), settings)
    try:
        results = ingestor.run(collect_paths(list(pdfs)), PlainProgress())
    finally:
        ingestor.close()
        store.close()
    failed = [r.to_dict() for r in results if r.status == "failed"]
    if failed:
        log(f"{len(failed)} file(s) failed: {failed[:2]}")


# -- 1. evidence coverage and dollars from the plan ------------------------------------------------------------


def _dollars(tokens: dict[str, float], profile: Any) -> float:
    return float(profile.dollars(hit_tokens=int(tokens["hit"]), miss_tokens=int(tokens["miss"]),
                                 output_tokens=int(tokens["output"])))


def _tokens(hit: float, miss: float, output: float) -> dict[str, float]:
    return {"hit": round(hit), "miss": round(miss), "output": round(output)}


def route_tokens(plan: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Each route's (hit, miss, output) tokens, cold and cached, from the plan's estimates and inputs."""
    d = plan.decision
    x = d.inputs
    cov = plan.coverage
    full_prefix = x.system_tokens + x.scope_tokens
    out = {
        "rag": {"cold": _tokens(d.rag.hit_tokens, d.rag.miss_tokens, d.rag.output_tokens),
                "cached": _tokens(d.rag.hit_tokens, d.rag.miss_tokens, d.rag.output_tokens)},
        "full_fitting": {"cold": _tokens(full_prefix, full_prefix + x.question_tokens, x.output_tokens + 3),
                         "cached": _tokens(full_prefix, x.question_tokens, x.output_tokens)},
    }
    reduce = cov.total.hit_tokens, cov.total.miss_tokens, cov.total.output_tokens
    windows_hit = sum(w.estimate.hit_tokens for w in cov.windows)
    windows_miss = sum(w.estimate.miss_tokens for w in cov.windows)
    windows_out = sum(w.estimate.output_tokens for w in cov.windows)
    r_hit, r_miss, r_out = reduce[0] - windows_hit, reduce[1] - windows_miss, reduce[2] - windows_out
    cold_hit = sum(w.tokens + cov.system_tokens for w in cov.windows)
    cold_miss = sum(w.tokens + cov.system_tokens + cov.question_tokens for w in cov.windows)
    out["coverage"] = {
        "cold": _tokens(cold_hit + r_hit, cold_miss + r_miss, len(cov.windows) * (cov.output_tokens + 3) + r_out),
        "cached": _tokens(cold_hit + r_hit, len(cov.windows) * cov.question_tokens + r_miss,
                          len(cov.windows) * cov.output_tokens + r_out),
    }
    return out


def evidence_of(question: Question, ids: dict[str, str], pages_of: dict[str, int]) -> list[tuple[str, int | None]]:
    """(document id, page or None for the whole document) for every gold item of ``question`` that is indexed."""
    out: list[tuple[str, int | None]] = []
    for stem, pages in question.evidence.items():
        if stem not in ids:
            continue
        if pages is None:
            out.append((ids[stem], None))
        else:
            out.extend((ids[stem], p) for p in sorted(pages) if p < pages_of[ids[stem]])
    return out


def covered(items: Sequence[tuple[str, int | None]], spans: Sequence[tuple[str, int, int]]) -> float | None:
    """Share of gold items inside the (document id, first, last page) spans sent to the model."""
    if not items:
        return None
    hit = sum(any(d == doc and (page is None or first <= page <= last) for d, first, last in spans)
              for doc, page in items)
    return hit / len(items)


def plan_measure(answerer: Any, questions: Sequence[Question], ids: dict[str, str], budget: float,
                 profiles: dict[str, Any]) -> dict[str, Any]:
    from folio.service.answer import QueryRequest

    rows = []
    pages_of = {r.id: r.n_pages for r in answerer.scope(None)}
    for i, q in enumerate(questions, 1):
        started = time.perf_counter()
        plan = answerer.plan(QueryRequest(question=q.text, max_cost_usd=budget))
        seconds = time.perf_counter() - started
        items = evidence_of(q, ids, pages_of)
        cov = plan.coverage
        spans = {
            "rag": [(h.doc_id, h.first_page, h.last_page) for h in plan.hits],
            "full_fitting": [(r.id, 0, r.n_pages - 1) for r in plan.full_records],
            "coverage": [(s.doc_id, s.first_page, s.last_page) for w in cov.windows for s in w.segments],
            "coverage_budget": [(s.doc_id, s.first_page, s.last_page) for w in cov.selected for s in w.segments],
        }
        tokens = route_tokens(plan)
        dollars = {route: {state: {name: round(_dollars(t, p), 6) for name, p in profiles.items()}
                           for state, t in states.items()} for route, states in tokens.items()}
        # the budget cut's coverage: the windows within it, priced on the plan's own (cold) estimate
        dollars["coverage_budget"] = {"cold": {name: round(_dollars(_tokens(cov.estimate.hit_tokens,
                                                                              cov.estimate.miss_tokens,
                                                                              cov.estimate.output_tokens), p), 6)
                                               for name, p in profiles.items()}}
        rows.append({
            "id": q.id, "question": q.text[:160], "evidence_items": len(items), "plan_seconds": round(seconds, 3),
            "route_auto": plan.decision.route, "need": plan.decision.need.label,
            "coverage": {k: (None if v is None else round(v, 4)) for k, v in
                         ((k, covered(items, s)) for k, s in spans.items())},
            "pages_sent": {"rag_chunks": len(plan.hits),
                           "full_fitting": sum(r.n_pages for r in plan.full_records),
                           "coverage": cov.pages_in_scope, "coverage_budget": cov.pages_planned},
            "full_fitting_documents": len(plan.full_records), "windows": len(cov.windows),
            "windows_within_budget": len(cov.selected), "dollars": dollars,
        })
        if i % 10 == 0 or i == len(questions):
            log(f"planned {i}/{len(questions)} questions")
    return {"rows": rows, "summary": summarise(rows, list(profiles))}


def summarise(rows: Sequence[dict[str, Any]], profiles: Sequence[str]) -> dict[str, Any]:
    routes = ["rag", "full_fitting", "coverage_budget", "coverage"]
    out: dict[str, Any] = {}
    for route in routes:
        values = [r["coverage"][route] for r in rows if r["coverage"][route] is not None]
        entry: dict[str, Any] = {"evidence_coverage": round(sum(values) / len(values), 4) if values else None,
                                 "questions": len(values)}
        for state in ("cold", "cached"):
            for name in profiles:
                costs = [r["dollars"][route][state][name] for r in rows if state in r["dollars"][route]]
                if costs:
                    entry[f"dollars_{state}_{name}"] = round(sum(costs) / len(costs), 6)
        out[route] = entry
    out["plan_seconds_median"] = sorted(r["plan_seconds"] for r in rows)[len(rows) // 2] if rows else None
    return out


# -- 2. end to end over the provider double -------------------------------------------------------------------


def run_questions(answerer: Any, double: Any, questions: Sequence[str], profiles: dict[str, Any],
                  budget: float) -> list[dict[str, Any]]:
    from folio.service.answer import QueryRequest

    out = []
    for i, text in enumerate(questions, 1):
        request = QueryRequest(question=text, mode="coverage", max_cost_usd=budget)
        plan = answerer.plan(request)
        before = len(double.requests())
        started = time.perf_counter()
        result = answerer.answer(request)
        wall = time.perf_counter() - started
        report = result["coverage"]
        usage = result["usage"]
        billed = double.requests()[before:]
        tokens = _tokens(usage["hit_tokens"], usage["miss_tokens"], usage["output_tokens"])
        est = plan.coverage.estimate
        with_real_output = _tokens(est.hit_tokens, est.miss_tokens, usage["output_tokens"])
        row = {
            "question": text, "wall_s": round(wall, 2), "requests": len(billed),
            "windows": report["windows"], "windows_read": report["windows_read"],
            "pages_sent": report["pages_sent"], "pages_in_scope": report["pages_in_scope"],
            "windows_found_nothing": report["windows_found_nothing"], "reduce": report["reduce"],
            "hit_tokens": usage["hit_tokens"], "miss_tokens": usage["miss_tokens"],
            "output_tokens": usage["output_tokens"], "cache_hit_ratio": report["cache_hit_ratio"],
            "dollars": {name: round(_dollars(tokens, p), 6) for name, p in profiles.items()},
            "estimated": {name: round(_dollars(_tokens(est.hit_tokens, est.miss_tokens, est.output_tokens), p), 6)
                          for name, p in profiles.items()},
            "estimated_with_real_output": {name: round(_dollars(with_real_output, p), 6)
                                           for name, p in profiles.items()},
            "per_window": [{k: w[k] for k in ("window", "status", "pages", "tokens", "warmed_up", "hit_tokens",
                                              "miss_tokens", "output_tokens", "cache_hit_ratio", "dollars",
                                              "estimated_dollars", "seconds")} for w in report["per_window"]],
            "answer": result["answer"][:300],
            "citations_verified": [c["verified"] for c in result["citations"]],
        }
        out.append(row)
        log(f"run {i}/{len(questions)}: {row['windows']} windows, hit ratio {row['cache_hit_ratio']}, "
            f"${row['dollars']['seed']:.4f} seed / ${row['dollars']['deepseek']:.4f} deepseek, {wall:.1f}s")
    return out


# -- report -----------------------------------------------------------------------------------------------------


def write_report(result: dict[str, Any], tag: str | None) -> Path:
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"coverage-{result['set']}-{dt.date.today().isoformat()}" + (f"-{tag}" if tag else "")
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    lines = [f"# Coverage benchmark: {result['set']} ({result['documents']} documents, "
             f"{result['scope_tokens']:,} tokens, {result['pages']:,} pages)", "",
             f"Command: `{result['command']}`  ", f"Machine: {result['machine']}  ",
             f"Folio: {result['folio_commit']} (working tree, uncommitted changes included)", "",
             f"Context window {result['context_window']:,} tokens; windows of at most "
             f"{result['window_tokens']:,} document tokens: {result['windows']}. "
             f"Budget for the cut rows: ${result['budget']:.2f}.", ""]
    if "plans" in result:
        s = result["plans"]["summary"]
        lines += ["## Evidence coverage and dollars per question (plan only, every document in scope)", "",
                  f"{len(result['plans']['rows'])} questions; evidence: "
                  + ("gold pages" if result["set"] == "financebench" else "the documents each question names")
                  + f"; plan p50 {s['plan_seconds_median']} s.", "",
                  "| route | evidence coverage | $ cold (seed) | $ cached (seed) | $ cold (DeepSeek) | "
                  "$ cached (DeepSeek) |", "|---|---|---|---|---|---|"]
        labels = {"rag": "rag (top-k chunks)", "full_fitting": "full, most relevant documents that fit",
                  "coverage_budget": "coverage within the budget", "coverage": "coverage, every window"}
        for route, label in labels.items():
            e = s[route]
            cov = "—" if e["evidence_coverage"] is None else f"{e['evidence_coverage']:.1%}"
            cells = [f"{e.get(f'dollars_{state}_{p}', float('nan')):.4f}" if f"dollars_{state}_{p}" in e else "—"
                     for p in ("seed", "deepseek") for state in ("cold", "cached")]
            lines.append(f"| {label} | {cov} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
        lines += ["", "Dollars are means per question from the planner's token estimates (expected output 500 "
                  "tokens per call; cold full and coverage include their warm-ups)."]
    if result.get("runs"):
        lines += ["", "## End to end over the provider double (coverage of every window)", "",
                  "| # | windows | pages | requests | hit tokens | miss tokens | hit ratio | $ seed | "
                  "$ seed estimated (real output) | $ DeepSeek | wall s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for i, r in enumerate(result["runs"], 1):
            lines.append(f"| {i} | {r['windows_read']}/{r['windows']} | {r['pages_sent']:,}/{r['pages_in_scope']:,} "
                         f"| {r['requests']} | {r['hit_tokens']:,} | {r['miss_tokens']:,} | {r['cache_hit_ratio']} "
                         f"| {r['dollars']['seed']:.4f} | {r['estimated_with_real_output']['seed']:.4f} "
                         f"| {r['dollars']['deepseek']:.4f} | {r['wall_s']} |")
        lines += ["", "Per window (hit tokens / prompt tokens):", ""]
        for i, r in enumerate(result["runs"], 1):
            cells = [f"w{w['window']} {w['hit_tokens']:,}/{w['hit_tokens'] + w['miss_tokens']:,}"
                     + (" (warmed)" if w["warmed_up"] else "") for w in r["per_window"]]
            lines.append(f"- question {i}: " + ", ".join(cells))
        lines += ["", "The estimate is the plan's before each question, with the answers' real output length. Once "
                  "the ledger has seen a window warmed or hit, it counts the window as cached with P=0.95 (sure "
                  "for an hour, then decaying), so a cached question's estimate prices 5% of the documents at the "
                  "miss price: above the bill while the cache holds."]
    path = out_dir / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=sorted(SETS), default="financebench")
    parser.add_argument("--data-dir", type=Path, required=True, help="the index (built there if empty)")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--questions", type=int, default=None, help="plan only the first N questions")
    parser.add_argument("--runs", type=int, default=2, help="end-to-end coverage questions over the double")
    parser.add_argument("--budget", type=float, default=0.25, help="the budget of the cut rows (USD)")
    parser.add_argument("--run-budget", type=float, default=20.0, help="the end-to-end runs' budget (USD)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--context-window", type=int, default=1_000_000,
                        help="the model's context (FOLIO_CONTEXT_WINDOW); smaller: more windows")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--keep-ledger", action="store_true",
                        help="keep the index's ledger from earlier runs (it then remembers windows as cached that "
                        "this run's fresh provider double has never seen)")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from pydantic import SecretStr

    from folio.config import Settings
    from folio.ingest.embed import HashEmbedder
    from folio.service.pricing import get_profile
    from folio.service.runtime import build_runtime
    from folio.testing.provider import run_provider_double

    folder = args.data_root / SETS[args.set]
    base = dict(data_dir=args.data_dir, embed_model=f"hash-{HASH_DIM}", ingest_workers=1, qdrant_url=None,
                coverage_concurrency=args.concurrency, llm_timeout_s=600.0, context_window=args.context_window)
    if not (args.data_dir / "qdrant").exists():
        log(f"building the index of {folder} in {args.data_dir}")
        build_index(Settings(**base), sorted((folder / "pdfs").glob("*.pdf")))
    if not args.keep_ledger:  # a fresh provider double has an empty cache: so must the ledger's memory of it
        from folio.ingest.store import Store

        with Store.open(Settings(**base)) as store:
            store.client.delete_collection(store.record_collection("ledger"))
    profiles = {"seed": get_profile("deepseek-v4-flash-compat"), "deepseek": get_profile("deepseek-api")}
    questions = load_questions(args.set, args.data_root, multi_doc_only=args.set == "sec10q")
    if args.questions:
        questions = questions[: args.questions]
    with run_provider_double() as double:
        settings = Settings(**base, llm_base_url=double.base_url, llm_api_key=SecretStr("bench"),
                            llm_model="deepseek-chat", pricing_profile="deepseek-v4-flash-compat")
        runtime = build_runtime(settings, embedder_factory=lambda: HashEmbedder(HASH_DIM))
        try:
            answerer = runtime.answerer
            records = answerer.scope(None)
            ids = {Path(r.file_name).stem: r.id for r in records}
            from folio.service.context import scope_tokens

            first = answerer.plan(__import__("folio.service.answer", fromlist=["QueryRequest"]).QueryRequest(
                question=EXHAUSTIVE[args.set][0], mode="coverage", max_cost_usd=args.budget))
            assert first.coverage is not None
            result: dict[str, Any] = {
                "set": args.set, "documents": len(records), "pages": sum(r.n_pages for r in records),
                "scope_tokens": scope_tokens(records, answerer.counter), "window_tokens": first.coverage.capacity,
                "windows": len(first.coverage.windows), "budget": args.budget, "context_window": args.context_window,
                "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv]),
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                "folio_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                               capture_output=True, check=False).stdout.strip(),
                "concurrency": args.concurrency, "profiles": {k: v.name for k, v in profiles.items()},
            }
            log(f"{result['documents']} documents, {result['scope_tokens']:,} tokens, {result['windows']} windows")
            log("planning every question (no model call)")
            result["plans"] = plan_measure(answerer, questions, ids, args.budget, profiles)
            if args.runs:
                log(f"{args.runs} coverage question(s) end to end over the provider double")
                texts = (EXHAUSTIVE[args.set] * args.runs)[: args.runs]
                result["runs"] = run_questions(answerer, double, texts, profiles, args.run_budget)
        finally:
            runtime.close()
    path = write_report(result, args.tag)
    log(f"wrote {path} and its .json")
    print(path.read_text())


if __name__ == "__main__":
    main()
