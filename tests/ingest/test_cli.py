from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from folio.config import Settings
from folio.ingest.cli import cli
from folio.ingest.progress import plural
from tests.conftest import held_by_another_process
from tests.pdfs import CONTRACT_PAGES, text_pdf, write


@pytest.fixture
def run(tmp_path: Path):
    runner = CliRunner()
    env = {"FOLIO_EMBED_MODEL": "hash-64", "FOLIO_INGEST_WORKERS": "0", "FOLIO_DATA_DIR": str(tmp_path / "data")}

    def invoke(*args: str):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_help_shows_examples(run):
    result = run("ingest", "--help")
    assert result.exit_code == 0
    assert "folio ingest samples/" in result.output


def test_ingest_list_show_search_delete(run, tmp_path):
    write(tmp_path / "in" / "contract.pdf", text_pdf(CONTRACT_PAGES, title="Supply Agreement"))
    write(tmp_path / "in" / "memo.txt", b"The warehouse lease ends in June 2027. " * 20)
    result = run("ingest", str(tmp_path / "in"))
    assert result.exit_code == 0, result.output
    assert "[2/2]" in result.output and "2 ingested" in result.output

    listing = json.loads(run("documents", "--json").output)
    assert sorted(d["file_name"] for d in listing) == ["contract.pdf", "memo.txt"]
    contract = next(d for d in listing if d["file_name"] == "contract.pdf")
    assert "pages" not in contract and contract["n_pages"] == 3

    table = run("documents").output
    assert "Supply Agreement" in table and contract["id"][:12] in table

    page = run("show", contract["id"][:10], "--page", "3")
    assert page.exit_code == 0 and "State of Oregon" in page.output

    hits = json.loads(run("search", "governing law Oregon", "-k", "1", "--json").output)
    assert hits[0]["doc_id"] == contract["id"] and hits[0]["first_page"] <= 2 <= hits[0]["last_page"]

    deleted = run("delete", contract["id"][:8])
    assert deleted.exit_code == 0 and "deleted" in deleted.output
    assert [d["file_name"] for d in json.loads(run("documents", "--json").output)] == ["memo.txt"]


def test_exit_codes_and_json_report(run, tmp_path):
    good = write(tmp_path / "ok.pdf", text_pdf(CONTRACT_PAGES))
    bad = write(tmp_path / "broken report.pdf", b"%PDF-1.4 garbage")
    result = run("ingest", str(good), str(bad), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["failed"] == 1
    failed = next(r for r in report["results"] if r["status"] == "failed")
    assert failed["error"]["code"] == "corrupt_file" and failed["file"].endswith("broken report.pdf")

    plain = run("ingest", str(bad))
    assert plain.exit_code == 1
    assert "FAILED" in plain.output and "broken report.pdf" in plain.output and "[corrupt_file]" in plain.output
    assert "Traceback" not in plain.output

    assert run("ingest", str(good)).exit_code == 0  # unchanged: skipped, still success
    assert run("ingest").exit_code == 2  # usage error
    assert run("ingest", str(tmp_path / "nothing-here")).exit_code == 1  # missing file is a failed input
    (tmp_path / "empty-dir").mkdir()
    empty = run("ingest", str(tmp_path / "empty-dir"))
    assert empty.exit_code == 2 and "no supported files" in empty.output


def test_unknown_document_is_one_line(run):
    result = run("show", "deadbeefdeadbeef")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "folio: error: no document with an id starting 'deadbeefdeadbeef' [document_not_found]"]


