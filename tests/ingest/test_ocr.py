"""OCR of scanned PDF pages (ingest/ocr.py, ingest/tesseract.py) on scans the tests make (tests/scans.py).

Tests that run Tesseract need Debian's tesseract-ocr and tesseract-ocr-eng (scripts/test installs them): in
CI their absence is a failure, elsewhere those tests are skipped. The rest run everywhere.
"""

from __future__ import annotations

import io
import shutil

import pytest

from folio.config import Settings
from folio.errors import NoText, OcrUnavailable
from folio.ingest import ocr
from folio.ingest.embed import HashEmbedder
from folio.ingest.normalize import normalize_pages
from folio.ingest.ocr import OcrOptions, OcrReport
from folio.ingest.parse import parse_bytes
from folio.ingest.pipeline import Ingestor
from folio.ingest.progress import PlainProgress
from folio.ingest.reports import FileResult, NullProgress
from folio.ingest.sources import Source
from folio.ingest.store import Store
from folio.ingest.tesseract import read_image, words_to_text
from folio.records import DocumentRecord
from folio.retrieval.search import search
from tests.pdfs import CONTRACT_PAGES, _pdf, text_pdf
from tests.scans import SCAN_PAGES, char_accuracy, mixed_pdf, page_image, require_tesseract, scan_pdf

MIN_ACCURACY = 0.97


@pytest.fixture(autouse=True)
def _fresh_tesseract_lookup():
    ocr.tesseract_languages.cache_clear()
    yield
    ocr.tesseract_languages.cache_clear()


class Recorder(NullProgress):
    """A progress object that keeps the OCR events."""

    def __init__(self) -> None:
        self.ocr: list[tuple[str, int, int]] = []

    def ocr_page(self, name: str, done: int, total: int) -> None:
        self.ocr.append((name, done, total))


def scanned_contract() -> bytes:
    """Three scanned pages: noise and a slight skew on each, the last one fed sideways (turned 90°)."""
    return scan_pdf([
        page_image(SCAN_PAGES[0], skew_deg=0.8, seed=1),
        page_image(SCAN_PAGES[1], skew_deg=-1.2, seed=2),
        page_image(SCAN_PAGES[2], skew_deg=0.5, rotate=90, seed=3),
    ])


def mixed_contract() -> bytes:
    """The three typed pages of CONTRACT_PAGES with a scanned page (SCAN_PAGES[2]) as page 2 of 4."""
    return mixed_pdf(CONTRACT_PAGES, {1: page_image(SCAN_PAGES[2], skew_deg=-0.6, seed=4)})


# -- with Tesseract ---------------------------------------------------------------------------------------


def test_scanned_contract_is_read_page_by_page(ingestor, store):
    require_tesseract()
    progress = Recorder()
    result = ingestor.run([Source(name="signed lease.pdf", key="upload:lease", data=scanned_contract())],
                          progress)[0]
    assert result.status == "ingested", result.error
    record = store.require_document(result.doc_id or "", with_pages=True)
    assert record.n_pages == 3 and record.pages is not None
    assert record.ocr_pages == [0, 1, 2]
    assert record.ocr_low_confidence_pages == []
    assert all(c >= 80 for c in record.ocr_confidence), record.ocr_confidence
    assert record.ocr_mean_confidence is not None and record.ocr_mean_confidence >= 80
    # page numbers are the PDF's, the sideways page included, and every page reads as what was written
    for index, (stored, source) in enumerate(zip(record.pages, normalize_pages(SCAN_PAGES), strict=True)):
        assert char_accuracy(stored, source) >= MIN_ACCURACY, (index, stored)
    assert progress.ocr == [("signed lease.pdf", k, 3) for k in (1, 2, 3)]
    hits = search(store, HashEmbedder(64), "laws of the State of Maine", mode="bm25", limit=3)
    assert hits and hits[0].first_page == 2
    assert result.ocr is not None and result.to_dict()["ocr"]["pages"] == [0, 1, 2]


def test_mixed_pdf_reads_only_its_scanned_page_in_the_worker_process(store, settings):
    require_tesseract()
    data = mixed_contract()
    typed_only = parse_bytes("mixed.pdf", data, ocr=OcrOptions(mode="off")).pages
    stream = io.StringIO()
    ingestor = Ingestor(store, lambda: HashEmbedder(64), settings, workers=1)  # OCR inside the parser worker
    try:
        result = ingestor.run([Source(name="mixed.pdf", key="upload:mixed", data=data)], PlainProgress(stream))[0]
    finally:
        ingestor.close()
    assert result.status == "ingested", result.error
    record = store.require_document(result.doc_id or "", with_pages=True)
    assert record.pages is not None and record.n_pages == 4
    assert record.ocr_pages == [1]
    assert typed_only[1].strip() == ""
    assert char_accuracy(record.pages[1], normalize_pages([SCAN_PAGES[2]])[0]) >= MIN_ACCURACY
    assert [record.pages[i] for i in (0, 2, 3)] == normalize_pages(typed_only)[0:1] + normalize_pages(typed_only)[2:]
    assert "OCR page 1/1 of mixed.pdf" in stream.getvalue()
    assert "OCR 1 page, mean confidence" in stream.getvalue()


