"""Hostile and broken files for the tests, all made here in code: nothing is downloaded.

Each factory returns the bytes of one file. The raw PDFs are written object by object (``raw_pdf``) so
that the tests control what fpdf2 would never write: loops in the cross-reference chain, nesting thousands
deep, a stream that inflates to gigabytes. The bombs are made without ever holding their inflated size:
``zeros_deflate`` repeats one flushed deflate block, so a 4 GiB bomb costs milliseconds and 4 MB.

``CORPUS`` lists every input with what Folio must answer (a stable error code and HTTP status, or ``None``
for a file that is ingested, safely); ``tests/ingest/test_hostile_files.py`` runs each through the parser under a
memory cap, the ``folio ingest`` pipeline and the HTTP upload. An input answered with ``parse_timeout`` is
stopped only by the pipeline's sandbox (``ingest.sandbox``): parsed directly, it runs for hours.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from tests.pdfs import CONTRACT_PAGES, text_pdf

GIB = 1 << 30
BOMB_BYTES = 2 * GIB  # what every bomb here inflates to
_SEGMENT = 1 << 20


# -- deflate without the inflated bytes ---------------------------------------------------------------


@lru_cache(maxsize=8)
def _zero_segment(level: int) -> tuple[bytes, bytes]:
    """A zlib header, and one full-flushed deflate segment that inflates to ``_SEGMENT`` zero bytes.

    After a full flush the compressor keeps no history, so the same segment can be repeated any number of
    times and each copy inflates to the same zeros."""
    compressor = zlib.compressobj(level)
    first = compressor.compress(bytes(_SEGMENT)) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(bytes(_SEGMENT)) + compressor.flush(zlib.Z_FULL_FLUSH)
    header = first[: len(first) - len(segment)]  # the 2-byte zlib header the first output carried
    assert first[len(header):] == segment
    return header, segment


_FINAL_EMPTY_BLOCK = b"\x03\x00"  # a final, empty, fixed-Huffman deflate block


def zeros_deflate(size: int, *, prefix: bytes = b"") -> bytes:
    """Raw deflate data (no zlib wrapper) that inflates to ``prefix`` followed by zero bytes, ``size`` in all
    (``size - len(prefix)`` a multiple of 1 MiB)."""
    _, segment = _zero_segment(9)
    zeros = size - len(prefix)
    assert zeros >= 0 and zeros % _SEGMENT == 0
    head = b""
    if prefix:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + segment * (zeros // _SEGMENT) + _FINAL_EMPTY_BLOCK


def zeros_zlib(size: int) -> bytes:
    """A zlib stream (what a PDF's /FlateDecode holds) that inflates to ``size`` zero bytes (a multiple of 1
    MiB), with the right Adler-32: of n zero bytes it is ``(n mod 65521) << 16 | 1``."""
    header, _ = _zero_segment(9)
    adler = ((size % 65521) << 16) | 1
    return header + zeros_deflate(size) + adler.to_bytes(4, "big")


@lru_cache(maxsize=4)
def zeros_crc32(size: int) -> int:
    """The CRC-32 of ``size`` zero bytes (computed a MiB at a time: about a second for 2 GiB)."""
    crc, block = 0, bytes(_SEGMENT)
    for _ in range(size // _SEGMENT):
        crc = zlib.crc32(block, crc)
    return crc


# -- PDFs written object by object --------------------------------------------------------------------


def raw_pdf(objects: list[bytes], *, root: int = 1, trailer: bytes = b"", version: bytes = b"1.7") -> bytes:
    """A PDF of ``objects`` (object i+1 is ``objects[i]``) with a correct cross-reference table."""
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, root, trailer, xref)
    return bytes(out)


def stream(data: bytes, entries: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(data), entries, data)


FONT = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >> >> >>"


def _text_content(lines: list[str]) -> bytes:
    ops = [b"BT /F1 11 Tf 72 740 Td 14 TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(b"(%s) '" % escaped.encode("latin-1"))
    ops.append(b"ET")
    return b"\n".join(ops)


PDF_TEXT = ["This Services Agreement is made between Alder Components Inc. and Birchwood Assembly LLC.",
            "The supplier shall deliver the goods within thirty days of each purchase order.",
            "This Agreement is governed by the laws of the State of Oregon."]


def _one_page(page_extra: bytes = b"", content: bytes | None = None, catalog_extra: bytes = b"",
              more: list[bytes] | None = None) -> list[bytes]:
    """Objects 1-4 of a one-page PDF (catalog, pages, page, content) and ``more`` from object 5 on."""
    return [b"<< /Type /Catalog /Pages 2 0 R %s>>" % catalog_extra,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources %s /Contents 4 0 R %s>>"
            % (FONT, page_extra),
            stream(content if content is not None else _text_content(PDF_TEXT)), *(more or [])]


def circular_xref_pdf() -> bytes:
    """Two cross-reference sections whose /Prev entries point at each other: a reader that follows /Prev
    without remembering where it has been never stops. The objects themselves are sound."""
    base = raw_pdf(_one_page())
    body = base[: base.index(b"trailer\n")]  # the objects and the first section's table
    first_xref = int(base.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    first_trailer = b"trailer\n<< /Size 5 /Root 1 0 R /Prev %010d >>\nstartxref\n%d\n%%%%EOF\n"
    second_xref = len(body) + len(first_trailer % (0, first_xref))
    second = (b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 5 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n"
              b"%%%%EOF\n" % (first_xref, second_xref))
    return body + first_trailer % (second_xref, first_xref) + second


def broken_xref_pdf() -> bytes:
    """A cross-reference table of garbage offsets, a startxref past the end, and no object that a reader
    rebuilding the table by scanning could use: there is nothing to read."""
    objects = b"".join(b"%d 0 obj\n<< /Broken %s\n" % (n, b"[" * 3) for n in range(1, 6))
    xref = b"xref\n0 6\n" + b"".join(b"%010d 00000 n \n" % (999_999_999 - n) for n in range(6))
    return (b"%PDF-1.7\n" + objects + xref + b"trailer\n<< /Size 6 /Root 1 0 R /Prev 77 >>\nstartxref\n"
            b"987654321\n%%EOF\n")


def deep_array_pdf(depth: int = 50_000) -> bytes:
    """A page dictionary holding an array nested ``depth`` deep: a recursive reader overflows its stack."""
    return raw_pdf(_one_page(page_extra=b"/Deep " + b"[" * depth + b"]" * depth + b" "))


def deep_dictionary_pdf(depth: int = 50_000) -> bytes:
    """The same with dictionaries: << /A << /A << ... >> >> >>."""
    return raw_pdf(_one_page(page_extra=b"/Deep " + b"<< /A " * depth + b">> " * depth))


def deep_content_pdf(depth: int = 50_000) -> bytes:
    """Nesting inside the page's content stream, where the text extractor parses operands."""
    content = b"BT /F1 11 Tf 72 700 Td " + b"[" * depth + b"(x)" + b"]" * depth + b" TJ ET"
    return raw_pdf(_one_page(content=content))


