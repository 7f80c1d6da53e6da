"""The per-question fusion weight (retrieval/fusion_weight.py): each ranking's sharpness by hand-worked figures,
the weight it gives, and the lever through the service's search path on a real cuad-dev contract."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from folio.ingest.embed import HashEmbedder
from folio.ingest.store import Store
from folio.retrieval.fusion_weight import DEPTH, Ranked, choose_weight
from folio.retrieval.search import CONTRACT_BM25_WEIGHT, DEFAULT_LEVERS, Levers, retrieve
from folio.retrieval.signals import SIGNAL_K, agreement_signals

ON = replace(DEFAULT_LEVERS, fusion_weight=True)
OFF = replace(DEFAULT_LEVERS, fusion_weight=False)


def test_sharpness_is_the_best_scores_z_score_over_the_rest() -> None:
    assert Ranked.of([5.0, 3.0, 1.0]).sharpness == pytest.approx(3.0)  # rest: mean 2, spread 1
    assert Ranked.of([0.9, 0.5, 0.5, 0.5]).sharpness == 0.0  # the rest is flat: no spread to measure by
    assert Ranked.of([7.0, 1.0]).sharpness == 0.0  # too short to have a shape
    assert Ranked.of([2.0 * (100 - i) for i in range(100)]).scores == tuple(2.0 * (100 - i) for i in range(DEPTH))
    # scale-free: a cosine list and a BM25 list of the same shape are equally sharp
    assert Ranked.of([50.0, 30.0, 10.0]).sharpness == pytest.approx(Ranked.of([0.5, 0.3, 0.1]).sharpness)


def test_the_sharper_ranking_counts_for_more_within_the_cap() -> None:
    flat = Ranked.of([0.52, 0.51, 0.50, 0.49, 0.48])  # rest: mean 0.495, spread about 0.0112: about 2.24
    sharp = Ranked.of([12.0, 4.0, 3.0, 2.0, 1.0])  # rest: mean 2.5, spread about 1.118: about 8.5
    agreeing = 3  # top pages the two rankings share: more than AGREE, no damping
    up = choose_weight(flat, sharp, agreeing, 3.0, slope=0.5, cap=1.0, agree=1, damp=3.0)
    down = choose_weight(sharp, flat, agreeing, 3.0, slope=0.5, cap=1.0, agree=1, damp=3.0)
    assert up == pytest.approx(3.0 * math.exp(0.5))  # BM25 the sharper, by more than the cap
    assert down == pytest.approx(3.0 * math.exp(-0.5))
    diff = sharp.sharpness - flat.sharpness
    assert choose_weight(flat, sharp, agreeing, 1.0, slope=0.1, cap=100.0) == pytest.approx(math.exp(0.1 * diff))
    assert choose_weight(flat, sharp, agreeing, 2.0, slope=0.0, damp=1.0) == 2.0  # the lever's "off" parameters
    assert choose_weight(flat, Ranked.of([]), 0, 3.0) == 3.0  # no question term in the scope: the base weight


def test_rankings_that_disagree_lean_on_dense() -> None:
    a = Ranked.of([0.6, 0.5, 0.4])
    b = Ranked.of([6.0, 5.0, 4.0])  # as sharp as ``a``: only the agreement moves the weight
    assert choose_weight(a, b, 1, 1.0, agree=1, damp=3.0) == pytest.approx(1.0 / 3.0)
    assert choose_weight(a, b, 2, 1.0, agree=1, damp=3.0) == pytest.approx(1.0)
    assert choose_weight(a, b, 0, 3.0, agree=0, damp=2.0) == pytest.approx(1.5)


def _rankings(store: Store, embedder: HashEmbedder, doc_id: str, question: str) -> tuple[Ranked, Ranked, int]:
    dense = retrieve(store, embedder, question, doc_ids=[doc_id], limit=DEPTH, mode="dense", distinct=False).hits
    bm25 = retrieve(store, embedder, question, doc_ids=[doc_id], limit=DEPTH, mode="bm25", distinct=False).hits
    shared = agreement_signals(dense, bm25, SIGNAL_K).shared_pages
    return Ranked.of([h.score for h in dense]), Ranked.of([h.score for h in bm25]), shared


def test_the_weight_follows_the_questions_own_rankings(contract: tuple[Store, str]) -> None:
    store, doc_id = contract
    embedder = HashEmbedder(64)  # a hashed "embedding" ranks by chance: flat beside BM25 on the contract's words
    question = "What may ISA do during the Non-Competition Period?"
    dense, bm25, shared = _rankings(store, embedder, doc_id, question)
    assert bm25.sharpness > dense.sharpness
    on = retrieve(store, embedder, question, doc_ids=[doc_id], limit=5, levers=ON)
    off = retrieve(store, embedder, question, doc_ids=[doc_id], limit=5, levers=OFF)
    assert off.bm25_weight == CONTRACT_BM25_WEIGHT  # the contract's genre weight alone
    assert on.bm25_weight == pytest.approx(choose_weight(dense, bm25, shared, CONTRACT_BM25_WEIGHT))
    assert on.bm25_weight != off.bm25_weight
    assert len(on.hits) == 5 and on.lanes == off.lanes


def test_the_lever_off_or_a_fixed_weight_ranks_as_before(contract: tuple[Store, str]) -> None:
    store, doc_id = contract
    embedder = HashEmbedder(64)
    question = "Which jurisdiction's law governs this agreement?"
    before = retrieve(store, embedder, question, doc_ids=[doc_id], limit=5, levers=Levers(fusion_weight=False))
    fixed = retrieve(store, embedder, question, doc_ids=[doc_id], limit=5, levers=ON, weight=CONTRACT_BM25_WEIGHT)
    assert fixed.hits == before.hits and fixed.bm25_weight == before.bm25_weight == CONTRACT_BM25_WEIGHT
    # no word of the question occurs in the contract: BM25 has no ranking, and the weight stays the genre's
    absent = retrieve(store, embedder, "zyxwv qwertz?", doc_ids=[doc_id], limit=5, levers=ON)
    assert absent.bm25_weight == CONTRACT_BM25_WEIGHT