def test_pages_under_the_confidence_floor_are_flagged_and_not_indexed(store, settings):
    require_tesseract()
    settings = settings.model_copy(update={"ocr_min_confidence": 99.9})
    ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
    stream = io.StringIO()
    result = ingestor.run([Source(name="mixed.pdf", key="upload:mixed", data=mixed_contract())],
                          PlainProgress(stream))[0]
    assert result.status == "ingested", result.error
    record = store.require_document(result.doc_id or "", with_pages=True)
    assert record.pages is not None
    assert record.ocr_pages == [1] and record.ocr_low_confidence_pages == [1]
    assert 0 < record.ocr_confidence[0] < 99.9
    assert record.pages[1] == ""  # the page keeps its place, without the doubtful text
    hits = search(store, HashEmbedder(64), "Lease governed by the laws of the State of Maine", mode="bm25", limit=20)
    assert hits and not any("Maine" in h.text or "Lease" in h.text for h in hits)
    assert "under the confidence floor and not indexed: page 2" in stream.getvalue()


def test_a_scan_with_nothing_confident_is_no_text():
    require_tesseract()
    data = scan_pdf([page_image(SCAN_PAGES[0], seed=5)])
    with pytest.raises(NoText) as err:
        parse_bytes("scan.pdf", data, ocr=OcrOptions(min_confidence=99.9))
    assert "confidence floor" in err.value.message


def test_thin_text_layer_over_a_scan_is_replaced_by_ocr():
    require_tesseract()
    buffer = io.BytesIO()
    page_image(SCAN_PAGES[1], seed=6).save(buffer, format="PNG")
    pdf = _pdf()
    pdf.add_page()
    pdf.image(buffer, x=0, y=0, w=210, h=297)
    pdf.set_y(-12)
    pdf.cell(0, 6, "Bates FOLIO-000123", align="C")  # a stamp added after scanning: the only text layer
    doc = parse_bytes("stamped.pdf", bytes(pdf.output()))
    assert doc.ocr is not None and doc.ocr.page_indexes == [0]
    assert char_accuracy(normalize_pages(doc.pages)[0], normalize_pages([SCAN_PAGES[1]])[0]) >= MIN_ACCURACY - 0.02


def test_without_orientation_data_the_four_quarter_turns_are_tried(monkeypatch):
    require_tesseract()
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")  # what the OCR worker processes set for their Tesseract
    text = SCAN_PAGES[2].split("\n")[0]
    sideways = page_image(text, rotate=90, seed=10)
    page = read_image(sideways, osd=False)  # as if osd.traineddata were missing
    assert page.rotation == 90
    assert char_accuracy(page.text, text) >= MIN_ACCURACY


# -- without Tesseract ------------------------------------------------------------------------------------


def test_the_rule_compares_the_text_layer_with_the_ink():
    # a typed page: ~2,500 characters over ~3 in² of ink
    assert not ocr.needs_ocr(2500, 3.0)
    # a scan: no text layer, the same ink
    assert ocr.needs_ocr(0, 3.0)
    # a scan with a Bates stamp in its text layer
    assert ocr.needs_ocr(18, 3.0)
    # a blank page with scanner specks
    assert not ocr.needs_ocr(0, 0.02)


def test_typed_pages_and_a_typed_page_with_a_logo_are_not_sent_to_ocr():
    buffer = io.BytesIO()
    from PIL import Image, ImageDraw

    logo = Image.new("L", (300, 120), 255)
    ImageDraw.Draw(logo).ellipse((10, 10, 110, 110), fill=0)
    logo.save(buffer, format="PNG")
    pdf = _pdf()
    pdf.add_page()
    pdf.image(buffer, x=10, y=10, w=40)
    pdf.set_y(40)
    pdf.multi_cell(0, 6, CONTRACT_PAGES[0] * 3)
    # a Tesseract that does not exist: any attempt at OCR would fail the parse
    nowhere = OcrOptions(tesseract_cmd="/nonexistent/tesseract")
    for data in (bytes(pdf.output()), text_pdf(CONTRACT_PAGES)):
        doc = parse_bytes("typed.pdf", data, ocr=nowhere)
        assert doc.ocr is None
        assert "Birchwood Assembly" in doc.pages[0]


