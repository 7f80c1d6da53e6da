"""Parse a file into page texts: PDF with pypdf, DOCX, HTML, Markdown and plain text.

PDF pages are the PDF's own pages (0-based); pages without a usable text layer are read by OCR
(``ingest.ocr``, unless ``FOLIO_OCR=off``) in place, so page numbers never move. Other formats get stable
virtual pages: explicit page breaks (form feeds, DOCX page breaks) where the file has them, otherwise pages
of about ``VIRTUAL_PAGE_CHARS`` characters cut at paragraph boundaries, so the same bytes always give the
same pages and citations still point somewhere.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedFile,
    FileTooLarge,
    NoText,
    OcrUnavailable,
    UnsupportedFormat,
)
from ingest.ocr import OcrOptions, OcrReport, current_run, default_options, ocr_pdf

VIRTUAL_PAGE_CHARS = 3000
# Fewer letters and digits than this in a whole PDF: there is no text layer to index (a scan).
MIN_DOCUMENT_CHARS = 40

PDF_SUFFIXES = {".pdf"}
DOCX_SUFFIXES = {".docx"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt", ".text"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | DOCX_SUFFIXES | HTML_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES


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


def detect_format(name: str, data: bytes) -> str:
    """The format of a file from its name and first bytes; raises UnsupportedFormat/CorruptFile."""
    suffix = Path(name).suffix.lower()
    if suffix in PDF_SUFFIXES:
        if b"%PDF-" not in data[:1024]:
            raise CorruptFile("not a PDF: the file does not start with a PDF header", file=name)
        return "pdf"
    if suffix in DOCX_SUFFIXES:
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


def parse_bytes(name: str, data: bytes, *, max_bytes: int | None = None, ocr: OcrOptions | None = None
                ) -> ParsedDocument:
    """Parse ``data`` (the bytes of the file called ``name``) into pages.

    ``ocr``: how PDF pages without a text layer are read; by default the current ``ingest.ocr.ocr_run``'s
    options, else the settings' (``FOLIO_OCR*``).
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise FileTooLarge(
            f"file is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit (FOLIO_MAX_FILE_MB)",
            file=name,
        )
    if not data.strip():
        raise EmptyFile("file is empty", file=name)
    fmt = detect_format(name, data)
    if fmt == "pdf":
        return _parse_pdf(name, data, ocr or default_options())
    if fmt == "docx":
        return _parse_docx(name, data)
    text = decode_text(data)
    if fmt == "html":
        return _parse_html(name, text)
    return _paginate(name, fmt, text, title=_first_heading(text, markdown=fmt == "markdown"))


def parse_file(path: Path, *, max_bytes: int | None = None, ocr: OcrOptions | None = None) -> ParsedDocument:
    """Read and parse one file."""
    return parse_bytes(path.name, path.read_bytes(), max_bytes=max_bytes, ocr=ocr)


# -- PDF ------------------------------------------------------------------------------------------------


# pypdf's safety limits raised to what large real filings need (10-Qs with huge arrays). pypdf keeps its
# configuration in a context variable, so it is applied around every parse: a setting made once would hold
# only in the thread (context) that made it, and an upload parsed in the service's job thread would fail.
ARRAY_LIMIT = 5_000_000
DICTIONARY_LIMIT = 1_000_000


def _parse_pdf(name: str, data: bytes, options: OcrOptions) -> ParsedDocument:
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    with pypdf.apply_configuration(array_maximum_element_count=ARRAY_LIMIT,
                                   dictionary_maximum_element_count=DICTIONARY_LIMIT):
        return _parse_pdf_with_limits(name, data, options)


def _parse_pdf_with_limits(name: str, data: bytes, options: OcrOptions) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:  # pragma: no cover - cryptography is a dependency
                raise EncryptedFile(f"encrypted with an unsupported cipher: {exc}", file=name) from exc
            if not opened:
                raise EncryptedFile("the PDF is protected by a password; remove it and try again", file=name)
        pages = [(page.extract_text() or "") for page in reader.pages]
        title = _pdf_title(reader)
        with_images = {i for i, page in enumerate(reader.pages) if _has_images(page.get("/Resources"))} \
            if options.mode != "off" else set()
    except (EncryptedFile, NoText):  # ours, raised inside the try
        raise
    except FileNotDecryptedError as exc:
        raise EncryptedFile("the PDF is protected by a password; remove it and try again", file=name) from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError, AssertionError, ZeroDivisionError) as exc:
        raise CorruptFile(f"the PDF could not be read ({type(exc).__name__}: {exc})", file=name) from exc
    if not pages:
        raise CorruptFile("the PDF has no pages", file=name)
    if options.mode == "off":
        if _chars(pages) < MIN_DOCUMENT_CHARS:
            raise NoText(f"no extractable text in {len(pages)} page(s): the PDF looks scanned and OCR is off "
                         "(FOLIO_OCR=off)", file=name)
        return ParsedDocument(file_name=name, format="pdf", pages=pages, title=title)
    run = current_run()
    try:
        pages, report, warnings = ocr_pdf(data, pages, options, run.on_page if run is not None else None,
                                          with_images=with_images)
    except (CorruptFile, OcrUnavailable) as exc:
        exc.file = name
        raise
    if run is not None:
        run.report = report
    if _chars(pages) < MIN_DOCUMENT_CHARS:
        if report is None:
            raise NoText(f"no extractable text in {len(pages)} page(s), and no page has ink for OCR to read",
                         file=name)
        confidence = report.mean_confidence
        raise NoText(
            f"no text: the PDF looks scanned, and OCR of {report.pages_read} page(s) found "
            + ("no words" if confidence is None else
               f"nothing above the confidence floor (mean {confidence:.0f}, floor {options.min_confidence:g})"),
            file=name)
    return ParsedDocument(file_name=name, format="pdf", pages=pages, title=title, warnings=warnings, ocr=report)


