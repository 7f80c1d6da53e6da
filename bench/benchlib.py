"""Shared pieces of Folio's benchmarks: data subsets, gold pages, page-level recall, peak memory, the
machine's description, and the measured systems, each run in a fresh child process.

Every system is measured in its own child process (``python bench/benchlib.py SPEC OUT``), so that its
wall time includes its own cold start where that belongs to it, and its peak RSS is its own: torch, the
model and the index of one system never inflate another's numbers.

Kept import-light at the top: Folio's ingestion spawns its parser worker with the ``spawn`` start
method, which re-imports the main module (this file, in a child) in the worker.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SETS = {"financebench": "financebench-dev", "cuad": "cuad-dev"}
# CUAD categories whose answers are on the first page of nearly every contract: recall over them says little.
TRIVIAL_CUAD = frozenset({"Document Name", "Parties", "Agreement Date", "Effective Date"})
TOP_K = 5


def offline_env() -> None:
    """Never reach a model hub; the bundled model loads from its package folder."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# -- data -------------------------------------------------------------------------------------------------


def default_data_root() -> Path:
    return Path(os.environ.get("FOLIO_BENCH_DATA", REPO.parent / "shared" / "data"))


@dataclass
class Question:
    id: str
    file: str  # PDF file name in the set's pdfs/ folder
    pages: list[int]  # gold evidence pages, 0-based
    text: str
    category: str | None = None

    @property
    def trivial(self) -> bool:
        return self.category in TRIVIAL_CUAD


def load_questions(set_name: str, root: Path) -> list[Question]:
    folder = root / SETS[set_name]
    out: list[Question] = []
    with (folder / "questions.jsonl").open() as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            if set_name == "financebench":
                own = [e for e in rec["evidence"] if e.get("doc", rec["doc"]) == rec["doc"]]
                pages = sorted({int(e["page"]) for e in own})
                out.append(Question(id=rec["id"], file=f"{rec['doc']}.pdf", pages=pages,
                                    text=rec["question"]))
            else:
                pages = sorted({int(p) for e in rec["evidence"] for p in e["pages"]})
                out.append(Question(id=rec["id"], file=rec["doc"], pages=pages, text=rec["question"],
                                    category=rec["category"]))
    return [q for q in out if q.pages]


def pdf_page_count(path: Path) -> int:
    import pypdf

    pypdf.overwrite_configuration(array_maximum_element_count=5_000_000,
                                  dictionary_maximum_element_count=1_000_000)
    reader = pypdf.PdfReader(str(path))
    if reader.is_encrypted:
        reader.decrypt("")
    return len(reader.pages)


def select_docs(set_name: str, root: Path, n: int | None) -> list[tuple[Path, int]]:
    """The ``n`` smallest PDFs by page count (ties by file name) that have at least one question with
    gold pages; ``n=None``: every such PDF. Returns (path, pages) in that order."""
    pdfs = root / SETS[set_name] / "pdfs"
    asked = {q.file for q in load_questions(set_name, root)}
    found = [p for p in sorted(pdfs.iterdir()) if p.is_file() and p.name in asked]
    missing = asked - {p.name for p in found}
    if missing:
        raise SystemExit(f"questions name PDFs that are not in {pdfs}: {sorted(missing)[:3]}")
    counted = sorted(((p, pdf_page_count(p)) for p in found), key=lambda t: (t[1], t[0].name))
    return counted if n is None else counted[:n]


def page_hit(gold: Sequence[int], spans: Sequence[tuple[int, int]]) -> bool:
    """Whether any retrieved chunk's page span (first..last, inclusive) contains a gold page."""
    return any(first <= page <= last for first, last in spans for page in gold)


