"""The conversations ``folio chat`` and ``folio ask --conversation`` talk to: the local index's (the runtime's
``Conversations``) or a server's, through its REST API (``folio --server URL``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import click

from folio.ingest.cli import _settings, remote_server
from folio.service.schemas.conversations import (
    ConversationDetail,
    ConversationSummary,
    PatchResult,
    TurnRequest,
    TurnResult,
)

if TYPE_CHECKING:
    from folio.service.runtime import Runtime

OnEvent = Callable[[str, dict[str, Any]], None]
STREAM_READ_S = 1800.0  # as `folio --server URL ask`: a coverage answer can take a while


class Conversations(Protocol):
    """What the chat needs of conversations, on the local index or a server."""

    notice: str | None  # a demo server's: its answers are simulated

    def create(self, documents: list[str] | None, collection: str | None = None) -> ConversationSummary: ...
    def summary(self, conversation_id: str) -> ConversationSummary: ...
    def rescope(self, conversation_id: str, documents: list[str] | None) -> tuple[ConversationSummary, str]: ...
    def detail(self, conversation_id: str) -> ConversationDetail: ...
    def ledger(self, conversation_id: str) -> tuple[float, int]: ...
    def ask(self, conversation_id: str, request: TurnRequest, on_event: OnEvent) -> TurnResult: ...


class LocalConversations:
    """The local index's conversations (tenant "default", as ``folio ask`` asks), through the runtime."""

    notice: str | None = None

    def __init__(self, runtime: Runtime) -> None:
        from folio.service.access import DEFAULT_TENANT

        self.runtime = runtime
        self.conversations = runtime.conversations_for(DEFAULT_TENANT)

    def create(self, documents: list[str] | None, collection: str | None = None) -> ConversationSummary:
        c = self.conversations
        return c.summary(c.create(title=None, documents=documents, collection=collection))

    def summary(self, conversation_id: str) -> ConversationSummary:
        return self.conversations.summary(self.conversations.get(conversation_id))

    def rescope(self, conversation_id: str, documents: list[str] | None) -> tuple[ConversationSummary, str]:
        row, cache = self.conversations.rename_or_rescope(conversation_id, title=None, documents=documents,
                                                          set_scope=True)
        return self.conversations.summary(row), cache

    def detail(self, conversation_id: str) -> ConversationDetail:
        return self.conversations.detail(conversation_id)

    def ledger(self, conversation_id: str) -> tuple[float, int]:
        group = self.conversations.answerer.ledger.summary()["by_conversation"].get(conversation_id, {})
        return float(group.get("dollars", 0.0)), int(group.get("requests", 0))

    def ask(self, conversation_id: str, request: TurnRequest, on_event: OnEvent) -> TurnResult:
        def emit(kind: str, data: Any) -> None:
            if isinstance(data, dict):  # deltas and events; the plan and the answer come with the result
                on_event(kind, data)

        return self.conversations.ask(conversation_id, request, emit)


class RemoteConversations:
    """A server's conversations through its REST API (``folio --server URL``), with the client of the other
    commands (``ingest.remote.RemoteFolio``): its errors are the server's codes, an unreachable server is
    ``store_unavailable``. A turn is streamed (server-sent events), so its answer prints as it comes."""

    def __init__(self, remote: Any) -> None:
        self.remote = remote
        self.notice = remote.info().get("simulated_notice")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.remote.call(method, path, **kwargs)

    @staticmethod
    def _path(conversation_id: str, tail: str = "") -> str:
        return f"/v1/conversations/{quote(conversation_id, safe='')}{tail}"

    def create(self, documents: list[str] | None, collection: str | None = None) -> ConversationSummary:
        return ConversationSummary.model_validate(self._call("POST", "/v1/conversations",
                                                             json={"documents": documents, "collection": collection}))

    def summary(self, conversation_id: str) -> ConversationSummary:
        return ConversationSummary.model_validate(self._call("GET", self._path(conversation_id)))

    def rescope(self, conversation_id: str, documents: list[str] | None) -> tuple[ConversationSummary, str]:
        patched = PatchResult.model_validate(self._call("PATCH", self._path(conversation_id),
                                                        json={"documents": documents}))
        return patched.conversation, patched.cache

    def detail(self, conversation_id: str) -> ConversationDetail:
        return ConversationDetail.model_validate(self._call("GET", self._path(conversation_id)))

    def ledger(self, conversation_id: str) -> tuple[float, int]:
        group = self._call("GET", "/v1/ledger")["by_conversation"].get(conversation_id, {})
        return float(group.get("dollars", 0.0)), int(group.get("requests", 0))

    def ask(self, conversation_id: str, request: TurnRequest, on_event: OnEvent) -> TurnResult:
        body = request.model_dump(mode="json")
        if not request.stream:
            return TurnResult.model_validate(self._call("POST", self._path(conversation_id, "/messages"),
                                                        json=body, timeout=STREAM_READ_S))
        from folio.ingest.remote import RemoteError

        # planned before the stream: a 404, 409, 413 or 422 is raised with its code
        for kind, data in self.remote.events(self._path(conversation_id, "/messages"), body,
                                             read_timeout_s=STREAM_READ_S):
            if kind == "done":
                return TurnResult.model_validate(data)
            if kind == "error":
                error = data.get("error") or {}
                raise RemoteError(str(error.get("code") or "internal_error"),
                                  str(error.get("message") or "the turn failed"), status=200)
            on_event(kind, data)
        raise RemoteError("stream_cut", f"the Folio server at {self.remote.url} stopped before the answer was "
                          "finished", status=200)


@contextmanager
def opened(ctx: click.Context) -> Iterator[Conversations]:
    """The conversations of ``--server URL``, or of the local index (its runtime closed at the end)."""
    remote = remote_server(ctx)
    if remote is not None:
        with remote:
            yield RemoteConversations(remote)
        return
    from folio.service.runtime import build_runtime

    runtime = build_runtime(_settings(ctx))
    try:
        yield LocalConversations(runtime)
    finally:
        runtime.close()