def flate_bomb_pdf(size: int = BOMB_BYTES) -> bytes:
    """A page whose content stream is ~2 MB of FlateDecode that inflates to ``size`` bytes (2 GiB)."""
    bomb = zeros_zlib(size)
    objects = _one_page()
    objects[3] = stream(bomb, b"/Filter /FlateDecode ")
    return raw_pdf(objects)


def repeated_stream_bomb_pdf(pages: int = 200, each: int = 64 << 20) -> bytes:
    """No single stream over any per-stream limit: one 64 MiB stream (64 KB of FlateDecode) used as the
    content of ``pages`` pages, 12.5 GiB if every page's content were inflated and kept."""
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
               stream(zeros_zlib(each), b"/Filter /FlateDecode ")]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources %s /Contents 3 0 R >>" % FONT
                for _ in range(pages)]
    return raw_pdf(objects)


def image_bomb_pdf() -> bytes:
    """No text, one image that claims 60,000 x 60,000 RGB pixels (10.8 GB decoded), its data a FlateDecode
    stream of zeros that inflates to 2 GiB: the page goes to OCR, which renders it."""
    image = stream(zeros_zlib(BOMB_BYTES),
                   b"/Type /XObject /Subtype /Image /Width 60000 /Height 60000 /ColorSpace /DeviceRGB "
                   b"/BitsPerComponent 8 /Filter /FlateDecode ")
    return _image_page_pdf(b"0 0 612 792", b"q 540 0 0 720 36 36 cm /Im1 Do Q", image)


