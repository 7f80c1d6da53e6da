"""The one place where Folio's error tree becomes HTTP: status code, stable code, message, no traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from folio.errors import (
    DatabaseUnavailable,
    FolioError,
    ProviderRateLimited,
    StoreError,
    StoreLocked,
    StoreUnavailable,
)
from folio.index.retry import RETRY_MAX_S

logger = logging.getLogger("folio.service")


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


STORE_CODES = frozenset({StoreError.code, StoreLocked.code, StoreUnavailable.code, DatabaseUnavailable.code})


def retry_headers(code: str) -> dict[str, str]:
    """The Retry-After of an error that passes by itself, by its code (an upload's failed job carries only the
    code): the index is tried again within ``RETRY_MAX_S`` (index/retry.py), the database on the next request."""
    return {"Retry-After": str(round(RETRY_MAX_S))} if code in STORE_CODES else {}


def install(app: FastAPI) -> None:
    @app.exception_handler(FolioError)
    async def folio_error(request: Request, exc: FolioError) -> JSONResponse:
        headers = retry_headers(exc.code)
        if isinstance(exc, ProviderRateLimited) and exc.retry_after_s is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        if exc.http_status >= 500:
            logger.warning("%s %s: %s [%s]", request.method, request.url.path, exc, exc.code)
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
                    for e in exc.errors()]
        return JSONResponse(error_body("invalid_request", "the request is not valid", problems=problems),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "an unexpected error occurred; see the service log"),
                            status_code=500)
