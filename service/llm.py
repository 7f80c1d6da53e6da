"""The language model behind Folio, through the official openai SDK against any OpenAI-compatible server.

DeepSeek's thinking switch and reasoning effort are mapped from ``reasoning``; 429, 5xx, timeouts and dropped
connections are retried with exponential backoff (honouring Retry-After); a context-length refusal becomes
``ContextTooLong`` so the caller can fall back to retrieval; usage is normalised across providers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import tenacity

from folio.errors import (
    ContextTooLong,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderStreamBroken,
    ProviderTimeout,
)
from folio.service.ledger import Usage
from folio.service.logs import current_request_id

Reasoning = Literal["none", "high", "max"]


@dataclass
class Completion:
    text: str
    usage: Usage
    finish_reason: str
    model: str
    seconds: float
    attempts: int
    reasoning: str = ""


def normalise_usage(usage: Any) -> Usage:
    """Usage from DeepSeek (prompt_cache_hit/miss_tokens) or OpenAI/vLLM/SGLang (cached_tokens)."""
    if usage is None:
        return Usage()
    data = usage.model_dump() if hasattr(usage, "model_dump") else dict(usage)
    prompt = int(data.get("prompt_tokens") or 0)
    details = data.get("prompt_tokens_details") or {}
    if data.get("prompt_cache_hit_tokens") is not None:
        hit = int(data["prompt_cache_hit_tokens"])
        miss = int(data.get("prompt_cache_miss_tokens") or max(0, prompt - hit))
    else:
        hit = int(details.get("cached_tokens") or 0)
        miss = max(0, prompt - hit)
    completion_details = data.get("completion_tokens_details") or {}
    return Usage(hit_tokens=hit, miss_tokens=miss, output_tokens=int(data.get("completion_tokens") or 0),
                 reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0))


def reasoning_params(reasoning: Reasoning) -> dict[str, Any]:
    if reasoning == "none":
        return {"extra_body": {"thinking": {"type": "disabled"}}}
    return {"extra_body": {"thinking": {"type": "enabled"}}, "reasoning_effort": reasoning}


class LLMClient:
    """One configured model. ``user_id`` isolates the provider's cache per tenant, never per person."""

    def __init__(self, *, base_url: str, api_key: str, model: str, timeout_s: float = 120.0,
                 max_retries: int = 3, backoff_s: float = 0.5, user_id: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        from openai import OpenAI

        self.model = model
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.user_id = user_id
        self._sleep = sleep
        self._client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)

    def _params(self, messages: list[dict[str, str]], reasoning: Reasoning, max_tokens: int) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                  "temperature": 0.0, **reasoning_params(reasoning)}
        if self.user_id:
            params["user"] = self.user_id
        request_id = current_request_id()
        if request_id:  # the provider's logs and ours name the same request
            params["extra_headers"] = {"X-Request-ID": request_id}
        return params

    def _retrying(self, call: Callable[[], Completion]) -> Completion:
        """``call`` with up to ``max_retries`` retries of what may pass (429, 5xx, timeouts, dropped connections,
        a malformed response), waiting as the provider's Retry-After says or backing off exponentially with
        jitter; the last failure, or one that retrying cannot mend, becomes Folio's provider error."""
        import openai

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=_RetryAfterOr(tenacity.wait_exponential_jitter(multiplier=self.backoff_s, jitter=self.backoff_s,
                                                                max=30)),
            retry=tenacity.retry_if_exception_type(_transient()),
            sleep=self._sleep, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    started = time.perf_counter()
                    result = call()
                    result.attempts = attempt.retry_state.attempt_number
                    result.seconds = time.perf_counter() - started
                    return result
        except openai.BadRequestError as exc:
            if _is_context_length(exc):
                raise ContextTooLong(f"the provider refused the prompt as too long: {_message(exc)}") from exc
            raise ProviderError(f"the provider rejected the request: {_message(exc)}") from exc
        except openai.RateLimitError as exc:
            raise ProviderRateLimited(f"the provider is rate limiting after {self.max_retries + 1} attempts",
                                      retry_after_s=_retry_after(exc)) from exc
        except openai.APITimeoutError as exc:
            raise ProviderTimeout(f"the provider did not answer in time ({self.max_retries + 1} attempts)") from exc
        except (openai.InternalServerError, openai.APIConnectionError, ProviderBadResponse) as exc:
            raise ProviderError(f"the provider failed {self.max_retries + 1} times: {_message(exc)}") from exc
        except openai.APIStatusError as exc:
            raise ProviderError(f"the provider answered HTTP {exc.status_code}: {_message(exc)}") from exc
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def complete(self, messages: list[dict[str, str]], *, reasoning: Reasoning = "none",
                 max_tokens: int = 2048) -> Completion:
        def call() -> Completion:
            try:
                response = self._client.chat.completions.create(**self._params(messages, reasoning, max_tokens))
            except ValueError as exc:  # the SDK could not decode the body
                raise ProviderBadResponse(f"the provider sent an unreadable response: {exc}") from exc
            if not getattr(response, "choices", None):
                raise ProviderBadResponse("the provider's response has no choices")
            choice = response.choices[0]
            extra = getattr(choice.message, "model_extra", None) or {}
            return Completion(text=choice.message.content or "", usage=normalise_usage(response.usage),
                              finish_reason=choice.finish_reason or "stop", model=response.model or self.model,
                              seconds=0.0, attempts=0, reasoning=str(extra.get("reasoning_content") or ""))

        return self._retrying(call)

    def stream(self, messages: list[dict[str, str]], *, reasoning: Reasoning = "none", max_tokens: int = 2048,
               on_text: Callable[[str], None]) -> Completion:
        """Stream the answer into ``on_text``. A stream cut after text was sent is not retried (it would repeat
        text the caller has shown): it raises ProviderError with what arrived."""
        sent: list[str] = []

        def call() -> Completion:
            import openai

            if sent:
                raise ProviderStreamBroken("the provider's stream broke off mid-answer; partial answer: "
                                           + "".join(sent)[:200], partial_text="".join(sent))
            params = self._params(messages, reasoning, max_tokens)
            params.update(stream=True, stream_options={"include_usage": True})
            usage: Any = None
            finish = "stop"
            model = self.model
            reasoning_text: list[str] = []
            done = False
            try:
                for chunk in self._client.chat.completions.create(**params):
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = chunk.usage
                    for choice in chunk.choices:
                        extra = getattr(choice.delta, "model_extra", None) or {}
                        if extra.get("reasoning_content"):
                            reasoning_text.append(str(extra["reasoning_content"]))
                        if choice.delta.content:
                            sent.append(choice.delta.content)
                            on_text(choice.delta.content)
                        if choice.finish_reason:
                            finish = choice.finish_reason
                            done = True
            except (openai.APIConnectionError, openai.APIError) as exc:
                if sent and not isinstance(exc, openai.APIStatusError):
                    raise ProviderStreamBroken("the provider's stream broke off mid-answer",
                                               partial_text="".join(sent)) from exc
                raise
            except ValueError as exc:
                raise ProviderBadResponse(f"unreadable stream chunk: {exc}") from exc
            if not done:
                if sent:
                    raise ProviderStreamBroken("the provider's stream ended before the answer was complete",
                                               partial_text="".join(sent))
                raise ProviderBadResponse("the provider's stream ended without an answer")
            return Completion(text="".join(sent), usage=normalise_usage(usage), finish_reason=finish, model=model,
                              seconds=0.0, attempts=0, reasoning="".join(reasoning_text))

        return self._retrying(call)


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(exc)[:300]


def _is_context_length(exc: Exception) -> bool:
    text = _message(exc).lower()
    body = getattr(exc, "body", None)
    code = ""
    if isinstance(body, dict):
        inner = body.get("error", body)
        code = str(inner.get("code") or "") if isinstance(inner, dict) else ""
    return code == "context_length_exceeded" or "maximum context length" in text or "context length" in text


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _transient() -> tuple[type[BaseException], ...]:
    import openai

    return (openai.RateLimitError, openai.APITimeoutError, openai.InternalServerError, openai.APIConnectionError,
            ProviderBadResponse)


class _RetryAfterOr(tenacity.wait.wait_base):
    """Wait what a 429's Retry-After asks, else as ``fallback`` says."""

    def __init__(self, fallback: tenacity.wait.wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        asked = _retry_after(outcome.exception()) if outcome is not None and outcome.failed else None
        return asked if asked is not None else float(self.fallback(retry_state))
