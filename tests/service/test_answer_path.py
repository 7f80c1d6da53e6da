"""A question's path goes forward only: the ledger is read once per plan, coverage is priced only where it can be
chosen, and the ledger entries are written after the answer's citations are checked."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from folio.records.ledger_records import LedgerRecords
from folio.service import answer as answer_module
from folio.service.ledger import Ledger
from tests.service.test_coverage import EXHAUSTIVE, _ingest, _settings
from tests.service_helpers import service


@pytest.fixture
def double(provider_double):
    return provider_double(context_window=4_000, retry_after_s=0)


@pytest.fixture
def client(tmp_path, double):
    with service(_settings(tmp_path, double)) as c:
        _ingest(c)
        yield c


def _plan(client, question: str, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/plan", json={"question": question, **body})
    assert response.status_code == 200, response.text
    return response.json()["plan"]


@pytest.mark.parametrize("mode", ["rag", "full"])
def test_coverage_is_not_priced_when_the_mode_rules_it_out(client, mode):
    plan = _plan(client, EXHAUSTIVE, mode=mode)
    assert set(plan["estimates"]) == {"rag", "full"}
    assert "coverage" not in plan
    assert plan["coverage_reason"].startswith(f"not priced: mode={mode}")


@pytest.mark.parametrize("mode", ["auto", "coverage"])
def test_coverage_is_priced_where_it_can_be_chosen(client, mode):
    plan = _plan(client, EXHAUSTIVE, mode=mode)
    assert plan["estimates"]["coverage"]["dollars"] > 0 and plan["coverage"]["windows"] > 1


def test_the_ledger_is_read_once_per_plan(client, monkeypatch):
    reads: Counter[tuple[str | None, str]] = Counter()
    cache_history, session_history = LedgerRecords.cache_history, LedgerRecords.session_history

    def prefix_read(self, *, tenant, prefix_hash, **kw):
        reads[("prefix_hash", prefix_hash)] += 1
        return cache_history(self, tenant=tenant, prefix_hash=prefix_hash, **kw)

    def scope_read(self, *, tenant, scope_key, **kw):
        reads[("scope_key", scope_key)] += 1
        return session_history(self, tenant=tenant, scope_key=scope_key, **kw)

    monkeypatch.setattr(LedgerRecords, "cache_history", prefix_read)
    monkeypatch.setattr(LedgerRecords, "session_history", scope_read)
    plan = _plan(client, EXHAUSTIVE)  # auto: rag, full over the documents that fit, and every coverage window
    assert plan["route"] == "coverage"
    assert len([k for k in reads if k[0] == "scope_key"]) == 1  # the session, once
    assert all(n == 1 for n in reads.values()), reads  # and each prefix's history once


@pytest.mark.parametrize("mode", ["rag", "full", "coverage"])
def test_the_ledger_is_written_after_the_citations_are_checked(client, monkeypatch, mode):
    steps: list[str] = []
    extract, record = answer_module.cite.extract, Ledger.record

    def checking(*args, **kwargs):
        steps.append("citations")
        return extract(*args, **kwargs)

    def recording(self, entry):
        steps.append("ledger")
        return record(self, entry)

    monkeypatch.setattr(answer_module.cite, "extract", checking)
    monkeypatch.setattr(Ledger, "record", recording)
    response = client.post("/v1/query", json={"question": "Who may terminate the Alder agreement?", "mode": mode})
    assert response.status_code == 200, response.text
    assert "ledger" in steps and "citations" in steps
    last_check = max(i for i, s in enumerate(steps) if s == "citations")
    assert steps.index("ledger") > last_check, steps
    entries = client.get("/v1/ledger").json()["totals"]["requests"]
    assert entries == steps.count("ledger")
