"""Collections over a live Folio server (uvicorn on loopback, real HTTP) and the provider double: tenants apart,
names, unknown collections, one scope at a time, an upload into a collection, a question scoped to a collection
in the order its documents joined (the earlier documents' cached prefix still hits when one is added), and a
conversation that follows its collection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from folio.service.context import layout_keys, prefix_key
from folio.testing.provider import double_factory
from tests.live_server import live_folio
from tests.service_helpers import SAMPLES, contract_pdf, service_settings

ALPHA = {"Authorization": "Bearer key-alpha-0123456789abcdef"}
BETA = {"Authorization": "Bearer key-beta-0123456789abcdef"}


class Live:
    def __init__(self, client: httpx.Client, double: Any) -> None:
        self.client, self.double = client, double

    def upload(self, name: str, data: bytes, headers: dict[str, str] = ALPHA, **params: Any) -> dict[str, Any]:
        response = self.client.post("/v1/documents", params={"wait": "true", **params}, headers=headers,
                                    files=[("files", (name, data))])
        assert response.status_code == 200, response.text
        job = response.json()["jobs"][0]
        assert job["status"] in ("done", "skipped"), job
        return job

    def call(self, method: str, path: str, status: int = 200, headers: dict[str, str] = ALPHA,
             **kw: Any) -> dict[str, Any]:
        response = self.client.request(method, path, headers=headers, **kw)
        assert response.status_code == status, (method, path, response.text)
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("collections")
    keys = tmp / "keys.txt"
    keys.write_text(f"{ALPHA['Authorization'][7:]}:alpha\n{BETA['Authorization'][7:]}:beta\n")
    with double_factory() as start:
        double = start()
        with live_folio(service_settings(Path(tmp), double, api_keys_file=keys)) as server, \
                httpx.Client(base_url=server.url, timeout=120) as client:
            live = Live(client, double)
            # ingested in this order: the board update first, so that canonical order would put it first
            live.board = live.upload("board.md", (SAMPLES / "q3-2025-board-update.md").read_bytes())["document_id"]
            live.supply = live.upload("supply.pdf", contract_pdf())["document_id"]
            live.amendment = live.upload("amendment-1.docx",
                                         (SAMPLES / "amendment-1.docx").read_bytes())["document_id"]
            yield live


def test_collections_are_named_per_tenant_and_scope_one_way(live: Live) -> None:
    made = live.call("POST", "/v1/collections", 201, json={"name": " Filings ", "documents": [live.supply[:12]]})
    assert made["name"] == "Filings" and [d["id"] for d in made["items"]] == [live.supply]
    taken = live.call("POST", "/v1/collections", 409, json={"name": "Filings"})
    assert taken["error"]["code"] == "collection_name_taken" and "Filings" in taken["error"]["message"]
    empty = live.call("POST", "/v1/collections", 422, json={"name": "   "})
    assert "name" in empty["error"]["message"]
    assert live.call("GET", "/v1/collections")["collections"][0]["documents"] == 1
    assert live.call("GET", "/v1/collections/Filings")["id"] == made["id"]  # by name too

    # another tenant: not found by id or name, cannot use it as a scope, and has none of its own
    for method, path, body in (("GET", f"/v1/collections/{made['id']}", None), ("GET", "/v1/collections/Filings", None),
                               ("PATCH", f"/v1/collections/{made['id']}", {"name": "x"}),
                               ("DELETE", f"/v1/collections/{made['id']}", None),
                               ("POST", f"/v1/collections/{made['id']}/documents", {"documents": [live.supply]}),
                               ("POST", "/v1/plan", {"question": "What is the governing law?",
                                                     "collection": made["id"]})):
        error = live.call(method, path, 404, headers=BETA, json=body)["error"]
        assert error["code"] == "collection_not_found", (method, path, error)
    assert live.call("GET", "/v1/collections", headers=BETA)["total"] == 0
    theirs = live.call("POST", "/v1/collections", 201, headers=BETA, json={"name": "Filings"})
    error = live.call("POST", f"/v1/collections/{theirs['id']}/documents", 404, headers=BETA,
                      json={"documents": [live.supply]})["error"]
    assert error["code"] == "document_not_found"  # alpha's document cannot join beta's collection

    # unknown collection, and both scopes at once: clear 4xx on every endpoint that takes a scope
    for path, body in (("/v1/query", {"question": "What is the governing law?"}),
                       ("/v1/plan", {"question": "What is the governing law?"}),
                       ("/v1/search", {"query": "governing law"}), ("/v1/conversations", {})):
        missing = live.call("POST", path, 404, json={**body, "collection": "No such"})["error"]
        assert missing["code"] == "collection_not_found" and missing["collection"] == "No such"
        both = live.call("POST", path, 422, json={**body, "collection": "Filings", "documents": [live.supply]})
        assert both["error"]["code"] == "scope_conflict" and "collection" in both["error"]["message"]
    hits = live.call("POST", "/v1/search", json={"query": "governing law", "collection": "Filings"})["hits"]
    assert hits and {h["doc_id"] for h in hits} == {live.supply}

    renamed = live.call("PATCH", f"/v1/collections/{made['id']}", json={"name": "Supply filings"})
    assert renamed["name"] == "Supply filings"
    assert live.call("DELETE", f"/v1/collections/{made['id']}") == {"deleted": made["id"], "documents": 1}
    assert live.call("GET", f"/v1/collections/{made['id']}", 404)["error"]["code"] == "collection_not_found"


def test_an_upload_joins_its_collection_when_ready(live: Live) -> None:
    refused = live.call("POST", "/v1/documents", 404, params={"collection": "Uploads"},
                        files=[("files", ("again.pdf", contract_pdf()))])
    assert refused["error"]["code"] == "collection_not_found"  # nothing queued for an unknown collection
    job = live.upload("again.pdf", contract_pdf(), collection="Uploads", create_collection="true")
    assert job["document_id"] == live.supply and job["collection"]  # the same bytes: skipped, and joined
    shown = live.call("GET", "/v1/collections/Uploads")
    assert [d["id"] for d in shown["items"]] == [live.supply] and shown["items"][0]["title"]
    job = live.upload("board-again.md", (SAMPLES / "q3-2025-board-update.md").read_bytes(), collection=shown["id"])
    assert [d["id"] for d in live.call("GET", "/v1/collections/Uploads")["items"]] == [live.supply, live.board]
    removed = live.call("DELETE", f"/v1/collections/Uploads/documents/{live.supply[:12]}")
    assert removed["removed"] is True and [d["id"] for d in removed["collection"]["items"]] == [live.board]


def _first_request_of(live: Live, before: int) -> dict[str, Any]:
    return live.double.requests()[before]


def test_a_collection_scopes_in_the_order_documents_joined_and_keeps_the_cached_prefix(live: Live) -> None:
    live.call("POST", "/v1/collections", 201, json={"name": "Deal room", "documents": [live.amendment, live.supply]})
    question = {"question": "What is the governing law?", "collection": "Deal room", "mode": "full"}
    before = len(live.double.requests())
    first = live.call("POST", "/v1/query", json=question)
    plan = first["plan"]
    assert [d["id"] for d in plan["scope"]] == [live.amendment, live.supply]  # the order they joined
    assert plan["collection"]["name"] == "Deal room" and first["route"] == "full"
    records = [type("R", (), {"id": d["id"], "title": d["title"]})() for d in plan["scope"]]
    assert plan["prefix_hash"] == prefix_key("deepseek-chat", layout_keys(records, collection=True))  # type: ignore
    earlier = plan["inputs"]["system_tokens"] + plan["inputs"]["scope_tokens"]
    assert _first_request_of(live, before)["hit_tokens"] == 0  # cold: the first question warms it

    # the board update was ingested first: a scope of documents would put it first; the collection puts it last
    live.call("POST", "/v1/collections/Deal room/documents", json={"documents": [live.board]})
    before = len(live.double.requests())
    second = live.call("POST", "/v1/query", json=question)
    assert [d["id"] for d in second["plan"]["scope"]] == [live.amendment, live.supply, live.board]
    assert second["plan"]["prefix_hash"] != plan["prefix_hash"]
    opening = _first_request_of(live, before)  # the new scope's first request (its warm-up)
    # its cache hits cover the system prompt and both earlier documents (to the 64-token unit), and only the
    # added document is read cold
    assert opening["hit_tokens"] >= earlier - 64 - 16, (opening, earlier)
    assert opening["miss_tokens"] < opening["prompt_tokens"] - earlier + 64 + 16
    plain = live.call("POST", "/v1/plan", json={"question": "What is the governing law?", "mode": "full",
                                                 "documents": [live.amendment, live.supply, live.board]})["plan"]
    assert plain["scope"][0]["id"] == live.board and "collection" not in plain  # canonical order


def test_a_conversation_follows_its_collection(live: Live) -> None:
    live.call("POST", "/v1/collections", 201, json={"name": "Thread room", "documents": [live.supply]})
    made = live.call("POST", "/v1/conversations", 201, json={"collection": "Thread room"})
    assert made["scope"] == "collection" and made["collection"]["name"] == "Thread room"
    path = f"/v1/conversations/{made['id']}/messages"
    first = live.call("POST", path, json={"question": "What is the governing law?", "mode": "full"})
    assert [d["id"] for d in first["answer"]["plan"]["scope"]] == [live.supply]
    assert first["answer"]["plan"]["collection"]["name"] == "Thread room"

    live.call("POST", "/v1/collections/Thread room/documents", json={"documents": [live.board]})
    second = live.call("POST", path, json={"question": "And which courts hear disputes?", "mode": "full"})
    assert [d["id"] for d in second["answer"]["plan"]["scope"]] == [live.supply, live.board]
    changed = [e["reason"] for e in second["answer"]["events"] if e["kind"] == "scope_changed"]
    assert len(changed) == 1 and "joined collection 'Thread room'" in changed[0], changed
    assert [d["id"] for d in second["conversation"]["documents"]] == [live.supply, live.board]

    live.call("DELETE", f"/v1/collections/Thread room/documents/{live.supply}")
    third = live.call("POST", path, json={"question": "What notice does it require?", "mode": "full"})
    assert [d["id"] for d in third["answer"]["plan"]["scope"]] == [live.board]
    changed = [e["reason"] for e in third["answer"]["events"] if e["kind"] == "scope_changed"]
    assert len(changed) == 1 and "left it" in changed[0], changed
    fourth = live.call("POST", path, json={"question": "Who signed it?", "mode": "full"})
    assert not [e for e in fourth["answer"]["events"] if e["kind"] == "scope_changed"]  # said once

    live.call("DELETE", "/v1/collections/Thread room")  # the conversation keeps the documents it had
    fifth = live.call("POST", path, json={"question": "What else?", "mode": "full"})
    changed = [e["reason"] for e in fifth["answer"]["events"] if e["kind"] == "scope_changed"]
    assert len(changed) == 1 and "was deleted" in changed[0], changed
    assert [d["id"] for d in fifth["answer"]["plan"]["scope"]] == [live.board]
    sixth = live.call("POST", path, json={"question": "Anything more?", "mode": "full"})
    assert not [e for e in sixth["answer"]["events"] if e["kind"] == "scope_changed"]
    assert sixth["conversation"]["scope"] == "documents" and "collection" not in sixth["conversation"]


def _cli(*args: str, input: str | None = None) -> Any:
    from click.testing import CliRunner

    from folio.cli import cli

    return CliRunner().invoke(cli, list(args), env={"FOLIO_API_KEY": ALPHA["Authorization"][7:]}, input=input)


def _cli_json(*args: str) -> Any:
    result = _cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_cli_through_the_server(live: Live, tmp_path: Path) -> None:
    url = str(live.client.base_url).rstrip("/")
    board = tmp_path / "board.md"
    board.write_bytes((SAMPLES / "q3-2025-board-update.md").read_bytes())
    report = _cli_json("--server", url, "ingest", str(board), "--collection", "CLI set")  # made: none had the name
    assert report["results"][0]["document_id"] == live.board
    added = _cli_json("--server", url, "collections", "add", "CLI set", live.supply[:8])
    assert [d["id"] for d in added["collection"]["items"]] == [live.board, live.supply]
    listed = _cli_json("--server", url, "collections", "list")
    assert ("CLI set", 2) in [(c["name"], c["documents"]) for c in listed["collections"]]
    text = _cli("--server", url, "collections", "show", "CLI set").output
    assert "1. " + live.board[:12] in text and "2. " + live.supply[:12] in text

    answer = _cli_json("--server", url, "ask", "What is the governing law?", "--collection", "CLI set",
                       "--mode", "full")
    assert [d["id"] for d in answer["plan"]["scope"]] == [live.board, live.supply] and answer["answer"]
    both = _cli("--server", url, "ask", "What?", "--collection", "CLI set", "--doc", live.supply[:8])
    assert both.exit_code == 1 and "[scope_conflict]" in both.output
    missing = _cli("--server", url, "ask", "What?", "--collection", "Nope")
    assert missing.exit_code == 1 and "[collection_not_found]" in missing.output

    chat = _cli("--server", url, "chat", "--collection", "CLI set", input="What was decided?\n")
    assert chat.exit_code == 0, chat.output
    newest = live.call("GET", "/v1/conversations")["conversations"][0]
    assert newest["scope"] == "collection" and newest["collection"]["name"] == "CLI set"
    removed = _cli("--server", url, "collections", "remove", "CLI set", live.supply[:8])
    assert removed.exit_code == 0 and "removed" in removed.output
    renamed = _cli("--server", url, "collections", "rename", "CLI set", "CLI set 2")
    assert renamed.exit_code == 0 and "CLI set 2" in renamed.output
    assert _cli("--server", url, "collections", "delete", "CLI set 2").exit_code == 0
