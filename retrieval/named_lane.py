"""The named-documents lane: a question that names some of the documents in its scope also ranks their chunks.

People ask across a library the way they would ask a colleague: "How have Apple's net sales changed?", "What
was 3M's capital expenditure in FY2018?". Over twenty filings, a search by the question's words alone finds
whichever filing speaks most of net sales; the question's decisive word, the company, is on the cover of four of
them and in few of their chunks. So the lane is chosen by the documents' NAMES, not by their text:

- the document side: the words of its title (``ingest.titles``: a filing's registrant, a contract's kind) and of
  its file name, without numbers, month names and the words that say what kind of document it is or the legal
  form of a name (form, quarter, agreement, inc). A word names something only when it picks out a part of the
  scope: one that every document of the scope carries names nothing;
- the question side: its words written as names are (with a capital, and not only because they open a sentence),
  possessives folded ("Apple's" is "apple"). The documents named are those with the most name words in the
  question. When they all carry the same name (one company's filings over several
  periods: a series), a year the question states ("FY2018", "Q2 2023") keeps the ones whose title has it.

Nothing is filtered out: the named documents' own hybrid ranking is a list fused by reciprocal rank with the
ordinary ranking of the whole scope (weight ``NAMED_WEIGHT``), so a name matched by chance costs little. A series
of at most ``SPREAD_MAX`` documents (fewer than the results asked for) is spread: each one's best chunk is among
the results, so a question over four quarters' filings sees all four, and the rest follow by the fused rank.
Measured over every document of each dev set (bench/results/eval-2026-12-03-named-*.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from folio.records.model import DocumentRecord

NAMED_WEIGHT = 2.0  # the named documents' ranking in the fusion with the whole scope's (whose weight is 1)
SPREAD_MAX = 6  # name more documents than this, and the results are not spread across them
MIN_WORD = 2  # a shorter word is an initial, too often matched by chance ("3M" is a name)

# Words of titles and file names that say what kind of document it is, or the legal form of a name, rather than
# whose or which it is; and month names, since dates are not names.
_GENERIC = frozenset({
    "the", "and", "for", "with", "between", "from", "into", "this", "that", "its", "our", "their", "inc",
    "incorporated", "corp", "corporation", "company", "companies", "ltd", "limited", "llc", "llp", "plc", "group",
    "holdings", "holding", "trust", "fund", "partners", "partnership", "bancorp", "com", "www", "form", "forms",
    "quarter", "quarterly", "annual", "fiscal", "year", "years", "ended", "ending", "period", "report", "reports",
    "filing", "filings", "agreement", "agreements", "contract", "contracts", "amendment", "amended", "restated",
    "exhibit", "schedule", "dated", "effective", "document", "documents", "draft", "final", "copy", "version",
    "page", "pages", "pdf", "docx", "html", "text", "file", "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec"
})
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CASED_WORD = re.compile(r"[^\W_]+(?:[.&][^\W_]+)*", re.UNICODE)  # "Amazon.com", "AT&T": one name
_PERIOD_LABEL = re.compile(r"^(q[1-4]|h[12])$")  # "Q3", "H1": a period, not a name
_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")


def words(text: str) -> set[str]:
    """``text``'s words that could be part of a name: casefolded, possessives folded, no numbers, no words mostly
    of digits ("10k", "fy2019"; "3m" is a name), no quarters ("q3")."""
    text = re.sub(r"['’]s\b", "", text.casefold())
    return {w for w in _WORD.findall(text)
            if len(w) >= MIN_WORD and 2 * sum(c.isdigit() for c in w) <= len(w) and w not in _GENERIC
            and not _PERIOD_LABEL.match(w)}


def asked_names(question: str) -> set[str]:
    """The words of ``question`` written as names are written: with a capital ("Apple", "NVIDIA", "3M"), and not
    merely because they open a sentence ("Best practices ...") unless a possessive follows ("Apple's ...").
    Lower-case words are left out, so a company named by a common word ("Best Buy", "General Mills") is not
    taken to be asked about by "the best way" or "in general"."""
    found: set[str] = set()
    for match in _CASED_WORD.finditer(question):
        word = match.group(0)
        if not any(c.isupper() for c in word):
            continue
        opens = match.start() == 0 or bool(re.search(r"[.!?:;]\s*$", question[:match.start()]))
        possessive = question[match.end():match.end() + 2] in ("'s", "’s")
        if opens and not possessive and not word.isupper():
            continue
        found |= words(word)
    return found


def name_words(record: DocumentRecord) -> frozenset[str]:
    """The words a document could be named by: its title's and its file name's."""
    return _name_words(record.title, record.file_name)


@lru_cache(maxsize=65_536)
def _name_words(title: str, file_name: str) -> frozenset[str]:
    """``name_words`` by title and file name: read for every document of the scope at every search, so kept."""
    stem = re.sub(r"\.[a-z0-9]{1,5}$", "", file_name.replace("\\", "/").rsplit("/", 1)[-1], flags=re.I)
    return frozenset(words(title) | words(stem.replace("_", " ")))


@dataclass(frozen=True)
class Named:
    """The documents a question names, and whether they are one series: documents that carry the same name (one
    company's filings over several periods), which no name in the question can tell apart."""

    records: list[DocumentRecord] = field(default_factory=list)
    series: bool = False

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]


def named_documents(question: str, records: Sequence[DocumentRecord]) -> Named:
    """The documents of ``records`` that ``question`` names (most name words matched), in ``records``' order;
    none when it names none of them, or all of them."""
    if len(records) < 2:
        return Named()
    names = [name_words(r) for r in records]
    carried = _document_frequency(names)
    identifying = {w for w, n in carried.items() if n < len(records)}
    asked = asked_names(question) & identifying
    if not asked:
        return Named()
    matched = [len(n & asked) for n in names]
    best = max(matched)
    chosen = [(r, n & identifying) for r, n, m in zip(records, names, matched, strict=True) if m == best]
    if not 0 < len(chosen) < len(records):
        return Named()
    series = len(chosen) > 1 and len({frozenset(n) for _, n in chosen}) == 1
    if series:  # one company's filings: a year the question states picks the filings of that year
        asked_years = years(question)
        dated = [(r, n) for r, n in chosen if asked_years & years(r.title)]
        if asked_years and dated:
            chosen = dated
            series = len(chosen) > 1
    return Named([r for r, _ in chosen], series=series)


def years(text: str) -> set[str]:
    """The years ``text`` states: "2023", "FY2019", "fiscal 2022", "Q2 2023"."""
    return set(_YEAR.findall(text))


def _document_frequency(names: Iterable[frozenset[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in names:
        for w in n:
            counts[w] = counts.get(w, 0) + 1
    return counts
