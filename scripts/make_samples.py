"""Generate Folio's sample documents (the set a new user's first ``folio ingest samples/`` reads).

Run from the repository root:

    .venv/bin/python scripts/make_samples.py

It reads every Markdown source in ``samples/src/`` and writes the file its front matter names into
``samples/``: a PDF (rendered with fpdf2) or a DOCX (rendered with python-docx). A source starts with a
small front-matter block::

    ---
    title: Full document title (PDF/DOCX metadata)
    header: Short title printed as the running header on every page
    author: Who wrote it
    subject: One line for the metadata
    date: 2024-02-20          (creation date written into the file)
    output: file-name.pdf     (or .docx)
    ---

The Markdown subset is: ``#``/``##``/``###`` headings, paragraphs, ``**bold**`` inline, ``-`` bullet and
``1.`` numbered lists, pipe tables (``| a | b |`` with a ``|---|---:|`` alignment row) and
``<!-- pagebreak -->``. Text must be latin-1 (fpdf2's core fonts) and must not use the other fpdf2 inline
markers (``__``, ``~~``, ``--``, backslashes, links). The sample ``samples/q3-2025-board-update.md`` is
a hand-written Markdown document of the set and is not generated.

The output is deterministic: the creation dates, the DOCX core properties and the DOCX zip entry
timestamps are fixed, so re-running gives byte-identical files (for the same fpdf2/python-docx versions).
Options: ``--src DIR`` and ``--out DIR`` (defaults ``samples/src`` and ``samples``).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docx
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.text.paragraph import Paragraph as DocxParagraph
from fpdf import FPDF
from fpdf.fonts import FontFace

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SRC = ROOT / "samples" / "src"
DEFAULT_OUT = ROOT / "samples"

# Fixed zip entry time for DOCX members (zip timestamps have no time zone and start in 1980).
ZIP_DATE_TIME = (2025, 1, 1, 0, 0, 0)
PRODUCER = "Folio scripts/make_samples.py"
PAGEBREAK = "<!-- pagebreak -->"
# fpdf2's inline markdown understands these besides "**"; the sources must not contain them by accident.
FORBIDDEN_INLINE = ("__", "~~", "--", "\\", "](")

# PDF layout (millimetres and points).
MARGIN_MM = 20.0
BODY_PT = 10.0
LINE_MM = 4.8
HEADING_PT = {1: 16.0, 2: 12.5, 3: 11.0}
KEEP_WITH_NEXT_MM = 28.0
TABLE_ROW_MM = 7.0
TABLE_PADDING_MM = 4.0
HEADER_FILL = (226, 232, 240)


# -- Markdown subset ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class ListBlock:
    items: tuple[str, ...]
    ordered: bool


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    aligns: tuple[str, ...]  # "L", "R" or "C" per column


@dataclass(frozen=True)
class PageBreak:
    pass


Block = Heading | Para | ListBlock | Table | PageBreak


@dataclass
class Source:
    path: Path
    meta: dict[str, str]
    blocks: list[Block] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.meta["title"]

    @property
    def header(self) -> str:
        return self.meta.get("header", self.title)

    @property
    def date(self) -> datetime:
        return datetime.strptime(self.meta.get("date", "2025-01-01"), "%Y-%m-%d").replace(hour=9, tzinfo=UTC)


_HEADING = re.compile(r"^(#{1,3})\s+(\S.*)$")
_BULLET = re.compile(r"^[-*]\s+(\S.*)$")
_ORDERED = re.compile(r"^\d+\.\s+(\S.*)$")
_TABLE_RULE = re.compile(r"^:?-{3,}:?$")


def split_front_matter(text: str, name: str) -> tuple[dict[str, str], list[str]]:
    """The ``key: value`` front matter and the remaining body lines of a source."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError(f"{name}: missing front matter (the first line must be ---)")
    meta: dict[str, str] = {}
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            for key in ("title", "output"):
                if key not in meta:
                    raise ValueError(f"{name}: front matter has no {key!r}")
            return meta, lines[index + 1 :]
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"{name}:{index + 1}: front matter line is not 'key: value'")
        meta[key.strip()] = value.strip()
    raise ValueError(f"{name}: front matter is not closed with ---")


def _table_cells(line: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in line.strip().strip("|").split("|"))


