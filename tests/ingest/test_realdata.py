"""Real contracts and filings from ../shared/data: parsing, page counts and the gold evidence quotes."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from folio.config import Settings
from folio.ingest.embed import HashEmbedder
from folio.ingest.normalize import normalize_pages
from folio.ingest.ocr import OcrOptions
from folio.ingest.parse import ParseLimits, parse_file
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import collect_paths
from folio.ingest.store import Store
from tests.conftest import require_shared_data

pytestmark = pytest.mark.realdata

CUAD_PAGES = 550  # ../shared/data/README.md: 20 PDFs, 550 pages


def _norm(text: str) -> str:
    """The data README's comparison: lower case, letters and digits only (after NFKC, as Folio stores)."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", text).lower())


def _gold_quotes_found(cuad: Path, pages: dict[str, list[str]]) -> tuple[int, int, list[tuple[str, str]]]:
    """How many of cuad-dev's gold quotes ``pages`` (file name -> each page's text as stored) hold on their
    pages, of how many, and the first missing ones."""
    pages = {name: [_norm(p) for p in texts] for name, texts in pages.items()}
    total = found = 0
    missing = []
    for line in (cuad / "questions.jsonl").read_text().splitlines():
        question = json.loads(line)
        for evidence in question["evidence"]:
            # "<omitted>" joins non-adjacent spans; a quote may run across the pages it lists
            parts = [p for p in (_norm(x) for x in evidence["text"].split("<omitted>")) if p]
            if not parts:
                continue
            total += 1
            haystack = "".join(pages[question["doc"]][p] for p in sorted(evidence["pages"]))
            if all(part in haystack for part in parts):
                found += 1
            else:
                missing.append((question["id"], evidence["text"][:80]))
    return found, total, missing[:5]


def test_cuad_ingests_with_every_page_and_the_gold_quotes_on_their_pages(tmp_path):
    cuad = require_shared_data("cuad-dev")
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=1)
    with Store.open(settings) as store:
        ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
        try:
            results = ingestor.run(collect_paths([cuad / "pdfs"]))
        finally:
            ingestor.close()
        assert [r.status for r in results] == ["ingested"] * 20, [r.error for r in results if r.error]
        records = {r.file_name: store.require_document(r.id, with_pages=True) for r in store.list_documents()}
    assert sum(r.n_pages for r in records.values()) == CUAD_PAGES
    for record in records.values():
        assert record.pages is not None and len(record.pages) == record.n_pages == len(record.page_tokens)
        assert record.n_chunks > 0 and record.total_tokens > 1000

    found, total, missing = _gold_quotes_found(cuad, {name: r.pages or [] for name, r in records.items()})
    assert total > 600
    assert found / total >= 0.99, f"{found}/{total} gold quotes found; missing: {missing}"


@pytest.mark.parametrize("pdf_text", ["pypdf", "pdfium"])
def test_cuad_gold_quotes_with_the_other_text_layer(pdf_text):
    """The text layer the settings do not choose (FOLIO_PDF_TEXT) keeps the gold quotes too: parsed and
    normalised as ingestion does, without the index (the default layer went through it above)."""
    if pdf_text == Settings().pdf_text:
        pytest.skip("the default layer is checked through ingestion above")
    cuad = require_shared_data("cuad-dev")
    limits = ParseLimits(pdf_text=pdf_text)
    pages = {path.name: normalize_pages(parse_file(path, ocr=OcrOptions(mode="off"), limits=limits).pages)
             for path in sorted((cuad / "pdfs").iterdir())}
    assert sum(len(p) for p in pages.values()) == CUAD_PAGES
    found, total, missing = _gold_quotes_found(cuad, pages)
    assert found / total >= 0.99, f"{found}/{total} gold quotes found with {pdf_text}; missing: {missing}"


def test_filings_that_need_relaxed_limits_and_an_empty_password(tmp_path):
    encrypted = require_shared_data("financebench-dev", "pdfs", "BESTBUY_2024Q2_10Q.pdf")
    doc = parse_file(encrypted)
    assert len(doc.pages) == 30
    assert "best buy" in doc.pages[0].lower()
    huge = require_shared_data("sec10q", "pdfs", "2023 Q2 MSFT.pdf")
    doc = parse_file(huge)
    assert len(doc.pages) == 74
    assert "microsoft" in " ".join(doc.pages[:2]).lower()


def test_relaxed_limits_hold_in_every_thread():
    """pypdf keeps its limits in a context variable: a parse in another thread (the service's job thread, a
    worker) must get the relaxed limits too, not only the thread that parsed first."""
    import threading

    huge = require_shared_data("sec10q", "pdfs", "2023 Q2 MSFT.pdf")
    pages: list[int] = []
    worker = threading.Thread(target=lambda: pages.append(len(parse_file(huge).pages)))
    worker.start()
    worker.join()
    assert pages == [74]
