from __future__ import annotations

from ingest.chunk import Chunker, document_text, page_of
from ingest.embed import model_tokenizer
from ingest.normalize import normalize_pages

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
