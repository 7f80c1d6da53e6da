"""The ledger as the memory of a scope's session: follow-ups counted per scope, whatever the route, and the
retention learned from the gaps between questions (local-mode Qdrant in memory)."""

from __future__ import annotations

import pytest
from qdrant_client import QdrantClient

from folio.ingest.store import Store
from folio.service.billing import Bill
from folio.service.context import scope_key
from folio.service.ledger import SESSION_WINDOW_S, Ledger, LedgerEntry, Usage
from folio.service.pricing import get_profile
from folio.service.retention import CACHE_SURE_S, PRIOR_RETENTION, PRIOR_WEIGHT

SCOPE = scope_key(["doc-a", "doc-b"])
PREFIX = "prefix-of-doc-a-and-doc-b"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ledger() -> tuple[Ledger, Clock]:
    clock = Clock()
    return Ledger(Store(QdrantClient(location=":memory:")), clock=clock, prior_followups=2.0), clock


def _ask(ledger: Ledger, clock: Clock, *, route: str = "rag", kind: str = "question", query_id: str | None = None,
         scope: str = SCOPE, hit: int = 0, prefix_tokens: int = 0) -> None:
    ledger.record(LedgerEntry(
        kind=kind, route=route, prefix_hash=PREFIX if route == "full" else None, doc_ids=["doc-a", "doc-b"],
        doc_tokens=[10, 10], usage=Usage(hit_tokens=hit, miss_tokens=100), dollars=0.001, estimated_dollars=None,
        model="m", profile="p", prefix_tokens=prefix_tokens, query_id=query_id, scope_key=scope, ts=clock.now))


def test_retrieval_questions_count_as_the_scope_s_session(ledger):
    book, clock = ledger
    assert book.cache_state(PREFIX, scope_key=SCOPE).followups == 2.0  # the prior, with no history
    for _ in range(5):
        _ask(book, clock)
        clock.now += 90
    state = book.cache_state(PREFIX, scope_key=SCOPE)
    # five retrieval questions: the prefix was never sent (cold), but the session expects five more questions
    assert state.h == 0.0 and state.requests == 0
    assert state.session_questions == 5 and state.followups == 5.0
    assert state.retention == pytest.approx(PRIOR_RETENTION)  # every gap well inside the cache's lifetime
    assert "5 questions on this scope" in state.explain()
    # another scope's questions are not this session's
    assert book.cache_state(PREFIX, scope_key=scope_key(["doc-c"])).session_questions == 0


def test_one_question_is_counted_once_however_many_requests_it_took(ledger):
    book, clock = ledger
    # a Self-Route question: the retrieval step, then a warm-up and the full-context step, one query id
    _ask(book, clock, query_id="q1")
    _ask(book, clock, route="full", kind="warmup", query_id="q1", prefix_tokens=1_000)
    _ask(book, clock, route="full", query_id="q1", hit=1_000, prefix_tokens=1_000)
    clock.now += 60
    state = book.cache_state(PREFIX, scope_key=SCOPE)
    assert state.session_questions == 1
    # the provider reported the prefix as cached a minute ago, right after the warm-up: one outcome, a hit
    assert state.h == pytest.approx((PRIOR_RETENTION * PRIOR_WEIGHT + 1) / (PRIOR_WEIGHT + 1))


def test_long_gaps_lower_the_retention_and_a_day_ends_the_session(ledger):
    book, clock = ledger
    _ask(book, clock)
    clock.now += 60
    _ask(book, clock)
    clock.now += CACHE_SURE_S + 3 * 3600  # a break that likely outlives the provider's cache
    _ask(book, clock)
    clock.now += 30
    state = book.cache_state(PREFIX, scope_key=SCOPE)
    assert state.session_questions == 3
    assert 0.5 < state.retention < PRIOR_RETENTION
    clock.now += SESSION_WINDOW_S + 1  # the next morning: a new session, the prior again
    fresh = book.cache_state(PREFIX, scope_key=SCOPE)
    assert fresh.session_questions == 0 and fresh.followups == 2.0 and fresh.retention == PRIOR_RETENTION


