"""Routing replay: sessions of questions on one scope, asked through Folio's ``Answerer`` against the provider double.

A session is the questions of one scope in file order: one contract (cuad), one filing (financebench), a company's
four filings (sec10q). Between questions the clocks move by a realistic gap (seeded: a minute or two of reading
and typing, now and then a break of hours that outlives the provider's cache); between sessions, a day. Both
clocks move together: the double's prefix cache (DeepSeek's documented rules, a TTL of an hour) and Folio's
ledger, which estimates from what the provider reported whether a prefix is still cached.

Strategies: ``always-rag`` (mode=rag), ``always-full`` (mode=full; a scope over the window falls back to the most
relevant whole documents that fit), ``auto`` (Folio's router), ``auto-weak`` (auto with the weak-retrieval
rule, ``Settings.weak_retrieval_full``, off by default: what reading whole documents when retrieval looks weak
buys), ``auto-premium``
(auto with a lookup premium of a tenth of a cent: a lookup reads whole documents when they cost at most
that much more), ``self-route`` (auto with the cascade: retrieval first, whole documents when the model says the
chunks cannot answer) and, for scopes over the window, ``always-coverage`` (mode=coverage).
The double is not a language model: it says "not found" only when no
passage shares a word with the question, so Self-Route's judgment is played by an oracle, the best any model could
do: the answer to the retrieval step is "not found" exactly when the retrieved chunks lack some gold evidence.

Each run starts from an empty ledger and an empty provider cache. Per question it records the route, the pages
the context held (evidence coverage against the gold pages), the provider's usage, and dollars under both the
seed's prices and DeepSeek's own. Forced strategies decide the same whatever the prices, so they run once and are
priced under both profiles; auto and self-route run once per profile, because prices change their decisions.

The double is ``folio.testing.provider``, run in this process on loopback.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from folio.config import Settings
from folio.evaluation.data import EvalQuestion
from folio.evaluation.metrics import evidence_coverage, merge_context
from folio.ingest.embed import Embedder
from folio.ingest.store import Store
from folio.ingest.tokens import deepseek_counter
from folio.service.answer import Answerer, QueryRequest
from folio.service.context import NOT_FOUND as NOT_FOUND_TEXT
from folio.service.ledger import Ledger, LedgerEntry
from folio.service.llm import LLMClient
from folio.service.pricing import get_profile
from folio.testing.provider import DoubleConfig, Fault, RunningDouble, run_provider_double

PROFILES = ("deepseek-v4-flash-compat", "deepseek-api")
STRATEGIES = ("always-rag", "always-full", "auto", "auto-weak", "auto-premium", "self-route")
# auto-premium: auto with a lookup premium (``lookup_premium_usd``): what a user who would rather not depend on
# the retrieved chunks might pay per question for whole documents; a tenth of a cent.
LOOKUP_PREMIUM_USD = 0.001
OVER_WINDOW_STRATEGIES = (*STRATEGIES, "always-coverage")
FORCED = {"always-rag": "rag", "always-full": "full", "always-coverage": "coverage"}
SESSION_BREAK_S = 24 * 3600.0
DOUBLE_TTL_S = 3600.0


@dataclass
class Session:
    """One scope and the questions asked on it, in order."""

    name: str
    scenario: str
    files: list[str]
    questions: list[EvalQuestion]


@dataclass
class Scenario:
    name: str
    set_name: str
    description: str
    sessions: list[Session]
    context_window: int | None = None  # a smaller window makes the scope larger than the context
    strategies: tuple[str, ...] = STRATEGIES


def sessions_for(set_name: str, questions: Sequence[EvalQuestion], *, per_session: int | None = None,
                 limit_sessions: int | None = None) -> list[Session]:
    """cuad: a contract; financebench: a filing; sec10q: a company's four filings (questions in file order;
    ``per_session`` keeps that many, evenly spaced)."""
    groups: dict[str, list[EvalQuestion]] = {}
    files: dict[str, list[str]] = {}
    for q in questions:
        if set_name == "sec10q":
            if q.company is None:
                continue
            key = q.company
        else:
            key = q.docs[0]
        groups.setdefault(key, []).append(q)
        files.setdefault(key, [])
        for d in q.docs:
            if d not in files[key]:
                files[key].append(d)
    if set_name == "sec10q":  # the company's four filings, whatever a question names
        for key in groups:
            files[key] = sorted({d for q in questions if q.company == key for d in q.docs})
    out = [Session(name=key, scenario=set_name, files=sorted(files[key]), questions=spread(qs, per_session))
           for key, qs in sorted(groups.items())]
    return out[:limit_sessions]


def spread(items: Sequence[EvalQuestion], n: int | None) -> list[EvalQuestion]:
    """At most ``n`` of ``items``, evenly spaced and in order (the files group questions by type)."""
    if n is None or len(items) <= n:
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def gaps(seed: str, n: int) -> list[float]:
    """Seconds before each of ``n`` questions after the first: lognormal around 90 s (reading, typing), and with
    probability 0.1 a break of 1.5 to 8 hours (lunch, a meeting, the next day) that outlives the cache."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.1:
            out.append(rng.uniform(1.5, 8.0) * 3600)
        else:
            out.append(min(1800.0, rng.lognormvariate(math.log(90.0), 0.8)))
    return out


