"""BM25 over the question's scope (issue 22): a tenant's scores and rankings do not move when another tenant
uploads or deletes documents with its words, nor when the same tenant adds documents outside the scope; each
document's term statistics equal a recount from its chunks through upload, replacement and deletion; and an index
from before (Qdrant's collection-wide IDF, no statistics) is brought up to date when it opens."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from folio.ingest.store import Store
from folio.service.app import create_app
from tests.pdfs import text_pdf
from tests.service_helpers import service_settings
from tests.shared_qdrant import shared_qdrant

KEY_A = "key-acme-0123456789abcdef"
KEY_B = "key-globex-0123456789abcdef"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}


def _pages(codename: str, n: int, filler: str) -> list[str]:
    """A document whose first page names the codename among ordinary contract words."""
    pages = [f"The parties refer to the project as {codename}. {filler} " * 3]
    pages += [f"Page {p}. {filler} The Supplier shall deliver the goods and the Buyer shall pay." * 4
              for p in range(1, n)]
    return pages


B_DOC = text_pdf(_pages("Zephyrion", 3, "Services under the statement of work are billed monthly."))
A_DOCS = [text_pdf(_pages("Zephyrion", 4, f"Zephyrion milestone {i} is accepted in writing.")) for i in range(2)]
UNRELATED = text_pdf(_pages("Orchard", 5, "Warehouse leases renew every year."))


def _put(client: TestClient, headers: dict[str, str], name: str, data: bytes) -> str:
    response = client.post("/v1/documents?wait=true", files=[("files", (name, data))], headers=headers)
    assert response.status_code == 200, response.text
    doc_id: str = response.json()["jobs"][0]["document_id"]
    return doc_id


def _search(client: TestClient, headers: dict[str, str], query: str, **extra: Any) -> list[tuple[Any, ...]]:
    response = client.post("/v1/search", json={"query": query, "limit": 10, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    return [(h["doc_id"], h["chunk_index"], h["score"]) for h in response.json()["hits"]]


def _keyed(tmp_path: Path, **overrides: Any) -> Any:
    return service_settings(tmp_path, None, api_keys=SecretStr(f"{KEY_A}:acme,{KEY_B}:globex"), **overrides)


@pytest.fixture(params=["embedded", "edge", "server"])
def client(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service on the embedded index (local mode, or Qdrant Edge), or on a Qdrant server
    (``tests/shared_qdrant.py``)."""
    if request.param == "server":
        with shared_qdrant(monkeypatch, tmp_path / "engine"):
            app = create_app(_keyed(tmp_path, qdrant_url="http://qdrant.test:6333"),
                             embedder_factory=_hash_embedder)
            with TestClient(app) as served:
                yield served
        return
    engine = "edge" if request.param == "edge" else "local"
    with TestClient(create_app(_keyed(tmp_path, index_engine=engine), embedder_factory=_hash_embedder)) as served:
        yield served


def _hash_embedder() -> Any:
    from folio.ingest.embed import HashEmbedder

    return HashEmbedder(64)


def test_another_tenants_documents_do_not_move_a_tenants_scores(client: TestClient) -> None:
    mine = _put(client, B, "sow.pdf", B_DOC)
    probes = [("Zephyrion", "bm25"), ("Zephyrion statement of work billed", "bm25"), ("Zephyrion goods", "hybrid")]
    before = {(q, m): _search(client, B, q, mode=m) for q, m in probes}
    assert before[("Zephyrion", "bm25")][0][0] == mine and before[("Zephyrion", "bm25")][0][2] > 0
    theirs = [_put(client, A, f"m{i}.pdf", data) for i, data in enumerate(A_DOCS)]
    assert {(q, m): _search(client, B, q, mode=m) for q, m in probes} == before  # identical, scores included
    for doc_id in theirs:
        assert client.delete(f"/v1/documents/{doc_id}", headers=A).status_code == 200
    assert {(q, m): _search(client, B, q, mode=m) for q, m in probes} == before


def test_documents_outside_the_scope_do_not_move_its_ranking(client: TestClient) -> None:
    mine = _put(client, B, "sow.pdf", B_DOC)
    query = "Supplier shall deliver the goods; project Zephyrion"
    before = _search(client, B, query, mode="bm25", documents=[mine])
    other = _put(client, B, "lease.pdf", UNRELATED)
    _put(client, B, "more.pdf", A_DOCS[0])
    assert _search(client, B, query, mode="bm25", documents=[mine]) == before
    # the whole tenant's scope is another scope: the same words now weigh by all three documents
    everything = _search(client, B, query, mode="bm25")
    assert {hit[0] for hit in everything} >= {mine} and other not in {hit[0] for hit in everything[:1]}


def _recount(store: Store, doc_id: str) -> tuple[int, dict[int, int]]:
    containing: Counter[int] = Counter()
    chunks = 0
    for terms in store.index.chunk_terms(doc_id):
        containing.update(set(terms))
        chunks += 1
    return chunks, dict(containing)


def test_statistics_equal_a_recount_through_upload_replace_and_delete(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, None)
    with TestClient(create_app(settings, embedder_factory=_hash_embedder)) as client:
        store: Store = client.app.state.runtime.store  # type: ignore[attr-defined]
        first = _put(client, {}, "contract.pdf", B_DOC)
        second = _put(client, {}, "lease.pdf", UNRELATED)
        for doc_id in (first, second):
            assert store.term_stats.of(doc_id) == _recount(store, doc_id) and _recount(store, doc_id)[0] > 0
        # a new version of the same file replaces the old one: the old statistics go with the old record
        new = _put(client, {}, "contract.pdf", A_DOCS[0])
        assert store.term_stats.of(new) == _recount(store, new) and store.term_stats.of(first) is None
        assert client.delete(f"/v1/documents/{second}").status_code == 200
        assert store.term_stats.of(second) is None
        chunks, containing = store.term_stats.scope([first, new, second], [])
        assert (chunks, containing) == (_recount(store, new)[0], {})


def test_an_index_from_before_is_counted_and_its_collection_idf_turned_off(tmp_path: Path) -> None:
    from sqlalchemy import delete

    from folio.index.schema import SPARSE
    from folio.records.tables import document_terms

    settings = service_settings(tmp_path, None, index_engine="local")  # an older Folio's index
    with TestClient(create_app(settings, embedder_factory=_hash_embedder)) as client:
        doc_id = _put(client, {}, "sow.pdf", B_DOC)
        expected = _search(client, {}, "Zephyrion statement of work", mode="bm25")
    with Store.open(settings) as store:  # make it as an older Folio left it
        from qdrant_client import models

        with store.database.write() as conn:
            conn.execute(delete(document_terms))
        store.client.update_collection(store.chunks, sparse_vectors_config={
            SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)})
        assert store.index.collection_idf() and store.term_stats.missing() == [doc_id]
    with Store.open(settings) as store:  # opening it brings it up to date
        assert not store.index.collection_idf() and store.term_stats.missing() == []
        assert store.term_stats.of(doc_id) == _recount(store, doc_id)
        assert store.count_terms() == []  # once
    with TestClient(create_app(settings, embedder_factory=_hash_embedder)) as client:
        assert _search(client, {}, "Zephyrion statement of work", mode="bm25") == expected