def test_tenants_do_not_share_sessions(ledger):
    book, clock = ledger
    for _ in range(4):
        _ask(book.for_tenant("acme"), clock)
    assert book.for_tenant("acme").cache_state(PREFIX, scope_key=SCOPE).session_questions == 4
    assert book.for_tenant("other").cache_state(PREFIX, scope_key=SCOPE).session_questions == 0


def test_spend_by_document_counts_whole_requests_and_splits_dollars(ledger):
    """A request about two documents counts once for each (and is marked shared), while its dollars are split by
    token share and still add up to the total: no 5.74 requests (issue 21)."""
    book, clock = ledger
    for _ in range(3):
        _ask(book, clock)  # about doc-a and doc-b, 10 tokens each
    book.record(LedgerEntry(kind="question", route="rag", prefix_hash=None, doc_ids=["doc-a"], doc_tokens=[10],
                            usage=Usage(miss_tokens=100), dollars=0.004, estimated_dollars=None, model="m",
                            profile="p", scope_key=scope_key(["doc-a"]), ts=clock.now))
    summary = book.summary()
    a, b = summary["by_document"]["doc-a"], summary["by_document"]["doc-b"]
    assert (a["requests"], a["shared_requests"]) == (4, 3)
    assert (b["requests"], b["shared_requests"]) == (3, 3)
    assert isinstance(a["requests"], int) and summary["totals"]["requests"] == 4
    assert a["dollars"] == pytest.approx(0.0055) and b["dollars"] == pytest.approx(0.0015)
    assert a["dollars"] + b["dollars"] == pytest.approx(summary["totals"]["dollars"])


def _full(ledger: Ledger, clock: Clock, *, kind: str = "question", hit: int, reasoning: str | None = "none",
          prefix_tokens: int = 1_000) -> None:
    ledger.record(LedgerEntry(
        kind=kind, route="full", prefix_hash=PREFIX, doc_ids=["doc-a", "doc-b"], doc_tokens=[500, 500],
        usage=Usage(hit_tokens=hit, miss_tokens=prefix_tokens - hit + 20), dollars=0.001, estimated_dollars=None,
        model="m", profile="p", prefix_tokens=prefix_tokens, scope_key=SCOPE, reasoning=reasoning, ts=clock.now))


def test_retention_is_learned_from_the_bills_and_rises_past_the_prior(ledger):
    """30 questions that all hit after a warm-up: P(cached) and the retention rise above the prior, as a Beta
    posterior does; a miss brings them down; the cache's lifetime bounds them whatever the evidence."""
    book, clock = ledger
    _full(book, clock, kind="warmup", hit=0)
    for _ in range(30):
        clock.now += 60
        _full(book, clock, hit=1_000)
    clock.now += 60
    state = book.cache_state(PREFIX, scope_key=SCOPE)
    expected = (PRIOR_RETENTION * PRIOR_WEIGHT + 30) / (PRIOR_WEIGHT + 30)
    assert state.h == pytest.approx(expected) and state.h > 0.97
    assert state.retention == pytest.approx(expected)  # the session's gaps are all well inside the lifetime
    assert "30 of 30 requests that should have hit did" in state.explain()
    _full(book, clock, hit=0)  # the provider dropped it: the next question must warm it again
    dropped = book.cache_state(PREFIX, scope_key=SCOPE)
    assert dropped.h == 0.0 and dropped.retention == pytest.approx((PRIOR_RETENTION * PRIOR_WEIGHT + 30) / 51)
    _full(book, clock, kind="warmup", hit=0)
    clock.now += 10 * 3600  # ten hours of disuse: the lifetime bounds it
    assert book.cache_state(PREFIX, scope_key=SCOPE).h < 0.35


