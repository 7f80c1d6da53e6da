"""POST /v1/chat/completions and GET /v1/models, with the official openai SDK as the client, over real HTTP
(uvicorn in a thread), the provider double as the model behind Folio."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.live_server import live_folio
from tests.service_helpers import contract_pdf, service_settings

QUESTION = "How much notice ends the agreement for convenience?"


@pytest.fixture
def folio(tmp_path, provider_double):
    double = provider_double()
    with live_folio(service_settings(tmp_path, double, llm_max_retries=1)) as live:
        response = httpx.post(f"{live.url}/v1/documents?wait=true", files=[("files", ("msa.pdf", contract_pdf()))],
                              timeout=120)
        assert response.status_code == 200, response.text
        doc_id = response.json()["jobs"][0]["document_id"]
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="any-key", max_retries=0, timeout=60)
        yield live, client, double, doc_id


def test_models_are_the_modes(folio):
    _, client, _, _ = folio
    ids = [m.id for m in client.models.list()]
    assert ids[:3] == ["folio-auto", "folio-rag", "folio-full"]
    assert "folio-coverage" in ids  # QueryRequest accepts mode "coverage"
    assert client.models.retrieve("folio-full").owned_by == "folio"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_full_answer_carries_route_cost_and_verified_citations(folio):
    live, client, _, doc_id = folio
    completion = client.chat.completions.create(
        model="folio-full",
        messages=[{"role": "system", "content": "You are terse."},  # ignored: Folio's system prompt is fixed
                  {"role": "user", "content": "Who are the parties?"},
                  {"role": "assistant", "content": "Northwind and Brightwater."},
                  {"role": "user", "content": QUESTION}])
    assert completion.object == "chat.completion" and completion.model == "folio-full"
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content and choice.finish_reason == "stop"
    folio_extra = completion.model_extra["folio"]
    assert folio_extra["route"] == "full" and folio_extra["mode"] == "full" and folio_extra["reason"]
    assert folio_extra["cost"]["dollars"] > 0 and folio_extra["estimates"]["full"]["dollars"] > 0
    assert folio_extra["citations"] and all(c["verified"] is True for c in folio_extra["citations"])
    assert folio_extra["citations"][0]["label"] in choice.message.content
    assert folio_extra["scope"][0]["id"] == doc_id
    usage = completion.usage
    folio_usage = folio_extra["usage"]
    assert usage.prompt_tokens == folio_usage["hit_tokens"] + folio_usage["miss_tokens"] > 0
    assert usage.prompt_tokens_details.cached_tokens == folio_usage["hit_tokens"]
    assert usage.completion_tokens == folio_usage["output_tokens"] > 0
    # the bill is the ledger's
    ledger = httpx.get(f"{live.url}/v1/ledger").json()
    assert ledger["totals"]["dollars"] == pytest.approx(folio_extra["cost"]["dollars"])


def test_streaming_matches_the_answer_and_ends_with_the_extra_field(folio):
    _, client, _, _ = folio
    plain = client.chat.completions.create(model="folio-rag", messages=[{"role": "user", "content": QUESTION}])
    chunks = list(client.chat.completions.create(model="folio-rag", stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": QUESTION}]))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.model == "folio-rag" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    progress = [c.model_extra["folio"] for c in chunks if c.model_extra and "event" in c.model_extra.get("folio", {})]
    assert progress[0]["event"] == "plan" and progress[0]["route"] == "rag"
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason][-1]
    assert final.choices[0].finish_reason == "stop"
    extra = final.model_extra["folio"]
    assert extra["route"] == "rag" and extra["cost"]["dollars"] > 0 and extra["citations"]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage.completion_tokens == extra["usage"]["output_tokens"]


def test_folio_options_scope_the_question_and_reasoning_effort_maps(folio):
    _, client, double, doc_id = folio
    completion = client.chat.completions.create(
        model="folio-auto", reasoning_effort="high",
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is the liability cap?"}]}],
        extra_body={"folio": {"documents": [doc_id[:8]], "max_cost_usd": 0.5}})
    extra = completion.model_extra["folio"]
    assert extra["route"] in ("rag", "full") and extra["scope"][0]["id"] == doc_id
    assert double.requests()[-1]["thinking"] is True  # reasoning_effort "high": thinking on
    client.chat.completions.create(model="folio-rag", messages=[{"role": "user", "content": QUESTION}])
    assert double.requests()[-1]["thinking"] is False


def test_errors_come_back_as_the_sdk_expects(folio):
    _, client, double, _ = folio
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x?"}])
    assert unknown.value.body["code"] == "model_not_found"
    with pytest.raises(openai.UnprocessableEntityError) as no_question:
        client.chat.completions.create(model="folio-rag", messages=[{"role": "system", "content": "hi"}])
    assert no_question.value.body["code"] == "invalid_request"
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as scope:
            client.chat.completions.create(model="folio-rag", stream=stream,
                                           messages=[{"role": "user", "content": "x?"}],
                                           extra_body={"folio": {"documents": ["ffffffffffff"]}})
        assert scope.value.body["code"] == "document_not_found"
    # the provider fails after the stream has begun: the SDK raises from the error event
    double.add_faults("500", "500")  # llm_max_retries=1: two attempts
    with pytest.raises(openai.APIError) as failed:
        list(client.chat.completions.create(model="folio-rag", stream=True,
                                            messages=[{"role": "user", "content": QUESTION}]))
    assert failed.value.body["code"] == "provider_error"
    double.add_faults("429", "429")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="folio-rag", messages=[{"role": "user", "content": QUESTION}])


def test_without_a_model_the_answer_is_the_plan_and_the_pages(tmp_path):
    with live_folio(service_settings(tmp_path, None)) as live:
        response = httpx.post(f"{live.url}/v1/documents?wait=true", files=[("files", ("msa.pdf", contract_pdf()))],
                              timeout=120)
        assert response.status_code == 200
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0)
        completion = client.chat.completions.create(model="folio-auto",
                                                    messages=[{"role": "user", "content": QUESTION}])
        content = completion.choices[0].message.content
        assert content.startswith("No language model is configured") and "Retrieved pages:" in content
        extra = completion.model_extra["folio"]
        assert extra["answered"] is False and extra["retrieved"] and extra["cost"] is None
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="folio-auto", stream=True, messages=[{"role": "user", "content": QUESTION}]) if c.choices)
        assert streamed == content


FOLLOW_UPS = ["Which state's law governs the agreement?", "And which courts hear disputes?",
              "What notice does it require for termination?"]


def test_a_chat_client_that_resends_its_history_continues_one_conversation_from_the_cache(folio):
    """The openai SDK in a loop, as Open WebUI or LibreChat use it: the whole history each time, nothing Folio's
    in the request. Each turn continues the same conversation and reads every earlier turn from the cache."""
    live, client, double, _ = folio
    messages: list[dict[str, str]] = []
    conversation = None
    for n, question in enumerate(FOLLOW_UPS, 1):
        messages.append({"role": "user", "content": question})
        completion = client.chat.completions.create(model="folio-full", messages=messages)
        thread = completion.model_extra["folio"]["conversation"]
        assert thread["turn"] == n and thread["matched"] is True and thread["recorded"] is True
        conversation = conversation or thread["id"]
        assert thread["id"] == conversation
        if n > 1:
            previous, last = double.requests()[-2:]
            assert last["hit_tokens"] >= previous["prompt_tokens"] + previous["completion_tokens"] - 64
            assert completion.usage.prompt_tokens_details.cached_tokens == last["hit_tokens"]
        messages.append({"role": "assistant", "content": completion.choices[0].message.content})
    stored = httpx.get(f"{live.url}/v1/conversations/{conversation}", timeout=30).json()
    assert [t["question"] for t in stored["history"]] == FOLLOW_UPS


def test_an_edited_history_starts_a_new_conversation_and_says_so(folio):
    _, client, _, _ = folio
    first = client.chat.completions.create(model="folio-full",
                                           messages=[{"role": "user", "content": FOLLOW_UPS[0]}])
    made = first.model_extra["folio"]["conversation"]["id"]
    edited = client.chat.completions.create(model="folio-full", messages=[
        {"role": "user", "content": FOLLOW_UPS[0]}, {"role": "assistant", "content": "Something else entirely."},
        {"role": "user", "content": FOLLOW_UPS[1]}])
    thread = edited.model_extra["folio"]["conversation"]
    assert thread["id"] != made and thread["matched"] is False and "not a Folio conversation" in thread["note"]
    named = client.chat.completions.create(model="folio-full", messages=[{"role": "user", "content": FOLLOW_UPS[1]}],
                                           extra_body={"folio": {"conversation": made}})
    assert named.model_extra["folio"]["conversation"] == {**named.model_extra["folio"]["conversation"],
                                                           "id": made, "turn": 2}
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="folio-full", messages=[{"role": "user", "content": "Hello?"}],
                                       extra_body={"folio": {"conversation": "no-such-thread"}})


def test_a_streamed_chat_turn_names_its_conversation(folio):
    _, client, _, _ = folio
    stream = client.chat.completions.create(model="folio-full", stream=True,
                                            messages=[{"role": "user", "content": FOLLOW_UPS[0]}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = [c for c in chunks if (c.model_extra or {}).get("folio", {}).get("conversation")][-1]
    assert text and last.model_extra["folio"]["conversation"]["turn"] == 1
