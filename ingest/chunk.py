"""Page-aware chunking with llama-index's SentenceSplitter, sized in the embedding model's own tokens.

The document text is the normalised pages joined by ``PAGE_SEPARATOR``; every chunk records its
character span in that text, the pages it touches and the nearest section heading before it. A chunk
plus its heading prefix never exceeds the embedding model's window, so no text is truncated away, and no
chunk is longer than ``MAX_CHARS_PER_TOKEN`` characters per token of the chunk size: the model's tokenizer
reads a run of over a hundred letters without a space (a long number, a hex or base64 blob) as one unknown
token, so counting tokens alone would let such runs make a chunk of megabytes.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass

from tokenizers import Tokenizer

from folio.ingest.headings import Heading, find_headings

PAGE_SEPARATOR = "\n\n"
# A chunk holds at most this many characters per token of the chunk size (4,000 for 200 tokens): a word
# piece is rarely more than ~20 characters, and real chunks of 200 tokens are ~1,000 (at most 1,271 in the
# first four documents of cuad-dev and of financebench-dev), so only runs without spaces are ever cut by it.
MAX_CHARS_PER_TOKEN = 20

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start: int
    end: int
    first_page: int
    last_page: int
    heading: str | None
    embed_text: str
    embed_tokens: int


def document_text(pages: list[str]) -> tuple[str, list[int]]:
    """The document's text and the character offset where each page starts in it."""
    starts: list[int] = []
    pos = 0
    for page in pages:
        starts.append(pos)
        pos += len(page) + len(PAGE_SEPARATOR)
    return PAGE_SEPARATOR.join(pages), starts


def page_of(offset: int, page_starts: list[int]) -> int:
    """The 0-based page holding character ``offset``."""
    return max(0, bisect.bisect_right(page_starts, offset) - 1)


class Chunker:
    """Splits documents into chunks that fit an embedding model's window."""

    def __init__(self, tokenizer: Tokenizer, *, chunk_tokens: int = 200, overlap: int = 24,
                 heading_tokens: int = 32, window: int = 256) -> None:
        from llama_index.core.node_parser import SentenceSplitter

        self._tokenizer = tokenizer
        # two special tokens ([CLS], [SEP]) and one for the line break after the heading
        budget = window - 3 - heading_tokens
        self.chunk_tokens = min(chunk_tokens, budget)
        self.heading_tokens = heading_tokens
        self.window = window
        self.max_chars = self.chunk_tokens * MAX_CHARS_PER_TOKEN
        self._splitter = SentenceSplitter(
            chunk_size=self.chunk_tokens,
            chunk_overlap=min(overlap, self.chunk_tokens // 4),
            tokenizer=self._token_ids,
            paragraph_separator="\n\n",
        )

    def _token_ids(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _fit_heading(self, heading: str | None) -> str | None:
        if not heading or self.heading_tokens <= 0:
            return None
        encoding = self._tokenizer.encode(heading, add_special_tokens=False)
        if len(encoding.ids) <= self.heading_tokens:
            return heading
        end = encoding.offsets[self.heading_tokens - 1][1]
        return heading[:end].rstrip()

    def _hard_split(self, text: str) -> list[tuple[int, int]]:
        """Cut a piece the splitter left too long at token boundaries (rare: huge tokens-per-word): the
        spans of the pieces in ``text``, without the spaces around them."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        spans: list[tuple[int, int]] = []
        offsets = encoding.offsets
        for i in range(0, len(offsets), self.chunk_tokens):
            window = offsets[i : i + self.chunk_tokens]
            start = window[0][0] if i else 0
            end = window[-1][1] if i + self.chunk_tokens < len(offsets) else len(text)
            span = _stripped(text, start, end)
            if span is not None:
                spans.append(span)
        return spans

    def _spans(self, piece: str) -> list[tuple[int, int]]:
        """Where the chunks of one of the splitter's pieces lie in it: the piece itself, or, when it has more
        than ``chunk_tokens`` tokens or ``max_chars`` characters, the parts it is cut into (each within both)."""
        if self.count(piece) > self.chunk_tokens:
            spans = self._hard_split(piece)
        elif piece.strip():
            spans = [(0, len(piece))]
        else:
            return []
        out: list[tuple[int, int]] = []
        for start, end in spans:
            if end - start <= self.max_chars:
                out.append((start, end))
                continue
            for cut_start, cut_end in _cut_long(piece, start, end, self.max_chars):
                part = piece[cut_start:cut_end]
                if self.count(part) > self.chunk_tokens:  # a cut word can take more tokens than the whole
                    out.extend((cut_start + a, cut_start + b) for a, b in self._hard_split(part))
                else:
                    out.append((cut_start, cut_end))
        return out

    def split(self, pages: list[str]) -> list[Chunk]:
        text, page_starts = document_text(pages)
        if not text.strip():
            return []
        headings = find_headings(text)
        heading_starts = [h.start for h in headings]
        chunks: list[Chunk] = []
        cursor = 0
        for piece in self._splitter.split_text(text):
            spans = self._spans(piece)
            if not spans:
                continue
            at = _locate(text, piece, cursor)
            for a, b in spans:
                start, end = at + a, at + b
                cursor = start + 1
                heading = self._fit_heading(_heading_for(start, end, headings, heading_starts))
                part = piece[a:b]
                embed_text = f"{heading}\n{part}" if heading and not part.startswith(heading) else part
                chunks.append(Chunk(
                    index=len(chunks), text=part, start=start, end=end,
                    first_page=page_of(start, page_starts), last_page=page_of(max(start, end - 1), page_starts),
                    heading=heading, embed_text=embed_text, embed_tokens=self.count(embed_text) + 2,
                ))
        return chunks


def _stripped(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span ``text[start:end]`` without the whitespace at its ends; None when nothing else is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _cut_long(text: str, start: int, end: int, most: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into spans of at most ``most`` characters: each at the last whitespace of its
    window when that lies in the window's second half, else hard at ``most`` characters (inside a run
    without spaces); the whitespace between spans belongs to none."""
    spans: list[tuple[int, int]] = []
    rest = _stripped(text, start, end)
    while rest is not None and rest[1] - rest[0] > most:
        start, end = rest
        window = text[start : start + most]
        space = max(window.rfind(" "), window.rfind("\n"), window.rfind("\t"))
        cut = start + (space if space > most // 2 else most)
        head = _stripped(text, start, cut)
        if head is not None:  # always: the window starts with a character that is not a space
            spans.append(head)
        rest = _stripped(text, cut, end)
    if rest is not None:
        spans.append(rest)
    return spans


def _locate(text: str, piece: str, cursor: int) -> int:
    """Where ``piece`` starts in ``text``, searching forward from ``cursor`` (the splitter keeps order)."""
    pos = text.find(piece, cursor)
    if pos >= 0:
        return pos
    pos = text.find(piece, 0)
    if pos >= 0:
        return pos
    probe = piece[:40]
    pos = text.find(probe, cursor)
    if pos < 0:  # pragma: no cover - the splitter only returns substrings of its input
        logger.warning("chunk text not found in its document; offsets approximate")
        return min(cursor, len(text))
    return pos


def _heading_for(start: int, end: int, headings: list[Heading], starts: list[int]) -> str | None:
    i = bisect.bisect_right(starts, start) - 1
    if i >= 0:
        return headings[i].text
    if headings and headings[0].start < end:
        return headings[0].text
    return None


def make_chunker(tokenizer: Tokenizer, **kwargs: int) -> Chunker:
    return Chunker(tokenizer, **kwargs)


TokenIds = Callable[[str], list[int]]
