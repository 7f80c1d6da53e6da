"""``folio collections ...`` and ``--collection`` on ``ingest``, ``ask`` and ``chat``: on the local records and
through a running server (uvicorn in a thread, real HTTP), with the same output and ``--json``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from click.testing import CliRunner

from folio.cli import cli
from tests.live_server import live_folio
from tests.service_helpers import SAMPLES, service_settings

MSA = SAMPLES / "northwind-brightwater-msa.pdf"
BOARD = SAMPLES / "q3-2025-board-update.md"
AMENDMENT = SAMPLES / "amendment-1.docx"


def _run(*args: str, env: dict[str, str] | None = None, input: str | None = None):  # noqa: A002
    return CliRunner().invoke(cli, list(args), env=env, input=input)


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_collections_on_the_local_records(tmp_path: Path) -> None:
    env = {"FOLIO_EMBED_MODEL": "hash-64", "FOLIO_INGEST_WORKERS": "0", "FOLIO_DATA_DIR": str(tmp_path / "data")}
    report = _json(_run("ingest", str(BOARD), str(AMENDMENT), "--collection", "Deal room", "--json", env=env))
    board, amendment = (r["document_id"] for r in report["results"])
    shown = _json(_run("collections", "show", "Deal room", "--json", env=env))
    assert [d["id"] for d in shown["items"]] == [board, amendment]
    assert "Deal room  (2 documents)" in _run("collections", "list", env=env).output

    removed = _json(_run("collections", "remove", "Deal room", board[:8], "--json", env=env))
    assert removed["removed"] is True
    added = _json(_run("collections", "add", "Deal room", board[:8], "--json", env=env))
    assert [d["id"] for d in added["collection"]["items"]] == [amendment, board]  # back, at the end
    plan = _json(_run("ask", "What does the amendment change?", "--collection", "Deal room", "--json", env=env))
    assert [d["id"] for d in plan["plan"]["scope"]] == [amendment, board]  # the order they joined
    assert plan["plan"]["collection"]["name"] == "Deal room"

    taken = _run("collections", "create", "Deal room", env=env)
    assert taken.exit_code == 1 and "[collection_name_taken]" in taken.output
    missing = _run("ask", "What?", "--collection", "Nope", env=env)
    assert missing.exit_code == 1 and "[collection_not_found]" in missing.output
    assert _run("collections", "rename", "Deal room", "Closing set", env=env).exit_code == 0
    deleted = _run("collections", "delete", "Closing set", env=env)
    assert deleted.exit_code == 0 and "2 documents; they stay" in deleted.output
    assert "no collections yet" in _run("collections", "list", env=env).output


def test_collections_through_the_server(tmp_path: Path, provider_double) -> None:
    double = provider_double()
    with live_folio(service_settings(tmp_path / "server", double)) as live:
        url = live.url
        report = _json(_run("--server", url, "ingest", str(MSA), "--collection", "Filings", "--json"))
        msa = report["results"][0]["document_id"]
        board = _json(_run("--server", url, "ingest", str(BOARD), "--json"))["results"][0]["document_id"]
        created = _json(_run("--server", url, "collections", "create", "Board", board[:8], "--json"))
        assert [d["id"] for d in created["items"]] == [board]
        added = _json(_run("--server", url, "collections", "add", "Filings", board[:8], "--json"))
        assert [d["id"] for d in added["collection"]["items"]] == [msa, board]
        listed = _json(_run("--server", url, "collections", "list", "--json"))
        assert [(c["name"], c["documents"]) for c in listed["collections"]] == [("Board", 1), ("Filings", 2)]
        text = _run("--server", url, "collections", "show", "Filings").output
        assert "1. " + msa[:12] in text and "2. " + board[:12] in text

        answer = _json(_run("--server", url, "ask", "What is the governing law?", "--collection", "Filings",
                            "--mode", "full", "--json"))
        assert [d["id"] for d in answer["plan"]["scope"]] == [msa, board] and answer["answer"]
        both = _run("--server", url, "ask", "What?", "--collection", "Filings", "--doc", msa[:8])
        assert both.exit_code == 1 and "[scope_conflict]" in both.output

        chat = _run("--server", url, "chat", "--collection", "Board", input="What was decided?\n")
        assert chat.exit_code == 0, chat.output
        conversation = httpx.get(f"{url}/v1/conversations").json()["conversations"][0]
        assert conversation["scope"] == "collection" and conversation["collection"]["name"] == "Board"
        assert [d["id"] for d in conversation["documents"]] == [board]
        removed = _run("--server", url, "collections", "remove", "Filings", board[:8])
        assert removed.exit_code == 0 and "removed" in removed.output
        assert _run("--server", url, "collections", "delete", "Board").exit_code == 0
