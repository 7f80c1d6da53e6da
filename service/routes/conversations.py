"""Conversations: threads of questions over a scope, each turn answered with the earlier ones in its prompt."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sse_starlette import ServerSentEvent

from folio.service.access import TenantDep
from folio.service.deps import RuntimeDep
from folio.service.schemas.conversations import (
    ConversationCreate,
    ConversationDeleted,
    ConversationDetail,
    ConversationList,
    ConversationPatch,
    ConversationSummary,
    PatchResult,
    TurnRequest,
    TurnResult,
)
from folio.service.streaming import event_data, sse_event, sse_response, work_events

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


def _sse(kind: str, data: dict[str, Any] | BaseModel) -> ServerSentEvent:
    return sse_event(json.dumps(event_data(data), default=str), event=kind)


@router.post("", status_code=201, response_model=ConversationSummary,
             summary="Start a conversation over some documents (default: every ready document)")
def create(runtime: RuntimeDep, tenant: TenantDep, body: ConversationCreate) -> ConversationSummary:
    conversations = runtime.conversations_for(tenant)
    return conversations.summary(conversations.create(title=body.title, documents=body.documents,
                                                      collection=body.collection))


@router.get("", response_model=ConversationList, summary="The conversations, newest activity first")
def list_conversations(runtime: RuntimeDep, tenant: TenantDep,
                       limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       offset: Annotated[int, Query(ge=0)] = 0) -> ConversationList:
    found, total = runtime.conversations_for(tenant).recent(limit=limit, offset=offset)
    return ConversationList(conversations=found, total=total)


@router.get("/{conversation_id}", response_model=ConversationDetail,
            summary="A conversation with every turn: question, answer, route, reason, estimates, usage, citations")
def get_conversation(runtime: RuntimeDep, tenant: TenantDep, conversation_id: str) -> ConversationDetail:
    return runtime.conversations_for(tenant).detail(conversation_id)


@router.patch("/{conversation_id}", response_model=PatchResult,
              summary="Rename a conversation or change its scope (the answer says what that does to the cache)")
def patch_conversation(runtime: RuntimeDep, tenant: TenantDep, conversation_id: str,
                       body: ConversationPatch) -> PatchResult:
    conversations = runtime.conversations_for(tenant)
    row, cache = conversations.rename_or_rescope(
        conversation_id, title=body.title, documents=body.documents, collection=body.collection,
        set_scope=bool({"documents", "collection"} & body.model_fields_set))
    return PatchResult(conversation=conversations.summary(row), cache=cache)


@router.delete("/{conversation_id}", response_model=ConversationDeleted,
               summary="Delete a conversation and all of its turns (its spend stays in the ledger)")
def delete_conversation(runtime: RuntimeDep, tenant: TenantDep, conversation_id: str) -> ConversationDeleted:
    turns = runtime.conversations_for(tenant).delete(conversation_id)
    return ConversationDeleted(deleted=conversation_id, turns=turns)


@router.post("/{conversation_id}/messages", response_model=TurnResult,
             summary="Ask the conversation's next question (the options of /v1/query; stream: server-sent events)",
             responses={200: {"content": {"text/event-stream": {}}}})
def ask(runtime: RuntimeDep, tenant: TenantDep, conversation_id: str, body: TurnRequest) -> Any:
    conversations = runtime.conversations_for(tenant)
    # planned and held first: an unknown id, a busy thread, an emptied scope or a cap is a 4xx, not a 200 stream
    prepared = conversations.prepare(conversation_id, body)
    if not body.stream:
        return conversations.run(prepared)

    def work(emit: Any) -> None:
        result = conversations.run(prepared, emit=lambda kind, data: emit(kind, data) if kind != "done" else None)
        emit("done", result)

    return sse_response(_sse(kind, data) for kind, data in work_events(work, name="folio-turn"))
