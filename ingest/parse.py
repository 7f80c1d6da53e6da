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
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.config import Settings
from ingest.errors import (
    ContentTooLarge,
    CorruptFile,
    EmptyFile,
    EncryptedFile,
    FileTooLarge,
    NoText,
    OcrUnavailable,
    TooComplex,
    TooManyPages,
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

_MB = 1_000_000


def _setting(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class ParseLimits:
    """What one file may cost to parse; the defaults are the settings' (``FOLIO_MAX_PAGES``, ...)."""

    max_pages: int = _setting("max_pages")
    max_stream_bytes: int = int(_setting("max_stream_mb") * _MB)
    max_decompressed_bytes: int = int(_setting("max_decompressed_mb") * _MB)
    max_zip_members: int = _setting("max_zip_members")
    max_html_elements: int = _setting("max_html_elements")

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseLimits:
        return cls(max_pages=settings.max_pages, max_stream_bytes=int(settings.max_stream_mb * _MB),
                   max_decompressed_bytes=int(settings.max_decompressed_mb * _MB),
                   max_zip_members=settings.max_zip_members, max_html_elements=settings.max_html_elements)

    def too_many_pages(self, pages: int, name: str, *, at_least: bool = False) -> TooManyPages:
        more = "at least " if at_least else ""
        return TooManyPages(f"the document has {more}{pages:,} pages, over the {self.max_pages:,} limit "
                            "(FOLIO_MAX_PAGES)", file=name)


def default_limits() -> ParseLimits:
    """The limits of the process's settings (``FOLIO_MAX_*``)."""
    from ingest.config import get_settings

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
        return _parse_pdf(name, data, ocr or default_options(), limits)
    if fmt == "docx":
        return _parse_docx(name, data, limits)
    text = decode_text(data)
    if _looks_binary(data, text):
        raise CorruptFile(f"not a {fmt} file: its bytes are binary data, not text", file=name)
    if fmt == "html":
        return _parse_html(name, text, limits)
    return _paginate(name, fmt, text, title=_first_heading(text, markdown=fmt == "markdown"), limits=limits)


def parse_file(path: Path, *, max_bytes: int | None = None, ocr: OcrOptions | None = None,
               limits: ParseLimits | None = None) -> ParsedDocument:
    """Read and parse one file."""
    return parse_bytes(path.name, path.read_bytes(), max_bytes=max_bytes, ocr=ocr, limits=limits)


# -- PDF ------------------------------------------------------------------------------------------------


# pypdf's safety limits raised to what large real filings need (10-Qs with huge arrays). pypdf keeps its
# configuration in a context variable, so it is applied around every parse: a setting made once would hold
# only in the thread (context) that made it, and an upload parsed in the service's job thread would fail.
ARRAY_LIMIT = 5_000_000
DICTIONARY_LIMIT = 1_000_000
# The deepest page tree walked (pypdf's own default).
PAGE_TREE_DEPTH = 100


def _parse_pdf(name: str, data: bytes, options: OcrOptions, limits: ParseLimits) -> ParsedDocument:
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    most = limits.max_stream_bytes  # what any one stream may inflate to, whatever its filter
    with pypdf.apply_configuration(array_maximum_element_count=ARRAY_LIMIT,
                                   dictionary_maximum_element_count=DICTIONARY_LIMIT,
                                   zlib_maximum_output_length=most, lzw_maximum_output_length=most,
                                   run_length_maximum_output_length=most, brotli_maximum_output_length=most,
                                   jbig2_maximum_output_length=most, array_based_stream_maximum_output_length=most,
                                   page_tree_maximum_depth=PAGE_TREE_DEPTH):
        return _parse_pdf_with_limits(name, data, options, limits)


def _parse_pdf_with_limits(name: str, data: bytes, options: OcrOptions, limits: ParseLimits) -> ParsedDocument:
    pages, title, with_images, warnings = _read_pdf(name, data, options, limits)
    if not pages:
        raise CorruptFile("the PDF has no pages", file=name)
    if options.mode == "off":
        if _chars(pages) < MIN_DOCUMENT_CHARS:
            raise NoText(f"no extractable text in {len(pages)} page(s): the PDF looks scanned and OCR is off "
                         "(FOLIO_OCR=off)", file=name)
        return ParsedDocument(file_name=name, format="pdf", pages=pages, title=title, warnings=warnings)
    run = current_run()
    try:
        pages, report, ocr_warnings = ocr_pdf(data, pages, options, run.on_page if run is not None else None,
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
    return ParsedDocument(file_name=name, format="pdf", pages=pages, title=title,
                          warnings=warnings + ocr_warnings, ocr=report)


def _read_pdf(name: str, data: bytes, options: OcrOptions, limits: ParseLimits
              ) -> tuple[list[str], str | None, set[int], list[str]]:
    """Each page's text layer, the title, the pages that hold an image, and warnings; pypdf's errors
    translated into ours."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:  # pragma: no cover - cryptography is a dependency
                raise EncryptedFile(f"encrypted with an unsupported cipher: {exc}", file=name) from exc
            if not opened:
                raise EncryptedFile("the PDF is protected by a password; remove it and try again", file=name)
        _check_page_tree(reader, name, limits)
        if len(reader.pages) > limits.max_pages:  # what pypdf found, whatever the tree declared
            raise limits.too_many_pages(len(reader.pages), name)
        budget = _InflateBudget(name, limits.max_decompressed_bytes)
        pages = []
        for page in reader.pages:
            budget.charge(page)
            pages.append(page.extract_text() or "")
        title = _pdf_title(reader)
        with_images = {i for i, page in enumerate(reader.pages) if _has_images(page.get("/Resources"))} \
            if options.mode != "off" else set()
        return pages, title, with_images, _ignored_content(reader)
    except (EncryptedFile, TooManyPages, ContentTooLarge, TooComplex):  # ours, raised inside the try
        raise
    except FileNotDecryptedError as exc:
        raise EncryptedFile("the PDF is protected by a password; remove it and try again", file=name) from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError, AssertionError, ZeroDivisionError) as exc:
        if _cause(exc, RecursionError) is not None:
            raise TooComplex("the PDF's objects are nested too deeply to read", file=name) from exc
        limit = _cause(exc, LimitReachedError)
        if limit is not None:
            raise _limit_error(name, limit, limits) from exc
        raise CorruptFile(f"the PDF could not be read ({type(exc).__name__}: {_shown(exc)})", file=name) from exc


def _shown(what: object, most: int = 300) -> str:
    """A foreign library's message about a file, fit to print: it may quote the file's own bytes, and a
    terminal must not receive its control characters."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(what)[:most])
    return text + ("..." if len(str(what)) > most else "")


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``exc`` or the first exception of type ``kind`` in its chain (pypdf wraps some errors in its own)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _limit_error(name: str, exc: BaseException, limits: ParseLimits) -> ContentTooLarge | TooComplex:
    """One of pypdf's own safety limits, reached: a stream that inflates too far, or a structure too large."""
    message = _shown(exc)
    if "decompress" in message or "output" in message:
        return ContentTooLarge(f"a stream in the PDF inflates past the {limits.max_stream_bytes / _MB:g} MB limit "
                               f"(FOLIO_MAX_STREAM_MB; pypdf: {message})", file=name)
    return TooComplex(f"the PDF is past one of the reader's safety limits ({message})", file=name)


def _check_page_tree(reader: Any, name: str, limits: ParseLimits) -> None:
    """Refuse a PDF with more than ``limits.max_pages`` pages before any page is read.

    The tree's /Count first (a claim, refused at once when it is too many), then the tree itself, walked
    without recursion and stopped as soon as it holds one page too many, so a tree whose /Count understates
    it costs no more. A tree too broken to walk is left to pypdf, whose count is checked after."""
    from pypdf.errors import PyPdfError
    from pypdf.generic import ArrayObject, DictionaryObject

    try:
        root = reader.root_object
        tree = root.get("/Pages") if isinstance(root, DictionaryObject) else None
        tree = tree.get_object() if tree is not None else None
        if not isinstance(tree, DictionaryObject):
            return
        declared = tree.get("/Count")
        if isinstance(declared, int) and declared > limits.max_pages:
            raise limits.too_many_pages(int(declared), name)
        leaves = 0
        seen: set[int] = {id(tree)}
        stack: list[tuple[Any, int]] = [(tree, 0)]
        while stack:
            node, depth = stack.pop()
            kids = node.get("/Kids")
            kids = kids.get_object() if kids is not None else None
            if not isinstance(kids, ArrayObject) or node.get("/Type") == "/Page":
                leaves += 1
                if leaves > limits.max_pages:
                    raise limits.too_many_pages(leaves, name, at_least=True)
                continue
            if depth >= PAGE_TREE_DEPTH:  # pypdf refuses it (page_tree_maximum_depth)
                continue
            for kid in kids:
                child = kid.get_object() if kid is not None else None
                if isinstance(child, DictionaryObject) and id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, depth + 1))
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        if _cause(exc, RecursionError) is not None:  # objects nested too deep: pypdf would fail on them again
            raise
        return


class _InflateBudget:
    """What a document's pages make pypdf inflate, counted before each page's text is read.

    A page's content streams count each time a page uses them (the text extractor parses them for each
    page); its form XObjects (at any depth) once per document, as pypdf keeps them once. Each stream is
    inflated once, under pypdf's per-stream limit, and pypdf keeps what it inflated for the extraction
    that follows, so the count costs no second inflation."""

    FORM_LIMIT = 10_000  # form XObjects looked at per page

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.left = limit
        self.limit = limit
        self.sizes: dict[int, int] = {}  # id of a stream object (pypdf keeps one per object) -> inflated size
        self.forms_seen: set[int] = set()

    def _take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise ContentTooLarge(f"the PDF's pages inflate to more than the {self.limit / _MB:g} MB limit "
                                  "(FOLIO_MAX_DECOMPRESSED_MB)", file=self.name)

    def _size(self, stream: Any) -> int:
        key = id(stream)
        if key not in self.sizes:
            self.sizes[key] = len(stream.get_data() or b"")
        return self.sizes[key]

    def charge(self, page: Any) -> None:
        from pypdf.generic import ArrayObject, StreamObject

        contents = page.get("/Contents")
        contents = contents.get_object() if contents is not None else None
        for item in (contents if isinstance(contents, ArrayObject) else [contents]):
            stream = item.get_object() if item is not None else None
            if isinstance(stream, StreamObject):
                self._take(self._size(stream))
        for form in self._forms(page.get("/Resources")):
            if id(form) not in self.forms_seen:
                self.forms_seen.add(id(form))
                self._take(self._form_size(form))

    def _form_size(self, form: Any) -> int:
        """A form's inflated size; 0 for one too broken to inflate (the text extractor skips it), but a form
        past pypdf's limits is refused like any stream."""
        from pypdf.errors import LimitReachedError, PyPdfError

        try:
            return self._size(form)
        except LimitReachedError:
            raise
        except (PyPdfError, ValueError, TypeError, KeyError, AttributeError, IndexError, zlib.error):
            return 0

    def _forms(self, resources: Any) -> Iterator[Any]:
        """The form XObjects that ``resources`` reach, at any depth, each once."""
        from pypdf.generic import DictionaryObject, StreamObject

        pending = [resources]
        visited: set[int] = set()
        while pending and len(visited) < self.FORM_LIMIT:
            current = pending.pop()
            current = current.get_object() if current is not None else None
            if not isinstance(current, DictionaryObject):
                continue
            xobjects = current.get("/XObject")
            xobjects = xobjects.get_object() if xobjects is not None else None
            if not isinstance(xobjects, DictionaryObject):
                continue
            for ref in xobjects.values():
                xobject = ref.get_object() if ref is not None else None
                if not isinstance(xobject, StreamObject) or id(xobject) in visited:
                    continue
                visited.add(id(xobject))
                if xobject.get("/Subtype") == "/Form":
                    yield xobject
                    pending.append(xobject.get("/Resources"))


def _ignored_content(reader: Any) -> list[str]:
    """Warnings for what the PDF carries besides its pages' text and Folio never runs or opens: JavaScript
    (document-level, run on open, or behind a page's actions and links) and embedded files."""
    from pypdf.errors import PyPdfError
    from pypdf.generic import DictionaryObject

    def resolved(value: Any) -> Any:
        return value.get_object() if value is not None else None

    def is_script(action: Any) -> bool:
        action = resolved(action)
        return isinstance(action, DictionaryObject) and action.get("/S") == "/JavaScript"

    found: list[str] = []
    try:
        root = resolved(reader.root_object)
        names = resolved(root.get("/Names"))
        names = names if isinstance(names, DictionaryObject) else DictionaryObject()
        scripts = "/JavaScript" in names or "/AA" in root or is_script(root.get("/OpenAction"))
        for page in reader.pages:
            if scripts:
                break
            annots = resolved(page.get("/Annots")) or []
            scripts = "/AA" in page or any(is_script(resolved(a).get("/A")) for a in annots
                                           if isinstance(resolved(a), DictionaryObject))
        if scripts:
            found.append("the PDF carries JavaScript, which Folio ignores: only the pages' text is read")
        if "/EmbeddedFiles" in names:
            found.append("the PDF carries embedded files, which Folio ignores: only the pages' text is read")
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
        pass  # a warning is optional: a PDF broken here was read all the same
    return found


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


_ZIP_DIRECTORY_ENTRY = b"PK\x01\x02"  # every entry of a zip's central directory starts with it
_ZIP_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_ZIP_LOCAL_SIGNATURE = 0x04034B50
_INFLATE_STEP = 1 << 20


def _open_docx(name: str, package: bytes) -> Any:
    """python-docx's document of a checked package (``_docx_package``); its errors translated into ours."""
    try:
        import docx
        from lxml import etree

        return docx.Document(io.BytesIO(package))
    except MemoryError:
        raise
    except etree.XMLSyntaxError as exc:
        if "depth" in str(exc).lower():
            raise TooComplex("the DOCX file's XML is nested too deeply to read", file=name) from exc
        raise CorruptFile(f"the DOCX file could not be read (XMLSyntaxError: {_shown(exc)})", file=name) from exc
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise CorruptFile(f"the DOCX file could not be read ({type(exc).__name__}: {_shown(exc)})", file=name) from exc
    except Exception as exc:  # python-docx raises several private types for broken packages
        raise CorruptFile(f"the DOCX file could not be read ({type(exc).__name__})", file=name) from exc


def _parse_docx(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = _open_docx(name, _docx_package(name, data, limits))
    pages: list[list[str]] = [[]]
    title: str | None = None
    # style names by style id: python-docx looks a paragraph's style up among all styles each time it is
    # asked (2 ms a paragraph without an explicit style, minutes for a long document)
    style_names: dict[str | None, str] = {}
    body = document.element.body
    for block in body.iterchildren():
        if block.tag == qn("w:p"):
            paragraph = Paragraph(block, document)
            text = paragraph.text.strip()
            style_id = block.style
            if style_id not in style_names:
                found = paragraph.style
                style_names[style_id] = (found.name if found is not None else "") or ""
            style = style_names[style_id]
            if text and title is None and style.lower() in ("title", "heading 1"):
                title = text
            if text:
                prefix = "#" * _heading_level(style) + " " if _heading_level(style) else ""
                pages[-1].append(prefix + text)
            breaks = block.findall(".//" + qn("w:br"))
            if any(br.get(qn("w:type")) == "page" for br in breaks):
                pages.append([])
                if len(pages) > limits.max_pages:
                    raise limits.too_many_pages(len(pages), name, at_least=True)
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
        return _paginate(name, "docx", joined[0], title=title, limits=limits)
    out: list[str] = []
    for page in joined:
        out.extend(_split_virtual(page) or [""])
    if len(out) > limits.max_pages:
        raise limits.too_many_pages(len(out), name)
    return ParsedDocument(file_name=name, format="docx", pages=out, title=title, virtual_pages=True)


def _docx_package(name: str, data: bytes, limits: ParseLimits) -> bytes:
    """The DOCX's members, each inflated under the limits and checked, stored again without compression:
    the package python-docx reads. It then inflates nothing itself (``ZipFile.read`` inflates a member in
    one call, however far past its declared size the data goes, before it trims the output)."""
    if data.count(_ZIP_DIRECTORY_ENTRY) > limits.max_zip_members:  # bounds the entries before any is parsed
        raise TooComplex(f"the DOCX archive has more than {limits.max_zip_members:,} members "
                         "(FOLIO_MAX_ZIP_MEMBERS)", file=name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error) as exc:
        raise CorruptFile(f"the DOCX file could not be read ({type(exc).__name__}: {_shown(exc)})", file=name) from exc
    names: set[str] = set()
    declared = 0
    for info in members:
        if info.filename in names:
            raise CorruptFile(f"the DOCX archive holds two members named {info.filename!r}", file=name)
        names.add(info.filename)
        if info.file_size > limits.max_stream_bytes:
            raise ContentTooLarge(f"the DOCX member {info.filename!r} inflates to {info.file_size / _MB:,.0f} MB, over "
                                  f"the {limits.max_stream_bytes / _MB:g} MB limit (FOLIO_MAX_STREAM_MB)", file=name)
        declared += info.file_size
    if declared > limits.max_decompressed_bytes:
        raise ContentTooLarge(f"the DOCX members inflate to {declared / _MB:,.0f} MB, over the "
                              f"{limits.max_decompressed_bytes / _MB:g} MB limit (FOLIO_MAX_DECOMPRESSED_MB)",
                              file=name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as package:
        for info in members:
            if not info.is_dir():
                content = _inflate_member(name, data, info)
                if info.filename.endswith((".xml", ".rels")):
                    _check_xml_part(name, info.filename, content)
                package.writestr(info.filename, content)
    return out.getvalue()


def _inflate_member(name: str, data: bytes, info: zipfile.ZipInfo) -> bytes:
    """One member's bytes, inflated a step at a time and never past the size the directory declares."""
    header = data[info.header_offset : info.header_offset + _ZIP_LOCAL_HEADER.size]
    if len(header) < _ZIP_LOCAL_HEADER.size:
        raise CorruptFile(f"the DOCX member {info.filename!r} is cut off", file=name)
    signature, _, flags, method, _, _, _, _, _, name_length, extra_length = _ZIP_LOCAL_HEADER.unpack(header)
    if signature != _ZIP_LOCAL_SIGNATURE:
        raise CorruptFile(f"the DOCX member {info.filename!r} has no local header", file=name)
    if flags & 0x1:
        raise EncryptedFile(f"the DOCX member {info.filename!r} is encrypted", file=name)
    start = info.header_offset + _ZIP_LOCAL_HEADER.size + name_length + extra_length
    raw = data[start : start + info.compress_size]
    if len(raw) < info.compress_size:
        raise CorruptFile(f"the DOCX member {info.filename!r} is cut off", file=name)
    if method == zipfile.ZIP_STORED:
        content = raw
    elif method == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
        parts: list[bytes] = []
        size = 0
        pending = raw
        try:
            while pending and not inflater.eof:
                part = inflater.decompress(pending, _INFLATE_STEP)
                pending = inflater.unconsumed_tail
                size += len(part)
                if size > info.file_size:
                    raise ContentTooLarge(f"the DOCX member {info.filename!r} inflates past the {info.file_size:,} "
                                          "bytes its zip directory declares", file=name)
                parts.append(part)
        except zlib.error as exc:
            raise CorruptFile(f"the DOCX member {info.filename!r} could not be inflated ({_shown(exc)})",
                              file=name) from exc
        content = b"".join(parts)
    else:
        raise CorruptFile(f"the DOCX member {info.filename!r} uses compression method {method}, not deflate", file=name)
    if len(content) != info.file_size or zlib.crc32(content) != info.CRC:
        raise CorruptFile(f"the DOCX member {info.filename!r} does not match its size or checksum", file=name)
    return content


# XML's own ways to tell an encoding that is not ASCII-compatible, from a part's first bytes.
_XML_WIDE_ENCODINGS = (
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"), (b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"),
)
_XML_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _keeps_ascii(encoding: str) -> bool:
    """Whether text in ``encoding`` (an XML declaration's) shows "<!DOCTYPE" as those very bytes: UTF-8, or
    a one-byte encoding in which every ASCII byte is itself (not UTF-7, where "+ADw-" is "<", nor EBCDIC)."""
    try:
        codec = codecs.lookup(encoding).name
        if codec.startswith("utf-8"):
            return True
        ascii_bytes = bytes(range(128))
        return (ascii_bytes.decode(codec) == ascii_bytes.decode("ascii")
                and len(bytes(range(256)).decode(codec, errors="replace")) == 256)
    except (LookupError, UnicodeError, ValueError):
        return False


def _check_xml_part(name: str, part: str, content: bytes) -> None:
    """Refuse an XML part that declares a DTD (Word never writes one: entities, expanded or external, are
    how XML is made to explode or to read other files) or that is in an encoding that could hide one."""
    wide = next((encoding for mark, encoding in _XML_WIDE_ENCODINGS if content.startswith(mark)), None)
    if wide is not None:
        text = content.decode(wide, errors="replace")
        dtd = "<!DOCTYPE" in text or "<!ENTITY" in text
    else:
        start = content.removeprefix(b"\xef\xbb\xbf").lstrip()
        if start and not start.startswith(b"<"):  # EBCDIC, say: nothing in it would read as "<!DOCTYPE"
            raise CorruptFile(f"the DOCX part {part!r} is not XML in UTF-8 or UTF-16", file=name)
        declared = _XML_DECLARED_ENCODING.match(start)
        if declared is not None and not _keeps_ascii(declared.group(1).decode("ascii")):
            raise CorruptFile(f"the DOCX part {part!r} is in the {_shown(declared.group(1).decode('ascii'))} "
                              "encoding; Word writes UTF-8 or UTF-16", file=name)
        dtd = b"<!DOCTYPE" in content or b"<!ENTITY" in content
    if dtd:
        raise CorruptFile(f"the DOCX part {part!r} declares a DTD (<!DOCTYPE>), which Word never writes: its "
                          "entities could expand without end or read other files", file=name)


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


# Control bytes that text in an ASCII-compatible encoding never holds (tab, line ends, form feed and the
# escape of ISO-2022 and terminal colours excepted); UTF-16 and UTF-32 announce themselves with a BOM.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\ufffd]")
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
BINARY_SHARE = 0.01  # of the first 64 KiB: more control characters than this and the file is binary data
_SAMPLE = 1 << 16


def _looks_binary(data: bytes, text: str) -> bool:
    """Whether a file meant to be text (its raw ``data``, and the ``text`` decoded from it) is binary data."""
    if data.startswith(_WIDE_BOMS):
        sample = text[:_SAMPLE]
        controls, size = len(_CONTROL_CHARS.findall(sample)), len(sample)
    else:
        sample_bytes = data[:_SAMPLE]
        controls, size = len(_CONTROL_BYTES.findall(sample_bytes)), len(sample_bytes)
    return controls > max(8, BINARY_SHARE * size)


_BLOCK_TAGS = frozenset((
    "p", "div", "section", "article", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "ul", "ol", "blockquote", "pre", "header", "footer", "main", "aside", "dd", "dt",
))
# Never text: code, styles, and what a browser would load or draw in their place.
_DROPPED_TAGS = frozenset(("script", "style", "noscript", "template", "iframe", "object", "embed", "svg"))
_HEADINGS = {f"h{level}": level for level in range(1, 7)}


def _parse_html(name: str, text: str, limits: ParseLimits) -> ParsedDocument:
    """HTML to text: blocks become paragraphs, headings Markdown headings, table cells ``|``-separated.

    lxml's HTML parser (libxml2) builds the tree and one walk without recursion reads it: an element
    costs a few hundred bytes, and a hundred thousand siblings take a fraction of a second."""
    from lxml import etree, html

    if text.count("<") > limits.max_html_elements:  # each element needs one: a bound before parsing
        raise TooComplex(f"the HTML file has more than {limits.max_html_elements:,} elements "
                         "(FOLIO_MAX_HTML_ELEMENTS)", file=name)
    # huge_tree: text nodes over 10 MB and nesting to 2,048 (not 256); past that libxml2 stops reading, and
    # the rest of the file would be lost without a word: it is refused instead
    parser = html.HTMLParser(encoding="utf-8", huge_tree=True)
    try:
        root = html.document_fromstring(text.encode("utf-8"), parser=parser)
    except etree.ParserError as exc:  # "Document is empty"
        raise NoText("the HTML file has no text", file=name) from exc
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise CorruptFile(f"the HTML file could not be read ({type(exc).__name__}: {_shown(exc)})", file=name) from exc
    limit = next((e for e in parser.error_log if e.type_name == "ERR_RESOURCE_LIMIT"), None)
    if limit is not None:
        raise TooComplex(f"the HTML file is past the parser's limits ({_shown(limit.message)})", file=name)
    out: list[str] = []
    title: str | None = None
    walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, element in walker:
        if event in ("comment", "pi"):  # not text; what follows them is
            out.append(element.tail or "")
            continue
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "end":
            out.append(element.tail or "")
        elif tag in _DROPPED_TAGS or (tag == "title" and title is None):
            if tag == "title":
                title = " ".join("".join(element.itertext()).split())
            walker.skip_subtree()
        else:
            if tag in _BLOCK_TAGS:
                out.append("\n" if tag == "br" else "\n\n")
            if tag in ("td", "th"):
                out.append(" | ")
            if tag in _HEADINGS:
                out.append("#" * _HEADINGS[tag] + " ")
            out.append(element.text or "")
    body = _collapse_blank_lines("".join(out)).strip()
    return _paginate(name, "html", body, title=title or _first_heading(body, markdown=True), limits=limits)


def _collapse_blank_lines(text: str) -> str:
    """Every run of two or more line ends with only spaces and tabs between them, and the spaces and tabs
    around it, becomes one blank line ("\n\n"): ``re.sub(r"[ \t]*\n[ \t]*(\n[ \t]*)+", "\n\n", text)``,
    in one pass over the lines (that expression backtracks quadratically over a long run of spaces)."""
    lines = text.split("\n")
    out = [lines[0]]
    i = 1
    while i < len(lines):
        j = i
        while j < len(lines) - 1 and not lines[j].strip(" \t"):
            j += 1  # lines[i:j] are blank: with the line ends around them, a run of j - i + 1 line ends
        if j > i:
            out[-1] = out[-1].rstrip(" \t")
            out.append("\n\n" + lines[j].lstrip(" \t"))
        else:
            out.append("\n" + lines[i])
        i = j + 1
    return "".join(out)


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


def _paginate(name: str, fmt: str, text: str, *, title: str | None, limits: ParseLimits) -> ParsedDocument:
    """Pages at the text's form feeds, else virtual pages; their number is bounded before they are cut."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\f" in text:
        breaks = text.count("\f")  # at least this many pages
        if breaks > limits.max_pages:
            raise limits.too_many_pages(breaks, name, at_least=True)
        pages = text.split("\f")
        if pages and not pages[-1].strip():
            pages.pop()
    else:
        least = len(text.strip("\n")) // VIRTUAL_PAGE_CHARS  # no virtual page is longer
        if least > limits.max_pages:
            raise limits.too_many_pages(least, name, at_least=True)
        pages = _split_virtual(text)
    if len(pages) > limits.max_pages:
        raise limits.too_many_pages(len(pages), name)
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
