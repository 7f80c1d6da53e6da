"""Financial statement pages (ingest/statements.py) and the questions that need them
(retrieval/statement_lane.py), and the search lane that joins them: tagged at ingest, back-filled for older
indexes, ranked the same way by the local index and by Qdrant, and named in the plan's notes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from folio.config import Settings
from folio.index import Hit
from folio.index.sparse import query_vector
from folio.ingest.embed import HashEmbedder
from folio.ingest.normalize import normalize_pages
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import Source
from folio.ingest.statements import chunk_statements, document_statements, page_statements, pages_by_kind
from folio.ingest.store import Store
from folio.retrieval.search import Levers, search
from folio.retrieval.statement_lane import question_statements
from folio.service.planner import statement_lane_note
from tests.conftest import require_shared_data
from tests.pdfs import text_pdf
from tests.records_helpers import set_record_fields

ITEMS = {
    "income": ["Net sales", "Cost of sales", "Gross profit", "Selling, general and administrative expenses",
               "Research and development", "Operating income", "Interest expense", "Other income, net",
               "Income before income taxes", "Income tax expense", "Net income", "Basic earnings per share",
               "Diluted earnings per share", "Weighted-average shares, basic", "Weighted-average shares, diluted"],
    "balance": ["Cash and cash equivalents", "Short-term investments", "Receivables, net", "Merchandise inventories",
                "Other current assets", "Total current assets", "Property and equipment, net", "Goodwill",
                "Total assets", "Accounts payable", "Accrued liabilities", "Total current liabilities",
                "Long-term debt", "Total liabilities", "Total shareholders' equity"],
    "cashflow": ["Net earnings", "Depreciation and amortization", "Stock-based compensation",
                 "Changes in receivables", "Changes in inventories", "Changes in accounts payable",
                 "Total cash provided by operating activities", "Additions to property and equipment",
                 "Purchases of investments", "Total cash used in investing activities", "Repayments of debt",
                 "Dividends paid", "Repurchase of common stock", "Total cash used in financing activities",
                 "Increase in cash and cash equivalents"],
}
TITLES = {"income": "Consolidated Statements of Earnings", "balance": "Consolidated Balance Sheets",
          "cashflow": "Consolidated Statements of Cash Flows"}


def statement_page(kind: str, seed: int = 0) -> str:
    """A statement as filings print it: its title, the column years, then a line item and two amounts a row."""
    rows = [f"{item} {(i + 3) * 97 + seed:,} {(i + 5) * 89 + seed:,}" for i, item in enumerate(ITEMS[kind])]
    return "\n".join(["Northwind Retail Corporation", TITLES[kind], "$ in millions", "2025 2024", *rows])


NARRATIVE = [
    ("Item 7. Management's Discussion and Analysis. Net sales grew on stronger demand in our stores and online. "
     "Accounts payable rose with inventory purchases ahead of the holiday season, and we kept our liquidity "
     "strong. Our capital allocation favours new stores, and we returned cash to shareholders. ") * 3,
    ("Item 1A. Risk Factors. Our business depends on consumer demand, on our suppliers and on the security of "
     "our systems. A disruption at our distribution centres could hurt sales. Competition is intense. ") * 3,
    ("Note 5. Debt. Our revolving credit facility allows borrowing of up to $1,250 million and expires in "
     "2029. No amount was outstanding at year end. The term notes bear interest at fixed rates. ") * 3,
]
INDEX_PAGE = ("Index to Consolidated Financial Statements\nConsolidated Balance Sheets 51\n"
              "Consolidated Statements of Earnings 52\nConsolidated Statements of Cash Flows 54\n"
              "Consolidated Statements of Changes in Shareholders' Equity 55")


def filing_pages() -> list[str]:
    return [NARRATIVE[0], INDEX_PAGE, NARRATIVE[1], statement_page("income"), statement_page("balance"),
            statement_page("cashflow"), NARRATIVE[2]]


# -- pages -------------------------------------------------------------------------------------------------------


def test_statement_pages_are_titled_tables() -> None:
    assert page_statements(statement_page("balance")) == ("balance",)
    assert page_statements(statement_page("income")) == ("income",)
    assert page_statements(statement_page("cashflow")) == ("cashflow",)
    glued = statement_page("balance").replace("Consolidated Balance Sheets", "ConsolidatedBalanceSheets")
    assert page_statements(glued) == ("balance",)  # pypdf glues some filings' words together
    # a title without the table: prose that names a statement, the index of the statements, narrative
    assert page_statements("Consolidated Balance Sheets\nThe balance sheet shows our strong position. " * 5) == ()
    assert page_statements(INDEX_PAGE) == ()
    assert page_statements(NARRATIVE[0]) == ()
    # the title must head the page: a table further down under another heading is not a statement
    assert page_statements("Selected data\n" + "Some prose about the year. " * 30 + statement_page("income")) == ()
    comprehensive = statement_page("income").replace(TITLES["income"],
                                                     "Consolidated Statements of Comprehensive Income")
    assert page_statements(comprehensive) == ()  # its own statement, not the income statement


def test_document_statements_and_chunk_kinds() -> None:
    found = document_statements(filing_pages())
    assert found == {"income": [3], "balance": [4], "cashflow": [5]}
    by_page = pages_by_kind({**found, "balance": [4, 5]})
    assert by_page == {3: ("income",), 4: ("balance",), 5: ("balance", "cashflow")}
    assert chunk_statements(2, 3, by_page) == ["income"]
    assert chunk_statements(4, 5, by_page) == ["balance", "cashflow"]
    assert chunk_statements(6, 6, by_page) == []


def test_real_filing_statement_pages() -> None:
    """Best Buy's FY2019 10-K (financebench-dev): its four statements found, the auditor's report before them (which
    names two statements at its top) and the statement of comprehensive income left out."""
    pdf = require_shared_data("financebench-dev", "pdfs") / "BESTBUY_2019_10K.pdf"
    reader = PdfReader(pdf)
    pages = normalize_pages([reader.pages[i].extract_text() or "" for i in range(49, 56)])
    kinds = {49 + i: page_statements(text) for i, text in enumerate(pages)}
    assert kinds == {49: (), 50: (), 51: ("balance",), 52: ("income",), 53: (), 54: ("cashflow",),
                     55: ("equity",)}


# -- questions ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("question", "kinds"), [
    ("What is the year end FY2018 amount of accounts payable? Answer in USD millions.", ("balance",)),
    ("What was the FY2021 capital expenditure amount?", ("cashflow",)),
    ("What is the FY2019 fixed asset turnover ratio?", ("income", "balance")),
    ("Using the cash flow statement, what was free cash flow?", ("cashflow",)),
    ("Is the company capital-intensive?", ("balance", "cashflow")),
    ("What was COGS in FY2016?", ("income",)),
    ("Does the company have positive working capital?", ("balance",)),
    ("Who may terminate the agreement for convenience?", ()),
    ("Is there a cap on liability under this contract?", ()),
    ("Which law governs the agreement?", ()),
    ("Has the company reported any material legal proceedings?", ()),
])
def test_question_statements(question: str, kinds: tuple[str, ...]) -> None:
    assert question_statements(question).kinds == kinds


def test_question_statements_name_their_terms() -> None:
    need = question_statements("What is Amazon's days payable outstanding (DPO)? Use accounts payable and COGS.")
    assert need.kinds == ("income", "balance")
    assert {"dpo", "accounts payable", "cogs"} <= set(need.terms)
    assert need.describe().startswith("the income statement and the balance sheet (asks about: ")
    assert not question_statements("What is the notice period?")


# -- the lane in search --------------------------------------------------------------------------------------------


@pytest.fixture
def engine() -> str:
    """The embedded index of this module's store: the default, unless a test names one (``parametrize``)."""
    return "auto"


