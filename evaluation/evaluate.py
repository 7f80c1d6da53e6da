"""The evaluation run: which sets and parts, in which order, and the targets judged on the results."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from folio.evaluation.data import ALL_PARTS, ALL_SETS, REPO, EvalQuestion, data_root, load_questions, set_files
from folio.evaluation.embed_cache import CachedEmbedder, EmbeddingCache
from folio.evaluation.indexes import DEFAULT_CONFIG, BuiltIndex, ChunkConfig, build_index
from folio.evaluation.metrics import KS, summarize, summarize_groups
from folio.evaluation.targets import describe_diagnosis, judge_targets, routing_notes

EMBED_MODEL = "all-MiniLM-L6-v2"
# Chunking variants, run on cuad-dev only (each is a full embedding pass; financebench's would take an hour each).
CUAD_VARIANTS = (ChunkConfig(128, 24, 32), ChunkConfig(200, 24, 0))
# CI's quick evaluation: four small contracts of cuad-dev, fixed by name so that the subset never moves.
QUICK_CONTRACTS = (
    "DUOSTECHNOLOGIESGROUP,INC_04_21_2009-EX-10.1-STRATEGIC ALLIANCE AGREEMENT.PDF",
    "STAMPSCOMINC_06_24_1999-EX-10.18-SPONSORSHIP AGREEMENT.PDF",
    "Zounds Hearing, Inc. - MANUFACTURING DESIGN MARKETING AGREEMENT.PDF",
    "OASYSMOBILE,INC_07_05_2001-EX-10.17-OUTSOURCING AGREEMENT.PDF",
)
OVER_WINDOW_TOKENS = 131_072
# The default index ranked as before page diversity (ingest/local_index.py, distinct_pages): plain top-k chunks.
PLAIN_LABEL = "Folio chunks without page diversity"
# The default index ranked without the financial statement lane (ingest/statements.py): dense and BM25 fused alone.
NO_LANE_LABEL = "Folio without the statement lane"
# ... and with dense and BM25 weighted alike whatever the genre (ingest/genre.py, ingest.search.bm25_weight).
EQUAL_WEIGHTS_LABEL = "Folio with equal fusion weights"
# ... and with BM25's IDF over every document of the index, as Qdrant's collection-wide IDF had it (issue 22).
INDEX_IDF_LABEL = "Folio with BM25 IDF over the whole index (before)"

@dataclass
class EvalOptions:
    sets: tuple[str, ...] = ALL_SETS
    parts: tuple[str, ...] = ALL_PARTS
    quick: bool = False
    configs: str = "all"  # "all": cuad's chunking variants too; "default": Folio's defaults only; "levers": the
    # default configuration and each retrieval lever turned off, nothing else (no side rows, no baseline)
    baseline: bool = True
    out_dir: Path = REPO / "bench" / "results"
    cache_dir: Path = REPO / "bench" / ".cache" / "eval"
    data: Path | None = None
    tag: str = ""
    sessions: int | None = None
    per_session: int | None = None
    max_pages: dict[str, int] = field(default_factory=dict)  # set -> only its documents of at most this many pages
    embed_model: str = EMBED_MODEL
    # the encoder the indexes and questions are embedded with: 'onnx' (int8, what the product's default 'auto'
    # takes on a CPU) or 'torch' (fp32); an ONNX run keeps its own indexes and cached vectors, never mixed with
    # torch's
    embed_backend: str = "onnx"
    command: str = ""
    log: Callable[[str], None] = field(default=lambda message: None)


def _quick_questions(questions: Sequence[EvalQuestion]) -> list[EvalQuestion]:
    return [q for q in questions if q.docs[0] in QUICK_CONTRACTS]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu_model": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version()}
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                        text=True, check=True).stdout.strip()
        info["dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "ingest", "service", "evaluation",
                                             "testing"], cwd=REPO, capture_output=True, text=True,
                                            check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = "unknown"
    return info


def command_line() -> str:
    args = sys.argv[1:]
    return "folio " + shlex.join(args) if args else "folio eval"


class Evaluation:
    def __init__(self, options: EvalOptions) -> None:
        self.o = options
        self.root = data_root(options.data)
        self.cache = EmbeddingCache(options.cache_dir / "embeddings.sqlite")
        self.questions: dict[str, list[EvalQuestion]] = {}
        self.indexes: dict[tuple[str, ChunkConfig], BuiltIndex] = {}
        self._embedder: CachedEmbedder | None = None

    @property
    def embedder(self) -> CachedEmbedder:
        """One model for the whole run, loaded only when the cache lacks a vector."""
        if self._embedder is None:
            from folio.ingest.embed import load_embedder

            backend = self.o.embed_backend
            self._embedder = CachedEmbedder(
                self.o.embed_model, self.cache, partial(load_embedder, self.o.embed_model, backend=backend,
                                                        cache_dir=self.o.cache_dir / "models"),
                backend="onnx-int8" if backend == "onnx" else backend)
        return self._embedder

    def _index_tag(self) -> str:
        """What sets this run's indexes apart: the quick subset, and an encoder other than torch's."""
        parts = ["quick"] if self.o.quick else []
        if self.o.embed_backend != "torch":
            parts.append(self.o.embed_backend)
        return "-".join(parts)

    def log(self, message: str) -> None:
        self.o.log(f"[{time.strftime('%H:%M:%S')}] {message}")

    def set_questions(self, set_name: str) -> list[EvalQuestion]:
        if set_name not in self.questions:
            qs = load_questions(self.root, set_name)
            qs = _quick_questions(qs) if self.o.quick else qs
            limit = self.o.max_pages.get(set_name)
            if limit is not None:
                folder = set_files(self.root, set_name, qs)[0].parent
                qs = [q for q in qs if all(_pages(folder / d) <= limit for d in q.docs)]
            self.questions[set_name] = qs
        return self.questions[set_name]

    def index(self, set_name: str, config: ChunkConfig = DEFAULT_CONFIG) -> BuiltIndex:
        key = (set_name, config)
        if key not in self.indexes:
            qs = self.set_questions(set_name)
            paths = set_files(self.root, set_name, None if set_name == "sec10q" else qs)
            if set_name in self.o.max_pages:
                paths = [p for p in paths if _pages(p) <= self.o.max_pages[set_name]]
            self.log(f"index {set_name} {config.key}: {len(paths)} PDFs")
            built = build_index(set_name, paths, config, cache_root=self.o.cache_dir, cache=self.cache,
                                embed_model=self.o.embed_model, tag=self._index_tag(), log=self.log,
                                embedder=self.embedder, workers=0 if self.o.quick else 1)
            self.log(f"  {built.chunks:,} chunks, {built.embedded:,} embedded now, {built.seconds:.0f}s")
            self.indexes[key] = built
        return self.indexes[key]

    # -- retrieval -----------------------------------------------------------------------------------------

    def retrieval(self, set_name: str) -> dict[str, Any]:
        from folio.evaluation.diagnosis import evidence_found, fusion_and_depth
        from folio.evaluation.retrieval import run_retrieval

        qs = self.set_questions(set_name)
        configs = [DEFAULT_CONFIG]
        only_levers = self.o.configs == "levers"
        if set_name == "cuad" and self.o.configs == "all" and not self.o.quick:
            configs += list(CUAD_VARIANTS)
        table: list[tuple[str, dict[str, Any]]] = []
        indexes: dict[str, Any] = {}
        per_question: dict[str, Any] = {}
        groups: dict[str, Any] = {}
        diagnosis: dict[str, Any] = {}
        levers: dict[str, Any] = {}
        for config in configs:
            built = self.index(set_name, config)
            indexes[config.key] = built.summary()
            default = config == DEFAULT_CONFIG
            result = run_retrieval(built, qs, cache=self.cache, embed_model=self.o.embed_model, deep=default,
                                   keep_top=default, log=self.log, embedder=self.embedder, signals=default)
            label = f"Folio {'default: ' if default else ''}{config.label}"
            table.append((label, {m: self._entries(set_name, rows) for m, rows in result["rows"].items()}))
            if default and not self.o.quick:  # each retrieval lever turned off in turn, the others held fixed
                levers = self._levers(built, qs, result["rows"]["hybrid"], table)
            if default and not self.o.quick and not only_levers:  # the same index without page diversity
                plain = run_retrieval(built, qs, cache=self.cache, embed_model=self.o.embed_model, log=self.log,
                                      embedder=self.embedder, distinct=False)
                table.append((f"{PLAIN_LABEL} ({config.label})",
                              {m: self._entries(set_name, rows) for m, rows in plain["rows"].items()}))
                no_lane = run_retrieval(built, qs, cache=self.cache, embed_model=self.o.embed_model, log=self.log,
                                        embedder=self.embedder, modes=("hybrid",), statements=False)
                table.append((f"{NO_LANE_LABEL} ({config.label})",
                              {m: self._entries(set_name, rows) for m, rows in no_lane["rows"].items()}))
                equal = run_retrieval(built, qs, cache=self.cache, embed_model=self.o.embed_model, log=self.log,
                                      embedder=self.embedder, modes=("hybrid",), genre_weights=False)
                table.append((f"{EQUAL_WEIGHTS_LABEL} ({config.label})",
                              {m: self._entries(set_name, rows) for m, rows in equal["rows"].items()}))
                index_idf = run_retrieval(built, qs, cache=self.cache, embed_model=self.o.embed_model, log=self.log,
                                          embedder=self.embedder, modes=("bm25", "hybrid"), idf_over_index=True)
                table.append((f"{INDEX_IDF_LABEL} ({config.label})",
                              {m: self._entries(set_name, rows) for m, rows in index_idf["rows"].items()}))
            if default:
                per_question["folio"] = result["rows"]
                groups = {m: summarize_groups(rows) for m, rows in result["rows"].items()}
                nontrivial = {q.id for q in qs if not q.trivial} if set_name == "cuad" else None
                diagnosis["fusion_and_depth"] = fusion_and_depth(result["rows"], nontrivial)
                if not only_levers:
                    diagnosis["parsing"] = evidence_found(set_name, self.root, built, qs, self.o.embed_model)
        baseline_note = ""
        if self.o.baseline and set_name in ("cuad", "financebench") and not self.o.quick:
            baseline = self._baseline(set_name, qs)
            if baseline is not None:
                table.append(("llama-index VectorStoreIndex defaults (1024-token chunks)",
                              {m: self._entries(set_name, rows) for m, rows in baseline["rows"].items()}))
                per_question["llamaindex"] = baseline["rows"]
                diagnosis["baseline"] = {k: v for k, v in baseline.items() if k != "rows"}
                baseline_note = (f"Baseline: {baseline['pages']:,} page documents, {baseline['chunks']:,} chunks "
                                 f"(SentenceSplitter {baseline['splitter']['chunk_size']}/"
                                 f"{baseline['splitter']['chunk_overlap']}; mean {baseline['mean_chunk_wordpieces']} "
                                 f"word pieces, {baseline['chunks_over_model_window']:,} chunks longer than the "
                                 "model's 256-word-piece window, embedded truncated). dense = the index's retriever, "
                                 "the target's reference; bm25 and hybrid (RRF) for reference.")
            else:
                baseline_note = "Baseline skipped: " + self._baseline_error
        return {"questions": len(qs), "documents": len(self.index(set_name).ids), "indexes": indexes,
                "table": table, "groups": groups, "diagnosis_data": diagnosis,
                "diagnosis": describe_diagnosis(set_name, table, diagnosis), "baseline_note": baseline_note,
                "levers": levers,
                "per_question": per_question}

    def _levers(self, built: BuiltIndex, qs: list[EvalQuestion], default_rows: list[dict[str, Any]],
                table: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """Each retrieval lever turned off in turn (hybrid only, the others held fixed): a table row each, and
        their gains and the weak-retrieval signal's misses (``folio.evaluation.levers``)."""
        from folio.evaluation import levers as lv
        from folio.evaluation.retrieval import run_retrieval

        levers: dict[str, Any] = {lv.WEAK_SIGNAL_KEY: lv.weak_signal(default_rows)}
        library: list[dict[str, Any]] | None = None
        across = built.set_name != "sec10q"  # sec10q's questions are asked over every filing already
        for name, attribute in lv.LEVERS:
            variant, on_by_default = lv.lever_variant(attribute)
            flipped = run_retrieval(built, qs, cache=self.cache, embed_model=self.o.embed_model, log=self.log,
                                    embedder=self.embedder, modes=("hybrid",), levers=variant)
            table.append((f"Folio {'without' if on_by_default else 'with'} the {name} ({built.config.label})",
                          {m: self._entries(built.set_name, rows) for m, rows in flipped["rows"].items()}))
            with_it, without = ((default_rows, flipped["rows"]["hybrid"]) if on_by_default
                                else (flipped["rows"]["hybrid"], default_rows))
            levers[name] = lv.lever_gain(built.set_name, with_it, without)
            if attribute in lv.LIBRARY_LEVERS and across:
                if library is None:
                    library = run_retrieval(built, qs, cache=self.cache, embed_model=self.o.embed_model,
                                            log=self.log, embedder=self.embedder, modes=("hybrid",),
                                            library=True)["rows"]["hybrid"]
                flipped_library = run_retrieval(built, qs, cache=self.cache, embed_model=self.o.embed_model,
                                                log=self.log, embedder=self.embedder, modes=("hybrid",),
                                                levers=variant, library=True)["rows"]["hybrid"]
                with_it, without = (library, flipped_library) if on_by_default else (flipped_library, library)
                levers[f"{name}, each question over all {len(built.ids)} documents"] = lv.lever_gain(
                    built.set_name, with_it, without)
        return levers

    _baseline_error = ""

    def _baseline(self, set_name: str, qs: list[EvalQuestion]) -> dict[str, Any] | None:
        from folio.evaluation.baseline import BaselineUnavailable, run_baseline
        from folio.ingest.embed import resolve_model_path

        paths = set_files(self.root, set_name, qs)
        self.log(f"llama-index baseline on {set_name}: {len(paths)} PDFs")
        try:
            return run_baseline(paths, qs, cache=self.cache, model_path=str(resolve_model_path(self.o.embed_model)),
                                log=self.log, cache_dir=self.o.cache_dir)
        except BaselineUnavailable as exc:
            self._baseline_error = str(exc)
            self.log(f"  skipped: {exc}")
            return None

    @staticmethod
    def _entries(set_name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        entry = {"all": summarize(rows)}
        if set_name == "cuad":
            entry["nontrivial"] = summarize([r for r in rows if not r["trivial"]])
        return entry

    # -- routing -------------------------------------------------------------------------------------------

    def routing(self) -> dict[str, Any]:
        from folio.evaluation.routing import (
            OVER_WINDOW_STRATEGIES,
            PROFILES,
            Replayer,
            Scenario,
            sessions_for,
            summarize_run,
        )
        from folio.ingest.store import Store

        out: dict[str, Any] = {}
        per_session = self.o.per_session or (6 if self.o.quick else None)
        n_sessions = self.o.sessions or (2 if self.o.quick else None)
        plans: list[tuple[str, Scenario]] = []
        descriptions = {
            "cuad": "one contract per session (its questions in file order)",
            "financebench": "one filing per session (its questions in file order)",
            "sec10q": "a company's four 10-Q filings per session (its questions in file order)",
        }
        for set_name in self.o.sets:
            sessions = sessions_for(set_name, self.set_questions(set_name), per_session=per_session,
                                    limit_sessions=n_sessions)
            n_q = sum(len(s.questions) for s in sessions)
            plans.append((set_name, Scenario(name=f"{set_name}: {descriptions[set_name]}", set_name=set_name,
                                             description=f"{len(sessions)} sessions, {n_q} questions; "
                                             f"{descriptions[set_name]}.", sessions=sessions)))
            if set_name == "sec10q" and not self.o.quick:
                plans.append((set_name, Scenario(
                    name=f"sec10q over the window: four filings, {OVER_WINDOW_TOKENS // 1024}k-token context",
                    set_name=set_name, context_window=OVER_WINDOW_TOKENS, strategies=OVER_WINDOW_STRATEGIES,
                    description=f"{len(sessions)} sessions, {n_q} questions; the same sessions with a "
                    f"{OVER_WINDOW_TOKENS:,}-token context window, so a company's four filings do not fit: "
                    "always-full falls back to the filings that fit (ranked by retrieval), auto can only use "
                    "those or retrieval (or coverage, for exhaustive questions), always-coverage reads every page "
                    "window by window.", sessions=sessions)))
        for set_name, scenario in plans:
            built = self.index(set_name)
            settings = built.config.settings(built.data_dir, self.o.embed_model)
            runs = []
            with Store.open(settings) as store:
                replayer = Replayer(store=store, embedder=self.embedder, ids=built.ids, base_settings=settings)
                for strategy in scenario.strategies:
                    profiles = PROFILES[:1] if strategy.startswith("always") else PROFILES
                    for profile in profiles:
                        run = replayer.run(scenario, strategy, profile)
                        summary = summarize_run(run)
                        self.log(f"  routing {scenario.name[:40]} {strategy} ({profile}): "
                                 f"${summary['dollars'][profile]:.4f}, coverage {summary['coverage']}, "
                                 f"hit rate {summary['cache_hit_rate']}, {summary['seconds']}s")
                        runs.append((summary, run.rows))
            out[scenario.name] = {"set": set_name, "description": scenario.description,
                                  "context_window": scenario.context_window or settings.context_window,
                                  "runs": [s for s, _ in runs], "per_question": {
                                      f"{s['strategy']}|{s['profile']}": rows for s, rows in runs},
                                  "notes": routing_notes([s for s, _ in runs])}
        return out

    # -- everything ----------------------------------------------------------------------------------------

    def run(self) -> tuple[dict[str, Any], list[Path]]:
        from folio.evaluation.report import write_report

        started = time.perf_counter()
        sets = ("cuad",) if self.o.quick else self.o.sets
        self.o.sets = sets
        report: dict[str, Any] = {
            "date": date.today().isoformat(), "command": self.o.command or command_line(),
            "options": {"sets": list(sets), "parts": list(self.o.parts), "quick": self.o.quick,
                        "configs": self.o.configs, "baseline": self.o.baseline, "sessions": self.o.sessions,
                        "max_pages": self.o.max_pages,
                        "per_session": self.o.per_session},
            "machine": machine(), "embed_model": self.o.embed_model,
            "embed_backend": self.o.embed_backend, "data_root": str(self.root), "ks": list(KS),
        }
        if self.o.quick:
            report["quick_subset"] = list(QUICK_CONTRACTS)
        if "retrieval" in self.o.parts:
            report["retrieval"] = {}
            for set_name in sets:
                self.log(f"retrieval: {set_name}")
                report["retrieval"][set_name] = self.retrieval(set_name)
        if "routing" in self.o.parts:
            from folio.evaluation.routing import __doc__ as routing_doc

            report["routing_note"] = _first_paragraphs(routing_doc or "", 3)
            report["routing"] = self.routing()
        report["targets"] = judge_targets(report)
        report["embedding_cache"] = {"hits": self.cache.hits, "embedded": self.cache.misses,
                                     "entries": len(self.cache)}
        report["seconds"] = round(time.perf_counter() - started, 1)
        stem = f"eval-{report['date']}{'-quick' if self.o.quick else ''}{'-' + self.o.tag if self.o.tag else ''}"
        written = write_report(report, self.o.out_dir, stem)
        self.cache.close()
        return report, written


def _pages(path: Path) -> int:
    """A PDF's page count, for ``--max-pages`` (an unreadable one counts as too long)."""
    import pypdf

    try:
        return len(pypdf.PdfReader(path).pages)
    except Exception:  # a file pypdf cannot open is left out of a size-limited run
        return 1 << 30


def _first_paragraphs(text: str, n: int) -> str:
    return " ".join(" ".join(p.split()) for p in text.strip().split("\n\n")[:n])
