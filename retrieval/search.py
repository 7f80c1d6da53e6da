"""Retrieval over the index: the query embedded once, then dense, BM25 or hybrid search of the chunk index.

Results are page-diverse by default: each of the top ``limit`` chunks spans a page the ones before it do not
(``folio.index.memory.distinct_pages``); ``distinct=False`` gives the plain top ``limit`` chunks. A hybrid search
for a question about a financial statement's lines (``folio.retrieval.statement_lane``) also ranks the chunks of
that statement's pages, as a third fused list; ``statements=False`` leaves that lane out.

Hybrid search weighs its rankings by the scope's genre (``folio.ingest.genre``): when every document is a contract,
BM25 counts ``CONTRACT_BM25_WEIGHT`` times as much as dense (Qdrant's weighted reciprocal-rank fusion), since a
clause is found by its words; otherwise both count alike. Measured side by side on cuad-dev's non-trivial
categories (bench/results/eval-2026-11-28-retrieval-levers.md): recall@5 0.886 -> 0.902, and never lower on
either half of the contracts or on the other chunkings; on filings a BM25 weight above 1.5 loses questions.
``genre_weights=False`` fuses with equal weights everywhere. The genre's weight is then moved per question by how
sharp and how alike dense's and BM25's own rankings are (``folio.retrieval.fusion_weight``; ``Levers.fusion_weight``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from folio.index.memory import distinct_pages
from folio.index.protocol import Hit, SearchMode
from folio.index.sparse import SparseVector, query_vector
from folio.records.model import DocumentRecord
from folio.retrieval.front_lane import FRONT_WEIGHT, asks_identity, front_hits
from folio.retrieval.fusion_weight import DEPTH, Ranked, choose_weight
from folio.retrieval.named_lane import NAMED_WEIGHT, SPREAD_MAX, Named, named_documents
from folio.retrieval.signals import SIGNAL_K, RetrievalSignals, agreement_signals
from folio.retrieval.statement_lane import question_statements

CONTRACT_BM25_WEIGHT = 3.0


class QueryEmbedder(Protocol):
    """What search needs of an embedder (``folio.ingest.embed.Embedder`` is one)."""

    def embed_query(self, text: str) -> np.ndarray: ...


class Searchable(Protocol):
    """What search needs of the store (``folio.ingest.store.Store`` is one): the ready documents, and a search of
    their chunks (``folio.index.ChunkIndex.search``)."""

    def list_documents(self, *, status: str | None = "ready", tenant: str | None = None) -> list[DocumentRecord]:
        ...

    def search(self, *, dense: np.ndarray | None, sparse: SparseVector | None, doc_ids: Sequence[str],
               limit: int = 10, mode: SearchMode = "hybrid", candidates: int | None = None, distinct: bool = True,
               statements: Sequence[str] = (), bm25_weight: float = 1.0) -> list[Hit]: ...


def bm25_weight(genres: Iterable[str | None]) -> float:
    """BM25's weight in the hybrid fusion of a scope whose documents have these genres."""
    genres = list(genres)
    return CONTRACT_BM25_WEIGHT if genres and all(g == "contract" for g in genres) else 1.0


@dataclass(frozen=True)
class Levers:
    """The retrieval levers beyond plain hybrid search, each on by default once measured to help
    (bench/results/eval-2026-12-02-*.md); the evaluation turns them off one at a time."""

    front_lane: bool = True  # questions about a document's identity also rank its front pages (front_lane.py)
    fusion_weight: bool = True  # BM25's fusion weight moves per question with the rankings' sharpness
    # (fusion_weight.py)
    named_lane: bool = True  # a question that names some of the scope's documents also ranks theirs (named_lane.py)
    spread: bool = True  # ... and each of a few named documents has its best chunk among the results


DEFAULT_LEVERS = Levers()


