"""Which prices apply: the configured profile, else the one the model's endpoint implies; never a silent guess."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from folio.cli import cli
from folio.config import Settings
from folio.errors import ConfigError
from folio.service.pricing import TimeOfDayRates, choose_profile, get_profile
from tests.service_helpers import service, service_settings

KEY = SecretStr("sk-test")


@pytest.mark.parametrize(("values", "profile", "words"), [
    ({"llm_api_key": KEY}, "deepseek-api", "DeepSeek's own API"),  # only a key: DeepSeek's API
    ({"llm_base_url": "https://api.deepseek.com/v1", "llm_api_key": KEY}, "deepseek-api", "api.deepseek.com"),
    ({"llm_base_url": "https://router.example.com/api/v1", "llm_api_key": KEY,
      "llm_model": "deepseek/deepseek-v4-flash"}, "deepseek-v4-flash-compat", "seed's provider"),
    ({"llm_base_url": "http://127.0.0.1:8001/v1", "llm_model": "qwen"}, "self-hosted", "127.0.0.1"),
    ({"llm_base_url": "http://vllm:8000/v1"}, "self-hosted", "vllm"),
    ({"llm_base_url": "http://10.1.2.3/v1"}, "self-hosted", "10.1.2.3"),
    ({}, "deepseek-v4-flash-compat", "no model configured"),
    ({"llm_api_key": KEY, "pricing_profile": "self-hosted"}, "self-hosted", "FOLIO_PRICING_PROFILE"),
])
def test_the_profile_follows_the_endpoint(values, profile, words):
    choice = choose_profile(Settings(**values))
    assert choice.profile.name == profile and words in choice.reason


def test_an_unknown_endpoint_is_refused_not_guessed():
    settings = Settings(llm_base_url="https://llm.example.com/v1", llm_api_key=KEY)
    with pytest.raises(ConfigError) as info:
        choose_profile(settings)
    assert "FOLIO_PRICING_PROFILE" in info.value.message and "llm.example.com" in info.value.message
    result = CliRunner().invoke(cli, ["serve", "--port", "0"], env={
        "FOLIO_LLM_BASE_URL": "https://llm.example.com/v1", "FOLIO_LLM_API_KEY": "sk-x"})
    assert result.exit_code == 2 and "FOLIO_PRICING_PROFILE" in result.output
    assert "Traceback" not in result.output


def test_info_names_the_profile_and_why(tmp_path):
    with service(service_settings(tmp_path, None, llm_api_key=KEY)) as client:
        info = client.get("/v1/info").json()
    assert info["pricing_profile"] == "deepseek-api"
    assert "DeepSeek's own API" in info["pricing_reason"] and info["pricing_source"]
    assert info["index"] == "edge"  # a new data dir's embedded index


def test_time_of_day_rates_price_a_request_when_it_is_made():
    base = get_profile("deepseek-api")
    night = TimeOfDayRates(start=time(16, 30), end=time(0, 30), input_miss=base.input_miss / 2,
                           input_hit=base.input_hit / 2, output=base.output / 2)
    profile = replace(base, time_of_day=(night,))
    usage = {"hit_tokens": 1_000_000, "miss_tokens": 1_000_000, "output_tokens": 1_000_000}
    day = profile.dollars(**usage, at=datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    late = profile.dollars(**usage, at=datetime(2026, 12, 2, 23, 59, tzinfo=UTC))
    early = profile.dollars(**usage, at=datetime(2026, 12, 3, 0, 15, tzinfo=UTC))  # the window wraps midnight
    assert day == pytest.approx(base.input_hit + base.input_miss + base.output)
    assert late == pytest.approx(day / 2) and early == pytest.approx(day / 2)
    assert profile.at(datetime(2026, 12, 3, 0, 30, tzinfo=UTC)).input_miss == base.input_miss  # end excluded
