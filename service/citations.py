"""Citations in an answer, mapped to documents and pages, with quoted text checked against the stored page.

The model cites as ``[TITLE p.N]`` (or ``pp.N-M``), N counted from 1. A quote is the double-quoted text
right before a citation; it is verified when, lower-cased with everything but letters and digits dropped,
it occurs on the cited page (or runs on into the next one).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from folio.ingest.store import DocumentRecord
from folio.service.schemas.common import Citation

# a title may hold bracketed parts of its own ("Supply Agreement [Redacted]"), one level deep
_CITATION = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]{0,100}\]){1,300}?)\s*,?\s+pp?\.\s*(\d{1,5})"
                       r"(?:\s*[-\u2013]\s*(\d{1,5}))?\s*\]")
_QUOTE_BEFORE = re.compile(r"[\"\u201c]([^\"\u201c\u201d]{8,2000})[\"\u201d][\s,.;:]*$")
MIN_QUOTE_CHARS = 12


def squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", text).lower())


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
        quote_match = _QUOTE_BEFORE.search(answer[max(0, match.start() - 2100):match.start()])
        quote = quote_match.group(1).strip() if quote_match else None
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


def verify_quote(quote: str, record: DocumentRecord, first: int, last: int) -> bool:
    pages = record.pages or []
    needle = squash(quote)
    if len(needle) < MIN_QUOTE_CHARS // 2:
        return False
    # the cited pages, plus the next one: a quote may run across a page break
    start, end = first - 1, min(len(pages), max(first, last) + 1)
    haystack = "".join(squash(pages[i]) for i in range(start, end))
    return needle in haystack
