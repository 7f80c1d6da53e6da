"""The named-documents lane (retrieval/named_lane.py): a question that names some documents of a library by their
titles' words favours them, spreads its results over a named series, and picks a series' year when it states one;
on three real sec10q filings through the service's search path, and on records named as the dev sets' are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from folio.config import Settings
from folio.ingest.embed import HashEmbedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import Source
from folio.ingest.store import Store
from folio.records.model import DocumentRecord
from folio.retrieval.named_lane import asked_names, named_documents, words, years
from folio.retrieval.search import Levers, retrieve
from service.planner import named_note
from tests.conftest import require_shared_data

FILINGS = ("2022 Q3 AAPL.pdf", "2023 Q2 AAPL.pdf", "2022 Q3 NVDA.pdf")


def _record(file_name: str, title: str) -> DocumentRecord:
    return DocumentRecord(id=file_name, file_name=file_name, title=title, format="pdf", size_bytes=1, n_pages=1,
                          total_tokens=1, page_tokens=[1], status="ready", ingested_at="", embed_model="hash-64")


def _quarterlies() -> list[DocumentRecord]:
    """Three companies' 10-Qs, titled as ``ingest.titles`` titles them."""
    out = []
    for company, ticker in (("Apple Inc.", "AAPL"), ("NVIDIA CORPORATION", "NVDA"),
                            ("MICROSOFT CORPORATION", "MSFT")):
        for label, ended in (("2022 Q3", "September 30, 2022"), ("2023 Q1", "December 31, 2022"),
                             ("2023 Q2", "March 31, 2023"), ("2023 Q3", "September 30, 2023")):
            out.append(_record(f"{label} {ticker}.pdf", f"{company} Form 10-Q, quarter ended {ended}"))
    return out


def test_a_company_named_in_the_question_names_its_filings_as_one_series() -> None:
    library = _quarterlies()
    named = named_documents("How has Apple's total net sales changed over time?", library)
    assert [r.file_name for r in named.records] == ["2022 Q3 AAPL.pdf", "2023 Q1 AAPL.pdf", "2023 Q2 AAPL.pdf",
                                                    "2023 Q3 AAPL.pdf"]
    assert named.series
    by_ticker = named_documents("What did NVDA report about inventory?", library)  # the file name names it too
    assert {r.file_name.split()[-1] for r in by_ticker.records} == {"NVDA.pdf"}


def test_a_year_the_question_states_picks_the_series_filings_of_that_year() -> None:
    named = named_documents("What was Microsoft's operating income in 2023?", _quarterlies())
    assert [r.file_name for r in named.records] == ["2023 Q2 MSFT.pdf", "2023 Q3 MSFT.pdf"]
    fy = named_documents("What was Microsoft's FY2022 revenue?", _quarterlies())
    assert [r.file_name for r in fy.records] == ["2022 Q3 MSFT.pdf", "2023 Q1 MSFT.pdf"]
    # a year no filing of the series has keeps the whole series
    assert len(named_documents("Microsoft's revenue in 2019?", _quarterlies()).records) == 4
    assert years("FY2018 and Q2 2023, not 12023") == {"2018", "2023"}


def test_words_every_title_carries_or_that_say_what_kind_name_nothing() -> None:
    library = _quarterlies()
    assert named_documents("What does the 10-Q form say about the quarter ended September 30?", library).records == []
    assert named_documents("What risks are disclosed?", library).records == []
    assert named_documents("How has Apple's revenue changed?", library[:1]).records == []  # one document: no lane
    # a word every document of the scope carries is no name
    nvidia = [r for r in library if "NVDA" in r.file_name]
    assert named_documents("How did NVIDIA's revenue change?", nvidia).records == []
    assert len(named_documents("How did NVIDIA's revenue change?", nvidia + library[:1]).records) == 4
    assert words("Amazon.com, Inc.'s FY2019 Form 10-K for 3M's filing") == {"amazon", "3m"}


def test_only_words_written_as_names_name_documents() -> None:
    library = [_record(f"BESTBUY_{y}_10K.pdf", f"BEST BUY CO., INC. Form 10-K, fiscal year ended January 28, {y}")
               for y in (2021, 2022, 2023)] + _quarterlies()
    for common in ("What is the best way to read the liquidity section?", "Best practices for revenue recognition?",
                   "how has apple's revenue changed?"):
        assert named_documents(common, library).records == [], common
    assert len(named_documents("How did Best Buy's margins move?", library).records) == 3
    assert len(named_documents("Apple's revenue by quarter?", library).records) == 4  # a possessive opening
    assert asked_names("In the SPONSORSHIP AGREEMENT between iPayment, Inc. and First Data: who pays?") == {
        "sponsorship", "ipayment", "first", "data"}


