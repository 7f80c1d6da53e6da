"""An OpenAI-compatible chat endpoint, so that the openai SDK and chat front-ends ask Folio unchanged.

``POST /v1/chat/completions``: the last user message is the question and the model names the mode:

=================  ==================================================================================
``folio-auto``     Folio decides per question, by cost and need (``mode: auto``)
``folio-rag``      retrieved chunks
``folio-full``     the whole documents in a prefix-cached context
``folio-coverage`` every page, window by window (when the service offers coverage)
=================  ==================================================================================

Folio's own options ride in an extra ``folio`` object (with the SDK: ``extra_body={"folio": {"documents":
["3f9a2c1b"], "max_cost_usd": 0.10, "cascade": true, "warm": true}}``); ``reasoning_effort`` maps to Folio's
reasoning (minimal/none: none; low, medium, high: high; max, xhigh: max). The answer is a chat completion, or
``chat.completion.chunk`` events when ``stream`` is set, ending with ``data: [DONE]``. Its ``usage`` has the
provider's cache hits as OpenAI reports them (``prompt_tokens_details.cached_tokens``) and as DeepSeek does
(``prompt_cache_hit_tokens``, ``prompt_cache_miss_tokens``). An extra ``folio`` field carries the route and its
reason, the estimates, the cost, the citations checked against the stored pages and any fallback or
escalation (SDK: ``completion.model_extra["folio"]``); when streaming, the last chunk carries it, and progress
(the plan, a warm-up, coverage windows) comes as chunks with an empty delta and a ``folio.event``.

Every request is a turn of a Folio conversation (``/v1/conversations``), so a chat front-end that sends the whole
history each time gets follow-ups and cache hits without knowing Folio: a request whose earlier messages are the
questions and answers of one of the tenant's conversations, up to its latest turn, continues it (matched by
content, whitespace aside); ``folio.conversation`` names one explicitly; otherwise a new conversation starts
(over ``folio.documents``, or every document). When the earlier messages match no conversation (edited, or from
another service), the question is the first turn of a new one and ``folio.conversation.note`` says so: the model
reads Folio's own record of a thread, never a history a client made up. The ``folio`` extra names the
conversation and the turn.

Not used: system messages (Folio's prompt layout is fixed so that the provider's prefix cache hits),
``temperature`` and the like (Folio asks at 0), ``max_tokens`` (the limit is ``FOLIO_OUTPUT_RESERVE``), and
``user`` (the provider's cache isolation id is the API key's tenant's, never a person's).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal, get_args

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sse_starlette import ServerSentEvent

from folio.errors import InvalidRequest
from folio.service.access import TenantDep
from folio.service.answer import QueryRequest
from folio.service.conversations import Conversations, PreparedTurn
from folio.service.deps import RuntimeDep
from folio.service.errors import error_body
from folio.service.schemas.answer import Answer, Emit
from folio.service.schemas.common import Usage
from folio.service.schemas.conversations import TurnRequest, TurnResult
from folio.service.schemas.openai import (
    AssistantMessage,
    ChatCompletion,
    ChatUsage,
    Choice,
    CompletionTokensDetails,
    ConversationRef,
    FolioExtra,
    Model,
    ModelList,
    PromptTokensDetails,
)
from folio.service.schemas.plan import Plan
from folio.service.streaming import event_data, sse_event, sse_response, work_events
from folio.service.thread import thread_digest

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
logger = logging.getLogger("folio.service")

_ALL_MODELS = {"folio-auto": "auto", "folio-rag": "rag", "folio-full": "full", "folio-coverage": "coverage"}
# only the modes this service's QueryRequest accepts
MODELS = {name: mode for name, mode in _ALL_MODELS.items()
          if mode in get_args(QueryRequest.model_fields["mode"].annotation)}
MODEL_CREATED = 1_764_288_000  # 2025-11-28: a fixed date, since the models are modes, not weights
_REASONING = {"none": "none", "minimal": "none", "low": "high", "medium": "high", "high": "high", "max": "max",
              "xhigh": "max"}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class FolioOptions(BaseModel):
    """Folio's options for one question, in the request's extra ``folio`` object."""

    model_config = ConfigDict(extra="forbid")

    documents: list[str] | None = Field(default=None, description="Document ids (or unique prefixes); default: all")
    max_cost_usd: float | None = Field(default=None, ge=0)
    lookup_premium_usd: float | None = Field(default=None, ge=0)
    reasoning: Literal["none", "high", "max"] | None = Field(default=None, description="Overrides reasoning_effort")
    cascade: bool = False
    warm: bool | None = None
    fallback: bool = Field(default=False, description="Over max_cost_usd, answer by retrieval instead of refusing")
    conversation: str | None = Field(default=None, description="The conversation to continue (its id); default: "
                                     "the one whose turns the earlier messages are, else a new one")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's chat request; fields Folio does not use are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    reasoning_effort: str | None = None
    n: int = Field(default=1, ge=1)
    folio: FolioOptions = Field(default_factory=FolioOptions)


@router.get("/models", response_model=ModelList, summary="The Folio modes, as OpenAI-compatible models")
def list_models() -> ModelList:
    return ModelList(data=[_model(name) for name in MODELS])


@router.get("/models/{model_id}", response_model=Model, responses={404: {"description": "No such model"}},
            summary="One Folio mode, as an OpenAI-compatible model")
def get_model(model_id: str) -> Any:
    if model_id not in MODELS:
        return _unknown_model(model_id)
    return _model(model_id)


def _model(name: str) -> Model:
    return Model(id=name, created=MODEL_CREATED)


def _unknown_model(name: str) -> JSONResponse:
    return JSONResponse(error_body("model_not_found", f"no model {name!r}; Folio offers {', '.join(MODELS)}",
                                   type="invalid_request_error", param="model"), status_code=404)


@router.post("/chat/completions", response_model=ChatCompletion,
             summary="Ask a question, OpenAI-style (models folio-auto, folio-rag, ...): a conversation's next turn",
             responses={200: {"content": {"text/event-stream": {}}}})
def chat_completions(runtime: RuntimeDep, tenant: TenantDep, request: ChatRequest) -> Any:
    if request.model not in MODELS:
        return _unknown_model(request.model)
    if request.n != 1:
        raise InvalidRequest("Folio gives one answer per question (n must be 1)")
    turn = _turn_request(request)
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": request.model}
    conversations = runtime.conversations_for(tenant)
    thread = _conversation(conversations, request, _earlier_turns(request.messages))
    # planned and held first: a long question, a bad scope, a busy thread or a route over max_cost_usd is a 4xx,
    # not an error inside a 200 stream
    prepared = conversations.prepare(thread.id, turn)
    if not request.stream:
        result = conversations.run(prepared)
        return _completion(meta, turn.mode, result.answer, _thread(thread, result))
    include_usage = bool(request.stream_options and request.stream_options.include_usage)
    return sse_response(_stream(conversations, prepared, thread, meta, include_usage=include_usage))


def _text(message: ChatMessage) -> str:
    content = message.content
    if isinstance(content, list):
        content = "\n".join(str(part.get("text", "")) for part in content if part.get("type") in ("text", None))
    return (content or "").strip()


def _question(messages: list[ChatMessage]) -> str:
    users = [m for m in messages if m.role == "user"]
    if not users:
        raise InvalidRequest("no user message: the last user message is the question")
    text = _text(users[-1])
    if not text:
        raise InvalidRequest("the last user message has no text")
    return text


def _earlier_turns(messages: list[ChatMessage]) -> list[tuple[str, str]]:
    """The (question, answer) pairs before the last user message, as a chat client sends its history."""
    last_user = max(i for i, m in enumerate(messages) if m.role == "user") if any(
        m.role == "user" for m in messages) else 0
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for message in messages[:last_user]:
        if message.role == "user":
            question = _text(message) if question is None else question + "\n" + _text(message)
        elif message.role == "assistant" and question is not None:
            pairs.append((question, _text(message)))
            question = None
    return pairs


def _conversation(conversations: Conversations, request: ChatRequest,
                  pairs: list[tuple[str, str]]) -> ConversationRef:
    """The conversation this request continues, or a new one, with a note on how it was found."""
    options = request.folio
    if options.conversation:
        row = conversations.get(options.conversation)
        return ConversationRef(id=row.id, turn=row.turns + 1, matched=True, note="named by folio.conversation")
    if pairs:
        found = conversations.records.find_by_digest(thread_digest(pairs), tenant=conversations.tenant)
        if found is not None:
            return ConversationRef(id=found[0], turn=found[1] + 1, matched=True,
                                   note=f"the earlier messages are this conversation's {found[1]} turn(s)")
    row = conversations.create(title=None, documents=options.documents)
    note = ("a new conversation" if not pairs else
            f"a new conversation: the {len(pairs)} earlier turn(s) in the messages are not a Folio conversation of "
            "this tenant (edited, or from elsewhere), so the model does not read them")
    return ConversationRef(id=row.id, turn=1, matched=not pairs, note=note)


def _thread(thread: ConversationRef, result: TurnResult) -> ConversationRef:
    return thread.model_copy(update={"turn": result.turn, "recorded": result.recorded,
                                     "dollars": result.conversation.dollars})


def _turn_request(request: ChatRequest) -> TurnRequest:
    options = request.folio
    reasoning = options.reasoning or _REASONING.get((request.reasoning_effort or "none").lower())
    if reasoning is None:
        raise InvalidRequest(f"reasoning_effort {request.reasoning_effort!r} is not one of {', '.join(_REASONING)}")
    try:
        return TurnRequest(question=_question(request.messages), mode=MODELS[request.model],  # type: ignore[arg-type]
                           max_cost_usd=options.max_cost_usd, reasoning=reasoning,  # type: ignore[arg-type]
                           stream=request.stream, cascade=options.cascade, warm=options.warm,
                           lookup_premium_usd=options.lookup_premium_usd, fallback=options.fallback)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidRequest(f"the question is not valid: {problems}") from None


def _content(result: Answer) -> str:
    if result.answer is not None:
        return result.answer
    lines = [result.message or "No answer.", "", "Retrieved pages:"]
    for hit in result.retrieved[:8]:
        first, last = hit.first_page + 1, hit.last_page + 1
        pages = f"p.{first}" if first == last else f"pp.{first}-{last}"
        lines.append(f"- [{hit.title or hit.document_id[:12]} {pages}] {' '.join(hit.text.split())[:300]}")
    return "\n".join(lines)


def _usage(result: Answer) -> ChatUsage:
    usage = result.usage or Usage()
    hit, miss, output = usage.hit_tokens, usage.miss_tokens, usage.output_tokens
    return ChatUsage(prompt_tokens=hit + miss, completion_tokens=output, total_tokens=hit + miss + output,
                     prompt_tokens_details=PromptTokensDetails(cached_tokens=hit),
                     completion_tokens_details=CompletionTokensDetails(reasoning_tokens=usage.reasoning_tokens),
                     prompt_cache_hit_tokens=hit, prompt_cache_miss_tokens=miss)


def _finish_reason(result: Answer) -> Literal["stop", "length"]:
    return "length" if any(e.kind == "truncated" for e in result.events) else "stop"


def _extra(mode: str, result: Answer, thread: ConversationRef) -> FolioExtra:
    """What the chat format has no place for: route, reason, estimates, cost, citations, events, the thread."""
    answered = result.answer is not None
    return FolioExtra(route=result.route, reason=result.reason, mode=mode, model=result.model, conversation=thread,
                      estimates=result.plan.estimates, cost=result.cost, usage=result.usage,
                      citations=result.citations, events=result.events, scope=result.plan.scope,
                      answered=answered, coverage=result.coverage,
                      message=None if answered else result.message,
                      retrieved=None if answered else result.retrieved)


def _completion(meta: dict[str, Any], mode: str, result: Answer, thread: ConversationRef) -> ChatCompletion:
    return ChatCompletion(**meta, choices=[Choice(message=AssistantMessage(content=_content(result)),
                                                  finish_reason=_finish_reason(result))],
                          usage=_usage(result), folio=_extra(mode, result, thread))


def _chunk(meta: dict[str, Any], delta: dict[str, Any], *, finish_reason: str | None = None,
           folio: dict[str, Any] | BaseModel | None = None) -> ServerSentEvent:
    body: dict[str, Any] = {**meta, "object": "chat.completion.chunk", "system_fingerprint": None,
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                                         "logprobs": None}]}
    if folio is not None:
        body["folio"] = event_data(folio)
    return sse_event(json.dumps(body, default=str))


def _progress(kind: str, data: dict[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(data, Plan):
        return {"event": "plan", "route": data.route, "reason": data.reason,
                "estimates": data.estimates.model_dump(mode="json")}
    return {"event": kind, **event_data(data)}


def _stream(conversations: Conversations, prepared: PreparedTurn, thread: ConversationRef, meta: dict[str, Any], *,
            include_usage: bool) -> Iterator[ServerSentEvent]:
    yield _chunk(meta, {"role": "assistant", "content": ""})

    def work(emit: Emit) -> None:
        result = conversations.run(prepared, emit=lambda kind, data: emit(kind, data) if kind != "done" else None)
        emit("done", result)

    for kind, data in work_events(work, name="folio-chat"):
        if kind == "delta" and isinstance(data, dict):
            yield _chunk(meta, {"content": data.get("text", "")})
        elif kind == "done" and isinstance(data, TurnResult):
            answer = data.answer
            if answer.answer is None:
                yield _chunk(meta, {"content": _content(answer)})
            yield _chunk(meta, {}, finish_reason=_finish_reason(answer),
                         folio=_extra(prepared.request.mode, answer, _thread(thread, data)))
            if include_usage:
                usage = {**meta, "object": "chat.completion.chunk", "choices": [],
                         "usage": _usage(answer).model_dump(mode="json")}
                yield sse_event(json.dumps(usage))
        elif kind == "error" and isinstance(data, dict):
            error = data["error"]
            yield sse_event(json.dumps({"error": {**error, "type": "folio_error"}}))
        else:
            yield _chunk(meta, {}, folio=_progress(kind, data))
    yield sse_event("[DONE]")
