"""The FastAPI application: routes, the error handler, health checks, and the UI's static files."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from folio.config import Settings, get_settings
from folio.errors import StoreError
from folio.ingest.embed import Embedder
from folio.records.database import Database
from folio.service import errors
from folio.service.access import AccessMiddleware, ApiKeys, RateLimiter
from folio.service.deps import RuntimeDep
from folio.service.llm import LLMClient
from folio.service.logs import ASGIApp, RequestIdMiddleware
from folio.service.metrics import Metrics, MetricsMiddleware
from folio.service.pricing import choose_profile
from folio.service.routes import collections, conversations, documents, openai_compat, page_images, query, search
from folio.service.runtime import Runtime, build_runtime
from folio.service.schemas.common import ErrorInfo
from folio.service.schemas.health import Health, Info, Readiness, ReadinessChecks
from folio.service.simulated import simulated_notice

UI_DIR = Path(__file__).resolve().parents[1] / "ui"
logger = logging.getLogger("folio.service")


class FolioApp(FastAPI):
    """FastAPI with the request id outside everything, Starlette's error middleware included: a 500 carries
    ``X-Request-ID`` too, and the unexpected error's log line has the id."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestIdMiddleware(super().build_middleware_stack())


def readiness(runtime: Runtime) -> JSONResponse:
    """Ready when the records' database and the index can be used (opening the index, or trying the server again,
    when that is due) and the model is loaded; a 503 names what is missing, and a store that cannot be used as the
    API reports errors (the database's first)."""
    checks = ReadinessChecks(model_loaded=runtime.model_loaded, llm_configured=runtime.llm is not None)
    error = None
    try:
        runtime.store.database.check()
    except StoreError as exc:
        checks.database = exc.message
        error = ErrorInfo.model_validate(exc.to_dict())
    else:
        if runtime.model_wanted:  # the start's warm-up waited for the records: they answer now
            checks.model_loaded = runtime.load_model()
    try:
        runtime.store.check_index()
    except StoreError as exc:
        checks.qdrant = exc.message
        error = error or ErrorInfo.model_validate(exc.to_dict())
    ready = checks.qdrant == "ok" and checks.database == "ok" and runtime.model_loaded
    body = Readiness(ready=ready, checks=checks, error=error)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


def create_app(settings: Settings | None = None, *, embedder_factory: Callable[[], Embedder] | None = None,
               llm: LLMClient | None = None, clock: Callable[[], float] | None = None,
               preload_model: bool = True) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()
    keys = ApiKeys.from_settings(settings)  # a bad key list stops the start, before anything listens
    pricing = choose_profile(settings)  # so does an endpoint whose prices Folio cannot know
    Database.from_settings(settings).close()  # and a database URL that names no usable database

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kwargs: dict[str, Any] = {"embedder_factory": embedder_factory, "llm": llm, "metrics": metrics,
                                  "tenants": keys.tenants}
        if clock is not None:
            kwargs["clock"] = clock
        runtime = build_runtime(settings, **kwargs)
        app.state.runtime = runtime
        if preload_model:
            runtime.warm()
        model = runtime.llm.model if runtime.llm else "none configured"
        metrics.info.info({"version": app.version, "model": runtime.llm.model if runtime.llm else "",
                           "pricing_profile": pricing.profile.name, "embed_model": settings.embed_model,
                           "store": "server" if settings.qdrant_url else settings.embedded_engine})
        logger.info("folio ready: store %s, model %s%s, pricing %s (%s)", settings.index_location,
                    model, " (simulated: the provider double)" if settings.simulated_model else "",
                    pricing.profile.name, pricing.reason)
        if keys:
            logger.info("access: API keys for %d tenant(s), at most %s requests a minute per key", len(keys.tenants),
                        settings.rate_limit_per_minute or "unlimited")
        else:
            logger.info("access: no API keys configured (FOLIO_API_KEYS): every request is tenant 'default'")
        try:
            yield
        finally:
            runtime.close()

    app = FolioApp(title="Folio", version="0.1.0", lifespan=lifespan,
                   description="Ask long contracts and reports: retrieval or whole documents, by cost and need.")
    errors.install(app)
    app.state.metrics = metrics
    app.add_middleware(AccessMiddleware, keys=keys, limiter=RateLimiter(settings.rate_limit_per_minute),
                       failures=RateLimiter(settings.auth_failures_per_minute))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(documents.router)
    app.include_router(page_images.router)
    app.include_router(query.router)
    app.include_router(conversations.router)
    app.include_router(collections.router)
    app.include_router(search.router)
    app.include_router(openai_compat.router)

    @app.get("/healthz", tags=["health"], response_model=Health)
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", tags=["health"], response_model=Readiness, responses={503: {"model": Readiness}})
    def readyz(runtime: RuntimeDep) -> JSONResponse:
        return readiness(runtime)

    @app.get("/metrics", tags=["health"], response_model=None, response_class=PlainTextResponse,
             summary="Prometheus metrics of this replica (text format)")
    def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/v1/info", tags=["health"], response_model=Info)
    def info(runtime: RuntimeDep) -> Info:
        prices = runtime.answerer.prices
        return Info(model=runtime.llm.model if runtime.llm else None, llm_configured=runtime.llm is not None,
                    pricing_profile=prices.name, prices_as_of=prices.as_of.isoformat(),
                    pricing_reason=pricing.reason, pricing_source=prices.source,
                    context_window=settings.context_window, embed_model=settings.embed_model,
                    embed_backend=runtime.embed_backend,
                    index="server" if settings.qdrant_url else settings.embedded_engine,
                    max_cost_usd=settings.max_cost_usd, top_k=settings.top_k,
                    simulated_model=settings.simulated_model, simulated_notice=simulated_notice(settings))

    if (UI_DIR / "index.html").exists():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=UI_DIR, html=True), name="ui")
    return app
