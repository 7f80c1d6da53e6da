"""Where retrieval loses its points: parsing (is the gold evidence on its page in Folio's stored text?), fusion
(does dense or BM25 alone find what hybrid misses?), and k (how deep is the first gold chunk?)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from folio.evaluation.data import EvalQuestion, set_dir
from folio.evaluation.indexes import BuiltIndex
from folio.ingest.store import Store

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# financebench: the share of an analyst extract's pieces that must be on the page. Measured: every extract of the
# dev set has 97-100% of its pieces on its stated page of Folio's stored text.
PIECES_ON_PAGE = 0.95


def normalise(text: str) -> str:
    """The data README's comparison: lowercase, letters and digits only."""
    return _NON_ALNUM.sub("", text.lower())


def evidence_found(set_name: str, root: Path, built: BuiltIndex, questions: Sequence[EvalQuestion],
                   embed_model: str) -> dict[str, Any]:
    """Share of questions whose gold evidence text is on its stated page of Folio's stored (normalised) text.

    cuad: each part of the clause quote, letters and digits only, inside the text of its pages; financebench: at
    least ``PIECES_ON_PAGE`` of the extract's whitespace-separated pieces (letters and digits, 3+ characters) inside
    the stated page's letters and digits. The analysts' extracts are whole page regions, some with the spaces inside
    table rows dropped ("Cashandcashequivalents"), so words would not match where the pieces do.
    """
    if set_name not in ("cuad", "financebench"):
        return {}
    wanted = {q.id for q in questions}
    evidence: dict[str, list[tuple[str, str, list[int]]]] = {}
    for line in (set_dir(root, set_name) / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec["id"] not in wanted:
            continue
        if set_name == "cuad":
            evidence[rec["id"]] = [(rec["doc"], e["text"], list(e["pages"])) for e in rec["evidence"] if e["pages"]]
        else:
            evidence[rec["id"]] = [(f"{rec['doc']}.pdf", e["text"], [int(e["page"])]) for e in rec["evidence"]]
    settings = built.config.settings(built.data_dir, embed_model)
    found = 0
    total = 0
    missing: list[str] = []
    with Store.open(settings) as store:
        pages: dict[str, list[str]] = {}
        for q in questions:
            items = evidence.get(q.id, [])
            if not items or any(doc not in built.ids for doc, _, _ in items):
                continue
            ok = True
            for doc, text, page_list in items:
                if doc not in pages:
                    record = store.require_document(built.ids[doc], with_pages=True)
                    pages[doc] = record.pages or []
                stored = " ".join(pages[doc][p] for p in page_list if p < len(pages[doc]))
                if set_name == "cuad":  # CUAD joins a clause's separate parts with "<omitted>"
                    flat = normalise(stored)
                    ok = ok and all(normalise(part) in flat for part in text.split("<omitted>") if normalise(part))
                else:
                    flat = normalise(stored)
                    pieces = [p for p in (normalise(t) for t in text.split()) if len(p) >= 3]
                    ok = ok and bool(pieces) and sum(p in flat for p in pieces) / len(pieces) >= PIECES_ON_PAGE
            total += 1
            found += ok
            if not ok:
                missing.append(q.id)
    return {"questions": total, "evidence_on_stored_page": found,
            "share": round(found / total, 4) if total else None, "missing": missing}


def fusion_and_depth(rows: dict[str, list[dict[str, Any]]], keep: set[str] | None = None) -> dict[str, Any]:
    """Hybrid's misses at 5 that dense or BM25 alone hit; how deep the first gold chunk is for each mode."""
    def chosen(mode: str) -> list[dict[str, Any]]:
        return [r for r in rows.get(mode, []) if keep is None or r["id"] in keep]

    out: dict[str, Any] = {}
    if all(m in rows for m in ("dense", "bm25", "hybrid")):
        dense = {r["id"]: r["hit"][5] for r in chosen("dense")}
        bm25 = {r["id"]: r["hit"][5] for r in chosen("bm25")}
        hybrid = chosen("hybrid")
        n = len(hybrid)
        either = sum(dense[r["id"]] or bm25[r["id"]] for r in hybrid)
        out["n"] = n
        out["recall5_dense_or_bm25"] = round(either / n, 4) if n else None
        out["hybrid_misses_found_by_one"] = sum((dense[r["id"]] or bm25[r["id"]]) and not r["hit"][5] for r in hybrid)
        out["hybrid_hits_found_by_neither"] = sum(not (dense[r["id"]] or bm25[r["id"]]) and r["hit"][5]
                                                  for r in hybrid)
    for mode in rows:
        ranks = [r.get("deep_rank") for r in chosen(mode)]
        if ranks and "deep_rank" in chosen(mode)[0]:
            n = len(ranks)
            out[f"{mode}_recall_at"] = {k: round(sum(1 for x in ranks if x is not None and x <= k) / n, 4)
                                        for k in (5, 10, 20, 50)}
    return out
