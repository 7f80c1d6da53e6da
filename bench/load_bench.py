"""Load: concurrent clients against one `folio serve` while a batch ingest runs through the same service.

What it does:

1. Starts the provider double (``folio.testing.provider``, on loopback, in its own process) and ``folio serve`` in its
   own process on a free loopback port, over a fresh temp data dir (Qdrant local mode) with the bundled embedding
   model (all-MiniLM-L6-v2, loaded offline from the installed package) and the double as its language model.
2. Uploads the base corpus (``samples/``) through the API and waits for it.
3. For ``--duration`` seconds, ``--clients`` concurrent clients (asyncio + httpx, closed loop, no think time) mix
   ``POST /v1/plan`` (auto), ``POST /v1/query`` (``--query-mode``, answered by the double), ``GET /v1/documents`` and
   ``GET /v1/documents/{id}/pages/{n}``; meanwhile the batch ingest uploads the ``--pdfs`` smallest
   financebench-dev PDFs, and one base file again (same bytes: must stay one document), through
   ``POST /v1/documents`` (local mode allows one process, so uploads go through the service), and polls its jobs.
4. Waits for the batch to finish (at most ``--ingest-timeout`` s), checks the documents
   (``GET /v1/documents?status=all``) against what was uploaded: one ready document per distinct file, none
   missing or extra, chunk counts equal to the jobs'; then stops the service and counts every document's chunks
   in the store itself (``Store.count_chunks``).

Reported: requests, throughput and p50/p99 latency per operation; every status, the 5xx counted (the target is
zero); documents lost or duplicated (zero); the service process's RSS (with its children) sampled over the run;
the CPU the service and the rest of the machine used. Writes ``bench/results/load-<date>[-<tag>].json`` and ``.md``.

    .venv/bin/python bench/load_bench.py                             # 32 clients, 60 s, 3 PDFs
    .venv/bin/python bench/load_bench.py --clients 8 --duration 20 --pdfs 1 --tag quick

Bounded: at most 64 clients and 600 s; everything listens and is reached on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import command_line, default_data_root, fmt, machine_info, pdf_page_count, results_dir

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only: the service, the double and the clients
MAX_CLIENTS = 64
MAX_DURATION_S = 600.0
OPS = ("plan", "query", "list", "page")
SAMPLE_QUESTIONS = [
    "Which state's laws govern the agreement?",
    "What is the liability cap under the master services agreement?",
    "Who may terminate the agreement for convenience, and with how much notice?",
    "What revenue did Brightwater report for 2025?",
    "What did the board update say about the third quarter?",
    "What does the amendment change?",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


# -- the processes ------------------------------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               HF_HUB_DISABLE_PROGRESS_BARS="1")
    return env


class Double:
    """The provider double in a child process (its CPU and memory are not the service's)."""

    SCRIPT = ("import sys\nfrom folio.testing.provider import run_provider_double\n"
              "with run_provider_double() as double:\n    print(double.base_url, flush=True)\n    sys.stdin.read()\n")

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT], cwd=REPO, env=_clean_env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith(f"http://{HOST}:"):
            self.stop()
            raise RuntimeError("the provider double did not start")

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Service:
    """``folio serve`` in a child process on a loopback port; its output goes to a log file."""

    def __init__(self, data_dir: Path, llm_base_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        env = _clean_env()
        env.update(FOLIO_DATA_DIR=str(data_dir), FOLIO_LLM_BASE_URL=llm_base_url, FOLIO_LLM_API_KEY="bench",
                   FOLIO_LLM_MODEL="deepseek-chat", FOLIO_PRICING_PROFILE="deepseek-v4-flash-compat")
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from folio.cli import main; main()", "serve", "--host", HOST,
             "--port", str(self.port)], cwd=data_dir.parent, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float) -> float:
        import httpx

        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"folio serve exited ({self.proc.returncode}): {self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"folio serve was not ready within {timeout_s:.0f} s: {self.tail()}")

    def tail(self, lines: int = 20) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the store is closed
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)


