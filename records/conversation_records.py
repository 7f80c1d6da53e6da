"""Conversations and their turns in the records' database (``folio.records.tables.conversations``,
``conversation_turns``).

A conversation is a row per thread: its tenant, title, scope, the state of the prompt layout its requests build
on (``data.thread``), its number of turns, dollars and last activity. Each turn is a row with what was asked and
answered and the exact user message the thread sent, so that the next request can re-send the history byte for
byte (``folio.service.thread``).

What the records guarantee, on SQLite and PostgreSQL alike:

- ``claim``: one turn at a time per conversation. A turn claims the conversation with one conditional UPDATE
  (no other turn holds it, or the holder's claim is older than ``stale_after_s``: a process that died mid-turn);
  a second turn sent meanwhile gets ``ConversationBusy`` (409), never an interleaved history.
- ``add_turn``: the turn, the conversation's totals and its thread state change in one transaction, and only
  while the claim holds: a turn whose claim was taken over writes nothing and says so.
- Every read and write names the tenant: another tenant's conversation is not found.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from folio.errors import ConversationBusy, ConversationNotFound
from folio.records.database import Database
from folio.records.tables import conversation_turns, conversations

STALE_AFTER_S = 900.0  # a claim older than this belongs to a turn whose process died


@dataclass
class ConversationRow:
    """A conversation as stored. ``scope``: document ids, or None for every ready document of the tenant;
    ``collection``: the collection it follows (``scope`` is then its documents as of the last turn, in the order
    they joined); ``thread``: the layout's state (``folio.service.thread.ThreadState`` as a dict)."""

    id: str
    tenant: str
    title: str
    created: float
    updated: float
    turns: int
    dollars: float
    scope: list[str] | None
    thread: dict[str, Any] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)  # the last turn's question and route, for lists
    collection: str | None = None

    def data(self) -> dict[str, Any]:
        return {"scope": self.scope, "thread": self.thread, "last": self.last, "collection": self.collection}


@dataclass
class TurnRow:
    """One turn as stored: ``data`` holds the question, the user message sent, the answer and its report."""

    conversation_id: str
    n: int
    created: float
    route: str
    dollars: float
    thread_digest: str
    data: dict[str, Any]


def _conversation(row: Any) -> ConversationRow:
    data = row.data or {}
    return ConversationRow(id=row.id, tenant=row.tenant, title=row.title, created=row.created, updated=row.updated,
                           turns=row.turns, dollars=row.dollars, scope=data.get("scope"),
                           thread=dict(data.get("thread") or {}), last=dict(data.get("last") or {}),
                           collection=data.get("collection"))


def _turn(row: Any) -> TurnRow:
    return TurnRow(conversation_id=row.conversation_id, n=row.n, created=row.created, route=row.route,
                   dollars=row.dollars, thread_digest=row.thread_digest, data=dict(row.data))


