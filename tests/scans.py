"""Scans for the OCR tests, made here: text the tests wrote, drawn onto page images, degraded like a
scanner would (noise, a slight skew, a sheet fed sideways), and wrapped into image-only or mixed PDFs.

The font is Pillow's bundled one (``ImageFont.load_default``), so the pages look the same on any machine.
"""

from __future__ import annotations

import io
import os
import random
import re

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from folio.errors import OcrUnavailable
from folio.ingest import ocr
from tests.pdfs import _pdf

A4_IN = (8.27, 11.69)


def require_tesseract() -> None:
    """Tesseract with English data; in CI its absence is a failure, elsewhere the test is skipped."""
    ocr.tesseract_languages.cache_clear()
    try:
        ocr.check_tesseract(ocr.OcrOptions())
    except OcrUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have Tesseract (scripts/test installs it): {exc.message}")
        pytest.skip(f"Tesseract is not installed: {exc.message}")

SCAN_PAGES = [
    "LEASE AGREEMENT\n"
    "This Lease Agreement is entered into on June 3, 2021 between Harbor Point Properties LLC, a Delaware "
    "limited liability company (the Landlord), and Meridian Analytics Inc. (the Tenant). The Landlord leases "
    "to the Tenant the premises at 418 Canal Street, Suite 200, Portland, Maine, for the term and rent set out "
    "below.\n"
    "1. Term. The term begins on July 1, 2021 and ends on June 30, 2026 unless it is ended earlier under "
    "Section 9.",
    "2. Rent. The Tenant shall pay a monthly base rent of twelve thousand four hundred dollars, in advance, on "
    "the first business day of each month. Rent increases by three percent on each anniversary of the "
    "commencement date.\n"
    "3. Security Deposit. On signing, the Tenant shall deliver a deposit equal to two months of base rent, "
    "which the Landlord holds as security for the performance of this Lease.",
    "9. Termination. Either party may terminate this Lease on ninety days written notice if the other party "
    "fails to cure a material breach within thirty days after notice of it. The Tenant may also terminate "
    "after the third lease year by paying a fee equal to four months of base rent.\n"
    "10. Governing Law. This Lease is governed by the laws of the State of Maine.",
]


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Lines of ``text`` no wider than ``width`` pixels, broken between words; '\\n' starts a new line."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def page_image(text: str, *, dpi: int = 200, font_pt: float = 12, noise: float = 12.0, specks: float = 0.0005,
               skew_deg: float = 0.0, rotate: int = 0, blur: float = 0.0, seed: int = 0) -> Image.Image:
    """An A4 page of ``text`` as a grayscale scan: gray noise, dark specks, skew, then a quarter turn."""
    rng = random.Random(seed)
    width, height = round(A4_IN[0] * dpi), round(A4_IN[1] * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=round(font_pt / 72 * dpi))
    margin = dpi  # one inch
    y = margin
    step = round(font_pt / 72 * dpi * 1.5)
    for line in wrap(text, font, width - 2 * margin):
        draw.text((margin, y), line, font=font, fill=20)
        y += step
    if skew_deg:
        image = image.rotate(skew_deg, resample=Image.Resampling.BICUBIC, fillcolor=255)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if noise or specks:
        pixels = image.load()
        assert pixels is not None
        for _ in range(int(width * height * specks)):
            pixels[rng.randrange(width), rng.randrange(height)] = rng.randrange(0, 90)
        if noise:
            image = _add_noise(image, Image.effect_noise((width, height), noise))
    if rotate:
        image = image.rotate(rotate, expand=True)  # counter-clockwise, as a sheet fed sideways
    image.info["dpi"] = (dpi, dpi)
    return image


def _add_noise(image: Image.Image, gauss: Image.Image) -> Image.Image:
    """``image`` plus zero-mean gray noise (``effect_noise`` is centred on 128)."""
    from PIL import ImageChops

    return ImageChops.add(image, gauss, scale=1.0, offset=-128)


def scan_pdf(images: list[Image.Image], dpi: int = 200) -> bytes:
    """An image-only PDF: one page per image, sized so the image is ``dpi`` dots per inch (JPEG inside)."""
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return buffer.getvalue()


def mixed_pdf(typed: list[str], scanned: dict[int, Image.Image]) -> bytes:
    """Typed pages (fpdf2 text) with the images of ``scanned`` as full-page scans at their indexes."""
    pdf = _pdf()
    total = len(typed) + len(scanned)
    typed_pages = iter(typed)
    for index in range(total):
        pdf.add_page()
        if index in scanned:
            buffer = io.BytesIO()
            scanned[index].save(buffer, format="PNG")
            pdf.image(buffer, x=0, y=0, w=210, h=297)
        else:
            pdf.multi_cell(0, 6, next(typed_pages))
    return bytes(pdf.output())


def flat(text: str) -> str:
    """Text for comparing: whitespace collapsed to single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def char_accuracy(read: str, source: str) -> float:
    """1 - (Levenshtein distance / source length), on whitespace-collapsed text."""
    from rapidfuzz.distance import Levenshtein

    a, b = flat(read), flat(source)
    return 1.0 - Levenshtein.distance(a, b) / max(1, len(b))
