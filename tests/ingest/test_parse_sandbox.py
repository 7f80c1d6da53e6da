"""The parser's sandbox (``ingest.sandbox``): every file is parsed in a worker process, under a deadline and an
address-space cap. A form bomb (2 KB that take pypdf hours) is stopped at FOLIO_PARSE_TIMEOUT_S with
``parse_timeout``; a parse past FOLIO_PARSE_MEMORY_MB fails with ``parse_memory``; the worker is replaced, the
batch goes on, the index is untouched, and no process is left behind: through ``folio ingest``, the upload
API and a real ``folio serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from folio.config import Settings
from folio.errors import CorruptFile, ParseMemory, ParseTimeout, http_status_for
from folio.ingest.cli import cli
from folio.ingest.embed import HashEmbedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.sandbox import ParseInterrupted, ParserPool, SandboxLimits, descendants
from folio.ingest.sources import Source, safe_file_name
from folio.ingest.store import Store
from tests import hostile, sandbox_tasks
from tests.live_server import free_port
from tests.pdfs import write
from tests.service_helpers import contract_pdf, service, service_settings
from tests.ui_helpers import wait_until_ready

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 3.0  # FOLIO_PARSE_TIMEOUT_S in these tests: every sound file here parses in well under a second
MARGIN_S = 30.0  # generous, on two busy cores: a worker's start (a few seconds) counts too
GOOD_TEXT = "The buyer may return defective units within ninety days for a full refund."


# -- processes --------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone(pids: Iterable[int], within_s: float = 30.0) -> list[int]:
    """The processes of ``pids`` still running once ``within_s`` has passed (polled: none, at once, if all
    are gone)."""
    pids = list(pids)
    deadline = time.monotonic() + within_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _ours() -> set[int]:
    """The processes under this one, but multiprocessing's resource tracker (one per process, for its life)."""
    def command(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return ""

    return {pid for pid in descendants(os.getpid()) if "resource_tracker" not in command(pid) and _alive(pid)}


# -- the pool -----------------------------------------------------------------------------------------------


def test_a_task_past_its_deadline_is_killed_with_every_process_under_it():
    before = _ours()
    pool = ParserPool(1, SandboxLimits(timeout_s=TIMEOUT_S, memory_mb=None))
    try:
        hung = pool.submit(sandbox_tasks.hang_over_a_child, name="hung.pdf")
        queued = pool.submit(abs, -7, name="next.pdf")  # waits behind it, then gets a fresh worker
        grandchild = pool.events.get(timeout=120)
        [worker] = pool.pids()
        error = hung.exception(timeout=TIMEOUT_S + MARGIN_S)
        assert isinstance(error, ParseTimeout) and error.code == "parse_timeout" and error.file == "hung.pdf"
        assert f"{TIMEOUT_S:g} s (FOLIO_PARSE_TIMEOUT_S)" in error.message
        assert _gone([worker, grandchild]) == []
        assert queued.result(timeout=120) == 7
        assert pool.pids() and worker not in pool.pids()
    finally:
        pool.close()
    assert _gone(_ours() - before) == []


def test_progress_starts_the_clock_again():
    """Ten events 0.75 s apart: 7.5 s of work, under a deadline of 4 s without progress."""
    pool = ParserPool(1, SandboxLimits(timeout_s=4, memory_mb=None))
    try:
        assert pool.submit(sandbox_tasks.steady, 10, 0.75, name="long-scan.pdf").result(timeout=120) == "finished"
        assert [pool.events.get_nowait() for _ in range(10)] == list(range(10))
    finally:
        pool.close()


def test_a_memory_error_fails_the_task_and_the_worker_is_replaced():
    pool = ParserPool(1, SandboxLimits(timeout_s=60, memory_mb=50))
    try:
        assert pool.submit(abs, -1, name="warm.pdf").result(timeout=120) == 1
        [first] = pool.pids()
        error = pool.submit(bytearray, 500_000_000, name="big.pdf").exception(timeout=120)
        assert isinstance(error, ParseMemory) and error.code == "parse_memory" and error.file == "big.pdf"
        assert "50 MB limit (FOLIO_PARSE_MEMORY_MB)" in error.message
        assert pool.submit(bytearray, 10_000_000, name="fits.pdf").result(timeout=120) == bytearray(10_000_000)
        assert first not in pool.pids() and _gone([first]) == []
    finally:
        pool.close()


def test_a_worker_that_dies_fails_its_task_alone():
    pool = ParserPool(1, SandboxLimits(timeout_s=60, memory_mb=None))
    try:
        crashed = pool.submit(os._exit, 3, name="crash.pdf")
        after = pool.submit(abs, -2, name="after.pdf")
        error = crashed.exception(timeout=120)
        assert isinstance(error, CorruptFile) and error.file == "crash.pdf" and "exit code 3" in error.message
        assert after.result(timeout=120) == 2
        assert isinstance(pool.submit(int, "x", name="bad.pdf").exception(timeout=120), ValueError)  # passed on
    finally:
        pool.close()


def test_closing_the_pool_interrupts_its_work_and_leaves_no_process():
    before = _ours()
    pool = ParserPool(1, SandboxLimits(timeout_s=600, memory_mb=None))
    running = pool.submit(sandbox_tasks.report_then_sleep, name="slow.pdf")
    queued = pool.submit(abs, -1, name="queued.pdf")
    assert pool.events.get(timeout=120) == "started"
    workers = pool.pids()
    pool.close()
    for future, name in ((running, "slow.pdf"), (queued, "queued.pdf")):
        error = future.exception(timeout=5)
        assert isinstance(error, ParseInterrupted) and error.code == "interrupted" and error.file == name
    assert isinstance(pool.submit(abs, -1, name="late.pdf").exception(timeout=5), ParseInterrupted)
    assert _gone(workers) == [] and _gone(_ours() - before) == []


def test_a_worker_whose_owner_is_killed_goes_too(tmp_path):
    """``kill -9`` of the process that owns the pool (not of its group): the worker, mid-parse, exits by itself."""
    script = (
        "import time\n"
        "from folio.ingest.sandbox import ParserPool, SandboxLimits\n"
        "from tests.sandbox_tasks import report_then_sleep\n"
        "pool = ParserPool(1, SandboxLimits(timeout_s=600))\n"
        "pool.submit(report_then_sleep, name='slow.pdf')\n"
        "pool.events.get(timeout=120)\n"
        "print(pool.pids()[0], flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        worker = int(owner.stdout.readline())
        assert _alive(worker)
    finally:
        owner.kill()
        owner.wait(timeout=30)
    assert _gone([worker]) == []


# -- folio ingest -------------------------------------------------------------------------------------------


def test_folio_ingest_stops_a_form_bomb_at_its_deadline_and_goes_on(tmp_path):
    folder = tmp_path / "batch"
    write(folder / "a-form-bomb.pdf", hostile.form_bomb_pdf())
    write(folder / "b-good.txt", GOOD_TEXT.encode())
    before = _ours()
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["ingest", str(folder), "--json"], catch_exceptions=False, env={
        "FOLIO_EMBED_MODEL": "hash-64", "FOLIO_DATA_DIR": str(tmp_path / "data"), "FOLIO_INGEST_WORKERS": "1",
        "FOLIO_PARSE_TIMEOUT_S": str(TIMEOUT_S)})
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    rows = {Path(r["file"]).name: r for r in json.loads(result.stdout)["results"]}
    bomb, good = rows["a-form-bomb.pdf"], rows["b-good.txt"]
    assert bomb["status"] == "failed" and bomb["error"]["code"] == "parse_timeout", bomb
    assert bomb["error"]["file"] == str(folder / "a-form-bomb.pdf")
    assert "FOLIO_PARSE_TIMEOUT_S" in bomb["error"]["message"] and f"{TIMEOUT_S:g} s" in bomb["error"]["message"]
    assert bomb["seconds"] < TIMEOUT_S + MARGIN_S
    assert good["status"] == "ingested", good
    assert elapsed < 2 * MARGIN_S  # not the hours the bomb would take
    assert f"FAILED {folder / 'a-form-bomb.pdf'}:" in result.stderr and "[parse_timeout]" in result.stderr
    with Store.open(Settings(data_dir=tmp_path / "data", embed_model="hash-64")) as store:
        assert [r.file_name for r in store.list_documents(status=None)] == ["b-good.txt"]
    assert _gone(_ours() - before) == []  # the worker, the one killed and the one after it


def test_a_parse_past_the_memory_cap_fails_with_parse_memory_and_the_next_file_parses(tmp_path):
    """The stream caps raised past a 2 GiB deflate bomb: the memory cap is what stops it."""
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=1, parse_memory_mb=300,
                        max_stream_mb=4000, max_decompressed_mb=8000)
    with Store.open(settings) as store:
        ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
        try:
            results = ingestor.run([Source(name="flate-bomb.pdf", key="bomb", data=hostile.flate_bomb_pdf()),
                                    Source(name="good.pdf", key="good", data=contract_pdf())])
        finally:
            ingestor.close()
        assert results[0].status == "failed" and results[0].error is not None
        assert results[0].error.code == "parse_memory" and results[0].error.http_status == 413
        assert "300 MB limit (FOLIO_PARSE_MEMORY_MB)" in results[0].error.message
        assert results[1].status == "ingested", results[1].error
        assert [r.file_name for r in store.list_documents(status=None)] == ["good.pdf"]


