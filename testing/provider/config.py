"""The double's configuration: one frozen object passed to ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from .cache import CacheConfig, Clock


@dataclass(frozen=True)
class DoubleConfig:
    """Everything the provider double can be told.

    models: listed by ``GET /v1/models`` (any model name is accepted by the chat endpoint; each model has its own
        cache). thinking_models: models that think unless the request says ``thinking: {"type": "disabled"}``.
    context_window: prompt_tokens + max_tokens above it is a 400 ``context_length_exceeded``.
    default_max_tokens: used when a request gives neither ``max_tokens`` nor ``max_completion_tokens``.
    max_output_tokens: the largest accepted ``max_tokens``.
    granularity, ttl_s, min_common_prefix, recent_requests, interval_tokens: the prefix cache (see ``cache.py``).
    think_tags: render V3.1-style ``<think>``/``</think>`` after each assistant marker (see ``template.py``).
    stream_chunk_words: words per streamed delta.
    timeout_fault_s, retry_after_s: defaults for the "timeout" and "429" faults.
    clock: the cache's clock; ``None`` is monotonic time plus an offset moved by ``POST /_double/clock``.
    """

    models: tuple[str, ...] = ("deepseek-chat", "deepseek-reasoner")
    thinking_models: tuple[str, ...] = ("deepseek-reasoner",)
    context_window: int = 1_048_576
    default_max_tokens: int = 4096
    max_output_tokens: int = 393_216
    granularity: int = 64
    ttl_s: float = 3600.0
    min_common_prefix: int = 64
    recent_requests: int = 64
    interval_tokens: int | None = None
    think_tags: bool = False
    stream_chunk_words: int = 4
    timeout_fault_s: float = 30.0
    retry_after_s: int = 1
    clock: Clock | None = None

    def cache_config(self) -> CacheConfig:
        return CacheConfig(
            granularity=self.granularity,
            ttl_s=self.ttl_s,
            min_common_prefix=self.min_common_prefix,
            recent_requests=self.recent_requests,
            interval_tokens=self.interval_tokens,
        )