@dataclass(frozen=True)
class Retrieval:
    """A search's hits, which lanes joined the fusion, BM25's weight in it (dense's being 1), and (when asked
    for) how far dense and BM25 agreed."""

    hits: list[Hit]
    lanes: tuple[str, ...] = ()
    signals: RetrievalSignals | None = None
    bm25_weight: float = 1.0
    named: tuple[str, ...] = ()  # the documents the question names (``folio.retrieval.named_lane``)
    spread: bool = False  # whether each of them has a chunk among the hits


def search(store: Searchable, embedder: QueryEmbedder, query: str, *, doc_ids: Sequence[str] | None = None,
           limit: int = 10, mode: SearchMode = "hybrid", distinct: bool = True, statements: bool = True,
           records: Sequence[DocumentRecord] | None = None, genre_weights: bool = True,
           levers: Levers = DEFAULT_LEVERS) -> list[Hit]:
    """Top ``limit`` chunks for ``query`` among ``doc_ids`` (default: every ready document), best first.

    ``records``: the ready documents' records, when the caller has them (else they are listed here), for the
    scope's genres."""
    return retrieve(store, embedder, query, doc_ids=doc_ids, limit=limit, mode=mode, distinct=distinct,
                    statements=statements, records=records, genre_weights=genre_weights, levers=levers).hits


def retrieve(store: Searchable, embedder: QueryEmbedder, query: str, *, doc_ids: Sequence[str] | None = None,
             limit: int = 10, mode: SearchMode = "hybrid", distinct: bool = True, statements: bool = True,
             records: Sequence[DocumentRecord] | None = None, genre_weights: bool = True,
             levers: Levers = DEFAULT_LEVERS, signals: bool = False, dense: np.ndarray | None = None,
             weight: float | None = None) -> Retrieval:
    """``search``, reporting the lanes used and, with ``signals``, the agreement of dense and BM25 on their own
    top ``SIGNAL_K`` pages (two more searches; ``folio.retrieval.signals``). ``dense``: the query's embedding, when
    the caller has it. ``weight``: BM25's weight in the fusion, when the caller fixes it (the evaluation's
    replays); otherwise the scope's genre sets it."""
    if records is None:
        records = store.list_documents()
    if doc_ids is None:
        doc_ids = [r.id for r in records]
    if dense is None and mode != "bm25":
        dense = embedder.embed_query(query)
    elif mode == "bm25":
        dense = None
    sparse = query_vector(query) if mode != "dense" else None
    kinds = question_statements(query).kinds if statements and mode == "hybrid" else ()
    scope = set(doc_ids)
    in_scope = [r for r in records if r.id in scope]
    fixed = weight is not None
    if weight is None:
        weight = bm25_weight(r.genre for r in in_scope) if genre_weights else 1.0
    if levers.fusion_weight and not fixed and mode == "hybrid" and dense is not None and sparse is not None:
        weight = _question_weight(store, dense, sparse, doc_ids, weight)
    lanes: list[str] = ["statements"] if kinds else []
    named = named_documents(query, in_scope) if levers.named_lane and mode == "hybrid" else Named()
    front: list[Hit] = []
    if levers.front_lane and mode == "hybrid" and dense is not None and asks_identity(query):
        front = front_hits(store, dense, named.records or in_scope)
    extra: list[tuple[list[Hit], float]] = []
    spread: list[str] = []
    pool = max(limit * 4, 20)  # the index's own depth for a top-``limit`` search
    if named.records:
        lanes.append("named")
        extra.append((store.search(dense=dense, sparse=sparse, doc_ids=named.ids, limit=3 * pool,
                                   mode=mode, candidates=pool, distinct=False, statements=kinds,
                                   bm25_weight=weight), NAMED_WEIGHT))
    if front:
        lanes.append("front")
        extra.append((front, FRONT_WEIGHT))
    if extra:
        base = store.search(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=3 * pool, mode=mode,
                            candidates=pool, distinct=False, statements=kinds, bm25_weight=weight)
        spread = named.ids if (levers.spread and named.series
                               and 1 < len(named.records) <= min(SPREAD_MAX, limit - 1)) else []
        hits = _fuse([base, *(ranked for ranked, _ in extra)], [1.0, *(w for _, w in extra)], limit, distinct,
                     spread)
    else:
        hits = store.search(dense=dense, sparse=sparse, doc_ids=doc_ids, limit=limit, mode=mode, distinct=distinct,
                            statements=kinds, bm25_weight=weight)
    found = None
    if signals and mode == "hybrid" and dense is not None:
        found = agreement_signals(
            store.search(dense=dense, sparse=None, doc_ids=doc_ids, limit=SIGNAL_K, mode="dense"),
            store.search(dense=None, sparse=sparse, doc_ids=doc_ids, limit=SIGNAL_K, mode="bm25"), SIGNAL_K)
    return Retrieval(hits=hits, lanes=tuple(lanes), signals=found, bm25_weight=weight, named=tuple(named.ids),
                     spread=bool(spread))


