"""Structured logs: one JSON object a line (``FOLIO_LOG_FORMAT=json``), each carrying its request's id.

``configure_logging`` installs one handler on the root logger; ``folio serve`` starts uvicorn without its own
logging set-up, so uvicorn's messages arrive there too. ``RequestIdMiddleware`` takes the caller's
``X-Request-ID`` (a load balancer's, or a client's) or makes one, keeps it in a context variable for as long as
the request is handled, sends it back as a response header and writes one access line per request. Every log
record made meanwhile carries it: in the event loop, in the thread pool (which copies the context), in threads
started under ``contextvars.copy_context()``, and in the ingestion job the request queued (``service.jobs``
restores the uploading request's id while it works).

A line in JSON::

    {"ts": "2026-11-28T10:15:02.123Z", "level": "INFO", "logger": "folio.access", "message": "POST /v1/query 200
     812.4 ms", "request_id": "5f0c...", "method": "POST", "path": "/v1/query", "status": 200, "duration_ms": 812.4}

Secrets never reach a log line: settings are not logged, and the access line has the path without the query.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: DEBUG, not INFO
_request_id: ContextVar[str | None] = ContextVar("folio_request_id", default=None)
access_logger = logging.getLogger("folio.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def current_request_id() -> str | None:
    """The id of the request being handled in this context, if any."""
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


class request_id_context:
    """Run a block under a request id (a background job resumes its upload's id this way)."""

    def __init__(self, request_id: str | None) -> None:
        self.request_id = request_id
        self._token: Any = None

    def __enter__(self) -> None:
        self._token = _request_id.set(self.request_id)

    def __exit__(self, *exc_info: object) -> None:
        _request_id.reset(self._token)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record (``-`` outside a request), for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get() or "-"
        return True


_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime",
                                                                                     "request_id", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, request_id, then any ``extra={...}`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id and request_id != "-":
            data["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(fmt: str = "text", level: str | int = "INFO", *, stream: TextIO | None = None,
                      exclusive: bool = True) -> logging.Handler:
    """One handler on the root logger in ``fmt`` ("json" or "text"); returns it.

    ``exclusive`` removes the root logger's other handlers first (a server process: one format for every
    line); a test passes ``False`` and its own ``stream``. Calling again replaces the handler it installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if exclusive or getattr(handler, "_folio", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler._folio = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # into the root handler, not their own
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler


class RequestIdMiddleware:
    """Pure ASGI (so a streamed answer is logged when its last byte has gone, not when its headers have)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _VALID_ID.match(given) else new_request_id()
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*list(message.get("headers", [])), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
            access_logger.log(logging.DEBUG if path in _QUIET_PATHS else logging.INFO,
                              "%s %s %s %.1f ms", scope.get("method"), path, status, elapsed_ms,
                              extra={"method": scope.get("method"), "path": path, "status": status,
                                     "duration_ms": elapsed_ms,
                                     "client": (scope.get("client") or ("-",))[0],
                                     # service.access: the caller's tenant and key (a digest's prefix, never the key)
                                     "tenant": (scope.get("state") or {}).get("tenant"),
                                     "key_id": (scope.get("state") or {}).get("key_id")})
            _request_id.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None
