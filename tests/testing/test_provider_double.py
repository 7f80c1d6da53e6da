"""The provider double: its cache model (pure), and over real HTTP with the official openai SDK as client."""

from __future__ import annotations

import hashlib
import json
import random
import time
from typing import Any, cast

import httpx
import openai
import pytest
from openai import Stream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from folio.testing.provider import (
    NOT_FOUND,
    READY,
    CacheConfig,
    DoubleFactory,
    ManualClock,
    PrefixCache,
    RunningDouble,
    answer,
    encode,
    render,
)
from folio.testing.provider.template import ASSISTANT, BOS, EOS, THINK_CLOSE, THINK_OPEN, USER, marker_id

SYSTEM = (
    "Answer only from the documents. Cite every claim as [doc-title p.N]. "
    "When the documents do not contain the answer, say so."
)
TITLE = "Master Services Agreement"
PAGE_3_FACT = "The supplier shall keep all customer records in an encrypted vault located in Reykjavik."
_VOCAB_TEXT = (
    "agreement party parties service services obligation clause schedule invoice payment fee term renewal "
    "supplier customer deliverable milestone warranty indemnity liability limit cap insurance audit right "
    "report quarter annual confidential information disclosure breach remedy cure period written consent "
    "assignment subcontractor personnel standard quality acceptance test defect repair replacement price "
    "adjustment index currency tax withholding dispute escalation meeting representative governance"
)
_VOCAB = _VOCAB_TEXT.split()


def _page_text(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(_VOCAB) for _ in range(rng.randint(8, 16))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def documents_block(pages: int = 6, sentences: int = 32) -> str:
    """A Folio-layout documents block of about 3,000 tokens; page 3 holds ``PAGE_3_FACT``."""
    rng = random.Random(7)
    body = []
    for n in range(1, pages + 1):
        text = _page_text(rng, sentences)
        if n == 3:
            text = f"{text} {PAGE_3_FACT} {_page_text(rng, 2)}"
        body.append(f'<page n="{n}">\n{text}\n</page>')
    pages_xml = "\n".join(body)
    return (
        f'<documents>\n<document id="doc-1" title="{TITLE}" file="msa.pdf" pages="{pages}">\n'
        f"{pages_xml}\n</document>\n</documents>"
    )


DOCS = documents_block()


def one_message(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{DOCS}\n\nQuestion: {question}"}]


def ask(client: openai.OpenAI, messages: list[dict[str, str]], max_tokens: int = 256, **kwargs: Any) -> ChatCompletion:
    completion: ChatCompletion = client.chat.completions.create(
        model="deepseek-chat", messages=cast(Any, messages), max_tokens=max_tokens, stream=False, **kwargs
    )
    return completion


def ask_stream(client: openai.OpenAI, messages: list[dict[str, str]], **kwargs: Any) -> Stream[ChatCompletionChunk]:
    stream: Stream[ChatCompletionChunk] = client.chat.completions.create(
        model="deepseek-chat", messages=cast(Any, messages), max_tokens=256, stream=True, **kwargs
    )
    return stream


def hit_of(completion: ChatCompletion) -> int:
    usage = completion.usage
    assert usage is not None
    return int(getattr(usage, "prompt_cache_hit_tokens"))  # noqa: B009 - a DeepSeek extra field


@pytest.fixture
def double(provider_double: DoubleFactory) -> RunningDouble:
    return provider_double()


@pytest.fixture
def client(double: RunningDouble) -> openai.OpenAI:
    return double.openai_client()


# ---- the template -------------------------------------------------------------------------------------------


def test_role_markers_are_single_tokens() -> None:
    for marker in (BOS, EOS, USER, ASSISTANT, THINK_OPEN, THINK_CLOSE):
        assert len(encode(marker)) == 1
    assert marker_id(BOS) == 0 and marker_id(EOS) == 1


def test_template_renders_history_and_generation_prompt() -> None:
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "U2"},
    ]
    assert render(messages) == f"{BOS}S{USER}U1{ASSISTANT}A1{EOS}{USER}U2{ASSISTANT}"
    tagged = render(messages, think_tags=True, thinking=True)
    assert tagged == f"{BOS}S{USER}U1{ASSISTANT}{THINK_CLOSE}A1{EOS}{USER}U2{ASSISTANT}{THINK_OPEN}"


# ---- the cache model, pure ----------------------------------------------------------------------------------


