"""``GET /v1/ledger``: the spend so far, by route, document and scope, and the prices it was billed at."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Totals(BaseModel):
    requests: int = Field(description="provider requests, each counted once wherever it is shown")
    shared_requests: int = Field(description="of them, requests about other documents too: in by_document their "
                                 "tokens and dollars are split by each document's share of the scope's tokens")
    hit_tokens: int
    miss_tokens: int
    output_tokens: int
    dollars: float
    estimated_requests: int = Field(description="requests whose usage Folio estimated (the provider sent none)")


class PricesPerMillion(BaseModel):
    input_miss: float
    input_hit: float
    output: float


class Pricing(BaseModel):
    profile: str
    model: str
    as_of: str
    usd_per_million: PricesPerMillion


class LedgerSummary(BaseModel):
    totals: Totals
    by_route: dict[str, Totals]
    by_document: dict[str, Totals]
    by_scope: dict[str, Totals] = Field(description="keyed by the scope's 12-character document ids, sorted")
    pricing: Pricing
