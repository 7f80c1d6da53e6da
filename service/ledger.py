"""The ledger: one record per provider request (question, warm-up, cascade step), kept in the records' database
(``folio.records.ledger_records``).

It is both the bill (tokens and dollars, by document and by scope) and the memory of the provider's cache:
what the provider reported for recent requests on a prefix, and when, gives the probability that the prefix
is still cached and how many follow-up questions a scope tends to get.
"""

from __future__ import annotations

import copy
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from folio.ingest.store import Store
from folio.records.ledger_summary import MinuteTokens, Sums
from folio.service.plan import CacheState
from folio.service.pricing import PROFILES, PricingProfile
from folio.service.retention import (
    PRIOR_RETENTION,
    cache_survival,
    hit_ratio,
    mode_switch_missed,
    retention_of,
)

SESSION_WINDOW_S = 6 * 3600.0
# Requests that ask a question on a prefix: a full-context question, or a coverage window's map question.
QUESTION_KINDS = ("question", "map")



@dataclass
class Usage:
    """A provider's usage, normalised: input split into cache hits and misses, output incl. reasoning."""

    hit_tokens: int = 0
    miss_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.hit_tokens + self.miss_tokens

    def add(self, other: Usage) -> Usage:
        return Usage(self.hit_tokens + other.hit_tokens, self.miss_tokens + other.miss_tokens,
                     self.output_tokens + other.output_tokens, self.reasoning_tokens + other.reasoning_tokens)


@dataclass(frozen=True)
class Session:
    """A scope's current session, as the ledger sees it (``Ledger.session``): its questions, the follow-ups they
    let one expect, and how much of the cache's lifetime the gaps between them leave (``survival``: the mean
    P(a prefix persisted at one question outlives the gap to the next), 1.0 without gaps)."""

    questions: int
    followups: float
    survival: float = 1.0
    last_age_s: float | None = None  # how long ago the session's last question was asked

    @property
    def system_prompt_h(self) -> float:
        """P(the system prompt is cached now): the provider persists a prefix that two requests share, so after
        two questions of the session it is, for as long as the cache keeps it; before, it is not."""
        if self.questions < 2 or self.last_age_s is None:
            return 0.0
        return PRIOR_RETENTION * cache_survival(self.last_age_s)


@dataclass
class LedgerEntry:
    kind: str  # "question", "warmup", "cascade_rag"; coverage: "map" (a window's question), "reduce"
    route: str
    prefix_hash: str | None
    doc_ids: list[str]
    doc_tokens: list[int]
    usage: Usage
    dollars: float
    estimated_dollars: float | None
    model: str
    profile: str
    prefix_tokens: int = 0
    tenant: str = "default"
    reasoning: str | None = None  # none, high or max: the thinking mode the request was sent with
    query_id: str | None = None  # the calls of one question (a warm-up, a cascade's two steps, coverage windows)
    scope_key: str | None = None  # the question's scope, whatever its route: follow-ups are counted per scope
    conversation_id: str | None = None  # a conversation turn's requests (question, rewrite, warm-up) name it
    usage_source: str = "provider"  # "estimated": the provider sent no usage (a stream cut mid-answer)
    window: int | None = None  # coverage: the window's number, of ``windows``
    windows: int | None = None
    # the rates it was billed at, USD per million tokens (``PricingProfile.per_million``): input_miss, input_hit,
    # output and cache_write_multiplier; None in entries written before they were stored
    prices: dict[str, float] | None = None
    ts: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)


