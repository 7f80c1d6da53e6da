"""What every browser test shares: Debian's Chromium driven by Playwright, and a provider double for the
`folio serve` the tests start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from folio.testing.provider import RunningDouble, run_provider_double
from tests.ui_helpers import chromium_executable

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # chromium_executable() makes this a skip, or a failure under CI
    sync_playwright = None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_executable()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def double(browser: Any) -> Iterator[RunningDouble]:
    with run_provider_double() as running:
        yield running
