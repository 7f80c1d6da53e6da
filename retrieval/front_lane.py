"""The front-matter lane: a question about a document's identity ranks the pages where documents state it.

Every reader of a contract asks what it is called, who its parties are and when it was signed or takes effect,
and a contract answers all of that in its preamble, on its first page of text, almost every time. Neither a
sentence embedding nor BM25 ties "What is the title of this agreement?" to a first page that reads
"DISTRIBUTION AGREEMENT ... between Acme Inc. and ...": the question's words ("title", "agreement") occur on
every page of a contract. So the lane is chosen by STRUCTURE, not by the document's words:

- the question side: ``asks_identity`` recognises a question about the document's identity (its title or name,
  its parties, the date it was made, signed or takes effect) from generic question words, written from how people
  ask about any document, not from any evaluation question;
- the document side: position alone. The lane holds the chunks of the scope documents' first ``FRONT_PAGES``
  pages that carry text (a blank or image-only cover page is skipped, by the page's token count at ingestion),
  earlier pages first and, within a page, by dense similarity to the question. It does not look for
  capitalised names or "IN WITNESS WHEREOF" blocks: those are words, and position held on its own.

The lane is a list fused by reciprocal rank with the ordinary hybrid ranking (``folio.retrieval.search``), with
weight ``FRONT_WEIGHT``; other questions search exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np

from folio.index.protocol import Hit, SearchMode
from folio.index.sparse import SparseVector
from folio.records.model import DocumentRecord

FRONT_PAGES = 2  # the first pages with text: a preamble may run onto the second page
FRONT_WEIGHT = 2.0  # the lane's weight in the fusion with the hybrid ranking (whose weight is 1)
MIN_PAGE_TOKENS = 20  # fewer tokens than this: a blank or image-only page, not the preamble
MAX_DOCUMENTS = 8  # a question about "the" document's identity over more documents than this gets no lane
MAX_CHUNKS = 2_000  # how deep one document's dense ranking is read for its front chunks

_DOCUMENT = r"(agreement|contract|document|amendment|lease|licen[cs]e|deed|instrument|memorandum)"
_THIS = r"(this|the|that|its)"
_IDENTITY = re.compile(
    # its title or name: "what is the title of this agreement?", "what is this contract called?"
    r"\b(title|name|heading)s? of " + _THIS + r" " + _DOCUMENT + r"\b"
    r"|\b" + _THIS + r" " + _DOCUMENT + r"'s (title|name)\b|\b" + _DOCUMENT + r" (called|entitled)\b"
    # its parties: "who are the parties to this agreement?", "between whom", "who signed it"
    r"|\bwho (are|were|is) the (contracting |signing )?(parties|signatories|counterparties)\b"
    r"|\b(parties|signatories|counterparties) (to|of) " + _THIS + r" " + _DOCUMENT + r"\b"
    r"|\bnames? of the (parties|signatories)\b|\bbetween whom\b|\bwho (signed|executed|entered into)\b"
    # when it was made or takes effect: "on what date was this agreement signed or entered into?"
    r"|\b(what|which) date\b.{0,40}\b(signed|executed|entered into|made|dated)\b"
    r"|\bwhen (was|were|is|did)\b.{0,40}\b(signed|executed|entered into|made|dated)\b"
    r"|\beffective date\b|\bexecution date\b|\bdate of (this|the) " + _DOCUMENT + r"\b"
    r"|\b" + _DOCUMENT + r"\b.{0,20}\b(become|becomes|take|takes|go|goes|came|come) (into )?(effect|effective)\b",
    re.I)


class FrontSearchable(Protocol):
    """What the lane needs of the store: a dense ranking of one document's chunks (``Store.search``)."""

    def search(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
               limit: int = 10, mode: SearchMode = "hybrid", candidates: int | None = None, distinct: bool = True,
               statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]: ...


@lru_cache(maxsize=256)
def asks_identity(question: str) -> bool:
    """Whether ``question`` asks about a document's identity: its title, parties, or the date it was made or
    takes effect."""
    return bool(_IDENTITY.search(" ".join(question.split())))


def front_pages(record: DocumentRecord, n: int = FRONT_PAGES) -> list[int]:
    """The document's first ``n`` pages with text (by their token counts), in order; the first ``n`` pages when
    the record has no counts."""
    tokens = record.page_tokens or []
    pages = [p for p, t in enumerate(tokens) if t >= MIN_PAGE_TOKENS][:n]
    return pages or list(range(min(n, max(record.n_pages, 1))))


def front_hits(store: FrontSearchable, dense: np.ndarray, records: Sequence[DocumentRecord]) -> list[Hit]:
    """The lane: the chunks on each document's front pages, earlier pages first, then by dense similarity
    (documents interleaved, so each one's first page comes before any second page)."""
    if not records or len(records) > MAX_DOCUMENTS:
        return []
    by_position: list[tuple[int, int, Hit]] = []
    for record in records:
        pages = front_pages(record)
        order = {p: i for i, p in enumerate(pages)}
        ranked = store.search(dense=dense, sparse=None, doc_ids=[record.id], mode="dense", distinct=False,
                              limit=min(MAX_CHUNKS, max(record.n_chunks, 1) if record.n_chunks else MAX_CHUNKS))
        for rank, h in enumerate(ranked):
            if h.first_page in order:
                by_position.append((order[h.first_page], rank, h))
    by_position.sort(key=lambda item: (item[0], item[1]))
    return [h for _, _, h in by_position]
