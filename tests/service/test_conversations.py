"""Conversations over the REST API: a real (in-process) app, local Qdrant, SQLite records and the provider double
over real HTTP, whose usage fields say what the provider read from its cache."""

from __future__ import annotations

import threading
import time

import pytest

from tests.service_helpers import SAMPLES, contract_pdf, service, service_settings, upload

FOLLOW_UPS = ["What is the governing law of the agreement?", "And which courts hear disputes?",
              "What notice does it require for termination?", "Can either party assign it?",
              "What about confidentiality?"]


@pytest.fixture
def double(provider_double):
    return provider_double()


@pytest.fixture
def settings(tmp_path, double):
    return service_settings(tmp_path, double)


@pytest.fixture
def client(settings):
    with service(settings) as c:
        yield c


def _start(client, **body):
    response = client.post("/v1/conversations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _ask(client, conversation_id, question, **options):
    response = client.post(f"/v1/conversations/{conversation_id}/messages", json={"question": question, **options})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_whole_documents_thread_reads_every_earlier_turn_from_the_cache(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    assert conversation["title"] == "New conversation" and conversation["scope"] == "all"
    previous = None
    for n, question in enumerate(FOLLOW_UPS, 1):
        result = _ask(client, conversation["id"], question, mode="full")
        assert result["turn"] == n and result["recorded"] is True
        answer = result["answer"]
        assert answer["route"] == "full" and answer["plan"]["thread"]["turn"] == n
        usage = double.requests()[-1]
        if previous is not None:
            # the provider persisted the previous request's input and answer: this one hits all of it, to the unit
            cached = previous["prompt_tokens"] + previous["completion_tokens"]
            assert usage["hit_tokens"] >= cached - 64, (n, usage, previous)
            assert answer["plan"]["thread"]["new_prefix"] is False
        previous = usage
    detail = client.get(f"/v1/conversations/{conversation['id']}").json()
    assert detail["turns"] == 5 and [t["n"] for t in detail["history"]] == [1, 2, 3, 4, 5]
    assert detail["title"] == FOLLOW_UPS[0][:80]
    assert detail["dollars"] == pytest.approx(sum(t["dollars"] for t in detail["history"]))
    ledger = client.get("/v1/ledger").json()
    assert ledger["by_conversation"][conversation["id"]]["dollars"] == pytest.approx(detail["dollars"])


def test_a_retrieval_thread_is_append_only_too(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    first = _ask(client, conversation["id"], FOLLOW_UPS[0], mode="rag")
    second = _ask(client, conversation["id"], "And which courts hear disputes about it?", mode="rag")
    assert first["answer"]["route"] == second["answer"]["route"] == "rag"
    requests = double.requests()
    prev, last = requests[-2], requests[-1]
    assert last["hit_tokens"] >= prev["prompt_tokens"] + prev["completion_tokens"] - 64
    # the double quotes a page rather than rewriting: its reply is no usable question, so retrieval searched with
    # the previous question and this one
    assert second["rewrite"] == "expanded" and second["search_query"].startswith(FOLLOW_UPS[0])
    thread = second["answer"]["plan"]["thread"]
    assert thread["turns_in_prompt"] == 1 and thread["history_tokens"] > 0


def test_conversations_belong_to_their_tenant(tmp_path, double):
    keys = tmp_path / "keys.txt"
    keys.write_text("key-alpha-0123456789abcdef:alpha\nkey-beta-0123456789abcdef:beta\n")
    with service(service_settings(tmp_path, double, api_keys_file=keys)) as client:
        a = {"Authorization": "Bearer key-alpha-0123456789abcdef"}
        b = {"Authorization": "Bearer key-beta-0123456789abcdef"}
        assert client.post("/v1/documents?wait=true", headers=a,
                           files=[("files", ("supply.pdf", contract_pdf()))]).status_code == 200
        made = client.post("/v1/conversations", json={}, headers=a).json()
        path = f"/v1/conversations/{made['id']}"
        for method, url, body in (("GET", path, None), ("PATCH", path, {"title": "x"}), ("DELETE", path, None),
                                  ("POST", path + "/messages", {"question": "What is the governing law?"})):
            response = client.request(method, url, json=body, headers=b)
            assert response.status_code == 404, (method, response.text)
            assert response.json()["error"]["code"] == "conversation_not_found"
        assert client.get("/v1/conversations", headers=b).json()["total"] == 0
        assert client.get("/v1/conversations", headers=a).json()["total"] == 1


def test_unknown_ids_empty_scopes_and_deleted_documents_are_clear(client, double):
    missing = client.post("/v1/conversations/nope/messages", json={"question": "Anything?"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "conversation_not_found"
    supply = upload(client, "supply.pdf", contract_pdf())
    amendment = upload(client, "amendment-1.docx", (SAMPLES / "amendment-1.docx").read_bytes())
    conversation = _start(client, documents=[supply["document_id"], amendment["document_id"]], title="Deal")
    assert [d["id"] for d in conversation["documents"]] == [supply["document_id"], amendment["document_id"]]
    _ask(client, conversation["id"], FOLLOW_UPS[0], mode="full")
    assert client.delete(f"/v1/documents/{amendment['document_id']}").status_code == 200
    after = _ask(client, conversation["id"], "And which courts hear disputes?", mode="full")
    events = [e for e in after["answer"]["events"] if e["kind"] == "scope_changed"]
    assert events and amendment["document_id"][:12] in events[0]["reason"]
    assert client.delete(f"/v1/documents/{supply['document_id']}").status_code == 200
    empty = client.post(f"/v1/conversations/{conversation['id']}/messages", json={"question": "And now?"})
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "scope_empty"


def test_patch_delete_and_estimates(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    estimate = _ask(client, conversation["id"], FOLLOW_UPS[0], estimate_only=True)
    assert estimate["recorded"] is False and double.requests() == []
    assert estimate["answer"]["plan"]["thread"]["turn"] == 1
    _ask(client, conversation["id"], FOLLOW_UPS[0], mode="full")
    renamed = client.patch(f"/v1/conversations/{conversation['id']}", json={"title": "Governing law"}).json()
    assert renamed["conversation"]["title"] == "Governing law" and "unchanged" in renamed["cache"]
    listed = client.get("/v1/conversations").json()
    assert listed["conversations"][0]["last_question"] == FOLLOW_UPS[0]
    assert listed["conversations"][0]["route"] == "full"
    deleted = client.delete(f"/v1/conversations/{conversation['id']}").json()
    assert deleted == {"deleted": conversation["id"], "turns": 1}
    assert client.get(f"/v1/conversations/{conversation['id']}").status_code == 404


def test_a_stream_sends_the_plan_deltas_and_the_turn(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    with client.stream("POST", f"/v1/conversations/{conversation['id']}/messages",
                       json={"question": FOLLOW_UPS[0], "stream": True, "mode": "full"}) as response:
        assert response.status_code == 200
        kinds = [line.split(":", 1)[1].strip() for line in response.iter_lines() if line.startswith("event:")]
    assert kinds[0] == "plan" and "delta" in kinds and kinds[-1] == "done"
    assert client.get(f"/v1/conversations/{conversation['id']}").json()["turns"] == 1


def test_a_restart_keeps_the_thread_and_its_cache_state(settings, double):
    with service(settings) as client:
        upload(client, "supply.pdf", contract_pdf())
        conversation = _start(client)
        for question in FOLLOW_UPS[:2]:
            _ask(client, conversation["id"], question, mode="full")
    with service(settings) as client:  # a new process's app on the same records and the same provider
        detail = client.get(f"/v1/conversations/{conversation['id']}").json()
        assert detail["turns"] == 2 and "chance it is still cached" in detail["cache"]
        third = _ask(client, conversation["id"], FOLLOW_UPS[2], mode="full")
        thread = third["answer"]["plan"]["thread"]
        assert thread["turn"] == 3 and thread["new_prefix"] is False and thread["cache_h"] > 0.5
        previous, last = double.requests()[-2:]
        assert last["hit_tokens"] >= previous["prompt_tokens"] + previous["completion_tokens"] - 64


def test_two_turns_sent_at_once_never_interleave(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    double.add_faults({"kind": "timeout", "seconds": 4})  # the first turn's model call takes four seconds
    results: dict[str, object] = {}

    def first() -> None:
        results["first"] = client.post(f"/v1/conversations/{conversation['id']}/messages",
                                       json={"question": FOLLOW_UPS[0], "mode": "full"})

    worker = threading.Thread(target=first)
    worker.start()
    _wait_until_held(client, conversation["id"])  # the first turn holds the thread (and waits on the model)
    second = client.post(f"/v1/conversations/{conversation['id']}/messages",
                         json={"question": FOLLOW_UPS[1], "mode": "full"})
    worker.join()
    assert second.status_code == 409 and second.json()["error"]["code"] == "conversation_busy"
    assert results["first"].status_code == 200  # type: ignore[attr-defined]
    detail = client.get(f"/v1/conversations/{conversation['id']}").json()
    assert [t["question"] for t in detail["history"]] == [FOLLOW_UPS[0]]
    assert _ask(client, conversation["id"], FOLLOW_UPS[1], mode="full")["turn"] == 2  # free again


def _wait_until_held(client, conversation_id: str, timeout_s: float = 10.0) -> None:
    """Until a turn holds the conversation: its row names the claim (``ConversationRecords.claim``)."""
    from sqlalchemy import select

    from folio.records.tables import conversations

    database = client.app.state.runtime.store.database
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with database.read() as conn:
            if conn.execute(select(conversations.c.busy_token).where(
                    conversations.c.id == conversation_id)).scalar_one() is not None:
                return
        time.sleep(0.02)
    raise AssertionError("the first turn never held the conversation")


def test_a_follow_up_that_leans_on_the_thread_is_rewritten_by_the_model_and_billed(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    _ask(client, conversation["id"], FOLLOW_UPS[0], mode="rag")
    standalone = "Which courts hear disputes under the Master Supply Agreement?"
    double.add_faults({"kind": "reply", "text": standalone})  # what the model answers to the rewrite request
    result = _ask(client, conversation["id"], "And which courts hear them?", mode="rag")
    assert result["rewrite"] == "model" and result["search_query"] == standalone
    thread = result["answer"]["plan"]["thread"]
    assert thread["rewrite"] == "model" and thread["rewrite_estimated_dollars"] > 0
    assert "leans on the conversation" in thread["follow_up"]
    assert any(e["kind"] == "rewrite" for e in result["answer"]["events"])
    ledger = client.get("/v1/ledger").json()
    assert ledger["by_conversation"][conversation["id"]]["requests"] == 3  # question, rewrite, question
    alone = _ask(client, conversation["id"], "What is the governing law of the Master Supply Agreement?",
                 mode="rag")
    assert alone["rewrite"] == "none" and len(double.requests()) == 4  # no rewrite request for it


def test_history_longer_than_the_window_drops_the_oldest_turns_and_says_so(tmp_path, double):
    settings = service_settings(tmp_path, double)
    with service(settings) as client:
        upload(client, "supply.pdf", contract_pdf())
        tokens = client.get("/v1/documents").json()["documents"][0]["scope_tokens"]
    small = settings.model_copy(update={"context_window": tokens + 512 + 700, "output_reserve": 512})
    with service(small) as client:
        conversation = _start(client)
        trimmed = []
        for n in range(8):
            result = _ask(client, conversation["id"], f"{FOLLOW_UPS[n % 3]} (turn {n + 1})", mode="full")
            thread = result["answer"]["plan"]["thread"]
            assert result["answer"]["route"] == "full"
            if any(e["kind"] == "history_trimmed" for e in result["answer"]["events"]):
                trimmed.append(n + 1)
                assert thread["turns_dropped"] > 0 and thread["new_prefix"] is True
        assert trimmed, "the history never outgrew the window"
        detail = client.get(f"/v1/conversations/{conversation['id']}").json()
        assert detail["turns"] == 8  # dropped from the prompt, never from the record
        last = detail["history"][-1]["answer"]["plan"]["thread"]
        assert last["turns_in_prompt"] < 7


def test_auto_mode_prices_each_turn_with_the_thread(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    first = _ask(client, conversation["id"], FOLLOW_UPS[0])
    second = _ask(client, conversation["id"], FOLLOW_UPS[1])
    assert first["answer"]["reason"].startswith("turn 1 of the conversation")
    assert second["answer"]["reason"].startswith("turn 2 of the conversation")
    assert "earlier turn(s) in the prompt" in second["answer"]["reason"]
    for result in (first, second):
        cost = result["answer"]["cost"]
        assert cost["dollars"] > 0 and cost["estimated_dollars"] > 0


def test_a_document_added_to_an_all_documents_thread_says_the_prefix_starts_again(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    _ask(client, conversation["id"], FOLLOW_UPS[0], mode="full")
    upload(client, "amendment-1.docx", (SAMPLES / "amendment-1.docx").read_bytes())
    result = _ask(client, conversation["id"], FOLLOW_UPS[1], mode="full")
    assert any(e["kind"] == "scope_changed" for e in result["answer"]["events"])
    assert result["answer"]["plan"]["thread"]["new_prefix"] is True
    assert len(result["conversation"]["documents"]) == 2


def test_a_thread_that_goes_back_to_a_route_extends_that_routes_prefix(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    routes = ["full", "rag", "full", "rag"]
    sent: dict[str, dict] = {}
    for n, (route, question) in enumerate(zip(routes, FOLLOW_UPS, strict=False), 1):
        result = _ask(client, conversation["id"], question, mode=route)
        thread = result["answer"]["plan"]["thread"]
        request = double.requests()[-1]
        if route in sent:  # the documents prefix (or the bare one) two turns back, with the turns since appended
            previous = sent[route]
            assert thread["new_prefix"] is False and "took this route before" in result["answer"]["reason"], n
            assert request["hit_tokens"] >= previous["prompt_tokens"] + previous["completion_tokens"] - 64, n
        else:
            assert thread["new_prefix"] is True
        sent[route] = request


def test_a_turn_over_its_cap_is_refused_before_anything_is_spent_and_frees_the_thread(client, double):
    upload(client, "supply.pdf", contract_pdf())
    conversation = _start(client)
    refused = client.post(f"/v1/conversations/{conversation['id']}/messages",
                          json={"question": FOLLOW_UPS[0], "mode": "full", "max_cost_usd": 1e-9})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "over_budget"
    assert double.requests() == []
    assert _ask(client, conversation["id"], FOLLOW_UPS[0], mode="full")["turn"] == 1  # not held by the refusal