class ConversationRecords:
    """The conversations of every tenant; each call names the tenant it acts for."""

    def __init__(self, database: Database, *, clock: Any = time.time) -> None:
        self.database = database
        self.clock = clock

    def create(self, *, tenant: str, title: str, scope: list[str] | None,
               thread: dict[str, Any] | None = None, collection: str | None = None) -> ConversationRow:
        now = self.clock()
        row = ConversationRow(id=uuid.uuid4().hex, tenant=tenant, title=title, created=now, updated=now, turns=0,
                              dollars=0.0, scope=scope, thread=thread or {}, collection=collection)
        with self.database.write("create a conversation") as conn:
            conn.execute(insert(conversations).values(
                id=row.id, tenant=tenant, title=title, created=now, updated=now, turns=0, dollars=0.0,
                data=row.data()))
        return row

    def get(self, conversation_id: str, *, tenant: str) -> ConversationRow:
        with self.database.read("read a conversation") as conn:
            return self._get(conn, conversation_id, tenant)

    def recent(self, *, tenant: str, limit: int = 100, offset: int = 0) -> tuple[list[ConversationRow], int]:
        """The tenant's conversations, newest activity first, and how many there are."""
        c = conversations.c
        with self.database.read("list conversations") as conn:
            rows = conn.execute(select(conversations).where(c.tenant == tenant)
                                .order_by(c.updated.desc(), c.id.desc()).limit(limit).offset(offset)).all()
            total = conn.execute(select(func.count()).select_from(conversations)
                                 .where(c.tenant == tenant)).scalar_one()
        return [_conversation(r) for r in rows], int(total)

    def turns(self, conversation_id: str, *, tenant: str, first: int = 1) -> list[TurnRow]:
        """The conversation's turns from number ``first`` on, in order."""
        t = conversation_turns.c
        with self.database.read("read a conversation's turns") as conn:
            self._get(conn, conversation_id, tenant)
            rows = conn.execute(select(conversation_turns).where(
                t.conversation_id == conversation_id, t.tenant == tenant, t.n >= first).order_by(t.n)).all()
        return [_turn(r) for r in rows]

    def update(self, conversation_id: str, *, tenant: str, title: str | None = None,
               scope: list[str] | None = None, set_scope: bool = False, thread: dict[str, Any] | None = None,
               collection: str | None = None) -> ConversationRow:
        """Rename, change the scope (with ``set_scope``: ``scope``, and the ``collection`` it follows if any;
        ``None``: every document) or the thread's state."""
        with self.database.write("update a conversation") as conn:
            row = self._get(conn, conversation_id, tenant)
            if set_scope:
                row.scope, row.collection = scope, collection
            if thread is not None:
                row.thread = thread
            values: dict[str, Any] = {"data": row.data(), "updated": self.clock()}
            if title is not None:
                values["title"] = row.title = title
            conn.execute(update(conversations).where(conversations.c.id == conversation_id,
                                                     conversations.c.tenant == tenant).values(**values))
            row.updated = values["updated"]
        return row

    def delete(self, conversation_id: str, *, tenant: str) -> int:
        """Delete the conversation and its turns; the number of turns deleted."""
        with self.database.write("delete a conversation") as conn:
            row = self._get(conn, conversation_id, tenant)
            conn.execute(delete(conversation_turns).where(conversation_turns.c.conversation_id == conversation_id))
            conn.execute(delete(conversations).where(conversations.c.id == conversation_id))
        return row.turns

    def find_by_digest(self, digest: str, *, tenant: str) -> tuple[str, int] | None:
        """The conversation whose history up to one of its turns has this digest: (id, the turn's number), the
        most recent such conversation when several do, and only when that turn is its latest."""
        t, c = conversation_turns.c, conversations.c
        with self.database.read("find a conversation by its history") as conn:
            row = conn.execute(
                select(t.conversation_id, t.n).join(conversations, c.id == t.conversation_id)
                .where(t.tenant == tenant, t.thread_digest == digest, c.turns == t.n)
                .order_by(c.updated.desc()).limit(1)).one_or_none()
        return (row.conversation_id, row.n) if row is not None else None

    # -- a turn ----------------------------------------------------------------------------------------------

    def claim(self, conversation_id: str, *, tenant: str, stale_after_s: float = STALE_AFTER_S) -> str:
        """Hold the conversation for one turn: the claim's token, or ``ConversationBusy`` while another turn
        holds it (``ConversationNotFound`` when the tenant has no such conversation)."""
        token = uuid.uuid4().hex
        now = self.clock()
        c = conversations.c
        with self.database.write("claim a conversation") as conn:
            claimed = conn.execute(update(conversations).where(
                c.id == conversation_id, c.tenant == tenant,
                (c.busy_token.is_(None)) | (c.busy_since < now - stale_after_s)).values(
                busy_token=token, busy_since=now)).rowcount
            if not claimed:
                self._get(conn, conversation_id, tenant)
                raise ConversationBusy(f"conversation {conversation_id} is answering another question; send the "
                                       "next one when it has finished", conversation_id=conversation_id)
        return token

    def release(self, conversation_id: str, token: str) -> None:
        """Let go of a claim without a turn (the turn failed before it was answered)."""
        c = conversations.c
        with self.database.write("release a conversation") as conn:
            conn.execute(update(conversations).where(c.id == conversation_id, c.busy_token == token)
                         .values(busy_token=None, busy_since=None))

    def add_turn(self, conversation_id: str, token: str, *, tenant: str, route: str, dollars: float,
                 thread_digest: str, data: dict[str, Any], thread: dict[str, Any],
                 title: str | None = None, scope: list[str] | None = None,
                 forget_collection: bool = False) -> TurnRow | None:
        """Append the next turn, add its dollars, store the thread's new state (and, for a conversation that
        follows a collection, ``scope``: the documents the turn asked about; ``forget_collection``: it was deleted,
        and the conversation keeps the documents it had) and release the claim, in one transaction; None (nothing
        written) when the claim no longer holds."""
        now = self.clock()
        c = conversations.c
        with self.database.write("record a conversation turn") as conn:
            row = conn.execute(select(conversations).where(c.id == conversation_id, c.tenant == tenant,
                                                           c.busy_token == token)).one_or_none()
            if row is None:
                return None
            current = _conversation(row)
            current.thread, current.last = thread, {"question": data.get("question"), "route": route}
            if scope is not None and current.collection is not None:
                current.scope = scope
            if forget_collection:
                current.collection = None
            n = current.turns + 1
            conn.execute(insert(conversation_turns).values(
                conversation_id=conversation_id, n=n, tenant=tenant, created=now, route=route, dollars=dollars,
                thread_digest=thread_digest, data=data))
            values: dict[str, Any] = {"turns": n, "dollars": current.dollars + dollars, "updated": now,
                                      "busy_token": None, "busy_since": None,
                                      "data": current.data()}
            if title is not None:
                values["title"] = title
            conn.execute(update(conversations).where(c.id == conversation_id).values(**values))
        return TurnRow(conversation_id=conversation_id, n=n, created=now, route=route, dollars=dollars,
                       thread_digest=thread_digest, data=data)

    @staticmethod
    def _get(conn: Connection, conversation_id: str, tenant: str) -> ConversationRow:
        row = conn.execute(select(conversations).where(conversations.c.id == conversation_id,
                                                       conversations.c.tenant == tenant)).one_or_none()
        if row is None:
            raise ConversationNotFound(f"no conversation with id {conversation_id!r}",
                                       conversation_id=conversation_id)
        return _conversation(row)
