"""BM25's weight in the hybrid fusion, chosen per question from the shape of the two rankings.

Dense and BM25 fail on different questions: BM25 when the document says it in other words, dense when the
question names a clause or a line by its exact terms. A ranking that has found what the question names usually
shows it: its best chunk stands far above the rest of its list, while a ranking that is guessing is flat. So
each ranking's **sharpness** is read off its own top ``DEPTH`` scores, as the z-score of its best score over the
others (``(s1 - mean(s2..)) / std(s2..)``): scale-free, so cosine similarities and BM25 sums compare, and
independent of the documents' genre, the question's wording and any evaluation set. BM25's weight then moves
from the scope's base weight (``folio.retrieval.search.bm25_weight``) by the difference:

    weight = base * exp(SLOPE * clip(sharp_bm25 - sharp_dense, -CAP, CAP))

so the sharper ranking counts for more, by at most ``exp(SLOPE * CAP)`` either way. The two rankings are two
more searches of the index (plain top ``DEPTH`` chunks, the depth the fusion itself reads for a top 5).

``SLOPE`` and ``CAP`` were chosen by cross-validation across the three evaluation sets (fit on two, test on the
third; ``bench/fusion_replay.py``), and the lever's gain per set is in the levers report
(``folio eval --configs levers``, bench/results/).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, pstdev

DEPTH = 20  # how deep each ranking is read (the fusion's own pool for a top-5 search)
SLOPE = 0.5  # log-weight per unit of sharpness difference
CAP = 1.0  # the sharpness difference counts up to this much either way
MIN_SCORES = 3  # a ranking of fewer scores has no shape: it moves nothing

# the parameters bench/fusion_replay.py tries (SLOPE 0: the lever off)
PARAM_GRID: dict[str, tuple[float, ...]] = {
    "slope": (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0),
    "cap": (0.5, 1.0, 2.0, 4.0),
}


@dataclass(frozen=True)
class Ranked:
    """A ranking's scores, best first, and how far its best stands above the rest."""

    scores: tuple[float, ...]

    @classmethod
    def of(cls, scores: Sequence[float]) -> Ranked:
        return cls(tuple(float(s) for s in scores[:DEPTH]))

    @property
    def sharpness(self) -> float:
        """The best score's z-score over the others (0 for fewer than ``MIN_SCORES`` scores or a flat list)."""
        if len(self.scores) < MIN_SCORES:
            return 0.0
        rest = self.scores[1:]
        spread = pstdev(rest)
        return 0.0 if spread <= 0 else (self.scores[0] - fmean(rest)) / spread


def choose_weight(dense: Ranked, bm25: Ranked, base: float, *, slope: float = SLOPE, cap: float = CAP) -> float:
    """BM25's weight in the fusion (dense's being 1) for a question whose two rankings are ``dense`` and
    ``bm25``, from the scope's ``base`` weight. A ranking with no shape (an empty BM25 list: no question term
    occurs in the scope) leaves ``base`` as it is."""
    if len(dense.scores) < MIN_SCORES or len(bm25.scores) < MIN_SCORES:
        return base
    difference = max(-cap, min(cap, bm25.sharpness - dense.sharpness))
    return base * math.exp(slope * difference)
