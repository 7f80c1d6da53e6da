"""Collections in the web UI: one click on a collection's chip scopes the next question (a conversation that
follows the collection), and a collection made from the ticked documents is picked at once. Debian's Chromium,
headless, against a real `folio serve` and the provider test double; screenshots in `test-output/ui/`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.service_helpers import SAMPLES
from tests.ui_helpers import Screenshots, folio_server

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # chromium_executable() makes this a skip, or a failure under CI
    sync_playwright = None

pytestmark = pytest.mark.timeout(120)

MSA = SAMPLES / "northwind-brightwater-msa.pdf"
BOARD = SAMPLES / "q3-2025-board-update.md"


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("ui-collections-screenshots"))


@pytest.fixture(scope="module")
def server(double, tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """Folio with a model (the provider double), the MSA and the board update ingested."""
    with folio_server(
            tmp_path_factory.mktemp("ui-collections-server"), FOLIO_LLM_BASE_URL=double.base_url,
            FOLIO_LLM_API_KEY="sk-double", FOLIO_LLM_MODEL="deepseek-chat",
            FOLIO_PRICING_PROFILE="deepseek-v4-flash-compat") as base:
        ids = {}
        for path in (MSA, BOARD):
            response = httpx.post(f"{base}/v1/documents?wait=true", timeout=60,
                                  files=[("files", (path.name, path.read_bytes()))])
            assert response.status_code == 200, response.text
            ids[path.name] = response.json()["jobs"][0]["document_id"]
        yield base, ids


def test_a_collection_scopes_a_question_in_one_click(browser, server, shots):
    base, ids = server
    made = httpx.post(f"{base}/v1/collections", json={"name": "Board pack", "documents": [ids[BOARD.name]]})
    assert made.status_code == 201, made.text
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")

    chip = page.get_by_role("button", name="Board pack (1)")
    chip.click()  # one click: the next question asks about the collection
    expect(chip).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#ask-scope")).to_contain_text("collection “Board pack”")
    page.get_by_label("Route", exact=True).select_option("full")
    page.locator("#question").fill("What did the board decide?")
    page.get_by_role("button", name="Ask", exact=True).click()
    turn = page.locator("#thread-turns .turn").first
    expect(turn).to_have_attribute("data-state", "done")
    expect(page.locator("#thread-scope")).to_contain_text("Q3 2025")  # the board update, not the MSA
    shots(page, "collections-question")

    conversation = httpx.get(f"{base}/v1/conversations").json()["conversations"][0]
    assert conversation["scope"] == "collection" and conversation["collection"]["name"] == "Board pack"
    detail = httpx.get(f"{base}/v1/conversations/{conversation['id']}").json()
    assert [d["id"] for d in detail["history"][0]["answer"]["plan"]["scope"]] == [ids[BOARD.name]]

    # a collection made from the ticked documents is picked at once
    page.locator(f"#select-{ids[MSA.name]}").check()
    page.get_by_role("button", name="New collection").click()
    page.locator("#collection-name").fill("Contracts")
    page.get_by_role("button", name="Save").click()
    created = page.get_by_role("button", name="Contracts (1)")
    expect(created).to_have_attribute("aria-pressed", "true")
    listed = {c["name"]: c["documents"] for c in httpx.get(f"{base}/v1/collections").json()["collections"]}
    assert listed == {"Board pack": 1, "Contracts": 1}
    assert errors == []
    context.close()