def recall(questions: Sequence[Question], spans: dict[str, list[tuple[int, int]]]) -> dict[str, Any]:
    """Page-level recall@k over all questions and (for CUAD) over the non-trivial categories."""
    hits = {q.id: page_hit(q.pages, spans.get(q.id, [])) for q in questions}
    out: dict[str, Any] = {"n": len(questions), "hits": sum(hits.values()),
                           "recall": round(sum(hits.values()) / len(questions), 4) if questions else None}
    if any(q.category for q in questions):
        hard = [q for q in questions if not q.trivial]
        out["n_nontrivial"] = len(hard)
        out["hits_nontrivial"] = sum(hits[q.id] for q in hard)
        out["recall_nontrivial"] = round(out["hits_nontrivial"] / len(hard), 4) if hard else None
    return out


def headline_recall(r: dict[str, Any] | None) -> float | None:
    """The number a table shows: non-trivial recall for CUAD, plain recall otherwise."""
    if not r:
        return None
    value = r.get("recall_nontrivial", r.get("recall"))
    return None if value is None else float(value)


# -- machine ----------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str] = {}
    for pkg in ("torch", "sentence-transformers", "transformers", "qdrant-client", "llama-index-core",
                "llama-index-embeddings-huggingface", "llama-index-vector-stores-qdrant", "pypdf"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = "not installed"
    flags = ""
    with suppress(OSError):
        flags = Path("/proc/cpuinfo").read_text()
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_bf16_native": "avx512_bf16" in flags or "amx_bf16" in flags,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "load_avg_at_start": list(os.getloadavg()),
        "folio": folio_revision(),
    }


def folio_revision() -> dict[str, Any]:
    """The commit of the working tree and whether ingest/ has uncommitted changes (the code measured)."""
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "ingest").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown", "ingest_uncommitted": dirty}


def command_line() -> str:
    import shlex

    rel = os.path.relpath(sys.argv[0], REPO) if sys.argv[0] else sys.argv[0]
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", rel, *sys.argv[1:]])


# -- memory -----------------------------------------------------------------------------------------------


