"""The bundled embedding model and a real local Qdrant store, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from folio.config import Settings
from folio.ingest.embed import SentenceTransformerEmbedder, load_embedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import collect_paths
from folio.ingest.store import Store
from folio.retrieval.search import search

pytestmark = pytest.mark.integration
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    model = load_embedder("all-MiniLM-L6-v2")
    assert isinstance(model, SentenceTransformerEmbedder)
    return model


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[tuple[Store, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), ingest_workers=1)
    store = Store.open(settings)
    ingestor = Ingestor(store, lambda: embedder, settings)
    try:
        results = ingestor.run(collect_paths([SAMPLES]))
    finally:
        ingestor.close()
    assert all(r.status == "ingested" for r in results), [r.error for r in results]
    ids = {Path(r.name).name: r.doc_id or "" for r in results}
    yield store, ids
    store.close()


def test_bundled_model_loads_offline_and_embeds_unit_vectors(embedder):
    assert embedder.dim == 384
    assert embedder.max_tokens == 256
    vectors = embedder.embed(["termination for convenience", "notice period to end the contract", "bananas"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_bf16_vectors_are_unit_length_and_match_fp32(embedder):
    bf16 = SentenceTransformerEmbedder(dtype="bf16")
    texts = ["termination for convenience", "the liability cap is twelve months of fees"]
    low, full = bf16.embed(texts), embedder.embed(texts)
    assert np.allclose(np.linalg.norm(low, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(low * full, axis=1))) > 0.999


def test_samples_are_indexed_in_every_format(indexed):
    store, _ = indexed
    formats = {r.file_name: r.format for r in store.list_documents()}
    assert formats == {"amendment-1.docx": "docx", "brightwater-annual-report-2025.pdf": "pdf",
                       "northwind-brightwater-msa.pdf": "pdf", "q3-2025-board-update.md": "markdown"}


@pytest.mark.parametrize(("question", "file", "pages"), [
    ("How much notice does the customer need to give to terminate the MSA for convenience?",
     "northwind-brightwater-msa.pdf", {4}),
    ("What service credit applies when monthly uptime falls to 99.2%?", "northwind-brightwater-msa.pdf", {2}),
    # the revenue table is on page 3 (index 2), the sentence on its growth on page 4
    ("What was Cold Chain Services revenue in 2025?", "brightwater-annual-report-2025.pdf", {2, 3}),
    ("What is the new monthly subscription fee after the amendment?", "amendment-1.docx", {0}),
])
def test_semantic_retrieval_finds_the_page(indexed, embedder, question, file, pages):
    store, ids = indexed
    hits = search(store, embedder, question, limit=3)
    assert any(h.doc_id == ids[file] and any(h.first_page <= p <= h.last_page for p in pages) for h in hits), \
        [(h.doc_id[:8], h.first_page, h.text[:60]) for h in hits]


def test_dense_only_search_uses_meaning_not_words(indexed, embedder):
    """The governing-law clause says "governed by the laws of the State of Delaware"; the question asks which
    state's legislation applies. Dense search finds the clause by meaning; BM25, with only the words to go on,
    does not have it in its top 3."""
    store, _ = indexed
    question = "Which state's legislation applies to the deal?"
    dense = search(store, embedder, question, limit=3, mode="dense")
    clause = [h for h in dense if "governed by the laws" in h.text]
    assert clause, [(h.doc_id[:8], h.first_page, h.text[:60]) for h in dense]
    assert "legislation" not in clause[0].text.lower() and "deal" not in clause[0].text.lower()
    bm25 = search(store, embedder, question, limit=3, mode="bm25")
    assert not any("governed by the laws" in h.text for h in bm25)
