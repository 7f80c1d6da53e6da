"""``folio serve --simulated-model``: the whole flow without an API key, the provider double as the model, and
every place a person sees its answers says they are simulated."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from folio.cli import cli
from folio.service.simulated import SIMULATED_NOTICE, run_simulated_model
from tests.service_helpers import SAMPLES, service, service_settings
from tests.ui_helpers import REPO, folio_server

QUESTION = "How much notice ends the agreement for convenience?"


def test_folio_serve_simulated_model_answers_with_route_usage_and_citations(tmp_path: Path):
    workdir = tmp_path / "server"
    with folio_server(workdir, serve_args=("--simulated-model",)) as base, \
            httpx.Client(base_url=base, timeout=60) as http:
        info = http.get("/v1/info").json()
        assert info["simulated_model"] is True and info["simulated_notice"] == SIMULATED_NOTICE
        assert info["llm_configured"] is True  # no FOLIO_LLM_* at all: the double is the model
        pdf = (SAMPLES / "northwind-brightwater-msa.pdf").read_bytes()
        response = http.post("/v1/documents", files=[("files", ("northwind-brightwater-msa.pdf", pdf))])
        assert response.status_code == 202, response.text
        job_id = response.json()["jobs"][0]["id"]
        for _ in range(600):
            job = http.get(f"/v1/jobs/{job_id}").json()
            if job["finished"]:
                break
            time.sleep(0.1)
        assert job["status"] == "done", job
        result = http.post("/v1/query", json={"question": QUESTION}).json()
        assert result["answer"] and result["route"] in ("rag", "full"), result
        usage = result["usage"]
        assert usage["miss_tokens"] > 0 and usage["output_tokens"] > 0
        assert result["cost"]["dollars"] > 0 and result["citations"]
        # the command line, asking the demo server, says so too
        asked = CliRunner().invoke(cli, ["--server", base, "ask", QUESTION], env={"FOLIO_SERVER": None})
        assert asked.exit_code == 0, asked.output
        assert f"note: {SIMULATED_NOTICE}" in asked.output
    log = (workdir / "server.log").read_text()
    assert SIMULATED_NOTICE in log and re.search(r"provider double on http://127\.0\.0\.1:\d+/v1", log), log
    assert re.search(r"Folio on http://\S+ .*\[SIMULATED MODEL\]", log), log
    # where the chunks are: a new data dir's Qdrant Edge folder, in the banner and the start-up line
    assert re.search(r"vectors: \S+/edge;", log) and re.search(r"folio ready: store \S+/edge,", log), log


def test_the_double_runs_for_as_long_as_the_block_and_the_settings_point_at_it(tmp_path: Path):
    settings = service_settings(tmp_path, None)
    assert not settings.llm_configured
    with run_simulated_model(settings) as (simulated, url):
        assert simulated.simulated_model and simulated.llm_base_url == url and simulated.llm_configured
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/models", timeout=5).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models", timeout=5)
    assert not settings.simulated_model  # the caller's settings are left as they were


@pytest.mark.parametrize("simulated", [False, True])
def test_v1_info_says_whether_answers_are_simulated(tmp_path: Path, simulated: bool):
    with service(service_settings(tmp_path, None, simulated_model=simulated)) as client:
        info = client.get("/v1/info").json()
    assert info["simulated_model"] is simulated
    assert info["simulated_notice"] == (SIMULATED_NOTICE if simulated else None)


def test_the_web_ui_shows_the_services_notice_in_a_banner_and_beside_the_answer():
    """Browser-free: the page has the banner, hidden until main.js reads /v1/info, which fills it with the service's
    own notice; every answer of a thread carries the label, shown when the service says its model is simulated
    (tests/ui/test_ui.py looks at both in a browser)."""
    html = (REPO / "ui" / "index.html").read_text()
    assert re.search(r'<p id="simulated-banner" class="notice banner" role="note" hidden>', html)
    main = (REPO / "ui" / "js" / "main.js").read_text()
    assert 'simulatedNode.textContent = info.simulated_notice || "";' in main
    assert "simulatedNode.hidden = !info.simulated_model;" in main and "setSimulated(info.simulated_model);" in main
    answer = (REPO / "ui" / "js" / "answer.js").read_text()
    assert '"Simulated: quoted by Folio\'s provider double, not written by a language model."' in answer
    assert 'node.hidden = !simulated;' in answer


def test_serve_documents_the_flag():
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0 and "--simulated-model" in result.output
    assert "folio serve --simulated-model" in result.output
