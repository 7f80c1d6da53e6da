"""Accessibility: axe-core's rules (the axe-playwright-python wheel bundles axe.min.js; nothing is fetched) over
every main screen (documents, a conversation with its answers and details open, spend, the page viewer) in the
light and the dark theme, with no serious or critical violation; the focus ring at 3:1 or better on every surface
of both themes; screenshots of each screen in both themes at desktop and phone widths in test-output/ui/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ui.conftest import Workspace
from tests.ui_helpers import Screenshots, contrast

try:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import Browser, Page, expect
except ImportError:  # chromium_executable() (the workspace fixture) makes this a skip, or a failure under CI
    Axe = None

pytestmark = pytest.mark.timeout(180)

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
SCREENS = {"documents": "#documents-section", "conversation": "#ask-section", "spend": "#spend-section"}
SURFACES = ("--bg", "--panel", "--panel-2", "--accent-soft", "--bad-soft", "--ok-soft", "--warn-soft", "--highlight")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("ui-a11y-screenshots"))



def _serious(page: Page, context: str | None = None) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (or in ``context``), one line each."""
    results: dict[str, Any] = Axe().run(page, context=context).response
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def _open(browser: Browser, workspace: Workspace, theme: str, viewport: dict[str, int]) -> Page:
    """The conversation, with the theme chosen by the toggle's stored choice and every turn's details open."""
    context = browser.new_context(viewport=viewport, color_scheme="light")
    context.add_init_script(f"localStorage.setItem('folio-theme', '{theme}')")
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{workspace.base}/#c={workspace.conversation}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.locator("#thread-turns .turn")).to_have_count(2)
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    page.locator("#thread-turns details.how").evaluate_all("(all) => all.forEach((d) => { d.open = true; })")
    return page


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_screen_passes_axe_in_both_themes(browser, workspace: Workspace, theme, shots):
    page = _open(browser, workspace, theme, VIEWPORTS["desktop"])
    assert _serious(page) == []  # documents, the conversation with its details, spend: one page
    colours = page.evaluate(f"""() => Object.fromEntries({['--focus-color', '--accent', *SURFACES]!r}
        .map((n) => [n, getComputedStyle(document.documentElement).getPropertyValue(n).trim()]))""")
    ring = colours.pop("--focus-color")
    accent = colours.pop("--accent")
    low = {n: round(contrast(ring, c), 2) for n, c in colours.items() if contrast(ring, c) < 3}
    assert low == {}, (theme, ring, low)
    assert contrast(colours["--panel"], accent) >= 3  # the ring's gap against a primary button's fill
    for name, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        for screen, selector in SCREENS.items():
            image = page.locator(selector).screenshot()
            for folder in shots.dirs:
                (folder / f"a11y-{theme}-{name}-{screen}.png").write_bytes(image)
        # the page viewer: a citation's page, its quote marked
        page.locator("#thread-turns .answer-text a.cite").first.click()
        expect(page.locator("#page-dialog")).to_be_visible()
        # the page as printed, the quote boxed on it
        expect(page.locator("#page-image")).to_have_attribute("alt", re.compile("as printed"), timeout=30_000)
        if name == "desktop":
            assert _serious(page, "#page-dialog") == []  # the rest of the page was scanned above
        shots(page, f"a11y-{theme}-{name}-viewer", full_page=False)
        page.get_by_role("button", name="Extracted text").click()  # the text the citation was verified against
        expect(page.locator("#page-text mark").first).to_be_visible()
        if name == "desktop":
            assert _serious(page, "#page-dialog") == []
        shots(page, f"a11y-{theme}-{name}-viewer-text", full_page=False)
        page.keyboard.press("Escape")
        expect(page.locator("#page-dialog")).to_be_hidden()
    page.context.close()