def test_missing_tesseract_is_one_clear_error(store, settings, tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    scan = scan_pdf([page_image(SCAN_PAGES[0], seed=7)])
    with pytest.raises(OcrUnavailable) as err:
        parse_bytes("scan.pdf", scan)
    assert err.value.code == "ocr_unavailable"
    assert "apt-get install tesseract-ocr tesseract-ocr-eng" in err.value.message
    assert "FOLIO_OCR=off" in err.value.message
    # in a batch: the scan fails with the code, the typed file beside it is ingested
    ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
    results = ingestor.run([Source(name="scan.pdf", key="upload:scan", data=scan),
                            Source(name="typed.pdf", key="upload:typed", data=text_pdf(CONTRACT_PAGES))])
    assert [r.status for r in results] == ["failed", "ingested"]
    assert results[0].error is not None and results[0].error.code == "ocr_unavailable"
    assert results[0].error.file == "scan.pdf"
    assert results[0].to_dict()["error"]["code"] == "ocr_unavailable"


def test_tesseract_command_that_is_not_there(tmp_path):
    with pytest.raises(OcrUnavailable) as err:
        parse_bytes("scan.pdf", scan_pdf([page_image(SCAN_PAGES[0], seed=8)]),
                    ocr=OcrOptions(tesseract_cmd=str(tmp_path / "tesseract")))
    assert "Tesseract is not installed" in err.value.message


def test_ocr_off_refuses_a_scan_and_keeps_the_typed_pages_of_a_mixed_pdf(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLIO_OCR", "off")
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=0)
    assert settings.ocr == "off"
    with Store.open(settings) as store:
        ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
        scan, mixed = ingestor.run([
            Source(name="scan.pdf", key="upload:scan", data=scan_pdf([page_image(SCAN_PAGES[0], seed=9)])),
            Source(name="mixed.pdf", key="upload:mixed", data=mixed_contract()),
        ])
        assert scan.status == "failed" and scan.error is not None
        assert scan.error.code == "no_text" and "FOLIO_OCR=off" in scan.error.message
        assert mixed.status == "ingested"
        record = store.require_document(mixed.doc_id or "", with_pages=True)
    assert record.ocr_pages == [] and record.pages is not None and record.pages[1] == ""


def test_records_written_before_ocr_still_load():
    old = {"id": "a" * 64, "file_name": "old.pdf", "title": "Old", "format": "pdf", "size_bytes": 10,
           "n_pages": 1, "total_tokens": 5, "page_tokens": [5], "status": "ready",
           "ingested_at": "2025-01-01T00:00:00+00:00", "embed_model": "hash-64"}
    record = DocumentRecord.model_validate(old)
    assert record.ocr_pages == [] and record.ocr_confidence == [] and record.ocr_mean_confidence is None
    assert record.ocr_low_confidence_pages == []


def test_tesseract_words_become_lines_and_paragraphs():
    table = {
        "text": ["", "LEASE", "AGREEMENT", "This", "Lease", "|", "runs", "", "Rent."],
        "conf": [-1, 96, 95, 94, 93, 12, 91, -1, 90],
        "block_num": [1, 1, 1, 1, 1, 1, 1, 2, 2],
        "par_num": [0, 1, 1, 2, 2, 2, 2, 1, 1],
        "line_num": [0, 1, 1, 1, 1, 1, 2, 1, 1],
    }
    page = words_to_text(table)
    assert page.text == "LEASE AGREEMENT\n\nThis Lease\nruns\n\nRent."  # the low-confidence speck "|" is dropped
    assert page.words == 6
    assert page.confidence == pytest.approx((96 + 95 + 94 + 93 + 91 + 90) / 6, abs=0.01)


def test_report_and_progress_lines():
    report = OcrReport(pages=[ocr.OcrPage(0, 90.0, 100), ocr.OcrPage(3, 40.0, 20, indexed=False)])
    assert report.page_indexes == [0, 3] and report.low_confidence_pages == [3]
    assert report.mean_confidence == pytest.approx((90 * 100 + 40 * 20) / 120, abs=0.01)
    stream = io.StringIO()
    progress = PlainProgress(stream)
    for done in range(1, 13):
        progress.ocr_page("scans/deed.pdf", done, 12)
    assert stream.getvalue().splitlines() == ["OCR page 1/12 of deed.pdf", "OCR page 10/12 of deed.pdf",
                                              "OCR page 12/12 of deed.pdf"]
    progress.file_done(FileResult(name="deed.pdf", status="ingested", pages=12, ocr=report))
    line = stream.getvalue().splitlines()[-1]
    assert "OCR 2 pages, mean confidence 82" in line and "not indexed: page 4" in line


def test_tesseract_on_path_is_found_by_name():
    require_tesseract()  # a failure under CI, a skip elsewhere
    assert shutil.which("tesseract") is not None
    assert "eng" in ocr.tesseract_languages("tesseract")
