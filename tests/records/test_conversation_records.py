"""Conversations and their turns in SQL, on SQLite and PostgreSQL: one turn at a time per thread (across
replicas), turns written with the thread's state in one transaction, tenants kept apart."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from folio.errors import ConversationBusy, ConversationNotFound
from folio.records.conversation_records import ConversationRecords
from folio.records.database import Database


def _turn(records: ConversationRecords, conversation_id: str, token: str, question: str, *,
          tenant: str = "default", digest: str = "d") -> None:
    written = records.add_turn(conversation_id, token, tenant=tenant, route="full", dollars=0.25,
                               thread_digest=digest, data={"question": question}, thread={"base": "documents"})
    assert written is not None


def test_a_conversation_keeps_its_turns_in_order(databases: Callable[[], Database]) -> None:
    records = ConversationRecords(databases())
    made = records.create(tenant="default", title="", scope=["a" * 64])
    for n, question in enumerate(("one?", "two?", "three?"), 1):
        _turn(records, made.id, records.claim(made.id, tenant="default"), question, digest=f"d{n}")
    again = ConversationRecords(databases())  # another replica's pool
    row = again.get(made.id, tenant="default")
    assert row.turns == 3 and row.dollars == pytest.approx(0.75) and row.thread == {"base": "documents"}
    assert row.scope == ["a" * 64] and row.last == {"question": "three?", "route": "full"}
    assert [t.data["question"] for t in again.turns(made.id, tenant="default")] == ["one?", "two?", "three?"]
    assert [t.n for t in again.turns(made.id, tenant="default", first=2)] == [2, 3]
    assert again.find_by_digest("d3", tenant="default") == (made.id, 3)
    assert again.find_by_digest("d2", tenant="default") is None  # not its latest turn: a fork starts anew
    assert again.delete(made.id, tenant="default") == 3
    with pytest.raises(ConversationNotFound):
        again.turns(made.id, tenant="default")


def test_one_turn_at_a_time_across_replicas(databases: Callable[[], Database]) -> None:
    first, second = ConversationRecords(databases()), ConversationRecords(databases())
    made = first.create(tenant="default", title="t", scope=None)
    token = first.claim(made.id, tenant="default")
    with pytest.raises(ConversationBusy) as busy:
        second.claim(made.id, tenant="default")
    assert busy.value.code == "conversation_busy" and busy.value.http_status == 409
    _turn(first, made.id, token, "q?")
    assert first.add_turn(made.id, token, tenant="default", route="rag", dollars=0.0, thread_digest="x",
                          data={"question": "late?"}, thread={}) is None  # a used claim writes nothing
    token = second.claim(made.id, tenant="default")  # free again once the turn is written
    second.release(made.id, token)
    stale = first.claim(made.id, tenant="default")
    taken = second.claim(made.id, tenant="default", stale_after_s=-1)  # a claim older than its lifetime
    assert first.add_turn(made.id, stale, tenant="default", route="rag", dollars=0.0, thread_digest="x",
                          data={"question": "lost?"}, thread={}) is None
    _turn(second, made.id, taken, "kept?")
    assert [t.data["question"] for t in first.turns(made.id, tenant="default")] == ["q?", "kept?"]


def test_claims_race_and_exactly_one_wins(databases: Callable[[], Database]) -> None:
    replicas = [ConversationRecords(databases()) for _ in range(4)]
    made = replicas[0].create(tenant="default", title="t", scope=None)
    won: list[str] = []
    lost: list[str] = []
    barrier = threading.Barrier(len(replicas))

    def race(records: ConversationRecords) -> None:
        barrier.wait()
        try:
            won.append(records.claim(made.id, tenant="default"))
        except ConversationBusy:
            lost.append("busy")

    threads = [threading.Thread(target=race, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(lost) == len(replicas) - 1


def test_another_tenant_cannot_see_or_touch_it(databases: Callable[[], Database]) -> None:
    records = ConversationRecords(databases())
    made = records.create(tenant="alpha", title="mine", scope=None)
    _turn(records, made.id, records.claim(made.id, tenant="alpha"), "q?", tenant="alpha", digest="dd")
    for act in (lambda: records.get(made.id, tenant="beta"), lambda: records.claim(made.id, tenant="beta"),
                lambda: records.turns(made.id, tenant="beta"), lambda: records.delete(made.id, tenant="beta"),
                lambda: records.update(made.id, tenant="beta", title="x")):
        with pytest.raises(ConversationNotFound):
            act()
    assert records.recent(tenant="beta") == ([], 0)
    assert records.find_by_digest("dd", tenant="beta") is None
    rows, total = records.recent(tenant="alpha")
    assert total == 1 and rows[0].title == "mine"
