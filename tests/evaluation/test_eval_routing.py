"""The routing replay's accounting, end to end through the provider double, on generated documents (issue 5).

Three short contracts (one topic per page, the hash embedder), questions whose gold page is known, two sessions.
Whatever the router decides, the replay must count what the context held: whole documents hold every page,
retrieval the pages its chunks span, an escalated question both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from folio.config import Settings
from folio.evaluation.data import EvalQuestion
from folio.evaluation.metrics import evidence_coverage
from folio.evaluation.routing import (
    PROFILES,
    ReplayClock,
    Replayer,
    ReplayLedger,
    Scenario,
    Session,
    context_of,
    gaps,
    memory_store,
    sessions_for,
    summarize_run,
)
from folio.ingest.embed import HashEmbedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import collect_paths
from folio.ingest.store import Store
from folio.ingest.tokens import deepseek_counter
from folio.service.answer import Answerer, QueryRequest
from folio.service.planner import Plan
from folio.service.pricing import get_profile

TOPICS = ("termination for convenience on ninety days notice", "liability cap of twelve months fees",
          "governing law of the State of Delaware", "audit of books and records once a year")


def _contract(name: str, order: list[int]) -> str:
    pages = []
    for i in order:
        filler = " ".join(f"The {name} supplier delivers widget batch {i}.{k} to the {name} warehouse."
                          for k in range(12))
        pages.append(f"{name} agreement, section {i + 1}\n\n{filler} The parties agree on {TOPICS[i]}.")
    return "\f".join(pages)


@pytest.fixture
def indexed(tmp_path: Path, store: Store, ingestor: Ingestor) -> dict[str, str]:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, order in (("alder", [0, 1, 2, 3]), ("birch", [3, 2, 1, 0]), ("cedar", [1, 3, 0, 2])):
        (folder / f"{name}.txt").write_text(_contract(name.capitalize(), order))
    results = ingestor.run(collect_paths([folder]))
    assert all(r.status == "ingested" for r in results)
    return {Path(r.name).name: str(r.doc_id) for r in results}


def _question(qid: str, file: str, topic: int, page: int) -> EvalQuestion:
    words = TOPICS[topic].split()
    return EvalQuestion(id=qid, set="test", text=f"What does the agreement say about {' '.join(words[:3])}?",
                        docs=(file,), gold={file: frozenset({page})}, group="g")


def _scenario() -> Scenario:
    alder = [_question("a1", "alder.txt", 0, 0), _question("a2", "alder.txt", 2, 2), _question("a3", "alder.txt", 3, 3)]
    birch = [_question("b1", "birch.txt", 3, 0), _question("b2", "birch.txt", 1, 2)]
    return Scenario(name="test", set_name="test", description="", sessions=[
        Session("alder", "test", ["alder.txt"], alder), Session("birch", "test", ["birch.txt"], birch)])


@pytest.fixture
def replayer(store: Store, settings: Settings, indexed: dict[str, str]) -> Replayer:
    return Replayer(store=store, embedder=HashEmbedder(64), ids=indexed,
                    base_settings=settings.model_copy(update={"top_k": 1}))


def test_always_full_holds_every_page_and_reads_the_cache_after_the_first_question(replayer: Replayer):
    run = replayer.run(_scenario(), "always-full", PROFILES[0])
    assert [r["route"] for r in run.rows] == ["full"] * 5
    assert all(r["coverage"] == 1.0 and r["full_coverage"] for r in run.rows)
    summary = summarize_run(run)
    assert summary["coverage"] == 1.0 and summary["fully_covered"] == 1.0
    assert summary["cache_hit_rate"] > 0.3  # warmed up once per session, then hits
    assert all(r["dollars"][p] > 0 for r in run.rows for p in PROFILES)
    again = summarize_run(replayer.run(_scenario(), "always-full", PROFILES[0]))
    assert again["dollars"] == summary["dollars"]  # a fresh ledger and provider cache every run


def test_always_rag_is_scored_on_the_pages_its_chunks_span(replayer: Replayer, indexed: dict[str, str]):
    run = replayer.run(_scenario(), "always-rag", PROFILES[0])
    assert [r["route"] for r in run.rows] == ["rag"] * 5
    assert all(r["context_pages"] <= 2 for r in run.rows)  # top_k=1: one chunk, at most a page boundary
    assert {r["coverage"] for r in run.rows} <= {0.0, 1.0}
    questions = {q.id: q for s in _scenario().sessions for q in s.questions}
    by_id = {v: k for k, v in indexed.items()}
    answerer_hits = []
    for row in run.rows:  # each question's coverage again, from a plan: the same chunks, the same number
        q = questions[row["id"]]
        plan = _plan(replayer, q, indexed)
        chunks: dict[str, set[int] | None] = {}
        for h in plan.hits:
            pages = chunks.setdefault(by_id[h.doc_id], set())
            assert pages is not None
            pages.update(range(h.first_page, h.last_page + 1))
        answerer_hits.append(evidence_coverage(q.gold, chunks))
    assert [r["coverage"] for r in run.rows] == answerer_hits


def _plan(replayer: Replayer, q: EvalQuestion, ids: dict[str, str]) -> Plan:
    answerer = Answerer(store=replayer.store, embedder=lambda: replayer.embedder, settings=replayer.base_settings,
                        ledger=ReplayLedger(memory_store(), clock=ReplayClock()), llm=None,
                        counter=deepseek_counter(), prices=get_profile(PROFILES[0]))
    return answerer.plan(QueryRequest(question=q.text, documents=[ids[q.docs[0]]], mode="rag"))


def test_self_route_escalates_exactly_when_the_chunks_miss_and_then_holds_everything(replayer: Replayer):
    rag = {r["id"]: r for r in replayer.run(_scenario(), "always-rag", PROFILES[0]).rows}
    run = replayer.run(_scenario(), "self-route", PROFILES[0])
    for row in run.rows:
        if row["planned"] == "rag":
            assert row["oracle_not_found"] == (rag[row["id"]]["coverage"] < 1.0)
            assert row["escalated"] == row["oracle_not_found"]
        assert row["coverage"] == 1.0  # found by retrieval, or escalated to the whole contract
    summary = summarize_run(run)
    assert summary["escalations"] == sum(r["escalated"] for r in run.rows)


def test_context_of_reads_routes_escalations_and_coverage_windows():
    ids = {"d1": "a.pdf", "d2": "b.pdf"}
    retrieved = [{"document_id": "d1", "first_page": 2, "last_page": 3}]
    assert context_of({"route": "rag", "retrieved": retrieved, "plan": {"full_scope": []}}, ids) == {"a.pdf": {2, 3}}
    full = {"route": "full", "retrieved": retrieved, "plan": {"full_scope": ["d2"]}, "events": []}
    assert context_of(full, ids) == {"b.pdf": None}
    escalated = {**full, "events": [{"kind": "escalation"}]}
    assert context_of(escalated, ids) == {"a.pdf": {2, 3}, "b.pdf": None}
    coverage = {"route": "coverage", "retrieved": [], "plan": {"full_scope": []}, "coverage": {"per_window": [
        {"status": "found", "documents": [{"document_id": "d1", "pages": "1-3"}]},
        {"status": "nothing", "documents": [{"document_id": "d1", "pages": "4-5"},
                                            {"document_id": "d2", "pages": "1-1"}]},
        {"status": "failed", "documents": [{"document_id": "d2", "pages": "2-9"}]},
    ]}}
    assert context_of(coverage, ids) == {"a.pdf": {0, 1, 2, 3, 4}, "b.pdf": {0}}


def test_gaps_are_seeded_and_sessions_group_by_scope():
    assert gaps("x", 20) == gaps("x", 20) != gaps("y", 20)
    assert all(0 < g <= 8 * 3600 for g in gaps("x", 200))
    assert any(g > 3600 for g in gaps("x", 200))  # some breaks outlive the provider's cache
    qs = [EvalQuestion(id=f"q{i}", set="sec10q", text="?", docs=(f"2023 Q{i % 3 + 1} AAPL.pdf",),
                       gold={f"2023 Q{i % 3 + 1} AAPL.pdf": None}, group="g", company="AAPL") for i in range(5)]
    sessions = sessions_for("sec10q", qs, per_session=3)
    assert [q.id for q in sessions[0].questions] == ["q0", "q1", "q3"]  # evenly spaced, in order
    assert len(sessions) == 1
    assert sessions[0].files == ["2023 Q1 AAPL.pdf", "2023 Q2 AAPL.pdf", "2023 Q3 AAPL.pdf"]


def test_over_the_window_full_reads_the_documents_that_fit_and_coverage_reads_every_page(
        store: Store, settings: Settings, indexed: dict[str, str]):
    small = settings.model_copy(update={"top_k": 1, "output_reserve": 300, "expected_output_tokens": 100})
    replayer = Replayer(store=store, embedder=HashEmbedder(64), ids=indexed, base_settings=small)
    files = sorted(indexed)
    tokens = sum(r.total_tokens for r in store.list_documents())
    questions = [_question("x1", "alder.txt", 0, 0), _question("x2", "cedar.txt", 3, 1)]
    for q in questions:  # the whole scope is the session: evidence in one of three documents
        assert q.docs[0] in files
    scenario = Scenario(name="over", set_name="test", description="", context_window=tokens // 2 + 1_000,
                        sessions=[Session("all", "test", files, questions)])
    full = replayer.run(scenario, "always-full", PROFILES[0])
    assert all(r["route"] == "full" for r in full.rows)
    assert all(r["context_pages"] < 12 for r in full.rows)  # only the documents that fit: not all 12 pages
    cover = replayer.run(scenario, "always-coverage", PROFILES[0])
    assert all(r["route"] == "coverage" and r["context_pages"] == 12 for r in cover.rows)
    assert all(r["coverage"] == 1.0 for r in cover.rows)
