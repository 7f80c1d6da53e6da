"""The coverage route (issue 9) over real HTTP against the provider double, with a small context window.

The collection: six short service agreements (each with a termination clause on a different page), a lease longer
than one window (cut at page boundaries) and a harbour log that says nothing about termination, in that upload
(canonical) order. With ``context_window=4000`` it spans several windows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from folio.service.plan import estimate_reduce, pack_findings
from folio.service.pricing import get_profile
from tests.service_helpers import service, service_settings, upload

WINDOW = 4_000
RESERVE = 400
EXHAUSTIVE = "List every termination right in these contracts."
PARTIES = ("Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir")
NOTICE = (30, 45, 60, 90, 120, 14)


def _filler(seed: int, sentences: int, topic: str) -> str:
    """Deterministic prose on ``topic`` with no word of the exhaustive question in it."""
    verbs = ("delivers", "inspects", "records", "schedules", "reviews", "prepares", "maintains", "reports")
    things = ("invoices", "shipments", "inventory counts", "safety audits", "quality samples", "service tickets",
              "monthly forecasts", "spare parts")
    out = []
    for i in range(sentences):
        k = seed * 7 + i
        out.append(f"In {topic} item {seed}.{i}, the operator {verbs[k % len(verbs)]} the "
                   f"{things[(k * 3) % len(things)]} within {5 + k % 20} business days of each request number {k}.")
    return " ".join(out)


def agreement(n: int) -> bytes:
    party = PARTIES[n]
    pages = []
    for p in range(3):
        body = _filler(n * 10 + p, 9, f"{party} operations")
        if p == n % 3:
            body += (f" Either party may terminate this contract for convenience on {NOTICE[n]} days written notice "
                     f"to the other party, and {party} may terminate at once for material breach.")
        pages.append(f"Section {p + 1} of the {party} agreement\n\n{body}")
    return (f"{party} Services Agreement\n\n" + "\f".join(pages)).encode()


def lease() -> bytes:
    pages = []
    for p in range(9):
        body = _filler(100 + p, 10, "warehouse lease")
        if p == 6:
            body += " The tenant may terminate this contract early by paying six months of rent as a fee."
        pages.append(f"Lease clause group {p + 1}\n\n{body}")
    return ("Harbourside Warehouse Lease\n\n" + "\f".join(pages)).encode()


def harbour_log() -> bytes:
    pages = []
    for p in range(5):
        pages.append(f"Tide table week {p + 1}\n\n" + " ".join(
            f"On day {d} of week {p + 1} high water reached {3 + (d * p) % 5}.{d} metres at {6 + d}:15 and the pilot "
            f"boat logged {d + p} arrivals under calm skies with a light westerly breeze." for d in range(1, 8)))
    return ("Harbour Master Tide Log\n\n" + "\f".join(pages)).encode()


@pytest.fixture
def double(provider_double):
    return provider_double(context_window=WINDOW, retry_after_s=0)


def _settings(tmp_path, double, **extra: Any):
    values: dict[str, Any] = dict(context_window=WINDOW, output_reserve=RESERVE, max_cost_usd=1.0)
    values.update(extra)
    return service_settings(tmp_path, double, **values)


def _ingest(client) -> dict[str, str]:
    ids = {}
    for n in range(len(PARTIES)):
        ids[PARTIES[n]] = upload(client, f"{PARTIES[n].lower()}.txt", agreement(n))["document_id"]
    ids["lease"] = upload(client, "lease.txt", lease())["document_id"]
    ids["log"] = upload(client, "tides.txt", harbour_log())["document_id"]
    return ids


@pytest.fixture
def client(tmp_path, double):
    with service(_settings(tmp_path, double)) as c:
        _ingest(c)
        yield c


def _ask(client, question: str = EXHAUSTIVE, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/query", json={"question": question, "mode": "coverage", **body})
    assert response.status_code == 200, response.text
    return response.json()


def _plan(client, question: str = EXHAUSTIVE, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/plan", json={"question": question, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_windows_hold_whole_documents_and_cut_the_long_one_at_page_boundaries(client):
    plan = _plan(client, mode="coverage")["plan"]
    cov = plan["coverage"]
    assert plan["route"] == "coverage" and cov["windows"] >= 4
    assert plan["estimates"]["full"]["feasible"] is False
    seen: dict[str, list[str]] = {}
    for w in cov["per_window"]:
        assert w["tokens"] <= cov["window_tokens"]
        for d in w["documents"]:
            seen.setdefault(d["title"], []).append(d["pages"])
    # every document once, whole, except the lease, cut into consecutive page ranges covering its 9 pages
    lease_parts = seen.pop("Harbourside Warehouse Lease")
    assert len(lease_parts) >= 2
    starts = [int(p.split("-")[0]) for p in lease_parts]
    ends = [int(p.split("-")[1]) for p in lease_parts]
    assert starts[0] == 1 and ends[-1] == 9 and all(s == e + 1 for s, e in zip(starts[1:], ends[:-1], strict=True))
    assert all(len(parts) == 1 for parts in seen.values()) and len(seen) == 7
    assert cov["pages_planned"] == cov["pages_in_scope"] == 6 * 3 + 9 + 5


def test_every_page_is_covered_and_the_second_question_hits_every_window(client, double):
    first = _ask(client)
    report = first["coverage"]
    assert first["route"] == "coverage"
    assert report["complete"] and report["pages_sent"] == report["pages_in_scope"]
    assert report["pages_sent_percent"] == 100.0 and not report["documents_left_out"]
    # the harbour log's window holds nothing about termination
    log_windows = [w["window"] for w in report["per_window"]
                   if {d["title"] for d in w["documents"]} == {"Harbour Master Tide Log"}]
    assert log_windows and set(log_windows) <= set(report["windows_found_nothing"])
    # each window that found something cites a page whose quote is verified against the store
    found = [w for w in report["per_window"] if w["status"] == "found"]
    assert found and all(w["citations"] and all(c["verified"] for c in w["citations"]) for w in found)
    assert first["citations"] and all(c["verified"] for c in first["citations"])
    # cold windows were warmed up first, so even the first question read its documents from the cache
    assert all(w["warmed_up"] for w in report["per_window"])
    # the bill: per window and in total, equal to the ledger and to what the provider counted
    assert first["cost"]["dollars"] == pytest.approx(report["dollars"])
    assert report["dollars"] == pytest.approx(sum(w["dollars"] for w in report["per_window"])
                                              + report["reduce"]["dollars"])
    ledger = client.get("/v1/ledger").json()
    assert ledger["totals"]["dollars"] == pytest.approx(first["cost"]["dollars"])
    assert list(ledger["by_route"]) == ["coverage"]
    billed = double.requests()
    n = report["windows"]
    assert ledger["totals"]["requests"] == len(billed) == 2 * n + report["reduce"]["calls"]
    assert sum(r["hit_tokens"] for r in billed) == first["usage"]["hit_tokens"]
    # the ledger holds every call of the question: a warm-up and a map question per window, then the reduce
    entries = client.app.state.runtime.ledger.entries()
    assert len({e["query_id"] for e in entries}) == 1
    for kind in ("warmup", "map"):
        assert sorted(e["window"] for e in entries if e["kind"] == kind) == list(range(1, n + 1))
    assert {e["windows"] for e in entries if e["kind"] == "map"} == {n}

    second = _ask(client, "Which termination rights need written notice under these contracts?")
    again = second["coverage"]
    assert again["complete"]
    new = double.requests()[len(billed):]
    assert len(new) == n + again["reduce"]["calls"]  # no warm-up: every window is cached
    for w in again["per_window"]:
        assert not w["warmed_up"]
        assert w["hit_tokens"] >= w["tokens"] - 64, w  # the window's whole documents block from the cache
        assert w["cache_hit_ratio"] > 0.8
    # the provider's own counts, window by window
    maps = new[:n]  # the reduce comes last
    assert all(r["hit_tokens"] > 0 and r["hit_tokens"] % 64 == 0 for r in maps)
    assert again["cache_hit_tokens"] == sum(r["hit_tokens"] for r in maps)
    # and the planner knew: every window cached, no warm-ups, a cheaper estimate
    plan = _plan(client, "Which termination rights are mutual?", mode="coverage")["plan"]["coverage"]
    assert plan["cached_windows"] == n and plan["warmups"] == 0
    assert plan["estimated_dollars"] < first["cost"]["estimated_dollars"]


def test_a_window_the_provider_dropped_is_noticed_and_warmed_again(client, double):
    _ask(client)
    double.advance_clock(3_601)  # the provider's cache expired; the ledger cannot know yet
    stale = _plan(client, mode="coverage")["plan"]["coverage"]
    assert stale["cached_windows"] == stale["windows"] and stale["warmups"] == 0
    missed = _ask(client, "Which termination rights need written notice under these contracts?")["coverage"]
    assert all(not w["warmed_up"] and w["hit_tokens"] < w["tokens"] // 2 for w in missed["per_window"])
    # what the provider reported overrides the memory of the warm-up: every window is warmed again
    plan = _plan(client, "Which termination rights are mutual?", mode="coverage")["plan"]["coverage"]
    assert plan["cached_windows"] == 0 and plan["warmups"] == plan["windows"]
    again = _ask(client, "Which termination rights are mutual?")["coverage"]
    assert all(w["warmed_up"] and w["cache_hit_ratio"] > 0.4 for w in again["per_window"])


def test_the_estimate_matches_the_bill(client):
    plan = _plan(client, mode="coverage")["plan"]
    result = _ask(client)
    report = result["coverage"]
    planned = {w["window"]: w for w in plan["coverage"]["per_window"]}
    prices = get_profile()
    # window by window, the planner's prompt tokens are within 2% of what the provider counted (warm-up included)
    for w in report["per_window"]:
        estimated = planned[w["window"]]["estimated_hit_tokens"] + planned[w["window"]]["estimated_miss_tokens"]
        assert estimated == pytest.approx(w["hit_tokens"] + w["miss_tokens"], rel=0.02)
    # the map's dollars within 5%, with the answers' real length (the double answers in one sentence)
    hit = sum(w["estimated_hit_tokens"] for w in planned.values())
    miss = sum(w["estimated_miss_tokens"] for w in planned.values())
    output = sum(w["output_tokens"] for w in report["per_window"])
    estimated = prices.dollars(hit_tokens=hit, miss_tokens=miss, output_tokens=output)
    assert estimated == pytest.approx(report["map_dollars"], rel=0.05)
    # the reduce is priced as if every window found a full answer's worth: an upper bound here
    reduce_estimate = plan["estimates"]["coverage"]["dollars"] - sum(w["estimated_dollars"] for w in planned.values())
    assert 0 < report["reduce"]["dollars"] <= reduce_estimate
    assert result["cost"]["dollars"] <= result["cost"]["estimated_dollars"]


def test_a_budget_cut_stops_cleanly_and_names_what_was_left_out(client, double):
    full = _plan(client, mode="coverage")["plan"]["coverage"]
    budget = full["estimated_dollars_every_window"] * 0.5
    plan = _plan(client, mode="coverage", max_cost_usd=budget)["plan"]
    cov = plan["coverage"]
    assert plan["route"] == "coverage" and cov["budget_cut"]
    assert 0 < cov["windows_within_budget"] < cov["windows"]
    assert cov["estimated_dollars"] <= budget
    assert "budget covers" in plan["reason"]
    result = _ask(client, max_cost_usd=budget)
    report = result["coverage"]
    assert not report["complete"] and report["budget_cut"]
    assert report["pages_sent"] < report["pages_in_scope"]
    left = {d["title"] for d in report["documents_left_out"]}
    assert left and "Harbour Master Tide Log" in left  # no retrieval hit there: the first to go
    skipped = [w for w in report["per_window"] if w["status"] == "skipped"]
    assert len(skipped) == cov["windows"] - cov["windows_within_budget"]
    assert "Not covered:" in result["answer"] and "Harbour Master Tide Log" in result["answer"]
    assert [e["kind"] for e in result["events"]] == ["budget_cut"]
    assert result["cost"]["dollars"] <= budget
    assert len(double.requests()) == 2 * cov["windows_within_budget"] + report["reduce"]["calls"]
    # a budget that covers no window: coverage is not possible, and the plan says so
    broke = _plan(client, mode="coverage", max_cost_usd=0.00001)
    assert broke["route"] != "coverage" and "does not cover one window" in broke["reason"]


def test_a_window_of_whole_documents_is_the_full_context_prefix(client, double):
    ids = {d["title"]: d["id"] for d in client.get("/v1/documents").json()["documents"]}
    pair = [ids["Alder Services Agreement"], ids["Birch Services Agreement"]]
    plan = _plan(client, documents=pair, mode="coverage")["plan"]
    assert plan["coverage"]["windows"] == 1
    assert plan["coverage"]["per_window"][0]["prefix_hash"] == plan["prefix_hash"]
    # a full-context question warms the prefix; coverage over the same documents then reads it from the cache
    full = client.post("/v1/query", json={"question": "Who may terminate?", "documents": pair, "mode": "full",
                                          "warm": True}).json()
    assert full["route"] == "full"
    result = _ask(client, documents=pair)
    window = result["coverage"]["per_window"][0]
    assert not window["warmed_up"] and window["hit_tokens"] >= window["tokens"] - 64


def test_auto_chooses_coverage_only_for_exhaustive_questions_that_do_not_fit(client, tmp_path):
    ids = {d["title"]: d["id"] for d in client.get("/v1/documents").json()["documents"]}
    exhaustive = _plan(client)
    assert exhaustive["route"] == "coverage"
    assert "exhaustive" in exhaustive["reason"] and "windows" in exhaustive["reason"]
    lookup = _plan(client, "What is the notice period in the Alder agreement?")
    # not coverage: retrieval, or whole documents over the most relevant ones that fit, whichever costs less
    assert lookup["route"] in ("rag", "full") and "exhaustive" not in lookup["reason"]
    assert "only for exhaustive questions" in lookup["plan"]["coverage_reason"]
    assert lookup["plan"]["estimates"]["coverage"]["dollars"] > 0  # priced beside rag and full all the same
    fits = _plan(client, documents=[ids["Alder Services Agreement"], ids["Birch Services Agreement"]])
    assert fits["route"] == "full" and "fits one context" in fits["plan"]["coverage_reason"]
    poor = _plan(client, max_cost_usd=0.0001)
    assert poor["route"] == "rag"
    assert "coverage of every page would cost" in poor["reason"] and "max_cost_usd" in poor["reason"]
    forced_rag = _plan(client, mode="rag")
    assert forced_rag["route"] == "rag" and "mode=rag" in forced_rag["plan"]["coverage_reason"]


def test_a_failed_window_is_retried_then_reported_never_dropped(tmp_path, double):
    with service(_settings(tmp_path, double, coverage_concurrency=1, llm_max_retries=0)) as client:
        _ingest(client)
        double.add_faults("500")  # window 1's first request
        result = _ask(client)
        report = result["coverage"]
        assert report["complete"] and report["windows_retried"] == [1] and not report["windows_failed"]
        assert report["per_window"][0]["attempts"] == 2
        n = report["windows"]
        # now cached: one request per window, then the retry; the placeholder faults change nothing
        double.add_faults("500", *[{"kind": "timeout", "seconds": 0}] * (n - 1), "500")
        result = _ask(client, "Which termination rights need written notice under these contracts?")
        report = result["coverage"]
        assert [f["window"] for f in report["windows_failed"]] == [1]
        assert report["windows_failed"][0]["attempts"] == 2
        assert not report["complete"] and report["pages_sent"] < report["pages_in_scope"]
        first_docs = {d["title"] for d in report["per_window"][0]["documents"]}
        assert first_docs <= {d["title"] for d in report["documents_left_out"]}
        assert "window 1 of" in result["answer"] and "could not be read" in result["answer"]
        assert result["events"][0]["kind"] == "window_failed"


def test_long_findings_are_reduced_in_rounds(tmp_path, double):
    with service(_settings(tmp_path, double, coverage_reduce_tokens=120)) as client:
        _ingest(client)
        plan = _plan(client, mode="coverage")["plan"]["coverage"]
        assert plan["reduce_calls"] > 1
        result = _ask(client)
        reduce = result["coverage"]["reduce"]
        assert reduce["rounds"] >= 2 and reduce["calls"] >= 3
        assert result["citations"] and all(c["verified"] for c in result["citations"])
        assert "terminate" in result["answer"]
        entries = client.app.state.runtime.ledger.entries()
        assert sum(e["kind"] == "reduce" for e in entries) == reduce["calls"]


def test_streaming_shows_window_progress_before_the_answer(client):
    with client.stream("POST", "/v1/query", json={"question": EXHAUSTIVE, "mode": "coverage",
                                                  "stream": True}) as response:
        events = []
        for block in response.read().decode().split("\n\n"):
            if block.strip() and not block.startswith(":"):  # ":": a comment, the keep-alive ping
                kind, data = block.split("\n", 1)
                events.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    kinds = [k for k, _ in events]
    assert kinds[0] == "plan" and kinds[-1] == "done"
    windows = [d for k, d in events if k == "window"]
    n = events[-1][1]["coverage"]["windows"]
    assert len(windows) == n and sorted(d["window"] for d in windows) == list(range(1, n + 1))
    assert all(f"window {d['window']} of {n}" in d["message"] for d in windows)
    assert [d["done"] for d in windows] == list(range(1, n + 1))
    first_delta = kinds.index("delta")
    assert kinds.index("reduce") < first_delta and max(i for i, k in enumerate(kinds) if k == "window") < first_delta
    text = "".join(d["text"] for k, d in events if k == "delta")
    assert text == events[-1][1]["answer"]


def test_folio_ask_mode_coverage_prints_the_report(tmp_path, double):
    from click.testing import CliRunner

    from folio.cli import cli

    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(4):
        (folder / f"{PARTIES[n].lower()}.txt").write_bytes(agreement(n))
    (folder / "tides.txt").write_bytes(harbour_log())
    env = {"FOLIO_DATA_DIR": str(tmp_path / "data"), "FOLIO_EMBED_MODEL": "hash-64",
           "FOLIO_LLM_BASE_URL": double.base_url, "FOLIO_LLM_API_KEY": "sk-test", "FOLIO_LLM_MODEL": "deepseek-chat",
           "FOLIO_PRICING_PROFILE": "deepseek-v4-flash-compat",
           "FOLIO_CONTEXT_WINDOW": str(WINDOW), "FOLIO_OUTPUT_RESERVE": str(RESERVE)}
    runner = CliRunner()
    ingest = runner.invoke(cli, ["ingest", str(folder)], env=env)
    assert ingest.exit_code == 0, ingest.output
    result = runner.invoke(cli, ["ask", EXHAUSTIVE, "--mode", "coverage"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Read all ") and "\nroute: coverage" in result.output  # the plain sentence first
    assert "coverage $" in result.output  # the estimate beside rag and full
    assert "pages read (100.0%)" in result.output and "window 1/" in result.output
    assert "nothing relevant in window(s) 3" in result.output and "reduce:" in result.output


def test_findings_are_packed_so_that_every_round_shrinks():
    assert pack_findings([500] * 10, 1_200) == [[500, 500]] * 5
    assert pack_findings([500] * 5, 1_200) == [[500, 500], [500, 500, 500]]  # a lone finding joins the call before
    assert pack_findings([5_000, 10, 10], 1_200) == [[5_000, 10, 10]]  # at least two a call, even over the room
    prices = get_profile()
    estimate, calls = estimate_reduce(windows=10, output_tokens=500, system_tokens=150, question_tokens=50,
                                      capacity=1_200, prices=prices)
    assert calls == 5 + 2 + 1  # 10 findings in 5 calls, their 5 answers in 2, then the final merge
    assert estimate.output_tokens == 8 * 500
    assert estimate.miss_tokens == 8 * 200 + 10 * 500 + 5 * 500 + 2 * 500
    single, one = estimate_reduce(windows=2, output_tokens=500, system_tokens=150, question_tokens=50,
                                  capacity=10, prices=prices)
    assert one == 1 and single.miss_tokens == 200 + 1_000


def test_the_double_reads_findings_as_cited_passages():
    from folio.testing.provider import answer, parse_passages

    findings = ('<findings>\n<finding source="window 1 of 2">According to Alder, "Alder may end it on notice." '
                '[Alder p.3]. Birch allows the same [Birch p.2].</finding>\n</findings>')
    assert [(p.title, p.page, p.text) for p in parse_passages(findings)] == [
        ("Alder", 3, "Alder may end it on notice."), ("Birch", 2, "Birch allows the same")]
    reply = answer([{"role": "user", "content": f"Merge.\n\n{findings}\n\nQuestion: Who may end it?"}])
    assert reply.content == 'According to Alder, "Alder may end it on notice." [Alder p.3].'
