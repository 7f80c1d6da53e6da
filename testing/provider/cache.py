"""DeepSeek's documented prefix cache ("context caching on disk") as a pure model with an injectable clock.

The rules, per cache key (one key per ``user_id`` and model):

- A *cache prefix unit* is a token prefix from token 0, stored as its length, a SHA-256 of ``tokens[:length]``
  and the time it was last used.
- A request hits the longest live unit that it fully contains from token 0. Hit tokens are counted in whole
  units of ``granularity`` (64): ``hit = floor(unit_length / 64) * 64``; ``miss = prompt_tokens - hit``.
- After a request, units are persisted (or refreshed) at
  (a) the end of its input,
  (b) the end of input + output (the output as it continues the token stream, end-of-sentence marker included),
  (c) the longest common prefix of its input with any of the last ``recent_requests`` inputs, when that prefix is
      at least ``min_common_prefix`` tokens long (A+B then A+C both miss; A is then persisted; A+D hits),
  (d) every ``interval_tokens`` tokens inside the input, when configured (off by default).
- TTL: a unit unused for ``ttl_s`` seconds of the clock expires (alive while ``now - last_used < ttl_s``);
  a hit refreshes the unit it used. Recent inputs older than ``ttl_s`` are forgotten too.
"""

from __future__ import annotations

import hashlib
import threading
import time
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

_BLOCK = 4096


class Clock(Protocol):
    def now(self) -> float: ...


class ManualClock:
    """A clock that moves only when told to: for unit tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


class OffsetClock:
    """Seconds of real (monotonic) time since creation plus an offset that tests push forward (the server's clock)."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() - self._start + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


@dataclass(frozen=True)
class CacheConfig:
    granularity: int = 64
    ttl_s: float = 3600.0
    min_common_prefix: int = 64
    recent_requests: int = 64
    interval_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.granularity < 1:
            raise ValueError("granularity must be >= 1")
        if self.interval_tokens is not None and self.interval_tokens < 1:
            raise ValueError("interval_tokens must be >= 1 or None")


@dataclass(frozen=True)
class Lookup:
    """How a prompt meets the cache: the matched unit's length and the billed hit/miss split."""

    prompt_tokens: int
    unit_tokens: int
    hit_tokens: int

    @property
    def miss_tokens(self) -> int:
        return self.prompt_tokens - self.hit_tokens


@dataclass(frozen=True)
class Unit:
    tokens: int
    digest: str
    last_used: float


@dataclass
class _Space:
    """The units and recent inputs of one cache key."""

    units: dict[int, dict[str, float]] = field(default_factory=dict)
    recent: deque[tuple[float, bytes]] = field(default_factory=deque)


def token_bytes(tokens: Sequence[int]) -> bytes:
    return array("I", tokens).tobytes()


def prefix_digests(buf: bytes, lengths: Iterable[int]) -> dict[int, str]:
    """SHA-256 of each token prefix ``tokens[:length]`` of the packed tokens ``buf``, in one pass."""
    view = memoryview(buf)
    hasher = hashlib.sha256()
    done = 0
    out: dict[int, str] = {}
    for length in sorted(set(lengths)):
        hasher.update(view[done * 4 : length * 4])
        done = length
        out[length] = hasher.copy().hexdigest()
    return out


def common_prefix_tokens(a: bytes, b: bytes) -> int:
    """Length, in tokens, of the common prefix of two packed token sequences."""
    limit = min(len(a), len(b))
    start = 0
    while start < limit and a[start : start + _BLOCK] == b[start : start + _BLOCK]:
        start += _BLOCK
    end = min(start + _BLOCK, limit)
    while start < end and a[start] == b[start]:
        start += 1
    return min(start, limit) // 4


class PrefixCache:
    """Prefix units per cache key. ``lookup`` before answering, ``record`` after."""

    def __init__(self, config: CacheConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or CacheConfig()
        self.clock: Clock = clock or ManualClock()
        self._spaces: dict[str, _Space] = {}
        self._lock = threading.Lock()

    def lookup(self, key: str, tokens: Sequence[int]) -> Lookup:
        """The longest live unit contained in ``tokens``; it is refreshed as used."""
        with self._lock:
            now = self.clock.now()
            space = self._space(key, now)
            lengths = [n for n in space.units if n <= len(tokens)]
            digests = prefix_digests(token_bytes(tokens[: max(lengths, default=0)]), lengths)
            for length in sorted(lengths, reverse=True):
                units = space.units[length]
                if digests[length] in units:
                    units[digests[length]] = now
                    hit = length // self.config.granularity * self.config.granularity
                    return Lookup(prompt_tokens=len(tokens), unit_tokens=length, hit_tokens=hit)
            return Lookup(prompt_tokens=len(tokens), unit_tokens=0, hit_tokens=0)

    def record(self, key: str, input_tokens: Sequence[int], output_tokens: Sequence[int] = ()) -> list[int]:
        """Persist the units a finished request leaves behind; returns their lengths, ascending."""
        with self._lock:
            now = self.clock.now()
            space = self._space(key, now)
            cfg = self.config
            packed_input = token_bytes(input_tokens)
            n_in = len(input_tokens)
            lengths = {n_in}
            if output_tokens:
                lengths.add(n_in + len(output_tokens))
            common = max((common_prefix_tokens(packed_input, old) for _, old in space.recent), default=0)
            if common >= cfg.min_common_prefix:
                lengths.add(common)
            if cfg.interval_tokens:
                lengths.update(range(cfg.interval_tokens, n_in, cfg.interval_tokens))
            lengths.discard(0)
            digests = prefix_digests(packed_input + token_bytes(output_tokens), lengths)
            for length, digest in digests.items():
                space.units.setdefault(length, {})[digest] = now
            space.recent.append((now, packed_input))
            while len(space.recent) > cfg.recent_requests:
                space.recent.popleft()
            return sorted(lengths)

    def units(self, key: str) -> list[Unit]:
        """The live units of ``key``, shortest first."""
        with self._lock:
            space = self._space(key, self.clock.now())
            return [
                Unit(tokens=n, digest=d, last_used=t)
                for n in sorted(space.units)
                for d, t in sorted(space.units[n].items())
            ]

    def cache_keys(self) -> list[str]:
        with self._lock:
            return sorted(self._spaces)

    def clear(self) -> None:
        with self._lock:
            self._spaces.clear()

    def _space(self, key: str, now: float) -> _Space:
        space = self._spaces.setdefault(key, _Space())
        ttl = self.config.ttl_s
        for length in list(space.units):
            live = {d: t for d, t in space.units[length].items() if now - t < ttl}
            if live:
                space.units[length] = live
            else:
                del space.units[length]
        while space.recent and now - space.recent[0][0] >= ttl:
            space.recent.popleft()
        return space
