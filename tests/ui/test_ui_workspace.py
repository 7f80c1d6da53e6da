"""The workspace in plain language (issue 18, part 3): each answer leads with the service's one sentence and folds
its details in words that fit the card; the documents list is searched and sorted, and its prices agree with the
plan; an answer is copied as Markdown, downloaded, printed alone, and linked to; the theme follows the system until
the toggle picks one. Debian's Chromium against a real `folio serve` and the provider double (the `workspace`
fixture: tests/ui/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from folio.service.pricing import get_profile
from tests.ui.conftest import Workspace
from tests.ui_helpers import Screenshots

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError:  # chromium_executable() makes this a skip, or a failure under CI
    expect = None

pytestmark = pytest.mark.timeout(180)

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# what a reader should never meet in the details: field keys, probabilities written as formulas, jargon
RAW = re.compile(r"\b[a-z]+_[a-z_]+\b|P\(|amortised|follow-up\(s\)|'[A-Z][a-z]+'")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("ui-workspace-screenshots"))


def _page(browser: Browser, url: str, viewport: dict[str, int], **context_options) -> Page:
    context = browser.new_context(viewport=viewport, **context_options)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    return page


def _usd(text: str) -> float:
    match = re.search(r"\$(\d+(?:\.\d+)?)", text)
    assert match, text
    return float(match.group(1))


def test_answers_lead_with_their_sentence_and_fold_details_that_fit(browser, workspace: Workspace, shots):
    history = httpx.get(f"{workspace.base}/v1/conversations/{workspace.conversation}").json()["history"]
    assert [t["answer"]["route"] for t in history] == ["full", "coverage"]
    assert history[1]["answer"]["coverage"]["windows_read"] > 1
    page = _page(browser, f"{workspace.base}/#c={workspace.conversation}", DESKTOP)
    turns = page.locator("#thread-turns .turn")
    expect(turns).to_have_count(2)
    for n, turn in enumerate(history):
        view = turns.nth(n)
        summary = view.locator(".answer-summary")
        expect(summary).to_have_text(turn["answer"]["summary"])
        # the sentence comes first in the answer, above its text; the details stay folded under it
        assert view.evaluate("t => t.querySelector('.answer').firstElementChild.classList.contains('answer-summary')")
        expect(view.locator("details.how")).not_to_have_attribute("open", "")
        view.locator("details.how > summary").click()
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(viewport)
        coverage = turns.nth(1).locator(".coverage-card")
        expect(coverage.locator("table.windows tbody tr")).to_have_count(
            history[1]["answer"]["coverage"]["windows_read"])
        expect(coverage.locator(".coverage-words")).to_contain_text("Read ")
        # every card of the details fits its width: nothing scrolls sideways, on a desktop or a phone
        overflow = page.evaluate("""() => [...document.querySelectorAll('.how-grid .card, .how-grid .table-scroll')]
            .filter((n) => n.offsetParent && n.scrollWidth > n.clientWidth + 1)
            .map((n) => `${n.className}: ${n.scrollWidth} > ${n.clientWidth}`)""")
        assert overflow == [], overflow
        width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], width
        for n in range(2):
            details = turns.nth(n).locator(".how-grid").inner_text()
            # passages quote the documents as they are; everything else is in words
            details = details.replace(turns.nth(n).locator(".retrieved-wrap").inner_text(), "")
            raw = [details[max(0, m.start() - 60):m.end() + 40] for m in RAW.finditer(details)]
            assert raw == [], raw
        shots(page, f"workspace-{name}-details")
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_documents_are_found_sorted_and_priced_as_the_plan_prices_them(browser, workspace: Workspace):
    page = _page(browser, workspace.base, DESKTOP)
    rows = page.locator("#documents-body tr")
    expect(rows).to_have_count(2)
    search = page.get_by_label("Find")
    search.fill("board")  # the title ("Board notes") and the file name match
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", workspace.notes)
    search.fill("northwind-brightwater")  # the MSA's file name, not its title
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", workspace.msa)
    expect(page.locator("#documents-shown")).to_contain_text("1 of 2 documents match")
    search.fill("")
    expect(rows).to_have_count(2)
    sort = page.get_by_label("Sort by")
    sort.select_option("tokens-desc")
    expect(rows.first).to_have_attribute("data-id", workspace.msa)
    sort.select_option("tokens-asc")
    expect(rows.first).to_have_attribute("data-id", workspace.notes)
    sort.select_option("title-asc")
    expect(rows.first).to_have_attribute("data-id", workspace.notes)  # "Board notes" < "Master Services ..."
    page.reload()  # the order is kept for the tab
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.get_by_label("Sort by")).to_have_value("title-asc")

    # the notes were never asked about, so the plan prices them cold, as the list does
    listed = next(d for d in httpx.get(f"{workspace.base}/v1/documents").json()["documents"]
                  if d["id"] == workspace.notes)["question_cost_usd"]
    plan = httpx.post(f"{workspace.base}/v1/plan", timeout=60, json={
        "question": "When did the board meet?", "documents": [workspace.notes], "mode": "full"}).json()["plan"]
    prices = get_profile(listed["profile"])
    gap = (plan["inputs"]["question_tokens"] - listed["question_tokens"]) * prices.input_miss / 1e6
    assert plan["inputs"]["warmup"] == listed["warmup"]
    assert plan["estimates"]["full"]["dollars"] == pytest.approx(listed["full_cold"] + gap, abs=1e-6)
    cell = page.locator(f'#documents-body tr[data-id="{workspace.notes}"] td.cost')
    shown = cell.locator(".cost-line").filter(has_text="whole, cold").inner_text()
    assert _usd(shown) == pytest.approx(listed["full_cold"], rel=0.01)  # shown to three significant digits
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_copy_download_print_and_link_an_answer(browser, workspace: Workspace, shots):
    url = f"{workspace.base}/#c={workspace.conversation}"
    page = _page(browser, url, DESKTOP, permissions=["clipboard-read", "clipboard-write"], accept_downloads=True)
    # the print dialog is the browser's, outside the page: record the call instead of opening it
    page.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
    first = page.locator("#thread-turns .turn").first
    question = first.locator(".turn-question").inner_text()
    first.get_by_role("button", name="Copy as Markdown").click()
    expect(first.locator(".action-status")).to_have_text("Copied as Markdown, with its citations.")
    copied = page.evaluate("navigator.clipboard.readText()")
    detail = httpx.get(f"{workspace.base}/v1/conversations/{workspace.conversation}").json()
    answer = detail["history"][0]["answer"]
    assert copied.startswith(f"## 1. {question}\n\n*{answer['summary']}*\n\n{answer['answer']}")
    citation = answer["citations"][0]
    assert f"**Citations**\n\n1. {citation['title']}, p. {citation['page']}" in copied

    with page.expect_download() as one:
        first.get_by_role("button", name="Download .md").click()
    assert one.value.suggested_filename == "what-is-the-liability-cap.md"
    assert Path(one.value.path()).read_text(encoding="utf-8") == copied
    with page.expect_download() as whole:
        page.locator("#export-md").click()
    text = Path(whole.value.path()).read_text(encoding="utf-8")
    assert text.startswith(f"# {detail['title']}\n") and "## 2. List every obligation of the Provider" in text

    # "Save as PDF" prints this answer alone: the print stylesheet hides every other turn and the controls
    first.get_by_role("button", name="Save as PDF").click()
    assert page.evaluate("window.__printed") == 1
    page.emulate_media(media="print")
    expect(first).to_be_visible()
    expect(page.locator("#thread-turns .turn").nth(1)).to_be_hidden()
    expect(page.locator("#ask-form")).to_be_hidden()
    expect(page.locator("#documents-section")).to_be_hidden()
    shots(page, "workspace-print-one-answer", full_page=False)
    page.emulate_media(media="screen")

    # the second answer's permalink: the address names the turn, and a reload scrolls to it and highlights it
    second = page.locator("#thread-turns .turn").nth(1)
    second.get_by_role("button", name="Copy link").click()
    link = f"{workspace.base}/#c={workspace.conversation}&t=2"
    expect(second.locator(".action-status")).to_have_text("Link to this answer copied.")
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert page.url == link
    page.evaluate("window.scrollTo(0, 0)")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    linked = page.locator("#thread-turns .turn.linked")
    expect(linked).to_have_count(1)
    expect(linked).to_have_attribute("data-n", "2")
    expect(linked).to_be_focused()
    expect(linked).to_be_in_viewport()
    assert page.url == link
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_the_theme_follows_the_system_until_the_toggle_picks_one(browser, workspace: Workspace):
    page = _page(browser, workspace.base, DESKTOP, color_scheme="dark")
    background = "getComputedStyle(document.body.parentElement).backgroundColor"
    toggle = page.get_by_role("button", name="Dark theme")
    expect(toggle).to_have_attribute("aria-pressed", "true")  # the system's dark, with nothing stored
    dark = page.evaluate(background)
    assert page.evaluate("document.documentElement.dataset.theme") is None
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("localStorage.getItem('folio-theme')") == "light"
    light = page.evaluate(background)
    assert light != dark
    page.reload()  # remembered, over the system's preference
    expect(page.get_by_role("button", name="Dark theme")).to_have_attribute("aria-pressed", "false")
    assert page.evaluate(background) == light
    page.get_by_role("button", name="Dark theme").click()
    assert page.evaluate("localStorage.getItem('folio-theme')") == "dark"
    assert page.evaluate(background) == dark
    page.context.close()
