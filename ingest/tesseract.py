"""One PDF page through Tesseract, inside an OCR worker process (``ingest.ocr`` runs the pool).

A worker receives the PDF's bytes once, when it starts, then renders each page it is asked for with
pypdfium2 and reads it with Tesseract through pytesseract (which runs the ``tesseract`` program). Tesseract's
OpenMP team is limited to one thread per process (``OMP_THREAD_LIMIT=1``, set here and only in these worker
processes): on 2 shared cores its default team made one page 4x slower (3.5 s became 15 s of wall time,
mostly spinning), and pages run in parallel as processes instead.

Rotation: a page is read as it is rendered; when the result looks wrong (mean confidence under
``ROTATION_CHECK_BELOW``), Tesseract's orientation detection (``--psm 0``, ``osd.traineddata`` from Debian's
``tesseract-ocr-osd``) says how far to turn it, and without that model the three other quarter turns are
tried. Whichever reading scores best is kept, so a wrong guess can never make a page worse.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any

# Below this mean word confidence a page is checked for rotation: upright clean scans read at 90-96,
# a page on its side at ~40.
ROTATION_CHECK_BELOW = 75.0
# Larger renders are scaled down: a poster-sized page at 300 dpi would be hundreds of megapixels.
MAX_PIXELS = 40_000_000
# A scanned page is rendered at its scan's own resolution, within [MIN_DPI, FOLIO_OCR_DPI]: rendering a
# 200-dpi scan at 300 dpi adds no detail and cost 18% more Tesseract time on cuad-dev's contracts.
MIN_DPI = 150
# An image this share of the page or larger is the page's scan.
SCAN_AREA_SHARE = 0.25
# Words Tesseract made of scanner specks: no letter or digit, and little confidence.
SPECK_CONFIDENCE = 30.0
# Page segmentation: a page in one column is read as one block of text (``--psm 6``); a page with a gutter,
# a strip at least GUTTER_IN wide in the middle half of its text where at most GUTTER_INK of the rows have
# ink, is left to Tesseract's layout analysis (``--psm 3``), which reads columns one after the other.
# On cuad-dev's scans, --psm 3 broke single-column pages with wide spaces ("5.0. TERM.      This
# Agreement ...") into blocks read out of order (one page 56% right against the text layer, 100% with
# --psm 6), and took up to 70% longer.
GUTTER_IN = 0.15
GUTTER_INK = 0.005
# A line starts a paragraph when the space above it exceeds the page's usual space between lines by this
# many median line heights (single- and double-spaced pages alike).
PARAGRAPH_GAP = 0.8

_ALNUM = re.compile(r"[^\W_]")
_STATE: dict[str, Any] = {}


@dataclass
class PageText:
    """What Tesseract read on one page (``index`` is the 0-based PDF page)."""

    index: int
    text: str = ""
    confidence: float = 0.0  # mean word confidence, 0-100; 0 when no word was found
    words: int = 0
    rotation: int = 0  # degrees the rendered page was turned (clockwise) before it was read
    seconds: float = 0.0
    error: str | None = None

    @property
    def chars(self) -> int:
        return len(_ALNUM.findall(self.text))


def init_worker(data: bytes, cmd: str, lang: str, dpi: int, osd: bool, timeout_s: float) -> None:
    """Process initializer: one Tesseract thread, the PDF opened once."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import pypdfium2 as pdfium
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = cmd
    # the bytes stay referenced while the document is open (PDFium reads from them)
    _STATE.update(pdf=pdfium.PdfDocument(data), data=data, lang=lang, dpi=dpi, osd=osd, timeout_s=timeout_s)