def _question_weight(store: Searchable, dense: np.ndarray, sparse: SparseVector, doc_ids: Sequence[str],
                     base: float) -> float:
    """BM25's weight for this question (``folio.retrieval.fusion_weight``), from dense's and BM25's own rankings."""
    by_dense = store.search(dense=dense, sparse=None, doc_ids=doc_ids, limit=DEPTH, mode="dense", distinct=False)
    by_bm25 = store.search(dense=None, sparse=sparse, doc_ids=doc_ids, limit=DEPTH, mode="bm25", distinct=False)
    shared = agreement_signals(by_dense, by_bm25, SIGNAL_K).shared_pages
    return choose_weight(Ranked.of([h.score for h in by_dense]), Ranked.of([h.score for h in by_bm25]), shared, base)


def _fuse(lists: Sequence[Sequence[Hit]], weights: Sequence[float], limit: int, distinct: bool,
          spread: Sequence[str] = ()) -> list[Hit]:
    """Reciprocal-rank fusion of whole rankings, as the index fuses its lists (``folio.index.memory``: a weight w
    ranks an item as if it stood w times higher), then the page-diverse top ``limit`` when ``distinct``.
    ``spread``: documents whose best fused chunk is among the results whatever its rank (fewer than ``limit``)."""
    scores: dict[tuple[str, int], float] = {}
    chunks: dict[tuple[str, int], Hit] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for rank, h in enumerate(ranked):
            key = (h.doc_id, h.chunk_index)
            chunks.setdefault(key, h)
            scores[key] = scores.get(key, 0.0) + 1.0 / ((rank + 1.0) / weight + 1.0)
    order = sorted(scores, key=lambda key: scores[key], reverse=True)
    ranked_payloads: list[tuple[dict[str, Any], float]] = [
        ({"doc_id": k[0], "first_page": chunks[k].first_page, "last_page": chunks[k].last_page, "key": k},
         scores[k]) for k in order]
    first: list[tuple[dict[str, Any], float]] = []
    for doc_id in spread:  # each spread document's best chunk, in the order of the documents' best ranks
        best = next((item for item in ranked_payloads if item[0]["doc_id"] == doc_id), None)
        if best is not None:
            first.append(best)
    chosen = {id(item[0]) for item in first}
    covered = {(item[0]["doc_id"], p) for item in first
               for p in range(item[0]["first_page"], max(item[0]["first_page"], item[0]["last_page"]) + 1)}
    rest = [item for item in ranked_payloads if id(item[0]) not in chosen]
    if covered and distinct:  # a chunk on a page the spread already holds comes after every new page
        new = [item for item in rest if not _pages(item[0]) <= covered]
        rest = new + [item for item in rest if _pages(item[0]) <= covered]
    picked = first + (distinct_pages(rest, limit - len(first)) if distinct else rest[:limit - len(first)])
    picked.sort(key=lambda item: item[1], reverse=True)
    return [replace(chunks[payload["key"]], score=score) for payload, score in picked]


def _pages(payload: dict[str, Any]) -> set[tuple[str, int]]:
    first = int(payload["first_page"])
    return {(str(payload["doc_id"]), p) for p in range(first, max(first, int(payload["last_page"])) + 1)}
