"""Health, readiness and the service's configuration as ``GET /v1/info`` reports it."""

from __future__ import annotations

from pydantic import BaseModel

from folio.service.schemas.common import ErrorInfo, omitted_when_none


class Health(BaseModel):
    status: str


class ReadinessChecks(BaseModel):
    model_loaded: bool
    llm_configured: bool
    qdrant: str = "ok"


class Readiness(BaseModel):
    """Ready when the index can be used and the embedding model is loaded (503 otherwise, naming what is not)."""

    ready: bool
    checks: ReadinessChecks
    error: ErrorInfo | None = omitted_when_none("why the index cannot be used")


class Info(BaseModel):
    model: str | None
    llm_configured: bool
    pricing_profile: str
    prices_as_of: str
    context_window: int
    embed_model: str
    max_cost_usd: float | None
    top_k: int
