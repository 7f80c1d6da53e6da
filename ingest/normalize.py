"""Normalise page texts once, at ingest: the stored result is what every later rendering uses verbatim.

Steps, in order: Unicode NFKC (ligatures, non-breaking and full-width characters), control characters
dropped, spaces and tabs collapsed, line-end hyphenation joined ("termi-\\nnation"), running headers and
footers that repeat on most pages removed, blank-line runs collapsed. The function is pure and
deterministic: the same input pages always give byte-identical output.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\u200e\u200f\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_HYPHEN_BREAK = re.compile(r"(?<=[A-Za-z])-\n(?=[a-z])")
_BLANK_RUNS = re.compile(r"\n{3,}")
_DIGITS = re.compile(r"\d+")
_ROMAN_PAGE = re.compile(r"^(page\s*)?[ivxlc]+$")

# A line is a running header/footer when it sits within this many lines of a page's top or bottom
# and its shape (digits masked) repeats there on at least HEADER_MIN_SHARE of the pages.
HEADER_ZONE = 3
HEADER_MIN_SHARE = 0.5
HEADER_MIN_PAGES = 3


def normalize_text(text: str) -> str:
    """Normalise one page's text, without the cross-page header/footer step."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = _HYPHEN_BREAK.sub("", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


def _shape(line: str) -> str:
    return _DIGITS.sub("#", line.lower())


def _zone(lines: list[str]) -> list[int]:
    """Indexes of the non-empty lines in a page's header and footer zones."""
    filled = [i for i, line in enumerate(lines) if line]
    head = filled[:HEADER_ZONE]
    tail = filled[-HEADER_ZONE:]
    return sorted(set(head) | set(tail))


def running_lines(pages: list[str]) -> set[str]:
    """Shapes of the lines that repeat in the header/footer zone of most pages."""
    if len(pages) < HEADER_MIN_PAGES:
        return set()
    counts: Counter[str] = Counter()
    for page in pages:
        lines = page.split("\n")
        counts.update({_shape(lines[i]) for i in _zone(lines)})
    needed = max(HEADER_MIN_PAGES, int(HEADER_MIN_SHARE * len(pages) + 0.999))
    return {shape for shape, n in counts.items() if n >= needed and _is_boilerplate(shape)}


def _is_boilerplate(shape: str) -> bool:
    # Page numbers ("#", "page # of #", "- # -", "iv") and short repeated lines; long sentences that
    # happen to repeat (a defined term at the top of each page) are kept.
    if _ROMAN_PAGE.match(shape) or not re.search(r"[a-z]", shape):
        return True
    return len(shape) <= 120


def normalize_pages(pages: list[str]) -> list[str]:
    """Normalise every page of a document and remove its running headers and footers."""
    cleaned = [normalize_text(page) for page in pages]
    repeated = running_lines(cleaned)
    if not repeated:
        return cleaned
    out: list[str] = []
    for page in cleaned:
        lines = page.split("\n")
        drop = {i for i in _zone(lines) if _shape(lines[i]) in repeated}
        kept = "\n".join(line for i, line in enumerate(lines) if i not in drop)
        out.append(_BLANK_RUNS.sub("\n\n", kept).strip())
    return out
