"""One chat completion: the request model, the token budget, and the OpenAI-format bodies and SSE events."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .answer import Answer
from .template import decode, encode

_PIECE = re.compile(r"\s*\S+\s*|\s+")


class StreamOptions(BaseModel):
    include_usage: bool = False


class Thinking(BaseModel):
    type: Literal["enabled", "disabled"]


class ChatRequest(BaseModel):
    """The request fields the double reads; others are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    user: str | None = None
    user_id: str | None = None
    thinking: Thinking | None = None
    reasoning_effort: str | None = None

    def cache_user(self) -> str:
        return self.user_id or self.user or ""

    def thinking_enabled(self, thinking_models: tuple[str, ...]) -> bool:
        if self.thinking is not None:
            return self.thinking.type == "enabled"
        return self.model in thinking_models

    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


@dataclass(frozen=True)
class Reply:
    """The answer as emitted under ``max_tokens``: reasoning first, then content."""

    content: str
    reasoning: str | None
    content_ids: list[int]
    reasoning_ids: list[int]
    finish_reason: str

    @property
    def completion_tokens(self) -> int:
        return len(self.content_ids) + len(self.reasoning_ids)


def budget(answer: Answer, *, thinking: bool, max_tokens: int) -> Reply:
    """Cut the reasoning, then the content, to ``max_tokens`` tokens (finish_reason "length" when cut)."""
    reasoning_ids = encode(answer.reasoning) if thinking else []
    content_ids = encode(answer.content)
    if len(reasoning_ids) + len(content_ids) <= max_tokens:
        return Reply(answer.content, answer.reasoning if thinking else None, content_ids, reasoning_ids, "stop")
    reasoning_ids = reasoning_ids[:max_tokens]
    content_ids = content_ids[: max_tokens - len(reasoning_ids)]
    reasoning = decode(reasoning_ids) if thinking else None
    return Reply(decode(content_ids), reasoning, content_ids, reasoning_ids, "length")


def usage(prompt_tokens: int, hit_tokens: int, reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": prompt_tokens + reply.completion_tokens,
        "prompt_cache_hit_tokens": hit_tokens,
        "prompt_cache_miss_tokens": prompt_tokens - hit_tokens,
        "prompt_tokens_details": {"cached_tokens": hit_tokens},
        "completion_tokens_details": {"reasoning_tokens": len(reply.reasoning_ids)},
    }


def completion_body(completion_id: str, model: str, reply: Reply, usage_: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.reasoning is not None:
        message["reasoning_content"] = reply.reasoning
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_folio_double",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": usage_,
    }


def pieces(text: str, words: int) -> list[str]:
    """``text`` in deltas of ``words`` words; joined they give ``text`` back exactly."""
    parts = _PIECE.findall(text)
    return ["".join(parts[i : i + words]) for i in range(0, len(parts), words)]


def sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n".encode()


def stream_events(
    completion_id: str,
    model: str,
    reply: Reply,
    usage_: dict[str, Any] | None,
    words: int,
) -> Iterator[dict[str, Any]]:
    """The chunk objects of a streamed completion (without the final ``[DONE]``)."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_folio_double",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in pieces(reply.reasoning or "", words):
        yield chunk({"content": None, "reasoning_content": piece})
    for piece in pieces(reply.content, words):
        yield chunk({"content": piece})
    yield chunk({}, reply.finish_reason)
    if usage_ is not None:
        yield {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_folio_double",
            "choices": [],
            "usage": usage_,
        }
