"""A PDF page as printed: rendered to an image, and the boxes where a quoted passage sits on it.

These functions run in a worker process of the service's render pool (``folio.service.page_images``, an
``ingest.sandbox.ParserPool``): PDFium cannot be interrupted from outside, and a page whose content draws forms
inside forms can take hours, so the worker is killed at the pool's deadline instead. Each call receives the
file's bytes and returns plain data.

Boxes are in page coordinates normalised to 0..1 from the top-left corner of the page as rendered (its crop box,
turned by its /Rotate), so a viewer scales them to any image size. A quote is found after the normalisation
citations are verified with (``squash``: NFKC, lower case, letters and digits only), in the text layer's
characters (PDFium's character boxes), or for a page that was OCR'd in Tesseract's words on the rendered page.
A quote that runs onto the next page is found by its beginning at the end of the page, or its end at the start.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from folio.errors import CorruptFile, OcrUnavailable, PageNotFound, PageTooLarge, RenderTimeout

# What the image endpoint may make: at most this many pixels (a page of huge or odd size is scaled down to fit),
# and no image narrower than MIN_WIDTH once scaled (a sliver-shaped page is refused instead).
MAX_PIXELS = 12_000_000
MIN_WIDTH = 64
# The smallest part of a quote found at a page's end or start (a quote running across the page break).
MIN_PART_CHARS = 12
# OCR'd pages are read again at this resolution to find the words' boxes.
OCR_BOX_DPI = 200

_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def squash(text: str) -> str:
    """Text as citations are compared: NFKC (ligatures unfolded), lower case, only letters a-z and digits."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).lower())


@dataclass(frozen=True)
class Rendered:
    """One page rendered: the image's bytes and size."""

    content: bytes
    media_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Box:
    """A rectangle on the page, 0..1 from its top-left corner."""

    x: float
    y: float
    width: float
    height: float


def warm() -> None:
    """A worker's set-up: import what drawing needs before the worker's memory is capped."""
    import PIL.PngImagePlugin  # noqa: F401
    import pypdfium2  # noqa: F401


def _open(data: bytes, index: int) -> tuple[Any, Any]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise CorruptFile(f"the PDF cannot be opened to draw its pages: {exc}") from None
    if not 0 <= index < len(pdf):
        pdf.close()
        raise PageNotFound(f"the file has pages 1 to {len(pdf)}, not {index + 1}")
    return pdf, pdf[index]


def render_scale(page_width: float, page_height: float, *, width: int | None, scale: float | None) -> float:
    """The scale (pixels per point) to draw a page of that size at: ``width`` pixels wide or ``scale``, reduced
    until the image holds at most ``MAX_PIXELS``; ``PageTooLarge`` when it would then be under ``MIN_WIDTH``."""
    if page_width <= 0 or page_height <= 0:
        raise PageTooLarge(f"the page's size is {page_width:g} x {page_height:g} points")
    wanted = width / page_width if width is not None else (scale or 1.0)
    pixels = page_width * wanted * page_height * wanted
    if pixels > MAX_PIXELS:
        wanted *= (MAX_PIXELS / pixels) ** 0.5
        while math.ceil(page_width * wanted) * math.ceil(page_height * wanted) > MAX_PIXELS:
            wanted *= 0.999  # PDFium rounds the bitmap's sides up
    if page_width * wanted < MIN_WIDTH:
        raise PageTooLarge(f"the page is {page_width:g} x {page_height:g} points: within {MAX_PIXELS:,} pixels "
                           f"it would be under {MIN_WIDTH} pixels wide")
    return wanted


def render_page(data: bytes, index: int, width: int | None = None, scale: float | None = None) -> Rendered:
    """Page ``index`` (0-based) of the PDF ``data`` as a PNG, ``width`` pixels wide or at ``scale``."""
    pdf, page = _open(data, index)
    try:
        page_width, page_height = page.get_size()
        factor = render_scale(page_width, page_height, width=width, scale=scale)
        image = _gray_if_colourless(page.render(scale=factor, may_draw_forms=True).to_pil().convert("RGB"))
        out = io.BytesIO()
        # PNG: lossless, so small type stays sharp (JPEG rings around letters), and quick to write at level 3;
        # lossless WebP is half the size but 3-4x slower to write (bench numbers in the README's API section)
        image.save(out, format="PNG", compress_level=3)
        return Rendered(content=out.getvalue(), media_type="image/png", width=image.width, height=image.height)
    finally:
        page.close()
        pdf.close()


def _gray_if_colourless(image: Any) -> Any:
    """The image in grayscale when it has no colour (most contract pages): a PNG half the size."""
    from PIL import ImageChops

    red, green, blue = image.split()
    if ImageChops.difference(red, green).getbbox() is None and ImageChops.difference(green, blue).getbbox() is None:
        return red
    return image


def locate(haystack: str, needle: str) -> tuple[int, int] | None:
    """Where ``needle`` is in ``haystack`` (both squashed): the whole of it, else its longest beginning that ends
    ``haystack`` or its longest end that starts it (a quote across a page break), at least ``MIN_PART_CHARS``."""
    if not needle or not haystack:
        return None
    at = haystack.find(needle)
    if at >= 0:
        return at, at + len(needle)
    for k in range(min(len(needle), len(haystack)) - 1, MIN_PART_CHARS - 1, -1):
        if haystack.endswith(needle[:k]):
            return len(haystack) - k, len(haystack)
        if haystack.startswith(needle[-k:]):
            return 0, k
    return None


