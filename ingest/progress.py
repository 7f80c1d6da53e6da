"""Ingestion progress for people: a live bar on a terminal, one plain line per file otherwise.

File names and titles come from the files (and from whoever named them): every line is passed through
``terminal_safe`` before it is printed, so no escape sequence, control or bidi character in them reaches
the terminal.
"""

from __future__ import annotations

import sys
import time
import unicodedata
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from folio.ingest.reports import FileResult

# Unicode categories never printed as they are: controls (ESC, BEL, line ends), format characters (bidi
# overrides and isolates, zero-width characters), lone surrogates (bytes of a file name that are not
# UTF-8), and the line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def terminal_safe(text: str) -> str:
    """``text`` fit to print on a terminal: each control or format character written as Python escapes it
    (ESC as ``\\x1b``, U+202E as ``\\u202e``); letters of any script, spaces and punctuation as they are."""
    if text.isprintable():  # the usual case: nothing to escape
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in _UNSAFE_CATEGORIES
                   else ch for ch in text)


def _describe(result: FileResult) -> str:
    """One line per file, and an indented line per warning; each fit for a terminal (a line break in a file name
    is shown escaped, not obeyed)."""
    return terminal_safe(_describe_raw(result)) + "".join(
        f"\n  warning: {terminal_safe(' '.join(w.split()))}" for w in result.warnings)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 page``, ``2 pages``, ``1,024 chunks``: a count and its noun, agreed."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def _describe_raw(result: FileResult) -> str:
    if result.status == "failed":
        assert result.error is not None
        return f"FAILED {result.name}: {result.error.message} [{result.error.code}]"
    if result.status == "skipped":
        why = result.title if result.title and result.title.startswith("same bytes") else "unchanged"
        return f"skipped {result.name} ({why}, {result.doc_id[:12] if result.doc_id else ''})"
    extra = f", replaced {plural(len(result.replaced), 'older version')}" if result.replaced else ""
    rates = result.rates()
    speed = f" (parsed {rates[0]:.1f} pages/s, embedded {rates[1]:.1f} chunks/s)" if rates else ""
    return (f"{result.status} {result.name}: {plural(result.pages, 'page')}, {plural(result.chunks, 'chunk')}, "
            f"{plural(result.tokens, 'token')} in {result.seconds:.1f}s{speed}{extra}{_describe_ocr(result)}")


def _describe_ocr(result: FileResult) -> str:
    ocr = result.ocr
    if ocr is None or not ocr.pages:
        return ""
    text = f"; OCR {plural(len(ocr.pages), 'page')}"
    if ocr.mean_confidence is not None:
        text += f", mean confidence {ocr.mean_confidence:.0f}"
    low = ocr.low_confidence_pages
    if low:
        shown = ", ".join(str(p + 1) for p in low[:10]) + (", ..." if len(low) > 10 else "")
        text += f", under the confidence floor and not indexed: {'page' if len(low) == 1 else 'pages'} {shown}"
    return text


def ocr_line(name: str, done: int, total: int) -> str:
    return f"OCR page {done}/{total} of {terminal_safe(name.rsplit('/', 1)[-1])}"


def summary_line(results: list[FileResult], seconds: float) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("ingested", "replaced", "skipped", "failed")}
    new = [r for r in results if r.status in ("ingested", "replaced")]
    pages = sum(r.pages for r in new)
    chunks = sum(r.chunks for r in new)
    rate = f" ({pages / seconds:.1f} pages/s, {chunks / seconds:.1f} chunks/s)" if new and seconds > 0 else ""
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return (f"{', '.join(parts) or 'nothing to do'}: {plural(pages, 'page')}, {plural(chunks, 'chunk')} "
            f"in {seconds:.1f}s{rate}")


def _markup_safe(text: str) -> str:
    """``text`` as Rich markup that shows it as it is."""
    from rich.markup import escape

    return escape(text)


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
    """A live bar: files done, pages parsed and chunks embedded with their rates over the batch, the time left.
    Its description is Rich markup, so a file name in it is escaped twice: for the terminal, and for Rich ("["
    would open a tag)."""

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
            TextColumn("files · {task.fields[pages]} pages parsed ({task.fields[page_rate]}/s) · "
                       "{task.fields[chunks]} chunks embedded ({task.fields[rate]}/s)"),
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
        self._task = self._progress.add_task("ingesting", total=total_files, pages=0, chunks=0, page_rate="0.0",
                                             rate="0.0")

    def _update(self, **fields: Any) -> None:
        elapsed = max(time.perf_counter() - self._started, 1e-6)
        self._progress.update(self._task, pages=self._pages, chunks=self._chunks,
                              page_rate=f"{self._pages / elapsed:.1f}", rate=f"{self._chunks / elapsed:.1f}",
                              **fields)

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        self._pages += pages
        self._update(description=_markup_safe(f"embedding {terminal_safe(name.rsplit('/', 1)[-1][:40])}"))

    def chunks_done(self, name: str, n: int) -> None:
        self._chunks += n
        self._update()

    def ocr_page(self, name: str, done: int, total: int) -> None:
        self._update(description=_markup_safe(ocr_line(name, done, total)[:60]))

    def file_done(self, result: FileResult) -> None:
        self._progress.console.print(_describe(result), markup=False, highlight=False)
        self._progress.advance(self._task)
        self._update()

    def finish(self, results: list[FileResult]) -> None:
        self._update(description="done")
        self._progress.stop()
