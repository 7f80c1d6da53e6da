"""Tasks that the parse sandbox's tests hand to a ``ParserPool``.

A worker imports a task's module before it runs the task, and that import counts against the task's deadline
(3 s in those tests). This module imports only the standard library and ``report_event``, so that the import is
quick on two busy cores; the test module itself pulls in the service, the CLI and httpx, which could take longer
than the deadline and kill a task before its first line.
"""

from __future__ import annotations

import subprocess
import sys
import time

from folio.ingest.sandbox import report_event


def steady(events: int, pause_s: float) -> str:
    """Works for ``events * pause_s`` seconds, reporting progress every ``pause_s``."""
    for i in range(events):
        time.sleep(pause_s)
        report_event(i)
    return "finished"


def report_then_sleep() -> None:
    report_event("started")
    time.sleep(600)


def hang_over_a_child() -> None:
    """A process under the worker (as OCR starts Tesseract's), then nothing for ten minutes."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    report_event(child.pid)
    time.sleep(600)
