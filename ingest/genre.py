"""What kind of document this is: a contract, a filing (a report with financial statements), or other.

Retrieval weighs its two rankings by it. Contracts reward exact terms: a clause is found by its words ("assign",
"terminate", "governed by"), and within one contract every chunk reads alike to a sentence embedding. Filings
reward meaning: a question about "capital intensity" must reach pages that never use the phrase. The issue's
plain baseline showed it (cuad-dev: BM25 0.83 against dense 0.70 at 5; financebench-dev: dense 0.57 against BM25
0.45), and so does Folio's own fusion (bench/results/eval-2026-11-28-retrieval-levers.md): weighting BM25 up
helps contracts and hurts filings.

A contract is told by how it is written. Either its first pages use at least two of the phrases that make one
(``_CONTRACT_PHRASES``: "by and between", "entered into", "WHEREAS", "NOW, THEREFORE", "IN WITNESS WHEREOF",
"(the "Agreement")", ...), or it is written in directive language: "shall" at least ``CONTRACT_SHALL_PER_1000``
times per thousand words of its first pages (older exhibits without a preamble; plain-English contracts say
"will" and have the phrases). Measured on ../shared/data: 15 of the 20 cuad-dev contracts have two or more of the
phrases, and all 20 use "shall" 6.5-22 times per thousand words; the 59 10-K, 10-Q and earnings filings have none
of the phrases in their first pages and use "shall" at most 2.8 times (one 8-K, at 10, carries a credit
agreement). Both sample contracts have four or more of the phrases and no "shall" at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

GENRES: tuple[str, ...] = ("contract", "filing", "other")
CONTRACT_SHALL_PER_1000 = 5.0
SAMPLE_PAGES = 30  # the first pages say what a document is; reading a 500-page filing whole adds nothing
_WORD = re.compile(r"[a-z]+")
_CONTRACT_PHRASES = tuple(re.compile(p) for p in (
    r"by\s+and\s+between", r"\b(is|are)\s+(made\s+and\s+)?entered\s+into", r"in\s+witness\s+whereof",
    r"\bwhereas\b", r"now,?\s+therefore", r"in\s+consideration\s+of", r"hereby\s+agrees?\b",
    r"the\s+parties\s+(hereto\s+)?agree", r"\(\s*(this|the)\s+[\"“”']?agreement[\"“”']?\s*\)",
    r"each\s+(a|individually\s+a)\s+[\"“”']?party", r"collectively,?\s+the\s+[\"“”']?parties",
))
CONTRACT_PHRASES = 2  # at least this many distinct ones in the first pages
_SEC_FORM = re.compile(r"securities\s+and\s+exchange\s+commission|form\s+10-?[kq]\b|form\s+8-?k\b|form\s+20-?f\b")


def document_genre(pages: Sequence[str], statement_pages: Mapping[str, Sequence[int]] | None = None) -> str:
    """``contract``, ``filing`` (it holds financial statements, or its first pages are an SEC form's cover), or
    ``other``."""
    head = " ".join(pages[:3]).lower()
    if sum(1 for phrase in _CONTRACT_PHRASES if phrase.search(head)) >= CONTRACT_PHRASES:
        return "contract"
    words = _WORD.findall(" ".join(pages[:SAMPLE_PAGES]).lower())
    if words and 1000 * words.count("shall") / len(words) >= CONTRACT_SHALL_PER_1000:
        return "contract"
    if any(statement_pages.values() if statement_pages else ()) or _SEC_FORM.search(head):
        return "filing"
    return "other"
