"""The front-matter lane (retrieval/front_lane.py): a question about a contract's identity finds its first page
through the service's search path, on a real cuad-dev contract; other questions rank exactly as before."""

from __future__ import annotations

import json

from folio.ingest.embed import HashEmbedder
from folio.ingest.store import Store
from folio.records.model import DocumentRecord
from folio.retrieval.front_lane import asks_identity, front_pages
from folio.retrieval.search import Levers, retrieve, search
from tests.conftest import require_shared_data
from tests.retrieval.conftest import CONTRACT

IDENTITY = ("Document Name", "Parties", "Agreement Date", "Effective Date")


def _cuad_questions() -> list[dict[str, object]]:
    path = require_shared_data("cuad-dev") / "questions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_identity_questions_are_recognised_and_no_other_kind() -> None:
    by_category: dict[str, str] = {}
    for q in _cuad_questions():
        by_category.setdefault(str(q["category"]), str(q["question"]))
    assert {c for c, text in by_category.items() if asks_identity(text)} == set(IDENTITY)
    for asked in ("What is this contract called?", "Who signed the lease?", "When was the agreement dated?",
                  "What is the effective date?", "When did the amendment take effect?"):
        assert asks_identity(asked), asked
    for other in ("Does this agreement name any third-party beneficiaries?", "Can a party terminate for convenience?",
                  "What was FY2019 revenue?", "What is the name of the licensee's auditor?"):
        assert not asks_identity(other), other


def test_front_pages_skip_blank_covers() -> None:
    record = DocumentRecord(id="d", file_name="x.pdf", title="x", format="pdf", size_bytes=1, n_pages=4,
                            total_tokens=705, page_tokens=[0, 5, 300, 400], status="ready", ingested_at="",
                            embed_model="hash-64")
    assert front_pages(record) == [2, 3]
    assert front_pages(record.model_copy(update={"page_tokens": []})) == [0, 1]


def test_identity_questions_find_the_preamble_page(contract: tuple[Store, str]) -> None:
    store, doc_id = contract
    embedder = HashEmbedder(64)
    questions = [q for q in _cuad_questions() if q["doc"] == CONTRACT and q["category"] in IDENTITY]
    assert len(questions) == 4
    missed_without = 0
    for q in questions:
        gold = {p for e in q["evidence"] for p in e["pages"]}  # type: ignore[union-attr]
        found = retrieve(store, embedder, str(q["question"]), doc_ids=[doc_id], limit=5)
        assert "front" in found.lanes
        assert gold & {p for h in found.hits for p in range(h.first_page, h.last_page + 1)}, q["category"]
        assert len(found.hits) == 5 and len({(h.first_page, h.last_page) for h in found.hits}) == 5
        plain = search(store, embedder, str(q["question"]), doc_ids=[doc_id], limit=5, levers=Levers(front_lane=False))
        missed_without += not gold & {p for h in plain for p in range(h.first_page, h.last_page + 1)}
    assert missed_without >= 1  # plain hybrid search lost at least one of them on this contract


def test_other_questions_rank_exactly_as_before(contract: tuple[Store, str]) -> None:
    store, doc_id = contract
    embedder = HashEmbedder(64)
    for question in ("Which jurisdiction's law governs this agreement?", "Is liability under this agreement capped?"):
        found = retrieve(store, embedder, question, doc_ids=[doc_id], limit=5)
        plain = search(store, embedder, question, doc_ids=[doc_id], limit=5, levers=Levers(front_lane=False))
        assert found.lanes == () and found.hits == plain


def test_the_agreement_signal_counts_shared_pages(contract: tuple[Store, str]) -> None:
    store, doc_id = contract
    found = retrieve(store, HashEmbedder(64), "Which jurisdiction's law governs this agreement?", doc_ids=[doc_id],
                     limit=5, signals=True)
    assert found.signals is not None and found.signals.k == 5
    assert 0 <= found.signals.shared_pages <= 5
    assert found.signals.weak == (found.signals.shared_pages <= 1)
    assert f"agree on {found.signals.shared_pages} of their top 5 pages" in found.signals.describe()