def test_a_change_of_thinking_mode_shares_the_prefix_until_a_bill_says_otherwise(ledger):
    book, clock = ledger
    _full(book, clock, kind="warmup", hit=0)
    clock.now += 30
    _full(book, clock, hit=1_000)
    clock.now += 30
    # the prefix is what precedes the question: a question in another mode expects it cached
    high = book.cache_state(PREFIX, scope_key=SCOPE, reasoning="high")
    assert high.h > 0.9 and not high.mode_split
    # the provider disagrees: a 'high' question missed the cached prefix
    _full(book, clock, hit=0, reasoning="high")
    clock.now += 30
    split_high = book.cache_state(PREFIX, scope_key=SCOPE, reasoning="high")
    assert split_high.mode_split and split_high.h == 0.0
    assert "change of thinking mode missed this prefix" in split_high.explain()
    split_none = book.cache_state(PREFIX, scope_key=SCOPE, reasoning="none")
    assert split_none.mode_split and split_none.h > 0.9  # 'none' kept its own cached prefix


def test_a_ledger_at_two_pricing_profiles_shows_each_and_reprices_the_whole(ledger):
    """After FOLIO_PRICING_PROFILE changed, the totals add dollars at two sets of prices: the summary shows what
    was billed at each profile, with its rates, and the whole at the current one (issue 21, item 3)."""
    book, clock = ledger
    seed, api = get_profile("deepseek-v4-flash-compat"), get_profile("deepseek-api")
    for prices, usage in ((seed, Usage(hit_tokens=1_000_000, miss_tokens=2_000_000, output_tokens=500_000)),
                          (api, Usage(miss_tokens=1_000_000, output_tokens=1_000_000))):
        bill = Bill(book, prices, tenant="default", query_id=prices.name, scope_key=SCOPE)
        bill.charge("question", usage, model="m", route="rag", doc_ids=["doc-a"], doc_tokens=[10], estimated=None)
        bill.write()
        clock.now += 60
    # by hand, USD per million: seed 0.18 miss, 0.04 hit, 0.36 output; DeepSeek's API 0.28, 0.0056, 0.42
    at_seed = 1 * 0.04 + 2 * 0.18 + 0.5 * 0.36  # 0.58, the first request as billed
    at_api = 1 * 0.28 + 1 * 0.42  # 0.70, the second as billed
    first_at_api = 1 * 0.0056 + 2 * 0.28 + 0.5 * 0.42  # 0.7756, the first re-priced
    second_at_seed = 1 * 0.18 + 1 * 0.36  # 0.54, the second re-priced
    summary = book.summary(current=api)
    assert summary["totals"]["dollars"] == pytest.approx(at_seed + at_api)  # today's field, unchanged: mixed
    by_profile = summary["by_profile"]
    assert list(by_profile) == ["deepseek-api", "deepseek-v4-flash-compat"]
    assert by_profile["deepseek-v4-flash-compat"]["dollars"] == pytest.approx(at_seed)
    assert by_profile["deepseek-api"]["dollars"] == pytest.approx(at_api)
    assert by_profile["deepseek-api"]["requests"] == by_profile["deepseek-v4-flash-compat"]["requests"] == 1
    assert by_profile["deepseek-v4-flash-compat"]["usd_per_million"] == {
        "input_miss": 0.18, "input_hit": 0.04, "output": 0.36, "cache_write_multiplier": 1.0}
    repriced = summary["totals_at_current_prices"]
    assert repriced["profile"] == "deepseek-api" and repriced["requests"] == 2
    assert repriced["dollars"] == pytest.approx(first_at_api + at_api)  # 1.4756
    assert repriced["hit_tokens"] == 1_000_000 and repriced["miss_tokens"] == 3_000_000
    assert book.summary(current=seed)["totals_at_current_prices"]["dollars"] == pytest.approx(at_seed + second_at_seed)
    # each entry keeps the rates it was billed at
    stored = {e["profile"]: e["prices"] for e in book.entries()}
    assert stored["deepseek-api"] == {"input_miss": 0.28, "input_hit": 0.0056, "output": 0.42,
                                      "cache_write_multiplier": 1.0}
