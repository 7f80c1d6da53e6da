"""Replays hybrid search over the evaluation's built indexes with BM25's fusion weight varied per question.

Two steps, so that choosing a rule costs seconds rather than searches:

- ``collect``: for each question of a set, its dense and BM25 rankings on their own (the top 20 chunks with their
  scores, which the per-question weighting reads), and whether the service's hybrid search
  (``folio.retrieval.search.retrieve``, every lane as by default) finds the evidence in its top 5 at each weight
  of a grid. One JSON file per set.
- ``fit``: the weighting rules of ``folio.retrieval.fusion_weight`` with their parameters chosen by
  cross-validation across the sets (fit on two, test on the third), each fold reported, then the parameters fit
  on all three.

```sh
python bench/fusion_replay.py collect --set cuad --index /tmp/replay/cuad --out /tmp/replay/cuad.json
python bench/fusion_replay.py fit /tmp/replay/cuad.json /tmp/replay/financebench.json /tmp/replay/sec10q.json
```

``--index``: a copy of the set's index folder (``<cache>/index/<set>-...``): a local index is open in one process
at a time, so a replay next to a running ``folio eval`` reads its own copy.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GRID = (0.05, 0.2, 0.33, 0.5, 1.0, 2.0, 3.0, 5.0, 20.0)  # BM25's weight in the fusion, dense's being 1
DEPTH = 20  # each ranking read this deep (the index's own pool for a top-5 search)
K = 5


def collect(set_name: str, index: Path, cache: Path, out: Path) -> None:
    from folio.evaluation.data import data_root, load_questions, set_files
    from folio.evaluation.embed_cache import CachedEmbedder, EmbeddingCache
    from folio.evaluation.evaluate import EMBED_MODEL
    from folio.evaluation.indexes import DEFAULT_CONFIG, file_ids
    from folio.evaluation.metrics import Span, doc_recall_at, hit_at
    from folio.evaluation.retrieval import question_scope
    from folio.index.sparse import query_vector
    from folio.ingest.embed import load_embedder
    from folio.ingest.store import Store
    from folio.retrieval.search import bm25_weight, retrieve

    root = data_root()
    questions = load_questions(root, set_name)
    ids = file_ids(set_files(root, set_name, None if set_name == "sec10q" else questions))
    embedder = CachedEmbedder(EMBED_MODEL, EmbeddingCache(cache / "embeddings.sqlite"),
                              lambda: load_embedder(EMBED_MODEL))
    rows: list[dict[str, Any]] = []
    with Store.open(DEFAULT_CONFIG.settings(index, EMBED_MODEL)) as store:
        records = store.list_documents()
        ready = {r.id for r in records}
        ids = {name: i for name, i in ids.items() if i in ready}
        by_id = {v: k for k, v in ids.items()}
        genres = {r.id: r.genre for r in records}
        for q in questions:
            scope = question_scope(q, ids)
            if not scope or any(d not in ids for d in q.docs):
                continue

            def score(spans: Sequence[Any], q: Any = q) -> float:
                return doc_recall_at(q.gold, spans, K) if set_name == "sec10q" else float(hit_at(q.gold, spans, K))

            def spans(hits: Sequence[Any]) -> list[Span]:
                return [Span(by_id[h.doc_id], h.first_page, h.last_page) for h in hits]

            dense = embedder.embed_query(q.text)
            sparse = query_vector(q.text)
            d = store.search(dense=dense, sparse=None, doc_ids=scope, limit=DEPTH, mode="dense", distinct=False)
            b = store.search(dense=None, sparse=sparse, doc_ids=scope, limit=DEPTH, mode="bm25", distinct=False)
            weighted = store.bm25_query(sparse, scope)
            hits = {str(w): score(spans(retrieve(store, embedder, q.text, doc_ids=scope, limit=K, records=records,
                                                 dense=dense, weight=w).hits)) for w in GRID}
            rows.append({
                "id": q.id, "set": set_name, "group": q.group, "trivial": q.trivial, "text": q.text,
                "genre_weight": bm25_weight(genres.get(i) for i in scope), "hit": hits,
                "dense": [[h.doc_id, h.first_page, h.last_page, round(h.score, 5)] for h in d],
                "bm25": [[h.doc_id, h.first_page, h.last_page, round(h.score, 5)] for h in b],
                "terms": len(sparse.indices), "matched_terms": len(weighted.indices) if weighted else 0,
                "idf": [round(v, 4) for v in (weighted.values if weighted else [])],
                "dense_hits": score(spans(d[:K])), "bm25_hits": score(spans(b[:K])),
            })
    out.write_text(json.dumps(rows))
    print(f"{set_name}: {len(rows)} questions -> {out}")


# -- fitting ------------------------------------------------------------------------------------------------


def _value(row: dict[str, Any], weight: float) -> float:
    """The row's top-5 score at ``weight``, by the nearest weight of the grid (in log terms)."""
    import math

    best = min(GRID, key=lambda g: abs(math.log(g) - math.log(weight)))
    return float(row["hit"][str(best)])


