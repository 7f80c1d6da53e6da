"""The service's long-lived parts, built once per process: store, embedder, ledger, model client, jobs."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cachetools import LRUCache

from folio.config import Settings
from folio.errors import FolioError, OverBudget, StoreError
from folio.ingest.embed import Embedder, backend_of, embedder_from_settings
from folio.ingest.pipeline import Ingestor
from folio.ingest.reports import FileResult
from folio.ingest.sources import Source
from folio.ingest.store import STALE_WRITE_S, Store
from folio.ingest.tokens import deepseek_counter
from folio.service.answer import Answerer, Emit, QueryRequest
from folio.service.conversations import Conversations
from folio.service.jobs import JobQueue
from folio.service.ledger import Ledger, LedgerEntry
from folio.service.llm import LLMClient
from folio.service.metrics import Metrics
from folio.service.page_images import PageImages
from folio.service.planner import Plan
from folio.service.pricing import choose_profile
from folio.service.schemas.answer import Answer

logger = logging.getLogger("folio.service")
PARSER_IDLE_S = 60.0  # the parser worker's tokenizers hold ~0.25 GB: given back when no upload comes for this long

class FairLock:
    """A lock served in the order it was asked for. ``threading.Lock`` is not: a thread that releases it and asks
    again at once (an upload's next slice) gets it back before the threads already waiting wake up, so a question
    could wait for a whole batch of slices instead of one."""

    def __init__(self) -> None:
        self._turns = threading.Condition(threading.Lock())
        self._next = 0
        self._serving = 0

    def __enter__(self) -> FairLock:
        with self._turns:
            ticket = self._next
            self._next += 1
            self._turns.wait_for(lambda: self._serving == ticket)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._turns:
            self._serving += 1
            self._turns.notify_all()


class LockedEmbedder:
    """One model shared by queries and uploads: calls are serialised (torch already uses every core), in the
    order they came (``FairLock``), an upload's in slices, so that a question waits for one slice at most.

    Query vectors are remembered (a plan and then the answer, or the same question asked again, embed once), and
    a remembered one is answered without waiting for the model."""

    QUERY_CACHE = 512
    UPLOAD_SLICE = 32

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._lock = FairLock()
        self._cache_lock = threading.Lock()
        self._queries: LRUCache[str, np.ndarray] = LRUCache(maxsize=self.QUERY_CACHE)
        self.name = inner.name
        self.backend = backend_of(inner)
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens

    def embed(self, texts: list[str]) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), self.UPLOAD_SLICE):
            with self._lock:
                parts.append(self._inner.embed(texts[start:start + self.UPLOAD_SLICE]))
        return np.concatenate(parts) if parts else self._inner.embed(texts)

    def _remembered(self, text: str) -> np.ndarray | None:
        with self._cache_lock:
            return self._queries.get(text)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._remembered(text)
        if vector is not None:
            return vector
        with self._lock:
            vector = self._remembered(text)  # asked meanwhile by another request
            if vector is not None:
                return vector
            vector = self._inner.embed_query(text)
            vector.setflags(write=False)
            with self._cache_lock:
                self._queries[text] = vector
        return vector


class MeteredLedger(Ledger):
    """The ledger, counting every provider request's tokens and dollars in the metrics as it records them."""

    def __init__(self, store: Store, *, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self.metrics = metrics

    def record(self, entry: LedgerEntry) -> None:
        super().record(entry)
        self.metrics.observe_ledger(entry)


class MeteredAnswerer(Answerer):
    """The answerer, counting the route each question took (or the error it ended in) in the metrics."""

    def __init__(self, *, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    def plan_to_answer(self, request: QueryRequest) -> Plan:
        """A refusal is a failed question whichever path asked (a stream plans before its first byte)."""
        try:
            return super().plan_to_answer(request)
        except OverBudget as exc:
            self.metrics.observe_failure(exc.code)
            raise

    def answer(self, request: QueryRequest, emit: Emit | None = None, *, plan: Plan | None = None) -> Answer:
        try:
            result = super().answer(request, emit, plan=plan)
        except OverBudget:
            raise  # counted by plan_to_answer
        except FolioError as exc:
            self.metrics.observe_failure(exc.code)
            raise
        except Exception:
            self.metrics.observe_failure("internal_error")
            raise
        self.metrics.observe_answer(request.mode, result)
        return result


@dataclass
class Runtime:
    """The service's parts. Everything that must outlive a request is in Qdrant (chunks) or the records' database
    (documents, ledger, the upload jobs' queue with their bytes), so replicas on one Qdrant server or cluster and
    one database are interchangeable; what is here is a cache (the model, query vectors, and in local mode only,
    the store's copies) or the work in progress.

    The store is opened on first use (``Store.lazy``), not here: the service starts, and answers what needs no
    index, while the local index is held by another process or the Qdrant server is down; everything that needs
    the index answers 503 with the store's code until it can be opened."""

    settings: Settings
    store: Store
    ledger: Ledger
    answerer: Answerer
    jobs: JobQueue
    llm: LLMClient | None
    metrics: Metrics = field(default_factory=lambda: Metrics(process=False))
    started: float = field(default_factory=time.time)
    _embedder: Embedder | None = None
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock)
    embedder_factory: Callable[[], Embedder] | None = None
    model_wanted: bool = False  # warm() could not load the model yet: readiness tries again

    _tenant_llms: dict[str, LLMClient] = field(default_factory=dict)
    _tenant_lock: threading.Lock = field(default_factory=threading.Lock)
    ingestor: Ingestor | None = None  # the uploads' (its parser worker starts with the first upload)
    page_images: PageImages | None = None  # pages as printed (their render workers start with the first image)
    _pages_lock: threading.Lock = field(default_factory=threading.Lock)

    def llm_for(self, tenant: str) -> LLMClient | None:
        """The model client with ``tenant``'s cache isolation id: FOLIO_LLM_USER_ID for tenant "default" (as
        before tenants), ``{FOLIO_LLM_USER_ID}-{tenant}`` for the others. One client underneath."""
        if self.llm is None or tenant == "default":
            return self.llm
        with self._tenant_lock:
            client = self._tenant_llms.get(tenant)
            if client is None:
                client = copy.copy(self.llm)
                client.user_id = f"{self.settings.llm_user_id}-{tenant}"
                self._tenant_llms[tenant] = client
            return client

    def answerer_for(self, tenant: str) -> Answerer:
        """The answerer as ``tenant`` sees it: its documents, its ledger, its provider cache."""
        return self.answerer.for_tenant(tenant, ledger=self.ledger.for_tenant(tenant), llm=self.llm_for(tenant))

    def conversations_for(self, tenant: str) -> Conversations:
        """``tenant``'s conversations, answered with its answerer view (on the ledger's clock)."""
        return Conversations(self.answerer_for(tenant), clock=self.ledger.clock, metrics=self.metrics)

    def embedder(self) -> Embedder:
        with self._embedder_lock:
            if self._embedder is None:
                factory = self.embedder_factory or (lambda: embedder_from_settings(
                    self.settings, self.store.document_records.embed_backends()))
                self._embedder = LockedEmbedder(factory())
            return self._embedder

    def warm(self) -> None:
        """Load what the first question would otherwise wait for: the embedding model, and in local mode the
        in-memory search index (later, on first use, when the index cannot be opened now)."""
        self.load_model()
        try:
            self.store.warm()
        except StoreError as exc:
            logger.warning("the index cannot be used yet: %s [%s]; requests that need it get 503 until it can, "
                           "and it is tried again as they come", exc.message, exc.code)

    def printed_pages(self) -> PageImages:
        """Pages as printed (images, quotes' boxes); made on first use, its render workers with the first page."""
        with self._pages_lock:
            if self.page_images is None:
                self.page_images = PageImages(self.store, self.settings)
            return self.page_images

    def load_model(self) -> bool:
        """Load the embedding model now; False, with a note, while the records cannot be read ('auto' follows the
        backend that embedded the documents), and ``readiness`` tries again."""
        try:
            self.embedder()
        except StoreError as exc:
            self.model_wanted = True
            logger.warning("the embedding model waits for the records: %s [%s]", exc.message, exc.code)
            return False
        self.model_wanted = False
        return True

    @property
    def model_loaded(self) -> bool:
        return self._embedder is not None

    @property
    def embed_backend(self) -> str | None:
        """What computes the query vectors ('onnx-int8', 'torch-fp32', ...); None until the model is loaded."""
        return backend_of(self._embedder) if self._embedder is not None else None

    def close(self) -> None:
        self.jobs.stop()  # first: the upload being run goes back to the queue when its parser stops
        if self.ingestor is not None:  # an upload being parsed stops now (interrupted), not in 5 s
            self.ingestor.close()
        self.jobs.close()
        if self.page_images is not None:
            self.page_images.close()
        self.store.close()


def make_llm(settings: Settings) -> LLMClient | None:
    if not settings.llm_configured:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
    return LLMClient(base_url=settings.llm_effective_base_url, api_key=key, model=settings.llm_model,
                     timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
                     user_id=settings.llm_user_id)


def _after_open(store: Store) -> None:
    """Each time the index opens: purge what a killed writer left unfinished and chunks no record claims
    (``Store.recover``; on a shared server only what was abandoned hours ago), then tag the financial statement
    pages and the genre of documents ingested before Folio tagged them (once each; retrieval's statement lane and
    fusion weights need them). A failure is logged: the next upload tries again."""
    try:
        purged = store.recover(older_than_s=None if store.local else STALE_WRITE_S)
        if purged:
            logger.info("recovery purged %d unfinished or unclaimed documents", len(purged))
        tagged = store.tag_documents()
    except StoreError as exc:
        logger.warning("could not recover or tag older documents: %s [%s]", exc.message,
                       exc.code)
        return
    if tagged:
        logger.info("tagged the statement pages and genres of %d documents ingested before they were tagged",
                    len(tagged))


def build_runtime(settings: Settings, *, embedder_factory: Callable[[], Embedder] | None = None,
                  llm: LLMClient | None = None, clock: Callable[[], float] = time.time,
                  metrics: Metrics | None = None, tenants: set[str] | None = None) -> Runtime:
    """``metrics``: the app's (its /metrics serves them); by default a registry of the runtime's own.
    ``tenants``: those the API keys name (the previous release's ledger entries from before tenants move to the
    records' database as tenant "default", unless FOLIO_LLM_USER_ID, the tenant they carry, is one of these)."""
    store = Store.lazy(settings, key_tenants=tenants or ())
    store.after_open(lambda: _after_open(store))
    metrics = metrics if metrics is not None else Metrics(process=False)
    ledger = MeteredLedger(store, metrics=metrics, clock=clock, prior_followups=settings.expected_followups)
    holder: dict[str, Runtime] = {}

    def embedder() -> Embedder:
        return holder["rt"].embedder()

    client = llm if llm is not None else make_llm(settings)
    pricing = choose_profile(settings)
    answerer = MeteredAnswerer(metrics=metrics, store=store, embedder=embedder, settings=settings, ledger=ledger,
                               llm=client, counter=deepseek_counter(), prices=pricing.profile)
    # one parser worker, started with the first upload and gone after a minute without one: uploads are parsed
    # one at a time, each under the sandbox's deadline and memory cap (FOLIO_INGEST_WORKERS=0: inline, without
    # them, as most tests do). Its recovery spares other writers.
    ingestor = Ingestor(store, embedder, settings, workers=min(1, settings.ingest_worker_count),
                        worker_idle_s=PARSER_IDLE_S)

    def ingest(source: Source, progress: Any) -> FileResult:
        return ingestor.run([source], progress)[0]

    jobs = JobQueue(ingest, store, metrics=metrics)  # wall-clock time: a test's ledger clock may jump hours
    runtime = Runtime(settings=settings, store=store, ledger=ledger, answerer=answerer, jobs=jobs, llm=client,
                      metrics=metrics, embedder_factory=embedder_factory, ingestor=ingestor)
    holder["rt"] = runtime
    return runtime
