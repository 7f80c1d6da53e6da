"""A document's genre (ingest/genre.py) and the fusion weights it sets (retrieval/search.py): contracts weigh
BM25 up, in the local index exactly as in Qdrant's weighted reciprocal-rank fusion."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from folio.index.sparse import query_vector
from folio.ingest.embed import HashEmbedder
from folio.ingest.genre import document_genre
from folio.ingest.normalize import normalize_pages
from folio.ingest.pipeline import Ingestor
from folio.ingest.prepare import ChunkParams, prepare
from folio.ingest.sources import collect_paths
from folio.ingest.store import Store
from folio.retrieval.search import CONTRACT_BM25_WEIGHT, Levers, bm25_weight, search
from tests.conftest import require_shared_data
from tests.records_helpers import set_record_fields

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

PREAMBLE = ('This Supply Agreement (the "Agreement") is entered into by and between Acme Corp. ("Supplier") and '
            'Beta LLC ("Buyer"). WHEREAS Buyer wishes to buy widgets; NOW, THEREFORE, the parties agree as follows. ')
DIRECTIVE = "The Supplier shall deliver the goods. The Buyer shall pay within 30 days. Each party shall keep records. "
COVER = ("UNITED STATES SECURITIES AND EXCHANGE COMMISSION Washington, D.C. 20549 FORM 10-K ANNUAL REPORT PURSUANT TO "
         "SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934. ")
MEMO = "Board update: revenue grew in the third quarter and the new warehouse opened on time. " * 10


def test_genres_from_the_text() -> None:
    assert document_genre([PREAMBLE + "The Supplier will deliver the goods. " * 30]) == "contract"
    assert document_genre(["1. Definitions. " + DIRECTIVE * 20]) == "contract"  # an exhibit without a preamble
    assert document_genre([COVER + MEMO, MEMO]) == "filing"
    assert document_genre([MEMO], {"balance": [0]}) == "filing"
    assert document_genre([MEMO, MEMO]) == "other"
    assert document_genre(["In consideration of the market, we held prices. " + MEMO]) == "other"  # one phrase
    assert document_genre([]) == "other"


def test_sample_genres() -> None:
    params = ChunkParams("all-MiniLM-L6-v2", 200, 24, 32)
    genres = {p.name: prepare(p.name, p.read_bytes(), params).genre for p in sorted(SAMPLES.glob("*.*"))}
    assert genres == {"amendment-1.docx": "contract", "brightwater-annual-report-2025.pdf": "other",
                      "northwind-brightwater-msa.pdf": "contract", "q3-2025-board-update.md": "other"}


def test_real_contract_and_filing() -> None:
    """The first pages of a cuad-dev contract and of a financebench-dev 10-K, as pypdf extracts them."""
    contract = require_shared_data("cuad-dev", "pdfs") / "STAMPSCOMINC_06_24_1999-EX-10.18-SPONSORSHIP AGREEMENT.PDF"
    filing = require_shared_data("financebench-dev", "pdfs") / "BESTBUY_2019_10K.pdf"
    for path, genre in ((contract, "contract"), (filing, "filing")):
        reader = PdfReader(path)
        pages = normalize_pages([reader.pages[i].extract_text() or "" for i in range(min(6, len(reader.pages)))])
        assert document_genre(pages) == genre, path.name


def test_bm25_weight_by_scope() -> None:
    assert bm25_weight(["contract"]) == CONTRACT_BM25_WEIGHT
    assert bm25_weight(["contract", "contract"]) == CONTRACT_BM25_WEIGHT
    assert bm25_weight(["contract", "filing"]) == 1.0  # a mixed scope: neither ranking leads
    assert bm25_weight(["contract", None]) == 1.0  # not yet tagged
    assert bm25_weight([]) == 1.0


@pytest.fixture
def samples(store: Store, ingestor: Ingestor) -> Store:
    results = ingestor.run(collect_paths([SAMPLES], recursive=False))
    assert all(r.status == "ingested" for r in results), results
    return store


GENRE_ONLY = Levers(fusion_weight=False)  # the genre's weight alone, not moved per question (fusion_weight.py)
QUESTIONS = ["What is the liability cap?", "Who may terminate the agreement for convenience?",
             "payment terms invoices net 30", "What was revenue growth in 2025?", "governing law"]


def test_weighted_fusion_ranks_like_qdrant(samples: Store) -> None:
    """The local index's weighted fusion gives Qdrant's own weighted RRF, score for score."""
    embedder = HashEmbedder(64)
    docs = samples.list_documents()
    compared = 0
    for question in QUESTIONS:
        dense, sparse = embedder.embed_query(question), query_vector(question)
        for scope in ([d.id for d in docs], [docs[0].id]):
            for limit in (3, 8):
                ours = samples.search(dense=dense, sparse=sparse, doc_ids=scope, limit=limit, distinct=False,
                                      bm25_weight=CONTRACT_BM25_WEIGHT)
                theirs = samples.search_qdrant(dense=dense, sparse=sparse, doc_ids=scope, limit=limit,
                                               mode="hybrid", pool=max(limit * 4, 20), distinct=False,
                                               bm25_weight=CONTRACT_BM25_WEIGHT)
                assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], rel=1e-4, abs=1e-6)
                plain = samples.search(dense=dense, sparse=sparse, doc_ids=scope, limit=limit, distinct=False)
                compared += [h.score for h in plain] != pytest.approx([h.score for h in ours])
    assert compared > 0  # the weight changed the scores of some rankings: the comparison compared something


def test_search_weighs_a_contract_scope(samples: Store) -> None:
    embedder = HashEmbedder(64)
    by_genre = {r.genre: r.id for r in samples.list_documents()}
    contract, other = by_genre["contract"], by_genre["other"]
    question = "Who may terminate the agreement for convenience?"
    dense, sparse = embedder.embed_query(question), query_vector(question)
    for scope, weight in (([contract], CONTRACT_BM25_WEIGHT), ([contract, other], 1.0), ([other], 1.0)):
        expected = samples.search(dense=dense, sparse=sparse, doc_ids=scope, limit=5, bm25_weight=weight)
        assert search(samples, embedder, question, doc_ids=scope, limit=5, levers=GENRE_ONLY) == expected
    equal = samples.search(dense=dense, sparse=sparse, doc_ids=[contract], limit=5)
    assert search(samples, embedder, question, doc_ids=[contract], limit=5, genre_weights=False,
                  levers=GENRE_ONLY) == equal


def test_older_documents_get_their_genre(samples: Store) -> None:
    record = next(r for r in samples.list_documents() if r.genre == "contract")
    set_record_fields(samples, record.id, genre=None)
    assert samples.require_document(record.id).genre is None
    assert samples.tag_documents() == [record.id]
    assert samples.require_document(record.id).genre == "contract"
    assert samples.tag_documents() == []