def _chars(pages: list[str]) -> int:
    return sum(len(_ALNUM.findall(p)) for p in pages)


_ALNUM = re.compile(r"[^\W_]")


def _has_images(resources: Any, depth: int = 0) -> bool:
    """Whether a page's resources (or a form's, 3 deep) hold an image: a page that may need OCR.

    Read from the dictionaries pypdf has already parsed, in microseconds; asking PDFium instead meant
    walking every object of every page (33 ms a page on a 10-K). Unreadable resources count as an image,
    so the page's ink decides.
    """
    from pypdf.errors import PyPdfError

    try:
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        for ref in (xobjects.get_object().values() if xobjects is not None else ()):
            xobject = ref.get_object()
            subtype = xobject.get("/Subtype")
            if subtype == "/Image":
                return True
            if subtype == "/Form" and depth < 3 and _has_images(xobject.get("/Resources"), depth + 1):
                return True
    except (PyPdfError, AttributeError, KeyError, TypeError, ValueError, RecursionError):
        return True
    return False


def _pdf_title(reader: object) -> str | None:
    try:
        meta = reader.metadata  # type: ignore[attr-defined]
        title = meta.title if meta is not None else None
    except Exception:  # metadata is optional and often malformed; the title then comes from the text
        return None
    if isinstance(title, str):
        title = " ".join(title.split())
        if 3 <= len(title) <= 200 and not title.lower().startswith(("microsoft word", "untitled")):
            return title
    return None


# -- DOCX -----------------------------------------------------------------------------------------------


def _parse_docx(name: str, data: bytes) -> ParsedDocument:
    try:
        import docx
        from docx.oxml.ns import qn
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise CorruptFile(f"the DOCX file could not be read ({type(exc).__name__}: {exc})", file=name) from exc
    except Exception as exc:  # python-docx raises several private types for broken packages
        raise CorruptFile(f"the DOCX file could not be read ({type(exc).__name__})", file=name) from exc

    pages: list[list[str]] = [[]]
    title: str | None = None
    body = document.element.body
    for block in body.iterchildren():
        if block.tag == qn("w:p"):
            paragraph = Paragraph(block, document)
            text = paragraph.text.strip()
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            if text and title is None and style.lower() in ("title", "heading 1"):
                title = text
            if text:
                prefix = "#" * _heading_level(style) + " " if _heading_level(style) else ""
                pages[-1].append(prefix + text)
            breaks = block.findall(".//" + qn("w:br"))
            if any(br.get(qn("w:type")) == "page" for br in breaks):
                pages.append([])
        elif block.tag == qn("w:tbl"):
            table = Table(block, document)
            for row in table.rows:
                cells = [cell.text.strip() for cell in row.cells]
                pages[-1].append(" | ".join(cells))
    joined = ["\n\n".join(p) for p in pages]
    if not any(p.strip() for p in joined):
        raise NoText("the DOCX file has no text", file=name)
    core_title = (document.core_properties.title or "").strip()
    title = core_title or title
    if len(joined) == 1:
        return _paginate(name, "docx", joined[0], title=title)
    out: list[str] = []
    for page in joined:
        out.extend(_split_virtual(page) or [""])
    return ParsedDocument(file_name=name, format="docx", pages=out, title=title, virtual_pages=True)


def _heading_level(style: str) -> int:
    match = re.fullmatch(r"heading (\d)", style.lower())
    return int(match.group(1)) if match else 0


# -- HTML, Markdown, text -------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """Decode text bytes: UTF-8 (with or without BOM), else the encoding charset-normalizer detects."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        return str(best)
    return data.decode("cp1252", errors="replace")


_BLOCK_TAGS = (
    "p", "div", "section", "article", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "ul", "ol", "blockquote", "pre", "header", "footer", "main", "aside", "dd", "dt",
)


def _parse_html(name: str, text: str) -> ParsedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "iframe", "object", "embed", "svg"]):
        tag.decompose()
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text().split()) if title_tag else None
    if title_tag:
        title_tag.decompose()
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.insert(0, "#" * level + " ")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n\n" if tag.name != "br" else "\n")
    for cell in soup.find_all(["td", "th"]):
        cell.insert_before(" | ")
    body = soup.get_text()
    body = re.sub(r"[ \t]*\n[ \t]*(\n[ \t]*)+", "\n\n", body).strip()
    if not title:
        title = _first_heading(body, markdown=True)
    return _paginate(name, "html", body, title=title)


def _first_heading(text: str, *, markdown: bool) -> str | None:
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if markdown and line.startswith("#"):
            return line.lstrip("#").strip()[:200] or None
        if not markdown:
            return line[:200]
    return None


def _paginate(name: str, fmt: str, text: str, *, title: str | None) -> ParsedDocument:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\f" in text:
        pages = text.split("\f")
        if pages and not pages[-1].strip():
            pages.pop()
    else:
        pages = _split_virtual(text)
    if not any(p.strip() for p in pages):
        raise NoText("the file has no text", file=name)
    return ParsedDocument(file_name=name, format=fmt, pages=pages, title=title, virtual_pages=True)


def _split_virtual(text: str, size: int = VIRTUAL_PAGE_CHARS) -> list[str]:
    """Cut ``text`` into pages of about ``size`` characters at paragraph (else line, else space) ends."""
    text = text.strip("\n")
    pages: list[str] = []
    start = 0
    while len(text) - start > size:
        window = text[start : start + size]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            pos = window.rfind(sep, size // 2)
            if pos > 0:
                cut = pos + len(sep)
                break
        if cut <= 0:
            cut = size
        pages.append(text[start : start + cut])
        start += cut
    pages.append(text[start:])
    return pages
