"""A page as printed: ``GET /v1/documents/{id}/pages/{n}/image`` (``folio.service.page_images``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from folio.errors import InvalidRequest
from folio.service.access import TenantDep
from folio.service.deps import RuntimeDep
from folio.service.routes.documents import require_page, resolve_document

router = APIRouter(prefix="/v1", tags=["documents"])

DEFAULT_WIDTH = 1200  # pixels: a phone's screen at 3x, or a desktop column, without zooming past it
CACHE_CONTROL = "private, max-age=3600"  # the browser's own cache only: a page is one tenant's


@router.get("/documents/{doc_id}/pages/{n}/image", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "the page as a PNG"},
                       304: {"description": "the image the browser holds (If-None-Match) is current"}},
            summary="Page n (counted from 1) as printed: a PNG drawn from the original PDF")
def page_image(runtime: RuntimeDep, tenant: TenantDep, doc_id: str, n: int, request: Request,
               width: Annotated[int | None, Query(ge=100, le=3000, description="pixels wide (default 1200)")] = None,
               scale: Annotated[float | None, Query(ge=0.25, le=6.0, description="pixels per point instead of "
                                                    "width (1: 72 dpi)")] = None) -> Response:
    if width is not None and scale is not None:
        raise InvalidRequest("give width or scale, not both")
    if scale is None and width is None:
        width = DEFAULT_WIDTH
    record = runtime.store.require_document(resolve_document(runtime, tenant, doc_id), tenant=tenant)
    require_page(record, n)
    images = runtime.printed_pages()
    headers = {"ETag": images.etag(record, n, width=width, scale=scale), "Cache-Control": CACHE_CONTROL,
               "Vary": "Authorization, X-API-Key"}
    held = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    if headers["ETag"] in held or "*" in held:
        return Response(status_code=304, headers=headers)
    image = images.image(record, n, width=width, scale=scale)
    headers["X-Folio-Cache"] = "hit" if image.cached else "miss"
    return Response(image.rendered.content, media_type=image.rendered.media_type, headers=headers)
