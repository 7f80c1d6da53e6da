"""An answer's progress events, from a worker thread to a streaming response (SSE or OpenAI chunks).

The framing is sse-starlette's (``EventSourceResponse``): it writes the ``event:`` and ``data:`` lines, sets the
headers proxies need (no caching, no buffering), pings a long stream with comment lines so that idle timeouts do
not cut it (a coverage answer can be quiet for a while), and stops when the client goes away."""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from folio.errors import FolioError
from folio.service.answer import Answerer, Emit, QueryRequest
from folio.service.planner import Plan

logger = logging.getLogger("folio.service")
# (kind, data): the plan and the answer as their models, every other kind as a dict
StreamEvent = tuple[str, dict[str, Any] | BaseModel]


def event_data(data: dict[str, Any] | BaseModel) -> dict[str, Any]:
    """An event's data as JSON-ready values (the models as the API answers them)."""
    return data.model_dump(mode="json", by_alias=True) if isinstance(data, BaseModel) else data


def answer_events(answerer: Answerer, request: QueryRequest, *, name: str,
                  plan: Plan | None = None) -> Iterator[StreamEvent]:
    """``(kind, data)`` events of one answer as they happen, ending with ``done`` or ``error``."""
    return work_events(lambda emit: answerer.answer(request, emit=emit, plan=plan), name=name)


def work_events(work: Callable[[Emit], object], *, name: str) -> Iterator[StreamEvent]:
    """``(kind, data)`` events that ``work`` emits as it runs (an answer, a conversation turn), ending with
    ``done`` or ``error``.

    The work runs in its own thread, in a copy of the caller's context (the request id goes with it); a
    failure becomes an ``error`` event with its code, never an exception in the middle of a 200 stream."""
    events: queue.Queue[StreamEvent | None] = queue.Queue()

    def run() -> None:
        try:
            work(lambda kind, data: events.put((kind, data)))
        except FolioError as exc:
            events.put(("error", {"error": exc.to_dict()}))
        except Exception as exc:
            logger.exception("%s failed", name)
            events.put(("error", {"error": {"code": "internal_error", "message": type(exc).__name__}}))
        finally:
            events.put(None)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(run,), name=name, daemon=True).start()
    while (item := events.get()) is not None:
        yield item


SEP = "\n"  # line ends: \n, as Folio has always sent (the library's default is \r\n)


def sse_event(data: str, *, event: str | None = None) -> ServerSentEvent:
    """One server-sent event: ``event: ...`` (when given) and ``data: ...`` lines, then a blank line."""
    return ServerSentEvent(data=data, event=event, sep=SEP)


def sse_response(events: Iterator[ServerSentEvent]) -> EventSourceResponse:
    """A ``text/event-stream`` response of ``events``."""
    return EventSourceResponse(events, sep=SEP)