def test_native_code_out_of_memory_under_the_cap_is_parse_memory_too(tmp_path):
    """Three MB of text under a 60 MB cap: the tokenizers (Rust) abort the process when an allocation fails,
    where Python would raise; either way the file fails with parse_memory, and a small file after it parses."""
    words = GOOD_TEXT.rstrip(".").split(" ")
    text = "\n\n".join(" ".join(words[(i + j) % len(words)] for j in range(100)) for i in range(5_000)).encode()
    assert len(text) > 2_500_000
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=1, parse_memory_mb=60)
    with Store.open(settings) as store:
        ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
        try:
            results = ingestor.run([Source(name="long.txt", key="long", data=text),
                                    Source(name="short.txt", key="short", data=GOOD_TEXT.encode())])
        finally:
            ingestor.close()
        assert results[0].error is not None and results[0].error.code == "parse_memory", results[0].error
        assert "60 MB limit (FOLIO_PARSE_MEMORY_MB)" in results[0].error.message
        assert results[1].status == "ingested", results[1].error
        assert [r.file_name for r in store.list_documents(status=None)] == ["short.txt"]


def test_file_names_from_the_command_line_are_cleaned_like_uploaded_ones(tmp_path):
    from folio.service.routes import documents

    assert documents.safe_file_name is safe_file_name  # one function for both
    folder = tmp_path / "names"
    names = {"escape \x1b[31mred\x1b[0m.txt": "escape [31mred[0m.txt", "rlo \u202egnp.txt": "rlo gnp.txt",
             "tab\tand\x7fdel.txt": "tabanddel.txt", "zero\u200bwidth.txt": "zerowidth.txt"}
    for i, name in enumerate(names):
        write(folder / name, f"{GOOD_TEXT} Copy {i}.".encode())
    result = CliRunner().invoke(cli, ["ingest", *(str(folder / n) for n in names), "--json"], env={
        "FOLIO_EMBED_MODEL": "hash-64", "FOLIO_DATA_DIR": str(tmp_path / "data"), "FOLIO_INGEST_WORKERS": "0"})
    assert result.exit_code == 0, result.output
    with Store.open(Settings(data_dir=tmp_path / "data")) as store:
        assert sorted(r.file_name for r in store.list_documents()) == sorted(names.values())


