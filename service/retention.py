"""How long a provider keeps a prefix cached, learned from the bills: the cache's lifetime (DESIGN.md: cleared
"within a few hours to a few days" of disuse), and the retention, a Beta posterior over the requests on a
prefix that should have found it cached. The ledger reads a prefix's history and asks these functions."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

# DeepSeek: caches are cleared "within a few hours to a few days" of disuse. Full confidence for an hour,
# then an exponential decay with a six-hour time constant.
CACHE_SURE_S = 3600.0
CACHE_DECAY_S = 6 * 3600.0
# P(a persisted prefix is still there for the next request, within the cache's sure lifetime) before any
# request on it has told: the provider's caching is best effort. It is the mean of a Beta prior worth
# PRIOR_WEIGHT requests; each later request on the prefix that should have found it cached (the one before
# it persisted the prefix: a warm-up, or a request that hit) is an outcome that moves the posterior, up to
# 0.99+ after a long run of hits, down after misses.
PRIOR_RETENTION = 0.95
PRIOR_WEIGHT = 20.0


def cache_survival(gap_s: float) -> float:
    """P(a prefix persisted ``gap_s`` seconds ago is still cached): sure for an hour, then a decay."""
    return 1.0 if gap_s <= CACHE_SURE_S else math.exp(-(gap_s - CACHE_SURE_S) / CACHE_DECAY_S)


@dataclass(frozen=True)
class Retention:
    """P(a persisted prefix is still cached at the next request, within the cache's lifetime): a Beta posterior
    over the requests on the prefix that should have found it cached."""

    hits: int = 0
    trials: int = 0

    @property
    def mean(self) -> float:
        return (PRIOR_RETENTION * PRIOR_WEIGHT + self.hits) / (PRIOR_WEIGHT + self.trials)

    def explain(self) -> str:
        if not self.trials:
            return f"the prior {PRIOR_RETENTION:.2f}"
        return f"{self.hits} of {self.trials} requests that should have hit did: {self.mean:.3f}"


def hit_ratio(entry: dict[str, Any]) -> float | None:
    """The share of the entry's prefix the provider billed as cache hits; None when the prefix is unknown."""
    prefix = int(entry.get("prefix_tokens") or 0)
    return min(1.0, entry["usage"]["hit_tokens"] / prefix) if prefix else None


def persisted(entry: dict[str, Any], ratio: float | None) -> bool:
    """Whether the request left its prefix persisted as a unit: a warm-up, or a request that read it as hits
    (``ratio``: its ``hit_ratio``)."""
    return entry["kind"] == "warmup" or (ratio is not None and ratio >= 0.5)


def outcomes(history: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any], bool]]:
    """(earlier, later, hit) for each request that should have found the prefix cached: the request before it
    persisted the prefix, within the cache's sure lifetime."""
    ratios = [hit_ratio(entry) for entry in history]  # once each: a plan reads up to 500 requests
    out = []
    for (before, after), (before_ratio, ratio) in zip(itertools.pairwise(history), itertools.pairwise(ratios),
                                                      strict=True):
        if ratio is not None and persisted(before, before_ratio) and after["ts"] - before["ts"] <= CACHE_SURE_S:
            out.append((before, after, ratio >= 0.5))
    return out


def retention_of(history: list[dict[str, Any]]) -> Retention:
    """The posterior from a prefix's history, in the order the requests were sent."""
    found = outcomes(history)
    return Retention(hits=sum(hit for _, _, hit in found), trials=len(found))


def mode_switch_missed(history: list[dict[str, Any]]) -> bool:
    """Whether a request in another thinking mode missed the prefix right after it was cached."""
    return any(not hit and before.get("reasoning") and after.get("reasoning")
               and before["reasoning"] != after["reasoning"] for before, after, hit in outcomes(history))
