"""Pricing profiles: dated per-token prices, and the dollars of a provider's reported usage.

Prices are configuration, never constants in the routing code. Every profile says when its prices were
taken and from where, because providers change them often (DeepSeek also prices by hour of day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from folio.errors import ConfigError

PER_MILLION = 1_000_000


@dataclass(frozen=True)
class PricingProfile:
    """USD per million tokens, with the cache's write multiplier and storage fee where a provider has them."""

    name: str
    model: str
    input_miss: float
    input_hit: float
    output: float
    as_of: date
    source: str
    cache_write_multiplier: float = 1.0
    storage_per_m_token_hour: float = 0.0

    @property
    def hit_ratio(self) -> float:
        """Hit price as a share of the miss price (0.22 for the seed's provider, 0.02 for DeepSeek's own)."""
        return self.input_hit / self.input_miss if self.input_miss else 1.0

    def dollars(self, *, hit_tokens: int, miss_tokens: int, output_tokens: int) -> float:
        """What a request with this usage costs. Miss tokens are written to the cache at the write multiplier."""
        return (hit_tokens * self.input_hit
                + miss_tokens * self.input_miss * self.cache_write_multiplier
                + output_tokens * self.output) / PER_MILLION


PROFILES: dict[str, PricingProfile] = {
    profile.name: profile
    for profile in (
        PricingProfile(
            name="deepseek-v4-flash-compat", model="deepseek/deepseek-v4-flash",
            input_miss=0.18, input_hit=0.04, output=0.36, as_of=date(2026, 11, 1),
            source="the seed's OpenAI-compatible provider for deepseek/deepseek-v4-flash (DESIGN.md)",
        ),
        PricingProfile(
            name="deepseek-api", model="deepseek-v4-flash",
            input_miss=0.28, input_hit=0.0056, output=0.42, as_of=date(2026, 11, 1),
            source="DeepSeek's own API: hits at 2% of the miss price (DESIGN.md); off-peak discounts not modelled; "
                   "check api-docs.deepseek.com/quick_start/pricing before relying on it",
        ),
        PricingProfile(
            name="self-hosted", model="any", input_miss=0.0, input_hit=0.0, output=0.0, as_of=date(2026, 11, 1),
            source="your own vLLM/SGLang server: no per-token price",
        ),
    )
}
DEFAULT_PROFILE = "deepseek-v4-flash-compat"


def get_profile(name: str = DEFAULT_PROFILE) -> PricingProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown pricing profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
