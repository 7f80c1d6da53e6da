"""Ingestion progress for people: a live bar on a terminal, one plain line per file otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from ingest.pipeline import FileResult


def _describe(result: FileResult) -> str:
    if result.status == "failed":
        assert result.error is not None
        return f"FAILED {result.name}: {result.error.message} [{result.error.code}]"
    if result.status == "skipped":
        why = result.title if result.title and result.title.startswith("same bytes") else "unchanged"
        return f"skipped {result.name} ({why}, {result.doc_id[:12] if result.doc_id else ''})"
    extra = f", replaced {len(result.replaced)} older version(s)" if result.replaced else ""
    return (f"{result.status} {result.name}: {result.pages} pages, {result.chunks} chunks, "
            f"{result.tokens:,} tokens in {result.seconds:.1f}s{extra}{_describe_ocr(result)}")


def _describe_ocr(result: FileResult) -> str:
    ocr = result.ocr
    if ocr is None or not ocr.pages:
        return ""
    text = f"; OCR {len(ocr.pages)} page(s)"
    if ocr.mean_confidence is not None:
        text += f", mean confidence {ocr.mean_confidence:.0f}"
    low = ocr.low_confidence_pages
    if low:
        shown = ", ".join(str(p + 1) for p in low[:10]) + (", ..." if len(low) > 10 else "")
        text += f", under the confidence floor and not indexed: page(s) {shown}"
    return text


def ocr_line(name: str, done: int, total: int) -> str:
    return f"OCR page {done}/{total} of {name.rsplit('/', 1)[-1]}"


def summary_line(results: list[FileResult], seconds: float) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("ingested", "replaced", "skipped", "failed")}
    new = [r for r in results if r.status in ("ingested", "replaced")]
    pages = sum(r.pages for r in new)
    chunks = sum(r.chunks for r in new)
    rate = f" ({pages / seconds:.1f} pages/s)" if new and seconds > 0 else ""
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return (f"{', '.join(parts) or 'nothing to do'}: {pages} pages, {chunks} chunks "
            f"in {seconds:.1f}s{rate}")


class PlainProgress:
    """One line per finished file, for logs and pipes; a scan's OCR adds a line every ``OCR_EVERY`` pages."""

    OCR_EVERY = 10

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.total = 0
        self.done = 0

    def start(self, total_files: int) -> None:
        self.total = total_files

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        pass

    def chunks_done(self, name: str, n: int) -> None:
        pass

    def file_done(self, result: FileResult) -> None:
        self.done += 1
        print(f"[{self.done}/{self.total}] {_describe(result)}", file=self.stream, flush=True)

    def finish(self, results: list[FileResult]) -> None:
        pass

    def ocr_page(self, name: str, done: int, total: int) -> None:
        if done in (1, total) or done % self.OCR_EVERY == 0:
            print(ocr_line(name, done, total), file=self.stream, flush=True)


class RichProgress:
    """A live bar: files done, pages, chunks per second and the time left."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=stream or sys.stderr)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("files · {task.fields[pages]} pages · {task.fields[rate]} chunks/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=False,
        )
        self._task: Any = None
        self._pages = 0
        self._chunks = 0
        self._started = time.perf_counter()

    def start(self, total_files: int) -> None:
        self._started = time.perf_counter()
        self._progress.start()
        self._task = self._progress.add_task("ingesting", total=total_files, pages=0, rate="0.0")

    def _update(self, **fields: Any) -> None:
        elapsed = max(time.perf_counter() - self._started, 1e-6)
        self._progress.update(self._task, pages=self._pages, rate=f"{self._chunks / elapsed:.1f}", **fields)

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        self._pages += pages
        self._update(description=f"embedding {name.rsplit('/', 1)[-1][:40]}")

    def chunks_done(self, name: str, n: int) -> None:
        self._chunks += n
        self._update()

    def ocr_page(self, name: str, done: int, total: int) -> None:
        self._update(description=ocr_line(name, done, total)[:60])

    def file_done(self, result: FileResult) -> None:
        self._progress.console.print(_describe(result), markup=False, highlight=False)
        self._progress.advance(self._task)
        self._update()

    def finish(self, results: list[FileResult]) -> None:
        self._update(description="done")
        self._progress.stop()