def ocr_page(index: int) -> PageText:
    """Render page ``index`` of the worker's PDF and read it; errors are returned, not raised."""
    started = time.perf_counter()
    try:
        image = render(_STATE["pdf"], index, _STATE["dpi"])
        result = read_image(image, lang=_STATE["lang"], osd=_STATE["osd"], timeout_s=_STATE["timeout_s"])
    except Exception as exc:  # a page Tesseract cannot read must not lose the document: it is reported
        result = PageText(index=index, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    result.index = index
    result.seconds = time.perf_counter() - started
    return result


def render(pdf: Any, index: int, dpi: int) -> Any:
    """Page ``index`` as a grayscale PIL image at ``dpi``, or its scan's resolution when that is lower."""
    page = pdf[index]
    try:
        width, height = page.get_size()
        scale = scan_dpi(page, dpi) / 72
        pixels = width * scale * height * scale
        if pixels > MAX_PIXELS:
            scale *= (MAX_PIXELS / pixels) ** 0.5
        bitmap = page.render(scale=scale, grayscale=True)
        image = bitmap.to_pil()
        image.info["dpi"] = (round(scale * 72), round(scale * 72))
        return image
    finally:
        page.close()


def scan_dpi(page: Any, ceiling: int) -> int:
    """The resolution of the page's largest image, within [MIN_DPI, ``ceiling``]; ``ceiling`` without one."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    largest, dpi = SCAN_AREA_SHARE * width * height, 0.0
    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
        left, bottom, right, top = image.get_bounds()
        area = (right - left) * (top - bottom)
        if area >= largest and area > 0:
            largest = area
            dpi = max(image.get_px_size()) / (max(right - left, top - bottom) / 72)
    return round(min(ceiling, max(MIN_DPI, dpi))) if dpi else ceiling


def read_image(image: Any, *, lang: str = "eng", osd: bool = True, timeout_s: float = 0) -> PageText:
    """Read ``image``, turned upright first when it is not, within ``timeout_s`` seconds in all (0: no limit).

    The first reading must finish in time (else ``RuntimeError``); turned readings that do not are dropped.
    """
    deadline = time.monotonic() + timeout_s if timeout_s else None
    dpi = image.info.get("dpi", (300, 300))[0]
    best = _recognise(image, lang=lang, dpi=dpi, timeout_s=_left(deadline))
    if best.confidence >= ROTATION_CHECK_BELOW or not best.words:  # upright, or no text to turn (a picture)
        return best
    try:
        turns = [_osd_rotation(image, dpi=dpi, timeout_s=_left(deadline))] if osd else [90, 180, 270]
        for angle in turns:
            if not angle:
                continue
            # PIL turns counter-clockwise; OSD's "Rotate: 90" means 90 degrees clockwise
            turned = image.rotate(-angle, expand=True)
            candidate = _recognise(turned, lang=lang, dpi=dpi, timeout_s=_left(deadline))
            candidate.rotation = angle
            if _score(candidate) > _score(best):
                best = candidate
    except RuntimeError:  # pytesseract's timeout: keep the best reading so far
        pass
    return best


def _left(deadline: float | None) -> float:
    """Seconds until ``deadline`` for pytesseract's ``timeout`` (0 there means none, so at least 1)."""
    if deadline is None:
        return 0
    return max(1.0, deadline - time.monotonic())


def _score(page: PageText) -> float:
    """Confidence-weighted words: the upright reading has many confident words, a wrong one few."""
    return page.confidence * page.words


def _uncompressed(image: Any) -> Any:
    """pytesseract hands Tesseract a temporary file in ``image.format``, PNG when unset; compressing a
    noisy 300-dpi page as PNG took 2.7 s, longer than reading it. PPM (PGM for grayscale) takes 40 ms."""
    image.format = "PPM"
    return image


def _osd_rotation(image: Any, *, dpi: int, timeout_s: float) -> int:
    import pytesseract

    try:
        info = pytesseract.image_to_osd(_uncompressed(image), config=f"--psm 0 --dpi {dpi}", timeout=timeout_s,
                                        output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError:  # "Too few characters": nothing to turn by
        return 0
    return int(info.get("rotate", 0)) % 360


def page_segmentation(image: Any, dpi: int) -> int:
    """Tesseract's page segmentation mode for ``image``: 3 when its text stands in columns, else 6."""
    import numpy as np

    dark = np.asarray(image.convert("L")) < 128
    rows = np.flatnonzero(dark.any(axis=1))
    cols = np.flatnonzero(dark.any(axis=0))
    if rows.size == 0:
        return 6
    text = dark[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    width = text.shape[1]
    inked_rows = text[text.any(axis=1)]
    middle = inked_rows[:, width // 4 : 3 * width // 4].mean(axis=0) <= GUTTER_INK
    longest = run = 0
    for empty in middle:
        run = run + 1 if empty else 0
        longest = max(longest, run)
    return 3 if longest >= GUTTER_IN * dpi else 6


def _recognise(image: Any, *, lang: str, dpi: int, timeout_s: float) -> PageText:
    import pytesseract

    psm = page_segmentation(image, dpi)
    data = pytesseract.image_to_data(_uncompressed(image), lang=lang, config=f"--psm {psm} --dpi {dpi}",
                                     timeout=timeout_s, output_type=pytesseract.Output.DICT)
    return words_to_text(data)


def words_to_text(data: dict[str, list[Any]]) -> PageText:
    """Tesseract's word table as text: words by spaces, lines by newlines, paragraphs by blank lines.

    A paragraph starts where Tesseract says so, or (when the table has word boxes) where the space above a
    line is larger than usual (``PARAGRAPH_GAP``): in one block of text (``--psm 6``) Tesseract marks none.
    """
    lines: list[tuple[tuple[int, int], list[str], int, int]] = []  # (block, par), words, top, bottom
    confidences: list[float] = []
    last_line: tuple[int, int, int] | None = None
    boxes = "top" in data and "height" in data
    for i, raw in enumerate(data.get("text", [])):
        word = (raw or "").strip()
        conf = float(data["conf"][i])
        if not word or conf < 0:
            continue
        if conf < SPECK_CONFIDENCE and not _ALNUM.search(word):
            continue
        par = (int(data["block_num"][i]), int(data["par_num"][i]))
        line = (*par, int(data["line_num"][i]))
        top = int(data["top"][i]) if boxes else 0
        bottom = top + (int(data["height"][i]) if boxes else 0)
        if line != last_line:
            lines.append((par, [], top, bottom))
        words = lines[-1][1]
        words.append(word)
        lines[-1] = (par, words, min(lines[-1][2], top), max(lines[-1][3], bottom))
        confidences.append(conf)
        last_line = line
    gap = _paragraph_gap(lines) if boxes else None
    out: list[str] = []
    for k, (par, words, top, _) in enumerate(lines):
        if k:
            previous = lines[k - 1]
            new_paragraph = par != previous[0] or (gap is not None and top - previous[3] > gap)
            out.append("\n\n" if new_paragraph else "\n")
        out.append(" ".join(words))
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return PageText(index=-1, text="".join(out), confidence=round(mean, 2), words=len(confidences))


def _paragraph_gap(lines: list[tuple[tuple[int, int], list[str], int, int]]) -> float | None:
    """The space above a line beyond which it starts a paragraph: the usual space plus PARAGRAPH_GAP lines."""
    heights = sorted(bottom - top for _, _, top, bottom in lines)
    spaces = sorted(lines[k][2] - lines[k - 1][3] for k in range(1, len(lines)) if lines[k][2] > lines[k - 1][3])
    if not heights or not spaces or heights[len(heights) // 2] <= 0:
        return None
    return spaces[len(spaces) // 2] + PARAGRAPH_GAP * heights[len(heights) // 2]
