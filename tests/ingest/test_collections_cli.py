"""``folio collections ...`` on the local records (the same commands through a running server, and
``--collection`` on ``ingest``, ``ask`` and ``chat``, are in ``tests/service/test_collections.py``, on its live
server)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from folio.cli import cli
from folio.config import Settings
from folio.records import DocumentRecord
from folio.records.database import Database
from folio.records.sql_documents import SqlDocuments
from tests.service_helpers import SAMPLES

MSA = SAMPLES / "northwind-brightwater-msa.pdf"
BOARD = SAMPLES / "q3-2025-board-update.md"
AMENDMENT = SAMPLES / "amendment-1.docx"


def _run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    return CliRunner().invoke(cli, list(args), env=env, input=input)


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_collections_on_the_local_records(tmp_path: Path) -> None:
    env = {"FOLIO_EMBED_MODEL": "hash-64", "FOLIO_INGEST_WORKERS": "0", "FOLIO_DATA_DIR": str(tmp_path / "data")}
    # two ready documents in the local records (written as the store writes them: the CLI's collections open
    # only the records' database; `ingest --collection` itself is run through the server below, 20 s cheaper)
    database = Database.from_settings(Settings(data_dir=tmp_path / "data"))
    documents = SqlDocuments(database)
    minutes, lease = "1" * 64, "2" * 64
    for doc_id, title in ((minutes, "Minutes"), (lease, "Lease")):
        documents.begin(DocumentRecord(id=doc_id, file_name=f"{title}.txt", title=title, format="txt", size_bytes=9,
                                       n_pages=1, total_tokens=3, page_tokens=[3], status="writing",
                                       ingested_at="2026-01-01T00:00:00+00:00", embed_model="hash-64",
                                       pages=["text"]))
        documents.finish(doc_id, 1, {})
    database.close()
    _json(_run("collections", "create", "Deal room", minutes[:8], lease[:8], "--json", env=env))
    shown = _json(_run("collections", "show", "Deal room", "--json", env=env))
    assert [d["id"] for d in shown["items"]] == [minutes, lease]
    assert "Deal room  (2 documents)" in _run("collections", "list", env=env).output

    removed = _json(_run("collections", "remove", "Deal room", minutes[:8], "--json", env=env))
    assert removed["removed"] is True
    added = _json(_run("collections", "add", "Deal room", minutes[:8], "--json", env=env))
    assert [d["id"] for d in added["collection"]["items"]] == [lease, minutes]  # back, at the end
    text = _run("collections", "show", "Deal room", env=env).output
    assert "1. " + lease[:12] in text and "2. " + minutes[:12] in text

    taken = _run("collections", "create", "Deal room", env=env)
    assert taken.exit_code == 1 and "[collection_name_taken]" in taken.output
    missing = _run("collections", "add", "Nope", lease[:8], env=env)
    assert missing.exit_code == 1 and "[collection_not_found]" in missing.output
    assert _run("collections", "rename", "Deal room", "Closing set", env=env).exit_code == 0
    deleted = _run("collections", "delete", "Closing set", env=env)
    assert deleted.exit_code == 0 and "2 documents; they stay" in deleted.output
    assert "no collections yet" in _run("collections", "list", env=env).output