def parse_table(lines: Sequence[str], name: str) -> Table:
    """A pipe table: header row, alignment row, body rows."""
    if len(lines) < 3:
        raise ValueError(f"{name}: a table needs a header row, an alignment row and at least one row")
    header = _table_cells(lines[0])
    rule = _table_cells(lines[1])
    if len(rule) != len(header) or not all(_TABLE_RULE.match(cell) for cell in rule):
        raise ValueError(f"{name}: bad table alignment row {lines[1]!r}")
    aligns = tuple(
        "C" if cell.startswith(":") and cell.endswith(":") else "R" if cell.endswith(":") else "L"
        for cell in rule
    )
    rows = tuple(_table_cells(line) for line in lines[2:])
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"{name}: table row has {len(row)} cells, the header {len(header)}: {row}")
    return Table(header=header, rows=rows, aligns=aligns)


def parse_blocks(lines: Sequence[str], name: str) -> list[Block]:
    """Parse the Markdown subset into blocks."""
    blocks: list[Block] = []
    paragraph: list[str] = []
    items: list[str] = []
    ordered = False
    table: list[str] = []

    def flush() -> None:
        nonlocal ordered
        if paragraph:
            blocks.append(Para(" ".join(paragraph)))
            paragraph.clear()
        if items:
            blocks.append(ListBlock(tuple(items), ordered))
            items.clear()
        if table:
            blocks.append(parse_table(table, name))
            table.clear()

    for raw in lines:
        line = raw.strip()
        if table and not line.startswith("|"):
            flush()
        if not line:
            flush()
        elif line == PAGEBREAK:
            flush()
            blocks.append(PageBreak())
        elif line.startswith("|"):
            if not table:
                flush()
            table.append(line)
        elif match := _HEADING.match(line):
            flush()
            blocks.append(Heading(len(match.group(1)), match.group(2).strip()))
        elif (match := _BULLET.match(line)) or (match := _ORDERED.match(line)):
            if paragraph or (items and ordered != (match.re is _ORDERED)):
                flush()
            ordered = match.re is _ORDERED
            items.append(match.group(1))
        elif items and raw[:1].isspace():
            items[-1] += " " + line
        else:
            if items:
                flush()
            paragraph.append(line)
    flush()
    return blocks


def check_text(text: str, name: str) -> None:
    """Reject characters the core PDF fonts cannot show and inline markup the renderers do not support."""
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            line.encode("latin-1")
        except UnicodeEncodeError as exc:
            bad = line[exc.start]
            message = f"{name}:{number}: character {bad!r} (U+{ord(bad):04X}) is not latin-1"
            raise ValueError(message) from None
        if _is_markup_line(line.strip()):
            continue
        for marker in FORBIDDEN_INLINE:
            if marker in line:
                raise ValueError(f"{name}:{number}: unsupported inline markup {marker!r}")


def _is_markup_line(line: str) -> bool:
    """Front-matter fences, page breaks and table alignment rows, which hold "--" legitimately."""
    if line in ("---", PAGEBREAK):
        return True
    return line.startswith("|") and all(_TABLE_RULE.match(cell) for cell in _table_cells(line))


def load_source(path: Path) -> Source:
    text = path.read_text(encoding="utf-8")
    check_text(text, path.name)
    meta, body = split_front_matter(text, path.name)
    return Source(path=path, meta=meta, blocks=parse_blocks(body, path.name))


def bold_runs(text: str) -> Iterator[tuple[str, bool]]:
    """Split ``text`` at ``**`` markers into (text, bold) runs."""
    parts = text.split("**")
    if len(parts) % 2 == 0:
        raise ValueError(f"unbalanced ** in {text[:60]!r}")
    for index, part in enumerate(parts):
        if part:
            yield part, index % 2 == 1


# -- PDF ------------------------------------------------------------------------------------------------


class SamplePdf(FPDF):
    """US Letter pages with a running header (the short title) and a "Page N of M" footer."""

    def __init__(self, running_header: str) -> None:
        super().__init__(orientation="P", unit="mm", format="Letter")
        self.running_header = running_header
        self.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        self.set_auto_page_break(auto=True, margin=MARGIN_MM)

    def header(self) -> None:
        self.set_y(10)
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, self.running_header, align="L")
        self.set_draw_color(160, 160, 160)
        self.line(MARGIN_MM, 15.5, self.w - MARGIN_MM, 15.5)
        self.set_text_color(0, 0, 0)
        self.set_y(MARGIN_MM)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0, 0, 0)

    def space_left(self) -> float:
        return self.page_break_trigger - self.get_y()


