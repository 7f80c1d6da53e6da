"""Prometheus metrics, served at ``GET /metrics``: one registry per service instance.

What is counted, and where it is counted:

- HTTP requests and their latency by route template and status (``MetricsMiddleware``; pure ASGI, so a
  streamed answer is timed to its last byte);
- questions by the mode asked for and the route taken, the fallbacks and escalations, and the questions that
  ended in an error (``observe_answer``, called by the runtime's answerer for ``/v1/query``,
  ``/v1/chat/completions`` and ``folio ask`` alike);
- every provider request's tokens (cache hit, cache miss, output) and dollars by route (``observe_ledger``:
  the ledger is where every provider call is recorded, so these add up to what ``GET /v1/ledger`` reports);
- ingestion: files by outcome, failures by error code, pages, chunks and bytes (throughput is their
  ``rate()``), seconds per file, and the uploads waiting in the replicas' shared queue, as this replica last
  counted them, plus the one it runs (``service.jobs``: take ``max()`` across replicas, not ``sum()``).

Each replica counts its own requests; Prometheus scrapes every replica (its ``instance`` label tells them apart)
and ``sum()`` adds them up. Useful queries::

    sum by (route) (rate(folio_questions_total[1h]))                     # routes chosen
    sum by (route) (increase(folio_cost_dollars_total[1d]))              # dollars a day, by route
    sum(rate(folio_tokens_total{type="cache_hit"}[1h])) / sum(rate(folio_tokens_total{type=~"cache_.*"}[1h]))
    histogram_quantile(0.95, sum by (le, handler) (rate(folio_http_request_duration_seconds_bucket[5m])))
    sum(rate(folio_ingest_pages_total[5m]))                              # pages ingested per second
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

from folio.service.ledger import LedgerEntry
from folio.service.logs import ASGIApp, Message, Receive, Scope, Send
from folio.service.schemas.answer import Answer

# HTTP latencies run from a 1 ms health check to a many-minute coverage answer.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
INGEST_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class Metrics:
    """Every metric the service exports, registered in its own registry (so two apps in one process, as in
    the tests, do not share counts)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.http_requests = Counter("folio_http_requests", "HTTP requests by method, route template and status.",
                                     ["method", "handler", "status"], registry=r)
        self.http_latency = Histogram("folio_http_request_duration_seconds",
                                      "Time from a request's arrival to its response's last byte.",
                                      ["method", "handler"], buckets=HTTP_BUCKETS, registry=r)
        self.http_in_flight = Gauge("folio_http_requests_in_flight", "Requests being handled now.", registry=r)
        self.questions = Counter("folio_questions", "Questions answered, by the mode asked for and the route taken.",
                                 ["mode", "route"], registry=r)
        self.question_events = Counter("folio_question_events",
                                       "Route changes while answering: fallback, escalation, no_escalation, "
                                       "truncated, window_failed.", ["kind"], registry=r)
        self.question_failures = Counter("folio_question_failures", "Questions that ended in an error, by code.",
                                         ["code"], registry=r)
        self.provider_requests = Counter("folio_provider_requests",
                                         "Requests to the language model by route and kind (question, warmup, "
                                         "cascade_rag, map, reduce).", ["route", "kind"], registry=r)
        self.tokens = Counter("folio_tokens", "The provider's tokens by route and type: cache_hit and cache_miss "
                              "(input), output (reasoning included).", ["route", "type"], registry=r)
        self.dollars = Counter("folio_cost_dollars", "Dollars billed at the pricing profile's prices, by route.",
                               ["route"], registry=r)
        self.ingest_files = Counter("folio_ingest_files", "Uploaded files by outcome: done, skipped (same bytes), "
                                    "failed.", ["status"], registry=r)
        self.ingest_failures = Counter("folio_ingest_failures", "Uploads that failed or were refused, by error code.",
                                       ["code"], registry=r)
        self.ingest_pages = Counter("folio_ingest_pages", "Pages ingested.", registry=r)
        self.ingest_chunks = Counter("folio_ingest_chunks", "Chunks embedded and stored.", registry=r)
        self.ingest_bytes = Counter("folio_ingest_bytes", "Bytes of files ingested.", registry=r)
        self.ingest_seconds = Histogram("folio_ingest_duration_seconds", "Seconds from an upload's start to its end.",
                                        buckets=INGEST_BUCKETS, registry=r)
        self.ingest_queue = Gauge("folio_ingest_queue_depth",
                                  "Uploads in the shared queue (as this replica last counted) plus the one it runs.",
                                  registry=r)
        self.info = Info("folio", "The service's version and configuration.", registry=r)
        if process:
            process_collector.ProcessCollector(registry=r)
            platform_collector.PlatformCollector(registry=r)
            gc_collector.GCCollector(registry=r)

    # -- observations --------------------------------------------------------------------------------

    def observe_answer(self, mode: str, result: Answer) -> None:
        self.questions.labels(mode=mode, route=result.route).inc()
        for event in result.events:
            self.question_events.labels(kind=event.kind).inc()

    def observe_failure(self, code: str) -> None:
        self.question_failures.labels(code=code).inc()

    def observe_ledger(self, entry: LedgerEntry) -> None:
        usage = entry.usage
        self.provider_requests.labels(route=entry.route, kind=entry.kind).inc()
        self.tokens.labels(route=entry.route, type="cache_hit").inc(usage.hit_tokens)
        self.tokens.labels(route=entry.route, type="cache_miss").inc(usage.miss_tokens)
        self.tokens.labels(route=entry.route, type="output").inc(usage.output_tokens)
        self.dollars.labels(route=entry.route).inc(max(0.0, entry.dollars))

    def observe_ingest(self, *, status: str, error_code: str | None = None, pages: int = 0, chunks: int = 0,
                       size_bytes: int = 0, seconds: float | None = None) -> None:
        self.ingest_files.labels(status=status).inc()
        if status == "failed":
            self.ingest_failures.labels(code=error_code or "unknown").inc()
        elif status == "done":
            self.ingest_pages.inc(pages)
            self.ingest_chunks.inc(chunks)
            self.ingest_bytes.inc(size_bytes)
        if seconds is not None:
            self.ingest_seconds.observe(seconds)

    def queue_depth(self, fn: Callable[[], float]) -> None:
        self.ingest_queue.set_function(fn)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (``/v1/documents/{doc_id}``, never the id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before it starts a response

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.http_in_flight.inc()
        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.http_in_flight.dec()
            handler = _handler(scope)
            method = str(scope.get("method", ""))
            self.metrics.http_requests.labels(method=method, handler=handler,
                                              status=str(status)).inc()
            self.metrics.http_latency.labels(method=method, handler=handler).observe(time.perf_counter() - started)


def _handler(scope: Scope) -> str:
    """The matched route's path template; the web UI's static files as one label; anything else as one."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path or "/ (ui)"
    return "unmatched"
