"""The scoring conventions of ``../shared/data/README.md``, as pure functions.

- Page level: a retrieved chunk covers pages ``first..last`` (0-based, inclusive) of one document; a question is hit
  at k when any of its top-k chunks overlaps a gold evidence page of the right document.
- Document level (sec10q): a chunk hits when its document is one of the question's evidence documents;
  ``doc_recall`` is the share of the evidence documents that the top-k chunks reach (a four-filing question needs
  all four for 1.0), ``hit`` whether any is reached.
- MRR: the mean over questions of 1 / rank of the first hitting chunk in the top 10 (0 when none hits).
- Evidence coverage of a routed question: the share of gold evidence pages that the context sent to the model held
  (whole documents hold every page; retrieval holds the pages its chunks span); document-level evidence counts a
  document as held when any of its pages was sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

KS = (1, 3, 5, 10)
Gold = Mapping[str, "frozenset[int] | set[int] | None"]


@dataclass(frozen=True)
class Span:
    """A retrieved chunk: its document and the pages it spans (0-based, inclusive)."""

    doc: str
    first: int
    last: int

    def holds(self, doc: str, page: int) -> bool:
        return self.doc == doc and self.first <= page <= self.last


def chunk_hits(gold: Gold, span: Span) -> bool:
    """Whether one chunk overlaps the evidence: a gold page of its document, or (document level) its document."""
    if span.doc not in gold:
        return False
    pages = gold[span.doc]
    if pages is None:
        return True
    return any(span.first <= p <= span.last for p in pages)


def hit_at(gold: Gold, ranked: Sequence[Span], k: int) -> bool:
    return any(chunk_hits(gold, s) for s in ranked[:k])


def first_hit_rank(gold: Gold, ranked: Sequence[Span]) -> int | None:
    """1-based rank of the first chunk that hits, or None."""
    for rank, span in enumerate(ranked, 1):
        if chunk_hits(gold, span):
            return rank
    return None


def reciprocal_rank(gold: Gold, ranked: Sequence[Span], cutoff: int = 10) -> float:
    rank = first_hit_rank(gold, ranked[:cutoff])
    return 0.0 if rank is None else 1.0 / rank


def doc_recall_at(gold: Gold, ranked: Sequence[Span], k: int) -> float:
    """Share of the evidence documents that at least one of the top-k chunks comes from."""
    if not gold:
        return 0.0
    reached = {s.doc for s in ranked[:k] if s.doc in gold}
    return len(reached) / len(gold)


def score_question(gold: Gold, ranked_by_k: Mapping[int, Sequence[Span]],
                   ks: Iterable[int] | None = None) -> dict[str, Any]:
    """One question's scores from its top-k lists (one search per k, as the service would run it).

    ``ranked_by_k[k]`` is the top-k list (default ``ks``: every k given); MRR uses the longest list given.
    """
    ks = tuple(ks) if ks is not None else tuple(sorted(ranked_by_k))
    longest = ranked_by_k[max(ranked_by_k)]
    return {
        "hit": {k: hit_at(gold, ranked_by_k[k], k) for k in ks},
        "doc_recall": {k: round(doc_recall_at(gold, ranked_by_k[k], k), 4) for k in ks},
        "rr": round(reciprocal_rank(gold, longest), 4),
        "first_hit_rank": first_hit_rank(gold, longest),
    }


def _mean(values: Sequence[float]) -> float | None:
    return round(fmean(values), 4) if values else None


def summarize(rows: Sequence[Mapping[str, Any]], ks: Iterable[int] = KS) -> dict[str, Any]:
    """Means over question rows from ``score_question``: recall@k (hit rate), doc recall@k, MRR, n."""
    ks = tuple(ks)
    return {
        "n": len(rows),
        "recall": {k: _mean([float(r["hit"][k]) for r in rows]) for k in ks},
        "doc_recall": {k: _mean([float(r["doc_recall"][k]) for r in rows]) for k in ks},
        "mrr": _mean([float(r["rr"]) for r in rows]),
    }


def summarize_groups(rows: Sequence[Mapping[str, Any]], key: str = "group",
                     ks: Iterable[int] = KS) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r[key]), []).append(r)
    return {g: summarize(rs, ks) for g, rs in sorted(groups.items())}


# -- routing ---------------------------------------------------------------------------------------------------


ALL_PAGES = None  # a context entry holding a whole document


def evidence_coverage(gold: Gold, context: Mapping[str, set[int] | None]) -> float:
    """Share of the gold evidence held by the context sent to the model.

    ``context`` maps each document sent to the pages sent (``None``: the whole document). Page-level gold counts
    pages; document-level gold (``None``) counts documents, held when any of their pages was sent.
    """
    total = 0
    held = 0
    for doc, pages in gold.items():
        sent = context.get(doc, set()) if doc in context else set()
        if pages is None:
            total += 1
            held += doc in context and (sent is None or bool(sent))
            continue
        total += len(pages)
        held += len(pages) if sent is None else len(set(pages) & sent)
    return held / total if total else 0.0


def merge_context(*parts: Mapping[str, set[int] | None]) -> dict[str, set[int] | None]:
    """The union of contexts (a question escalated from retrieval to whole documents sent both)."""
    out: dict[str, set[int] | None] = {}
    for part in parts:
        for doc, pages in part.items():
            if pages is None or out.get(doc, set()) is None:
                out[doc] = None
            else:
                current = out.get(doc)
                out[doc] = (current or set()) | pages
    return out


def spans_context(spans: Iterable[Span]) -> dict[str, set[int] | None]:
    out: dict[str, set[int] | None] = {}
    for s in spans:
        pages = out.setdefault(s.doc, set())
        assert pages is not None
        pages.update(range(s.first, s.last + 1))
    return out
