"""HTML, Markdown and plain text: decoding, and stable virtual pages.

Bytes are decoded as UTF-8, else in the encoding charset-normalizer detects, and binary data named as text
is refused. HTML is parsed by libxml2 and read in one walk without recursion, in time linear in its size;
its scripts and styles are dropped. Pages are the text's form feeds where it has them, otherwise virtual
pages of about ``VIRTUAL_PAGE_CHARS`` characters cut at paragraph boundaries, so the same bytes always give
the same pages; their number is bounded (``FOLIO_MAX_PAGES``) before they are cut.
"""

from __future__ import annotations

import re

from folio.errors import CorruptFile, NoText, TooComplex
from folio.ingest.parse_common import ParsedDocument, ParseLimits, shown

VIRTUAL_PAGE_CHARS = 3000


def parse_text(name: str, fmt: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Parse the bytes of an HTML, Markdown or plain text file (``fmt``: "html", "markdown" or "text")."""
    text = decode_text(data)
    if _looks_binary(data, text):
        raise CorruptFile(f"not a {fmt} file: its bytes are binary data, not text", file=name)
    if fmt == "html":
        return _parse_html(name, text, limits)
    return paginate(name, fmt, text, title=_first_heading(text, markdown=fmt == "markdown"), limits=limits)


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
        raise CorruptFile(f"the HTML file could not be read ({type(exc).__name__}: {shown(exc)})", file=name) from exc
    limit = next((e for e in parser.error_log if e.type_name == "ERR_RESOURCE_LIMIT"), None)
    if limit is not None:
        raise TooComplex(f"the HTML file is past the parser's limits ({shown(limit.message)})", file=name)
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
    return paginate(name, "html", body, title=title or _first_heading(body, markdown=True), limits=limits)


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


def paginate(name: str, fmt: str, text: str, *, title: str | None, limits: ParseLimits) -> ParsedDocument:
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
        pages = split_virtual(text)
    if len(pages) > limits.max_pages:
        raise limits.too_many_pages(len(pages), name)
    if not any(p.strip() for p in pages):
        raise NoText("the file has no text", file=name)
    return ParsedDocument(file_name=name, format=fmt, pages=pages, title=title, virtual_pages=True)


def split_virtual(text: str, size: int = VIRTUAL_PAGE_CHARS) -> list[str]:
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