def giant_page_pdf() -> bytes:
    """A page of 14,400 x 14,400 points (the largest the PDF standard allows: 200 inches square) with a
    small white image on it, and no text: the page is drawn to measure its ink, which must not be done at
    full resolution (at 50 dpi, 100 megapixels and 400 MB of floats)."""
    image = stream(zlib.compress(b"\xff" * (64 * 64)), b"/Type /XObject /Subtype /Image /Width 64 /Height 64 "
                   b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode ")
    return _image_page_pdf(b"0 0 14400 14400", b"q 14000 0 0 14000 200 200 cm /Im1 Do Q", image)


def _image_page_pdf(media_box: bytes, draw: bytes, image: bytes) -> bytes:
    """One page of ``media_box`` whose content draws the image object ``image`` as /Im1 with ``draw``."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [" + media_box + b"] /Resources << /XObject << /Im1 5 0 R "
               b">> >> /Contents 4 0 R >>",
               stream(draw), image]
    return raw_pdf(objects)


def form_bomb_pdf(draws: int = 100_000, moves: int = 3_000) -> bytes:
    """One page that draws one form XObject ``draws`` times; the form moves the text position ``moves`` times
    around one letter. pypdf's text extraction parses the form again at each draw (some 60 ms here): 2 KB that
    take hours. Every stream is small, so no inflation limit sees it, and the text (a letter a draw) stays
    small: it costs time, not memory."""
    form = b"BT /F1 9 Tf 72 700 Td (x) Tj\n" + b"1 0 Td\n" * moves + b"ET"
    font = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Fm1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        stream(zlib.compress(b"/Fm1 Do\n" * draws, 9), b"/Filter /FlateDecode "),
        stream(zlib.compress(form, 9), b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources %s "
               b"/Filter /FlateDecode " % font),
    ])


def empty_pages_pdf(pages: int = 20_000) -> bytes:
    """``pages`` empty pages (about 1.3 MB): nothing to read, but parsing them all would take minutes."""
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages)]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"] * pages
    return raw_pdf(objects)


def understated_pages_pdf(pages: int = 20_000) -> bytes:
    """The same pages under a page tree whose /Count claims 3: the real count must come from the tree."""
    return empty_pages_pdf(pages).replace(b"/Count %d" % pages, b"/Count 3", 1)


JS_MARKER = "JAVASCRIPTMARKER"
ATTACHMENT_MARKER = "ATTACHMENTMARKER"


def javascript_pdf() -> bytes:
    """A sound one-page contract that also carries JavaScript (run on open, and behind a link) and an
    embedded file. Folio reads the page text only: the script and the attachment must stay out of it."""
    js = b"<< /S /JavaScript /JS (app.alert\\('%s'\\); this.exportDataObject\\({cName: 'payload.txt'}\\);) >>" % (
        JS_MARKER.encode())
    attachment = stream(f"{ATTACHMENT_MARKER} confidential payload".encode(), b"/Type /EmbeddedFile ")
    link = (b"<< /Type /Annot /Subtype /Link /Rect [72 700 300 720] /A << /S /JavaScript /JS (app.launchURL\\("
            b"'http://example.invalid/%s'\\);) >> >>" % JS_MARKER.encode())
    objects = _one_page(
        page_extra=b"/Annots [7 0 R] /AA << /O 5 0 R >> ",
        catalog_extra=b"/OpenAction 5 0 R /Names << /JavaScript << /Names [(init) 5 0 R] >> "
                      b"/EmbeddedFiles << /Names [(payload.txt) 6 0 R] >> >> ",
        more=[js, b"<< /Type /Filespec /F (payload.txt) /UF (payload.txt) /EF << /F 8 0 R >> >>", link, attachment])
    return raw_pdf(objects)


def password_pdf() -> bytes:
    """A contract that needs a real password to open."""
    return text_pdf(CONTRACT_PAGES, encrypt_user="correct horse battery staple")


def pdf_zip_polyglot() -> bytes:
    """Bytes that are a sound PDF and also a ZIP archive (the archive appended after %%EOF; a zip reader
    finds its directory from the end). Named .pdf, only the PDF is read."""
    archive = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.txt", f"{ATTACHMENT_MARKER} inside the zip half")
    return raw_pdf(_one_page()) + archive.getvalue()


def pdf_html_polyglot() -> bytes:
    """A PDF header followed by an HTML page with a script: no PDF structure at all."""
    return (b"%PDF-1.4\n<html><body><script>alert('" + JS_MARKER.encode() + b"')</script>"
            b"<p>Nothing to see here.</p></body></html>\n%%EOF\n")


# -- DOCX -----------------------------------------------------------------------------------------------


DOCX_TEXT = "The licensee shall pay a royalty of four percent of net sales every quarter."


def plain_docx(paragraphs: list[str] | None = None, *, page_breaks: int = 0) -> bytes:
    """A sound DOCX written by python-docx (``page_breaks`` page breaks after the text)."""
    import docx
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    document.add_heading("License Agreement", level=1)
    for text in paragraphs or [DOCX_TEXT]:
        document.add_paragraph(text)
    if page_breaks:
        run = document.add_paragraph().add_run()
        for _ in range(page_breaks):
            run.add_break(WD_BREAK.PAGE)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@dataclass
class Member:
    """One zip member as it will be written: the name, its raw deflate data (method 8) or stored bytes
    (method 0), and what the directory declares: CRC-32 and inflated size."""

    name: str
    data: bytes
    crc: int
    size: int
    method: int = 8


def deflated(name: str, content: bytes) -> Member:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Member(name, compressor.compress(content) + compressor.flush(), zlib.crc32(content), len(content))


def raw_zip(members: list[Member]) -> bytes:
    """A zip archive written header by header, so that sizes and CRCs can say whatever a test wants."""
    out = bytearray()
    central = bytearray()
    for member in members:
        name = member.name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, member.method, 0, 0x21, member.crc,
                           len(member.data), member.size, len(name), 0) + name + member.data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, member.method, 0, 0x21,
                               member.crc, len(member.data), member.size, len(name), 0, 0, 0, 0, 0,
                               offset) + name
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0)
    return bytes(out)


def docx_members(data: bytes | None = None) -> list[Member]:
    """The members of a sound DOCX, re-deflated, ready to be written again with others beside them."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data or plain_docx())) as zf:
        return [deflated(info.filename, zf.read(info)) for info in zf.infolist()]


def docx_zip_bomb() -> bytes:
    """A sound DOCX plus an image member whose 2 MB of deflate inflate to 2 GiB; the directory says so."""
    bomb = Member("word/media/image1.png", zeros_deflate(BOMB_BYTES), zeros_crc32(BOMB_BYTES), BOMB_BYTES)
    return raw_zip([*docx_members(), bomb])


def docx_lying_bomb() -> bytes:
    """word/document.xml whose directory entry declares its real size and CRC, while its deflate data goes on
    after the document for another 2 GiB of zeros: a reader that inflates the member in one call (as
    ``ZipFile.read`` does) holds 2 GiB before it trims the output to the declared size."""
    members = docx_members()
    for i, member in enumerate(members):
        if member.name == "word/document.xml":
            xml = zlib.decompress(member.data, -15)
            lying = zeros_deflate(BOMB_BYTES + len(xml), prefix=xml)
            members[i] = Member(member.name, lying, zlib.crc32(xml), len(xml))
    return raw_zip(members)


def docx_many_members(count: int = 50_000) -> bytes:
    """A sound DOCX plus ``count`` empty members: a directory that costs memory before anything is read."""
    extra = [Member(f"customXml/item{i}.xml", b"", 0, 0, method=0) for i in range(count)]
    return raw_zip([*docx_members(), *extra])


def _replace_document_xml(transform: Callable[[bytes], bytes], data: bytes | None = None) -> bytes:
    members = docx_members(data)
    out = []
    for member in members:
        if member.name == "word/document.xml":
            out.append(deflated(member.name, transform(zlib.decompress(member.data, -15))))
        else:
            out.append(member)
    return raw_zip(out)


def _with_doctype(doctype: bytes) -> Callable[[bytes], bytes]:
    def transform(xml: bytes) -> bytes:
        head, rest = xml.split(b"?>", 1)
        root = rest.lstrip()
        # every run of text becomes a reference to the last entity
        root = root.replace(DOCX_TEXT.encode(), b"&bomb;")
        return head + b"?>\n" + doctype + b"\n" + root
    return transform


def docx_entity_bomb() -> bytes:
    """word/document.xml with a 'billion laughs' DTD: ten levels of ten references, 10^10 copies of "lol"
    (30 GB) where the paragraph's text was, if a parser expanded entities."""
    levels = [b'<!ENTITY lol0 "lol">']
    levels += [b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)]
    levels.append(b'<!ENTITY bomb "' + b"&lol9;" * 10 + b'">')
    return _replace_document_xml(_with_doctype(b"<!DOCTYPE w:document [" + b"".join(levels) + b"]>"))


