"""The cache state through the service and the provider double: a change of thinking mode reads the prefix the
earlier questions cached (issue 21, item 1)."""

from __future__ import annotations

from typing import Any

from tests.service_helpers import contract_pdf, service, service_settings, upload

QUESTION = "What notice does either party need to terminate for convenience?"


def _ask(client: Any, reasoning: str) -> dict[str, Any]:
    response = client.post("/v1/query", json={"question": QUESTION, "mode": "full", "reasoning": reasoning})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_change_of_thinking_mode_reads_the_cached_prefix(tmp_path, provider_double):
    double = provider_double()
    with service(service_settings(tmp_path, double)) as client:
        upload(client, "msa.pdf", contract_pdf())
        first, second = _ask(client, "none"), _ask(client, "none")
        assert first["plan"]["warmup"] and not second["plan"]["warmup"]
        plan = client.post("/v1/plan", json={"question": QUESTION, "mode": "full", "reasoning": "high"}).json()
        cache = plan["plan"]["inputs"]["cache"]
        assert cache["h"] > 0.9 and not cache["mode_split"], cache
        assert not plan["plan"]["warmup"]  # no billed warm-up for a prefix the provider already holds
        high = _ask(client, "high")
        assert not high["plan"]["warmup"]
        prefix = high["plan"]["inputs"]["scope_tokens"] + high["plan"]["inputs"]["system_tokens"]
        # the double, like DeepSeek's template, changes only what follows the last user turn: the prefix hits
        assert high["usage"]["hit_tokens"] >= prefix * 0.9, (high["usage"], prefix)
        # and the estimate priced it as the hit it was
        assert abs(high["plan"]["estimates"]["full"]["hit_tokens"] - high["usage"]["hit_tokens"]) < 0.1 * prefix


def test_an_identical_retrieval_prompt_is_estimated_as_the_hit_it_is(tmp_path, provider_double):
    """The provider persists the end of every request's input: the same question over the same excerpts reads
    the whole prompt from the cache, and the plan prices it so (issue 21, item 4)."""
    double = provider_double()
    with service(service_settings(tmp_path, double)) as client:
        upload(client, "msa.pdf", contract_pdf())
        body = {"question": QUESTION, "mode": "rag"}
        first = client.post("/v1/query", json=body).json()
        assert first["plan"]["inputs"]["rag_prompt_h"] == 0.0
        second = client.post("/v1/query", json=body).json()
        assert second["plan"]["inputs"]["rag_prompt_h"] > 0.9
        estimate, billed = second["plan"]["estimates"]["rag"], second["usage"]
        prompt = billed["hit_tokens"] + billed["miss_tokens"]
        assert billed["hit_tokens"] >= 0.9 * prompt  # the provider read it from the cache
        assert abs(estimate["hit_tokens"] - billed["hit_tokens"]) <= 0.1 * prompt
        assert estimate["dollars"] < first["plan"]["estimates"]["rag"]["dollars"]


def test_the_system_prompt_is_estimated_cold_until_the_provider_can_have_persisted_it(tmp_path, provider_double):
    """The provider persists a prefix two requests share: the first retrieval questions read the system prompt
    as a miss, as billed, and once two were asked the next reads it from the cache (issue 21, item 4)."""
    double = provider_double()
    questions = ["What notice does either party need to terminate for convenience?",
                 "Which state's laws govern the agreement?", "What is the liability cap?"]
    with service(service_settings(tmp_path, double)) as client:
        upload(client, "msa.pdf", contract_pdf())
        answers = [client.post("/v1/query", json={"question": q, "mode": "rag"}).json() for q in questions]
    first, _, third = answers
    assert first["plan"]["inputs"]["system_cache_h"] == 0.0
    assert first["plan"]["estimates"]["rag"]["hit_tokens"] == 0 and first["usage"]["hit_tokens"] == 0
    system = third["plan"]["inputs"]["system_tokens"]
    assert third["plan"]["inputs"]["system_cache_h"] > 0.9
    # the provider persisted the shared prefix: the system prompt, and here more (excerpts in document order
    # often begin alike), which the estimate does not count on
    assert third["usage"]["hit_tokens"] >= 0.9 * system
    assert 0.9 * system <= third["plan"]["estimates"]["rag"]["hit_tokens"] <= third["usage"]["hit_tokens"]
