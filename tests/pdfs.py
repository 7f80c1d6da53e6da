"""PDF factories for the tests: every PDF the tests need is written here, with fpdf2."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF


def _pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_creation_date(datetime(2025, 1, 1, tzinfo=UTC))
    pdf.set_font("Helvetica", size=11)
    return pdf


def text_pdf(pages: list[str], *, title: str | None = None, header: str | None = None,
             footer_numbers: bool = False, encrypt_user: str | None = None,
             encrypt_owner: str | None = None) -> bytes:
    """One PDF page per item of ``pages`` (text wraps; a '\\n' starts a new line)."""
    pdf = _pdf()
    if title:
        pdf.set_title(title)
    total = len(pages)
    for number, text in enumerate(pages, 1):
        pdf.add_page()
        if header:
            pdf.set_font("Helvetica", size=8)
            pdf.cell(0, 6, header, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text)
        if footer_numbers:
            pdf.set_y(-15)
            pdf.set_font("Helvetica", size=8)
            pdf.cell(0, 6, f"Page {number} of {total}", align="C")
            pdf.set_font("Helvetica", size=11)
    if encrypt_user is not None or encrypt_owner is not None:
        pdf.set_encryption(owner_password=encrypt_owner or "owner", user_password=encrypt_user or "")
    return bytes(pdf.output())


def image_only_pdf(n_pages: int = 2) -> bytes:
    """A 'scan': pages that hold only an image, no text layer."""
    from PIL import Image, ImageDraw

    pdf = _pdf()
    for i in range(n_pages):
        image = Image.new("L", (600, 800), 255)
        draw = ImageDraw.Draw(image)
        for y in range(60, 760, 24):
            draw.line((50, y, 550, y + random.Random(i * 1000 + y).randint(-2, 2)), fill=0, width=3)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        pdf.add_page()
        pdf.image(buffer, x=10, y=10, w=190)
    return bytes(pdf.output())


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


CONTRACT_PAGES = [
    "MASTER SUPPLY AGREEMENT\nThis Master Supply Agreement is made between Alder Components Inc. and "
    "Birchwood Assembly LLC.\n1. Definitions\n1.1 \"Products\" means the parts listed in Schedule A.\n"
    "1.2 \"Territory\" means the United States and Canada.",
    "2. Term\n2.1 Initial Term. This Agreement starts on March 1, 2024 and runs for three years.\n"
    "2.2 Renewal. It renews for one-year periods unless either party gives notice.\n"
    "3. Prices and Payment\n3.1 Invoices are payable within forty-five days of receipt.",
    "12. Termination\n12.1 Termination for Convenience. Either party may terminate this Agreement on "
    "one hundred twenty days written notice.\n12.2 Termination for Cause. A party may terminate on "
    "material breach not cured within thirty days.\n13. Governing Law\nThis Agreement is governed by "
    "the laws of the State of Oregon.",
]
