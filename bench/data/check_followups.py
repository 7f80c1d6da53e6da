"""Check ``bench/data/followups.jsonl``: every record well formed, and every evidence quote on one of its stated pages.

A record is one conversation of two turns over one document: a standalone ``first`` question, then a ``followup``
that leans on it (or, with ``standalone_already``, one that names its own subject), the hand-written
``standalone`` rewrite of the follow-up, the 0-based ``pages`` where the follow-up's answer is, and a short
``evidence`` quote from one of those pages.

Pages are compared as ``../shared/data/README.md`` says: the text pypdf extracts, lowercased, with everything but
letters and digits dropped. Exit status 1 when any record fails.

    .venv/bin/python bench/data/check_followups.py               # the default file and data root
    .venv/bin/python bench/data/check_followups.py --data /path/to/shared/data other.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_FILE = HERE / "followups.jsonl"
KNOWN_SETS = ("cuad-dev", "financebench-dev")
FIELDS = ("id", "set", "doc", "first", "followup", "standalone", "pages", "evidence")
MAX_EVIDENCE_CHARS = 400  # a short quote, not a page


@dataclass(frozen=True)
class Pair:
    """One follow-up pair of the set."""

    id: str
    set: str  # folder under the data root: cuad-dev or financebench-dev
    doc: str  # PDF file name in the set's pdfs/ folder
    first: str
    followup: str
    standalone: str
    pages: tuple[int, ...]  # 0-based gold pages of the follow-up's answer
    evidence: str
    standalone_already: bool = False  # the follow-up names its own subject: no rewrite is needed


def default_data_root() -> Path:
    """``$FOLIO_BENCH_DATA`` or ``../shared/data`` beside the checkout (as bench/benchlib.py)."""
    return Path(os.environ.get("FOLIO_BENCH_DATA", REPO.parent / "shared" / "data"))


def normalize(text: str) -> str:
    """Lowercased, letters and digits only: how quotes are matched against extracted page text."""
    return "".join(c for c in text.lower() if c.isalnum())


def pdf_path(root: Path, set_name: str, doc: str) -> Path:
    """The PDF of ``doc`` (a file name; a FinanceBench stem without ``.pdf`` is accepted too)."""
    folder = root / set_name / "pdfs"
    path = folder / doc
    if not path.exists() and not doc.lower().endswith(".pdf"):
        path = folder / f"{doc}.pdf"
    return path


@cache
def page_texts(path: Path) -> tuple[str, ...]:
    """The normalized text pypdf extracts from each page of ``path``."""
    import pypdf

    pypdf.overwrite_configuration(array_maximum_element_count=5_000_000,
                                  dictionary_maximum_element_count=1_000_000)
    reader = pypdf.PdfReader(str(path))
    if reader.is_encrypted:
        reader.decrypt("")
    return tuple(normalize(page.extract_text() or "") for page in reader.pages)


def parse_pair(rec: dict[str, object]) -> Pair:
    """A ``Pair`` from one JSON object; ValueError naming what is wrong."""
    missing = [f for f in FIELDS if f not in rec]
    if missing:
        raise ValueError(f"missing fields: {', '.join(missing)}")
    texts = {f: rec[f] for f in ("id", "set", "doc", "first", "followup", "standalone", "evidence")}
    empty = [f for f, v in texts.items() if not isinstance(v, str) or not v.strip()]
    if empty:
        raise ValueError(f"empty or not text: {', '.join(empty)}")
    pages = rec["pages"]
    if not isinstance(pages, list) or not pages or not all(isinstance(p, int) and p >= 0 for p in pages):
        raise ValueError("pages must be a non-empty list of 0-based page numbers")
    flag = rec.get("standalone_already", False)
    if not isinstance(flag, bool):
        raise ValueError("standalone_already must be true or false")
    if rec["set"] not in KNOWN_SETS:
        raise ValueError(f"set must be one of {', '.join(KNOWN_SETS)}")
    return Pair(id=str(rec["id"]), set=str(rec["set"]), doc=str(rec["doc"]), first=str(rec["first"]),
                followup=str(rec["followup"]), standalone=str(rec["standalone"]),
                pages=tuple(sorted(set(pages))), evidence=str(rec["evidence"]), standalone_already=flag)


def load_pairs(path: Path = DEFAULT_FILE) -> list[Pair]:
    """Every pair of the file, in file order; ValueError on the first malformed line."""
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            pairs.append(parse_pair(json.loads(line)))
        except (json.JSONDecodeError, ValueError) as exc:
            raise ValueError(f"{path.name} line {n}: {exc}") from exc
    return pairs


def check_pair(pair: Pair, root: Path) -> list[str]:
    """What is wrong with one pair (empty: nothing)."""
    problems = []
    path = pdf_path(root, pair.set, pair.doc)
    if not path.exists():
        return [f"no PDF {path}"]
    pages = page_texts(path)
    beyond = [p for p in pair.pages if p >= len(pages)]
    if beyond:
        problems.append(f"pages {beyond} beyond the document's {len(pages)} pages")
    quote = normalize(pair.evidence)
    if len(pair.evidence) > MAX_EVIDENCE_CHARS:
        problems.append(f"evidence longer than {MAX_EVIDENCE_CHARS} characters")
    if len(quote) < 12:
        problems.append("evidence too short to locate")
    on = [p for p in pair.pages if p < len(pages) and quote in pages[p]]
    if not on:
        elsewhere = [p for p, text in enumerate(pages) if quote in text]
        where = f"; it is on page(s) {elsewhere}" if elsewhere else "; it is on no page"
        problems.append(f"evidence not on its stated page(s) {list(pair.pages)}{where}")
    if normalize(pair.followup) == normalize(pair.first):
        problems.append("follow-up repeats the first question")
    return problems


def check(pairs: Sequence[Pair], root: Path) -> dict[str, list[str]]:
    """Problems per pair id, for the pairs that have any (duplicate ids included)."""
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for pair in pairs:
        found = check_pair(pair, root)
        if pair.id in seen:
            found.append("duplicate id")
        seen.add(pair.id)
        if found:
            problems[pair.id] = found
    return problems


def summary(pairs: Iterable[Pair]) -> str:
    pairs = list(pairs)
    parts = []
    for set_name in KNOWN_SETS:
        own = [p for p in pairs if p.set == set_name]
        if own:
            alone = sum(p.standalone_already for p in own)
            parts.append(f"{set_name}: {len(own)} pairs over {len({p.doc for p in own})} documents "
                         f"({alone} standalone already)")
    return "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--data", type=Path, default=None, help="data root (default ../shared/data)")
    args = parser.parse_args(argv)
    root = args.data or default_data_root()
    try:
        pairs = load_pairs(args.file)
    except ValueError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    problems = check(pairs, root)
    for pair_id, found in problems.items():
        for problem in found:
            print(f"FAIL {pair_id}: {problem}", file=sys.stderr)
    print(f"{len(pairs) - len(problems)}/{len(pairs)} pairs OK. {summary(pairs)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
