"""``folio serve --simulated-model``: the whole flow without an API key, the provider double standing in for the model.

The double (``folio.testing.provider``) runs in the service's process, on a free loopback port, in a background
thread, for as long as the service does, and the service's LLM settings point at it. It is not a language model: it
answers by quoting the sentence of the context that best matches the question, with DeepSeek's usage fields and
prefix-cache accounting. So the plan, the route, the citations, the token counts and the costs are Folio's own and
the words of the answer are not a model's. Wherever a person sees its answers they are labelled simulated:
``GET /v1/info`` (``simulated_model`` and ``simulated_notice``), ``folio serve``'s start-up lines and a banner in the
web UI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import SecretStr

from folio.config import Settings

SIMULATED_NOTICE = (
    "Simulated model: answers come from Folio's built-in provider double, which quotes the best-matching sentence of "
    "your documents; no language model is called. Routes, citations, token counts and costs are computed as they "
    "would be for a real model."
)


def simulated_notice(settings: Settings) -> str | None:
    """The line a person sees beside the answers, or None when a real model answers."""
    return SIMULATED_NOTICE if settings.simulated_model else None


@contextmanager
def run_simulated_model(settings: Settings) -> Iterator[tuple[Settings, str]]:
    """Start the provider double on loopback; yield the settings pointed at it (``simulated_model`` set) and its
    base URL. The double stops when the block ends."""
    from folio.testing.provider import run_provider_double

    with run_provider_double() as double:
        # the double stands in for the seed's provider: priced as it, unless a profile was chosen (a loopback
        # endpoint alone would read as self-hosted, and every dollar would be zero)
        simulated = settings.model_copy(update={
            "llm_base_url": double.base_url, "llm_api_key": SecretStr("simulated"), "simulated_model": True,
            "pricing_profile": settings.pricing_profile or "deepseek-v4-flash-compat",
        })
        yield simulated, double.base_url
