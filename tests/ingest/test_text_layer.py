"""The PDF text layer (``FOLIO_PDF_TEXT``, ``ingest.pdf_text``): pypdf or PDFium, chosen by the setting, and
both keep the gold evidence of real contracts and filings on its page."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from pydantic import ValidationError

from folio.config import Settings
from folio.errors import ConfigError, EncryptedFile
from folio.ingest import pdf_text
from folio.ingest.normalize import normalize_pages
from folio.ingest.ocr import OcrOptions
from folio.ingest.parse import parse_bytes, parse_file
from folio.ingest.parse_common import ParseLimits
from folio.ingest.pdf_text import _with_paragraph_breaks, pdfium_page_text, plain_pdfium_text, text_layer
from tests.conftest import require_shared_data
from tests.pdfs import CONTRACT_PAGES, text_pdf

LAYERS = ["pypdf", "pdfium"]
NO_OCR = OcrOptions(mode="off")


def _squash(text: str) -> str:
    """The data README's comparison: lower case, letters and digits only (after NFKC, as Folio stores)."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", text).lower())


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_reads_a_pdf_and_one_locked_with_an_empty_password(layer):
    limits = ParseLimits(pdf_text=layer)
    doc = parse_bytes("supply.pdf", text_pdf(CONTRACT_PAGES), ocr=NO_OCR, limits=limits)
    assert len(doc.pages) == 3 and "forty-five days" in doc.pages[1] and not doc.warnings
    locked = text_pdf(CONTRACT_PAGES, encrypt_user="", encrypt_owner="owner-secret")
    assert "Birchwood Assembly" in parse_bytes("locked.pdf", locked, ocr=NO_OCR, limits=limits).pages[0]
    with pytest.raises(EncryptedFile):  # pypdf opens the file, whichever layer reads it
        parse_bytes("secret.pdf", text_pdf(CONTRACT_PAGES, encrypt_user="hunter2"), ocr=NO_OCR, limits=limits)


def test_pdfium_line_end_hyphen_mark_joins_like_pypdf_text():
    assert plain_pdfium_text("a non\ufffeexclusive licence") == "a non-\nexclusive licence"
    assert normalize_pages([plain_pdfium_text("a non\ufffeexclusive, Know\ufffeHow")]) == [
        "a nonexclusive, Know-\nHow"]


def test_pdfium_lines_get_an_empty_line_at_a_paragraph_gap():
    lines = ["1. Term. This", "agreement runs", "one year.", "2. Fees. The", "fees are due", "", "Page 3"]
    bottoms = [700.0, 686.0, 672.0, 646.0, 632.0, None, 80.0]  # pitch 14; a 26 step; a footer far below
    assert _with_paragraph_breaks(lines, bottoms) == [
        "1. Term. This", "agreement runs", "one year.", "", "2. Fees. The", "fees are due", "", "Page 3"]
    columns = ["left column end", "right column top"]  # a step up (a new column) is no paragraph gap
    assert _with_paragraph_breaks(columns, [100.0, 700.0]) == columns
    assert _with_paragraph_breaks(["one line"], [None]) == ["one line"]


def test_the_setting_chooses_the_layer(monkeypatch):
    read_by_pdfium: list[int] = []

    def counted(page):  # PDFium's own reading, counted
        read_by_pdfium.append(1)
        return pdfium_page_text(page)

    monkeypatch.setattr(pdf_text, "pdfium_page_text", counted)
    assert Settings().pdf_text == ParseLimits().pdf_text == "pypdf"  # the default
    monkeypatch.setenv("FOLIO_PDF_TEXT", "pypdf")
    limits = ParseLimits.from_settings(Settings())
    assert limits.pdf_text == "pypdf"
    pages = parse_bytes("supply.pdf", text_pdf(CONTRACT_PAGES), ocr=NO_OCR, limits=limits).pages
    assert read_by_pdfium == [] and "forty-five days" in pages[1]
    monkeypatch.setenv("FOLIO_PDF_TEXT", "pdfium")
    limits = ParseLimits.from_settings(Settings())
    assert limits.pdf_text == "pdfium"
    pages = parse_bytes("supply.pdf", text_pdf(CONTRACT_PAGES), ocr=NO_OCR, limits=limits).pages
    assert len(read_by_pdfium) == len(pages) == 3
    assert "forty-five days" in pages[1]


def test_an_unknown_layer_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FOLIO_PDF_TEXT", "pdfminer")
    with pytest.raises(ValidationError, match="FOLIO_PDF_TEXT must be 'pypdf' or 'pdfium', not 'pdfminer'"):
        Settings()
    with pytest.raises(ConfigError, match="FOLIO_PDF_TEXT must be one of pypdf, pdfium, not 'PDFium'"):
        text_layer("PDFium")
    with pytest.raises(ConfigError, match="FOLIO_PDF_TEXT"):
        parse_bytes("supply.pdf", text_pdf(CONTRACT_PAGES), ocr=NO_OCR,
                    limits=ParseLimits(pdf_text="pdfminer"))  # type: ignore[arg-type]


@pytest.mark.realdata
@pytest.mark.parametrize("layer", LAYERS)
def test_both_layers_keep_real_gold_evidence_on_its_page(layer):
    """A contract with line-end hyphens (PDFium's U+FFFE marks) and an encrypted 10-Q's evidence pages."""
    limits = ParseLimits(pdf_text=layer)
    cuad = require_shared_data("cuad-dev")
    contract = "ArmstrongFlooringInc_20190107_8-K_EX-10.2_11471795_EX-10.2_Intellectual Property Agreement.pdf"
    pages = [_squash(p) for p in normalize_pages(parse_file(cuad / "pdfs" / contract, ocr=NO_OCR,
                                                            limits=limits).pages)]
    quotes = 0
    for line in (cuad / "questions.jsonl").read_text().splitlines():
        question = json.loads(line)
        if question["doc"] != contract:
            continue
        for evidence in question["evidence"]:
            haystack = "".join(pages[p] for p in sorted(evidence["pages"]))
            for part in filter(None, map(_squash, evidence["text"].split("<omitted>"))):
                assert part in haystack, (question["id"], evidence["text"][:80])
                quotes += 1
    assert quotes > 40

    finance = require_shared_data("financebench-dev")
    filing = parse_file(finance / "pdfs" / "BESTBUY_2024Q2_10Q.pdf", ocr=NO_OCR, limits=limits)
    texts = [_squash(p) for p in normalize_pages(filing.pages)]
    found = 0
    for line in (finance / "questions.jsonl").read_text().splitlines():
        for evidence in json.loads(line)["evidence"]:
            if evidence["doc"] == "BESTBUY_2024Q2_10Q":
                assert _squash(evidence["text"]) in texts[evidence["page"]], evidence["page"]
                found += 1
    assert found == 3
