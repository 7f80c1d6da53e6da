"""Pages as printed over a real HTTP server: GET /v1/documents/{id}/pages/{n}/image (bounds, cache, ETag, tenants,
hostile pages, documents without a printed page) and the boxes of a quote on GET .../pages/{n}?quote=."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from PIL import Image
from pydantic import SecretStr

from folio.ingest.page_render import MAX_PIXELS
from folio.ingest.sources import document_id
from folio.ingest.store import Store
from folio.records import DocumentRecord
from folio.records.document_files import DocumentFile
from folio.service.page_images import PageImages
from tests.hostile import raw_pdf, stream
from tests.live_server import LiveFolio, live_folio
from tests.pdfs import CONTRACT_PAGES, text_pdf
from tests.scans import SCAN_PAGES, page_image, require_tesseract, scan_pdf
from tests.service_helpers import service_settings

KEY_A, KEY_B = "key-acme-0123456789abcdef", "key-globex-0123456789abcdef"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
RENDER_TIMEOUT_S = 2.0


def nested_forms_pdf(depth: int = 7, fan: int = 10) -> bytes:
    """One page whose form draws another form ``fan`` times, ``depth`` deep: ``fan ** depth`` filled squares
    from 3 KB. PDFium draws depth 6 in ~40 s here; depth 7 would take minutes."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /F 5 0 R >> >> "
               b"/Contents 4 0 R >>", stream(b"/F Do")]
    for k in range(depth):
        last = k == depth - 1
        body = b"0 0 1 rg 10 10 500 700 re f\n" if last else b"q 0.9 0 0 0.9 1 1 cm /F Do Q\n" * fan
        resources = b"" if last else b"/Resources << /XObject << /F %d 0 R >> >> " % (6 + k)
        objects.append(stream(body, b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] " + resources))
    return raw_pdf(objects)


def box_pdf(width: int, height: int) -> bytes:
    """One page of ``width`` x ``height`` points with a line of text."""
    font = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources %s /Contents 4 0 R >>"
                    % (width, height, font),
                    stream(zlib.compress(b"BT /F1 9 Tf 0 0 Td (x) Tj ET"), b"/Filter /FlateDecode ")])


def _put_record(store: Store, name: str, data: bytes | None, *, pages: list[str] | None = None, format: str = "pdf",
                ocr_pages: list[int] | None = None) -> str:
    """Tenant acme's ready document, written through the store as ingestion writes it (uploads are tested to keep
    their bytes in tests/ingest/test_pipeline.py), with ``data`` as its kept file, or none: a document ingested
    before files were kept. ``pages``: its page texts; ``ocr_pages``: the pages its record says OCR read."""
    pages = pages or ["x"]
    doc_id = document_id(data or name.encode(), "acme")
    record = DocumentRecord(id=doc_id, file_name=name, source=f"upload:{name}", title=name, format=format,
                            size_bytes=len(data or b""), n_pages=len(pages), total_tokens=len(pages),
                            page_tokens=[1] * len(pages), status="writing", ingested_at="2026-12-01T00:00:00+00:00",
                            embed_model="hash-64", pages=pages, tenant="acme", ocr_pages=ocr_pages or [])
    store.begin_document(record, None if data is None else DocumentFile.of(data, format))
    store.finish_document(doc_id, 0)
    return doc_id


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveFolio]:
    tmp = tmp_path_factory.mktemp("pages")
    settings = service_settings(tmp, None, api_keys=SecretStr(f"{KEY_A}:acme,{KEY_B}:globex"),
                                render_timeout_s=RENDER_TIMEOUT_S, page_image_cache_mb=8)
    with live_folio(settings) as running:
        yield running


@pytest.fixture(scope="module")
def http(live: LiveFolio) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def contract(live: LiveFolio) -> str:
    data = text_pdf(CONTRACT_PAGES, title="Master Supply Agreement")
    return _put_record(_store(live), "supply.pdf", data, pages=CONTRACT_PAGES)


def _store(live: LiveFolio) -> Store:
    store: Store = live.app.state.runtime.store
    return store