class Ledger:
    """The ledger of every tenant, or, from ``for_tenant``, one tenant's view: its entries only (bill and cache
    memory alike), and every entry it records stamped with that tenant."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time,
                 prior_followups: float = 2.0) -> None:
        self.store = store
        self.records = store.ledger_records
        self.clock = clock
        self.prior_followups = prior_followups
        self.tenant: str | None = None

    def for_tenant(self, tenant: str) -> Ledger:
        view = copy.copy(self)
        view.tenant = tenant
        return view

    def record(self, entry: LedgerEntry) -> None:
        if self.tenant is not None:
            entry.tenant = self.tenant
        self.records.add(entry.to_payload())

    def entries(self, *, prefix_hash: str | None = None, scope_key: str | None = None) -> list[dict[str, Any]]:
        """Entries of this view's tenant, oldest first: all of them, or the most recent on one prefix or of one
        scope (``folio.records.ledger_records.HISTORY_LIMIT``)."""
        if prefix_hash is not None:
            return self.records.history(tenant=self.tenant, prefix_hash=prefix_hash)
        if scope_key is not None:
            return self.records.of_scope(tenant=self.tenant, scope_key=scope_key)
        return self.records.entries(tenant=self.tenant)

    def session(self, scope_key: str) -> Session:
        """The scope's current session: its questions so far (any route), the follow-ups they let one expect,
        and the retention learned from the gaps between them. One read of the ledger, for a whole plan."""
        times = self._session_questions(scope_key, self.clock())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        survival = sum(map(cache_survival, gaps)) / len(gaps) if gaps else 1.0
        return Session(questions=len(times), followups=max(self.prior_followups, float(len(times))),
                       survival=survival, last_age_s=self.clock() - times[-1] if times else None)

    def cache_state(self, prefix_hash: str, *, scope_key: str | None = None, session: Session | None = None,
                    reasoning: str | None = None) -> CacheState:
        """P(prefix cached now), P(it stays cached for the next question) and the expected follow-ups.

        ``h`` comes from what the provider reported on this prefix, the retention from the same reports (a Beta
        posterior, ``Retention``), both bounded by the cache's lifetime (``cache_survival``). The follow-ups
        come from the questions on the scope (``session``, or read here for ``scope_key``), whatever their
        route: a session of retrieval questions is as much a session as one of full-context questions, and it
        is the session that a warm-up would serve from now on.

        The prefix is what precedes the question, whatever the thinking mode (``reasoning``): in DeepSeek's
        chat template the switch changes only what follows the last user turn. Whether the provider agrees is
        learned from the bill: once a request in another mode missed a prefix that was cached, each mode's
        requests count apart (``mode_split``), and the plan says so."""
        # in the order they were sent; a warm-up goes before the question it served when their times tie
        history = sorted(self.records.cache_history(tenant=self.tenant, prefix_hash=prefix_hash),
                         key=lambda e: (e["ts"], e["kind"] != "warmup"))
        now = self.clock()
        if session is None and scope_key:
            session = self.session(scope_key)
        scoped = session is not None
        session = session or Session(questions=0, followups=self.prior_followups)
        followups = session.followups
        mode_split = mode_switch_missed(history)
        if mode_split and reasoning is not None:
            history = [e for e in history if e.get("reasoning") in (reasoning, None)]
        retention = retention_of(history)
        if not history:
            return CacheState(h=0.0, followups=followups, retention=retention.mean * session.survival,
                              session_questions=session.questions, mode_split=mode_split,
                              retention_evidence=retention.explain())
        last = history[-1]
        age = max(0.0, now - last["ts"])
        decay = cache_survival(age)
        observed = hit_ratio(last)
        # The provider persists a unit at the end of each request's input. After a warm-up ([system,
        # documents]) every question on the prefix hits. Without one, a question's unit includes the
        # question, and only the second request lets the provider notice the common prefix, which may end
        # inside the questions' shared first words (DESIGN.md): likely, not certain. What the provider
        # reported for the last request overrides both: a question that missed after a warm-up means the
        # provider dropped the prefix, so the next question warms it again.
        questions = sum(e["kind"] in QUESTION_KINDS for e in history)
        if last["kind"] == "warmup" or (observed is not None and observed >= 0.5):
            h = retention.mean * decay
        elif observed is not None:
            h = 0.0
        elif any(e["kind"] == "warmup" for e in history):
            h = retention.mean * decay
        elif questions >= 2 and observed is None:
            h = 0.5 * decay
        else:
            h = 0.0
        if not scoped:  # no scope given: the questions on this prefix are the session
            recent = [e for e in history if now - e["ts"] <= SESSION_WINDOW_S and e["kind"] in QUESTION_KINDS]
            followups = max(self.prior_followups, float(len(recent)))
        return CacheState(h=h, followups=followups, last_seen_s=age, observed_hit_ratio=observed,
                          requests=len(history), retention=retention.mean * session.survival,
                          session_questions=session.questions, mode_split=mode_split,
                          retention_evidence=retention.explain())

    def prompt_seen(self, prompt_hash: str) -> float:
        """P(a prompt identical to one sent before is read from the cache): the provider persists the end of
        every request's input, so an identical retrieval prompt hits in full while the cache keeps it."""
        last = self.records.last_seen(tenant=self.tenant, prefix_hash=prompt_hash)
        return PRIOR_RETENTION * cache_survival(max(0.0, self.clock() - last)) if last is not None else 0.0

    def memory(self, scope_key: str) -> CacheMemory:
        """What one plan reads of the ledger: the scope's session, and each prefix's history, once."""
        return CacheMemory(self, self.session(scope_key))

    def _session_questions(self, scope_key: str, now: float) -> list[float]:
        """When each question of the scope's current session was asked (one time per question, however many
        requests it took): the questions within ``SESSION_WINDOW_S`` of the one after them."""
        first: dict[str, float] = {}
        for e in self.records.session_history(tenant=self.tenant, scope_key=scope_key):
            if e["kind"] in ("warmup", "reduce"):
                continue
            qid = e.get("query_id") or e["id"]
            first[qid] = min(first.get(qid, e["ts"]), e["ts"])
        times = sorted(first.values())
        session: list[float] = []
        later = now
        for ts in reversed(times):
            if later - ts > SESSION_WINDOW_S:
                break
            session.append(ts)
            later = ts
        return session[::-1]

    def summary(self, current: PricingProfile | None = None) -> dict[str, Any]:
        """Spend so far: totals, by route, document, scope and pricing profile, and, given the ``current``
        profile, the whole ledger re-priced at it.

        Each entry is billed at the profile in force when it was made; after a switch of profile (a changed
        ``FOLIO_PRICING_PROFILE``) the totals add dollars at both, so ``by_profile`` shows what was billed at each
        (with the rates, where the entries stored them) and ``totals_at_current_prices`` what the same tokens cost
        at ``current``'s rates (at each entry's time of day, where the profile has such rates).

        A request about several documents counts as one whole request for each of them (``shared_requests``
        says how many of a document's requests were so shared), while its tokens and dollars are split between
        them by each one's share of the scope's tokens: the documents' dollars add up to the total, their
        request counts may add up to more."""
        sums = self.records.summary_sums(tenant=self.tenant)
        groups = sums.groups
        total = sums.total()
        out: dict[str, Any] = {
            "totals": _shown(total),
            "by_profile": {k: {**_shown(v), "usd_per_million": _known_rates(k, sums.rates)}
                           for k, v in sorted(groups["profile"].items())},
        }
        if current is not None:
            repriced = replace(total, dollars=_repriced(current, sums.minutes))
            out["totals_at_current_prices"] = {**_shown(repriced), "profile": current.name}
        # as the summary counted them before it was a query: estimated requests only in the totals and by profile
        for name, dimension in (("by_route", "route"), ("by_document", "document"), ("by_scope", "scope"),
                                ("by_conversation", "conversation")):
            out[name] = {k: _shown(v, estimated=False) for k, v in sorted(groups[dimension].items())}
        return out