# -- the service --------------------------------------------------------------------------------------------


def test_an_upload_of_a_form_bomb_fails_with_parse_timeout_and_the_next_one_parses(tmp_path):
    before = _ours()
    settings = service_settings(tmp_path, None, ingest_workers=1, parse_timeout_s=TIMEOUT_S)
    with service(settings) as client:
        ingestor = client.app.state.runtime.ingestor
        assert ingestor.parser_pids() == []  # started by the first upload, not with the service
        started = time.monotonic()
        response = client.post("/v1/documents?wait=true", files=[("files", ("form-bomb.pdf", hostile.form_bomb_pdf()))])
        assert time.monotonic() - started < TIMEOUT_S + MARGIN_S
        assert response.status_code == http_status_for("parse_timeout") == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "parse_timeout" and error["file"] == "form-bomb.pdf"
        assert "FOLIO_PARSE_TIMEOUT_S" in error["message"]
        job = client.get("/v1/jobs").json()["jobs"][0]
        assert job["status"] == "failed" and job["error"]["code"] == "parse_timeout"
        response = client.post("/v1/documents?wait=true", files=[("files", ("good.pdf", contract_pdf()))])
        assert response.status_code == 200 and response.json()["jobs"][0]["status"] == "done", response.text
        workers = ingestor.parser_pids()
        assert len(workers) == 1
        assert [d["file_name"] for d in client.get("/v1/documents?status=all").json()["documents"]] == ["good.pdf"]
    assert _gone(workers) == [] and _gone(_ours() - before) == []


