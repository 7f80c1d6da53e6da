from __future__ import annotations

import itertools
import random
import string

from folio.ingest.chunk import MAX_CHARS_PER_TOKEN, Chunker, document_text, page_of
from folio.ingest.embed import model_tokenizer
from folio.ingest.normalize import normalize_pages
from tests.pdfs import CONTRACT_PAGES

TOKENIZER = model_tokenizer("all-MiniLM-L6-v2")


def _long_pages() -> list[str]:
    pages = []
    for p in range(5):
        body = [f"ARTICLE {'I' * (p + 1)} OBLIGATIONS"]
        for s in range(30):
            body.append(f"The Supplier shall perform obligation {p}-{s} with reasonable care and skill, "
                        f"and shall report progress to the Customer every {s + 1} weeks.")
        pages.append("\n".join(body))
    return normalize_pages(pages)


def test_offsets_pages_and_order():
    pages = _long_pages()
    chunks = Chunker(TOKENIZER).split(pages)
    text, starts = document_text(pages)
    assert len(chunks) > 5
    for i, c in enumerate(chunks):
        assert c.index == i
        assert text[c.start:c.end] == c.text
        assert c.first_page == page_of(c.start, starts)
        assert c.first_page <= c.last_page
        assert pages[c.first_page][:20] in text[starts[c.first_page]:]
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    # every character of the document is in some chunk
    covered = 0
    for c in chunks:
        assert c.start <= covered + 2, "gap between chunks"
        covered = max(covered, c.end)
    assert covered >= len(text.rstrip()) - 1


def test_chunks_never_exceed_the_model_window():
    pages = [*_long_pages(), "word " * 3000, "x" * 5000, "1,234,567 " * 800]
    chunker = Chunker(TOKENIZER, chunk_tokens=200, heading_tokens=32, window=256)
    chunks = chunker.split(pages)
    assert max(c.embed_tokens for c in chunks) <= 256
    assert all(len(TOKENIZER.encode(c.embed_text).ids) <= 256 for c in chunks)
    assert max(len(c.text) for c in chunks) <= chunker.max_chars  # "x" * 5000 is one token


def test_headings_follow_the_text():
    chunks = Chunker(TOKENIZER).split(_long_pages())
    for c in chunks:
        assert c.heading is not None
        assert c.heading in (f"ARTICLE {'I' * (c.first_page + 1)} OBLIGATIONS",
                             f"ARTICLE {'I' * c.first_page} OBLIGATIONS")
        assert c.embed_text.startswith(c.heading)


def test_split_is_deterministic():
    pages = _long_pages()
    assert Chunker(TOKENIZER).split(pages) == Chunker(TOKENIZER).split(pages)


def test_empty_document_has_no_chunks():
    assert Chunker(TOKENIZER).split(["", "  "]) == []


def _run(length: int, seed: int) -> str:
    """``length`` letters and digits without a space: the tokenizer reads it as one unknown token."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(length))


def _spans(chunks: list) -> list[tuple[int, int, int, int]]:
    return [(c.start, c.end, c.first_page, c.last_page) for c in chunks]


def test_a_run_without_spaces_is_cut_at_the_character_cap():
    chunker = Chunker(TOKENIZER)
    assert chunker.max_chars == 200 * MAX_CHARS_PER_TOKEN == 4000
    pages = ["ARTICLE 1 KEYS\nThe Licensor shall deliver the key below on signature.", _run(9000, 5),
             "The key above is confidential."]
    text, starts = document_text(pages)
    assert starts == [0, 71, 9073] and len(text) == 9103
    chunks = chunker.split(pages)
    # the splitter sees 22 tokens and makes one piece of all 9,103 characters; the cap cuts it hard every
    # 4,000 (the only spaces in the first 4,000 are in their first half)
    assert _spans(chunks) == [(0, 4000, 0, 1), (4000, 8000, 1, 1), (8000, 9103, 1, 2)]
    assert "".join(c.text for c in chunks) == text
    assert all(c.text == text[c.start : c.end] and c.embed_tokens <= 256 for c in chunks)


def test_a_cut_falls_on_a_page_break_when_there_is_one():
    pages = [_run(3000, 1), _run(3000, 2)]
    chunks = Chunker(TOKENIZER).split(pages)
    assert _spans(chunks) == [(0, 3000, 0, 0), (3002, 6002, 1, 1)]
    assert [c.text for c in chunks] == pages


def test_the_cap_follows_the_chunk_size():
    run = _run(200_000, 3)  # 200 KB in one word, one page
    chunks = Chunker(TOKENIZER).split([run])
    assert _spans(chunks) == [(i, i + 4000, 0, 0) for i in range(0, 200_000, 4000)]
    assert "".join(c.text for c in chunks) == run
    small = Chunker(TOKENIZER, chunk_tokens=64).split([run[:5000]])
    assert _spans(small) == [(0, 1280, 0, 0), (1280, 2560, 0, 0), (2560, 3840, 0, 0), (3840, 5000, 0, 0)]


def test_a_part_cut_inside_a_word_is_cut_again_by_tokens():
    """Words of 101 letters are one token each, but a cut leaves pieces of them that take dozens: a part the
    cap cut out that no longer fits the token budget is cut again at token boundaries."""
    rng = random.Random(1)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(101)) + "," for _ in range(40)]
    text = "".join(words)
    chunker = Chunker(TOKENIZER, chunk_tokens=32, heading_tokens=8, window=48)
    assert chunker.count(text[:1632]) == 32 and chunker.count(text[640:1280]) > 48  # one piece; a part of it
    chunks = chunker.split([text])
    assert all(c.text == text[c.start : c.end] for c in chunks)
    assert max(len(c.text) for c in chunks) <= chunker.max_chars == 640
    assert max(c.embed_tokens for c in chunks) <= 48
    first = [c for c in chunks if c.end <= 1632]  # the splitter's first piece, cut at 640 and 1280, and between
    assert first[0].start == 0 and first[-1].end == 1632
    assert all(a.end == b.start for a, b in itertools.pairwise(first))
    assert {640, 1280} <= {c.end for c in first} and len(first) > 3

# What the chunker made of these documents before it had a character cap: ordinary text must stay as it was.
LONG_PAGES_CHUNKS = [
    (0, 938, 0, 0), (939, 1997, 0, 0), (1998, 3061, 0, 0), (3062, 3992, 0, 0), (3994, 4933, 1, 1),
    (4934, 5992, 1, 1), (5993, 7056, 1, 1), (7057, 7987, 1, 1), (7989, 8929, 2, 2), (8930, 9988, 2, 2),
    (9989, 11052, 2, 2), (11053, 11983, 2, 2), (11985, 12926, 3, 3), (12927, 13985, 3, 3), (13986, 15049, 3, 3),
    (15050, 15980, 3, 3), (15982, 16924, 4, 4), (16925, 17983, 4, 4), (17984, 19047, 4, 4), (19048, 19978, 4, 4),
]
CONTRACT_CHUNKS_64 = [(0, 265, 0, 1), (240, 411, 1, 1), (344, 490, 1, 1), (492, 806, 2, 2)]


def test_ordinary_text_is_chunked_as_before_the_cap():
    assert _spans(Chunker(TOKENIZER).split(_long_pages())) == LONG_PAGES_CHUNKS
    contract = normalize_pages(CONTRACT_PAGES)
    assert _spans(Chunker(TOKENIZER, chunk_tokens=64).split(contract)) == CONTRACT_CHUNKS_64
    assert _spans(Chunker(TOKENIZER).split(contract)) == [(0, 806, 0, 2)]
