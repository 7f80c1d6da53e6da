"""OCR for PDF pages without a usable text layer: which pages, reading them, and what is kept.

``ocr_pdf`` is the entry point; ``ingest.parse_pdf`` calls it with the text pypdf extracted from each page.

Which pages: a page is read when its text layer is too thin for its ink. The page is rendered small
(``DETECT_DPI``) and its darkness summed into square inches of ink; typed contract pages carry at most
``INK_PER_CHAR_IN2`` of ink per letter or digit (the 95th percentile over cuad-dev's 550 pages is
0.0024 in², the median 0.0012), so ink / ``INK_PER_CHAR_IN2`` under-estimates the characters a page shows.
A page is read when its text layer has fewer than ``THIN_RATIO`` of those and there is ink for at least
``MIN_EXPECTED_CHARS``. Only pages that hold an image, or have almost no text, are rendered at all: a
page of vector text and lines has its words in the text layer.

What is kept: a page where OCR finds no word (ruled lines, a picture) stays as it was, and so does a page
whose text layer held something unless OCR read clearly more (``OCR_WINS_RATIO``): a logo or a colour
chart beside typed text makes a page look thin, and its typed text is exact while OCR's is not. On
cuad-dev's 550 typed pages, 11 are read: 3 tables pasted as images (their text layer held only the running
header) and a colour chart take OCR's text, the other 7 keep theirs.

A page whose mean word confidence is under the floor (``FOLIO_OCR_MIN_CONFIDENCE``) is flagged and its OCR
text is not indexed: such text is mostly wrong words, which would match searches by accident, cost tokens
in full-context answers and give citations that cannot be checked. The page stays in place (empty, or its
thin text layer), so numbering never moves, and the document record lists it for a person to rescan or
read. (A noisy but legible test page read at 74 with 89% of its characters right; a blurred one at 20 with
6%.)

Reading: ``ingest.tesseract`` in a pool of worker processes (one Tesseract thread each), one page per
task, with progress reported page by page. Pages keep their place and number; a page Tesseract fails on
(or takes longer than ``FOLIO_OCR_PAGE_TIMEOUT_S`` for) is flagged like a low-confidence one.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from folio.errors import CorruptFile, OcrUnavailable

if TYPE_CHECKING:
    from folio.config import Settings
    from folio.ingest.tesseract import PageText

DETECT_DPI = 50
DETECT_MAX_PIXELS = 4_000_000  # an A0 page at DETECT_DPI; the largest page the standard allows is 25 times that
INK_PER_CHAR_IN2 = 0.0025
THIN_RATIO = 0.5
MIN_EXPECTED_CHARS = 40
# Pages with fewer letters and digits than this are checked for ink even when they hold no image
# (text drawn as outlines, or a blank page).
MIN_PAGE_CHARS = 20
OCR_WINS_RATIO = 1.5

INSTALL_HINT = ("install it with `apt-get install tesseract-ocr tesseract-ocr-eng` (macOS: `brew install "
                "tesseract`), or set FOLIO_OCR=off to index text layers only and refuse scanned PDFs")

_ALNUM = re.compile(r"[^\W_]")
OnPage = Callable[[int, int], None]


@dataclass(frozen=True)
class OcrOptions:
    """How OCR runs; ``from_settings`` reads the ``FOLIO_OCR*`` settings."""

    mode: Literal["auto", "off"] = "auto"
    min_confidence: float = 60.0
    dpi: int = 300  # the most: a page that is a lower-resolution scan is rendered at the scan's resolution
    workers: int = 0  # Tesseract processes per document; 0: one per core
    lang: str = "eng"
    tesseract_cmd: str = "tesseract"
    page_timeout_s: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> OcrOptions:
        return cls(mode=settings.ocr, min_confidence=settings.ocr_min_confidence, dpi=settings.ocr_dpi,
                   workers=settings.ocr_workers, lang=settings.ocr_lang, tesseract_cmd=settings.ocr_tesseract_cmd,
                   page_timeout_s=settings.ocr_page_timeout_s)

    @property
    def process_count(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass
class OcrPage:
    """One page that was OCR'd: its mean word confidence and whether its text was indexed."""

    index: int
    confidence: float
    words: int
    rotation: int = 0
    indexed: bool = True
    error: str | None = None