@pytest.fixture
def settings(settings: Settings, engine: str) -> Settings:
    return settings.model_copy(update={"index_engine": engine})


@pytest.fixture
def filing(store: Store, ingestor: Ingestor, tmp_path: Path) -> str:
    path = tmp_path / "northwind-10k.pdf"
    path.write_bytes(text_pdf(filing_pages()))
    [result] = ingestor.run([Source(name=str(path), key=str(path), path=path)])
    assert result.status == "ingested", result
    assert result.doc_id is not None
    return result.doc_id


def _statement_payloads(store: Store, doc_id: str) -> dict[int, list[str]]:
    return {int(c.payload["chunk_index"]): c.payload.get("statements", []) for c in store.index.stored(doc_id)}


def test_ingest_tags_statement_pages_and_their_chunks(store: Store, filing: str) -> None:
    record = store.require_document(filing)
    assert record.statement_pages == {"income": [3], "balance": [4], "cashflow": [5]}
    tagged = _statement_payloads(store, filing)
    assert any(kinds == ["balance"] for kinds in tagged.values())
    by_page = {3: ("income",), 4: ("balance",), 5: ("cashflow",)}
    for chunk in store.index.stored():
        payload = chunk.payload
        assert payload.get("statements", []) == chunk_statements(payload["first_page"], payload["last_page"],
                                                                 by_page)
    assert not any(kinds for index, kinds in tagged.items() if index == 0)  # the narrative's first chunk


