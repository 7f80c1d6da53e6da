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

# A line is a running header/footer when it sits within HEADER_ZONE non-empty lines of a page's top or
# bottom and repeats there on at least HEADER_MIN_SHARE of the pages: either verbatim ("ACME CORP -
# CONFIDENTIAL"), or with one number that moves in step with the page index ("Page 7 of 40",
# "Apple Inc. | Q3 2022 Form 10-Q | 12"). Headings that merely share a shape ("ARTICLE 4") are kept.
HEADER_ZONE = 2
HEADER_MIN_SHARE = 0.5
HEADER_MIN_PAGES = 3
PAGE_NUMBER_SHARE = 0.8
PAGE_NUMBER_LINE_CHARS = 60


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
    return sorted(set(filled[:HEADER_ZONE]) | set(filled[-HEADER_ZONE:]))


def _moves_with_pages(occurrences: list[tuple[int, str]]) -> bool:
    """Whether one number in the line equals the page index plus a constant on most occurrences."""
    numbers = [(page, [int(n) for n in _DIGITS.findall(line)]) for page, line in occurrences]
    width = min(len(ns) for _, ns in numbers)
    for j in range(width):
        offsets = Counter(ns[j] - page for page, ns in numbers)
        if offsets.most_common(1)[0][1] >= PAGE_NUMBER_SHARE * len(numbers):
            return True
    return False


def running_lines(pages: list[str]) -> set[str]:
    """The exact lines to drop from the header/footer zones: running headers, footers, page numbers."""
    if len(pages) < HEADER_MIN_PAGES:
        return set()
    by_shape: dict[str, list[tuple[int, str]]] = {}
    for index, page in enumerate(pages):
        lines = page.split("\n")
        seen: set[str] = set()
        for i in _zone(lines):
            shape = _shape(lines[i])
            if shape not in seen:
                seen.add(shape)
                by_shape.setdefault(shape, []).append((index, lines[i]))
    needed = max(HEADER_MIN_PAGES, int(HEADER_MIN_SHARE * len(pages) + 0.999))
    drop: set[str] = set()
    for occurrences in by_shape.values():
        if len(occurrences) < needed:
            continue
        exact = Counter(line for _, line in occurrences)
        drop.update(line for line, n in exact.items() if n >= needed)
        shape = _shape(occurrences[0][1])
        if "#" in shape and len(shape) <= PAGE_NUMBER_LINE_CHARS and _moves_with_pages(occurrences):
            drop.update(line for _, line in occurrences)
    return drop


def normalize_pages(pages: list[str]) -> list[str]:
    """Normalise every page of a document and remove its running headers and footers."""
    cleaned = [normalize_text(page) for page in pages]
    repeated = running_lines(cleaned)
    if not repeated:
        return cleaned
    out: list[str] = []
    for page in cleaned:
        lines = page.split("\n")
        drop = {i for i in _zone(lines) if lines[i] in repeated}
        kept = "\n".join(line for i, line in enumerate(lines) if i not in drop)
        out.append(_BLANK_RUNS.sub("\n\n", kept).strip())
    return out