def _png(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def test_a_page_is_drawn_cached_and_revalidated(http: httpx.Client, contract: str) -> None:
    url = f"/v1/documents/{contract}/pages/3/image"
    first = http.get(url, headers=A)
    image = _png(first)
    assert image.width == 1200 and image.height > 1200  # the default width; a portrait page
    assert first.headers["x-folio-cache"] == "miss" and "private" in first.headers["cache-control"]
    again = http.get(url, headers=A)
    assert again.headers["x-folio-cache"] == "hit" and again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    unchanged = http.get(url, headers={**A, "If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304 and not unchanged.content
    small = http.get(url, params={"width": 300}, headers=A)
    assert _png(small).width == 300 and small.headers["etag"] != first.headers["etag"]
    # the document's own id prefix works as everywhere else
    assert _png(http.get(f"/v1/documents/{contract[:10]}/pages/1/image", headers=A)).width == 1200


def test_the_size_is_bounded(http: httpx.Client, contract: str) -> None:
    url = f"/v1/documents/{contract}/pages/1/image"
    big = _png(http.get(url, params={"scale": 6}, headers=A))  # 3,672 x 4,752 wanted: 17 megapixels
    assert big.width * big.height <= MAX_PIXELS and big.width > 2_000
    for params, field in (({"width": 50}, "width"), ({"width": 99_999}, "width"), ({"scale": 0.01}, "scale")):
        problems = _error(http.get(url, params=params, headers=A), 422, "invalid_request")["problems"]
        assert [p["field"] for p in problems] == [f"query.{field}"]
    _error(http.get(url, params={"width": 500, "scale": 2}, headers=A), 422, "invalid_request")
    _error(http.get(f"/v1/documents/{contract}/pages/4/image", headers=A), 404, "page_not_found")
    _error(http.get(f"/v1/documents/{contract}/pages/0/image", headers=A), 404, "page_not_found")


def test_another_tenants_document_is_not_found(http: httpx.Client, contract: str) -> None:
    _error(http.get(f"/v1/documents/{contract}/pages/1/image", headers=B), 404, "document_not_found")
    _error(http.get(f"/v1/documents/{contract}/pages/1", params={"quote": "Termination"}, headers=B), 404,
           "document_not_found")
    assert http.get(f"/v1/documents/{contract}/pages/1/image").status_code == 401


def test_hostile_pages_are_scaled_refused_or_stopped(live: LiveFolio, http: httpx.Client) -> None:
    store = _store(live)
    giant = _put_record(store, "giant.pdf", box_pdf(14_400, 14_400))  # 200 inches square
    sliver = _put_record(store, "sliver.pdf", box_pdf(1, 14_400))
    slow = _put_record(store, "forms.pdf", nested_forms_pdf())
    image = _png(http.get(f"/v1/documents/{giant}/pages/1/image", params={"scale": 4}, headers=A))
    assert image.width * image.height <= MAX_PIXELS  # 57,600 pixels square wanted: drawn smaller
    error = _error(http.get(f"/v1/documents/{sliver}/pages/1/image", headers=A), 422, "page_too_large")
    assert "14400" in error["message"]
    error = _error(http.get(f"/v1/documents/{slow}/pages/1/image", headers=A), 422, "render_timeout")
    assert "FOLIO_RENDER_TIMEOUT_S" in error["message"]
    # the quote's boxes on that page are stopped the same way, and the page's text still answers
    page = http.get(f"/v1/documents/{slow}/pages/1", params={"quote": "nothing to find here"}, headers=A)
    assert page.status_code == 200 and page.json()["boxes"] == []
    assert page.json()["boxes_error"]["code"] == "render_timeout"
    # the killed worker was replaced: the next page draws
    assert _png(http.get(f"/v1/documents/{giant}/pages/1/image", params={"width": 200}, headers=A)).width == 200


def test_documents_without_a_printed_page(live: LiveFolio, http: httpx.Client) -> None:
    before = _put_record(_store(live), "old.pdf", None)  # ingested before revision 0003: no file kept
    error = _error(http.get(f"/v1/documents/{before}/pages/1/image", headers=A), 404, "no_original_file")
    assert "before" in error["message"]
    page = http.get(f"/v1/documents/{before}/pages/1", params={"quote": "x marks it"}, headers=A).json()
    assert page["printed"] is False and page["boxes"] == [] and page["boxes_source"] == "none"
    text = "Notes\n\nThe supplier ships every Tuesday from the Portland depot."
    notes = _put_record(_store(live), "notes.md", text.encode(), pages=[text], format="markdown")
    _error(http.get(f"/v1/documents/{notes}/pages/1/image", headers=A), 409, "no_printed_page")
    page = http.get(f"/v1/documents/{notes}/pages/1", params={"quote": "ships every Tuesday"}, headers=A).json()
    assert page["printed"] is False and page["boxes_source"] == "none" and "Tuesday" in page["text"]


def test_a_quotes_boxes_come_from_the_text_layer(http: httpx.Client, contract: str) -> None:
    url = f"/v1/documents/{contract}/pages/3"
    quote = "Either party may terminate this Agreement on one hundred twenty days written notice."
    page = http.get(url, params={"quote": quote}, headers=A).json()
    assert page["printed"] is True and page["boxes_source"] == "text_layer" and page["quote"] == quote
    boxes = page["boxes"]
    assert 1 <= len(boxes) <= 3  # one box per line the quote covers
    for box in boxes:
        assert 0 <= box["x"] < box["x"] + box["width"] <= 1 and 0 <= box["y"] < box["y"] + box["height"] <= 1
    # lines go down the page, below the heading of section 12 (the page's first line)
    assert [b["y"] for b in boxes] == sorted(b["y"] for b in boxes) and boxes[0]["y"] > 0.05
    missing = http.get(url, params={"quote": "the laws of the State of Nevada"}, headers=A).json()
    assert missing["boxes"] == [] and missing["boxes_source"] == "text_layer" and "boxes_error" not in missing
    plain = http.get(url, headers=A).json()
    assert plain["boxes"] == [] and plain["boxes_source"] is None and plain["printed"] is True


def test_a_scanned_pages_boxes_come_from_tesseract(live: LiveFolio, http: httpx.Client) -> None:
    require_tesseract()
    # the record as ingestion's OCR leaves it (tests/ingest/test_ocr.py reads scans at ingest)
    scanned = _put_record(_store(live), "lease-scan.pdf", scan_pdf([page_image(SCAN_PAGES[0])]), ocr_pages=[0])
    quote = "The Landlord leases to the Tenant the premises at 418 Canal Street"
    page = http.get(f"/v1/documents/{scanned}/pages/1", params={"quote": quote}, headers=A).json()
    assert page["boxes_source"] == "ocr" and page["printed"] is True
    assert 1 <= len(page["boxes"]) <= 3, page
    assert all(0 < b["width"] <= 1 and 0 < b["height"] < 0.1 for b in page["boxes"])


def test_closing_stops_the_render_workers(live: LiveFolio, contract: str, tmp_path: Path) -> None:
    store = _store(live)
    images = PageImages(store, service_settings(tmp_path, None))  # as the service makes it (Runtime.close closes it)
    record = store.require_document(contract)
    assert images.image(record, 1, width=200, scale=None).rendered.width == 200
    workers = [psutil.Process(pid) for pid in images.pids()]
    assert workers
    images.close()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == [] and images.pids() == []