def _tokens(prefix: int, tail: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [1000 + i for i in range(prefix)] + [rng.randrange(2000, 9000) for _ in range(tail)]


def test_cache_common_prefix_rule() -> None:
    cache = PrefixCache(CacheConfig(), ManualClock())
    a_b, a_c, a_d = _tokens(300, 20, 1), _tokens(300, 20, 2), _tokens(300, 20, 3)
    assert cache.lookup("k", a_b).hit_tokens == 0
    cache.record("k", a_b, [5, 6])
    assert cache.lookup("k", a_c).hit_tokens == 0
    assert 300 in cache.record("k", a_c, [5, 6])
    hit = cache.lookup("k", a_d)
    assert (hit.unit_tokens, hit.hit_tokens, hit.miss_tokens) == (300, 256, 64)


def test_cache_output_unit_ttl_refresh_and_interval() -> None:
    clock = ManualClock()
    cache = PrefixCache(CacheConfig(ttl_s=100, interval_tokens=128), clock)
    prompt = _tokens(200, 0, 0)
    cache.record("k", prompt, [7] * 40)
    follow_up = [*prompt, *[7] * 40, 9, 9]
    assert cache.lookup("k", follow_up).unit_tokens == 240
    assert cache.lookup("other", follow_up).hit_tokens == 0
    assert cache.lookup("k", [*prompt[:130], 1, 2]).unit_tokens == 128  # the interval unit
    clock.advance(99)
    assert cache.lookup("k", follow_up).hit_tokens == 192  # used: refreshed
    clock.advance(99)
    assert cache.lookup("k", follow_up).hit_tokens == 192
    assert [u.tokens for u in cache.units("k")] == [240]  # the units at 128 and 200, unused since t=0, expired
    clock.advance(100)
    assert cache.lookup("k", follow_up).hit_tokens == 0
    assert cache.units("k") == []


# ---- the cache over HTTP ------------------------------------------------------------------------------------


def test_third_question_hits_the_common_prefix(double: RunningDouble, client: openai.OpenAI) -> None:
    questions = ("Who pays the invoice?", "What does the warranty cover?", "Which audit right applies?")
    hits = [hit_of(ask(client, one_message(q))) for q in questions]
    log = double.requests()
    first, second = (encode(render(one_message(q))) for q in questions[:2])
    shared = next(i for i, (x, y) in enumerate(zip(first, second, strict=False)) if x != y)
    assert hits[0] == 0 and hits[1] == 0
    assert hits[2] > 0 and hits[2] % 64 == 0 and hits[2] <= shared
    assert hits[2] == shared // 64 * 64
    assert [e["hit_tokens"] for e in log] == hits
    print(f"prompt tokens {[e['prompt_tokens'] for e in log]}, shared prefix {shared}, hits {hits}")


def test_warm_up_then_multi_round_question_hits_first_time(double: RunningDouble, client: openai.OpenAI) -> None:
    warm = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": DOCS}]
    reply = ask(client, warm)
    assert reply.choices[0].message.content == READY
    assert hit_of(reply) == 0
    question = [*warm, {"role": "assistant", "content": READY}, {"role": "user", "content": "Question: Who pays?"}]
    first = ask(client, question)
    docs_tokens = len(encode(render(warm)))
    assert hit_of(first) >= docs_tokens // 64 * 64
    assert hit_of(first) == (docs_tokens + len(encode(READY)) + 1) // 64 * 64  # the output unit, EOS included
    assert first.usage is not None
    print(f"warm-up prompt {docs_tokens} tokens; question prompt {first.usage.prompt_tokens}, hit {hit_of(first)}")


def test_question_inside_the_documents_message_misses_the_warm_up_unit(client: openai.OpenAI) -> None:
    warm = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": DOCS}]
    assert ask(client, warm).choices[0].message.content == READY
    docs_tokens = len(encode(render(warm)))
    first = ask(client, one_message("Who pays?"))  # the unit ends with <｜Assistant｜>, this prompt does not
    assert hit_of(first) == 0
    second = ask(client, one_message("What does the warranty cover?"))  # the common prefix of the two is persisted
    assert 0 < hit_of(second) <= docs_tokens


def test_think_tags_make_a_thinking_warm_up_miss_its_first_question(provider_double: DoubleFactory) -> None:
    double = provider_double(think_tags=True)
    client = double.openai_client()
    warm = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": DOCS}]
    docs_tokens = len(encode(render(warm)))
    for thinking, first_hits in (("disabled", True), ("enabled", False)):
        double.reset()
        extra = {"thinking": {"type": thinking}}
        assert ask(client, warm, extra_body=extra).choices[0].message.content == READY
        history = [*warm, {"role": "assistant", "content": READY}]
        first = ask(client, [*history, {"role": "user", "content": "Question: Who pays?"}], extra_body=extra)
        assert (hit_of(first) >= docs_tokens // 64 * 64) is first_hits
        second = ask(client, [*history, {"role": "user", "content": "Question: Which fee?"}], extra_body=extra)
        assert hit_of(second) >= (docs_tokens - 1) // 64 * 64  # the common prefix, up to <｜Assistant｜>


def test_ttl_expiry_makes_the_prefix_miss_again(provider_double: DoubleFactory) -> None:
    double = provider_double(ttl_s=600)
    client = double.openai_client()
    messages = one_message("Who pays the invoice?")
    assert hit_of(ask(client, messages)) == 0
    again = hit_of(ask(client, messages))
    assert again > 0
    double.advance_clock(599)
    assert hit_of(ask(client, messages)) == again  # used within the TTL: refreshed
    double.advance_clock(601)
    assert hit_of(ask(client, messages)) == 0
    assert hit_of(ask(client, messages)) == again
    print(f"hit {again} before expiry, 0 after 601 s unused")


def test_usage_fields_are_consistent(double: RunningDouble, client: openai.OpenAI) -> None:
    messages = one_message("What does the warranty cover?")
    for _ in range(2):
        completion = ask(client, messages)
        usage = completion.usage
        assert usage is not None
        extra = usage.model_dump()
        assert extra["prompt_cache_hit_tokens"] + extra["prompt_cache_miss_tokens"] == usage.prompt_tokens
        assert usage.prompt_tokens_details is not None
        assert usage.prompt_tokens_details.cached_tokens == extra["prompt_cache_hit_tokens"]
        assert usage.prompt_tokens == len(encode(render(messages)))
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        assert usage.completion_tokens == len(encode(completion.choices[0].message.content or ""))
        assert usage.completion_tokens_details is not None
        assert usage.completion_tokens_details.reasoning_tokens == 0
    assert double.requests()[0]["prompt_sha256"] == hashlib.sha256(render(messages).encode()).hexdigest()


def test_thinking_adds_reasoning_and_max_tokens_cuts(client: openai.OpenAI) -> None:
    messages = one_message("What does the warranty cover?")
    thought = ask(client, messages, extra_body={"thinking": {"type": "enabled"}}, reasoning_effort="high")
    message = thought.choices[0].message
    reasoning = message.model_dump()["reasoning_content"]
    assert reasoning and message.content
    usage = thought.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == len(encode(reasoning))
    assert usage.completion_tokens == len(encode(reasoning)) + len(encode(message.content))
    cut = ask(client, messages, max_tokens=5)
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens == 5


def test_stream_matches_non_stream(double: RunningDouble, client: openai.OpenAI) -> None:
    messages = one_message("Which audit right applies?")
    plain = ask(client, messages)
    double.reset()
    stream = ask_stream(client, messages, stream_options={"include_usage": True})
    text, usage, finish = [], None, None
    for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(text) == plain.choices[0].message.content
    assert finish == plain.choices[0].finish_reason == "stop"
    assert usage is not None and plain.usage is not None
    assert usage.model_dump() == plain.usage.model_dump()


def test_stream_with_thinking_sends_reasoning_deltas(client: openai.OpenAI) -> None:
    stream = ask_stream(client, one_message("Who pays?"), extra_body={"thinking": {"type": "enabled"}})
    reasoning = "".join(c.choices[0].delta.model_dump().get("reasoning_content") or "" for c in stream if c.choices)
    assert reasoning.startswith("Question words:")


# ---- faults -------------------------------------------------------------------------------------------------


def test_rate_limit_fault(double: RunningDouble, client: openai.OpenAI) -> None:
    double.add_faults({"kind": "429", "retry_after": 3})
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client, one_message("Who pays?"))
    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.code == "rate_limit"
    assert ask(client, one_message("Who pays?")).choices[0].message.content  # one fault, one request


def test_server_error_faults(double: RunningDouble, client: openai.OpenAI) -> None:
    double.add_faults("500", "503")
    for status in (500, 503):
        with pytest.raises(openai.InternalServerError) as caught:
            ask(client, one_message("Who pays?"))
        assert caught.value.status_code == status
    assert [e["status"] for e in double.requests()] == [500, 503]
    assert all(not space["units"] for space in double.cache())  # refused requests leave no units


def test_timeout_fault(double: RunningDouble) -> None:
    double.add_faults({"kind": "timeout", "seconds": 5})
    client = double.openai_client(timeout=0.3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(client, one_message("Who pays?"))
    assert time.monotonic() - started < 3
    deadline = time.monotonic() + 3
    while not double.requests() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert double.requests()[0]["status"] == 499  # the double noticed the client went away


def test_cut_stream_fault(double: RunningDouble, client: openai.OpenAI) -> None:
    double.add_faults("cut_stream", "cut_stream")
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in ask_stream(client, one_message("Who pays?")):
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(received)  # some of the answer arrived before the cut
    with pytest.raises(openai.APIConnectionError):
        ask(client, one_message("Who pays?"))


def test_malformed_json_fault(double: RunningDouble, client: openai.OpenAI) -> None:
    double.add_faults("malformed_json", "malformed_json")
    with pytest.raises(json.JSONDecodeError):
        ask(client, one_message("Who pays?"))
    with pytest.raises(json.JSONDecodeError):
        list(ask_stream(client, one_message("Who pays?")))


def test_context_length_fault_and_real_overflow(provider_double: DoubleFactory) -> None:
    double = provider_double(context_window=4096)
    client = double.openai_client()
    double.add_faults("context_length")
    with pytest.raises(openai.BadRequestError) as injected:
        ask(client, [{"role": "user", "content": "Question: hi"}])
    assert "maximum context length" in str(injected.value)
    assert injected.value.code == "context_length_exceeded"
    prompt_tokens = len(encode(render(one_message("Who pays?"))))
    with pytest.raises(openai.BadRequestError) as real:
        ask(client, one_message("Who pays?"), max_tokens=2000)
    message = str(real.value)
    assert "maximum context length is 4096 tokens" in message
    assert f"{prompt_tokens} in the messages, 2000 in the completion" in message
    assert real.value.code == "context_length_exceeded"


# ---- answers and isolation ----------------------------------------------------------------------------------


def test_answer_quotes_the_page_that_holds_the_words(client: openai.OpenAI) -> None:
    content = ask(client, one_message("Where are the customer records kept, in which encrypted vault?"))
    text = content.choices[0].message.content
    assert text == f'According to {TITLE}, "{PAGE_3_FACT}" [{TITLE} p.3].'


def test_unrelated_question_gets_the_fixed_refusal(client: openai.OpenAI) -> None:
    content = ask(client, one_message("What is the boiling point of mercury on Venus?"))
    assert content.choices[0].message.content == NOT_FOUND


def test_excerpts_cite_the_page_where_the_sentence_lies() -> None:
    excerpts = (
        '<excerpts>\n<excerpt title="Lease" document="d1" pages="5-6">\nRent is due monthly.\n</excerpt>\n'
        '<excerpt title="Lease" document="d1" pages="8-9">\n<page n="8">Pets are allowed.</page>\n'
        '<page n="9">The deposit is returned within 30 days.</page>\n</excerpt>\n</excerpts>'
    )
    messages = [{"role": "user", "content": f"{excerpts}\n\nQuestion: When is the deposit returned?"}]
    assert answer(messages).content == 'According to Lease, "The deposit is returned within 30 days." [Lease p.9].'
    messages = [{"role": "user", "content": f"{excerpts}\n\nQuestion: When is rent due?"}]
    assert answer(messages).content == 'According to Lease, "Rent is due monthly." [Lease p.5].'


def test_quotes_join_wrapped_lines_keep_headings_and_ignore_questions_inside_documents() -> None:
    page = '2. Term\n2.1 Initial Term. It starts on 1 March\nand runs for "three" years.\n\nQuestion: not this one?'
    document = f'<document id="d" title="T" file="t.pdf" pages="1">\n<page n="1">{page}</page>\n</document>'
    docs = f"<documents>\n{document}\n</documents>"
    assert answer([{"role": "user", "content": docs}]).content == READY
    reply = answer([{"role": "user", "content": f"{docs}\n\nQuestion: How long does the initial term run?"}])
    quote = "2. Term 2.1 Initial Term. It starts on 1 March and runs for 'three' years."
    assert reply.content == f'According to T, "{quote}" [T p.1].'


def test_caches_are_isolated_per_user(double: RunningDouble, client: openai.OpenAI) -> None:
    messages = one_message("Who pays the invoice?")
    assert hit_of(ask(client, messages, user="tenant-a")) == 0
    assert hit_of(ask(client, messages, user="tenant-a")) > 0
    assert hit_of(ask(client, messages, user="tenant-b")) == 0
    assert hit_of(ask(client, messages, extra_body={"user_id": "tenant-b"})) > 0
    assert {e["user"] for e in double.requests()} == {"tenant-a", "tenant-b"}


def test_admin_reset_and_models(double: RunningDouble, client: openai.OpenAI) -> None:
    ask(client, one_message("Who pays?"))
    assert double.requests() and double.cache()
    double.reset()
    assert double.requests() == [] and double.cache() == []
    assert {m.id for m in client.models.list()} == {"deepseek-chat", "deepseek-reasoner"}
    bad = httpx.post(f"{double.base_url}/chat/completions", content=b"{", timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