def _squashed(pieces: Iterable[str]) -> tuple[str, list[int]]:
    """The pieces squashed and joined, with the piece each squashed character came from."""
    out: list[str] = []
    owners: list[int] = []
    for i, piece in enumerate(pieces):
        kept = squash(piece)
        out.append(kept)
        owners.extend([i] * len(kept))
    return "".join(out), owners


def merge_lines(rects: Sequence[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Rectangles (left, top, right, bottom; y down) in reading order merged into one per line: a rectangle joins
    the last one when their vertical spans overlap by half the smaller height and it does not go back left."""
    lines: list[list[float]] = []
    for left, top, right, bottom in rects:
        if lines:
            last = lines[-1]
            overlap = min(bottom, last[3]) - max(top, last[1])
            if overlap >= 0.5 * min(bottom - top, last[3] - last[1]) and left >= last[0] - 1e-6:
                last[:] = [min(last[0], left), min(last[1], top), max(last[2], right), max(last[3], bottom)]
                continue
        lines.append([left, top, right, bottom])
    return [(a, b, c, d) for a, b, c, d in lines]


def _page_frame(page: Any) -> tuple[float, float, float, float, int]:
    left, bottom, right, top = page.get_bbox()  # the visible box (crop within media), inherited ones included
    return left, bottom, right, top, int(page.get_rotation()) % 360


def _normalised(rect: tuple[float, float, float, float], frame: tuple[float, float, float, float, int]) -> Box:
    """A rectangle in PDF user space (left, bottom, right, top) as a Box on the page as displayed."""
    left, bottom, right, top = rect
    c_left, c_bottom, c_right, c_top, rotation = frame
    w, h = c_right - c_left, c_top - c_bottom
    # unrotated, y down, 0..1
    x0, x1 = (left - c_left) / w, (right - c_left) / w
    y0, y1 = (c_top - top) / h, (c_top - bottom) / h
    if rotation == 90:  # turned clockwise: what was at the top is now at the right
        x0, x1, y0, y1 = 1 - y1, 1 - y0, x0, x1
    elif rotation == 180:
        x0, x1, y0, y1 = 1 - x1, 1 - x0, 1 - y1, 1 - y0
    elif rotation == 270:
        x0, x1, y0, y1 = y0, y1, 1 - x1, 1 - x0
    x0, x1 = max(0.0, min(1.0, x0)), max(0.0, min(1.0, x1))
    y0, y1 = max(0.0, min(1.0, y0)), max(0.0, min(1.0, y1))
    return Box(x=round(x0, 5), y=round(y0, 5), width=round(x1 - x0, 5), height=round(y1 - y0, 5))


def text_layer_boxes(data: bytes, index: int, quote: str) -> list[Box]:
    """The boxes of ``quote`` in the text layer of page ``index``, one per line it covers; [] when not found."""
    pdf, page = _open(data, index)
    try:
        frame = _page_frame(page)
        text_page = page.get_textpage()
        try:
            count = text_page.count_chars()
            chars = [text_page.get_text_range(i, 1, errors="ignore") for i in range(count)]
            haystack, owners = _squashed(chars)
            found = locate(haystack, squash(quote))
            if found is None:
                return []
            first, last = owners[found[0]], owners[found[1] - 1]
            rects = []
            for i in range(first, last + 1):
                if not chars[i].strip():
                    continue
                left, bottom, right, top = text_page.get_charbox(i)
                if right > left and top > bottom:
                    box = _normalised((left, bottom, right, top), frame)
                    rects.append((box.x, box.y, box.x + box.width, box.y + box.height))
        finally:
            text_page.close()
    finally:
        page.close()
        pdf.close()
    return [Box(x=a, y=b, width=round(c - a, 5), height=round(d - b, 5)) for a, b, c, d in merge_lines(rects)]


def ocr_boxes(data: bytes, index: int, quote: str, lang: str = "eng", tesseract_cmd: str = "tesseract",
              timeout_s: float = 0) -> list[Box]:
    """The boxes of ``quote`` among the words Tesseract reads on page ``index`` rendered at ``OCR_BOX_DPI``."""
    import pytesseract

    pdf, page = _open(data, index)
    try:
        page_width, page_height = page.get_size()
        factor = render_scale(page_width, page_height, width=None, scale=OCR_BOX_DPI / 72)
        image = page.render(scale=factor, grayscale=True).to_pil()
    finally:
        page.close()
        pdf.close()
    pytesseract.pytesseract.tesseract_cmd = tesseract_cmd
    try:
        table = pytesseract.image_to_data(image, lang=lang, config="--psm 6", timeout=timeout_s,
                                          output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractNotFoundError:
        raise OcrUnavailable(f"Tesseract ({tesseract_cmd}) is not installed: the OCR'd page's words have no "
                             "boxes") from None
    except RuntimeError as exc:  # pytesseract's timeout
        raise RenderTimeout(f"Tesseract did not read the page within {timeout_s:g} s: {exc}") from None
    words = [(str(t or "").strip(), int(table["left"][i]), int(table["top"][i]), int(table["width"][i]),
              int(table["height"][i])) for i, t in enumerate(table["text"]) if float(table["conf"][i]) >= 0]
    haystack, owners = _squashed(w[0] for w in words)
    found = locate(haystack, squash(quote))
    if found is None:
        return []
    picked = words[owners[found[0]]:owners[found[1] - 1] + 1]
    rects = [(left / image.width, top / image.height, (left + w) / image.width, (top + h) / image.height)
             for text, left, top, w, h in picked if text]
    return [Box(x=round(a, 5), y=round(b, 5), width=round(c - a, 5), height=round(d - b, 5))
            for a, b, c, d in merge_lines(rects)]
