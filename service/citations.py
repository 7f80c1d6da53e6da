"""Citations in an answer, mapped to documents and pages, with quoted text checked against the stored page.

The model cites as ``[TITLE p.N]`` (or ``pp.N-M``), N counted from 1. A quote is the double-quoted text
right before a citation, in straight or typographic quotes, and may hold quotes of the other kind (a contract's
defined terms: ``"(“Approved Drug Products”)"``). It is verified when both it and the page, after the same
normalisation (NFKC, which unfolds ligatures; lower case; everything but letters and digits dropped, which
removes quotes, dashes, whitespace and hyphens at line ends), agree: the quote occurs on the cited page (or runs
on into the next one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from folio.ingest.page_render import squash  # the one normalisation: quotes on pages and their boxes alike
from folio.records import DocumentRecord
from folio.service.schemas.common import Citation

# a title may hold bracketed parts of its own ("Supply Agreement [Redacted]"), one level deep
_CITATION = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]{0,100}\]){1,300}?)\s*,?\s+pp?\.\s*(\d{1,5})"
                       r"(?:\s*[-\u2013]\s*(\d{1,5}))?\s*\]")
MIN_QUOTE_CHARS = 12
MAX_QUOTE_CHARS = 2000
_OPEN, _CLOSE = "\u201c", "\u201d"


def _match_document(title: str, records: Sequence[DocumentRecord]) -> DocumentRecord | None:
    wanted = " ".join(title.split()).casefold()
    for record in records:
        if " ".join(record.title.split()).casefold() == wanted:
            return record
    for record in records:
        name = record.file_name.casefold()
        if wanted in (name, name.rsplit(".", 1)[0]):
            return record
    candidates = [r for r in records
                  if wanted and (wanted in r.title.casefold() or r.title.casefold() in wanted)]
    return candidates[0] if len(candidates) == 1 else None


def extract(answer: str, records: Sequence[DocumentRecord]) -> list[Citation]:
    """Every citation in ``answer``, in order; ``records`` must carry their pages for quote checks."""
    out: list[Citation] = []
    for match in _CITATION.finditer(answer):
        title = match.group(1).strip().strip('"')
        first = int(match.group(2))
        last = int(match.group(3) or first)
        record = _match_document(title, records)
        quote = quote_before(answer[max(0, match.start() - MAX_QUOTE_CHARS - 100):match.start()])
        citation = Citation(label=match.group(0), title=title, page=first, last_page=max(first, last),
                            document_id=record.id if record else None, quote=quote, verified=None)
        if record is None:
            citation.note = "no document in the scope has this title"
            citation.verified = False if quote else None
        elif not 1 <= first <= record.n_pages:
            citation.note = f"the document has {record.n_pages} pages"
            citation.verified = False if quote else None
        elif quote is not None:
            citation.verified = verify_quote(quote, record, first, citation.last_page)
            if not citation.verified:
                citation.note = "the quoted text is not on the cited page"
        out.append(citation)
    return out


def quote_before(text: str) -> str | None:
    """The quoted text that ``text`` ends with (trailing spaces and punctuation aside), or None.

    A straight closing quote pairs with the straight quote before it, so typographic quotes inside are part of
    the quote; a typographic closing quote pairs with its opening one, counting nested pairs, else with a
    straight opening quote (a model may mix them)."""
    tail = text.rstrip(" \t\r\n,.;:")
    if not tail or tail[-1] not in ('"', _CLOSE):
        return None
    start = -1
    if tail[-1] == _CLOSE:
        depth = 0
        for i in range(len(tail) - 2, -1, -1):
            if tail[i] == _CLOSE:
                depth += 1
            elif tail[i] == _OPEN:
                if depth == 0:
                    start = i
                    break
                depth -= 1
    if start < 0:
        start = tail.rfind('"', 0, len(tail) - 1)
    if start < 0:
        return None
    inner = tail[start + 1:-1].strip()
    return inner if 8 <= len(inner) <= MAX_QUOTE_CHARS else None


def verify_quote(quote: str, record: DocumentRecord, first: int, last: int) -> bool:
    pages = record.pages or []
    needle = squash(quote)
    if len(needle) < MIN_QUOTE_CHARS // 2:
        return False
    # the cited pages, plus the next one: a quote may run across a page break
    start, end = first - 1, min(len(pages), max(first, last) + 1)
    haystack = "".join(squash(pages[i]) for i in range(start, end))
    return needle in haystack