def docx_external_entity() -> bytes:
    """word/document.xml with an external entity naming /etc/passwd (XXE): its text must never be read."""
    return _replace_document_xml(_with_doctype(b'<!DOCTYPE w:document [<!ENTITY bomb SYSTEM "file:///etc/passwd">]>'))


def docx_deep_nesting(depth: int = 100_000) -> bytes:
    """A paragraph nested ``depth`` elements deep (libxml2 refuses documents deeper than 256 by default)."""
    def transform(xml: bytes) -> bytes:
        marker = b"<w:body>"
        nested = b"<w:sdt><w:sdtContent>" * depth + b"</w:sdtContent></w:sdt>" * depth
        return xml.replace(marker, marker + nested, 1)
    return _replace_document_xml(transform)


def docx_page_breaks(count: int = 20_000) -> bytes:
    """A DOCX of one paragraph of text followed by ``count`` paragraphs that each break the page."""
    def transform(xml: bytes) -> bytes:
        breaks = b'<w:p><w:r><w:t>Clause.</w:t><w:br w:type="page"/></w:r></w:p>' * count
        return xml.replace(b"<w:sectPr", breaks + b"<w:sectPr", 1)
    return _replace_document_xml(transform)


def ole_docx(*, encrypted: bool) -> bytes:
    """What Word writes for a password-protected document (an OLE compound file holding an EncryptionInfo
    stream), or the OLE file of a legacy .doc: the start of one, enough for the signature and the name."""
    sector = bytearray(512)
    name = "EncryptionInfo" if encrypted else "WordDocument"
    encoded = name.encode("utf-16-le")
    sector[: len(encoded)] = encoded
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + bytes(sector)