class PeakRss:
    """Samples, in a thread, the RSS of this process plus all its descendants (``peak_mb`` is the max
    sum) and their CPU time; ``others_cpu_s`` is the CPU time the rest of the machine used meanwhile (a
    noise indicator on a shared machine), ``steal_s`` the time the hypervisor gave away."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._cpu_first: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._sys_start: Any = None
        self.peak_bytes = 0
        self.start_bytes = self._sample()
        self.own_cpu_s = 0.0
        self.others_cpu_s = 0.0
        self.steal_s = 0.0
        self.wall_s = 0.0

    def _sample(self) -> int:
        import psutil

        total = 0
        procs = [self._proc]
        with suppress(psutil.Error):
            procs += self._proc.children(recursive=True)
        for p in procs:
            try:
                total += p.memory_info().rss
                times = p.cpu_times()
            except psutil.Error:
                continue
            cpu = times.user + times.system
            self._cpu_first.setdefault(p.pid, cpu if self._sys_start is None else 0.0)
            self._cpu_last[p.pid] = cpu
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._sample())
            self._stop.wait(self._interval)

    @staticmethod
    def _busy(times: Any) -> tuple[float, float]:
        idle = times.idle + getattr(times, "iowait", 0.0)
        steal = getattr(times, "steal", 0.0)
        total = sum(times)
        guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)  # already in user
        return total - guest - idle - steal, steal

    def __enter__(self) -> PeakRss:
        import psutil

        self._cpu_first = {}
        self.start_bytes = self.peak_bytes = self._sample()
        self._sys_start = psutil.cpu_times()
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import psutil

        self.peak_bytes = max(self.peak_bytes, self._sample())
        self._stop.set()
        self._thread.join()
        self.wall_s = time.perf_counter() - self._t0
        busy0, steal0 = self._busy(self._sys_start)
        busy1, steal1 = self._busy(psutil.cpu_times())
        self.own_cpu_s = sum(self._cpu_last[pid] - first for pid, first in self._cpu_first.items())
        self.others_cpu_s = max(0.0, busy1 - busy0 - self.own_cpu_s)
        self.steal_s = steal1 - steal0

    @property
    def peak_mb(self) -> float:
        return round(self.peak_bytes / 2**20, 1)

    @property
    def start_mb(self) -> float:
        return round(self.start_bytes / 2**20, 1)

    def cpu_report(self) -> dict[str, float]:
        return {"own_cpu_s": round(self.own_cpu_s, 2), "others_cpu_s": round(self.others_cpu_s, 2),
                "steal_s": round(self.steal_s, 2), "monitored_wall_s": round(self.wall_s, 2)}


def rusage_mb() -> dict[str, float]:
    """getrusage's max RSS of this process and of its largest waited-for child (Linux: KiB)."""
    return {"self_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "children_maxrss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


# -- child processes --------------------------------------------------------------------------------------


def run_child(spec: dict[str, Any], workdir: Path, timeout: float | None = None) -> dict[str, Any]:
    """Run one measured system in a fresh Python process; return what it measured."""
    kind = spec["kind"]
    spec_path = workdir / f"spec-{kind}-{spec.get('tag', '')}.json"
    out_path = workdir / f"out-{kind}-{spec.get('tag', '')}.json"
    spec_path.write_text(json.dumps(spec))
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(spec_path), str(out_path)],
                          cwd=REPO, timeout=timeout, check=False)
    if proc.returncode != 0 or not out_path.exists():
        raise SystemExit(f"the {kind} child failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    result["process_wall_s"] = round(time.perf_counter() - started, 2)
    return result


def _questions(spec: dict[str, Any]) -> list[Question]:
    return [Question(**q) for q in spec["questions"]]


def _quiet() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("qdrant_client", "transformers", "sentence_transformers", "httpx", "llama_index"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover
        pass


# -- ours: Folio's Ingestor ----------------------------------------------------------------------------------


class _TimedEmbedder:
    """A transparent proxy that adds up the time spent in ``embed`` (the dense encode)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.backend = getattr(inner, "backend", None)
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens
        self.seconds = 0.0
        self.texts = 0
        self.calls = 0

    def embed(self, texts: list[str]) -> Any:
        t = time.perf_counter()
        out = self.inner.embed(texts)
        self.seconds += time.perf_counter() - t
        self.texts += len(texts)
        self.calls += 1
        return out

    def embed_query(self, text: str) -> Any:
        return self.inner.embed_query(text)


class _Timeline:
    """Progress events with timestamps: how long the main thread waits for the parser worker."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.free_since = self.t0  # when the main thread last finished writing a document
        self.waits: list[tuple[float, float]] = []  # per prepared document: (from, to) of the wait for it
        self._in_flight: set[str] = set()

    def start(self, total_files: int) -> None:
        self.t0 = self.free_since = time.perf_counter()

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        now = time.perf_counter()
        self.waits.append((self.free_since, now))
        self._in_flight.add(name)

    def chunks_done(self, name: str, n: int) -> None:
        pass

    def file_done(self, result: Any) -> None:
        if result.name in self._in_flight:
            self._in_flight.discard(result.name)
            self.free_since = time.perf_counter()

    def finish(self, results: list[Any]) -> None:
        pass


@contextmanager
def _timed_attr(obj: Any, attr: str, acc: dict[str, float], key: str) -> Iterator[None]:
    """Temporarily wrap ``obj.attr`` (a function) so its time adds up in ``acc[key]``."""
    original = getattr(obj, attr)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            acc[key] = acc.get(key, 0.0) + time.perf_counter() - t

    setattr(obj, attr, wrapper)
    try:
        yield
    finally:
        setattr(obj, attr, original)


def _overlap(a: tuple[float, float] | Sequence[float], b: Sequence[float]) -> float:
    """Length of the overlap of two (start, end) intervals; 0 if ``b`` is empty."""
    if len(b) != 2:
        return 0.0
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def child_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """Folio end to end: Store.open + Ingestor.run on the files into a fresh data dir, default settings
    (plus ``settings`` overrides from the spec), then page-level recall@k with folio.retrieval.search."""
    from folio.config import Settings
    from folio.ingest import pipeline
    from folio.ingest.embed import embedder_from_settings, resolve_dtype
    from folio.ingest.pipeline import Ingestor
    from folio.ingest.sources import collect_paths
    from folio.ingest.store import Store
    from folio.retrieval.search import search

    settings = Settings(data_dir=Path(spec["data_dir"]), **spec.get("settings", {}))
    sources = collect_paths([Path(f) for f in spec["files"]])
    acc: dict[str, float] = {}
    holder: dict[str, _TimedEmbedder] = {}
    load_span: list[float] = []

    def factory() -> Any:
        t = time.perf_counter()
        inner = embedder_from_settings(settings)
        load_span[:] = [t, time.perf_counter()]
        holder["e"] = _TimedEmbedder(inner)
        return holder["e"]

    timeline = _Timeline()
    instrument = spec.get("instrument", True)
    with PeakRss() as rss:
        t0 = time.perf_counter()
        store = Store.open(settings)
        ingestor = Ingestor(store, factory, settings)
        t_run = time.perf_counter()
        if instrument:
            with _timed_attr(pipeline, "document_vector", acc, "sparse_s"), \
                    _timed_attr(store, "upsert_chunks", acc, "upsert_s"), \
                    _timed_attr(store, "begin_document", acc, "store_begin_s"), \
                    _timed_attr(store, "finish_document", acc, "store_finish_s"), \
                    _timed_attr(store, "find_by_source", acc, "store_find_by_source_s"):
                results = ingestor.run(sources, timeline)
        else:
            results = ingestor.run(sources, timeline)
        t_end = time.perf_counter()
    seconds = t_end - t0
    failed = [r.to_dict() for r in results if r.status == "failed"]
    ok = [r for r in results if r.status in ("ingested", "replaced")]
    embedder = holder["e"]
    # where the main thread's time went
    # the main thread's waits for parsed documents, less any model loading done inside them (Folio may
    # load the model after submitting the first parse jobs, before waiting for them)
    load_s = load_span[1] - load_span[0] if load_span else 0.0
    waits = [(end - start) - _overlap((start, end), load_span) for start, end in timeline.waits]
    breakdown = {
        "store_open_s": t_run - t0,
        "run_s": t_end - t_run,
        "wait_first_prepare_s": waits[0] if waits else 0.0,
        "wait_prepare_later_s": sum(waits[1:]),
        "model_load_s": load_s,
        "dense_encode_s": embedder.seconds,
        "sparse_s": acc.get("sparse_s", 0.0),
        "upsert_s_writer_thread": acc.get("upsert_s", 0.0),
        "store_begin_finish_find_s": acc.get("store_begin_s", 0.0) + acc.get("store_finish_s", 0.0)
        + acc.get("store_find_by_source_s", 0.0),
    }
    main_accounted = (breakdown["wait_first_prepare_s"] + breakdown["wait_prepare_later_s"]
                      + breakdown["model_load_s"] + breakdown["dense_encode_s"] + breakdown["sparse_s"]
                      + breakdown["store_begin_finish_find_s"])
    breakdown["other_main_thread_s"] = breakdown["run_s"] - main_accounted  # incl. waiting for upserts
    encode_calls = embedder.calls
    encode_texts = embedder.texts

    # recall, untimed
    name_to_id = {Path(r.name).name: r.doc_id for r in results if r.doc_id}
    questions = _questions(spec)
    recalls: dict[str, Any] = {}
    for mode in spec.get("modes", ["hybrid", "dense", "bm25"]):
        spans: dict[str, list[tuple[int, int]]] = {}
        for q in questions:
            doc_id = name_to_id.get(q.file)
            if doc_id is None:
                continue
            hits = search(store, embedder, q.text, doc_ids=[doc_id], limit=spec.get("k", TOP_K), mode=mode)
            spans[q.id] = [(h.first_page, h.last_page) for h in hits]
        recalls[mode] = recall(questions, spans)
    ingestor.close()
    store.close()
    import torch

    startup = breakdown["store_open_s"] + breakdown["model_load_s"] + breakdown["wait_first_prepare_s"]
    n_pages = sum(r.pages for r in ok)
    return {
        "system": "ours",
        "model_loaded_while_waiting_for_parse": any(_overlap(w, load_span) > 0 for w in timeline.waits),
        "startup_s": round(startup, 3),
        "pages_per_s_excl_startup": round(n_pages / (seconds - startup), 3) if seconds > startup else None,
        "label": "Folio Ingestor.run",
        "pages": sum(r.pages for r in ok),
        "chunks": sum(r.chunks for r in ok),
        "files": [r.to_dict() for r in results],
        "failed": failed,
        "seconds": round(seconds, 3),
        "pages_per_s": round(sum(r.pages for r in ok) / seconds, 3),
        "encode_chunks_per_s": round(encode_texts / embedder.seconds, 2) if embedder.seconds else None,
        "encode_calls": encode_calls,
        "breakdown_s": {k: round(v, 3) for k, v in breakdown.items()},
        "peak_rss_mb": rss.peak_mb,
        "rss_at_start_mb": rss.start_mb,
        "cpu": rss.cpu_report(),
        **rusage_mb(),
        "dtype": resolve_dtype(settings.embed_dtype),
        "backend": getattr(holder["e"].inner, "backend", "torch"),
        "settings": {"embed_backend": settings.embed_backend, "ingest_workers": settings.ingest_worker_count,
                     "embed_dtype": settings.embed_dtype, "embed_batch_size": settings.embed_batch_size,
                     "chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap},
        "torch_threads": torch.get_num_threads(),
        "recall": recalls,
        "doc_ids": name_to_id,
    }


# -- (a) the floor: the raw model on the same chunk texts -------------------------------------------------


def child_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """The raw SentenceTransformer encoding exactly the chunk texts Folio embeds (prepared untimed)."""
    from folio.config import Settings
    from folio.ingest.embed import resolve_dtype, resolve_model_path
    from folio.ingest.prepare import ChunkParams, prepare

    settings = Settings(data_dir=Path(spec["data_dir"]))
    params = ChunkParams(model=settings.embed_model, chunk_tokens=settings.chunk_tokens,
                         overlap=settings.chunk_overlap, heading_tokens=settings.heading_tokens)
    max_bytes = int(settings.max_file_mb * 1_000_000)  # as Ingestor.max_bytes
    texts: list[str] = []
    pages = 0
    prepare_s: list[float] = []
    per_doc: list[list[int]] = []  # embed_tokens of each chunk, per document
    for f in spec["files"]:
        t = time.perf_counter()
        doc = prepare(f, Path(f).read_bytes(), params, max_bytes)
        prepare_s.append(time.perf_counter() - t)
        texts.extend(c.embed_text for c in doc.chunks)
        per_doc.append([c.embed_tokens for c in doc.chunks])
        pages += len(doc.pages)

    t_imp = time.perf_counter()
    import torch
    from sentence_transformers import SentenceTransformer

    import_s = time.perf_counter() - t_imp
    dtype = spec.get("dtype") or resolve_dtype("auto")
    t = time.perf_counter()
    model = SentenceTransformer(str(resolve_model_path(settings.embed_model)), device="cpu")
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    load_s = time.perf_counter() - t
    batch = int(spec.get("batch_size", 32))
    # warm-up (first-call kernel selection), untimed
    model.encode(texts[:batch], batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
    with PeakRss() as rss:
        t = time.perf_counter()
        vectors = model.encode(texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
        seconds = time.perf_counter() - t
    default_encoder = _default_encoder_alone(spec, settings.embed_model, texts, batch)
    return {
        "system": "floor",
        "default_encoder": default_encoder,
        "prepare_s_single_process": [round(x, 3) for x in prepare_s],
        "padding": padding_stats(per_doc, batch, spec.get("pipeline_batch", 64)),
        "label": f"(a) raw SentenceTransformer.encode, batch {batch}, {dtype}",
        "pages": pages,
        "chunks": len(texts),
        "vectors_shape": list(vectors.shape),
        "seconds": round(seconds, 3),
        "pages_per_s": round(pages / seconds, 3),
        "encode_chunks_per_s": round(len(texts) / seconds, 2),
        "model_load_s": round(load_s, 3),
        "import_s": round(import_s, 3),
        "peak_rss_mb": rss.peak_mb,
        "rss_at_start_mb": rss.start_mb,
        "cpu": rss.cpu_report(),
        **rusage_mb(),
        "dtype": dtype,
        "torch_threads": torch.get_num_threads(),
    }


def _default_encoder_alone(spec: dict[str, Any], model: str, texts: list[str], batch: int) -> dict[str, Any] | None:
    """The encoder Folio's default ('auto') picks on this machine, alone on the same chunk texts: loaded from the
    export ``main`` made (``spec['exports']``), warmed up, then timed over every text (issue 19's floor is the
    parser alone plus this)."""
    exports = spec.get("exports")
    if not exports:
        return None
    from folio.ingest.embed import backend_of, load_embedder

    embedder = load_embedder(model, backend="auto", batch_size=batch, cache_dir=Path(exports))
    embedder.embed(texts[:batch])
    t = time.perf_counter()
    embedder.embed(texts)
    seconds = time.perf_counter() - t
    return {"backend": backend_of(embedder), "seconds": round(seconds, 3),
            "chunks_per_s": round(len(texts) / seconds, 2)}


def _padded(lengths: list[int], batch: int) -> int:
    """Word pieces a model computes for ``lengths`` encoded in one ``encode`` call: sorted by length,
    cut into batches, each padded to its longest text (as sentence-transformers does)."""
    ordered = sorted(lengths, reverse=True)
    groups = [ordered[i : i + batch] for i in range(0, len(ordered), batch)]
    return sum(max(g) * len(g) for g in groups)


def padding_stats(per_doc: list[list[int]], batch: int, pipeline_batch: int) -> dict[str, Any]:
    """Padded word pieces when every chunk goes in one encode call (the floor) versus one call per
    ``pipeline_batch`` chunks of one document (as Folio's pipeline calls the model)."""
    real = sum(sum(d) for d in per_doc)
    floor = _padded([n for d in per_doc for n in d], batch)
    ours = sum(_padded(d[i : i + pipeline_batch], batch)
               for d in per_doc for i in range(0, len(d), pipeline_batch))
    return {"real_wordpieces": real, "padded_one_call": floor, "padded_per_pipeline_batch": ours,
            "pipeline_batch": pipeline_batch,
            "extra_work_of_pipeline_batches": round(ours / floor - 1, 4) if floor else None}


# -- (b) a plain llama-index pipeline ----------------------------------------------------------------------


def child_llamaindex(spec: dict[str, Any]) -> dict[str, Any]:
    """IngestionPipeline([SentenceSplitter(), HuggingFaceEmbedding(local model)], QdrantVectorStore(local))
    over one Document per PDF page (pypdf text), then recall@k with the index's retriever + a file filter."""
    import pypdf

    with PeakRss() as rss:
        t0 = time.perf_counter()
        from llama_index.core import Document
        from llama_index.core.ingestion import IngestionPipeline
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.core.schema import MetadataMode
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.vector_stores.qdrant import QdrantVectorStore
        from qdrant_client import QdrantClient

        from folio.ingest.embed import resolve_model_path

        t_import = time.perf_counter()
        pypdf.overwrite_configuration(array_maximum_element_count=5_000_000,
                                      dictionary_maximum_element_count=1_000_000)
        documents = []
        for f in spec["files"]:
            reader = pypdf.PdfReader(f)
            if reader.is_encrypted:
                reader.decrypt("")
            name = Path(f).name
            for i, page in enumerate(reader.pages):
                documents.append(Document(
                    text=page.extract_text() or "", metadata={"file": name, "page": i},
                    excluded_embed_metadata_keys=["file", "page"],
                    excluded_llm_metadata_keys=["file", "page"]))
        t_parse = time.perf_counter()
        model_path = str(resolve_model_path("all-MiniLM-L6-v2"))
        embed_model = HuggingFaceEmbedding(model_name=model_path, device="cpu")
        t_model = time.perf_counter()
        client = QdrantClient(path=str(Path(spec["data_dir"]) / "qdrant"))
        vector_store = QdrantVectorStore(collection_name="bench", client=client)
        splitter = SentenceSplitter()
        pipeline = IngestionPipeline(transformations=[splitter, embed_model], vector_store=vector_store)
        nodes = pipeline.run(documents=documents)
        t_end = time.perf_counter()
    seconds = t_end - t0
    n_pages = len(documents)
    # how much of each chunk the model actually sees (it truncates at max_seq_length word pieces)
    tok = embed_model._model.tokenizer
    max_len = int(embed_model._model.max_seq_length or 0)
    lengths = [len(tok(n.get_content(metadata_mode=MetadataMode.EMBED), add_special_tokens=True)["input_ids"])
               for n in nodes]
    truncated = sum(1 for n in lengths if n > max_len)

    from llama_index.core import VectorStoreIndex
    from llama_index.core.vector_stores import MetadataFilter, MetadataFilters

    index = VectorStoreIndex.from_vector_store(vector_store=vector_store, embed_model=embed_model)
    questions = _questions(spec)
    spans: dict[str, list[tuple[int, int]]] = {}
    k = spec.get("k", TOP_K)
    for q in questions:
        retriever = index.as_retriever(similarity_top_k=k, filters=MetadataFilters(
            filters=[MetadataFilter(key="file", value=q.file)]))
        got = retriever.retrieve(q.text)
        spans[q.id] = [(int(n.node.metadata["page"]), int(n.node.metadata["page"])) for n in got]
    client.close()
    import torch

    return {
        "system": "llamaindex",
        "label": "(b) llama-index IngestionPipeline(SentenceSplitter(), HuggingFaceEmbedding) + local Qdrant",
        "pages": n_pages,
        "chunks": len(nodes),
        "seconds": round(seconds, 3),
        "pages_per_s": round(n_pages / seconds, 3),
        "breakdown_s": {"imports_s": round(t_import - t0, 3), "pypdf_parse_s": round(t_parse - t_import, 3),
                        "model_load_s": round(t_model - t_parse, 3),
                        "split_embed_upsert_s": round(t_end - t_model, 3)},
        "encode_chunks_per_s": None,
        "embed_batch_size": embed_model.embed_batch_size,
        "splitter": {"chunk_size": splitter.chunk_size, "chunk_overlap": splitter.chunk_overlap},
        "model_max_seq_length": max_len,
        "chunks_truncated_by_model": truncated,
        "mean_chunk_wordpieces": round(sum(lengths) / len(lengths), 1) if lengths else 0,
        "peak_rss_mb": rss.peak_mb,
        "rss_at_start_mb": rss.start_mb,
        "cpu": rss.cpu_report(),
        **rusage_mb(),
        "dtype": "fp32",
        "torch_threads": torch.get_num_threads(),
        "recall": {"dense": recall(questions, spans)},
    }


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ours": child_ours, "floor": child_floor, "llamaindex": child_llamaindex,
}


def child_main(argv: list[str]) -> int:
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text())
    offline_env()
    _quiet()
    result = CHILDREN[spec["kind"]](spec)
    result["tag"] = spec.get("tag", "")
    out_path.write_text(json.dumps(result, indent=2, default=_json_default))
    return 0


def _json_default(obj: object) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)  # type: ignore[call-overload]
    return str(obj)


# -- reports ----------------------------------------------------------------------------------------------


def results_dir() -> Path:
    path = REPO / "bench" / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
