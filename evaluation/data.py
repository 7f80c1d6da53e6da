"""The evaluation sets' questions in one shape: gold evidence pages per document, or document-level evidence.

``../shared/data/README.md`` describes the formats. Page numbers are 0-based PDF page indices everywhere.

- ``cuad``: one contract per question; gold pages from the lawyers' clause quotes; ``group`` is the CUAD category,
  and the trivial categories (answers on the first page of nearly every contract) are flagged.
- ``financebench``: one filing per question; gold pages from the analysts' evidence; ``group`` is the question type.
- ``sec10q``: one or four filings per question; evidence is document-level only (``pages`` is None), plus silver
  pages where the answer's numbers occur (not gold: reported apart, labelled silver).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SETS = {"cuad": "cuad-dev", "financebench": "financebench-dev", "sec10q": "sec10q"}
ALL_SETS = tuple(SETS)
ALL_PARTS = ("retrieval", "routing")  # what an evaluation measures: recall@k, and the routing replay's dollars
# CUAD categories whose answers sit on the first page of nearly every contract: recall over them says little.
TRIVIAL_CUAD = frozenset({"Document Name", "Parties", "Agreement Date", "Effective Date"})

# The checkout: resolve() follows the folio/evaluation link to this file in the checkout's evaluation/ folder.
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class EvalQuestion:
    """One question: its text, the documents in its scope, and where its evidence is."""

    id: str
    set: str
    text: str
    docs: tuple[str, ...]  # PDF file names (in the set's pdfs/ folder), the question's own scope
    gold: dict[str, frozenset[int] | None]  # file name -> gold pages (0-based); None: document-level evidence
    group: str  # CUAD category, FinanceBench / sec10q question type
    trivial: bool = False
    silver: dict[str, frozenset[int]] = field(default_factory=dict)  # sec10q: pages holding the answer's numbers
    company: str | None = None  # sec10q: the ticker whose four filings are the session scope
    # cuad: the question as asked across the whole library, naming the agreement and its parties
    library_text: str | None = None

    @property
    def page_level(self) -> bool:
        return all(p is not None for p in self.gold.values())


def data_root(given: Path | None = None) -> Path:
    """``--data`` or ``$FOLIO_EVAL_DATA`` or ``../shared/data`` beside the checkout."""
    if given is not None:
        return given
    env = os.environ.get("FOLIO_EVAL_DATA")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "data"


def set_dir(root: Path, set_name: str) -> Path:
    return root / SETS[set_name]


def pdf_dir(root: Path, set_name: str) -> Path:
    return set_dir(root, set_name) / "pdfs"


def _records(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_questions(root: Path, set_name: str) -> list[EvalQuestion]:
    """Every question of the set that has evidence, in file order."""
    path = set_dir(root, set_name) / "questions.jsonl"
    out: list[EvalQuestion] = []
    for rec in _records(path):
        if set_name == "cuad":
            pages = frozenset(int(p) for e in rec["evidence"] for p in e["pages"])  # type: ignore[attr-defined]
            if not pages:
                continue
            category = str(rec["category"])
            doc = str(rec["doc"])
            out.append(EvalQuestion(id=str(rec["id"]), set=set_name, text=str(rec["question"]), docs=(doc,),
                                    gold={doc: pages}, group=category, trivial=category in TRIVIAL_CUAD,
                                    library_text=str(rec.get("question_in_corpus") or rec["question"])))
        elif set_name == "financebench":
            doc = f"{rec['doc']}.pdf"
            own = [e for e in rec["evidence"] if e.get("doc", rec["doc"]) == rec["doc"]]  # type: ignore[attr-defined]
            pages = frozenset(int(e["page"]) for e in own)
            if not pages:
                continue
            out.append(EvalQuestion(id=str(rec["id"]), set=set_name, text=str(rec["question"]), docs=(doc,),
                                    gold={doc: pages}, group=str(rec["question_type"])))
        elif set_name == "sec10q":
            docs = tuple(f"{d}.pdf" for d in rec["docs"])  # type: ignore[attr-defined]
            silver: dict[str, set[int]] = {}
            for s in rec.get("silver_number_pages") or []:  # type: ignore[attr-defined]
                silver.setdefault(f"{s['doc']}.pdf", set()).add(int(s["page"]))
            tickers = {d.rsplit(" ", 1)[-1].removesuffix(".pdf") for d in docs}
            out.append(EvalQuestion(
                id=str(rec["id"]), set=set_name, text=str(rec["question"]), docs=docs,
                gold=dict.fromkeys(docs), group=str(rec["question_type"]),
                silver={d: frozenset(p) for d, p in silver.items()},
                company=tickers.pop() if len(tickers) == 1 else None))
        else:
            raise ValueError(f"unknown set {set_name!r}; known: {', '.join(SETS)}")
    return out


def set_files(root: Path, set_name: str, questions: Sequence[EvalQuestion] | None = None) -> list[Path]:
    """The set's PDFs that some question asks about (sec10q: every filing), by name."""
    folder = pdf_dir(root, set_name)
    if set_name == "sec10q" and questions is None:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".pdf")
    wanted = {d for q in (questions if questions is not None else load_questions(root, set_name)) for d in q.docs}
    missing = sorted(w for w in wanted if not (folder / w).is_file())
    if missing:
        raise FileNotFoundError(f"questions name PDFs missing from {folder}: {missing[:3]}")
    return sorted(folder / w for w in wanted)
