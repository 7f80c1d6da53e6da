"""Health, readiness and the service's configuration as ``GET /v1/info`` reports it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from folio.service.schemas.common import ErrorInfo, omitted_when_none


class Health(BaseModel):
    status: str


class ReadinessChecks(BaseModel):
    model_loaded: bool
    llm_configured: bool
    qdrant: str = "ok"
    database: str = Field(default="ok", description="the records' database (SQLite or PostgreSQL): ok, or why not")


class Readiness(BaseModel):
    """Ready when the records' database and the index can be used and the embedding model is loaded (503 otherwise,
    naming what is not)."""

    ready: bool
    checks: ReadinessChecks
    error: ErrorInfo | None = omitted_when_none("why the index cannot be used")


class Info(BaseModel):
    model: str | None
    llm_configured: bool
    pricing_profile: str
    prices_as_of: str
    pricing_reason: str = Field(description="why this profile: set by FOLIO_PRICING_PROFILE, or chosen from the "
                                "model's endpoint")
    pricing_source: str = Field(description="where and when the profile's prices were taken")
    context_window: int
    embed_model: str
    embed_backend: str | None = Field(description="what computes the query vectors, e.g. 'onnx-int8' or "
                                      "'torch-fp32' (FOLIO_EMBED_BACKEND); null until the model is loaded")
    index: Literal["edge", "local", "server"] = Field(
        description="where the chunks are: Qdrant Edge or Qdrant's local mode embedded in DATA_DIR, or a Qdrant "
        "server (FOLIO_QDRANT_URL)")
    max_cost_usd: float | None
    top_k: int
    simulated_model: bool = Field(description="answers come from Folio's provider double, not a language model")
    simulated_notice: str | None = Field(description="what a person is told when the model is simulated")
