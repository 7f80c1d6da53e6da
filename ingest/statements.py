"""Financial statements: which pages of a filing are its primary statements, and which questions need them.

A 10-K or 10-Q answers most numeric questions from four tables: the income statement, the balance sheet, the
cash flow statement and the statement of equity. Those pages are almost all numbers under a short title, so
neither a sentence embedding nor BM25 connects "what was FY2018 accounts payable?" to them: on financebench-dev
18 of the 24 questions that hybrid search missed at 5 had their evidence on a statement page.

Ingestion tags each chunk of a statement page with the statement's kind (payload ``statements``). At query time
``question_statements`` names the statements a question's terms belong to (line items and ratios by the
statement that reports them, and the statements' own names), and the search adds a third ranked list to the
fusion: the scope's chunks of those statements, by dense similarity (``Store.search``'s ``statements``). A
contract has no statement pages, so there the lane is empty and the ranking is the plain hybrid one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

KINDS: tuple[str, ...] = ("income", "balance", "cashflow", "equity")
LABELS: dict[str, str] = {"income": "income statement", "balance": "balance sheet",
                          "cashflow": "cash flow statement", "equity": "statement of equity"}

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


# What a question asks about, by the statement that reports it: the statements' own names, their line items,
# and the ratios built from them (a ratio of two statements names both). Written from how the statements are laid
# out (US GAAP presentation), not from any evaluation question; phrases match whole words, case-insensitively.
_NEEDS: dict[str, tuple[str, ...]] = {
    "income": (
        r"income statements?", r"statements? of (consolidated )?(operations|income|earnings)", r"p ?& ?l",
        r"profit (and|&) loss", r"revenues?", r"net sales", r"top ?line",
        r"cost of (goods sold|sales|revenues?|products)",
        r"cogs", r"gross (margin|profit)s?", r"operating (income|margin|profit|expenses?)s?", r"ebit(da)?r?",
        r"net (income|earnings|profit|loss)", r"(profit|net) margins?", r"earnings per share", r"eps",
        r"interest expense", r"interest coverage", r"sg ?& ?a", r"selling,? general", r"research and development",
        r"income tax(es)? (expense|provision)", r"effective tax rate", r"(inventory|asset|receivables?) turnover",
        r"return on (assets|equity)", r"roa", r"roe", r"days (payable|sales|inventory)", r"dpo", r"dso", r"dio",
    ),
    "balance": (
        r"balance sheets?", r"statements? of financial (position|condition)", r"total assets", r"inventor(y|ies)",
        r"accounts (payable|receivable)", r"receivables", r"pp ?& ?e", r"ppne", r"property,? plant", r"fixed assets?",
        r"working capital", r"current (assets|liabilities|ratio)", r"quick ratio", r"liquidity",
        r"(total|long[- ]term|short[- ]term|net) debt", r"debt[- ](to|/)[- ]?(equity|capital|assets)",
        r"(shareholders|stockholders)'? equity", r"book value", r"goodwill", r"cash (and|&) (cash )?equivalents",
        r"capital[- ]intensive", r"(inventory|asset|receivables?) turnover", r"return on (assets|equity)", r"roa",
        r"roe", r"days (payable|sales|inventory)", r"dpo", r"dso", r"dio",
    ),
    "cashflow": (
        r"cash ?flow statements?", r"statements? of (consolidated )?cash ?flows?", r"cash ?flows?", r"capex",
        r"capital expenditures?", r"purchases? of property", r"free cash ?flow",
        r"(operating|investing|financing) activities", r"dividends? paid", r"paid (out )?(in )?(cash )?dividends",
        r"(share|stock) (repurchases?|buybacks?)",
        r"depreciation (and|&) amortization", r"d ?& ?a", r"ebitda", r"capital[- ]intensive",
    ),
    "equity": (
        r"statements? of (consolidated )?(changes in )?(stockholders'?|shareholders'?|shareowners'?)? ?equity",
        r"dividends? declared",
    ),
}
_NEED_PATTERNS: dict[str, re.Pattern[str]] = {
    kind: re.compile(r"(?<![a-z0-9])(" + "|".join(phrases) + r")(?![a-z0-9])") for kind, phrases in _NEEDS.items()
}


@dataclass(frozen=True)
class StatementNeed:
    """The statements a question asks about, and the words of the question that say so."""

    kinds: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.kinds)

    def describe(self) -> str:
        """"the balance sheet (asks about: accounts payable)"."""
        names = " and the ".join(LABELS[k] for k in self.kinds)
        return f"the {names} (asks about: {', '.join(self.terms)})"


@lru_cache(maxsize=256)  # a plan asks twice (its search and its note); replays ask the same questions again
def question_statements(question: str) -> StatementNeed:
    """The primary statements whose lines or ratios ``question`` asks about (none for most non-financial
    questions; a contract question may name revenue, but a contract has no statement pages to add)."""
    text = question.lower().replace("\u2019", "'")
    kinds: list[str] = []
    terms: list[str] = []
    for kind in KINDS:
        matches = [m.group(0) for m in _NEED_PATTERNS[kind].finditer(text)]
        if matches:
            kinds.append(kind)
            terms.extend(t for t in dict.fromkeys(matches) if t not in terms)
    return StatementNeed(tuple(kinds), tuple(terms))