@pytest.mark.parametrize("engine", ["local"])  # the in-memory copy against Qdrant's own Query API; Edge's search
def test_lane_ranks_the_statement_like_qdrant(store: Store, filing: str) -> None:  # is that API
    """The local index's third fused list gives Qdrant's own answer (a third prefetch filtered on
    ``statements``), and it brings the asked-about statement into the top results."""
    embedder = HashEmbedder(64)
    questions = ["What was the year end amount of accounts payable?", "What was capital expenditure in 2025?",
                 "What was the fixed asset turnover ratio?"]
    missed = 0
    for question in questions:
        kinds = question_statements(question).kinds
        assert kinds
        dense, sparse = embedder.embed_query(question), query_vector(question)
        for limit in (3, 5):
            ours = store.search(dense=dense, sparse=sparse, doc_ids=[filing], limit=limit, statements=kinds)
            theirs = store.search_qdrant(dense=dense, sparse=sparse, doc_ids=[filing], limit=limit, mode="hybrid",
                                         pool=max(limit * 4, 20), statements=kinds)
            assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], rel=1e-4, abs=1e-6)
            assert {(h.first_page, h.last_page) for h in ours} == {(h.first_page, h.last_page) for h in theirs}
        wanted = {page for kind in kinds for page in {"income": [3], "balance": [4], "cashflow": [5]}[kind]}

        def finds(hits: list[Hit], wanted: set[int] = wanted) -> bool:
            return any(p in wanted for h in hits for p in range(h.first_page, h.last_page + 1))

        assert finds(search(store, embedder, question, doc_ids=[filing], limit=3)), question
        # without the lane the same search is the plain hybrid fusion, which misses some of them
        plain = search(store, embedder, question, doc_ids=[filing], limit=3, statements=False,
                       levers=Levers(fusion_weight=False))
        assert plain == store.search(dense=dense, sparse=sparse, doc_ids=[filing], limit=3)
        missed += not finds(plain)
    assert missed >= 1


def test_a_question_without_a_statement_or_a_scope_without_one_ranks_as_before(store: Store, filing: str,
                                                                               ingestor: Ingestor,
                                                                               tmp_path: Path) -> None:
    embedder = HashEmbedder(64)
    question = "What are the risk factors of the business?"
    assert search(store, embedder, question, doc_ids=[filing]) == search(store, embedder, question,
                                                                         doc_ids=[filing], statements=False)
    contract = tmp_path / "contract.pdf"
    contract.write_bytes(text_pdf(["This Agreement sets the revenue share between the parties. " * 20] * 2))
    [result] = ingestor.run([Source(name=str(contract), key=str(contract), path=contract)])
    assert result.doc_id is not None
    question = "What share of revenue does the licensee pay?"
    assert question_statements(question).kinds == ("income",)
    assert search(store, embedder, question, doc_ids=[result.doc_id]) == search(
        store, embedder, question, doc_ids=[result.doc_id], statements=False)


@pytest.mark.parametrize("engine", ["local"])  # an index older than the lane is a local-mode one
def test_older_documents_are_tagged_once(store: Store, filing: str) -> None:
    """An index written before statement pages were tagged (no record field, no chunk payloads) is tagged by
    ``tag_documents``, which the ingestor runs first and the service when the index opens."""
    from qdrant_client import models

    set_record_fields(store, filing, statement_pages=None)
    store.client.delete_payload(store.chunks, ["statements"], points=models.FilterSelector(filter=models.Filter(
        must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=filing))])))
    store.reread()  # local mode's in-memory chunks: the write above went around the store
    assert store.require_document(filing).statement_pages is None
    assert not any(_statement_payloads(store, filing).values())
    assert store.tag_documents() == [filing]
    assert store.require_document(filing).statement_pages == {"income": [3], "balance": [4], "cashflow": [5]}
    assert any(kinds == ["balance"] for kinds in _statement_payloads(store, filing).values())
    embedder = HashEmbedder(64)
    hits = search(store, embedder, "What was the year end amount of accounts payable?", doc_ids=[filing], limit=3)
    assert any(h.first_page <= 4 <= h.last_page for h in hits)
    assert store.tag_documents() == []  # once


