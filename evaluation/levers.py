"""Each retrieval lever's gain, measured with the others held fixed, and the weak-retrieval signal's record.

A lever (``folio.retrieval.search.Levers``) is kept on by default only when it helps overall without losing more
than a point on any set; the report shows, per set and per question type, the default hybrid ranking beside the
same ranking with one lever flipped (turned off, or on for a lever the default leaves off). The weak-retrieval
signal (``folio.retrieval.signals``): how often the default misses, by how many of their top-5 pages dense and
BM25 share, so the planner's threshold can be read off (and cross-checked) on every set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from folio.evaluation.metrics import summarize
from folio.retrieval.search import DEFAULT_LEVERS, Levers

# (the lever's name, its field of ``Levers``)
LEVERS: tuple[tuple[str, str], ...] = (
    ("front-matter lane", "front_lane"),
    ("per-question fusion weight", "fusion_weight"),
    ("named-documents lane", "named_lane"),
    ("series spread", "spread"),
)
# Levers that act only when a question's scope holds several documents: on the sets whose questions each have one
# document (cuad, financebench) they are also measured with every question asked over the whole set.
LIBRARY_LEVERS = frozenset({"named_lane", "spread"})


def lever_variant(field: str) -> tuple[Levers, bool]:
    """The default levers with this one flipped, and whether the default has it on (the variant is then the
    ranking without it; otherwise the variant is the ranking with it)."""
    on = bool(getattr(DEFAULT_LEVERS, field))
    return replace(DEFAULT_LEVERS, **{field: not on}), on


def _recall5(rows: Sequence[Mapping[str, Any]], key: str) -> float | None:
    value = summarize(rows)[key][5] if rows else None
    return None if value is None else float(value)


def lever_gain(set_name: str, on: Sequence[Mapping[str, Any]], off: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """recall@5 (doc recall for sec10q) with the lever and without, overall, over cuad's non-trivial categories,
    and per question type where the two differ."""
    key = "doc_recall" if set_name == "sec10q" else "recall"
    out: dict[str, Any] = {"all": [_recall5(on, key), _recall5(off, key)]}
    if set_name == "cuad":
        out["nontrivial"] = [_recall5([r for r in on if not r["trivial"]], key),
                             _recall5([r for r in off if not r["trivial"]], key)]
    groups: dict[str, list[float | None]] = {}
    for g in sorted({str(r["group"]) for r in on}):
        a = _recall5([r for r in on if r["group"] == g], key)
        b = _recall5([r for r in off if r["group"] == g], key)
        if a != b:
            groups[g] = [a, b]
    out["groups"] = groups
    return out


def weak_signal(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per count of shared top-5 pages (dense vs BM25): questions, and the share the default hybrid misses at 5."""
    buckets: dict[int, list[bool]] = {}
    for r in rows:
        if "shared5" in r:
            buckets.setdefault(int(r["shared5"]), []).append(bool(r["hit"][5]))
    return [{"shared": s, "n": len(h), "miss": round(1 - sum(h) / len(h), 3)} for s, h in sorted(buckets.items())]

WEAK_SIGNAL_KEY = "weak-retrieval signal"
