"""The FastAPI application: routes, the error handler, health checks, and the UI's static files."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ingest.config import Settings, get_settings
from ingest.embed import Embedder
from ingest.errors import StoreError
from service import errors
from service.deps import RuntimeDep
from service.llm import LLMClient
from service.routes import documents, query
from service.runtime import build_runtime

UI_DIR = Path(__file__).resolve().parents[1] / "ui"
logger = logging.getLogger("folio.service")


def create_app(settings: Settings | None = None, *, embedder_factory: Callable[[], Embedder] | None = None,
               llm: LLMClient | None = None, clock: Callable[[], float] | None = None,
               preload_model: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kwargs: dict[str, Any] = {"embedder_factory": embedder_factory, "llm": llm}
        if clock is not None:
            kwargs["clock"] = clock
        runtime = build_runtime(settings, **kwargs)
        app.state.runtime = runtime
        if preload_model:
            runtime.warm()
        model = runtime.llm.model if runtime.llm else "none configured"
        logger.info("folio ready: store %s, model %s, pricing %s", settings.qdrant_url or settings.qdrant_path,
                    model, settings.pricing_profile)
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(title="Folio", version="0.1.0", lifespan=lifespan,
                  description="Ask long contracts and reports: retrieval or whole documents, by cost and need.")
    errors.install(app)
    app.include_router(documents.router)
    app.include_router(query.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(runtime: RuntimeDep) -> JSONResponse:
        checks: dict[str, Any] = {"model_loaded": runtime.model_loaded, "llm_configured": runtime.llm is not None}
        try:
            runtime.store.list_documents(status=None)
            checks["qdrant"] = "ok"
        except StoreError as exc:
            checks["qdrant"] = exc.message
        ready = checks["qdrant"] == "ok" and runtime.model_loaded
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/v1/info", tags=["health"])
    def info(runtime: RuntimeDep) -> dict[str, Any]:
        prices = runtime.answerer.prices
        return {"model": runtime.llm.model if runtime.llm else None, "llm_configured": runtime.llm is not None,
                "pricing_profile": prices.name, "prices_as_of": prices.as_of.isoformat(),
                "context_window": settings.context_window, "embed_model": settings.embed_model,
                "max_cost_usd": settings.max_cost_usd, "top_k": settings.top_k}

    if (UI_DIR / "index.html").exists():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=UI_DIR, html=True), name="ui")
    return app
