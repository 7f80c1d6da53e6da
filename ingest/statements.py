"""Financial statement pages: which pages of a filing are its primary statements, tagged at ingest time.

A 10-K or 10-Q answers most numeric questions from four tables: the income statement, the balance sheet, the
cash flow statement and the statement of equity. Those pages are almost all numbers under a short title, so
neither a sentence embedding nor BM25 connects "what was FY2018 accounts payable?" to them: on financebench-dev
18 of the 24 questions that hybrid search missed at 5 had their evidence on a statement page.

Ingestion tags each chunk of a statement page with the statement's kind (payload ``statements``); at query
time the statement lane (``folio.retrieval.statement_lane``) ranks the chunks of the statements a question
asks about as a third list of the fusion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from folio.index.schema import STATEMENT_KINDS as KINDS

# Titles, matched against the letters of a page's first lines (lowercase, spaces and punctuation dropped: pypdf
# glues some filings' words together, "ConsolidatedBalanceSheets"). "Comprehensive income" is its own statement
# and matches none of them unless the page is a combined "operations and comprehensive income" statement.
_TITLES: dict[str, re.Pattern[str]] = {
    "income": re.compile(r"statements?of(consolidated)?(operations|income|earnings)|incomestatements?"),
    "balance": re.compile(r"balancesheets?|statements?of(consolidated)?financial(position|condition)"),
    "cashflow": re.compile(r"statements?of(consolidated)?cashflows?|cashflowstatements?"),
    "equity": re.compile(r"statements?of(consolidated)?(changesin)?(stockholders|shareholders|shareowners)?"
                         r"(equity|deficit)"),
}
HEAD_CHARS = 400  # the title sits within the page's first lines (after "Table of Contents" and the company name)
MIN_NUMBERS = 30  # a statement is a table: at least this many numbers ...
MIN_NUMBER_SHARE = 0.2  # ... making up at least this share of the page's tokens

_NOT_LETTER = re.compile(r"[^a-z]+")
_TOKEN = re.compile(r"\S+")
_NUMBER = re.compile(r"[($—-]*\d[\d,]*(?:\.\d+)?%?\)?")


def page_statements(text: str) -> tuple[str, ...]:
    """The primary statements a page holds (usually one; none for every other page).

    A statement page is titled as one near its top and is mostly numbers; a table of contents, an index to the
    financial statements or a note that names a statement in passing is not one."""
    head = _NOT_LETTER.sub("", text[:HEAD_CHARS].lower())
    found = tuple(kind for kind in KINDS if _TITLES[kind].search(head))
    if not found or len(found) > 2:  # three or more titles at the top: a contents or index page
        return ()
    tokens = _TOKEN.findall(text)
    numbers = sum(1 for t in tokens if _NUMBER.fullmatch(t))
    if numbers < MIN_NUMBERS or numbers < MIN_NUMBER_SHARE * len(tokens):
        return ()
    return found


def document_statements(pages: Sequence[str]) -> dict[str, list[int]]:
    """Statement kind -> the 0-based pages that hold it (kinds without pages left out)."""
    out: dict[str, list[int]] = {}
    for number, text in enumerate(pages):
        for kind in page_statements(text):
            out.setdefault(kind, []).append(number)
    return out


def pages_by_kind(statement_pages: Mapping[str, Iterable[int]]) -> dict[int, tuple[str, ...]]:
    """The inverse of ``document_statements``: page -> its kinds, in ``KINDS`` order."""
    out: dict[int, list[str]] = {}
    for kind in KINDS:
        for page in statement_pages.get(kind, ()):
            out.setdefault(int(page), []).append(kind)
    return {page: tuple(kinds) for page, kinds in out.items()}


def chunk_statements(first_page: int, last_page: int, by_page: Mapping[int, Sequence[str]]) -> list[str]:
    """The kinds of the statement pages a chunk spans, in ``KINDS`` order."""
    kinds = {kind for page in range(first_page, max(first_page, last_page) + 1) for kind in by_page.get(page, ())}
    return [kind for kind in KINDS if kind in kinds]
