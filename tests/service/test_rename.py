"""Document titles: unique within a tenant, and renamed by the user; citations follow the new title (issue 21,
item 5)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from folio.cli import cli
from tests.pdfs import CONTRACT_PAGES, text_pdf, write
from tests.service_helpers import contract_pdf, service, service_settings, upload

QUESTION = "Which state's laws govern the agreement?"


def test_a_renamed_document_is_cited_by_its_new_title_and_is_a_new_prefix(tmp_path, provider_double):
    double = provider_double()
    with service(service_settings(tmp_path, double)) as client:
        doc_id = upload(client, "supply.pdf", contract_pdf())["document_id"]
        # the same title in another file: numbered, so that a citation names one document
        other = upload(client, "copy.pdf", text_pdf([*CONTRACT_PAGES, "Signed."], title="Master Supply Agreement"))
        titles = {d["id"]: d["title"] for d in client.get("/v1/documents").json()["documents"]}
        assert titles == {doc_id: "Master Supply Agreement", other["document_id"]: "Master Supply Agreement (2)"}
        before = client.post("/v1/query", json={"question": QUESTION, "mode": "full",
                                                "documents": [doc_id]}).json()
        assert before["citations"][0]["title"] == "Master Supply Agreement"

        taken = client.patch(f"/v1/documents/{doc_id[:8]}", json={"title": "master supply agreement (2)"})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "title_taken"
        renamed = client.patch(f"/v1/documents/{doc_id[:8]}", json={"title": "  Alder-Birchwood   Supply  "})
        assert renamed.status_code == 200 and renamed.json()["title"] == "Alder-Birchwood Supply"
        assert client.get(f"/v1/documents/{doc_id}").json()["title"] == "Alder-Birchwood Supply"

        plan = client.post("/v1/plan", json={"question": QUESTION, "mode": "full", "documents": [doc_id]}).json()
        assert plan["plan"]["prefix_hash"] != before["plan"]["prefix_hash"]  # the documents block changed
        after = client.post("/v1/query", json={"question": QUESTION, "mode": "full", "documents": [doc_id]}).json()
        cited = after["citations"][0]
        assert cited["title"] == "Alder-Birchwood Supply" and cited["document_id"] == doc_id and cited["verified"]
        assert client.patch("/v1/documents/ffffffffff", json={"title": "x"}).status_code == 404
        assert client.patch(f"/v1/documents/{doc_id}", json={"title": ""}).status_code == 422


def test_folio_rename_on_the_command_line(tmp_path):
    env = {"FOLIO_EMBED_MODEL": "hash-64", "FOLIO_INGEST_WORKERS": "0", "FOLIO_DATA_DIR": str(tmp_path / "data")}
    write(tmp_path / "in" / "contract.pdf", text_pdf(CONTRACT_PAGES, title="Supply Agreement"))
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(tmp_path / "in")], env=env).exit_code == 0
    listed = runner.invoke(cli, ["documents", "--json"], env=env)
    doc_id = json.loads(listed.output)[0]["id"]
    done = runner.invoke(cli, ["rename", doc_id[:8], "Alder supply contract"], env=env)
    assert done.exit_code == 0 and done.output == f"renamed {doc_id[:12]} to Alder supply contract\n"
    missing = runner.invoke(cli, ["rename", "abcdef12", "x"], env=env)
    assert missing.exit_code == 1 and "[document_not_found]" in missing.output and "Traceback" not in missing.output
