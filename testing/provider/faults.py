"""Injected failures, queued by tests and consumed one per chat request, and the provider's error bodies.

Kinds: ``429`` (Retry-After header), ``500``, ``503``, ``timeout`` (answers after ``seconds``, unless the client
has gone), ``cut_stream`` (a stream stops mid-answer without ``[DONE]``; a non-stream body stops half-way; either
way the connection is dropped), ``malformed_json`` (200 with a broken JSON body or event), ``context_length``
(400 ``context_length_exceeded``), ``reply`` (a normal answer whose content is the fault's ``text``: a test scripts
what the model says, e.g. that the excerpts do not hold the answer). ``429``, ``500``, ``503`` and
``context_length`` leave the cache untouched.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

FaultKind = Literal["429", "500", "503", "timeout", "cut_stream", "malformed_json", "context_length", "reply"]
ERROR_KINDS = frozenset({"429", "500", "503", "context_length"})


class Fault(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind
    seconds: float | None = None
    retry_after: int | None = None
    text: str | None = None


class FaultsBody(BaseModel):
    """``POST /_double/faults``: ``{"faults": ["429", {"kind": "timeout", "seconds": 2}]}``."""

    faults: list[Fault | FaultKind]

    def parsed(self) -> list[Fault]:
        return [f if isinstance(f, Fault) else Fault(kind=f) for f in self.faults]


class FaultQueue:
    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()

    def extend(self, faults: list[Fault]) -> int:
        with self._lock:
            self._queue.extend(faults)
            return len(self._queue)

    def pop(self) -> Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body, as DeepSeek sends it."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def context_length_message(window: int, prompt_tokens: int, max_tokens: int) -> str:
    return (
        f"This model's maximum context length is {window} tokens. However, you requested "
        f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). "
        "Please reduce the length of the messages or completion."
    )


def context_length_body(window: int, prompt_tokens: int, max_tokens: int) -> dict[str, Any]:
    return error_body(
        context_length_message(window, prompt_tokens, max_tokens),
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    )


RATE_LIMIT_BODY = error_body("Rate limit reached for requests. Please retry later.", "rate_limit_error", "rate_limit")
SERVER_ERROR_BODY = error_body("The server had an error while processing your request.", "server_error", "server_error")
OVERLOADED_BODY = error_body("The server is overloaded due to high traffic.", "server_error", "server_overloaded")
