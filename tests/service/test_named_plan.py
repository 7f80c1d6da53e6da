"""A question that names one of the library's documents: the plan says so, and that document's passages lead
the retrieval (``folio.retrieval.named_lane``), through the REST API."""

from __future__ import annotations

from tests.pdfs import text_pdf
from tests.service_helpers import service, service_settings, upload

CLAUSES = ("1. Term. This agreement runs for three years from the effective date and renews for one-year terms.\n"
           "2. Termination. Either party may terminate on ninety days' written notice.\n"
           "3. Payment. Invoices are due within thirty days of receipt.")


def test_the_plan_names_the_document_the_question_names(tmp_path):
    with service(service_settings(tmp_path, None)) as client:
        for who, kind in (("Northwind Traders", "Supply"), ("Contoso Pharmaceuticals", "Distribution"),
                          ("Fabrikam Robotics", "Services")):
            title = f"{who} {kind} Agreement"
            upload(client, f"{who.split()[0].lower()}.pdf", text_pdf([f"{title.upper()}\n{CLAUSES}"], title=title))
        plan = client.post("/v1/plan", json={"question": "How can Contoso's agreement be terminated?",
                                             "mode": "rag"})
        assert plan.status_code == 200, plan.text
        body = plan.json()
        named = [n for n in body["plan"]["notes"] if n.startswith("the question names")]
        assert named == ["the question names the document “Contoso Pharmaceuticals Distribution Agreement”: "
                         "retrieval favoured its passages"], body["plan"]["notes"]
        assert body["retrieved"][0]["title"] == "Contoso Pharmaceuticals Distribution Agreement"
        plain = client.post("/v1/plan", json={"question": "How can the agreement be terminated?", "mode": "rag"})
        assert not [n for n in plain.json()["plan"]["notes"] if n.startswith("the question names")]
