"""PDF: each page's text layer (pypdf's, or PDFium's: ``ingest.pdf_text``), pages without a usable one read by
OCR (``ingest.ocr``).

PDF pages are the PDF's own pages (0-based); pages without a usable text layer are read by OCR (unless
``FOLIO_OCR=off``) in place, so page numbers never move. The page count is read from the page tree before
any page's text; every stream is inflated under a cap (``FOLIO_MAX_STREAM_MB``), all of them together under
another (``FOLIO_MAX_DECOMPRESSED_MB``). JavaScript and attachments are never run or opened, only named in a
warning. pypdf's errors are translated into Folio's here.
"""

from __future__ import annotations

import io
import logging
import re
import zlib
from collections.abc import Iterator
from typing import Any

from folio.errors import (
    ContentTooLarge,
    CorruptFile,
    EncryptedFile,
    NoText,
    OcrUnavailable,
    TooComplex,
    TooManyPages,
)
from folio.ingest.ocr import OcrOptions, current_run, ocr_pdf
from folio.ingest.parse_common import MB, ParsedDocument, ParseLimits, shown
from folio.ingest.pdf_text import page_texts

# Fewer letters and digits than this in a whole PDF: there is no text layer to index (a scan).
MIN_DOCUMENT_CHARS = 40

# pypdf's safety limits raised to what large real filings need (10-Qs with huge arrays). pypdf keeps its
# configuration in a context variable, so it is applied around every parse: a setting made once would hold
# only in the thread (context) that made it, and an upload parsed in the service's job thread would fail.
ARRAY_LIMIT = 5_000_000
DICTIONARY_LIMIT = 1_000_000
# The deepest page tree walked (pypdf's own default).
PAGE_TREE_DEPTH = 100


def parse_pdf(name: str, data: bytes, options: OcrOptions, limits: ParseLimits) -> ParsedDocument:
    """Parse the bytes of a PDF file (``data``, called ``name``) into its pages, OCR as ``options`` say."""
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
        pages, text_warnings = page_texts(reader, data, limits.pdf_text, budget.charge)
        title = _pdf_title(reader)
        with_images = {i for i, page in enumerate(reader.pages) if _has_images(page.get("/Resources"))} \
            if options.mode != "off" else set()
        return pages, title, with_images, text_warnings + _ignored_content(reader)
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
        raise CorruptFile(f"the PDF could not be read ({type(exc).__name__}: {shown(exc)})", file=name) from exc


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
    message = shown(exc)
    if "decompress" in message or "output" in message:
        return ContentTooLarge(f"a stream in the PDF inflates past the {limits.max_stream_bytes / MB:g} MB limit "
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
            raise ContentTooLarge(f"the PDF's pages inflate to more than the {self.limit / MB:g} MB limit "
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
