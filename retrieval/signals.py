"""How sure a retrieval looks: whether dense and BM25, each on its own, find the same pages.

A hybrid search fuses two rankings that fail differently: dense misses a clause named by its exact terms, BM25 a
paraphrase. When the two agree on several of their top pages the fused top k is very likely to hold the evidence;
when they agree on at most one, a large share of retrievals miss (measured on the evaluation sets,
bench/results/eval-2026-12-02-*.md). The planner reads this as "retrieval looks weak" (``service/plan.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from folio.index.protocol import Hit

SIGNAL_K = 5  # how deep each ranking is compared
WEAK_AGREEMENT = 1  # dense and BM25 sharing at most this many of their top-k pages: retrieval looks weak


@dataclass(frozen=True)
class RetrievalSignals:
    """Pages shared by dense's and BM25's own top ``k`` (page-diverse) results, and ``k``."""

    shared_pages: int
    k: int

    @property
    def weak(self) -> bool:
        return self.shared_pages <= WEAK_AGREEMENT

    def describe(self) -> str:
        return f"dense and BM25 agree on {self.shared_pages} of their top {self.k} pages"


def _pages(hits: Sequence[Hit]) -> set[tuple[str, int]]:
    return {(h.doc_id, p) for h in hits for p in range(h.first_page, max(h.first_page, h.last_page) + 1)}


def agreement_signals(dense: Sequence[Hit], bm25: Sequence[Hit], k: int) -> RetrievalSignals:
    """The agreement of the two rankings' top ``k`` chunks, counted in pages of the same document (a chunk over
    a page break counts each page; the count is capped at ``k``)."""
    return RetrievalSignals(shared_pages=min(k, len(_pages(dense[:k]) & _pages(bm25[:k]))), k=k)
