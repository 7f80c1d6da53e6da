"""Parse a file into page texts: PDF with pypdf, DOCX, HTML, Markdown and plain text.

PDF pages are the PDF's own pages (0-based); pages without a usable text layer are read by OCR
(``ingest.ocr``, unless ``FOLIO_OCR=off``) in place, so page numbers never move. Other formats get stable
virtual pages: explicit page breaks (form feeds, DOCX page breaks) where the file has them, otherwise pages
of about ``VIRTUAL_PAGE_CHARS`` characters cut at paragraph boundaries, so the same bytes always give the
same pages and citations still point somewhere.

Hostile and broken files are refused with a stable code, in bounded time and memory (``ParseLimits``, from
the ``FOLIO_MAX_*`` settings): the page count is read from the PDF's page tree (or the text's page breaks)
before any page's text; every PDF stream and DOCX member is inflated under a cap, and all of them together
under another; a DOCX is read from a copy of its members that were inflated, checked and stored again, so
python-docx never inflates anything itself, and a DOCX part that declares a DTD is refused; HTML is parsed by
libxml2 and read in one walk without recursion, in time linear in its size. Nothing a file carries is ever
run or opened: PDF JavaScript and attachments are ignored (only the pages' text is read, and a warning says
what was ignored), HTML scripts are dropped. Binary data named as text is refused.

This module is the stage: ``parse_bytes`` and ``parse_file`` detect the format and hand the file to its
module, ``ingest.parse_pdf``, ``ingest.parse_docx`` or ``ingest.parse_text`` (HTML, Markdown, text, and the
virtual pages the other formats use too); ``ingest.parse_common`` holds what they share (``ParsedDocument``,
``ParseLimits``). Every name this module held before the formats moved out is still importable from it.
"""

from __future__ import annotations

from pathlib import Path

from folio.errors import CorruptFile, EmptyFile, EncryptedFile, FileTooLarge, UnsupportedFormat
from folio.ingest.ocr import OcrOptions, default_options
from folio.ingest.parse_common import ParsedDocument, ParseLimits, default_limits
from folio.ingest.parse_docx import parse_docx
from folio.ingest.parse_pdf import ARRAY_LIMIT, DICTIONARY_LIMIT, MIN_DOCUMENT_CHARS, PAGE_TREE_DEPTH, parse_pdf
from folio.ingest.parse_text import BINARY_SHARE, VIRTUAL_PAGE_CHARS, _collapse_blank_lines, decode_text, parse_text

__all__ = [  # what this module offered before the formats moved out, and offers still
    "ARRAY_LIMIT", "BINARY_SHARE", "DICTIONARY_LIMIT", "DOCX_SUFFIXES", "HTML_SUFFIXES", "MARKDOWN_SUFFIXES",
    "MIN_DOCUMENT_CHARS", "PAGE_TREE_DEPTH", "PDF_SUFFIXES", "SUPPORTED_SUFFIXES", "TEXT_SUFFIXES",
    "VIRTUAL_PAGE_CHARS", "ParseLimits", "ParsedDocument",
    "_collapse_blank_lines",  # private, but tests/ingest/test_hostile_files.py imports it from here
    "decode_text", "default_limits", "detect_format", "parse_bytes", "parse_file",
]

PDF_SUFFIXES = {".pdf"}
DOCX_SUFFIXES = {".docx"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt", ".text"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | DOCX_SUFFIXES | HTML_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES


# An OLE compound file: what Office writes for a password-protected document (and for a legacy .doc).
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def detect_format(name: str, data: bytes) -> str:
    """The format of a file from its name and first bytes; raises EmptyFile/UnsupportedFormat/CorruptFile."""
    if not data.strip():  # before the name: an empty file is empty, whatever it is called
        raise EmptyFile("file is empty", file=name)
    suffix = Path(name).suffix.lower()
    if suffix in PDF_SUFFIXES:
        if b"%PDF-" not in data[:1024]:
            raise CorruptFile("not a PDF: the file does not start with a PDF header", file=name)
        return "pdf"
    if suffix in DOCX_SUFFIXES:
        if data.startswith(_OLE_SIGNATURE):
            if "EncryptionInfo".encode("utf-16-le") in data:
                raise EncryptedFile("the DOCX file is protected by a password; remove it and try again", file=name)
            raise CorruptFile("not a DOCX file: it is an older Word (.doc) file; save it as .docx", file=name)
        if not data.startswith(b"PK"):
            raise CorruptFile("not a DOCX file: it is not a zip archive", file=name)
        return "docx"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in TEXT_SUFFIXES:
        return "text"
    supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
    shown = suffix or "(no extension)"
    raise UnsupportedFormat(f"unsupported file type {shown}; Folio reads {supported}", file=name)


def parse_bytes(name: str, data: bytes, *, max_bytes: int | None = None, ocr: OcrOptions | None = None,
                limits: ParseLimits | None = None) -> ParsedDocument:
    """Parse ``data`` (the bytes of the file called ``name``) into pages.

    ``ocr``: how PDF pages without a text layer are read; by default the current ``ingest.ocr.ocr_run``'s
    options, else the settings' (``FOLIO_OCR*``). ``limits``: by default the settings' (``FOLIO_MAX_*``).
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise FileTooLarge(
            f"file is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit (FOLIO_MAX_FILE_MB)",
            file=name,
        )
    if not data.strip():
        raise EmptyFile("file is empty", file=name)
    limits = limits or default_limits()
    fmt = detect_format(name, data)
    if fmt == "pdf":
        return parse_pdf(name, data, ocr or default_options(), limits)
    if fmt == "docx":
        return parse_docx(name, data, limits)
    return parse_text(name, fmt, data, limits)


def parse_file(path: Path, *, max_bytes: int | None = None, ocr: OcrOptions | None = None,
               limits: ParseLimits | None = None) -> ParsedDocument:
    """Read and parse one file."""
    return parse_bytes(path.name, path.read_bytes(), max_bytes=max_bytes, ocr=ocr, limits=limits)
