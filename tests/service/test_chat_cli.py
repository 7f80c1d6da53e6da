"""``folio chat`` and ``folio ask --conversation``: a conversation on the command line, on the local index (the
runtime, the hash embedder and the provider double over real HTTP) and through a running server."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from folio.cli import cli
from folio.ingest.remote import sse_events
from folio.service.chat_cli import TurnPrinter
from folio.service.schemas.answer import Answer
from tests.live_server import live_folio
from tests.service_helpers import SAMPLES, contract_pdf, service_settings

QUESTIONS = ["What is the governing law of the agreement?", "And which courts hear disputes?",
             "What notice does it require for termination?"]
STATUS = re.compile(r"^(rag|full|coverage) · \$(\d+\.\d{5}) · ([\d,]+) of ([\d,]+) prompt tokens from the cache$",
                    re.MULTILINE)
LEAVING = re.compile(r"^conversation ([0-9a-f]+) \((\d+) turns?, \$(\d+\.\d{5})\); "
                     r"continue it with: folio chat --conversation \1$", re.MULTILINE)


@pytest.fixture
def double(provider_double):
    return provider_double()


def _env(tmp_path, double=None):
    env = {"FOLIO_DATA_DIR": str(tmp_path / "data"), "FOLIO_EMBED_MODEL": "hash-64", "FOLIO_INGEST_WORKERS": "0"}
    if double is not None:
        env.update(FOLIO_LLM_BASE_URL=double.base_url, FOLIO_LLM_API_KEY="sk-test", FOLIO_LLM_MODEL="deepseek-chat",
                   FOLIO_PRICING_PROFILE="deepseek-v4-flash-compat")
    return env


def _documents(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "supply.pdf").write_bytes(contract_pdf())
    shutil.copy(SAMPLES / "amendment-1.docx", folder)
    return folder


def _ingest(runner, env, folder, *server):
    assert runner.invoke(cli, [*server, "ingest", str(folder)], env=env).exit_code == 0
    listed = runner.invoke(cli, [*server, "documents", "--json"], env=env)
    return {Path(r["file_name"]).name: r for r in json.loads(listed.stdout)}


def test_a_three_question_chat_with_cost_and_scope_then_ask_continues_it(tmp_path, double):
    runner = CliRunner()
    env = _env(tmp_path, double)
    docs = _ingest(runner, env, _documents(tmp_path))
    supply = docs["supply.pdf"]
    lines = [QUESTIONS[0], QUESTIONS[1], "/cost", f"/scope {supply['id'][:8]}", QUESTIONS[2], "/cost"]
    chat = runner.invoke(cli, ["chat", "--mode", "full"], env=env, input="\n".join(lines) + "\n")
    assert chat.exit_code == 0, chat.output
    out = chat.stdout
    assert "Traceback" not in chat.output and "folio>" not in out and chat.stderr == ""  # piped: no prompt
    statuses = STATUS.findall(out)
    assert [s[0] for s in statuses] == ["full", "full", "full"], out
    hits = [int(s[2].replace(",", "")) for s in statuses]
    assert hits[0] == 0 and hits[1] > 0  # the second turn reads the first one's prompt from the cache
    assert re.search(r"^  \[(Master Supply Agreement|Amendment No\. 1 .*) p\.\d+\] verified$", out, re.MULTILINE)
    # every answer was streamed from the model, and printed once
    requests = double.requests()
    assert requests and all(r["stream"] for r in requests)
    # /cost: the turns so far and the ledger's dollars, the same
    costs = re.findall(r"^conversation [0-9a-f]+: (\d) turns, \$(\S+)$", out, re.MULTILINE)
    assert [c[0] for c in costs] == ["2", "3"]
    ledger = re.findall(r"^ledger: \$(\S+) in (\d+) requests billed to this conversation$", out, re.MULTILINE)
    assert [d for d, _ in ledger] == [d for _, d in costs] and float(costs[-1][1]) > 0
    assert re.search(r"^  turn 3  full +\$\d\.\d{5}  What notice does it require", out, re.MULTILINE)
    # /scope: the new scope and what it does to the cache
    assert "scope: 1 document: Master Supply Agreement\n" in out
    assert re.search(r"^cache: the thread has read whole documents, so its next whole-documents turn starts a new "
                     r"prefix", out, re.MULTILINE)
    # EOF: the id, to continue it
    leaving = LEAVING.search(out)
    assert leaving and leaving.group(2) == "3" and leaving.group(3) == costs[-1][1], out
    conversation_id = leaving.group(1)

    asked = runner.invoke(cli, ["ask", "--conversation", conversation_id, "Can either party assign it?"], env=env)
    assert asked.exit_code == 0, asked.output
    head, sentence, route = asked.stdout.splitlines()[:3]  # the turn, the plain sentence, then the route
    assert head == f"conversation {conversation_id}: turn 4" and "$" in sentence and route.startswith("route: ")
    assert "cost: $" in asked.stdout and "Master Supply Agreement p." in asked.stdout
    as_json = runner.invoke(cli, ["ask", "--conversation", conversation_id, "What about confidentiality?",
                                  "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.stdout)
    assert result["conversation_id"] == conversation_id and result["turn"] == 5 and result["recorded"] is True
    assert result["conversation"]["turns"] == 5 and result["conversation"]["scope"] == "documents"

    # continued in the chat: its scope kept, its next turn the sixth
    again = runner.invoke(cli, ["chat", "--conversation", conversation_id], env=env,
                          input="/scope\nAnd the notice period again?\n/exit\nnot asked\n")
    assert again.exit_code == 0, again.output
    assert "scope: 1 document: Master Supply Agreement\n" in again.stdout
    assert len(STATUS.findall(again.stdout)) == 1
    assert LEAVING.search(again.stdout).group(2) == "6"


def test_unknown_ids_are_one_line_and_errors_in_the_chat_let_it_go_on(tmp_path, double):
    runner = CliRunner()
    env = _env(tmp_path, double)
    docs = _ingest(runner, env, _documents(tmp_path))
    for args in (["chat", "--conversation", "nope"], ["ask", "--conversation", "nope", "Anything?"]):
        missing = runner.invoke(cli, args, env=env, input=QUESTIONS[0] + "\n")
        assert missing.exit_code == 1, missing.output
        assert missing.stdout == "" and "Traceback" not in missing.output
        assert missing.stderr.count("\n") == 1 and "[conversation_not_found]" in missing.stderr
    both = runner.invoke(cli, ["ask", "--conversation", "nope", "--doc", "abc123", "x"], env=env)
    assert both.exit_code == 2 and "exclude each other" in both.output

    amendment = docs["amendment-1.docx"]
    lines = ["/scope ffffffffffff", "/bogus", "/cost", QUESTIONS[0], "/new", "/exit"]
    chat = runner.invoke(cli, ["chat", "--doc", amendment["id"][:8], "--max-cost", "0.0000001"], env=env,
                         input="\n".join(lines) + "\n")
    assert chat.exit_code == 0, chat.output
    errors = chat.stderr.splitlines()
    assert len(errors) == 3 and "Traceback" not in chat.output
    assert "[document_not_found]" in errors[0] and "unknown command /bogus" in errors[1]
    assert "[over_budget]" in errors[2]
    assert "0 turns, $0.00000" in chat.stdout
    new = re.search(r"^new conversation ([0-9a-f]+) over 1 document: Amendment", chat.stdout, re.MULTILINE)
    assert new and LEAVING.search(chat.stdout).group(1) == new.group(1)

    # every document of the scope deleted: the turn is refused in one line, /scope all goes on
    conversation_id = new.group(1)
    assert runner.invoke(cli, ["delete", amendment["id"]], env=env).exit_code == 0
    emptied = runner.invoke(cli, ["chat", "--conversation", conversation_id], env=env,
                            input=f"{QUESTIONS[0]}\n/new\n/scope all\n{QUESTIONS[0]}\n")
    assert emptied.exit_code == 0, emptied.output
    errors = emptied.stderr.splitlines()
    assert len(errors) == 2 and "[scope_empty]" in errors[0] and "/scope all" in errors[0]
    assert "documents is left" in errors[1]
    assert "scope: all documents (1 now)" in emptied.stdout and len(STATUS.findall(emptied.stdout)) == 1


def test_without_a_model_the_chat_prints_the_plan_and_the_hint(tmp_path):
    runner = CliRunner()
    env = _env(tmp_path)
    _ingest(runner, env, _documents(tmp_path))
    chat = runner.invoke(cli, ["chat"], env=env, input=QUESTIONS[0] + "\n")
    assert chat.exit_code == 0, chat.output
    assert chat.stdout.startswith("No model is configured, so nothing was asked") and "\nroute: " in chat.stdout
    assert "No language model is configured" in chat.stdout
    assert "retrieved:" in chat.stdout and LEAVING.search(chat.stdout).group(2) == "0"


def test_a_chat_through_the_server_streams_its_turns(tmp_path, double):
    runner = CliRunner()
    with live_folio(service_settings(tmp_path / "server", double)) as live:
        server = ["--server", live.url]
        env = {"FOLIO_SERVER": None}
        docs = _ingest(runner, env, _documents(tmp_path), *server)
        supply = docs["supply.pdf"]
        chat = runner.invoke(cli, [*server, "chat", "--doc", supply["id"][:8], "--mode", "full"], env=env,
                             input=f"{QUESTIONS[0]}\n{QUESTIONS[1]}\n/cost\n/scope all\n")
        assert chat.exit_code == 0, chat.output
        out = chat.stdout
        statuses = STATUS.findall(out)
        assert len(statuses) == 2 and int(statuses[1][2].replace(",", "")) > 0, out
        assert "Master Supply Agreement p." in out and "verified" in out
        assert re.search(r"^ledger: \$\S+ in 2 requests billed to this conversation$", out, re.MULTILINE)
        assert "scope: all documents (2 now)" in out
        conversation_id = LEAVING.search(out).group(1)
        assert all(r["stream"] for r in double.requests())
        asked = runner.invoke(cli, [*server, "ask", "--conversation", conversation_id, QUESTIONS[2], "--json"],
                              env=env)
        assert asked.exit_code == 0, asked.output
        assert json.loads(asked.stdout)["turn"] == 3
        missing = runner.invoke(cli, [*server, "chat", "--conversation", "nope"], env=env, input="")
        assert missing.exit_code == 1 and "[conversation_not_found]" in missing.stderr
        assert missing.stderr.count("\n") == 1


def test_sse_lines_become_events():
    lines = ["event: plan", 'data: {"a": 1}', "", ": ping", "event: delta", 'data: {"text": "x"}', "",
             "event: done", 'data: {"b": 2}']
    assert list(sse_events(lines)) == [("plan", {"a": 1}), ("delta", {"text": "x"}), ("done", {"b": 2})]


def test_a_cascade_that_escalates_prints_the_answer_it_ends_with(capsys):
    printer = TurnPrinter()
    printer.event("delta", {"text": "Not in the excerpts."})
    printer.event("escalation", {"kind": "escalation", "reason": "the excerpts could not answer"})
    printer.event("delta", {"text": "Delaware law"})
    printer.event("delta", {"text": " governs."})
    answer = Answer.model_construct(route="full", answer="Delaware law governs.", citations=[], events=[],
                                    usage=None, cost=None)
    printer.finish(answer)
    assert capsys.readouterr().out == ("Not in the excerpts.\nescalation: the excerpts could not answer\n"
                                       "Delaware law governs.\nfull\n")