class RssSampler:
    """The RSS of a process and its children, every ``interval_s`` (at most ``max_samples``), in a thread; and the
    process's CPU seconds and the machine's busy CPU seconds over the same time."""

    def __init__(self, pid: int, interval_s: float, max_samples: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.interval_s = interval_s
        self.max_samples = max_samples
        self.samples: list[dict[str, Any]] = []
        self.phase = "start"
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def rss_mb(self) -> float | None:
        import psutil

        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
            return round(sum(p.memory_info().rss for p in procs) / 2**20, 1)
        except psutil.Error:
            return None

    def cpu_s(self) -> float:
        import psutil

        try:
            times = self.proc.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system + times.children_user + times.children_system)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s) and len(self.samples) < self.max_samples:
            rss = self.rss_mb()
            if rss is not None:
                self.samples.append({"t_s": round(time.monotonic() - self._t0, 2), "rss_mb": rss, "phase": self.phase})

    def start(self) -> None:
        rss = self.rss_mb()
        if rss is not None:
            self.samples.append({"t_s": 0.0, "rss_mb": rss, "phase": self.phase})
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def machine_busy_s() -> float:
    import psutil

    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0) + getattr(t, "steal", 0.0)
    return float(sum(t) - idle - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0))


# -- the load -----------------------------------------------------------------------------------------------


@dataclass
class Sample:
    op: str
    status: int  # 0: no HTTP answer (timeout, connection error)
    latency_s: float
    t_s: float  # when it started, from the start of the load
    error: str | None = None


@dataclass
class Upload:
    name: str
    sha256: str
    size: int
    pages: int | None = None
    job_id: str | None = None
    status_code: int | None = None
    job: dict[str, Any] | None = None
    submitted_s: float | None = None
    finished_s: float | None = None


@dataclass
class LoadState:
    docs: list[tuple[str, int]]  # ready documents as the last listing saw them: id, pages
    samples: list[Sample] = field(default_factory=list)
    stop_at: float = 0.0
    t0: float = 0.0


async def _timed(state: LoadState, op: str, send: Any) -> Any:
    import httpx

    started = time.monotonic()
    try:
        response = await send()
    except httpx.HTTPError as exc:
        state.samples.append(Sample(op, 0, time.monotonic() - started, started - state.t0, type(exc).__name__))
        return None
    state.samples.append(Sample(op, response.status_code, time.monotonic() - started, started - state.t0,
                                None if response.status_code < 400 else response.text[:300]))
    return response


async def client_loop(http: Any, state: LoadState, rng: random.Random, mix: dict[str, int], questions: list[str],
                      query_mode: str) -> None:
    ops, weights = list(mix), list(mix.values())
    while time.monotonic() < state.stop_at:
        op = rng.choices(ops, weights)[0]
        question = rng.choice(questions)
        if op == "plan":
            await _timed(state, op, lambda q=question: http.post("/v1/plan", json={"question": q, "mode": "auto"}))
        elif op == "query":
            await _timed(state, op, lambda q=question: http.post("/v1/query", json={"question": q, "mode": query_mode}))
        elif op == "list":
            response = await _timed(state, op, lambda: http.get("/v1/documents"))
            if response is not None and response.status_code == 200:
                state.docs = [(d["id"], d["n_pages"]) for d in response.json()["documents"]]
        elif state.docs:
            doc_id, pages = rng.choice(state.docs)
            page = rng.randint(1, pages)
            await _timed(state, op, lambda d=doc_id, p=page: http.get(f"/v1/documents/{d}/pages/{p}"))


async def batch_ingest(http: Any, state: LoadState, uploads: list[Upload], files: dict[str, bytes],
                       timeout_s: float, poll_s: float = 1.0) -> None:
    """Upload every file (one request each, as the UI does), then poll their jobs until all have finished."""
    for upload in uploads:
        upload.submitted_s = time.monotonic() - state.t0
        response = await _timed(state, "upload", lambda u=upload: http.post(
            "/v1/documents", files=[("files", (u.name, files[u.name]))]))
        if response is None:
            continue
        upload.status_code = response.status_code
        if response.status_code == 202:
            upload.job_id = response.json()["jobs"][0]["id"]
    deadline = time.monotonic() + timeout_s
    pending = [u for u in uploads if u.job_id is not None]
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
        for upload in list(pending):
            response = await _timed(state, "job", lambda u=upload: http.get(f"/v1/jobs/{u.job_id}"))
            if response is not None and response.status_code == 200 and response.json().get("finished"):
                upload.job = response.json()
                upload.finished_s = time.monotonic() - state.t0
                pending.remove(upload)


