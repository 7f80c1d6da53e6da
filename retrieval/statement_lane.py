"""The statement lane: which primary financial statements a question asks about.

A filing's statement pages are almost all numbers under a short title, so neither a sentence embedding nor BM25
connects "what was FY2018 accounts payable?" to them (``folio.ingest.statements`` finds and tags those pages at
ingest time). ``question_statements`` names the statements a question's terms belong to (line items and ratios
by the statement that reports them, and the statements' own names), and the search adds a third ranked list to
the fusion: the scope's chunks of those statements, by dense similarity (``ChunkIndex.search``'s
``statements``). A contract has no statement pages, so there the lane is empty and the ranking is the plain
hybrid one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from folio.index.schema import STATEMENT_KINDS as KINDS
from folio.index.schema import STATEMENT_LABELS as LABELS

__all__ = ["KINDS", "LABELS", "StatementNeed", "question_statements"]

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
