"""The named-documents lane across a whole library: every question of a set asked over all of the set's documents.

``folio eval`` measures the lane's recall@5 gain per set (``--configs levers``); this adds what recall alone does
not show, over the evaluation's built indexes (``<cache>/index/<set>-...``, a ``folio eval`` run builds them):

- recall@5 with the lane off, the lane alone (no series spread) and the default, on every document of each set
  (financebench's whole 40 filings, which a ``--max-pages`` evaluation leaves out);
- for the questions about one filing (sec10q), how many of the top k chunks come from that filing, whether the
  first one does, and how many come from the right company's filings: the spread gives each filing of a named
  series a place among the results, and this shows the places are not taken from the filing asked about.

```sh
python bench/named_lane_bench.py --cache /work/evalcache --tag named-lane
```
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETS = ("cuad", "financebench", "sec10q")


def run(cache: Path, sets: tuple[str, ...]) -> dict[str, Any]:
    from folio.evaluation.data import data_root, load_questions
    from folio.evaluation.embed_cache import CachedEmbedder, EmbeddingCache
    from folio.evaluation.evaluate import EMBED_MODEL
    from folio.evaluation.indexes import DEFAULT_CONFIG
    from folio.ingest.embed import load_embedder
    from folio.ingest.store import Store
    from folio.retrieval.search import DEFAULT_LEVERS, retrieve

    variants = {"off": replace(DEFAULT_LEVERS, named_lane=False), "lane alone": replace(DEFAULT_LEVERS, spread=False),
                "default": DEFAULT_LEVERS}
    model = EMBED_MODEL.lower()
    embedder = CachedEmbedder(EMBED_MODEL, EmbeddingCache(cache / "embeddings.sqlite"),
                              partial(load_embedder, EMBED_MODEL, backend="onnx", cache_dir=cache / "models"),
                              backend="onnx-int8")
    root = data_root()
    out: dict[str, Any] = {}
    for set_name in sets:
        index = cache / "index" / f"{set_name}-onnx-{model}-{DEFAULT_CONFIG.key}"
        with Store.open(DEFAULT_CONFIG.settings(index, EMBED_MODEL)) as store:
            records = store.list_documents()
            by_name = {Path(r.file_name).name: r.id for r in records}
            questions = [q for q in load_questions(root, set_name) if all(d in by_name for d in q.docs)]
            scope = [r.id for r in records]
            rows: dict[str, Any] = {}
            for name, levers in variants.items():
                recall = own = first = company = 0.0
                single = fired = 0
                for q in questions:
                    text = q.library_text or q.text
                    found = retrieve(store, embedder, text, doc_ids=scope, limit=5, records=records, levers=levers)
                    fired += bool(found.named)
                    wanted = {by_name[d] for d in q.docs}
                    if q.page_level:
                        gold = q.gold[q.docs[0]] or frozenset()
                        recall += any(h.doc_id in wanted and gold & set(range(h.first_page, h.last_page + 1))
                                      for h in found.hits)
                    else:
                        recall += len(wanted & {h.doc_id for h in found.hits}) / len(wanted)
                    if set_name == "sec10q":
                        ticker = q.docs[0].rsplit(" ", 1)[-1]
                        company += sum(Path(_name(records, h.doc_id)).name.endswith(ticker)
                                       for h in found.hits) / len(found.hits)
                        if len(q.docs) == 1:
                            single += 1
                            own += sum(h.doc_id in wanted for h in found.hits) / len(found.hits)
                            first += found.hits[0].doc_id in wanted
                row = {"recall5": round(recall / len(questions), 3), "named": fired}
                if set_name == "sec10q":
                    row |= {"single_share_from_filing": round(own / single, 3),
                            "single_first_from_filing": round(first / single, 3),
                            "share_from_company": round(company / len(questions), 3)}
                rows[name] = row
                print(set_name, name, row, flush=True)
            out[set_name] = {"questions": len(questions), "documents": len(records), "variants": rows}
    return out


def _name(records: list[Any], doc_id: str) -> str:
    return next(r.file_name for r in records if r.id == doc_id)


def render(result: dict[str, Any], command: str) -> str:
    lines = [f"# The named-documents lane across whole libraries ({date.today().isoformat()})", "",
             f"Command: `{command}`", "",
             "Every question asked over every document of its set (cuad as it names its contract and parties, "
             "`question_in_corpus`), scored on its own evidence: page level for cuad and financebench, filing level "
             "for sec10q. `named`: questions whose scope documents the lane found named.", "",
             "| set | documents | questions | off | lane alone | default (lane and series spread) | named |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for set_name, data in result.items():
        v = data["variants"]
        lines.append(f"| {set_name} | {data['documents']} | {data['questions']} | {v['off']['recall5']:.3f} | "
                     f"{v['lane alone']['recall5']:.3f} | {v['default']['recall5']:.3f} | {v['default']['named']} |")
    sec = result.get("sec10q")
    if sec:
        lines += ["", "sec10q, what the top 5 hold:", "",
                  "| variant | one-filing questions: share of the top 5 from that filing | ... first chunk from it | "
                  "all questions: share of the top 5 from the right company |", "|---|---:|---:|---:|"]
        for name, row in sec["variants"].items():
            lines.append(f"| {name} | {row['single_share_from_filing']:.3f} | {row['single_first_from_filing']:.3f} "
                         f"| {row['share_from_company']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=REPO / "bench" / ".cache" / "eval")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    result = run(args.cache, tuple(args.sets.split(",")))
    stem = f"named-lane-{date.today().isoformat()}{'-' + args.tag if args.tag else ''}"
    out = REPO / "bench" / "results"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    command = "python bench/named_lane_bench.py " + " ".join(sys.argv[1:])
    (out / f"{stem}.md").write_text(render(result, command))
    print(f"wrote {out / stem}.md")


if __name__ == "__main__":
    main()
