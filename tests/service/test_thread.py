"""The thread's layout and its prices, as pure functions: each request extends the last, trims are rare and
stable, and a turn that extends the cached prefix is priced as the hits it gets."""

from __future__ import annotations

from dataclasses import replace

import pytest

from folio.service.plan import CacheState, PlanInputs
from folio.service.pricing import get_profile
from folio.service.thread import HistoryTurn, PrefixState, ThreadState, keep_turns, thread_digest, thread_messages
from folio.service.turn_plan import TurnInputs, estimate_turn_full, estimate_turn_rag, pace, thread_h

SEED = get_profile("deepseek-v4-flash-compat")


def _turn(n: int, tokens: int = 100) -> HistoryTurn:
    return HistoryTurn(n=n, question=f"q{n}", user_content=f"<excerpts/>\n\nQuestion: q{n}", answer=f"a{n}",
                       user_tokens=tokens, answer_tokens=tokens, question_tokens=5)


def test_each_request_is_the_previous_one_plus_its_answer_plus_the_new_message():
    history = [_turn(1), _turn(2)]
    before = thread_messages("<documents>D</documents>", history[:1], "Question: q2")
    after = thread_messages("<documents>D</documents>", history, "Question: q3")
    assert after[:len(before)] == before
    assert after[len(before)] == {"role": "assistant", "content": "a2"}
    assert before[3] == {"role": "user", "content": "Question: q1"}  # on the documents, the question alone
    bare = thread_messages(None, history, "excerpts\n\nQuestion: q3")
    assert [m["role"] for m in bare] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert bare[1]["content"] == "<excerpts/>\n\nQuestion: q1"  # bare: as sent, with its excerpts


def test_trims_drop_enough_to_leave_room_for_the_next_turns():
    history = [_turn(n) for n in range(1, 11)]  # 203 tokens each as sent, 108 on the documents
    kept, first = keep_turns(history, room=5_000, first_turn=1, base="none")
    assert first == 1 and len(kept) == 10
    kept, first = keep_turns(history, room=1_500, first_turn=1, base="none")
    assert sum(t.tokens("none") for t in kept) <= 750 and first == kept[0].n and kept[-1].n == 10
    assert keep_turns(history, room=1_500, first_turn=1, base="documents")[1] == 1  # the short history fits
    _, same = keep_turns([*history, _turn(11)], room=1_500, first_turn=first, base="none")
    assert same == first  # the next turn extends the trimmed prefix instead of trimming again


def test_the_digest_names_a_history_whitespace_aside():
    assert thread_digest([("What  is it?", "It is\nX.")]) == thread_digest([("What is it?", "It is X.")])
    assert thread_digest([("What is it?", "X")]) != thread_digest([("What is it?", "Y")])


def _inputs(**kw) -> TurnInputs:
    x = PlanInputs(system_tokens=200, scope_tokens=100_000, question_tokens=20, retrieved_tokens=2_000,
                   output_tokens=400, output_reserve=8_192, window=1_000_000, cache=CacheState(followups=3))
    base = dict(x=x, history_full=4_000, history_rag=12_000, cached_full=104_200, cached_rag=0, h_full=0.95,
                h_rag=0.0, h_documents=0.0, retention=0.95, expected_turns=3.0, answer_hits=True, new_full=False,
                new_rag=True, last_base="documents")
    base.update(kw)
    return TurnInputs(**base)


def test_a_turn_that_extends_the_cached_prefix_is_priced_as_hits():
    full = estimate_turn_full(_inputs(), SEED)
    assert full.hit_tokens == pytest.approx(0.95 * 104_200)
    assert full.miss_tokens == pytest.approx(200 + 100_004 + 4_000 + 20 - 0.95 * 104_200)
    switched = estimate_turn_full(_inputs(new_full=True, last_base="none"), SEED)
    assert switched.hit_tokens == 0 and switched.dollars > 3 * full.dollars
    assert "read cold once" in switched.note
    rag = estimate_turn_rag(_inputs(), SEED)  # a documents thread switching to retrieval: the history is cold
    rag_continuing = estimate_turn_rag(_inputs(new_rag=False, cached_rag=12_600, h_rag=0.95), SEED)
    assert rag_continuing.dollars < rag.dollars


def test_the_thread_forgets_its_cache_as_time_passes():
    state = PrefixState(sent_turns=2, cached_tokens=10_000, cached_at=1_000.0, hit_ratios=[1.0, 1.0])
    assert thread_h(state, 1_060.0) == pytest.approx(0.99)
    assert thread_h(state, 1_000.0 + 12 * 3600) < 0.3
    assert thread_h(replace(state, sent_turns=0), 1_060.0) == 0.0
    assert pace([0.0, 60.0, 120.0]) == 1.0 and pace([0.0, 10 * 3600.0]) < 0.5


def test_a_full_window_makes_whole_documents_infeasible():
    tight = _inputs(x=replace(_inputs().x, window=110_000))
    assert estimate_turn_full(tight, SEED).feasible is False


def test_both_prefixes_are_remembered_across_a_switch():
    state = ThreadState.from_dict({"base": "none", "prefixes": {
        "documents": {"documents": ["d#1"], "first_turn": 1, "cached_tokens": 50_000, "cached_at": 5.0,
                      "sent_turns": 1, "hit_ratios": []},
        "none": {"first_turn": 1, "cached_tokens": 9_000, "cached_at": 9.0, "sent_turns": 2, "hit_ratios": [1.0]}}})
    assert state.prefix("documents").extends(["d#1"], 1) and not state.prefix("documents").extends(["d#2"], 1)
    assert state.prefix("none").extends([], 1) and not state.prefix("none").extends([], 2)
    assert ThreadState.from_dict(state.to_dict()) == state and state.sent_turns == 3