def _pdf_heading(pdf: SamplePdf, block: Heading) -> None:
    size = HEADING_PT[block.level]
    if pdf.space_left() < KEEP_WITH_NEXT_MM:
        pdf.add_page()
    elif pdf.get_y() > MARGIN_MM + 1:
        pdf.ln(4 if block.level < 3 else 2.5)
    pdf.set_font("Helvetica", "B", size)
    align = "C" if block.level == 1 else "L"
    pdf.multi_cell(0, size * 0.5, block.text, align=align, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2 if block.level == 1 else 1.5)


def _pdf_paragraph(pdf: SamplePdf, text: str) -> None:
    pdf.set_font("Helvetica", "", BODY_PT)
    pdf.multi_cell(0, LINE_MM, text, align="J", markdown=True, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.6)


def _pdf_list(pdf: SamplePdf, block: ListBlock) -> None:
    pdf.set_font("Helvetica", "", BODY_PT)
    indent = 8.0
    for number, item in enumerate(block.items, start=1):
        marker = f"{number}." if block.ordered else "-"
        pdf.set_x(MARGIN_MM + 2)
        pdf.cell(indent - 2, LINE_MM, marker)
        pdf.multi_cell(
            pdf.epw - indent, LINE_MM, item, align="L", markdown=True, new_x="LMARGIN", new_y="NEXT"
        )
        pdf.ln(1)
    pdf.ln(1)


def _column_widths(pdf: SamplePdf, block: Table) -> tuple[list[float], float]:
    """Natural column widths (longest cell plus padding), scaled down to the page width if needed."""
    widths: list[float] = []
    for col in range(len(block.header)):
        pdf.set_font("Helvetica", "B", BODY_PT - 0.5)
        best = pdf.get_string_width(block.header[col].replace("**", ""))
        pdf.set_font("Helvetica", "", BODY_PT - 0.5)
        for row in block.rows:
            best = max(best, pdf.get_string_width(row[col].replace("**", "")))
        widths.append(max(best + TABLE_PADDING_MM, 18.0))
    total = sum(widths)
    if total <= pdf.epw:
        return widths, total
    # Too wide: give every column at least its share of a minimum, the rest in proportion to its need.
    floor = pdf.epw * 0.12
    scaled = [max(floor, w * pdf.epw / total) for w in widths]
    factor = pdf.epw / sum(scaled)
    return [w * factor for w in scaled], pdf.epw


def _pdf_table(pdf: SamplePdf, block: Table) -> None:
    widths, width = _column_widths(pdf, block)
    needed = TABLE_ROW_MM * (len(block.rows) + 1)
    if needed < pdf.eph * 0.6 and pdf.space_left() < needed:
        pdf.add_page()
    pdf.set_font("Helvetica", "", BODY_PT - 0.5)
    pdf.set_draw_color(150, 150, 150)
    with pdf.table(
        width=width,
        col_widths=widths,
        align="LEFT",
        text_align=block.aligns,
        line_height=LINE_MM - 0.5,
        padding=(1.2, 1.6),
        headings_style=FontFace(emphasis="BOLD", fill_color=HEADER_FILL),
        markdown=True,
    ) as table:
        for cells in (block.header, *block.rows):
            row = table.row()
            for cell in cells:
                row.cell(cell)
    pdf.ln(3)


def render_pdf(source: Source) -> bytes:
    """Render a source to PDF bytes."""
    pdf = SamplePdf(source.header)
    pdf.set_title(source.title)
    pdf.set_author(source.meta.get("author", ""))
    pdf.set_subject(source.meta.get("subject", ""))
    pdf.set_creator(PRODUCER)
    pdf.set_producer(PRODUCER)
    pdf.set_creation_date(source.date)
    pdf.set_lang("en-US")
    pdf.add_page()
    for block in source.blocks:
        if isinstance(block, Heading):
            _pdf_heading(pdf, block)
        elif isinstance(block, Para):
            _pdf_paragraph(pdf, block.text)
        elif isinstance(block, ListBlock):
            _pdf_list(pdf, block)
        elif isinstance(block, Table):
            _pdf_table(pdf, block)
        else:
            pdf.add_page()
    return bytes(pdf.output())


