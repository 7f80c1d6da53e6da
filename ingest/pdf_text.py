"""A PDF's page texts from its text layer, read by pypdf or by PDFium (``FOLIO_PDF_TEXT``).

pypdf opens every PDF whichever layer is chosen: it decrypts, checks the limits and reads the structure
(``ingest.parse_pdf``); this module only reads each page's characters. PDFium reads them many times faster
(bench/results/text-layer-2026-12-02.md), in its own order and spacing; what differs between the two is evened
out here, so that ``ingest.normalize`` treats both alike:

- PDFium writes U+FFFE where it took a hyphen off a line's end and joined the line to the next; the hyphen and
  the line break are put back, and normalisation joins the word (or keeps the hyphen before a capital) exactly
  as it does with pypdf's text.
- A PDF that PDFium cannot open, or whose page count it reads differently from pypdf, keeps pypdf's text (with
  a warning), so a page never moves; a page PDFium cannot read keeps pypdf's text for that page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

from folio.errors import ConfigError

TextLayer = Literal["pypdf", "pdfium"]
TEXT_LAYERS: tuple[str, ...] = get_args(TextLayer)

# PDFium's mark for a hyphen it removed at the end of a line (the line joined to the next).
_PDFIUM_LINE_HYPHEN = "\ufffe"


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
    """One PDFium page's text, with PDFium's own marks made plain text."""
    textpage = page.get_textpage()
    try:
        text: str = textpage.get_text_range()
    finally:
        textpage.close()
    return plain_pdfium_text(text)


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
