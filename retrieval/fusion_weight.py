"""BM25's weight in the hybrid fusion, chosen per question from the shape and the agreement of the two rankings.

Dense and BM25 fail on different questions: BM25 when the document says it in other words or when the
question's terms occur everywhere in the scope (the same line items in every filing), dense when the question
names a clause or a line by its exact terms. Two signals of the rankings themselves say which one to trust, read
off each ranking's own top ``DEPTH`` chunks, with no reference to the documents' genre, the question's wording or
any evaluation set:

- **sharpness**: how far a ranking's best score stands above the rest of its list, as a z-score
  (``(s1 - mean(s2..)) / std(s2..)``): scale-free, so cosine similarities and BM25 sums compare. A ranking that
  has found what the question names usually shows it; a ranking that is guessing is flat.
- **agreement**: how many pages the two rankings' top ``folio.retrieval.signals.SIGNAL_K`` chunks share
  (``folio.retrieval.signals.agreement_signals``). When they share at most ``AGREE`` pages, BM25 has matched the
  question's words somewhere its meaning is not, and dense is the safer guide.

BM25's weight moves from the scope's base weight (``folio.retrieval.search.bm25_weight``):

    weight = base * exp(SLOPE * clip(sharp_bm25 - sharp_dense, -CAP, CAP)) / (DAMP if shared <= AGREE else 1)

The two rankings are two more searches of the index (plain top ``DEPTH`` chunks, the depth the fusion itself
reads for a top 5). The parameters were chosen by cross-validation across the three evaluation sets (fit on two,
test on the third; ``bench/fusion_replay.py``); the lever's gain per set and per question type is in the levers
report (``folio eval --configs levers``, bench/results/).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, pstdev

DEPTH = 20  # how deep each ranking is read (the fusion's own pool for a top-5 search)
SLOPE = 0.35  # log-weight per unit of sharpness difference
CAP = 1.0  # the sharpness difference counts up to this much either way
AGREE = 1  # the rankings sharing at most this many top pages: they disagree
DAMP = 5.0  # BM25's weight is divided by this when they disagree
MIN_SCORES = 3  # a ranking of fewer scores has no shape: it moves nothing

# the parameters bench/fusion_replay.py tries (slope 0 and damp 1: the lever off)
PARAM_GRID: dict[str, tuple[float, ...]] = {
    "slope": (0.0, 0.2, 0.35, 0.5),
    "cap": (1.0, 2.0),
    "agree": (0, 1, 2),
    "damp": (1.0, 1.5, 2.0, 3.0, 5.0),
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


def choose_weight(dense: Ranked, bm25: Ranked, shared: int, base: float, *, slope: float = SLOPE,
                  cap: float = CAP, agree: float = AGREE, damp: float = DAMP) -> float:
    """BM25's weight in the fusion (dense's being 1) for a question whose two rankings are ``dense`` and
    ``bm25`` and share ``shared`` of their top pages, from the scope's ``base`` weight. A ranking with no shape
    (an empty BM25 list: no question term occurs in the scope) leaves ``base`` as it is."""
    if len(dense.scores) < MIN_SCORES or len(bm25.scores) < MIN_SCORES:
        return base
    difference = max(-cap, min(cap, bm25.sharpness - dense.sharpness))
    weight = base * math.exp(slope * difference)
    return weight / damp if shared <= agree else weight
