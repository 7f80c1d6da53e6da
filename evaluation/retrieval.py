"""Recall@k of Folio's own retrieval (``Store.search``: dense, BM25, hybrid) over one built index.

Each question is searched within its scope: its own document for cuad and financebench, every filing of the set
for sec10q (document level, so the ranking must find the right filings). One search per k, exactly as the service
asks for its top-k; the query is embedded once (through the cache). ``distinct=False`` ranks plain chunks instead of
the service's page-diverse top k, for the report's side-by-side row; ``statements=False`` leaves out hybrid's
financial statement lane (``ingest.statements``), ``genre_weights=False`` its genre-weighted fusion
(``ingest.search.bm25_weight``), and ``idf_over_index=True`` weighs BM25's terms by the whole index's chunks rather
than the question's scope (as Qdrant's collection-wide IDF did before), for others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from folio.evaluation.data import EvalQuestion
from folio.evaluation.embed_cache import CachedEmbedder, EmbeddingCache
from folio.evaluation.indexes import BuiltIndex
from folio.evaluation.metrics import KS, Span, score_question
from folio.index import SearchMode
from folio.index.sparse import query_vector
from folio.ingest.embed import load_embedder
from folio.ingest.store import Store
from folio.retrieval.search import DEFAULT_LEVERS, Levers, bm25_weight, retrieve
from folio.retrieval.statement_lane import question_statements

MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid")
DEEP_K = 50  # the default configuration is also ranked this deep, to show what a larger k would recover


def question_scope(q: EvalQuestion, ids: dict[str, str], library: bool = False) -> list[str]:
    """The documents a question is asked over: its own (cuad, financebench), or every document of the index (sec10q,
    and any set with ``library``)."""
    if q.set == "sec10q" or library:
        return sorted(ids.values())
    return [ids[d] for d in q.docs if d in ids]


def run_retrieval(built: BuiltIndex, questions: Sequence[EvalQuestion], *, cache: EmbeddingCache, embed_model: str,
                  modes: Sequence[SearchMode] = MODES, ks: Sequence[int] = KS, deep: bool = False,
                  keep_top: bool = False, log: Callable[[str], None] | None = None,
                  embedder: CachedEmbedder | None = None, distinct: bool = True,
                  statements: bool = True, genre_weights: bool = True,
                  idf_over_index: bool = False, levers: Levers = DEFAULT_LEVERS,
                  signals: bool = False, library: bool = False) -> dict[str, Any]:
    """Per mode: one row per question (hits at each k, document recall, reciprocal rank), plus timings.

    Hybrid goes through the service's own path (``folio.retrieval.search.retrieve``, with ``levers``), except with
    ``idf_over_index``; ``signals``: each hybrid row also records how many of their top-5 pages dense and BM25
    share (``shared5``, ``folio.retrieval.signals``)."""
    settings = built.config.settings(built.data_dir, embed_model)
    embedder = embedder or CachedEmbedder(embed_model, cache, lambda: load_embedder(embed_model,
                                                                                    dtype=settings.embed_dtype))
    by_id = {v: k for k, v in built.ids.items()}
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    started = time.perf_counter()
    skipped: list[str] = []
    with Store.open(settings) as store:
        records = store.list_documents()
        genres = {r.id: r.genre for r in records}
        idf_documents = sorted(genres) if idf_over_index else None
        for q in questions:
            scope = question_scope(q, built.ids, library)
            if not scope or any(d not in built.ids for d in q.docs):
                skipped.append(q.id)
                continue
            text = (q.library_text or q.text) if library else q.text
            dense = embedder.embed_query(text)
            sparse = query_vector(text)
            kinds = question_statements(text).kinds if statements else ()
            weight = bm25_weight(genres.get(d) for d in scope) if genre_weights else 1.0
            for mode in modes:
                limits = sorted({*ks, DEEP_K} if deep else set(ks))
                ranked: dict[int, list[Span]] = {}
                shared: int | None = None
                for k in limits:
                    if mode == "hybrid" and not idf_over_index:
                        found = retrieve(store, embedder, text, doc_ids=scope, limit=k, distinct=distinct,
                                         statements=statements, records=records, genre_weights=genre_weights,
                                         levers=levers, signals=signals and k == max(ks), dense=dense)
                        hits = found.hits
                        if found.signals is not None:
                            shared = found.signals.shared_pages
                    else:
                        hits = store.search(dense=dense, sparse=sparse, doc_ids=scope, limit=k, mode=mode,
                                            distinct=distinct, statements=kinds if mode == "hybrid" else (),
                                            bm25_weight=weight, idf_documents=idf_documents)
                    ranked[k] = [Span(by_id[h.doc_id], h.first_page, h.last_page) for h in hits]
                row: dict[str, Any] = {"id": q.id, "group": q.group, "trivial": q.trivial,
                                       **score_question(q.gold, {k: ranked[k] for k in ks}, ks)}
                if shared is not None:
                    row["shared5"] = shared
                if deep:
                    from folio.evaluation.metrics import first_hit_rank

                    row["deep_rank"] = first_hit_rank(q.gold, ranked[DEEP_K])
                if keep_top:
                    row["top"] = [[s.doc, s.first, s.last] for s in ranked[max(ks)]]
                rows[mode].append(row)
    seconds = time.perf_counter() - started
    if log:
        variant = (('' if distinct else ' (no page diversity)') + ('' if statements else ' (no statement lane)')
                   + ('' if genre_weights else ' (equal fusion weights)')
                   + (' (BM25 IDF over the whole index)' if idf_over_index else '')
                   + (' (each question over every document)' if library else ''))
        log(f"  {built.set_name} {built.config.key}{variant}: "
            f"{len(questions) - len(skipped)} questions x {len(modes)} modes in {seconds:.1f}s")
    return {"rows": rows, "skipped": skipped, "seconds": round(seconds, 2)}
