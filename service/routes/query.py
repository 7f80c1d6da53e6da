"""Questions: plan (no model call), query (answer, optionally streamed as server-sent events), ledger."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sse_starlette import ServerSentEvent

from folio.service.access import TenantDep
from folio.service.deps import RuntimeDep
from folio.service.explain import summarise
from folio.service.planner import retrieved_chunk
from folio.service.schemas.answer import Answer
from folio.service.schemas.ledger import LedgerSummary, PricesPerMillion, Pricing
from folio.service.schemas.plan import PlanResponse
from folio.service.schemas.query import QueryRequest
from folio.service.streaming import answer_events, event_data, sse_event, sse_response

router = APIRouter(prefix="/v1", tags=["questions"])
logger = logging.getLogger("folio.service")


@router.post("/plan", response_model=PlanResponse,
             summary="The route, the reason and both estimates, without calling the model")
def plan(runtime: RuntimeDep, tenant: TenantDep, request: QueryRequest) -> PlanResponse:
    answerer = runtime.answerer_for(tenant)
    result = answerer.plan(request)
    titles = {r.id: r.title for r in result.records}
    report, retrieved = result.report(), [retrieved_chunk(h, titles) for h in result.hits]
    planned = Answer(question=request.question, route=result.decision.route, reason=result.decision.reason,
                     plan=report, retrieved=retrieved)
    return PlanResponse(plan=report, route=result.decision.route, reason=result.decision.reason,
                        summary=summarise(planned, answerer.prices, estimate_only=True),
                        retrieved=retrieved, model_configured=runtime.llm is not None)


def _sse(kind: str, data: dict[str, Any] | BaseModel) -> ServerSentEvent:
    return sse_event(json.dumps(event_data(data), default=str), event=kind)


@router.post("/query", response_model=Answer, summary="Answer a question: route, answer, citations, usage and cost",
             responses={200: {"content": {"text/event-stream": {}}}})
def query(runtime: RuntimeDep, tenant: TenantDep, request: QueryRequest) -> Any:
    answerer = runtime.answerer_for(tenant)
    if not request.stream:
        return answerer.answer(request)
    # planned first: a long question, a bad scope or a route over max_cost_usd is a 4xx, not an event in a 200 stream
    planned = answerer.plan_to_answer(request)
    events = answer_events(answerer, request, name="folio-query", plan=planned)  # starts when the response is read
    return sse_response(_sse(kind, data) for kind, data in events)


@router.get("/ledger", response_model=LedgerSummary,
            summary="Spend so far: cache-hit, cache-miss and output tokens and dollars, by profile and re-priced")
def ledger(runtime: RuntimeDep, tenant: TenantDep) -> LedgerSummary:
    prices = runtime.answerer.prices
    summary = runtime.ledger.for_tenant(tenant).summary(current=prices)
    pricing = Pricing(profile=prices.name, model=prices.model, as_of=prices.as_of.isoformat(),
                      usd_per_million=PricesPerMillion(**prices.per_million()))
    return LedgerSummary.model_validate({**summary, "pricing": pricing})
