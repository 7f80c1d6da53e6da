"""The provider double's HTTP app: DeepSeek's chat API and its prefix-cache accounting, plus /_double admin routes.

``create_app(config)`` serves ``POST /v1/chat/completions`` (and ``/chat/completions``), ``GET /v1/models``, and
for tests ``POST /_double/clock`` ``{"advance_s": s}``, ``POST /_double/faults`` ``{"faults": [...]}``,
``GET /_double/requests`` (the request log), ``GET /_double/cache`` (live units) and ``POST /_double/reset``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from .answer import Answer, answer
from .cache import Clock, OffsetClock, PrefixCache
from .completion import ChatRequest, Reply, budget, completion_body, sse, stream_events, usage
from .config import DoubleConfig
from .faults import (
    OVERLOADED_BODY,
    RATE_LIMIT_BODY,
    SERVER_ERROR_BODY,
    Fault,
    FaultQueue,
    FaultsBody,
    context_length_body,
    error_body,
)
from .template import TemplateError, continuation_ids, encode, render


class CutConnection(Exception):
    """Raised inside a started response so that uvicorn drops the connection (the "cut_stream" fault)."""


class _DropCutConnection(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], CutConnection))


@dataclass
class LogEntry:
    index: int
    time: float
    model: str
    user: str
    stream: bool
    thinking: bool
    prompt_tokens: int
    prompt_sha256: str
    status: int = 200
    fault: str | None = None
    hit_tokens: int = 0
    miss_tokens: int = 0
    unit_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    finish_reason: str | None = None
    request_id: str | None = None  # the client's X-Request-ID header, if it sent one
    persisted: list[int] = field(default_factory=list)


class ClockBody(BaseModel):
    advance_s: float


@dataclass
class DoubleState:
    config: DoubleConfig
    cache: PrefixCache
    faults: FaultQueue = field(default_factory=FaultQueue)
    log: list[LogEntry] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=itertools.count)
    closing: threading.Event = field(default_factory=threading.Event)

    def add(self, entry: LogEntry) -> None:
        with self.lock:
            self.log.append(entry)

    def reset(self) -> None:
        self.cache.clear()
        self.faults.clear()
        with self.lock:
            self.log.clear()


def _error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _invalid(message: str, status: int = 400) -> JSONResponse:
    return _error(status, error_body(message, "invalid_request_error", "invalid_request_error"))


def _cache_key(model: str, user: str) -> str:
    return f"{model}\n{user}"


async def _sleep(request: Request, seconds: float, closing: threading.Event) -> bool:
    """Sleep unless the client goes away or the server stops; True when the client is still there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline and not closing.is_set():
        if await request.is_disconnected():
            return False
        await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))
    return not await request.is_disconnected()


