"""The page viewer on a real cuad-dev contract, in Chromium against a real `folio serve` and the provider double: a
citation opens the page as printed with the quoted passage's boxes over the very characters the PDF's text layer
puts there; zoom, next and previous page, keyboard, the toggle to the extracted text; desktop and phone widths.
Screenshots land in `test-output/ui/`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest

from tests.conftest import require_shared_data
from tests.ui_helpers import Screenshots, folio_server, last_turn

with contextlib.suppress(ImportError):  # chromium_executable() makes its absence a skip, or a failure under CI
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.timeout(180)

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CONTRACT = "DUOSTECHNOLOGIESGROUP,INC_04_21_2009-EX-10.1-STRATEGIC ALLIANCE AGREEMENT.PDF"  # 7 pages, text layer

# the overlay's boxes as fractions of the page image (the same frame the API's boxes use)
OVERLAY_JS = """() => {
    const img = document.querySelector('#page-image').getBoundingClientRect();
    return [...document.querySelectorAll('#page-printed .page-box')].map((node) => {
        const r = node.getBoundingClientRect();
        return [(r.left - img.left) / img.width, (r.top - img.top) / img.height,
                (r.right - img.left) / img.width, (r.bottom - img.top) / img.height];
    });
}"""


@pytest.fixture(scope="module")
def contract() -> Path:
    return require_shared_data("cuad-dev", "pdfs") / CONTRACT


@pytest.fixture(scope="module")
def server(double: Any, tmp_path_factory: pytest.TempPathFactory, contract: Path) -> Iterator[str]:
    with folio_server(tmp_path_factory.mktemp("ui-pages"), FOLIO_LLM_BASE_URL=double.base_url,
                      FOLIO_LLM_API_KEY="sk-double", FOLIO_LLM_MODEL="deepseek-chat",
                      FOLIO_PRICING_PROFILE="deepseek-v4-flash-compat") as base:
        response = httpx.post(f"{base}/v1/documents?wait=true", timeout=120,
                              files=[("files", (contract.name, contract.read_bytes()))])
        assert response.status_code == 200, response.text
        yield base


def _page(browser: Browser, base: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    page.goto(base)
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)  # see test_ui.py
    return page


def _text_layer_centres(contract: Path, page_index: int, word: str) -> list[tuple[float, float]]:
    """Where ``word`` is on the page by PDFium's text layer: each occurrence's first character's centre, as
    fractions of the page from its top-left corner (independent of how Folio finds quotes)."""
    pdf = pdfium.PdfDocument(contract.read_bytes())
    page = pdf[page_index]
    left, bottom, right, top = page.get_bbox()
    text = page.get_textpage()
    searcher = text.search(word, match_case=False, match_whole_word=True)
    centres = []
    while (hit := searcher.get_next()) is not None:
        a, b, c, d = text.get_charbox(hit[0])
        centres.append((((a + c) / 2 - left) / (right - left), (top - (b + d) / 2) / (top - bottom)))
    pdf.close()
    return centres


def _inside(point: tuple[float, float], boxes: list[list[float]], slack: float = 0.004) -> bool:
    x, y = point
    return any(b[0] - slack <= x <= b[2] + slack and b[1] - slack <= y <= b[3] + slack for b in boxes)


def _open_cited_page(page: Page) -> tuple[str, int]:
    """Ask about the contract (whole document) and open the first verified citation; its quote and page."""
    page.get_by_label("Question").fill("What are the obligations of each party under the alliance?")
    page.get_by_label("Route", exact=True).select_option("full")
    page.get_by_role("button", name="Ask", exact=True).click()
    turn = last_turn(page)
    expect(turn.locator(".route-card")).to_have_attribute("data-state", "done")  # type: ignore[attr-defined]
    citation = turn.locator(".answer-text a.cite.verified").first  # type: ignore[attr-defined]
    label = citation.inner_text()
    quote = page.locator(".citation-list blockquote").first.inner_text()
    citation.click()
    expect(page.locator("#page-dialog")).to_be_visible()
    return quote, int(re.search(r"p\.\s*(\d+)", label).group(1))  # type: ignore[union-attr]


def _image_shown(page: Page, n: int) -> None:
    # the first image starts the service's render workers
    expect(page.locator("#page-note")).to_be_empty()
    expect(page.locator("#page-image")).to_have_attribute("alt", f"Page {n} as printed", timeout=30_000)
    page.wait_for_function("() => { const i = document.querySelector('#page-image'); "
                           "return i.complete && i.naturalWidth > 0; }")


def test_the_cited_page_as_printed_with_the_quote_over_its_words(browser: Browser, server: str, contract: Path,
                                                                 shots: Screenshots) -> None:
    page = _page(browser, server, DESKTOP)
    quote, n = _open_cited_page(page)
    _image_shown(page, n)
    expect(page.locator("#page-show-printed")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#page-text")).to_be_hidden()
    boxes = page.evaluate(OVERLAY_JS)
    assert boxes, "no highlight over the printed page"
    assert sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes) < 0.5  # a passage, not the page
    words = re.findall(r"[A-Za-z]{4,}", quote)
    assert len(words) >= 2, quote
    for word in (max(words[:4], key=len), max(words[-4:], key=len)):  # where the quote starts and ends
        centres = _text_layer_centres(contract, n - 1, word)
        assert centres, word
        assert any(_inside(c, boxes) for c in centres), (word, centres, boxes)
    shots(page, "pages-1-printed-desktop", full_page=False)

    # zoom in: the image grows, the boxes stay on the same words
    width = page.evaluate("document.querySelector('#page-image').getBoundingClientRect().width")
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#page-zoom-level")).to_have_text("125%")
    grown = page.evaluate("document.querySelector('#page-image').getBoundingClientRect().width")
    assert grown == pytest.approx(width * 1.25, rel=0.02)
    for before, after in zip(boxes, page.evaluate(OVERLAY_JS), strict=True):
        assert after == pytest.approx(before, abs=0.003)
    page.keyboard.press("-")  # the keyboard's zoom out
    expect(page.locator("#page-zoom-level")).to_have_text("100%")

    # the extracted text, what citations are verified against, with the quote marked; and back
    page.get_by_role("button", name="Extracted text").click()
    expect(page.locator("#page-text")).to_be_visible()
    expect(page.locator("#page-printed")).to_be_hidden()
    expect(page.locator("#page-text mark")).to_be_visible()
    expect(page.locator("#page-show-text")).to_have_attribute("aria-pressed", "true")
    shots(page, "pages-2-text-desktop", full_page=False)
    page.get_by_role("button", name="Printed page").click()
    expect(page.locator("#page-printed")).to_be_visible()

    # next page, then back with the keyboard
    pages = int(re.search(r"of (\d+)", page.locator("#page-meta").inner_text()).group(1))  # type: ignore[union-attr]
    step = 1 if n < pages else -1
    page.get_by_role("button", name="Next page →" if step == 1 else "← Previous page").click()
    expect(page.locator("#page-meta")).to_contain_text(f"Page {n + step} of {pages}")
    _image_shown(page, n + step)
    page.locator("#page-printed").focus()
    page.keyboard.press("ArrowLeft" if step == 1 else "ArrowRight")
    expect(page.locator("#page-meta")).to_contain_text(f"Page {n} of {pages}")
    _image_shown(page, n)
    assert page.evaluate(OVERLAY_JS)
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_viewer_at_phone_width(browser: Browser, server: str, shots: Screenshots) -> None:
    page = _page(browser, server, PHONE)
    _, n = _open_cited_page(page)
    _image_shown(page, n)
    assert page.evaluate(OVERLAY_JS)
    fits = page.evaluate("[document.querySelector('#page-image').getBoundingClientRect().right, window.innerWidth]")
    assert fits[0] <= fits[1]  # the page fits the screen at 100%
    for name in ("Zoom in", "Extracted text", "Next page →"):
        button = page.get_by_role("button", name=name)
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], name
    shots(page, "pages-3-printed-phone", full_page=False)
    page.get_by_role("button", name="Extracted text").click()
    expect(page.locator("#page-text")).to_be_visible()
    shots(page, "pages-4-text-phone", full_page=False)
    page.keyboard.press("Escape")

    # a document with no printed page (Markdown): the viewer says so and shows its text
    response = httpx.post(f"{server}/v1/documents?wait=true", timeout=120, files=[(
        "files", ("notes.md", b"# Notes\n\nThe reseller ships every Tuesday from the Portland depot.\n"))])
    notes = response.json()["jobs"][0]["document_id"]
    page.evaluate("async (id) => (await import('/js/viewer.js')).openPage(id, 1, null, 'Notes')", notes)
    expect(page.locator("#page-text")).to_contain_text("ships every Tuesday")
    expect(page.locator("#page-note")).to_contain_text("no printed page")
    expect(page.locator("#page-printed")).to_be_hidden()
    expect(page.locator("#page-show-printed")).to_be_disabled()
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("ui-pages-screenshots"))