def pdf_named_docx() -> bytes:
    """A PDF with a DOCX appended, named .docx: a zip reader would open it (it finds the archive's directory
    from the end), but the file does not start as a zip."""
    return raw_pdf(_one_page()) + plain_docx()


# -- HTML and text --------------------------------------------------------------------------------------


SCRIPT_MARKER = "SCRIPTMARKER"


def scripts_html() -> bytes:
    """Scripts in every place a browser would run one, around a paragraph of real text."""
    m = SCRIPT_MARKER
    return f"""<!DOCTYPE html><html><head><title>Lease Agreement</title>
<script>var a = '{m}1';</script><script type="module">import '{m}2';</script>
<style>body::after {{ content: '{m}3'; }}</style></head>
<body onload="alert('{m}4')">
<p>The tenant shall pay rent of two thousand dollars on the first day of each month.</p>
<script>alert('{m}5')</script >
<svg><script>alert('{m}6')</script></svg>
<a href="javascript:alert('{m}7')">terms</a>
<img src=x onerror="alert('{m}8')">
<noscript>{m}9</noscript>
<template><script>{m}10</script></template>
<iframe srcdoc="<script>{m}11</script>"></iframe>
<object data="javascript:{m}12"></object>
<p>The landlord shall keep the roof in good repair.</p>
<script>document.write('{m}13')
""".encode()