def test_contracts_of_one_kind_are_named_but_not_a_series() -> None:
    contracts = [_record("STAMPSCOMINC_06_24_1999-EX-10.18-SPONSORSHIP AGREEMENT.PDF", "SPONSORSHIP AGREEMENT"),
                 _record("IPAYMENT,INC_05_14_2007-EX-10.1-SPONSORSHIP AGREEMENT.PDF", "SPONSORSHIP AGREEMENT (2)"),
                 _record("OASYSMOBILE,INC_07_05_2001-EX-10.17-OUTSOURCING AGREEMENT.PDF", "OUTSOURCING AGREEMENT"),
                 _record("Zounds Hearing, Inc. - MANUFACTURING DESIGN MARKETING AGREEMENT.PDF",
                         "MANUFACTURING, DESIGN AND MARKETING AGREEMENT")]
    named = named_documents("In the Sponsorship Agreement between Intuit Inc. and Stamps.com Inc.: who are the "
                            "parties?", contracts)
    assert [r.title for r in named.records] == ["SPONSORSHIP AGREEMENT", "SPONSORSHIP AGREEMENT (2)"]
    assert not named.series  # two companies' contracts: the question may mean either, not both
    assert named_documents("In the iPayment sponsorship agreement, who pays?", contracts).records == contracts[1:2]


def test_the_plan_note_names_the_documents() -> None:
    note = named_note(["Apple Inc. Form 10-Q, quarter ended June 25, 2022", "B", "C", "D"], spread=True)
    assert "4 documents" in note and "Apple Inc." in note and "1 more" in note and "each of them" in note
    assert "each" not in named_note(["A"], spread=False)


@pytest.fixture(scope="module")
def filings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, str]]]:
    """Two of Apple's 10-Qs and one of NVIDIA's, ingested with the hashed embedder: the store, file -> id."""
    folder = require_shared_data("sec10q", "pdfs")
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("filings")) / "data", embed_model="hash-64",
                        ingest_workers=0)
    with Store.open(settings) as store:
        ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
        try:
            results = ingestor.run([Source(name=n, key=n, path=folder / n) for n in FILINGS])
        finally:
            ingestor.close()
        assert all(r.status == "ingested" and r.doc_id for r in results), results
        yield store, {Path(r.name).name: str(r.doc_id) for r in results}


def test_a_question_over_a_series_sees_each_of_its_filings(filings: tuple[Store, dict[str, str]]) -> None:
    store, ids = filings
    embedder = HashEmbedder(64)
    apple = {ids["2022 Q3 AAPL.pdf"], ids["2023 Q2 AAPL.pdf"]}
    question = "How have Apple's net sales by product category changed across these quarters?"
    found = retrieve(store, embedder, question, limit=5)
    assert "named" in found.lanes and set(found.named) == apple and found.spread
    assert apple <= {h.doc_id for h in found.hits} and len(found.hits) == 5
    assert len({(h.doc_id, h.first_page, h.last_page) for h in found.hits}) == 5
    nvidia = retrieve(store, embedder, "What were NVIDIA's net sales by segment?", limit=5)
    assert nvidia.named == (ids["2022 Q3 NVDA.pdf"],) and not nvidia.spread
    plain = retrieve(store, embedder, "What were NVIDIA's net sales by segment?", limit=5,
                     levers=Levers(named_lane=False))
    assert plain.named == () and "named" not in plain.lanes
    share = sum(h.doc_id == ids["2022 Q3 NVDA.pdf"] for h in nvidia.hits)
    assert share >= sum(h.doc_id == ids["2022 Q3 NVDA.pdf"] for h in plain.hits) and share >= 3


def test_a_stated_year_and_a_single_document_scope(filings: tuple[Store, dict[str, str]]) -> None:
    store, ids = filings
    embedder = HashEmbedder(64)
    found = retrieve(store, embedder, "What were Apple's net sales in the quarter ended April 1, 2023?", limit=5)
    assert found.named == (ids["2023 Q2 AAPL.pdf"],)
    assert found.hits[0].doc_id == ids["2023 Q2 AAPL.pdf"]
    alone = retrieve(store, embedder, "How have Apple's net sales changed?", doc_ids=[ids["2022 Q3 AAPL.pdf"]], limit=5)
    assert alone.named == () and "named" not in alone.lanes  # a question within one document names nothing