def create_app(config: DoubleConfig | None = None) -> FastAPI:
    cfg = config or DoubleConfig()
    clock = cfg.clock or OffsetClock()
    state = DoubleState(cfg, PrefixCache(cfg.cache_config(), clock))
    app = FastAPI(title="Folio provider double", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.double = state
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropCutConnection) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_DropCutConnection())

    @app.get("/v1/models")
    @app.get("/models")
    async def models() -> dict[str, Any]:
        data = [{"id": m, "object": "model", "owned_by": "folio-provider-double", "created": 0} for m in cfg.models]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions")
    async def chat(request: Request) -> Response:
        try:
            raw = await request.json()
        except ValueError:
            return _invalid("Invalid Format: the request body is not valid JSON")
        try:
            req = ChatRequest.model_validate(raw)
        except ValidationError as exc:
            return _invalid(f"Invalid Parameters: {exc.errors(include_url=False)}", 422)
        max_tokens = next(
            (n for n in (req.max_completion_tokens, req.max_tokens) if n is not None), cfg.default_max_tokens
        )
        if not 1 <= max_tokens <= cfg.max_output_tokens:
            return _invalid(f"Invalid max_tokens value, the valid range of max_tokens is [1, {cfg.max_output_tokens}]")
        thinking = req.thinking_enabled(cfg.thinking_models)
        try:
            prompt = render(req.messages, think_tags=cfg.think_tags, thinking=thinking)
        except TemplateError as exc:
            return _invalid(str(exc))
        ids = encode(prompt)
        fault = state.faults.pop()
        entry = LogEntry(
            index=next(state.ids),
            time=clock.now(),
            model=req.model,
            user=req.cache_user(),
            stream=req.stream,
            thinking=thinking,
            prompt_tokens=len(ids),
            prompt_sha256=hashlib.sha256(prompt.encode()).hexdigest(),
            fault=fault.kind if fault else None,
            request_id=request.headers.get("x-request-id"),
        )
        refused = _refusal(fault, cfg, len(ids), max_tokens)
        if refused is not None:
            entry.status = refused.status_code
            state.add(entry)
            return refused
        if fault and fault.kind == "timeout":
            seconds = cfg.timeout_fault_s if fault.seconds is None else fault.seconds
            if not await _sleep(request, seconds, state.closing):
                entry.status = 499
                state.add(entry)
                return Response(status_code=499)

        scripted = fault.text if fault and fault.kind == "reply" else None
        reply, hit_tokens = _complete(state, req, ids, thinking, max_tokens, entry, scripted)
        state.add(entry)

        usage_ = usage(len(ids), hit_tokens, reply)
        completion_id = f"chatcmpl-double-{entry.index}"
        kind = fault.kind if fault else None
        if req.stream:
            events = stream_events(
                completion_id, req.model, reply, usage_ if req.include_usage() else None, cfg.stream_chunk_words
            )
            return StreamingResponse(_sse_stream(list(events), kind), media_type="text/event-stream")
        body = json.dumps(completion_body(completion_id, req.model, reply, usage_), ensure_ascii=False)
        if kind == "cut_stream":
            return StreamingResponse(_cut_body(body), media_type="application/json")
        if kind == "malformed_json":
            return Response(body[: len(body) // 2], media_type="application/json")
        return Response(body, media_type="application/json")

    _add_admin_routes(app, state, clock)
    return app


def _add_admin_routes(app: FastAPI, state: DoubleState, clock: Clock) -> None:
    """The test's handles under ``/_double/``: move the clock, queue faults, read the request log and the cache."""

    @app.post("/_double/clock")
    async def advance_clock(body: ClockBody) -> Response:
        advance = getattr(clock, "advance", None)
        if advance is None:
            return _invalid("the configured clock has no advance()", 409)
        advance(body.advance_s)
        return JSONResponse({"now": clock.now()})

    @app.post("/_double/faults")
    async def add_faults(body: FaultsBody) -> dict[str, int]:
        return {"queued": state.faults.extend(body.parsed())}

    @app.get("/_double/requests")
    async def requests() -> list[dict[str, Any]]:
        with state.lock:
            return [asdict(e) for e in state.log]

    @app.get("/_double/cache")
    async def cache() -> list[dict[str, Any]]:
        out = []
        for key in state.cache.cache_keys():
            model, user = key.split("\n", 1)
            units = [{"tokens": u.tokens, "last_used": u.last_used} for u in state.cache.units(key)]
            out.append({"model": model, "user": user, "units": units})
        return out

    @app.post("/_double/reset")
    async def reset() -> dict[str, bool]:
        state.reset()
        return {"reset": True}


def _complete(
    state: DoubleState, req: ChatRequest, ids: list[int], thinking: bool, max_tokens: int, entry: LogEntry,
    scripted: str | None = None,
) -> tuple[Reply, int]:
    """Look the prompt up in the cache, answer, persist the request's units; returns the reply and hit tokens."""
    cfg = state.config
    key = _cache_key(req.model, entry.user)
    lookup = state.cache.lookup(key, ids)
    base = Answer(scripted, "Scripted by the test.") if scripted is not None else answer(req.messages)
    reply = budget(base, thinking=thinking, max_tokens=max_tokens)
    output = continuation_ids(
        reply.reasoning_ids,
        reply.content_ids,
        complete=reply.finish_reason == "stop",
        think_tags=cfg.think_tags,
        thinking=thinking,
    )
    entry.persisted = state.cache.record(key, ids, output)
    entry.hit_tokens, entry.miss_tokens, entry.unit_tokens = lookup.hit_tokens, lookup.miss_tokens, lookup.unit_tokens
    entry.completion_tokens, entry.reasoning_tokens = reply.completion_tokens, len(reply.reasoning_ids)
    entry.finish_reason = reply.finish_reason
    return reply, lookup.hit_tokens


def _refusal(fault: Fault | None, cfg: DoubleConfig, prompt_tokens: int, max_tokens: int) -> JSONResponse | None:
    """The error response a fault or an over-window request gets, if any."""
    kind = fault.kind if fault else None
    if kind == "429":
        retry = str(cfg.retry_after_s if fault is None or fault.retry_after is None else fault.retry_after)
        return _error(429, RATE_LIMIT_BODY, {"Retry-After": retry})
    if kind == "500":
        return _error(500, SERVER_ERROR_BODY)
    if kind == "503":
        return _error(503, OVERLOADED_BODY)
    if kind == "context_length" or prompt_tokens + max_tokens > cfg.context_window:
        return _error(400, context_length_body(cfg.context_window, prompt_tokens, max_tokens))
    return None


async def _sse_stream(events: list[dict[str, Any]], fault: str | None) -> AsyncIterator[bytes]:
    if fault == "malformed_json":
        yield sse(json.dumps(events[0])[:-7])
        events = events[1:]
    # cut after the role chunk and at least one delta, before the finish chunk
    cut = min(max(2, len(events) // 2), len(events) - 1) if fault == "cut_stream" else None
    for i, event in enumerate(events):
        if i == cut:
            raise CutConnection
        yield sse(event)
        await asyncio.sleep(0)
    yield sse("[DONE]")


async def _cut_body(body: str) -> AsyncIterator[bytes]:
    yield body[: len(body) // 2].encode()
    await asyncio.sleep(0.01)
    raise CutConnection


__all__ = ["CutConnection", "DoubleState", "LogEntry", "create_app"]
