"""A document's title: the name a person would give it, which citations (``[TITLE p.N]``) then carry.

In order: the cover of an SEC filing (registrant, form, period: "Best Buy Co., Inc. Form 10-K, fiscal year
ended January 28, 2023"), since filings' own metadata titles are accession numbers, "Document" or another
filing's name; the file's metadata title unless it is an identifier or a placeholder; a title-like line near
the start of the text ("AGENCY AGREEMENT"); the file name without its extension.
"""

from __future__ import annotations

import re

# SEC accession numbers ("0000764478-23-000006"), bare form names and the words at the top of every cover:
# metadata titles that name no document in particular.
_ACCESSION = re.compile(r"^\d{10}-\d{2}-\d{6}$")
_PLACEHOLDERS = {
    "document", "untitled", "title", "pdf", "report", "form", "exhibit",
    "united states securities and exchange commission", "securities and exchange commission",
}
_FORM_NAME = re.compile(r"^(form\s+)?(10-?k|10-?q|8-?k|20-?f|40-?f|6-?k|s-?1|def\s*14a)$", re.I)
_COVER_BOILERPLATE = re.compile(r"(annual|quarterly|transition) report pursuant to section|securities exchange act",
                                re.I)
_FILE_NAME = re.compile(r"\.(pdf|docx?|html?|md|txt|rtf)$", re.I)

_TITLE_WORDS = re.compile(r"\b(agreement|contract|form 10-k|form 10-q|form 8-k|annual report|quarterly report|license"
                          r"|lease|amendment|policy|report|plan)\b", re.I)

# Read on the cover with its whitespace folded to single spaces: some PDFs put every word on a line of its own.
_COVER_FORM = re.compile(r"\bFORM (10-K|10-Q|8-K|20-F|40-F|6-K|10-KT|10-QT)\b", re.I)
_REGISTRANT_NOTE = re.compile(r"\( ?exact name of (the )?registrant", re.I)
# what stands before the registrant's name on a cover: rules, the commission file number, the period lines
_BEFORE_NAME = re.compile(r"_{2,}|commission file (?:no\.?|number):? ?[0-9-]+|\bto\b ?\.?|\(mark one\)"
                          r"|\b(?:19|20)\d\d\b", re.I)
_DATE = r"((?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2} ?, ?\d{4})"
_PERIOD = re.compile(r"for the (fiscal year|quarterly period) ended:? " + _DATE, re.I)
_REPORT_DATE = re.compile(_DATE + r" \(Date of Report", re.I)
_REPORT_DATE_AFTER = re.compile(r"Date of Report \(Date of earliest event reported\):? " + _DATE, re.I)


def is_placeholder(title: str) -> bool:
    """True for a title that names no document: an identifier, a bare form name, a file name, a placeholder."""
    text = " ".join(title.split()).strip(" .:-_")
    folded = text.casefold()
    letters = sum(c.isalpha() for c in text)
    return (letters < 3 or bool(_ACCESSION.match(text)) or folded in _PLACEHOLDERS or bool(_FORM_NAME.match(text))
            or bool(_FILE_NAME.search(text)) or bool(_COVER_BOILERPLATE.search(text))
            or folded.startswith(("microsoft word", "untitled")))


def filing_title(pages: list[str], file_name: str) -> str | None:
    """"REGISTRANT Form F, fiscal year ended DATE" from an SEC filing's cover page (the file name stands for a
    registrant printed as an image); None if there is no cover."""
    cover = " ".join(" ".join(page[:6000] for page in pages[:2]).split())
    form = _COVER_FORM.search(cover)
    period = _PERIOD.search(cover)
    if form is None or (_REGISTRANT_NOTE.search(cover) is None and period is None):
        return None
    name = _registrant(cover) or _name_after_file_number(pages[0] if pages else "")
    what = f"Form {form.group(1).upper()}"
    reported = _REPORT_DATE.search(cover) or _REPORT_DATE_AFTER.search(cover)
    if period is not None:
        kind = "fiscal year" if period.group(1).lower().startswith("fiscal") else "quarter"
        what += f", {kind} ended {_tidy_date(period.group(2))}"
    elif reported is not None:
        what += f", {_tidy_date(reported.group(1))}"
    return f"{name} {what}" if name else f"{file_name.rsplit('.', 1)[0]} ({what})"


def _registrant(cover: str) -> str | None:
    """The name printed just before "(Exact name of registrant as specified in its charter)"."""
    note = _REGISTRANT_NOTE.search(cover)
    if note is None:
        return None
    before = cover[max(0, note.start() - 160):note.start()]
    cuts = list(_BEFORE_NAME.finditer(before))
    name = (before[cuts[-1].end():] if cuts else before[-80:]).strip(" _.,;:-")
    name = re.sub(r"\b([A-Z]) (?=[A-Z]{2,}\b)", r"\1", name)  # small capitals read as "R ESORTS"
    letters = sum(c.isalpha() for c in name)
    if letters < 3 or len(name) > 100 or re.search(r"transition|pursuant|commission", name, re.I):
        return None
    return name if name.endswith(".") or not before.rstrip().endswith(".") else name + "."


_FILE_NUMBER_LINE = re.compile(r"commission file (?:no\.?|number):? ?[0-9-]+\s*$", re.I)
_LEGAL_FORM = re.compile(r"\b(corporation|corp\.?|inc\.?|incorporated|company|co\.|ltd\.?|limited|llc|l\.p\.|plc"
                         r"|n\.v\.|s\.a\.|ag|se|holdings|group|trust|bancorp)$", re.I)


def _name_after_file_number(cover: str) -> str | None:
    """A cover without the "(Exact name of registrant ...)" note (Microsoft's, for one): the line right after the
    commission file number, when it reads as a company's name (ends with its legal form)."""
    lines = [" ".join(line.split()) for line in cover[:6000].splitlines()]
    lines = [line for line in lines if line]
    for i, line in enumerate(lines[:-1]):
        if _FILE_NUMBER_LINE.search(line):
            name = lines[i + 1].strip(" _.,;:-")
            if 3 <= len(name) <= 80 and _LEGAL_FORM.search(name) and not _COVER_BOILERPLATE.search(name):
                return name if not name.endswith(("Inc", "Corp", "Co", "Ltd")) else name + "."
    return None


def _tidy_date(date: str) -> str:
    month, rest = date.split(" ", 1)
    return f"{month.capitalize()} {re.sub(r' ?, ?', ', ', rest)}"


def title_from_text(pages: list[str]) -> str | None:
    """A title-like line near the start of the document that names what it is ("AGENCY AGREEMENT")."""
    for page in pages[:2]:
        for raw in page.split("\n")[:25]:
            line = raw.strip().lstrip("#").strip()
            letters = sum(c.isalpha() for c in line)
            if not (6 <= len(line) <= 120 and letters >= 0.6 * len(line.replace(" ", ""))):
                continue
            toc_entry = len(line) > 40 and re.search(r"\s\d{1,3}$", line)  # "Report of Management ... 96"
            if _TITLE_WORDS.search(line) and not is_placeholder(line) and not toc_entry:
                return line
    return None


def choose_title(metadata_title: str | None, pages: list[str], file_name: str) -> str:
    """The document's title, as the module docstring orders the sources. ``file_name`` may be a path (``folio
    ingest`` names files as it was given them): only its last part can become the title."""
    file_name = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    filing = filing_title(pages, file_name)
    if filing:
        return filing
    if metadata_title and not is_placeholder(metadata_title):
        return metadata_title
    return title_from_text(pages) or file_name.rsplit(".", 1)[0]
