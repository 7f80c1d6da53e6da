"""A conversation's prompt: an append-only layout, so that each turn's request extends the previous one plus its
answer and the provider's prefix cache reads everything before the new question (DESIGN.md, "Conversations").

The thread's *base* is what precedes its turns:

- ``documents``: ``[system][user: documents][assistant: Ready.]``, the warm layout of a full-context question
  (``context.full_prompt``), so a thread starts on a prefix that one-off questions or a warm-up may have cached;
- ``none``: ``[system]`` alone: a retrieval thread, whose excerpts travel inside the turn that used them.

Then every kept turn as it was sent, ``[user: the turn's message][assistant: its answer]``, and the new turn's
user message last: ``Question: ...`` on a documents base, the excerpts and the question on a bare one. Turn n's
request is turn n-1's request, then turn n-1's answer, then the new message: token for token, since the template
renders a message's content apart from what surrounds it and the answer is re-sent as it came. The provider
persists a unit at the end of each request's input and of its output, so turn n hits all of turn n-1's input
and output (to its 64-token unit) and misses only the new message.

A base switch (retrieval to whole documents or back) or dropping the oldest turns when documents and history no
longer fit the window starts a new prefix, read cold once; ``ThreadState`` records which prefix the thread is
on, how long the part the provider can have cached is, and when it was sent, and the planner prices turns from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from folio.service.context import QUESTION_PREFIX, SYSTEM_PROMPT, WARM_REPLY, documents_messages

Base = Literal["none", "documents"]
# the chat template's markers around one turn: <User> before the message, <Assistant> before the answer, <EOS>
TURN_TEMPLATE_TOKENS = 3
# the warm layout's fixed part after the documents: the assistant's "Ready." with its markers
READY_TOKENS = 4


@dataclass
class PrefixState:
    """One prefix of a thread (its documents base, or its bare base): what the provider can have cached of it."""

    documents: list[str] = field(default_factory=list)  # the base's document keys (``context.document_key``)
    first_turn: int = 1  # the oldest turn still in the prompt (older ones were dropped to fit the window)
    cached_tokens: int = 0  # the last request's input and output on this prefix: what the next one can hit
    cached_at: float | None = None  # when that request was answered
    sent_turns: int = 0  # requests sent on this prefix (a scope change or a trim starts again from 0)
    hit_ratios: list[float] = field(default_factory=list)  # of the last requests on it: hits / cacheable

    def extends(self, documents: Sequence[str], first_turn: int) -> bool:
        """Whether a request over ``documents`` from turn ``first_turn`` extends this prefix."""
        return self.sent_turns > 0 and first_turn == self.first_turn and list(documents) == self.documents


@dataclass
class ThreadState:
    """The prefixes a conversation's requests build on. Both are kept: a thread that goes back to a route it
    took before extends that route's prefix, which the provider may still hold, since every request of the
    thread on one base extends the last request on it (the turns in between join it as turns)."""

    base: Base = "none"  # the last request's
    prefixes: dict[str, PrefixState] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ThreadState:
        data = dict(data or {})
        known = PrefixState.__dataclass_fields__
        prefixes = {base: PrefixState(**{k: v for k, v in dict(p).items() if k in known})
                    for base, p in dict(data.get("prefixes") or {}).items()}
        return cls(base=data.get("base", "none"), prefixes=prefixes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def prefix(self, base: Base) -> PrefixState:
        return self.prefixes.get(base) or PrefixState()

    @property
    def sent_turns(self) -> int:
        return sum(p.sent_turns for p in self.prefixes.values())


@dataclass(frozen=True)
class HistoryTurn:
    """A turn as the thread re-sends it, with its tokens. On a bare base, the user message it sent (a retrieval
    turn's excerpts included) and its answer; on a documents base, its question alone and its answer: the
    documents hold every page the excerpts came from, so a thread that moves to whole documents reads a short
    history cold, not every excerpt again."""

    n: int
    question: str
    user_content: str
    answer: str
    user_tokens: int
    answer_tokens: int
    question_tokens: int

    def message(self, base: Base) -> str:
        return question_message(self.question) if base == "documents" else self.user_content

    def tokens(self, base: Base) -> int:
        user = self.question_tokens if base == "documents" else self.user_tokens
        return user + self.answer_tokens + TURN_TEMPLATE_TOKENS


def history_tokens(history: Iterable[HistoryTurn], base: Base) -> int:
    return sum(turn.tokens(base) for turn in history)


def question_message(question: str) -> str:
    """A full-context turn's user message (the documents are in the base)."""
    return QUESTION_PREFIX + question


def excerpts_message(excerpts_block: str, question: str) -> str:
    """A retrieval turn's user message: its excerpts, then the question, as a one-off retrieval prompt has them."""
    return excerpts_block + "\n\n" + QUESTION_PREFIX + question


def thread_messages(documents_block: str | Sequence[str] | None, history: Sequence[HistoryTurn],
                    user_content: str) -> list[dict[str, str]]:
    """The request of a turn: the base (``documents_block`` None: a bare one; several blocks: a collection's
    documents one to a message), the kept turns, the new message."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    base: Base = "none"
    if documents_block is not None:
        base = "documents"
        messages += [*documents_messages(documents_block), {"role": "assistant", "content": WARM_REPLY}]
    for turn in history:
        messages += [{"role": "user", "content": turn.message(base)}, {"role": "assistant", "content": turn.answer}]
    messages.append({"role": "user", "content": user_content})
    return messages


def keep_turns(history: Sequence[HistoryTurn], *, room: int, first_turn: int,
               base: Base) -> tuple[list[HistoryTurn], int]:
    """The turns the prompt keeps when ``room`` tokens are left for history: all from ``first_turn`` when they
    fit; else the oldest are dropped until what is left fills at most half the room, so the next turns add to a
    stable prefix instead of dropping one turn each (and reading the rest cold) every time. Returns the kept
    turns and the new first turn's number."""
    kept = [turn for turn in history if turn.n >= first_turn]
    if history_tokens(kept, base) <= room:
        return kept, first_turn
    while kept and history_tokens(kept, base) > room // 2:
        kept.pop(0)
    next_first = kept[0].n if kept else (history[-1].n + 1 if history else first_turn)
    return kept, next_first


def thread_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """The identity of a history, as a chat client sees it: its questions and answers, in order. A client that
    sends the whole history again names the conversation it continues by it."""
    digest = hashlib.sha256(b"folio-thread-1\x00")
    for question, answer in pairs:
        digest.update(" ".join(question.split()).encode() + b"\x00" + " ".join(answer.split()).encode() + b"\x00")
    return digest.hexdigest()
