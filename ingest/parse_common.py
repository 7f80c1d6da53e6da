"""What every format's parser shares: the document it returns (``ParsedDocument``), the limits it works
under (``ParseLimits``, from the ``FOLIO_MAX_*`` settings), and ``shown``, which makes a foreign library's
message about a file fit to print.

The stage itself is ``ingest.parse``; the formats are ``ingest.parse_pdf``, ``ingest.parse_docx`` and
``ingest.parse_text``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from folio.config import Settings
from folio.errors import TooManyPages
from folio.ingest.ocr import OcrReport
from folio.ingest.pdf_text import TextLayer

MB = 1_000_000


def _setting(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class ParseLimits:
    """What one file may cost to parse, and what reads a PDF's text layer (``pdf_text``, see
    ``ingest.pdf_text``); the defaults are the settings' (``FOLIO_MAX_PAGES``, ..., ``FOLIO_PDF_TEXT``)."""

    max_pages: int = _setting("max_pages")
    max_stream_bytes: int = int(_setting("max_stream_mb") * MB)
    max_decompressed_bytes: int = int(_setting("max_decompressed_mb") * MB)
    max_zip_members: int = _setting("max_zip_members")
    max_html_elements: int = _setting("max_html_elements")
    pdf_text: TextLayer = _setting("pdf_text")  # noqa: RUF009 - a str, immutable like the others

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseLimits:
        return cls(max_pages=settings.max_pages, max_stream_bytes=int(settings.max_stream_mb * MB),
                   max_decompressed_bytes=int(settings.max_decompressed_mb * MB),
                   max_zip_members=settings.max_zip_members, max_html_elements=settings.max_html_elements,
                   pdf_text=settings.pdf_text)

    def too_many_pages(self, pages: int, name: str, *, at_least: bool = False) -> TooManyPages:
        more = "at least " if at_least else ""
        return TooManyPages(f"the document has {more}{pages:,} pages, over the {self.max_pages:,} limit "
                            "(FOLIO_MAX_PAGES)", file=name)


def default_limits() -> ParseLimits:
    """The limits of the process's settings (``FOLIO_MAX_*``)."""
    from folio.config import get_settings

    return ParseLimits.from_settings(get_settings())


@dataclass
class ParsedDocument:
    """A file's text, page by page, before normalisation."""

    file_name: str
    format: str
    pages: list[str]
    title: str | None = None
    virtual_pages: bool = False
    warnings: list[str] = field(default_factory=list)
    ocr: OcrReport | None = None  # PDFs with pages that needed OCR


def shown(what: object, most: int = 300) -> str:
    """A foreign library's message about a file, fit to print: it may quote the file's own bytes, and a
    terminal must not receive its control characters."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(what)[:most])
    return text + ("..." if len(str(what)) > most else "")