@dataclass
class OcrReport:
    """What OCR did to one document."""

    pages: list[OcrPage] = field(default_factory=list)
    seconds: float = 0.0
    pages_read: int = 0  # pages sent to Tesseract, including those whose text layer was kept

    @property
    def page_indexes(self) -> list[int]:
        return [p.index for p in self.pages]

    @property
    def confidences(self) -> list[float]:
        return [p.confidence for p in self.pages]

    @property
    def low_confidence_pages(self) -> list[int]:
        return [p.index for p in self.pages if not p.indexed]

    @property
    def mean_confidence(self) -> float | None:
        """Word-weighted mean confidence over every OCR'd page (None: no word was read)."""
        words = sum(p.words for p in self.pages)
        if not words:
            return None
        return round(sum(p.confidence * p.words for p in self.pages) / words, 2)

    def to_dict(self) -> dict[str, Any]:
        return {"pages": self.page_indexes, "confidence": self.confidences,
                "mean_confidence": self.mean_confidence, "low_confidence_pages": self.low_confidence_pages,
                "seconds": round(self.seconds, 3)}


# -- the run a parse happens in ---------------------------------------------------------------------------


@dataclass
class OcrRun:
    """Options and a progress callback for the parses inside ``ocr_run``, and the report of the last one.

    The pipeline parses through ``ingest.prepare``, which knows nothing of OCR; it opens a run around it,
    and reads the report from the run afterwards.
    """

    options: OcrOptions
    on_page: OnPage | None = None
    report: OcrReport | None = None


_RUN: ContextVar[OcrRun | None] = ContextVar("folio_ocr_run", default=None)


@contextlib.contextmanager
def ocr_run(options: OcrOptions, on_page: OnPage | None = None) -> Iterator[OcrRun]:
    run = OcrRun(options=options, on_page=on_page)
    token = _RUN.set(run)
    try:
        yield run
    finally:
        _RUN.reset(token)


def current_run() -> OcrRun | None:
    return _RUN.get()


def default_options() -> OcrOptions:
    """The options of the current run, else those of the process's settings."""
    run = _RUN.get()
    if run is not None:
        return run.options
    from folio.config import get_settings

    return OcrOptions.from_settings(get_settings())


# -- Tesseract being there --------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def tesseract_languages(cmd: str) -> frozenset[str]:
    """The languages ``cmd`` can read; raises ``OcrUnavailable`` when it is not installed or does not run."""
    path = shutil.which(cmd)
    if path is None:
        raise OcrUnavailable(f"this PDF needs OCR, but Tesseract is not installed (no `{cmd}` found); "
                             + INSTALL_HINT)
    try:
        done = subprocess.run([path, "--list-langs"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrUnavailable(f"this PDF needs OCR, but `{path}` does not run ({exc}); " + INSTALL_HINT) from exc
    if done.returncode != 0:
        raise OcrUnavailable(f"this PDF needs OCR, but `{path} --list-langs` failed: "
                             f"{done.stderr.strip()[:200]}; " + INSTALL_HINT)
    lines = (done.stdout + "\n" + done.stderr).splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and " " not in line.strip())


def check_tesseract(options: OcrOptions) -> bool:
    """Raise ``OcrUnavailable`` unless Tesseract reads ``options.lang``; True when it can detect orientation."""
    langs = tesseract_languages(options.tesseract_cmd)
    missing = [lang for lang in options.lang.split("+") if lang not in langs]
    if missing:
        raise OcrUnavailable(
            f"this PDF needs OCR, but Tesseract has no language data for {', '.join(missing)} "
            f"(FOLIO_OCR_LANG={options.lang}); install it with `apt-get install "
            + " ".join(f"tesseract-ocr-{m}" for m in missing) + "`, or set FOLIO_OCR=off")
    return "osd" in langs


# -- which pages ------------------------------------------------------------------------------------------


def ink_square_inches(page: Any, dpi: float = DETECT_DPI) -> float:
    """The page's darkness, summed, in square inches of full black. A page larger than A0 is measured at a
    lower resolution, so that no page is drawn on more than ``DETECT_MAX_PIXELS``."""
    import numpy as np

    width, height = page.get_size()
    dpi = min(dpi, (DETECT_MAX_PIXELS / max(width * height / 72**2, 1e-6)) ** 0.5)
    pixels = np.asarray(page.render(scale=dpi / 72, grayscale=True).to_pil(), dtype=np.float32)
    return float((255.0 - pixels).sum() / 255.0 / (dpi * dpi))


def _has_image(page: Any) -> bool:
    import pypdfium2.raw as pdfium_c

    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4))


def _chars(text: str) -> int:
    return len(_ALNUM.findall(text))


