"""The evaluation's own arithmetic, on small fixtures whose answers are worked out by hand (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from folio.evaluation.data import REPO, data_root, load_questions
from folio.evaluation.embed_cache import CachedEmbedder, EmbeddingCache
from folio.evaluation.evaluate import EvalOptions
from folio.evaluation.metrics import (
    Span,
    chunk_hits,
    doc_recall_at,
    evidence_coverage,
    first_hit_rank,
    hit_at,
    merge_context,
    reciprocal_rank,
    score_question,
    spans_context,
    summarize,
    summarize_groups,
)
from folio.evaluation.retrieval import question_scope
from folio.ingest.embed import HashEmbedder

GOLD = {"a.pdf": frozenset({4, 9})}
# ranks: 1 wrong page, 2 wrong document, 3 spans pages 3-5 (holds gold page 4), 4 page 9
RANKED = [Span("a.pdf", 0, 0), Span("b.pdf", 4, 4), Span("a.pdf", 3, 5), Span("a.pdf", 9, 9)]


def test_a_chunk_hits_when_its_page_span_overlaps_a_gold_page_of_the_same_document():
    assert chunk_hits(GOLD, Span("a.pdf", 3, 5))
    assert chunk_hits(GOLD, Span("a.pdf", 9, 9))
    assert not chunk_hits(GOLD, Span("a.pdf", 5, 8))  # between the two gold pages
    assert not chunk_hits(GOLD, Span("b.pdf", 4, 4))  # the right page of the wrong document
    assert chunk_hits({"a.pdf": None}, Span("a.pdf", 0, 0))  # document-level evidence


def test_recall_at_k_and_reciprocal_rank_count_the_first_hit():
    assert [hit_at(GOLD, RANKED, k) for k in (1, 2, 3, 4)] == [False, False, True, True]
    assert first_hit_rank(GOLD, RANKED) == 3
    assert reciprocal_rank(GOLD, RANKED) == pytest.approx(1 / 3)
    assert reciprocal_rank(GOLD, RANKED, cutoff=2) == 0.0
    assert first_hit_rank(GOLD, RANKED[:2]) is None


def test_document_recall_is_the_share_of_evidence_documents_reached():
    gold = {"q1.pdf": None, "q2.pdf": None, "q3.pdf": None, "q4.pdf": None}
    ranked = [Span("q2.pdf", 0, 0), Span("x.pdf", 0, 0), Span("q2.pdf", 3, 3), Span("q4.pdf", 1, 1)]
    assert doc_recall_at(gold, ranked, 1) == 0.25
    assert doc_recall_at(gold, ranked, 3) == 0.25  # the same filing twice counts once
    assert doc_recall_at(gold, ranked, 4) == 0.5
    assert hit_at(gold, ranked, 1)


def test_scores_and_their_means_by_hand():
    q1 = score_question(GOLD, {1: RANKED[:1], 3: RANKED[:3], 5: RANKED})
    assert q1["hit"] == {1: False, 3: True, 5: True}
    assert q1["rr"] == pytest.approx(0.3333)
    q2 = score_question({"a.pdf": frozenset({0})}, {1: RANKED[:1], 3: RANKED[:3], 5: RANKED}, ks=(1, 3, 5))
    assert q2["hit"] == {1: True, 3: True, 5: True} and q2["rr"] == 1.0
    q3 = score_question({"a.pdf": frozenset({7})}, {1: RANKED[:1], 3: RANKED[:3], 5: RANKED}, ks=(1, 3, 5))
    assert q3["hit"] == {1: False, 3: False, 5: False} and q3["rr"] == 0.0 and q3["first_hit_rank"] is None
    rows = [{**q1, "group": "x"}, {**q2, "group": "x"}, {**q3, "group": "y"}]
    total = summarize(rows, ks=(1, 3, 5))
    assert total["n"] == 3
    assert total["recall"] == {1: pytest.approx(1 / 3, abs=1e-4), 3: pytest.approx(2 / 3, abs=1e-4),
                               5: pytest.approx(2 / 3, abs=1e-4)}
    assert total["mrr"] == pytest.approx((1 / 3 + 1 + 0) / 3, abs=1e-3)
    groups = summarize_groups(rows, ks=(1, 3, 5))
    assert groups["x"]["recall"][1] == 0.5 and groups["y"]["recall"][5] == 0.0 and groups["x"]["n"] == 2
    assert summarize([], ks=(1,))["recall"][1] is None


def test_evidence_coverage_counts_gold_pages_the_context_held():
    gold = {"a.pdf": frozenset({1, 2, 3, 4})}
    assert evidence_coverage(gold, {"a.pdf": {2, 3, 10}}) == 0.5
    assert evidence_coverage(gold, {"a.pdf": None}) == 1.0  # the whole document was sent
    assert evidence_coverage(gold, {"b.pdf": None}) == 0.0
    assert evidence_coverage(gold, {}) == 0.0
    both = {"a.pdf": frozenset({0}), "b.pdf": frozenset({5, 6})}
    assert evidence_coverage(both, {"a.pdf": None, "b.pdf": {5}}) == pytest.approx(2 / 3)
    docs = {"q1.pdf": None, "q2.pdf": None}
    assert evidence_coverage(docs, {"q1.pdf": {3}, "q3.pdf": None}) == 0.5


def test_contexts_merge_and_whole_documents_win():
    rag = spans_context([Span("a.pdf", 2, 3), Span("a.pdf", 7, 7), Span("b.pdf", 0, 1)])
    assert rag == {"a.pdf": {2, 3, 7}, "b.pdf": {0, 1}}
    merged = merge_context(rag, {"a.pdf": None})
    assert merged == {"a.pdf": None, "b.pdf": {0, 1}}
    assert merge_context({"a.pdf": None}, {"a.pdf": {1}}) == {"a.pdf": None}


def _write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_the_three_sets_load_into_one_shape(tmp_path: Path):
    _write_jsonl(tmp_path / "cuad-dev" / "questions.jsonl", [
        {"id": "c1", "category": "Parties", "question": "Who?", "doc": "K.PDF",
         "evidence": [{"text": "x", "pages": [0]}, {"text": "y", "pages": [0, 1]}]},
        {"id": "c2", "category": "Cap On Liability", "question": "Cap?", "doc": "K.PDF",
         "question_in_corpus": "In the Supply Agreement between A and B: cap?",
         "evidence": [{"text": "z", "pages": [6]}]},
        {"id": "c3", "category": "Audit Rights", "question": "Audit?", "doc": "K.PDF", "evidence": []},
    ])
    _write_jsonl(tmp_path / "financebench-dev" / "questions.jsonl", [
        {"id": "f1", "question": "Revenue?", "doc": "ACME_2020_10K", "question_type": "metrics-generated",
         "evidence": [{"doc": "ACME_2020_10K", "page": 40}, {"doc": "ACME_2020_10K", "page": 41}]},
    ])
    _write_jsonl(tmp_path / "sec10q" / "questions.jsonl", [
        {"id": "s1", "question": "Sales?", "docs": ["2023 Q1 AAPL", "2023 Q2 AAPL"], "question_type": "Multi-Doc RAG",
         "evidence": [{"doc": "2023 Q1 AAPL", "page": None}],
         "silver_number_pages": [{"doc": "2023 Q1 AAPL", "page": 3, "value": "1"}]},
    ])
    cuad = load_questions(tmp_path, "cuad")
    assert [q.id for q in cuad] == ["c1", "c2"]  # no gold pages: left out
    assert cuad[0].gold == {"K.PDF": frozenset({0, 1})} and cuad[0].trivial and not cuad[1].trivial
    fb = load_questions(tmp_path, "financebench")
    assert fb[0].docs == ("ACME_2020_10K.pdf",) and fb[0].gold == {"ACME_2020_10K.pdf": frozenset({40, 41})}
    assert fb[0].group == "metrics-generated"
    sec = load_questions(tmp_path, "sec10q")
    assert sec[0].gold == {"2023 Q1 AAPL.pdf": None, "2023 Q2 AAPL.pdf": None} and not sec[0].page_level
    assert sec[0].company == "AAPL" and sec[0].silver == {"2023 Q1 AAPL.pdf": frozenset({3})}
    # across the library: cuad's question as it names its contract, every document of the index as the scope
    assert cuad[1].library_text == "In the Supply Agreement between A and B: cap?" and cuad[0].library_text == "Who?"
    ids = {"K.PDF": "k", "L.PDF": "l"}
    assert question_scope(cuad[1], ids) == ["k"] and question_scope(cuad[1], ids, library=True) == ["k", "l"]
    assert question_scope(sec[0], {"2023 Q1 AAPL.pdf": "a", "2023 Q2 AAPL.pdf": "b", "x.pdf": "c"}) == ["a", "b", "c"]


def test_cached_embeddings_are_the_models_and_the_model_loads_only_for_new_texts(tmp_path: Path):
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    loads = []

    def factory() -> HashEmbedder:
        loads.append(1)
        return HashEmbedder(16)

    first = CachedEmbedder("hash-16", cache, factory)
    assert first.dim == 16 and len(loads) == 1  # the size was unknown: loaded once
    vectors = first.embed(["alpha beta", "gamma", "alpha beta"])
    assert np.allclose(vectors, HashEmbedder(16).embed(["alpha beta", "gamma", "alpha beta"]))
    assert cache.misses == 2 and len(cache) == 2  # a repeated text is embedded once
    second = CachedEmbedder("hash-16", cache, factory)
    assert np.allclose(second.embed(["gamma", "alpha beta"]), vectors[[1, 0]])
    assert len(loads) == 1 and not second.loaded  # all cached: no model
    assert np.allclose(second.embed_query("delta"), HashEmbedder(16).embed_query("delta"))
    assert second.loaded and len(loads) == 2
    other = CachedEmbedder("hash-16-other", cache, lambda: HashEmbedder(16))
    other.embed(["gamma"])
    assert cache.misses == 4  # the key includes the model
    cache.close()


def test_the_default_paths_are_the_checkouts_though_the_package_is_reached_through_a_link():
    root = Path(__file__).resolve().parents[2]
    assert root == REPO and (REPO / "evaluation" / "data.py").is_file()
    assert data_root() == root.parent / "shared" / "data"  # no FOLIO_EVAL_DATA: ../shared/data beside the checkout
    options = EvalOptions()
    assert options.out_dir == root / "bench" / "results" and options.cache_dir == root / "bench" / ".cache" / "eval"


def test_an_int8_run_keeps_indexes_and_vectors_of_its_own(tmp_path: Path) -> None:
    """``--embed-backend onnx`` (the default, as the product's 'auto' on a CPU): its indexes are tagged apart from
    torch's, and its embedder caches under the backend's key, so torch's cached vectors are never read for it (nor
    its for torch)."""
    from folio.evaluation.evaluate import Evaluation

    torch_run = Evaluation(EvalOptions(cache_dir=tmp_path, data=tmp_path, embed_backend="torch"))
    int8_run = Evaluation(EvalOptions(cache_dir=tmp_path, data=tmp_path))
    quick_int8 = Evaluation(EvalOptions(cache_dir=tmp_path, data=tmp_path, embed_backend="onnx", quick=True))
    assert (torch_run._index_tag(), int8_run._index_tag(), quick_int8._index_tag()) == ("", "onnx", "quick-onnx")
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    torch_vectors = CachedEmbedder("hash-16", cache, lambda: HashEmbedder(16))
    torch_vectors.embed(["gamma"])
    with pytest.raises(ValueError, match="backend"):  # int8's key knows no model yet: it loads one, which is
        CachedEmbedder("hash-16", cache, lambda: HashEmbedder(16), backend="onnx-int8")  # torch's: refused
    cache.close()
