"""DOCX: paragraphs (headings as Markdown headings), tables and page breaks, read with python-docx.

The package is checked before python-docx sees it: its members are counted (``FOLIO_MAX_ZIP_MEMBERS``), their
declared sizes capped (``FOLIO_MAX_STREAM_MB`` each, ``FOLIO_MAX_DECOMPRESSED_MB`` together), each inflated a
step at a time and never past the size it declares, and an XML part that declares a DTD (or is in an encoding
that could hide one) is refused; python-docx then reads a copy of the checked members stored again without
compression, so it never inflates anything itself. Pages are the document's page breaks, each cut into
virtual pages (``ingest.parse_text.split_virtual``) when long.
"""

from __future__ import annotations

import codecs
import io
import re
import struct
import zipfile
import zlib
from typing import Any

from folio.errors import ContentTooLarge, CorruptFile, EncryptedFile, NoText, TooComplex
from folio.ingest.parse_common import MB, ParsedDocument, ParseLimits, shown
from folio.ingest.parse_text import paginate, split_virtual

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
        raise CorruptFile(f"the DOCX file could not be read (XMLSyntaxError: {shown(exc)})", file=name) from exc
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise CorruptFile(f"the DOCX file could not be read ({type(exc).__name__}: {shown(exc)})", file=name) from exc
    except Exception as exc:  # python-docx raises several private types for broken packages
        raise CorruptFile(f"the DOCX file could not be read ({type(exc).__name__})", file=name) from exc


def parse_docx(name: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Parse the bytes of a DOCX file (``data``, called ``name``) into pages."""
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
        return paginate(name, "docx", joined[0], title=title, limits=limits)
    out: list[str] = []
    for page in joined:
        out.extend(split_virtual(page) or [""])
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
        raise CorruptFile(f"the DOCX file could not be read ({type(exc).__name__}: {shown(exc)})", file=name) from exc
    names: set[str] = set()
    declared = 0
    for info in members:
        if info.filename in names:
            raise CorruptFile(f"the DOCX archive holds two members named {info.filename!r}", file=name)
        names.add(info.filename)
        if info.file_size > limits.max_stream_bytes:
            raise ContentTooLarge(f"the DOCX member {info.filename!r} inflates to {info.file_size / MB:,.0f} MB, over "
                                  f"the {limits.max_stream_bytes / MB:g} MB limit (FOLIO_MAX_STREAM_MB)", file=name)
        declared += info.file_size
    if declared > limits.max_decompressed_bytes:
        raise ContentTooLarge(f"the DOCX members inflate to {declared / MB:,.0f} MB, over the "
                              f"{limits.max_decompressed_bytes / MB:g} MB limit (FOLIO_MAX_DECOMPRESSED_MB)",
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
            raise CorruptFile(f"the DOCX member {info.filename!r} could not be inflated ({shown(exc)})",
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
            raise CorruptFile(f"the DOCX part {part!r} is in the {shown(declared.group(1).decode('ascii'))} "
                              "encoding; Word writes UTF-8 or UTF-16", file=name)
        dtd = b"<!DOCTYPE" in content or b"<!ENTITY" in content
    if dtd:
        raise CorruptFile(f"the DOCX part {part!r} declares a DTD (<!DOCTYPE>), which Word never writes: its "
                          "entities could expand without end or read other files", file=name)


def _heading_level(style: str) -> int:
    match = re.fullmatch(r"heading (\d)", style.lower())
    return int(match.group(1)) if match else 0