def test_plan_note_names_the_lane(store: Store, filing: str) -> None:
    record = store.require_document(filing)
    note = statement_lane_note("What was the year end amount of accounts payable?", [record])
    assert note is not None and "accounts payable" in note and "balance sheet" in note
    assert statement_lane_note("What are the risk factors?", [record]) is None
    no_statements = record.model_copy(update={"statement_pages": {}})
    assert statement_lane_note("What was the year end amount of accounts payable?", [no_statements]) is None


def test_server_mode_tags_older_documents_and_searches_with_the_lane(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Against a shared Qdrant (server-mode paths: no in-memory copy, the lane as a third prefetch), a document
    written before the lane is tagged by the next ingest run, and its statement comes back for the question."""
    from qdrant_client import models

    from folio.config import Settings
    from tests.shared_qdrant import shared_qdrant

    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=0,
                        qdrant_url="http://qdrant.test:6333")
    path = tmp_path / "northwind-10k.pdf"
    path.write_bytes(text_pdf(filing_pages()))
    with shared_qdrant(monkeypatch, tmp_path / "engine"), Store.open(settings) as store:
        assert not store.local
        ingestor = Ingestor(store, lambda: HashEmbedder(64), settings, workers=0)
        [result] = ingestor.run([Source(name=str(path), key=str(path), path=path)])
        assert result.doc_id is not None
        doc_id = result.doc_id
        set_record_fields(store, doc_id, statement_pages=None)
        store.client.delete_payload(store.chunks, ["statements"], points=models.FilterSelector(
            filter=models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))])))
        question = "What was the year end amount of accounts payable?"
        embedder = HashEmbedder(64)
        fixed = Levers(fusion_weight=False)  # the lane alone moves the ranking here, not the question's weight
        untagged = search(store, embedder, question, doc_ids=[doc_id], limit=3, levers=fixed)
        assert untagged == search(store, embedder, question, doc_ids=[doc_id], limit=3, statements=False,
                                  levers=fixed)
        ingestor.close()
        batch = Ingestor(store, lambda: HashEmbedder(64), settings, workers=0)  # the next `folio ingest`
        assert batch.run([Source(name=str(path), key=str(path), path=path)])[0].status == "skipped"
        batch.close()
        assert store.require_document(doc_id).statement_pages == {"income": [3], "balance": [4], "cashflow": [5]}
        hits = search(store, embedder, question, doc_ids=[doc_id], limit=3, levers=fixed)
        assert any(h.first_page <= 4 <= h.last_page for h in hits)
        assert not any(h.first_page <= 4 <= h.last_page for h in untagged)  # the lane is what found it


def test_folio_ask_prints_the_lane_note_and_escapes_what_documents_say(tmp_path: Path, provider_double) -> None:
    """``folio ask`` shows the plan's notes (here: the statement lane) and prints a title carrying a terminal
    escape sequence as text, not as a command to the terminal."""
    from click.testing import CliRunner

    from folio.cli import cli

    double = provider_double(retry_after_s=0)
    pages = filing_pages()
    pages[0] = "Northwind Annual Report\x1b[2J\x1b[31m 2025\n" + pages[0]  # the title Folio finds in the text
    path = tmp_path / "northwind-10k.txt"
    path.write_text("\f".join(pages), encoding="utf-8")  # a form feed breaks the pages
    env = {"FOLIO_DATA_DIR": str(tmp_path / "data"), "FOLIO_EMBED_MODEL": "hash-64", "FOLIO_INGEST_WORKERS": "0",
           "FOLIO_LLM_BASE_URL": double.base_url, "FOLIO_LLM_API_KEY": "sk-test", "FOLIO_LLM_MODEL": "deepseek-chat",
           "FOLIO_PRICING_PROFILE": "deepseek-v4-flash-compat"}
    runner = CliRunner()
    ingest = runner.invoke(cli, ["ingest", str(path)], env=env)
    assert ingest.exit_code == 0, ingest.output
    result = runner.invoke(cli, ["ask", "What was the year end amount of accounts payable?", "--mode", "rag"],
                           env=env)
    assert result.exit_code == 0, result.output
    assert "note: the question asks about accounts payable: retrieval also ranked the pages of the balance sheet" \
        in result.output
    assert "\x1b" not in result.output
    assert "Northwind Annual Report\\x1b[2J\\x1b[31m 2025" in result.output  # the model's answer names it