async def run_load(url: str, args: argparse.Namespace, state: LoadState, uploads: list[Upload],
                   files: dict[str, bytes], questions: list[str]) -> dict[str, float]:
    import httpx

    mix = dict(args.mix)
    limits = httpx.Limits(max_connections=args.clients + 4, max_keepalive_connections=args.clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=args.request_timeout, limits=limits) as http:
        state.t0 = time.monotonic()
        state.stop_at = state.t0 + args.duration
        ingest = asyncio.create_task(batch_ingest(http, state, uploads, files, args.duration + args.ingest_timeout))
        clients = [asyncio.create_task(client_loop(http, state, random.Random(args.seed * 1000 + i), mix, questions,
                                                   args.query_mode)) for i in range(args.clients)]
        await asyncio.gather(*clients)
        load_end = time.monotonic() - state.t0
        await ingest
        return {"load_s": round(load_end, 2), "ingest_done_s": round(time.monotonic() - state.t0, 2)}


# -- checks -------------------------------------------------------------------------------------------------


def check_documents(url: str, base: list[Upload], batch: list[Upload]) -> dict[str, Any]:
    """The documents the service lists against what was uploaded: one ready document per distinct file."""
    import httpx

    listed = httpx.get(f"{url}/v1/documents?status=all", timeout=60).json()["documents"]
    expected: dict[str, Upload] = {}
    for upload in [*base, *batch]:
        expected.setdefault(upload.sha256, upload)
    ids = [d["id"] for d in listed]
    by_id = {d["id"]: d for d in listed}
    jobs_chunks: dict[str, int] = {}
    for upload in [*base, *batch]:
        job = upload.job or {}
        if job.get("status") == "done":
            jobs_chunks[job["document_id"]] = int(job["chunks_total"])
    mismatched = {doc_id: {"record": by_id[doc_id]["n_chunks"], "job": n} for doc_id, n in jobs_chunks.items()
                  if doc_id in by_id and by_id[doc_id]["n_chunks"] != n}
    return {
        "uploaded_files": len(base) + len(batch),
        "distinct_files": len(expected),
        "listed": len(listed),
        "missing": sorted(expected[h].name for h in set(expected) - set(ids)),
        "unexpected": sorted(by_id[i]["file_name"] for i in set(ids) - set(expected)),
        "duplicated_ids": sorted({i for i in ids if ids.count(i) > 1}),
        "not_ready": sorted(f"{d['file_name']}: {d['status']}" for d in listed if d["status"] != "ready"),
        "job_statuses": sorted(f"{u.name}: {(u.job or {}).get('status', 'unfinished')}" for u in [*base, *batch]),
        "chunks_record_vs_job_mismatched": mismatched,
        "records": {d["id"]: {"file": d["file_name"], "pages": d["n_pages"], "chunks": d["n_chunks"]} for d in listed},
    }


def count_stored_chunks(data_dir: Path, doc_ids: list[str]) -> dict[str, Any]:
    """Chunks per document as the store holds them, read after the service has stopped (one process at a time)."""
    from folio.config import Settings
    from folio.ingest.store import Store

    with Store.open(Settings(data_dir=data_dir, qdrant_url=None)) as store:
        return {"per_document": {d: store.count_chunks(d) for d in doc_ids}, "total": store.count_chunks()}


# -- report -------------------------------------------------------------------------------------------------