def flat_html(count: int = 40_000) -> bytes:
    """``count`` sibling paragraphs: an edit that searches the parent's children for each one is quadratic."""
    return b"<html><body>" + b"<p>Clause.</p>" * count + b"</body></html>"


def spaces_html(size: int = 1_000_000) -> bytes:
    """A million spaces inside one paragraph, then a line end: a backtracking expression that looks for line
    ends with spaces around them takes quadratic time."""
    return b"<html><body><p>Rent is due monthly." + b" " * size + b"\n</p><p>The deposit is returned.</p></body></html>"


def deep_html(depth: int = 100_000) -> bytes:
    """Text inside ``depth`` nested elements."""
    return (b"<html><body>" + b"<div>" * depth + b"<p>The deposit is one month of rent.</p>" + b"</div>" * depth
            + b"</body></html>")


LEGACY_TEXT = {
    "cp1252": "Le fournisseur livrera les marchandises à l'entrepôt désigné – « sans délai » – avant "
              "la clôture de l'exercice, aux conditions générales convenues entre les parties. ",
    "latin-1": "Der Käufer zahlt den Kaufpreis innerhalb von dreißig Tagen nach Lieferung und Prüfung "
               "der Ware; für Mängel haftet der Verkäufer gemäß den gesetzlichen Bestimmungen. ",
    "shift_jis": "本契約は、売主と買主の間で締結される。買主は、商品の受領後三十日以内に代金を支払うものとする。"
                 "本契約の準拠法は日本法とする。",
    "utf-16": "This memorandum records the parties' agreement on the delivery schedule and the price. ",
}


def legacy_text(encoding: str) -> bytes:
    return (LEGACY_TEXT[encoding] * 6).encode(encoding)


def binary_as_text() -> bytes:
    """An executable-looking binary (ELF header, NULs, random bytes) named .txt."""
    import random

    rng = random.Random(6)
    return b"\x7fELF\x02\x01\x01\x00" + bytes(rng.randrange(256) for _ in range(20_000))


def form_feed_flood(pages: int = 200_000) -> bytes:
    """A text file of ``pages`` form-feed pages of one word each (1.2 MB)."""
    return b"clause\f" * pages


def single_line(size: int) -> bytes:
    """One line of ``size`` characters without a space: nowhere to cut a page, a chunk or a word."""
    return b"x" * size