def test_folio_serve_stops_a_form_bomb_and_takes_its_parser_worker_with_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env.update(FOLIO_DATA_DIR=str(tmp_path / "data"), FOLIO_EMBED_MODEL="hash-64", HF_HUB_OFFLINE="1",
               FOLIO_PARSE_TIMEOUT_S=str(TIMEOUT_S))
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "folio.cli", "serve", "--port", str(port)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        under: list[int] = []
        try:
            wait_until_ready(base, server, log_path)
            with httpx.Client(base_url=base, timeout=120) as http:
                upload = [("files", ("form-bomb.pdf", hostile.form_bomb_pdf()))]
                bomb = http.post("/v1/documents?wait=true", files=upload)
                assert bomb.status_code == 422 and bomb.json()["error"]["code"] == "parse_timeout", bomb.text
                good = http.post("/v1/documents?wait=true", files=[("files", ("good.pdf", contract_pdf()))])
                assert good.status_code == 200 and good.json()["jobs"][0]["status"] == "done", good.text
            under = descendants(server.pid)
            assert under, "the parser worker runs under the server"
        finally:
            server.terminate()
            server.wait(timeout=60)
    assert _gone(under) == [], log_path.read_text()


# -- settings and codes -------------------------------------------------------------------------------------


def test_the_limits_come_from_the_settings_and_the_codes_from_the_tree(monkeypatch):
    assert SandboxLimits.from_settings(Settings()) == SandboxLimits()  # one set of defaults
    monkeypatch.setenv("FOLIO_PARSE_TIMEOUT_S", "7.5")
    monkeypatch.setenv("FOLIO_PARSE_MEMORY_MB", "900")
    assert SandboxLimits.from_settings(Settings()) == SandboxLimits(timeout_s=7.5, memory_mb=900)
    assert ParseTimeout.http_status == http_status_for("parse_timeout") == 422
    assert ParseMemory.http_status == http_status_for("parse_memory") == 413


@pytest.mark.parametrize("value", ["0", "-1"])
def test_the_limits_must_be_positive(monkeypatch, value):
    from pydantic import ValidationError

    monkeypatch.setenv("FOLIO_PARSE_TIMEOUT_S", value)
    with pytest.raises(ValidationError):
        Settings()