def _shown(sums: Sums, *, estimated: bool = True) -> dict[str, float]:
    """One group's totals as the summary shows them: whole tokens, dollars to 1e-8."""
    return {"requests": sums.requests, "shared_requests": sums.shared, "hit_tokens": round(sums.hit_tokens),
            "miss_tokens": round(sums.miss_tokens), "output_tokens": round(sums.output_tokens),
            "dollars": round(sums.dollars, 8), "estimated_requests": sums.estimated if estimated else 0}


def _repriced(current: PricingProfile, minutes: list[MinuteTokens]) -> float:
    """Every request's tokens priced at ``current``'s rates in force at its minute of the day (UTC)."""
    dollars = 0.0
    for m in minutes:
        at = datetime(2000, 1, 1, m.minute_of_day // 60, m.minute_of_day % 60, tzinfo=UTC)
        dollars += current.dollars(hit_tokens=m.hit_tokens, miss_tokens=m.miss_tokens,
                                   output_tokens=m.output_tokens, at=at)
    return dollars


# the order ``PricingProfile.per_million`` writes rates in: the summary shows stored rates in it whatever order the
# database keeps JSON keys in (PostgreSQL's JSONB has its own)
_RATES = ("input_miss", "input_hit", "output", "cache_write_multiplier")


def _known_rates(profile: str, stored: dict[str, dict[str, float]]) -> dict[str, float] | None:
    """The rates a profile's entries were billed at: as the latest of them stored them, else the profile's own
    rates when Folio knows it (entries written before rates were stored), else None."""
    if profile in stored:
        rates = stored[profile]
        return {**{name: rates[name] for name in _RATES if name in rates}, **rates}
    known = PROFILES.get(profile)
    return known.per_million() if known else None


class CacheMemory:
    """The ledger as one plan reads it: the scope's session, read once, and each prefix's cache state, read the
    first time the plan asks for it (full context over the scope, over a subset that fits, each coverage window;
    a window of whole documents is the full-context prefix, read once for both)."""

    def __init__(self, ledger: Ledger, session: Session) -> None:
        self.ledger = ledger
        self.session = session
        self._states: dict[tuple[str, str | None], CacheState] = {}

    def cache_state(self, prefix_hash: str, reasoning: str | None = None) -> CacheState:
        key = (prefix_hash, reasoning)
        if key not in self._states:
            self._states[key] = self.ledger.cache_state(prefix_hash, session=self.session, reasoning=reasoning)
        return self._states[key]
