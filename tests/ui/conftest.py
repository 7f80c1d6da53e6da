"""What every browser test shares: Debian's Chromium driven by Playwright, and a provider double for the
`folio serve` the tests start."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from folio.testing.provider import RunningDouble, run_provider_double
from tests.service_helpers import SAMPLES
from tests.ui_helpers import chromium_executable, folio_server

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


@dataclass(frozen=True)
class Workspace:
    """A served Folio with two documents and a conversation of two answered turns (whole documents, then
    coverage in several windows), shared by the workspace and accessibility tests."""

    base: str
    conversation: str
    msa: str
    notes: str


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    chromium_executable()  # a skip (or a CI failure) before anything starts
    with run_provider_double() as double, folio_server(
            tmp_path_factory.mktemp("ui-workspace"), FOLIO_LLM_BASE_URL=double.base_url,
            FOLIO_LLM_API_KEY="sk-double", FOLIO_LLM_MODEL="deepseek-chat",
            FOLIO_PRICING_PROFILE="deepseek-v4-flash-compat", FOLIO_COVERAGE_WINDOW_TOKENS="2500") as base:
        msa = SAMPLES / "northwind-brightwater-msa.pdf"
        files = [("files", (msa.name, msa.read_bytes())),
                 ("files", ("board-notes.md", b"# Board notes\n\nThe board met in May and approved the budget.\n"))]
        response = httpx.post(f"{base}/v1/documents?wait=true", timeout=120, files=files)
        assert response.status_code == 200, response.text
        ids = {job["file"]: job["document_id"] for job in response.json()["jobs"]}
        created = httpx.post(f"{base}/v1/conversations", json={"documents": [ids[msa.name]]}).json()
        for question, mode in (("What is the liability cap?", "full"),
                               ("List every obligation of the Provider", "coverage")):
            turn = httpx.post(f"{base}/v1/conversations/{created['id']}/messages", timeout=120,
                              json={"question": question, "mode": mode})
            assert turn.status_code == 200, turn.text
        yield Workspace(base=base, conversation=created["id"], msa=ids[msa.name], notes=ids["board-notes.md"])
