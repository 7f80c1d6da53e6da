"""Pricing profiles: dated per-token prices, and the dollars of a provider's reported usage.

Prices are configuration, never constants in the routing code. Every profile says when its prices were
taken and from where, because providers change them often, and may carry hours of the day at other rates
(DeepSeek has had off-peak prices): a request is priced at the rates in force when it is made.

Which profile applies: ``FOLIO_PRICING_PROFILE`` when set; otherwise the one the model's endpoint implies
(``choose_profile``): DeepSeek's own API, the seed's provider (model ``deepseek/deepseek-v4-flash``), a server
on this machine or a private network (self-hosted: no per-token price). Folio does not guess for any other
endpoint: it refuses to start and asks for the setting, since every route decision depends on the prices.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from urllib.parse import urlsplit

from folio.config import Settings
from folio.errors import ConfigError

PER_MILLION = 1_000_000


@dataclass(frozen=True)
class TimeOfDayRates:
    """Other rates between ``start`` and ``end`` (UTC, wrapping past midnight when ``end < start``)."""

    start: time
    end: time
    input_miss: float
    input_hit: float
    output: float

    def __post_init__(self) -> None:
        # the ledger's summary re-prices its requests by their minute of the day (``folio.records.ledger_summary``)
        if any(edge.second or edge.microsecond for edge in (self.start, self.end)):
            raise ValueError(f"time-of-day rates start and end on a whole minute, not {self.start}-{self.end}")

    def covers(self, moment: datetime) -> bool:
        now = moment.astimezone(UTC).time()
        return self.start <= now < self.end if self.start <= self.end else (now >= self.start or now < self.end)


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
    time_of_day: tuple[TimeOfDayRates, ...] = ()

    def at(self, moment: datetime | None = None) -> PricingProfile:
        """The rates in force at ``moment`` (now by default): this profile, or its time-of-day rates."""
        if not self.time_of_day:
            return self
        moment = moment or datetime.now(UTC)
        for window in self.time_of_day:
            if window.covers(moment):
                return replace(self, input_miss=window.input_miss, input_hit=window.input_hit,
                               output=window.output, time_of_day=())
        return replace(self, time_of_day=())

    def per_million(self) -> dict[str, float]:
        """These rates as a ledger entry stores them, so that the entry can be re-priced: USD per million tokens
        on a miss, a hit and of output, and the cache-write multiplier on misses."""
        return {"input_miss": self.input_miss, "input_hit": self.input_hit, "output": self.output,
                "cache_write_multiplier": self.cache_write_multiplier}

    @property
    def hit_ratio(self) -> float:
        """Hit price as a share of the miss price (0.22 for the seed's provider, 0.02 for DeepSeek's own)."""
        return self.input_hit / self.input_miss if self.input_miss else 1.0

    def dollars(self, *, hit_tokens: int, miss_tokens: int, output_tokens: int,
                at: datetime | None = None) -> float:
        """What a request with this usage costs at the rates in force at ``at`` (now). Miss tokens are written
        to the cache at the write multiplier."""
        rates = self.at(at)
        return (hit_tokens * rates.input_hit
                + miss_tokens * rates.input_miss * rates.cache_write_multiplier
                + output_tokens * rates.output) / PER_MILLION


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
            source="DeepSeek's own API: hits at 2% of the miss price (DESIGN.md); no time-of-day rates as of this "
                   "date; check api-docs.deepseek.com/quick_start/pricing before relying on it",
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


DEEPSEEK_API_HOSTS = ("api.deepseek.com",)
SEED_MODEL = "deepseek/deepseek-v4-flash"


@dataclass(frozen=True)
class ProfileChoice:
    """The profile in force and, in words, why (shown by /v1/info, the UI and ``folio serve``)."""

    profile: PricingProfile
    reason: str


def choose_profile(settings: Settings) -> ProfileChoice:
    """The pricing profile for ``settings``: the configured one, else the one the model's endpoint implies."""
    if settings.pricing_profile:
        return ProfileChoice(get_profile(settings.pricing_profile), "set by FOLIO_PRICING_PROFILE")
    if not settings.llm_configured:
        return ProfileChoice(get_profile(DEFAULT_PROFILE),
                             "no model configured: estimates at the seed provider's prices")
    url = settings.llm_effective_base_url
    host = (urlsplit(url).hostname or "").lower()
    if host in DEEPSEEK_API_HOSTS:
        return ProfileChoice(get_profile("deepseek-api"), f"chosen from the endpoint: DeepSeek's own API ({host})")
    if settings.llm_model == SEED_MODEL:
        return ProfileChoice(get_profile(DEFAULT_PROFILE),
                             f"chosen from the model name {SEED_MODEL} (the seed's provider) at {host}")
    if _is_local(host):
        return ProfileChoice(get_profile("self-hosted"), f"chosen from the endpoint: a server of your own ({host})")
    raise ConfigError(
        f"FOLIO_PRICING_PROFILE is not set and the model's endpoint {url} is not one Folio knows the prices of; "
        f"set FOLIO_PRICING_PROFILE to one of {', '.join(sorted(PROFILES))}, since every route is chosen by price")


def _is_local(host: str) -> bool:
    """Loopback, a private network, or a bare name (a container or a machine on this network)."""
    if host in ("localhost", "host.docker.internal") or host.endswith((".local", ".internal", ".lan")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return bool(host) and "." not in host
    return address.is_loopback or address.is_private or address.is_link_local