class ReplayClock:
    """Simulated time, shared by the double's cache and Folio's ledger."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


class ReplayLedger(Ledger):
    """The service's ledger, stamping entries with the replay's clock (the service stamps wall time)."""

    def record(self, entry: LedgerEntry) -> None:
        entry.ts = self.clock()
        super().record(entry)


def memory_store() -> Store:
    """An in-memory Qdrant for one run's ledger: every run starts with an empty ledger."""
    from qdrant_client import QdrantClient

    return Store(QdrantClient(location=":memory:"))


@dataclass
class RunResult:
    scenario: str
    strategy: str
    profile: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def context_of(result: dict[str, Any], by_id: dict[str, str]) -> dict[str, set[int] | None]:
    """Pages the model was sent for one answered question, by file name (``None``: the whole document)."""
    retrieved: dict[str, set[int] | None] = {}
    for h in result.get("retrieved") or []:
        pages = retrieved.setdefault(by_id.get(h["document_id"], h["document_id"]), set())
        assert pages is not None
        pages.update(range(int(h["first_page"]), int(h["last_page"]) + 1))
    route = result["route"]
    escalated = any(e.get("kind") == "escalation" for e in result.get("events", []))
    if route == "rag":
        return retrieved
    if route == "full":
        whole: dict[str, set[int] | None] = {by_id.get(d, d): None for d in result["plan"]["full_scope"]}
        return merge_context(whole, retrieved) if escalated else whole
    if route == "coverage":
        sent: dict[str, set[int] | None] = {}
        for window in (result.get("coverage") or {}).get("per_window", []):
            if window.get("status") not in ("found", "nothing"):
                continue
            for seg in window.get("documents", []):
                first, last = (int(x) for x in str(seg["pages"]).split("-"))
                part = {by_id.get(seg["document_id"], seg["document_id"]): set(range(first - 1, last))}
                sent = merge_context(sent, part)
        return sent
    return {}


def _silver_coverage(q: EvalQuestion, context: dict[str, set[int] | None]) -> float | None:
    if not q.silver:
        return None
    return evidence_coverage(dict(q.silver), context)


