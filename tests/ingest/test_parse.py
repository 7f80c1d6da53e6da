from __future__ import annotations

import io

import pytest

from folio.errors import CorruptFile, EmptyFile, EncryptedFile, FileTooLarge, NoText, UnsupportedFormat
from folio.ingest.ocr import OcrOptions
from folio.ingest.parse import VIRTUAL_PAGE_CHARS, parse_bytes
from tests.pdfs import CONTRACT_PAGES, image_only_pdf, text_pdf
from tests.scans import require_tesseract


def test_pdf_pages_and_title():
    doc = parse_bytes("supply.pdf", text_pdf(CONTRACT_PAGES, title="Master Supply Agreement"))
    assert doc.format == "pdf"
    assert len(doc.pages) == 3
    assert "forty-five days" in doc.pages[1]
    assert "State of Oregon" in doc.pages[2]
    assert doc.title == "Master Supply Agreement"
    assert not doc.virtual_pages


def test_pdf_encrypted_with_empty_password_opens():
    data = text_pdf(CONTRACT_PAGES, encrypt_user="", encrypt_owner="owner-secret")
    assert b"/Encrypt" in data
    doc = parse_bytes("locked-but-open.pdf", data)
    assert "Birchwood Assembly" in doc.pages[0]


def test_pdf_with_a_real_password_is_refused():
    with pytest.raises(EncryptedFile) as err:
        parse_bytes("secret.pdf", text_pdf(CONTRACT_PAGES, encrypt_user="hunter2"))
    assert err.value.code == "encrypted_file"
    assert err.value.file == "secret.pdf"
    assert "password" in err.value.message


def test_scan_without_words_has_no_text():
    # pages of ruled lines only: OCR reads them and finds nothing (tests/ingest/test_ocr.py reads real scans)
    require_tesseract()
    with pytest.raises(NoText) as err:
        parse_bytes("scan.pdf", image_only_pdf(1))
    assert "scanned" in err.value.message and "OCR" in err.value.message
    assert err.value.code == "no_text"


def test_scanned_pdf_with_ocr_off_has_no_text():
    with pytest.raises(NoText) as err:
        parse_bytes("scan.pdf", image_only_pdf(2), ocr=OcrOptions(mode="off"))
    assert "scanned" in err.value.message and "FOLIO_OCR=off" in err.value.message
    assert err.value.code == "no_text"


@pytest.mark.parametrize("data", [
    b"%PDF-1.7\n" + bytes(range(256)) * 20,
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
])
def test_corrupt_pdf(data):
    with pytest.raises(CorruptFile) as err:
        parse_bytes("broken.pdf", data)
    assert err.value.file == "broken.pdf"


def test_truncated_pdf_is_corrupt_or_partial():
    data = text_pdf(CONTRACT_PAGES * 3)
    with pytest.raises((CorruptFile, NoText)):
        parse_bytes("truncated.pdf", data[: len(data) // 3])


def test_not_a_pdf_despite_its_name():
    with pytest.raises(CorruptFile, match="PDF header"):
        parse_bytes("report.pdf", b"hello, this is plain text")


def test_empty_and_whitespace_files():
    for data in (b"", b"   \n\t "):
        with pytest.raises(EmptyFile):
            parse_bytes("empty.txt", data)


def test_unsupported_type_names_the_suffix():
    with pytest.raises(UnsupportedFormat, match=r"\.xlsx"):
        parse_bytes("numbers.xlsx", b"PK\x03\x04data")


def test_size_limit():
    with pytest.raises(FileTooLarge, match="limit"):
        parse_bytes("big.txt", b"x" * 2000, max_bytes=1000)


def test_text_virtual_pages_are_stable_and_cover_everything():
    paragraphs = [f"Paragraph {i}. " + "The supplier shall deliver the goods on time. " * 8 for i in range(60)]
    text = "\n\n".join(paragraphs)
    first = parse_bytes("notes.txt", text.encode())
    second = parse_bytes("notes.txt", text.encode())
    assert first.pages == second.pages
    assert first.virtual_pages
    assert len(first.pages) > 3
    assert all(len(p) <= VIRTUAL_PAGE_CHARS for p in first.pages)
    assert "".join(first.pages).replace("\n", "") == text.replace("\n", "")
    assert first.pages[1].startswith("Paragraph")  # cut at a paragraph boundary


def test_form_feeds_are_page_breaks():
    doc = parse_bytes("memo.txt", b"page one\fpage two\fpage three\f")
    assert doc.pages == ["page one", "page two", "page three"]


def test_legacy_encoding_is_decoded():
    text = "Le fournisseur livrera les marchandises à l'entrepôt désigné avant la clôture de l'exercice. " * 5
    doc = parse_bytes("contrat.txt", text.encode("cp1252"))
    assert "entrepôt désigné" in doc.pages[0]


def test_markdown_title_and_text():
    doc = parse_bytes("policy.md", b"# Data Retention Policy\n\nRecords are kept for seven years.\n")
    assert doc.title == "Data Retention Policy"
    assert doc.format == "markdown"
    assert "seven years" in doc.pages[0]


def test_html_drops_scripts_and_keeps_blocks():
    html = b"""<html><head><title>Lease Agreement</title><style>p{color:red}</style></head>
    <body><script>alert('x')</script><h1>Lease</h1><p>Rent is due monthly.</p>
    <table><tr><td>Rent</td><td>$2,000</td></tr></table></body></html>"""
    doc = parse_bytes("lease.html", html)
    assert doc.title == "Lease Agreement"
    text = doc.pages[0]
    assert "alert" not in text and "color:red" not in text
    assert "# Lease" in text
    assert "Rent is due monthly." in text
    assert "$2,000" in text


def test_docx_paragraphs_headings_tables_and_page_breaks():
    import docx
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    document.core_properties.title = "Amendment One"
    document.add_heading("Amendment One", level=1)
    document.add_paragraph("The fee is increased to $12,000 per month.")
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    document.add_heading("Signatures", level=2)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Supplier"
    table.rows[0].cells[1].text = "Buyer"
    buffer = io.BytesIO()
    document.save(buffer)
    doc = parse_bytes("amendment.docx", buffer.getvalue())
    assert doc.title == "Amendment One"
    assert len(doc.pages) == 2
    assert "$12,000" in doc.pages[0]
    assert "## Signatures" in doc.pages[1]
    assert "Supplier | Buyer" in doc.pages[1]


def test_broken_docx_is_corrupt():
    with pytest.raises(CorruptFile):
        parse_bytes("broken.docx", b"PK\x03\x04 this is not really a zip")
