"""For the browser tests: the system Chromium (or a clear skip / CI failure), a real `folio serve` process, and
screenshots saved under the test run's output and `test-output/ui/`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT_DIR = REPO / "test-output" / "ui"


def chromium_executable() -> str:
    """The system Chromium that Playwright drives; in CI its absence fails the test, elsewhere it skips."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package (pip install -e '.[test]')"
    else:
        missing = "" if path else "Debian's chromium (apt-get install chromium)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests need {missing}; scripts/test installs it")
        pytest.skip(f"{missing} is not installed")
    assert path is not None
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def folio_server(workdir: Path, *, serve_args: Sequence[str] = (), **env_overrides: str) -> Iterator[str]:
    """`folio serve [serve_args]` on a free loopback port with its own data dir (its output in
    ``workdir/server.log``); yields the base URL once it is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env.update(FOLIO_DATA_DIR=str(workdir / "data"), FOLIO_EMBED_MODEL="hash-384", FOLIO_INGEST_WORKERS="0",
               HF_HUB_OFFLINE="1")
    env.update(env_overrides)
    port = _free_port()
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "folio.cli", "serve", "--port", str(port), *serve_args],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base, proc, log_path)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until_ready(base: str, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 90) -> None:
    """Poll a `folio serve` process's /readyz until it answers 200; fail with its log if it dies or stalls."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.2)


class Screenshots:
    """Saves each screenshot twice: under the test run's temporary output, and in `test-output/ui/` (gitignored)."""

    def __init__(self, run_dir: Path) -> None:
        self.dirs = [run_dir, SCREENSHOT_DIR]
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: object, name: str, *, full_page: bool = True) -> None:
        data = page.screenshot(full_page=full_page)  # type: ignore[attr-defined]
        for d in self.dirs:
            (d / f"{name}.png").write_bytes(data)


def last_turn(page: object) -> object:
    """The thread's latest turn (the Ask panel is a conversation): question, answer, then "How this was answered"
    with its plan and route card. Resolved when used, so it follows the thread as turns are added."""
    return page.locator("#thread-turns .turn").last  # type: ignore[attr-defined]


def open_how(turn: object) -> None:
    """Unfold a turn's "How this was answered" (plan, route card, coverage, retrieved passages)."""
    how = turn.locator("details.how")  # type: ignore[attr-defined]
    if how.get_attribute("open") is None:
        how.locator(":scope > summary").click()


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    def luminance(colour: str) -> float:
        channels = [int(colour.strip().lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