def summarise(samples: list[Sample], seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op in [*OPS, "upload", "job"]:
        mine = [s for s in samples if s.op == op]
        if not mine:
            continue
        ok = [s.latency_s * 1000 for s in mine if 200 <= s.status < 300]
        statuses: dict[str, int] = {}
        for s in mine:
            key = str(s.status) if s.status else f"no answer ({s.error})"
            statuses[key] = statuses.get(key, 0) + 1
        out[op] = {"requests": len(mine), "ok": len(ok), "per_s": round(len(mine) / seconds, 2),
                   "ok_per_s": round(len(ok) / seconds, 2), "p50_ms": _r(pct(ok, 0.50)), "p99_ms": _r(pct(ok, 0.99)),
                   "max_ms": _r(max(ok) if ok else None), "statuses": statuses,
                   "5xx": sum(1 for s in mine if s.status >= 500), "no_answer": sum(1 for s in mine if not s.status),
                   "first_errors": sorted({s.error for s in mine if s.error})[:5]}
    return out


def split_by_ingest(samples: list[dict[str, Any]], ingest_end_s: float | None) -> dict[str, dict[str, Any]]:
    """p50/p99 of each operation's successful requests started while the batch ingest ran, and after it ended."""
    out: dict[str, dict[str, Any]] = {}
    if ingest_end_s is None:
        return out
    for op in OPS:
        ok = [s for s in samples if s["op"] == op and 200 <= s["status"] < 300]
        during = [s["latency_s"] * 1000 for s in ok if s["t_s"] < ingest_end_s]
        after = [s["latency_s"] * 1000 for s in ok if s["t_s"] >= ingest_end_s]
        out[op] = {"during_n": len(during), "during_p50_ms": _r(pct(during, 0.5)),
                   "during_p99_ms": _r(pct(during, 0.99)), "after_n": len(after),
                   "after_p50_ms": _r(pct(after, 0.5)), "after_p99_ms": _r(pct(after, 0.99))}
    return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def markdown(result: dict[str, Any]) -> str:
    ops = result["operations"]
    docs = result["documents"]
    lines = [f"# Load: {result['clients']} clients for {result['duration_s']:.0f} s with a batch ingest "
             f"({result['date']})", "",
             f"Command: `{result['command']}`", "",
             *([f"Note: {result['note']}", ""] if result.get("note") else []),
             f"Machine: {result['machine']['cpu_model']}, {result['machine']['cpu_count']} cores, "
             f"{result['machine']['memory_gb']} GB; load average at start "
             f"{[round(x, 2) for x in result['machine']['load_avg_at_start']]}; "
             f"Folio {result['machine']['folio']['commit']} (uncommitted changes in the working tree: "
             f"{'yes' if result['working_tree_dirty'] else 'no'}).", "",
             "## Verdict", "",
             "| check | result |", "|---|---|",
             f"| 5xx responses | **{result['total_5xx']}** of {result['total_requests']:,} requests |",
             f"| requests without an answer (timeout, connection) | {result['total_no_answer']} |",
             f"| documents: uploaded files / distinct / listed | {docs['uploaded_files']} / {docs['distinct_files']} / "
             f"{docs['listed']} |",
             f"| lost (missing) / unexpected / duplicated ids / not ready | {len(docs['missing'])} / "
             f"{len(docs['unexpected'])} / {len(docs['duplicated_ids'])} / {len(docs['not_ready'])} |",
             f"| chunk counts: record = job = store, every document | "
             f"{'yes' if result['chunk_counts_match'] else 'NO'} ({result['stored_chunks']['total']:,} chunks in "
             f"the store, {sum(r['chunks'] for r in docs['records'].values()):,} in the records) |",
             f"| batch ingest finished | {'within the load' if result['ingest_within_load'] else 'after the load'}"
             f" (last job at {fmt(result['ingest_last_finished_s'], 1)} s; load ran {result['timing']['load_s']} s) |",
             "", "## Operations during the load", "",
             "Latency: successful (2xx) requests, from sending to the whole body read; ops/s over the load's length.",
             "", "| operation | requests | ok | ops/s | p50 ms | p99 ms | max ms | statuses |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for op, row in ops.items():
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(row["statuses"].items()))
        lines.append(f"| {op} | {row['requests']:,} | {row['ok']:,} | {row['ok_per_s']} | {fmt(row['p50_ms'], 0)} | "
                     f"{fmt(row['p99_ms'], 0)} | {fmt(row['max_ms'], 0)} | {statuses} |")
    lines += ["", f"All operations: {result['total_ok_per_s']} successful requests/s."]
    split = split_by_ingest(result["request_samples"], result["ingest_last_finished_s"])
    if split:
        lines += ["", f"While the batch ingest ran (requests started before {result['ingest_last_finished_s']:.1f} s) "
                  "and after it:", "",
                  "| operation | during: n | p50 ms | p99 ms | after: n | p50 ms | p99 ms |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for op, row in split.items():
            lines.append(f"| {op} | {row['during_n']} | {fmt(row['during_p50_ms'], 0)} | "
                         f"{fmt(row['during_p99_ms'], 0)} | {row['after_n']} | {fmt(row['after_p50_ms'], 0)} | "
                         f"{fmt(row['after_p99_ms'], 0)} |")
    lines += ["",
              "## The batch ingest (through `POST /v1/documents`, during the load)", "",
              "| file | pages | job | chunks | job seconds | finished at s |", "|---|---:|---|---:|---:|---:|"]
    for u in result["uploads"]["batch"]:
        job = u["job"] or {}
        seconds = None if not job.get("finished") else job["finished"] - job["created"]
        lines.append(f"| {u['name']} | {u['pages'] if u['pages'] is not None else '—'} | {job.get('status', '—')} | "
                     f"{job.get('chunks_total', '—')} | {fmt(seconds, 1)} | {fmt(u['finished_s'], 1)} |")
    rss = result["rss"]
    lines += ["", "## Memory of the service process (RSS, with its children)", "",
              f"At ready {fmt(rss['at_ready_mb'], 0)} MB; after the base upload {fmt(rss['before_load_mb'], 0)} MB; "
              f"peak {fmt(rss['peak_mb'], 0)} MB (at {fmt(rss['peak_t_s'], 0)} s); at the end "
              f"{fmt(rss['end_mb'], 0)} MB; {len(rss['samples'])} samples every {rss['interval_s']} s.", "",
              "| t s | phase | RSS MB |", "|---:|---|---:|"]
    for s in rss["table"]:
        lines.append(f"| {s['t_s']:.0f} | {s['phase']} | {s['rss_mb']:.0f} |")
    cpu = result["cpu"]
    lines += ["", "## CPU", "",
              f"During the load and the ingest ({cpu['wall_s']} s): the service used {cpu['service_cpu_s']} CPU s "
              f"({cpu['service_cores']} cores on average); the whole machine was busy {cpu['machine_busy_s']} CPU s "
              f"({cpu['machine_cores']} of {result['machine']['cpu_count']} cores), so the clients, the provider "
              f"double and other processes used about {cpu['others_cores']} cores. Load average at the end: "
              f"{cpu['load_avg_at_end']}.", "",
              "## Setup", "",
              f"- Service: `folio serve` on {HOST} (one process, uvicorn), Qdrant local mode in a fresh temp dir, "
              f"embedding model `{result['embed_model']}` (bundled, offline), the provider double as its model "
              f"(`deepseek-chat`); access log at INFO as in production.",
              f"- Base corpus, uploaded before the load: {', '.join(u['name'] for u in result['uploads']['base'])}.",
              f"- Clients: {result['clients']} asyncio tasks over one httpx client, closed loop; mix "
              f"{', '.join(f'{k} {v}' for k, v in result['mix'].items())} (weights); plan `auto`, query "
              f"`{result['query_mode']}`; questions: {result['questions']} (samples' and financebench's for the "
              "batch's PDFs); page reads of a random page of a random document from the last listing.",
              f"- Batch: {len(result['uploads']['batch'])} uploads started at the load's start, one request each, "
              "jobs polled every second; the last one is a base file again (same bytes: must be skipped).",
              ]
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------------------------------------


def parse_mix(text: str) -> list[tuple[str, int]]:
    mix = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in OPS or not weight.strip().isdigit():
            raise argparse.ArgumentTypeError(f"--mix takes {','.join(f'{o}=N' for o in OPS)}, not {text!r}")
        mix.append((name.strip(), int(weight)))
    if not any(w for _, w in mix):
        raise argparse.ArgumentTypeError("--mix needs one weight above 0")
    return mix


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help=f"concurrent clients (1 to {MAX_CLIENTS})")
    parser.add_argument("--duration", type=float, default=60.0, help=f"seconds of load (at most {MAX_DURATION_S:.0f})")
    parser.add_argument("--pdfs", type=int, default=3, help="the N smallest financebench-dev PDFs make the batch")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix("plan=3,query=2,list=2,page=3"))
    parser.add_argument("--query-mode", choices=["auto", "rag", "full"], default="rag")
    parser.add_argument("--ingest-timeout", type=float, default=300.0,
                        help="seconds the batch may take after the load ends before it counts as unfinished")
    parser.add_argument("--request-timeout", type=float, default=120.0)
    parser.add_argument("--rss-interval", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-root", type=Path, default=default_data_root())
    parser.add_argument("--tag", default=None)
    parser.add_argument("--out-dir", type=Path, default=None, help="default: bench/results/")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="only write the Markdown report of an earlier run's JSON again, beside it")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be 1 to {MAX_CLIENTS}")
    if not 1.0 <= args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must be 1 to {MAX_DURATION_S:.0f} seconds")
    if not 0 <= args.pdfs <= 40:
        parser.error("--pdfs must be 0 to 40")
    return args