def evaluate(rows: Sequence[dict[str, Any]], params: dict[str, float]) -> float:
    from folio.retrieval.fusion_weight import Ranked, choose_weight
    from folio.retrieval.signals import SIGNAL_K

    def pages(ranked: Sequence[Sequence[Any]]) -> set[tuple[str, int]]:
        return {(h[0], p) for h in ranked[:SIGNAL_K] for p in range(h[1], max(h[1], h[2]) + 1)}

    total = 0.0
    for r in rows:
        shared = min(SIGNAL_K, len(pages(r["dense"]) & pages(r["bm25"])))
        w = choose_weight(Ranked.of([h[3] for h in r["dense"]]), Ranked.of([h[3] for h in r["bm25"]]), shared,
                          r["genre_weight"], **params)
        total += _value(r, w)
    return total / len(rows) if rows else 0.0


def fit(paths: Sequence[Path]) -> None:
    from folio.retrieval.fusion_weight import PARAM_GRID

    sets = {p.stem: json.loads(p.read_text()) for p in paths}
    names = sorted(PARAM_GRID)
    candidates = [dict(zip(names, values, strict=True)) for values in itertools.product(*(PARAM_GRID[n]
                                                                                          for n in names))]
    off = {"slope": 0.0, "cap": 1.0, "agree": 0, "damp": 1.0}

    def per_set(params: dict[str, float]) -> dict[str, float]:
        return {s: evaluate(rows, params) for s, rows in sets.items()}

    for name, rows in sorted(sets.items()):
        fixed = {g: sum(float(r["hit"][str(g)]) for r in rows) / len(rows) for g in GRID}
        print(f"{name} ({len(rows)} questions), each fixed weight:",
              ", ".join(f"{g:g}: {v:.3f}" for g, v in fixed.items()))
    scored = [(c, per_set(c)) for c in candidates]
    base = per_set(off)
    print("per-question weighting off:", {s: round(v, 3) for s, v in base.items()})

    def objective(by_set: dict[str, float], train: Sequence[str]) -> float:
        # mean over the training sets; a rule losing more than a point on any of them is out
        if any(by_set[s] < base[s] - 0.01 for s in train):
            return -1.0
        return sum(by_set[s] for s in train) / len(train)

    def pick(train: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
        # the best on the training sets; among equals the gentlest rule (smallest slope, damping, cap)
        return max(scored, key=lambda item: (objective(item[1], train), -item[0]["slope"], -item[0]["damp"],
                                             -item[0]["cap"], -item[0]["agree"]))

    for test in sorted(sets) if len(sets) > 1 else []:
        train = [s for s in sets if s != test]
        best, by_set = pick(train)
        print(f"fold test={test}: params {best}; train {[round(by_set[s], 3) for s in train]} "
              f"(off {[round(base[s], 3) for s in train]}); test {by_set[test]:.3f} (off {base[test]:.3f})")
    best, by_set = pick(list(sets))
    print(f"all sets: params {best}: {({s: round(v, 3) for s, v in by_set.items()})}")
    oracle = {s: sum(max(float(v) for v in r["hit"].values()) for r in rows) / len(rows) for s, rows in sets.items()}
    print("oracle over the grid:", {s: round(v, 3) for s, v in oracle.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--set", required=True, choices=["cuad", "financebench", "sec10q"])
    c.add_argument("--index", type=Path, required=True)
    c.add_argument("--cache", type=Path, default=Path("/work/evalcache"))
    c.add_argument("--out", type=Path, required=True)
    f = sub.add_parser("fit")
    f.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args()
    if args.step == "collect":
        collect(args.set, args.index, args.cache, args.out)
    else:
        fit(args.paths)


if __name__ == "__main__":
    main()