# -- DOCX -----------------------------------------------------------------------------------------------


def _add_runs(paragraph: DocxParagraph, text: str) -> None:
    for part, bold in bold_runs(text):
        run = paragraph.add_run(part)
        run.bold = bold or None


def _add_field(paragraph: DocxParagraph, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) whose value Word computes when it lays the document out."""
    run = paragraph.add_run()
    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    code = OxmlElement("w:instrText")
    code.set(qn("xml:space"), "preserve")
    code.text = f" {instruction} "
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    value = OxmlElement("w:t")
    value.text = "1"
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    for element in (begin, code, separate, value, end):
        run._r.append(element)


def _docx_table(document: DocxDocument, block: Table) -> None:
    table = document.add_table(rows=1 + len(block.rows), cols=len(block.header))
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    alignment = {"L": WD_ALIGN_PARAGRAPH.LEFT, "R": WD_ALIGN_PARAGRAPH.RIGHT, "C": WD_ALIGN_PARAGRAPH.CENTER}
    for r, cells in enumerate((block.header, *block.rows)):
        for c, text in enumerate(cells):
            paragraph = table.cell(r, c).paragraphs[0]
            paragraph.alignment = alignment[block.aligns[c]]
            _add_runs(paragraph, f"**{text}**" if r == 0 and text else text)
    document.add_paragraph()


def _docx_page_setup(document: DocxDocument, source: Source) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Mm(215.9), Mm(279.4)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(25))
    normal = document.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(10.5)
    header = section.header.paragraphs[0]
    header.text = source.header
    header.runs[0].italic = True
    header.runs[0].font.size = Pt(8)
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("Page ")
    _add_field(footer, "PAGE")
    footer.add_run(" of ")
    _add_field(footer, "NUMPAGES")
    for run in footer.runs:
        run.font.size = Pt(8)


def _docx_core_properties(document: DocxDocument, source: Source) -> None:
    props = document.core_properties
    props.title = source.title
    props.subject = source.meta.get("subject", "")
    props.author = source.meta.get("author", "")
    props.last_modified_by = source.meta.get("author", "")
    props.comments = f"Sample document for Folio, generated by {PRODUCER}."
    props.keywords = "Folio sample"
    props.category = ""
    props.revision = 1
    props.created = props.modified = props.last_printed = source.date.replace(tzinfo=None)


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry timestamps and attributes, keeping the order of its members."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for entry in src.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            dst.writestr(info, src.read(entry.filename))
    return out.getvalue()


def render_docx(source: Source) -> bytes:
    """Render a source to DOCX bytes."""
    document = docx.Document()
    _docx_page_setup(document, source)
    _docx_core_properties(document, source)
    for block in source.blocks:
        if isinstance(block, Heading):
            document.add_heading("", level=block.level)
            _add_runs(document.paragraphs[-1], block.text)
        elif isinstance(block, Para):
            _add_runs(document.add_paragraph(), block.text)
        elif isinstance(block, ListBlock):
            style = "List Number" if block.ordered else "List Bullet"
            for item in block.items:
                _add_runs(document.add_paragraph(style=style), item)
        elif isinstance(block, Table):
            _docx_table(document, block)
        else:
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue())


# -- command line ---------------------------------------------------------------------------------------


def render(source: Source) -> bytes:
    suffix = Path(source.meta["output"]).suffix.lower()
    if suffix == ".pdf":
        return render_pdf(source)
    if suffix == ".docx":
        return render_docx(source)
    raise ValueError(f"{source.path.name}: output {source.meta['output']!r} is neither .pdf nor .docx")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder of Markdown sources")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder the documents are written to")
    args = parser.parse_args(argv)
    sources = sorted(args.src.glob("*.md"))
    if not sources:
        print(f"no Markdown sources in {args.src}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for path in sources:
        source = load_source(path)
        target = args.out / Path(source.meta["output"]).name
        data = render(source)
        target.write_bytes(data)
        print(f"{path.name} -> {target} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
