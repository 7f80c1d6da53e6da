"""``folio --server URL ...``: every command against a running server (uvicorn in a thread, real HTTP), with
the same output, ``--json`` and exit codes as on the local index."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from folio.cli import cli
from tests.live_server import free_port, live_folio
from tests.service_helpers import SAMPLES, service_settings

MSA = SAMPLES / "northwind-brightwater-msa.pdf"


@pytest.fixture
def server(tmp_path, provider_double):
    double = provider_double()
    with live_folio(service_settings(tmp_path / "server", double)) as live:
        yield live


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def test_ingest_list_show_search_ask_delete_through_the_server(server, tmp_path):
    url = server.url
    ingest = _run("--server", url, "ingest", str(MSA), str(SAMPLES / "q3-2025-board-update.md"), "--json")
    assert ingest.exit_code == 0, ingest.output
    report = json.loads(ingest.stdout)
    assert report["failed"] == 0 and [r["status"] for r in report["results"]] == ["ingested", "ingested"]
    msa = report["results"][0]
    assert msa["file"] == str(MSA) and msa["pages"] == 6 and msa["chunks"] > 0 and msa["tokens"] > 0
    assert msa["title"]
    doc_id = msa["document_id"]
    # nothing was written locally: the server has it
    assert not (tmp_path / "data").exists()

    again = _run("--server", url, "ingest", str(MSA))
    assert again.exit_code == 0 and "1 skipped" in again.output and "[1/1]" in again.output

    listed = _run("--server", url, "documents", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert {r["id"] for r in rows} == {doc_id, report["results"][1]["document_id"]}
    table = _run("--server", url, "documents")
    assert "2 document(s)" in table.output and doc_id[:12] in table.output

    page = _run("--server", url, "show", doc_id[:8], "--page", "2", "--json")
    assert page.exit_code == 0
    shown = json.loads(page.stdout)
    assert shown["document_id"] == doc_id and shown["page_index"] == 1 and shown["text"]
    record = _run("--server", url, "show", doc_id[:8])
    assert f"id: {doc_id}" in record.output and "n_pages: 6" in record.output

    hits = _run("--server", url, "search", "termination for convenience notice", "-k", "3", "--doc", doc_id[:8],
                "--mode", "bm25", "--json")
    assert hits.exit_code == 0, hits.output
    found = json.loads(hits.stdout)
    assert len(found) == 3 and {h["doc_id"] for h in found} == {doc_id}
    assert {"chunk_index", "first_page", "heading", "text", "score", "title"} <= set(found[0])
    plain = _run("--server", url, "search", "termination for convenience notice", "-k", "2")
    assert plain.output.startswith("1. [") and "p." in plain.output

    asked = _run("--server", url, "ask", "What is the liability cap?", "--mode", "rag", "--doc", doc_id[:8])
    assert asked.exit_code == 0, asked.output
    assert asked.output.startswith("Searched ") and "\nroute: rag" in asked.output  # the plain sentence first
    assert "cost: $" in asked.output and "verified" in asked.output
    as_json = json.loads(_run("--server", url, "ask", "Who are the parties?", "--json").stdout)
    assert as_json["answer"] and as_json["cost"]["dollars"] > 0

    deleted = _run("--server", url, "delete", doc_id[:8])
    assert deleted.exit_code == 0 and deleted.output.startswith(f"deleted {doc_id[:12]}")
    assert doc_id not in _run("--server", url, "documents", "--json").output


def test_errors_and_exit_codes(server, tmp_path):
    url = server.url
    missing = _run("--server", url, "show", "ffffffffffff")
    assert missing.exit_code == 1 and "[document_not_found]" in missing.output
    bad = tmp_path / "notes.exe"
    bad.write_bytes(b"MZ\x90\x00 not a document")
    refused = _run("--server", url, "ingest", str(bad), "--json")
    assert refused.exit_code == 1
    result = json.loads(refused.stdout)["results"][0]
    assert result["status"] == "failed" and result["error"]["code"] == "unsupported_format"
    gone = _run("--server", url, "ingest", str(tmp_path / "absent.pdf"))
    assert gone.exit_code == 1 and "failed" in gone.output
    unreachable = _run("--server", f"http://127.0.0.1:{free_port()}", "documents")
    assert unreachable.exit_code == 1 and "cannot reach the Folio server" in unreachable.output
    assert "[store_unavailable]" in unreachable.output and "Traceback" not in unreachable.output
    both = _run("--server", url, "--data-dir", str(tmp_path), "documents")
    assert both.exit_code == 2 and "exclude each other" in both.output
    assert _run("--server", url, "serve").exit_code == 2
    not_a_url = _run("--server", "folio.internal", "documents")
    assert not_a_url.exit_code == 1 and "wants a URL" in not_a_url.output


def test_the_server_can_come_from_the_environment(server):
    listed = _run("documents", "--json", env={"FOLIO_SERVER": server.url})
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []


def test_a_server_with_keys_takes_the_key_from_the_environment(tmp_path, provider_double):
    from pydantic import SecretStr

    key = "cli-key-0123456789abcdef"
    settings = service_settings(tmp_path / "keyed", provider_double(), api_keys=SecretStr(f"{key}:acme"))
    with live_folio(settings) as live:
        refused = _run("--server", live.url, "documents")
        assert refused.exit_code == 1 and "unauthorized" in refused.output
        assert key not in refused.output
        listed = _run("--server", live.url, "documents", "--json", env={"FOLIO_API_KEY": key})
        assert listed.exit_code == 0 and json.loads(listed.stdout) == []