def smallest_pdfs(folder: Path, n: int) -> list[tuple[Path, int]]:
    pdfs = sorted((pdf_page_count(p), p.name, p) for p in (folder / "pdfs").glob("*.pdf"))
    return [(p, pages) for pages, _, p in pdfs[:n]]


def batch_questions(folder: Path, stems: set[str]) -> list[str]:
    path = folder / "questions.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["question"][:2000] for r in rows if r.get("doc") in stems]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        args.render.with_suffix(".md").write_text(markdown(json.loads(args.render.read_text())))
        return 0
    os.environ.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    import httpx

    folder = args.data_root / "financebench-dev"
    batch_pdfs = smallest_pdfs(folder, args.pdfs) if args.pdfs else []
    base_files = sorted(p for p in (REPO / "samples").iterdir() if p.is_file())
    files = {p.name: p.read_bytes() for p in [*base_files, *(p for p, _ in batch_pdfs)]}
    base = [Upload(p.name, hashlib.sha256(files[p.name]).hexdigest(), len(files[p.name])) for p in base_files]
    batch = [Upload(p.name, hashlib.sha256(files[p.name]).hexdigest(), len(files[p.name]), pages)
             for p, pages in batch_pdfs]
    again = base[0]
    batch.append(Upload(again.name, again.sha256, again.size))  # the same bytes again: one document
    questions = SAMPLE_QUESTIONS + batch_questions(folder, {p.stem for p, _ in batch_pdfs})
    from folio.config import Settings

    embed_model = str(Settings.model_fields["embed_model"].default)  # what the service loads: the default
    machine = machine_info()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True,
                           check=False).stdout.strip() != ""

    with tempfile.TemporaryDirectory(prefix="folio-load-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        log("starting the provider double")
        double = Double()
        service: Service | None = None
        sampler: RssSampler | None = None
        try:
            log(f"starting folio serve (data in {data_dir})")
            service = Service(data_dir, double.base_url, Path(tmp) / "serve.log")
            ready_s = service.wait_ready(300)
            log(f"ready in {ready_s:.1f} s at {service.url}")
            max_samples = int((args.duration + args.ingest_timeout + 600) / args.rss_interval) + 10
            sampler = RssSampler(service.proc.pid, args.rss_interval, max_samples)
            sampler.phase = "ready"
            sampler.start()
            rss_ready = sampler.rss_mb()
            log(f"uploading the base corpus: {', '.join(u.name for u in base)}")
            sampler.phase = "base upload"
            response = httpx.post(f"{service.url}/v1/documents?wait=true", timeout=600,
                                  files=[("files", (u.name, files[u.name])) for u in base])
            response.raise_for_status()
            for upload, job in zip(base, response.json()["jobs"], strict=True):
                upload.job, upload.job_id, upload.status_code = job, job["id"], response.status_code
            listed = httpx.get(f"{service.url}/v1/documents", timeout=60).json()["documents"]
            state = LoadState(docs=[(d["id"], d["n_pages"]) for d in listed])
            rss_before = sampler.rss_mb()
            log(f"load: {args.clients} clients for {args.duration:.0f} s; batch of {len(batch)} uploads")
            sampler.phase = "load + ingest"
            cpu0, busy0, wall0 = sampler.cpu_s(), machine_busy_s(), time.monotonic()
            timing = asyncio.run(run_load(service.url, args, state, batch, files, questions))
            sampler.phase = "ingest only"
            cpu1, busy1, wall1 = sampler.cpu_s(), machine_busy_s(), time.monotonic()
            log(f"load done in {timing['load_s']} s; batch done at {timing['ingest_done_s']} s")
            rss_end = sampler.rss_mb()
            documents = check_documents(service.url, base, batch)
            sampler.stop()
            code = service.stop()
            log(f"folio serve stopped ({code}); counting chunks in the store")
            stored = count_stored_chunks(data_dir, list(documents["records"]))
        finally:
            if sampler is not None:
                sampler.stop()
            if service is not None:
                service.stop()
            double.stop()

    seconds = timing["load_s"]
    load_samples = [s for s in state.samples if s.op in OPS]
    operations = summarise(state.samples, seconds)
    records = documents["records"]
    chunk_counts_match = (not documents["chunks_record_vs_job_mismatched"]
                          and all(stored["per_document"][d] == r["chunks"] for d, r in records.items())
                          and stored["total"] == sum(r["chunks"] for r in records.values()))
    finished = [u.finished_s for u in batch if u.finished_s is not None]
    samples = sampler.samples if sampler is not None else []
    peak = max(samples, key=lambda s: s["rss_mb"]) if samples else None
    step = max(1, len(samples) // 24)
    wall = wall1 - wall0
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "command": command_line(), "machine": machine,
        "working_tree_dirty": dirty, "clients": args.clients, "duration_s": args.duration,
        "mix": dict(args.mix), "query_mode": args.query_mode, "questions": len(questions),
        "embed_model": embed_model, "service_ready_s": round(ready_s, 1), "timing": timing,
        "operations": operations,
        "total_requests": len(state.samples),
        "total_5xx": sum(1 for s in state.samples if s.status >= 500),
        "total_no_answer": sum(1 for s in state.samples if not s.status),
        "total_ok_per_s": round(sum(1 for s in load_samples if 200 <= s.status < 300) / seconds, 2),
        "documents": documents, "stored_chunks": stored, "chunk_counts_match": chunk_counts_match,
        "ingest_last_finished_s": max(finished) if len(finished) == len(batch) else None,
        "ingest_within_load": len(finished) == len(batch) and max(finished, default=0.0) <= seconds,
        "uploads": {"base": [u.__dict__ for u in base], "batch": [u.__dict__ for u in batch]},
        "rss": {"interval_s": args.rss_interval, "at_ready_mb": rss_ready, "before_load_mb": rss_before,
                "end_mb": rss_end, "peak_mb": peak["rss_mb"] if peak else None,
                "peak_t_s": peak["t_s"] if peak else None, "samples": samples, "table": samples[::step]},
        "cpu": {"wall_s": round(wall, 1), "service_cpu_s": round(cpu1 - cpu0, 1),
                "service_cores": round((cpu1 - cpu0) / wall, 2), "machine_busy_s": round(busy1 - busy0, 1),
                "machine_cores": round((busy1 - busy0) / wall, 2),
                "others_cores": round((busy1 - busy0 - (cpu1 - cpu0)) / wall, 2),
                "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "request_samples": [s.__dict__ for s in state.samples[:20000]],
    }
    stem = f"load-{result['date']}" + (f"-{args.tag}" if args.tag else "")
    out = args.out_dir or results_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1, default=str))
    (out / f"{stem}.md").write_text(markdown(result))
    log(f"wrote {out / stem}.md and .json")
    print(markdown(result))
    ok = (result["total_5xx"] == 0 and chunk_counts_match and not documents["missing"]
          and not documents["unexpected"] and not documents["duplicated_ids"] and not documents["not_ready"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