# -- the corpus -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """One input and what Folio must answer: an error ``code`` with its HTTP ``status`` (``None``: the file
    is ingested, and ``must_not_contain`` stays out of its text)."""

    name: str
    make: Callable[[], bytes]
    code: str | None
    status: int
    why: str
    must_contain: str | None = None
    must_not_contain: tuple[str, ...] = ()


CORPUS: list[Hostile] = [
    Hostile("circular-xref.pdf", circular_xref_pdf, None, 200,
            "a loop in the cross-reference chain is read once; the sound objects are ingested",
            must_contain="State of Oregon"),
    Hostile("broken-xref.pdf", broken_xref_pdf, "corrupt_file", 422, "nothing readable"),
    Hostile("deep-array.pdf", deep_array_pdf, "too_complex", 422, "arrays nested 50,000 deep"),
    Hostile("deep-dictionary.pdf", deep_dictionary_pdf, None, 200,
            "dictionaries nested 50,000 deep where nothing reads them", must_contain="State of Oregon"),
    Hostile("deep-content.pdf", deep_content_pdf, "too_complex", 422, "nesting in the content stream (PDFium's "
            "text layer, FOLIO_PDF_TEXT=pdfium, stops reading the nest and finds no text: no_text)"),
    Hostile("flate-bomb.pdf", flate_bomb_pdf, "content_too_large", 413, "2 MB inflating to 2 GiB"),
    Hostile("repeated-stream.pdf", repeated_stream_bomb_pdf, "content_too_large", 413,
            "one 64 MiB stream on 200 pages: 12.5 GiB in all"),
    Hostile("image-bomb.pdf", image_bomb_pdf, "no_text", 422, "a 60,000 x 60,000 image of 2 GiB, no text"),
    Hostile("giant-page.pdf", giant_page_pdf, "no_text", 422, "a 200-inch page with an image, no text"),
    Hostile("form-bomb.pdf", form_bomb_pdf, "parse_timeout", 422,
            "one form drawn 100,000 times: 2 KB of hours of text extraction, stopped at FOLIO_PARSE_TIMEOUT_S"),
    Hostile("20000-pages.pdf", empty_pages_pdf, "too_many_pages", 413, "20,000 empty pages"),
    Hostile("understated-pages.pdf", understated_pages_pdf, "too_many_pages", 413,
            "20,000 pages under a /Count of 3"),
    Hostile("javascript.pdf", javascript_pdf, None, 200,
            "JavaScript and an attachment: the page text is ingested, the rest ignored",
            must_contain="State of Oregon", must_not_contain=(JS_MARKER, ATTACHMENT_MARKER)),
    Hostile("password.pdf", password_pdf, "encrypted_file", 422, "a real password"),
    Hostile("polyglot.pdf", pdf_zip_polyglot, None, 200, "a PDF that is also a ZIP: read as the PDF it is named",
            must_contain="State of Oregon", must_not_contain=(ATTACHMENT_MARKER,)),
    Hostile("polyglot-html.pdf", pdf_html_polyglot, "corrupt_file", 422, "a PDF header over an HTML page"),
    Hostile("polyglot.docx", pdf_named_docx, "corrupt_file", 422, "a PDF (with a ZIP inside) named .docx"),
    Hostile("zip-bomb.docx", docx_zip_bomb, "content_too_large", 413, "a member of 2 GiB in 2 MB"),
    Hostile("lying-zip-bomb.docx", docx_lying_bomb, "content_too_large", 413,
            "a member that inflates 2 GiB past its declared size"),
    Hostile("many-members.docx", docx_many_members, "too_complex", 422, "50,000 zip members"),
    Hostile("entity-bomb.docx", docx_entity_bomb, "corrupt_file", 422, "billion laughs in word/document.xml"),
    Hostile("external-entity.docx", docx_external_entity, "corrupt_file", 422, "an entity reading /etc/passwd"),
    Hostile("deep-nesting.docx", docx_deep_nesting, "too_complex", 422, "XML nested 100,000 deep"),
    Hostile("page-breaks.docx", docx_page_breaks, "too_many_pages", 413, "20,000 page breaks"),
    Hostile("password.docx", lambda: ole_docx(encrypted=True), "encrypted_file", 422, "Word's password protection"),
    Hostile("legacy.docx", lambda: ole_docx(encrypted=False), "corrupt_file", 422, "a .doc named .docx"),
    Hostile("scripts.html", scripts_html, None, 200, "scripts everywhere: dropped, never in the text",
            must_contain="two thousand dollars", must_not_contain=(SCRIPT_MARKER,)),
    Hostile("flat.html", flat_html, None, 200, "40,000 sibling paragraphs", must_contain="Clause."),
    Hostile("spaces.html", spaces_html, None, 200, "a million spaces before a line end",
            must_contain="The deposit is returned."),
    Hostile("deep.html", deep_html, "too_complex", 422, "text 100,000 elements deep"),
    Hostile("cp1252.txt", lambda: legacy_text("cp1252"), None, 200, "Windows-1252",
            must_contain="entrepôt désigné – « sans délai »"),
    Hostile("latin-1.txt", lambda: legacy_text("latin-1"), None, 200, "ISO-8859-1", must_contain="dreißig Tagen"),
    Hostile("shift-jis.txt", lambda: legacy_text("shift_jis"), None, 200, "Shift-JIS",
            must_contain="準拠法は日本法"),
    Hostile("utf-16.txt", lambda: legacy_text("utf-16"), None, 200, "UTF-16 with a BOM",
            must_contain="delivery schedule"),
    Hostile("binary.txt", binary_as_text, "corrupt_file", 422, "a binary named .txt"),
    Hostile("form-feeds.txt", form_feed_flood, "too_many_pages", 413, "200,000 form-feed pages"),
    Hostile("long-line.txt", lambda: single_line(2_000_000), None, 200, "2 MB on one line, no spaces",
            must_contain="xxxxxxxx"),
    Hostile("empty.pdf", lambda: b"", "empty_file", 422, "zero bytes"),
]


# -- running the parser under a cap ---------------------------------------------------------------------


def _parse_in_child(item: Hostile, limits: object, address_space: int, out: int) -> None:
    """In a forked child: parse ``item`` under an address-space cap, and write what came of it to ``out``."""
    import json
    import os
    import resource
    import time

    from folio.errors import FolioError
    from folio.ingest.ocr import OcrOptions
    from folio.ingest.parse import ParseLimits, parse_bytes

    assert isinstance(limits, ParseLimits)
    data = item.make()
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result: dict[str, object]
    try:
        parsed = parse_bytes(item.name, data, limits=limits, ocr=OcrOptions())
        text = "\n".join(parsed.pages)
        result = {"code": None, "pages": len(parsed.pages), "warnings": parsed.warnings,
                  "contains": item.must_contain is None or item.must_contain in text,
                  "leaked": [marker for marker in item.must_not_contain if marker in text]}
    except FolioError as exc:
        result = {"code": exc.code, "message": exc.message, "file": exc.file}
    except BaseException as exc:  # MemoryError above all: the test reports it
        result = {"crash": f"{type(exc).__name__}: {exc}"}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.update(seconds=round(time.perf_counter() - started, 2), peak_mb=round(peak / 1024),
                  growth_mb=round((peak - before) / 1024), input_bytes=len(data))
    os.write(out, json.dumps(result).encode())


def run_bounded(names: list[str], *, address_space_mb: int, deadline_s: float,
                limits: object = None) -> dict[str, dict[str, object]]:
    """Parse each named corpus file in a child forked from this process, under an address-space cap and a
    wall-clock deadline; what came of each (an error code, or pages and whether the text holds what it
    must), with its time and memory. A child past its deadline is killed; one that died says how."""
    import json
    import os
    import select
    import signal
    import time

    from folio.ingest.parse import ParseLimits

    limits = limits if limits is not None else ParseLimits()
    by_name = {item.name: item for item in CORPUS}
    results: dict[str, dict[str, object]] = {}
    for name in names:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_end)
            try:
                _parse_in_child(by_name[name], limits, address_space_mb << 20, write_end)
            finally:
                os._exit(0)
        os.close(write_end)
        chunks, ends = [], time.monotonic() + deadline_s
        timed_out = False
        while True:
            left = ends - time.monotonic()
            ready, _, _ = select.select([read_end], [], [], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                timed_out = True
                break
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        if timed_out:
            results[name] = {"timeout": deadline_s}
        elif chunks:
            results[name] = json.loads(b"".join(chunks))
        else:
            results[name] = {"crash": f"the child died (wait status {status})"}
    return results


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.hostile [--as-mb N] [--deadline S] [--stream-mb M] [--total-mb M] [--pdf-text L]
    [NAME ...]``:
    the corpus (or the named files) through ``run_bounded``, one JSON object a line."""
    import argparse
    import json

    from folio.ingest.parse import ParseLimits

    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--as-mb", type=int, default=1024)
    parser.add_argument("--deadline", type=float, default=60.0)
    parser.add_argument("--stream-mb", type=float, default=None)
    parser.add_argument("--total-mb", type=float, default=None)
    parser.add_argument("--pdf-text", choices=["pypdf", "pdfium"], default=None)
    args = parser.parse_args(argv)
    limits = ParseLimits()
    if args.pdf_text is not None:
        limits = dataclasses.replace(limits, pdf_text=args.pdf_text)
    if args.stream_mb is not None:
        limits = dataclasses.replace(limits, max_stream_bytes=int(args.stream_mb * 1e6))
    if args.total_mb is not None:
        limits = dataclasses.replace(limits, max_decompressed_bytes=int(args.total_mb * 1e6))
    names = args.names or [item.name for item in CORPUS]
    for name, result in run_bounded(names, address_space_mb=args.as_mb, deadline_s=args.deadline,
                                    limits=limits).items():
        print(json.dumps({"name": name, **result}), flush=True)


if __name__ == "__main__":
    main()