class Replayer:
    """Plays scenarios through one running provider double, strategy by strategy."""

    def __init__(self, *, store: Store, embedder: Embedder, ids: dict[str, str], base_settings: Settings,
                 log: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.ids = ids
        self.by_id = {v: k for k, v in ids.items()}
        self.base_settings = base_settings
        self.log = log or (lambda message: None)
        self.counter = deepseek_counter()
        self.pages = {self.by_id[r.id]: r.n_pages for r in store.list_documents() if r.id in self.by_id}

    def run(self, scenario: Scenario, strategy: str, profile: str) -> RunResult:
        clock = ReplayClock()
        config = DoubleConfig(ttl_s=DOUBLE_TTL_S, clock=clock,
                              context_window=max(1_048_576, (scenario.context_window or 0) + 65_536))
        started = time.perf_counter()
        out = RunResult(scenario=scenario.name, strategy=strategy, profile=profile)
        with run_provider_double(config) as double:
            overrides: dict[str, Any] = {"llm_base_url": double.base_url, "llm_api_key": "test",
                                         "pricing_profile": profile}
            if scenario.context_window:
                overrides["context_window"] = scenario.context_window
            if strategy == "auto-weak":
                overrides["weak_retrieval_full"] = True
            settings = self.base_settings.model_copy(update=overrides)
            ledger_store = memory_store()
            ledger = ReplayLedger(ledger_store, clock=clock, prior_followups=settings.expected_followups)
            llm = LLMClient(base_url=double.base_url, api_key="test", model=settings.llm_model, timeout_s=120,
                            max_retries=1, user_id=settings.llm_user_id, sleep=lambda s: None)
            answerer = Answerer(store=self.store, embedder=lambda: self.embedder, settings=settings, ledger=ledger,
                                llm=llm, counter=self.counter, prices=get_profile(profile))
            for session in scenario.sessions:
                clock.advance(SESSION_BREAK_S)
                waits = [0.0, *gaps(f"{scenario.name}:{session.name}", len(session.questions) - 1)]
                for q, wait in zip(session.questions, waits, strict=True):
                    clock.advance(wait)
                    out.rows.append(self._ask(answerer, double, session, q, strategy, wait))
            ledger_store.close()
        out.seconds = time.perf_counter() - started
        return out

    def _ask(self, answerer: Answerer, double: RunningDouble, session: Session, q: EvalQuestion, strategy: str,
             wait: float) -> dict[str, Any]:
        doc_ids = [self.ids[f] for f in session.files]
        mode = FORCED.get(strategy, "auto")
        request = QueryRequest(question=q.text, documents=doc_ids, mode=mode,  # type: ignore[arg-type]
                               cascade=strategy == "self-route",
                               lookup_premium_usd=LOOKUP_PREMIUM_USD if strategy == "auto-premium" else None)
        oracle_not_found = False
        if strategy == "self-route":
            plan = answerer.plan(request)
            if plan.decision.route == "rag":
                chunks: dict[str, set[int] | None] = {}
                for h in plan.hits:
                    pages = chunks.setdefault(self.by_id.get(h.doc_id, h.doc_id), set())
                    assert pages is not None
                    pages.update(range(h.first_page, h.last_page + 1))
                if evidence_coverage(q.gold, chunks) < 1.0:
                    oracle_not_found = True
                    double.state.faults.extend([double_fault(NOT_FOUND_TEXT)])
        result = answerer.answer(request).model_dump(mode="json", by_alias=True)
        double.state.faults.clear()
        context = context_of(result, self.by_id)
        usage = result.get("usage") or {}
        cov = evidence_coverage(q.gold, context)
        return {
            "id": q.id, "session": session.name, "group": q.group, "trivial": q.trivial, "gap_s": round(wait, 1),
            "route": result["route"], "planned": result["plan"]["route"], "reason": str(result["reason"])[:240],
            "estimates": {r: round(float(result["plan"]["estimates"][r]["dollars"]), 8)
                          for r in ("rag", "full") if r in result["plan"]["estimates"]},
            "escalated": any(e.get("kind") == "escalation" for e in result.get("events", [])),
            "oracle_not_found": oracle_not_found,
            "double_not_found": str(result.get("answer") or "").startswith(NOT_FOUND_TEXT[:30]),
            "coverage": round(cov, 4), "full_coverage": cov >= 1.0 - 1e-9,
            "silver_coverage": _silver_coverage(q, context),
            "context_pages": sum(len(p) if p is not None else self.pages.get(d, 0) for d, p in context.items()),
            "hit_tokens": int(usage.get("hit_tokens", 0)), "miss_tokens": int(usage.get("miss_tokens", 0)),
            "output_tokens": int(usage.get("output_tokens", 0)),
            "dollars": {p: round(get_profile(p).dollars(hit_tokens=int(usage.get("hit_tokens", 0)),
                                                        miss_tokens=int(usage.get("miss_tokens", 0)),
                                                        output_tokens=int(usage.get("output_tokens", 0))), 8)
                        for p in PROFILES},
        }


def double_fault(text: str) -> Fault:
    """A scripted reply for the double's next request (its ``reply`` fault)."""
    return Fault(kind="reply", text=text)


def summarize_run(run: RunResult) -> dict[str, Any]:
    rows = run.rows
    n = len(rows)
    hit = sum(r["hit_tokens"] for r in rows)
    prompt = hit + sum(r["miss_tokens"] for r in rows)
    routes: dict[str, int] = {}
    for r in rows:
        routes[r["route"]] = routes.get(r["route"], 0) + 1
    silver = [r["silver_coverage"] for r in rows if r["silver_coverage"] is not None]
    return {
        "scenario": run.scenario, "strategy": run.strategy, "profile": run.profile, "questions": n,
        "dollars": {p: round(sum(r["dollars"][p] for r in rows), 6) for p in PROFILES},
        "dollars_per_question": {p: round(sum(r["dollars"][p] for r in rows) / n, 6) if n else None
                                 for p in PROFILES},
        "coverage": round(sum(r["coverage"] for r in rows) / n, 4) if n else None,
        "fully_covered": round(sum(r["full_coverage"] for r in rows) / n, 4) if n else None,
        "silver_coverage": round(sum(silver) / len(silver), 4) if silver else None,
        "cache_hit_rate": round(hit / prompt, 4) if prompt else None,
        "prompt_tokens": prompt, "hit_tokens": hit,
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "routes": routes,
        "escalations": sum(r["escalated"] for r in rows),
        "oracle_not_found": sum(r["oracle_not_found"] for r in rows),
        "double_not_found": sum(r["double_not_found"] for r in rows),
        "seconds": round(run.seconds, 1),
    }
