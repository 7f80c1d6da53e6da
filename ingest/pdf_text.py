"""A PDF's page texts from its text layer, read by pypdf or by PDFium (``FOLIO_PDF_TEXT``).

pypdf opens every PDF whichever layer is chosen: it decrypts, checks the limits and reads the structure
(``ingest.parse_pdf``); this module only reads each page's characters. PDFium reads them many times faster
(bench/results/text-layer-2026-12-02.md), in its own order and spacing; what differs between the two is evened
out here, so that ``ingest.normalize`` treats both alike:

- PDFium writes U+FFFE where it took a hyphen off a line's end and joined the line to the next; the hyphen and
  the line break are put back, and normalisation joins the word (or keeps the hyphen before a capital) exactly
  as it does with pypdf's text.
- PDFium writes no empty line between paragraphs, where pypdf's text often has one, and the chunker splits at
  paragraphs: an empty line is put where the step down to the next line is well over the page's usual line
  pitch (``PARAGRAPH_GAP``), as a paragraph's spacing is.
- A PDF that PDFium cannot open, or whose page count it reads differently from pypdf, keeps pypdf's text (with
  a warning), so a page never moves; a page PDFium cannot read keeps pypdf's text for that page.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from typing import Any, Literal, get_args

from folio.errors import ConfigError

TextLayer = Literal["pypdf", "pdfium"]
TEXT_LAYERS: tuple[str, ...] = get_args(TextLayer)

# PDFium's mark for a hyphen it removed at the end of a line (the line joined to the next), and its line end.
_PDFIUM_LINE_HYPHEN = "\ufffe"
_PDFIUM_LINE_END = "\r\n"
# A step down between two lines of more than this many times the page's usual line pitch ends a paragraph.
PARAGRAPH_GAP = 1.5


def text_layer(value: str) -> TextLayer:
    """``value`` as a text layer; anything else is a ``ConfigError`` that names the setting."""
    if value not in TEXT_LAYERS:
        raise ConfigError(f"FOLIO_PDF_TEXT must be one of {', '.join(TEXT_LAYERS)}, not {value!r}")
    return value  # type: ignore[return-value]


def page_texts(reader: Any, data: bytes, layer: TextLayer, before_page: Callable[[Any], None]
               ) -> tuple[list[str], list[str]]:
    """Each page's text from ``layer``, and warnings; ``before_page`` gets each of pypdf's pages first (the
    caller's inflation budget), in order, whichever layer reads the text."""
    if text_layer(layer) == "pdfium":
        document, warning = _open_pdfium(data, len(reader.pages), bool(reader.is_encrypted))
        if document is not None:
            try:
                return _pdfium_texts(reader, document, before_page), []
            finally:
                document.close()
        return _pypdf_texts(reader, before_page), [warning]
    return _pypdf_texts(reader, before_page), []


def pdfium_page_text(page: Any) -> str:
    """One PDFium page's text, with PDFium's own marks made plain text and its paragraphs apart."""
    textpage = page.get_textpage()
    try:
        text: str = textpage.get_text_range()
        lines = text.split(_PDFIUM_LINE_END)
        text = "\n".join(_with_paragraph_breaks(lines, _line_bottoms(textpage, lines)))
    finally:
        textpage.close()
    return plain_pdfium_text(text)


def _line_bottoms(textpage: Any, lines: list[str]) -> list[float | None]:
    """The bottom edge of each line's first visible character (None for a line without one)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    bottoms: list[float | None] = []
    offset = 0
    for line in lines:
        first = next((i for i, ch in enumerate(line) if not ch.isspace()), None)
        found = None
        if first is not None:
            index = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage, offset + _utf16_len(line[:first]))
            if index >= 0 and pdfium_c.FPDFText_GetCharBox(textpage, index, left, right, bottom, top):
                found = bottom.value
        bottoms.append(found)
        offset += _utf16_len(line) + len(_PDFIUM_LINE_END)
    return bottoms


def _utf16_len(text: str) -> int:
    """``text``'s length in PDFium's text indexes (UTF-16 code units: a character past U+FFFF counts two)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _with_paragraph_breaks(lines: list[str], bottoms: list[float | None]) -> list[str]:
    """``lines`` with an empty line wherever the step down to the next line is more than
    ``PARAGRAPH_GAP`` times the page's usual line pitch (the median step down): a paragraph's end."""
    pairs = list(itertools.pairwise(bottoms))
    steps = [above - below for above, below in pairs if above is not None and below is not None and above > below]
    if not steps:
        return lines
    pitch = statistics.median(steps)
    out = lines[:1]
    for line, (above, below) in zip(lines[1:], pairs, strict=True):
        if above is not None and below is not None and above - below > PARAGRAPH_GAP * pitch:
            out.append("")
        out.append(line)
    return out


def plain_pdfium_text(text: str) -> str:
    """PDFium's text with its line-end hyphen mark made the hyphen and line break it stands for."""
    return text.replace(_PDFIUM_LINE_HYPHEN, "-\n")


def _pypdf_texts(reader: Any, before_page: Callable[[Any], None]) -> list[str]:
    texts = []
    for page in reader.pages:
        before_page(page)
        texts.append(page.extract_text() or "")
    return texts


def _open_pdfium(data: bytes, pages: int, encrypted: bool) -> tuple[Any, str]:
    """The PDF opened by PDFium, or None and why pypdf's text is used instead."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data, password="" if encrypted else None)
    except pdfium.PdfiumError as exc:
        return None, f"PDFium could not open the PDF ({exc}); its text was read by pypdf"
    if len(document) != pages:
        found = len(document)
        document.close()
        return None, f"PDFium found {found} pages where pypdf found {pages}; the text was read by pypdf"
    return document, ""


def _pdfium_texts(reader: Any, document: Any, before_page: Callable[[Any], None]) -> list[str]:
    import pypdfium2 as pdfium

    texts = []
    for index, page in enumerate(reader.pages):
        before_page(page)
        try:
            pdfium_page = document[index]
            try:
                texts.append(pdfium_page_text(pdfium_page))
            finally:
                pdfium_page.close()
        except pdfium.PdfiumError:  # a page PDFium cannot read: pypdf's text for it
            texts.append(page.extract_text() or "")
    return texts