def needs_ocr(chars: int, ink_in2: float) -> bool:
    """The rule: a text layer with fewer than half the characters the page's ink shows."""
    expected = ink_in2 / INK_PER_CHAR_IN2
    return expected >= MIN_EXPECTED_CHARS and chars < THIN_RATIO * expected


def pages_needing_ocr(pdf: Any, texts: Sequence[str], with_images: Collection[int] | None = None) -> list[int]:
    """0-based indexes of the pages of ``pdf`` (a pypdfium2 document) whose text layer is too thin.

    ``with_images``: the pages known to hold an image (the parser knows from the page resources); None:
    ask PDFium, page by page.
    """
    out: list[int] = []
    for index in range(min(len(pdf), len(texts))):
        chars = _chars(texts[index])
        if chars >= MIN_PAGE_CHARS and with_images is not None and index not in with_images:
            continue
        page = pdf[index]
        try:
            if chars >= MIN_PAGE_CHARS and with_images is None and not _has_image(page):
                continue
            if needs_ocr(chars, ink_square_inches(page)):
                out.append(index)
        finally:
            page.close()
    return out


# -- reading them -----------------------------------------------------------------------------------------


def recognise(data: bytes, indexes: Sequence[int], options: OcrOptions, on_page: OnPage | None = None
              ) -> list[PageText]:
    """Read pages ``indexes`` of the PDF ``data`` in a pool of Tesseract worker processes, in page order."""
    from folio.ingest import tesseract

    osd = check_tesseract(options)
    if not indexes:
        return []
    workers = max(1, min(len(indexes), options.process_count))
    pool = cf.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=tesseract.init_worker,
        initargs=(data, options.tesseract_cmd, options.lang, options.dpi, osd, options.page_timeout_s))
    results: dict[int, PageText] = {}
    try:
        futures = {pool.submit(tesseract.ocr_page, index): index for index in indexes}
        for done, future in enumerate(cf.as_completed(futures), 1):
            try:
                results[futures[future]] = future.result()
            except cf.process.BrokenProcessPool as exc:
                raise CorruptFile("OCR failed: a worker process died rendering this PDF") from exc
            if on_page is not None:
                on_page(done, len(indexes))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [results[i] for i in indexes]


def ocr_pdf(data: bytes, texts: list[str], options: OcrOptions, on_page: OnPage | None = None, *,
            with_images: Collection[int] | None = None) -> tuple[list[str], OcrReport | None, list[str]]:
    """The page texts with OCR'd text where the text layer is too thin, the report, and warnings.

    ``with_images``: the pages that hold an image, when the caller knows (see ``pages_needing_ocr``).
    Returns ``texts`` unchanged and no report when no page needs OCR. Raises ``OcrUnavailable`` when one
    does and Tesseract cannot run.
    """
    import pypdfium2 as pdfium

    started = time.perf_counter()
    if with_images is not None and not with_images and all(_chars(t) >= MIN_PAGE_CHARS for t in texts):
        return texts, None, []  # typed pages only: nothing to render
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:  # pypdf read it; without a renderer the text layer is all there is
        return texts, None, [f"pages were not checked for OCR: pypdfium2 could not open the PDF ({exc})"]
    try:
        indexes = pages_needing_ocr(pdf, texts, with_images)
    finally:
        pdf.close()
    if not indexes:
        return texts, None, []
    read = recognise(data, indexes, options, on_page)
    pages = list(texts)
    report = OcrReport(pages_read=len(read))
    warnings: list[str] = []
    for page in read:
        layer_chars = _chars(texts[page.index])
        if page.error is not None:
            report.pages.append(OcrPage(page.index, 0.0, 0, indexed=False, error=page.error))
            warnings.append(f"page {page.index + 1}: OCR failed ({page.error})")
            continue
        if page.words == 0:
            continue  # nothing to read (lines, a picture): the page stays as it was
        if layer_chars and page.chars < OCR_WINS_RATIO * layer_chars:
            continue  # the typed text layer holds what OCR read: keep the exact text
        low = page.confidence < options.min_confidence
        report.pages.append(OcrPage(page.index, page.confidence, page.words, rotation=page.rotation,
                                    indexed=not low))
        if low:
            warnings.append(f"page {page.index + 1}: OCR confidence {page.confidence:.0f} is under the floor "
                            f"{options.min_confidence:g} (FOLIO_OCR_MIN_CONFIDENCE); its OCR text is not indexed")
        else:
            pages[page.index] = page.text
    report.seconds = time.perf_counter() - started
    return pages, report, warnings
