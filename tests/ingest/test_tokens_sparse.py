from __future__ import annotations

from folio.index.sparse import document_vector, query_vector, terms
from folio.ingest.tokens import deepseek_counter


def test_deepseek_counts_are_exact_and_additive_per_page():
    counter = deepseek_counter()
    assert counter.count("") == 0
    assert counter.count("hello world") == 2
    pages = ["The Licensee shall pay the fee.", "Termination requires ninety days notice."]
    assert counter.count_many(pages) == [counter.count(p) for p in pages]


def test_whitespace_runs_are_counted():
    counter = deepseek_counter()
    assert counter.count("a" + " " * 40 + "b") > counter.count("a b")


def test_tokenizer_vocabulary_is_deepseeks():
    counter = deepseek_counter()
    assert counter._tokenizer.get_vocab_size() == 129280
    assert counter.decode(counter.encode("Section 12.3 Termination")) == "Section 12.3 Termination"


def test_terms_stem_and_drop_stopwords():
    assert terms("The Licensee shall terminate the Agreements") == ["license", "termin", "agreement"]
    assert "1101643" in terms("1,101,643 shares")


def test_bm25_vectors():
    doc = document_vector("termination termination notice")
    assert doc.indices == sorted(doc.indices)
    assert len(doc.indices) == 2
    weights = dict(zip(doc.indices, doc.values, strict=True))
    query = query_vector("notice of termination")
    assert set(query.indices) == set(doc.indices)
    assert max(weights.values()) > min(weights.values())  # tf saturation, not binary
