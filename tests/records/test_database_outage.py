"""The records' database at the edges: a wrong FOLIO_DATABASE_URL is a clear start-up error naming the setting,
never a traceback; a PostgreSQL that goes away is a 503 with a stable code wherever records are needed, and
everything works again when it is back, without a restart."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from folio.cli import cli
from tests.live_server import live_folio
from tests.postgres import PostgresServer
from tests.service_helpers import contract_pdf, service_settings

QUESTION = {"question": "Which state's law governs the agreement?", "mode": "rag"}


def test_folio_documents_with_a_wrong_database_url_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "documents"],
                                env={"FOLIO_DATABASE_URL": "mysql://folio:hunter2@db/folio"})
    assert result.exit_code == 1
    assert "FOLIO_DATABASE_URL" in result.output and "[database_config]" in result.output
    assert "Traceback" not in result.output and "hunter2" not in result.output


def test_folio_serve_with_a_wrong_database_url_does_not_start(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", "--port", "0"],
                                env={"FOLIO_DATABASE_URL": "postgresql+psycopg://folio@db"})
    assert result.exit_code == 2 and "FOLIO_DATABASE_URL names no database" in result.output
    assert "Traceback" not in result.output


def test_folio_serve_with_a_database_that_does_not_exist_does_not_start(tmp_path: Path,
                                                                      postgres_server: PostgresServer) -> None:
    url = postgres_server.url("no_such_database")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", "--port", "0"],
                                env={"FOLIO_DATABASE_URL": url})
    assert result.exit_code == 2, result.output
    assert "FOLIO_DATABASE_URL" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


def _unavailable(response: httpx.Response) -> bool:
    return (response.status_code == 503 and response.json()["error"]["code"] == "database_unavailable"
            and response.headers.get("Retry-After") == "5")


def test_a_postgresql_that_goes_away_is_503_and_comes_back_without_a_restart(
        tmp_path: Path, postgres_server: PostgresServer, postgres_url: str, provider_double) -> None:
    settings = service_settings(tmp_path, provider_double(), database_url=postgres_url)
    with live_folio(settings) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        done = http.post("/v1/documents?wait=true", files=[("files", ("msa.pdf", contract_pdf()))]).json()
        doc_id = done["jobs"][0]["document_id"]
        assert http.post("/v1/query", json=QUESTION).status_code == 200
        spent = http.get("/v1/ledger").json()["totals"]["dollars"]

        postgres_server.stop()
        for path in ("/v1/documents", f"/v1/documents/{doc_id}", f"/v1/documents/{doc_id}/pages/1", "/v1/jobs",
                     "/v1/ledger"):
            assert _unavailable(http.get(path)), path
        assert _unavailable(http.post("/v1/query", json=QUESTION))
        assert _unavailable(http.post("/v1/search", json={"query": "governing law"}))
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["qdrant"] == "ok"
        assert "cannot be used" in ready.json()["checks"]["database"]
        assert http.get("/healthz").json() == {"status": "ok"}  # the process itself is fine

        postgres_server.start()
        assert http.get("/readyz").status_code == 200  # the pool drops the dead connections by itself
        assert [d["id"] for d in http.get("/v1/documents").json()["documents"]] == [doc_id]
        answer = http.post("/v1/query", json=QUESTION)
        assert answer.status_code == 200 and "Oregon" in answer.json()["answer"]
        assert http.get("/v1/ledger").json()["totals"]["dollars"] == pytest.approx(
            spent + answer.json()["cost"]["dollars"])
