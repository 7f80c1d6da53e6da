"""Find section headings in normalised document text ("12.3 Termination", "Item 7. Management's ...")."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEADING_CHARS = 100

_MARKDOWN = re.compile(r"^#{1,6}\s+(\S.*)$")
_ARTICLE = re.compile(r"^((?:ARTICLE|Article|SECTION|Section|EXHIBIT|Exhibit|SCHEDULE|Schedule|ANNEX|Annex)"
                      r"\s+(?:[IVXLCDM]+|\d+(?:\.\d+)*|[A-Z])\b)(?!\s+(?:of|to|in|and|shall|hereof)\b)"
                      r"[.:\-\u2013\u2014]?\s*([^.:;]{0,80})")
_PART = re.compile(r"^(?:PART|Part)\s+[IVX]+\b.{0,90}$")
_ITEM = re.compile(r"^(?:ITEM|Item)\s+\d{1,2}[A-C]?\s*[.:]\s*\S.{0,100}$")
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})(\.?)\s+([A-Z][^.:]{1,70}?)(?:[.:]\s|[.:]?$)")
_TITLE_CASE = re.compile(r"^[A-Z][A-Za-z'&/\- ]{3,58}[A-Za-z]:?$")
_CAPS = re.compile(r"^[A-Z][A-Z0-9 ,.&'()/:;\-]{2,80}$")
_SMALL_WORDS = {"of", "and", "the", "to", "for", "in", "on", "or", "by", "with", "a", "an", "as", "at", "its",
                "from", "upon", "under", "not"}


@dataclass(frozen=True)
class Heading:
    start: int
    text: str


def heading_of_line(line: str) -> str | None:
    """The heading a line holds, or None. The line must already be stripped."""
    if not line:
        return None
    if match := _NUMBERED.match(line):  # run-in headings: "3.1 Subscription Fee. The Customer shall ..."
        title = match.group(3).strip()
        words = title.split()
        if len(words) <= 10 and all(_title_word(w) for w in words):
            return f"{match.group(1)}{match.group(2)} {title}"[:MAX_HEADING_CHARS]
        return None
    if len(line) > 160:
        return None
    if match := _MARKDOWN.match(line):
        return match.group(1).strip()[:MAX_HEADING_CHARS]
    if match := _ARTICLE.match(line):
        return line[: match.end()].rstrip(" .:-\u2013\u2014")[:MAX_HEADING_CHARS]
    if _PART.match(line) or _ITEM.match(line):
        return line[:MAX_HEADING_CHARS].rstrip(" .:")
    if _CAPS.match(line) and len(line.split()) <= 8 and not line.endswith(","):
        letters = sum(c.isalpha() for c in line)
        if letters >= 4 and letters >= 0.6 * len(line.replace(" ", "")):
            return line[:MAX_HEADING_CHARS].rstrip(" .:")
    if _TITLE_CASE.match(line):  # "Results of Operations", "Liquidity and Capital Resources"
        words = line.rstrip(":").split()
        if 1 <= len(words) <= 7 and all(_title_word(w) for w in words) and (len(words) > 1 or len(line) >= 6):
            return line.rstrip(":")
    return None


def _title_word(word: str) -> bool:
    return word[0].isupper() or word.lower() in _SMALL_WORDS or not word[0].isalpha()


def find_headings(text: str) -> list[Heading]:
    """Every heading line in ``text`` with its character offset, in order."""
    out: list[Heading] = []
    pos = 0
    for line in text.split("\n"):
        stripped = line.strip()
        heading = heading_of_line(stripped)
        if heading:
            out.append(Heading(start=pos + line.index(stripped[0]), text=heading))
        pos += len(line) + 1
    return out
