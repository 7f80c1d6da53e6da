"""Packing a scope into coverage windows: whole documents where they fit, longer ones cut at page boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from folio.config import Settings
from folio.ingest.tokens import TokenCounter
from folio.records import DocumentRecord
from folio.service.context import (
    DOCUMENT_FOOTER,
    DOCUMENTS_CLOSE,
    DOCUMENTS_OPEN,
    count_layout,
    document_header,
    document_key,
    page_tags_tokens,
)
from folio.service.schemas import plan as api

# Tokens kept for the map question, so that windows do not change with the question's length.
QUESTION_BUDGET = 1_024

@dataclass(frozen=True)
class Segment:
    """Pages ``first_page..last_page`` (0-based, inclusive) of one document, as one window holds them."""

    doc_id: str
    title: str
    first_page: int
    last_page: int
    n_pages: int
    tokens: int

    @property
    def whole(self) -> bool:
        return self.first_page == 0 and self.last_page == self.n_pages - 1

    @property
    def pages(self) -> int:
        return self.last_page - self.first_page + 1

    @property
    def key(self) -> str:
        """The segment in the prefix identity: the document (with its title) and, for a slice, its pages."""
        document = document_key(self.doc_id, self.title)
        return document if self.whole else f"{document}:{self.first_page}-{self.last_page}"

    def report(self) -> api.Segment:
        return api.Segment(document_id=self.doc_id, title=self.title,
                           pages=f"{self.first_page + 1}-{self.last_page + 1}", n_pages=self.pages, whole=self.whole,
                           tokens=self.tokens)


def window_capacity(settings: Settings, *, system_tokens: int, question_tokens: int) -> int:
    """Tokens of documents one window holds: the context less the output reserve, system prompt and question."""
    room = (settings.context_window - settings.output_reserve - system_tokens
            - max(QUESTION_BUDGET, question_tokens))
    if settings.coverage_window_tokens is not None:
        room = min(room, settings.coverage_window_tokens)
    return room


def split_windows(records: Sequence[DocumentRecord], counter: TokenCounter, capacity: int) -> list[list[Segment]]:
    """Pack the scope, in its own order, into windows of at most ``capacity`` tokens (documents block included).

    A document goes whole into the current window if it fits, else whole into a new one; a document larger than a
    window fills the current window's room with its first pages and continues in new windows, cut at page
    boundaries. A single page larger than a window gets a window of its own (over the limit: the plan says so).
    """
    base = sum(counter.count_many([DOCUMENTS_OPEN, DOCUMENTS_CLOSE]))
    footer = count_layout(counter, DOCUMENT_FOOTER)
    windows: list[list[Segment]] = []
    current: list[Segment] = []
    used = base

    def close() -> None:
        nonlocal current, used
        if current:
            windows.append(current)
        current, used = [], base

    for record in records:
        n = record.n_pages
        whole = (record.total_tokens + count_layout(counter, document_header(record)) + footer
                 + page_tags_tokens(counter, 0, n - 1))
        segment = Segment(record.id, record.title, 0, n - 1, n, whole)
        if used + whole <= capacity or base + whole <= capacity:
            if used + whole > capacity:
                close()
            current.append(segment)
            used += whole
            continue
        head = count_layout(counter, document_header(record, (n - 1, n - 1))) + footer  # the longest slice header
        page = 0
        while page < n:
            size, last = head, page - 1
            while last + 1 < n:
                cost = record.page_tokens[last + 1] + page_tags_tokens(counter, last + 1, last + 1)
                if used + size + cost > capacity:
                    break
                size += cost
                last += 1
            if last < page:
                if current:
                    close()
                    continue
                last = page  # one page larger than a window
            span = None if (page, last) == (0, n - 1) else (page, last)
            exact = (sum(record.page_tokens[page:last + 1]) + page_tags_tokens(counter, page, last) + footer
                     + count_layout(counter, document_header(record, span)))
            current.append(Segment(record.id, record.title, page, last, n, exact))
            used += exact
            page = last + 1
            if page < n:
                close()
    close()
    return windows