def test_locked_store_is_one_clear_line(tmp_path):
    data = tmp_path / "data"
    with held_by_another_process(Settings(data_dir=data)):
        proc = subprocess.run([sys.executable, "-m", "folio.ingest.cli", "--data-dir", str(data), "documents"],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "another Folio process" in proc.stderr and "[store_locked]" in proc.stderr


RAW = ("\x1b", "\x07", "\u202e")  # ESC (starts "ESC[31m"), BEL and RIGHT-TO-LEFT OVERRIDE


def test_names_are_shown_escaped_never_sent_raw_to_the_terminal(run, tmp_path):
    """A file name (and a title) holding an escape sequence, a bell and a bidi override: every line the CLI
    prints shows them escaped, keeping the name's accents, spaces and commas; --json stays valid and exact."""
    good = write(tmp_path / "in" / "Contrat signé, v2 \x1b[31mrouge\x07 \u202etxt.exe.txt",
                 "Bail \x1b[2J\u202e commercial [/]\n\nLe loyer est payable le premier jour du mois.\n".encode())
    bad = write(tmp_path / "in" / "rapport \x1b]0;pwned\x07 final.pdf", b"%PDF-1.4 garbage")
    shown_good = "Contrat signé, v2 \\x1b[31mrouge\\x07 \\u202etxt.exe.txt"

    plain = run("ingest", str(good), str(bad))
    assert plain.exit_code == 1
    assert not any(ch in plain.output for ch in RAW)
    lines = plain.output.splitlines()
    assert f"[1/2] ingested {tmp_path / 'in'}/{shown_good}: 1 page, " in plain.output
    assert any(line.startswith(f"[2/2] FAILED {tmp_path / 'in'}/rapport \\x1b]0;pwned\\x07 final.pdf: ")
               and line.endswith("[corrupt_file]") for line in lines)

    as_json = run("ingest", str(good), str(bad), "--json")
    assert as_json.exit_code == 1
    assert not any(ch in as_json.output for ch in RAW)  # stdout and the progress lines on stderr
    report = json.loads(as_json.stdout)
    assert [(r["file"], r["status"]) for r in report["results"]] == [(str(good), "skipped"), (str(bad), "failed")]

    listing = run("documents")
    assert listing.exit_code == 0 and "1 document(s)" in listing.output
    assert not any(ch in listing.output for ch in RAW)
    [record] = json.loads(run("documents", "--json").output)
    assert record["title"] == "Bail \x1b[2J\u202e commercial [/]"  # the title is the text's, as it is

    shown = run("show", record["id"][:12])
    assert not any(ch in shown.output for ch in RAW)
    assert "title: Bail \\x1b[2J\\u202e commercial [/]\n" in shown.output

    hits = run("search", "loyer payable", "-k", "1")
    assert hits.exit_code == 0 and not any(ch in hits.output for ch in RAW)
    assert hits.output.startswith("1. [Bail \\x1b[2J\\u202e commercial [/] p.1]")

    deleted = run("delete", record["id"][:12])
    assert deleted.output == f"deleted {record['id'][:12]} Bail \\x1b[2J\\u202e commercial [/] (1 chunk)\n"


def test_counts_agree_with_their_nouns():
    assert [plural(1, "page"), plural(2, "page"), plural(0, "chunk"), plural(1234, "token")] == [
        "1 page", "2 pages", "0 chunks", "1,234 tokens"]
    assert plural(1, "older version") == "1 older version" and plural(3, "older version") == "3 older versions"


def test_a_large_local_index_is_explained_in_folios_words(tmp_path):
    """Past the size local mode is made for, Qdrant's own UserWarning (with its source line) stays out of the
    output and Folio says once what it means and what to do. A real process, so that warnings print as they
    would; its thresholds lowered to this test's size."""
    write(tmp_path / "in" / "memo.txt", b"The warehouse lease ends in June 2027. " * 200)
    script = (
        "import sys\n"
        "from qdrant_client.local.local_collection import LocalCollection\n"
        "from folio.index import connection\n"
        "from folio.cli import main\n"
        "LocalCollection.LARGE_DATA_THRESHOLD = 1\n"
        "connection.LOCAL_MODE_POINTS = 1\n"
        f"sys.argv = ['folio', 'ingest', {str(tmp_path / 'in')!r}]\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env.update(FOLIO_EMBED_MODEL="hash-64", FOLIO_INGEST_WORKERS="0", FOLIO_DATA_DIR=str(tmp_path / "data"),
               FOLIO_INDEX_ENGINE="local")  # an older data dir's index (a new one is Qdrant Edge)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Local mode is not recommended" not in output and "UserWarning" not in output
    assert output.count("past the ~1 that Qdrant's local mode is made for") == 1
    assert "FOLIO_QDRANT_URL" in output
