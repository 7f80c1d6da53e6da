"""Kill -9 the ingest CLI at random points of a batch: documents are whole or absent, a re-run finishes; with the
records in the default SQLite file and in PostgreSQL (``database_url``)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from folio.config import Settings
from folio.ingest.store import Store
from tests.pdfs import text_pdf, write

N_FILES = 10


def _corpus(folder: Path, n: int = N_FILES) -> None:
    for i in range(n):
        pages = [f"Agreement {i}, page {p}. " + f"The Supplier {i} shall deliver lot {p} on time. " * 40
                 for p in range(8)]
        write(folder / f"contract-{i:02d}.pdf", text_pdf(pages))


def _env(data: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env.update(FOLIO_DATA_DIR=str(data), FOLIO_EMBED_MODEL="hash-64", HF_HUB_OFFLINE="1")
    if database_url:
        env["FOLIO_DATABASE_URL"] = database_url
    return env


def _check_whole_or_absent(data: Path, database_url: str | None = None) -> int:
    with Store.open(Settings(data_dir=data, embed_model="hash-64", database_url=database_url)) as store:
        ready = store.list_documents()
        for record in ready:
            assert store.count_chunks(record.id) == record.n_chunks > 0, f"{record.file_name} is partial"
        # whatever is not ready is invisible to queries and is purged by the next writer
        visible = {r.id for r in ready}
        half = [r for r in store.list_documents(status=None) if r.id not in visible]
        assert all(r.status in ("writing", "deleting") for r in half)
        return len(ready)


def _wait_for_files(proc: subprocess.Popen[str], n: int) -> None:
    """Read progress lines until ``n`` files are done (the CLI prints one line per file when piped)."""
    assert proc.stdout is not None
    done = 0
    while done < n:
        line = proc.stdout.readline()
        assert line, "ingest ended before the kill point"
        done += line.startswith("[")


def test_kill_at_random_points_then_rerun(tmp_path, database_url):
    folder = tmp_path / "in"
    _corpus(folder)
    data = tmp_path / "data"
    rng = random.Random(20261128)
    cmd = [sys.executable, "-m", "folio.ingest.cli", "ingest", str(folder)]
    ready_after_kill = []
    for _ in range(3):
        already = _check_whole_or_absent(data, database_url) if data.exists() else 0
        proc = subprocess.Popen(cmd, env=_env(data, database_url), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, start_new_session=True)
        # kill after a random number of newly finished files, then a random fraction of the next one
        _wait_for_files(proc, already + rng.randint(0, 2))
        time.sleep(rng.uniform(0.0, 0.6))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        ready_after_kill.append(_check_whole_or_absent(data, database_url))
    assert ready_after_kill[-1] < N_FILES, "the kills came too late to test anything"
    final = subprocess.run([*cmd, "--json"], env=_env(data, database_url), capture_output=True, text=True,
                           timeout=600)
    assert final.returncode == 0, final.stderr
    assert _check_whole_or_absent(data, database_url) == N_FILES
    with Store.open(Settings(data_dir=data, embed_model="hash-64", database_url=database_url)) as store:
        records = store.list_documents(status=None)
        assert len(records) == N_FILES and all(r.status == "ready" for r in records)
        assert store.count_chunks() == sum(r.n_chunks for r in records)  # no duplicate or orphan points


# runs the command after it with SIGINT handled by default and unblocked, whatever the test runner inherited
AS_A_SHELL_STARTS_IT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
                        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


def test_ctrl_c_is_a_clean_message(tmp_path):
    # a batch long enough that Ctrl-C lands in it: with 10 files a loaded machine let the CLI finish all of them
    # before the test had read the first file's line (it exited 0 before the signal came)
    n_files = 40
    folder = tmp_path / "in"
    _corpus(folder, n_files)
    # started as a shell starts a command: Ctrl-C's default disposition and not blocked. A process that ignores
    # SIGINT passes that on to its children (a background job of a non-interactive shell), and one that blocks it
    # passes on its signal mask: either way the CLI never sees the signal (in CI runs on 2026-12-03 it exited 0
    # with nothing on stderr; reproduced with SIGINT blocked, when no thread of the CLI happened to unblock it)
    proc = subprocess.Popen([sys.executable, "-c", AS_A_SHELL_STARTS_IT, "-m", "folio.ingest.cli", "ingest",
                             str(folder)], env=_env(tmp_path / "data"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_files(proc, 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert 1 <= _check_whole_or_absent(tmp_path / "data") < n_files
