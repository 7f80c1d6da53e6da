"""``GET /v1/ledger``: the spend so far, by route, document, scope and pricing profile, the whole re-priced at the
current profile, and the current prices."""

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
    cache_write_multiplier: float = Field(default=1.0, description="misses are billed at input_miss times this")


class ProfileTotals(Totals):
    usd_per_million: PricesPerMillion | None = Field(
        description="the rates this profile's requests were billed at (as the latest of them stored them), or "
        "null when unknown")


class RepricedTotals(Totals):
    profile: str = Field(description="the current profile, whose rates price every request here")


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
    by_conversation: dict[str, Totals] = Field(
        default_factory=dict, description="keyed by conversation id: every request of its turns (questions, "
        "rewrites, warm-ups); a deleted conversation's spend stays here")
    by_profile: dict[str, ProfileTotals] = Field(
        description="what was billed at each pricing profile: more than one after FOLIO_PRICING_PROFILE changed, "
        "and then totals.dollars adds dollars at different prices")
    totals_at_current_prices: RepricedTotals = Field(
        description="every request's tokens priced at the current profile (pricing), at the time of day each was "
        "made: the whole ledger at one set of prices")
    pricing: Pricing
