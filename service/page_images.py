"""Pages as printed: a PDF page's image and the boxes of a quoted passage on it, for the viewer.

Drawn from the document's original file (``folio.records.document_files``) by ``folio.ingest.page_render`` in a
pool of worker processes (``folio.ingest.sandbox.ParserPool``): a page that takes longer than
``FOLIO_RENDER_TIMEOUT_S`` (forms drawn inside forms can take hours) has its worker killed and answers
``render_timeout``, so it cannot hold a request thread; a page past the pixel cap is drawn smaller, or refused
(``page_too_large``). Images are kept in an LRU bounded in bytes (``FOLIO_PAGE_IMAGE_CACHE_MB``), keyed by tenant,
document, page and size; an ETag made from the file's digest lets a browser revalidate without a drawing.

A document ingested before files were kept answers ``no_original_file`` (404); one that is not a PDF has no
printed page (``no_printed_page``, 409). Either way its text still answers, and quotes get no boxes.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import threading
from dataclasses import dataclass
from typing import Any, Literal

from cachetools import LRUCache

from folio.config import Settings
from folio.errors import (
    FolioError,
    NoOriginalFile,
    NoPrintedPage,
    PageTooLarge,
    ParseMemory,
    ParseTimeout,
    RenderTimeout,
)
from folio.ingest import page_render
from folio.ingest.page_render import Box, Rendered
from folio.ingest.sandbox import ParserPool, SandboxLimits
from folio.ingest.store import Store
from folio.records import DocumentRecord

RENDER_WORKERS = 2  # pages drawn at once; a third waits for one of them
RENDER_MEMORY_MB = 1_000.0  # address space one drawing may add to its worker (a 12-megapixel page needs ~150 MB)
WORKER_IDLE_S = 120.0  # a worker with nothing to draw for this long exits, and gives its memory back
MAX_BOX_ENTRIES = 2_048  # quotes' boxes remembered (a few hundred bytes each)
RENDERER = "pdfium-png-1"  # part of every ETag: a change to how pages are drawn changes it

BoxSource = Literal["text_layer", "ocr", "none"]


@dataclass(frozen=True)
class PageImage:
    rendered: Rendered
    etag: str
    cached: bool


class PageImages:
    """Page images and quote boxes for the service, per tenant."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._pools: dict[str, ParserPool] = {}
        size = int(settings.page_image_cache_mb * 1_000_000)
        self._images: LRUCache[tuple[Any, ...], Rendered] = LRUCache(maxsize=max(1, size),
                                                                     getsizeof=lambda r: len(r.content))
        self._boxes: LRUCache[tuple[Any, ...], tuple[BoxSource, list[Box]]] = LRUCache(maxsize=MAX_BOX_ENTRIES)

    def printed(self, record: DocumentRecord) -> bool:
        """Whether the document's pages can be drawn as printed: a PDF whose original file was kept."""
        return record.format == "pdf" and self.store.document_files.digest(record.id, tenant=record.tenant) is not None

    # -- the image ----------------------------------------------------------------------------------------

    def etag(self, record: DocumentRecord, page: int, *, width: int | None, scale: float | None) -> str:
        """The image's ETag, known without drawing it (``NoPrintedPage`` / ``NoOriginalFile`` when it has none)."""
        digest = self._digest(record)
        key = f"{RENDERER}:{digest}:{page}:{width}:{scale}"
        return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'

    def image(self, record: DocumentRecord, page: int, *, width: int | None, scale: float | None) -> PageImage:
        """Page ``page`` (from 1) of ``record`` (already checked to be the tenant's) drawn ``width`` pixels wide or
        at ``scale`` pixels per point."""
        etag = self.etag(record, page, width=width, scale=scale)
        key = (record.tenant, record.id, page, width, scale)
        with self._lock:
            hit = self._images.get(key)
        if hit is not None:
            return PageImage(hit, etag, cached=True)
        rendered: Rendered = self._run(record, page_render.render_page, page, width, scale)
        if self._images.maxsize > 1 and len(rendered.content) <= self._images.maxsize:
            with self._lock:
                self._images[key] = rendered
        return PageImage(rendered, etag, cached=False)

    # -- the boxes of a quote ---------------------------------------------------------------------------

    def boxes(self, record: DocumentRecord, page: int, quote: str) -> tuple[BoxSource, list[Box]]:
        """Where ``quote`` is on page ``page`` (from 1): from the text layer's characters, or Tesseract's words
        for a page that was OCR'd; ("none", []) when the document has no printed page. Raises the drawing's
        errors (``render_timeout`` and the like)."""
        if not self.printed(record):
            return "none", []
        ocr = page - 1 in record.ocr_pages
        source: BoxSource = "ocr" if ocr else "text_layer"
        needle = page_render.squash(quote)
        if len(needle) < page_render.MIN_PART_CHARS // 2:
            return source, []
        key = (record.tenant, record.id, page, needle)
        with self._lock:
            hit = self._boxes.get(key)
        if hit is not None:
            return hit
        if ocr:
            found: list[Box] = self._run(record, page_render.ocr_boxes, page, quote, self.settings.ocr_lang,
                                         self.settings.ocr_tesseract_cmd, self.settings.ocr_page_timeout_s * 0.9,
                                         pool="ocr")
        else:
            found = self._run(record, page_render.text_layer_boxes, page, quote)
        with self._lock:
            self._boxes[key] = (source, found)
        return source, found

    # -- the pool ---------------------------------------------------------------------------------------

    def _digest(self, record: DocumentRecord) -> str:
        if record.format != "pdf":
            raise NoPrintedPage(f"a {record.format.upper()} document has no printed pages: only its text",
                                document_id=record.id)
        digest = self.store.document_files.digest(record.id, tenant=record.tenant)
        if digest is None:
            raise NoOriginalFile("this document was ingested before Folio kept original files: its pages exist "
                                 "as text only (ingest the file again to see them as printed)", document_id=record.id)
        return digest

    def _run(self, record: DocumentRecord, fn: Any, page: int, *args: Any, pool: str = "render") -> Any:
        """``fn(file bytes, page index, *args)`` in a worker of ``pool`` ("render", or "ocr": Tesseract's, under
        ``FOLIO_OCR_PAGE_TIMEOUT_S`` like ingestion's OCR), its errors as Folio's."""
        file = self.store.document_files.get(record.id, tenant=record.tenant)
        if file is None:
            raise NoOriginalFile("the document's original file is gone", document_id=record.id)
        future = self._get_pool(pool).submit(fn, file.content, page - 1, *args, name=record.file_name)
        try:
            return future.result()
        except ParseTimeout:
            limit = ("FOLIO_RENDER_TIMEOUT_S", self.settings.render_timeout_s) if pool == "render" else (
                "FOLIO_OCR_PAGE_TIMEOUT_S", self.settings.ocr_page_timeout_s)
            raise RenderTimeout(f"drawing page {page} went on for over {limit[1]:g} s ({limit[0]}) and was "
                                "stopped", document_id=record.id) from None
        except ParseMemory:
            raise PageTooLarge(f"drawing page {page} needed more than {RENDER_MEMORY_MB:g} MB and was stopped",
                               document_id=record.id) from None
        except FolioError as exc:
            exc.document_id = exc.document_id or record.id
            exc.file = None
            raise
        except cf.CancelledError:
            raise RenderTimeout("the page was not drawn: the service is stopping", document_id=record.id) from None

    def _get_pool(self, kind: str) -> ParserPool:
        with self._lock:
            pool = self._pools.get(kind)
            if pool is None:
                if kind == "render":
                    limits = SandboxLimits(timeout_s=self.settings.render_timeout_s, memory_mb=RENDER_MEMORY_MB)
                    pool = ParserPool(RENDER_WORKERS, limits, setup=page_render.warm, idle_s=WORKER_IDLE_S)
                else:  # Tesseract runs as a program under its worker; one page at a time (it is CPU-bound)
                    limits = SandboxLimits(timeout_s=self.settings.ocr_page_timeout_s, memory_mb=RENDER_MEMORY_MB)
                    pool = ParserPool(1, limits, setup=page_render.warm, idle_s=WORKER_IDLE_S)
                self._pools[kind] = pool
            return pool

    def pids(self) -> list[int]:
        """The worker processes running now (for tests and diagnostics)."""
        with self._lock:
            return [pid for pool in self._pools.values() for pid in pool.pids()]

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
