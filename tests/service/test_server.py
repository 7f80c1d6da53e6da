"""`folio serve` as a real process (uvicorn) and `folio ask`, against the provider double over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from folio.cli import cli
from tests.service_helpers import SAMPLES
from tests.ui_helpers import wait_until_ready


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, double) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env.update(FOLIO_DATA_DIR=str(tmp_path / "data"), FOLIO_EMBED_MODEL="hash-64", FOLIO_LLM_BASE_URL=double.base_url,
               FOLIO_LLM_API_KEY="sk-test-secret-123", FOLIO_LLM_MODEL="deepseek-chat", HF_HUB_OFFLINE="1",
               FOLIO_PRICING_PROFILE="deepseek-v4-flash-compat")
    return env


@pytest.fixture
def server(tmp_path, provider_double):
    double = provider_double()
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "folio.cli", "serve", "--port", str(port)],
                            env=_env(tmp_path, double), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, proc, tmp_path / "server.log")
        yield base, double, tmp_path / "server.log"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_upload_poll_stream_and_secrets_stay_out_of_logs(server):
    base, double, log_path = server
    with httpx.Client(base_url=base, timeout=60) as http:
        pdf = (SAMPLES / "northwind-brightwater-msa.pdf").read_bytes()
        response = http.post("/v1/documents", files=[("files", ("Northwind MSA (signed), v2.pdf", pdf))])
        assert response.status_code == 202
        job_id = response.json()["jobs"][0]["id"]
        for _ in range(300):
            job = http.get(f"/v1/jobs/{job_id}").json()
            if job["finished"]:
                break
            time.sleep(0.1)
        assert job["status"] == "done" and job["pages"] == 6, job
        events = []
        with http.stream("POST", "/v1/query", json={"question": "How much notice ends the agreement for "
                                                    "convenience?", "stream": True, "mode": "full"}) as stream:
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line.removeprefix("data: "))))
        kinds = [k for k, _ in events]
        assert kinds[0] == "plan" and kinds[-1] == "done" and "delta" in kinds
        done = events[-1][1]
        assert done["route"] == "full" and done["citations"] and done["citations"][0]["verified"] is True
        assert done["cost"]["dollars"] > 0
        ledger = http.get("/v1/ledger").json()
        assert ledger["totals"]["dollars"] == pytest.approx(done["cost"]["dollars"])
        assert "sk-test-secret-123" not in json.dumps(ledger)
        # every provider request carries the tenant's cache-isolation id, never a person's
        assert {r["user"] for r in double.requests()} == {"folio"}
        assert http.get("/docs").status_code == 200
        assert http.get("/openapi.json").json()["paths"]["/v1/query"]
    assert "sk-test-secret-123" not in log_path.read_text()


def test_folio_ask_prints_route_cost_and_citations(tmp_path, provider_double):
    double = provider_double()
    env = _env(tmp_path, double)
    runner = CliRunner()
    ingest = runner.invoke(cli, ["ingest", str(SAMPLES / "northwind-brightwater-msa.pdf")], env=env)
    assert ingest.exit_code == 0, ingest.output
    result = runner.invoke(cli, ["ask", "What is the liability cap?", "--mode", "rag"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Searched “") and "\nroute: rag" in result.output  # the plain sentence first
    assert "cost: $" in result.output and "verified" in result.output
    as_json = runner.invoke(cli, ["ask", "Who are the parties?", "--json"], env=env)
    data = json.loads(as_json.output)
    assert data["route"] in ("rag", "full") and data["answer"]
    missing = runner.invoke(cli, ["ask", "x?", "--doc", "ffffffffff"], env=env)
    assert missing.exit_code == 1 and "[document_not_found]" in missing.output
