"""The service's long-lived parts, built once per process: store, embedder, ledger, model client, jobs."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ingest.config import Settings
from ingest.embed import Embedder, load_embedder
from ingest.pipeline import FileResult, Ingestor, Source
from ingest.store import Store
from ingest.tokens import deepseek_counter
from service.answer import Answerer
from service.jobs import JobQueue
from service.ledger import Ledger
from service.llm import LLMClient
from service.pricing import get_profile


class LockedEmbedder:
    """One model shared by queries and uploads: calls are serialised (torch already uses every core).

    Query vectors are remembered (a plan and then the answer, or the same question asked again, embed once)."""

    QUERY_CACHE = 512
    UPLOAD_SLICE = 32

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self.name = inner.name
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens

    def embed(self, texts: list[str]) -> np.ndarray:
        # an upload's batch goes in slices, so that a question waits for one slice at most, not a whole batch
        parts = []
        for start in range(0, len(texts), self.UPLOAD_SLICE):
            with self._lock:
                parts.append(self._inner.embed(texts[start:start + self.UPLOAD_SLICE]))
        return np.concatenate(parts) if parts else self._inner.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self._queries.get(text)
            if vector is None:
                vector = self._inner.embed_query(text)
                vector.setflags(write=False)
                self._queries[text] = vector
                if len(self._queries) > self.QUERY_CACHE:
                    self._queries.popitem(last=False)
            else:
                self._queries.move_to_end(text)
            return vector


@dataclass
class Runtime:
    settings: Settings
    store: Store
    ledger: Ledger
    answerer: Answerer
    jobs: JobQueue
    llm: LLMClient | None
    started: float = field(default_factory=time.time)
    _embedder: Embedder | None = None
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock)
    embedder_factory: Callable[[], Embedder] | None = None

    def embedder(self) -> Embedder:
        with self._embedder_lock:
            if self._embedder is None:
                factory = self.embedder_factory or (lambda: load_embedder(
                    self.settings.embed_model, dtype=self.settings.embed_dtype,
                    batch_size=self.settings.embed_batch_size))
                self._embedder = LockedEmbedder(factory())
            return self._embedder

    def warm(self) -> None:
        """Load what the first question would otherwise wait for: the embedding model, and in local mode the
        in-memory search index."""
        self.embedder()
        if self.store.local and self.store.has_chunks_collection():
            self.store.local_index()

    @property
    def model_loaded(self) -> bool:
        return self._embedder is not None

    def close(self) -> None:
        self.jobs.close()
        self.store.close()


def make_llm(settings: Settings) -> LLMClient | None:
    if not settings.llm_configured:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
    return LLMClient(base_url=settings.llm_effective_base_url, api_key=key, model=settings.llm_model,
                     timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
                     user_id=settings.llm_user_id)


def build_runtime(settings: Settings, *, embedder_factory: Callable[[], Embedder] | None = None,
                  llm: LLMClient | None = None, clock: Callable[[], float] = time.time) -> Runtime:
    store = Store.open(settings)
    ledger = Ledger(store, clock=clock, prior_followups=settings.expected_followups)
    holder: dict[str, Runtime] = {}

    def embedder() -> Embedder:
        return holder["rt"].embedder()

    client = llm if llm is not None else make_llm(settings)
    answerer = Answerer(store=store, embedder=embedder, settings=settings, ledger=ledger, llm=client,
                        counter=deepseek_counter(), prices=get_profile(settings.pricing_profile))
    ingestor = Ingestor(store, embedder, settings, workers=0)

    def ingest(source: Source, progress: Any) -> FileResult:
        return ingestor.run([source], progress)[0]

    runtime = Runtime(settings=settings, store=store, ledger=ledger, answerer=answerer,
                      jobs=JobQueue(ingest), llm=client, embedder_factory=embedder_factory)
    holder["rt"] = runtime
    return runtime
