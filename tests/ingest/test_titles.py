"""A document's title is what a person calls it: never an accession number, a bare form name or cover boilerplate."""

from __future__ import annotations

import re

import pypdf
import pytest

from folio.ingest.normalize import normalize_pages
from folio.ingest.parse_pdf import ARRAY_LIMIT, DICTIONARY_LIMIT
from folio.ingest.titles import choose_title, filing_title, is_placeholder
from tests.conftest import require_shared_data

COVER = """UNITED STATES
SECURITIES AND EXCHANGE COMMISSION
Washington, D.C. 20549
FORM 10-K
(Mark One)
x ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934
For the fiscal year ended
January 28, 2023
OR
TRANSITION REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934
For the transition period from to
Commission file number 1-9595
____________________
NORTHWIND TRADERS, INC.
(Exact name of registrant as specified in its charter)
Minnesota 41-0907483
"""


@pytest.mark.parametrize("title", ["0000764478-23-000006", "FORM 10-K", "10-Q", "Document", "Untitled",
                                   "UNITED STATES SECURITIES AND EXCHANGE COMMISSION", "report.pdf", "--",
                                   "Microsoft Word - draft7.docx",
                                   "ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT"])
def test_identifiers_and_placeholders_are_not_titles(title):
    assert is_placeholder(title)


@pytest.mark.parametrize("title", ["Master Services Agreement", "ADBE 10K FY15", "Form 10-K for Microsoft Corp",
                                   "MGM Exhibit 99.1 Q4 2022 ER", "Supply Agreement [Redacted]"])
def test_real_titles_are_kept(title):
    assert not is_placeholder(title)
    assert choose_title(title, ["Some agreement text."], "file.pdf") == title


def test_a_filing_is_named_by_its_cover_whatever_its_metadata_says():
    expected = "NORTHWIND TRADERS, INC. Form 10-K, fiscal year ended January 28, 2023"
    assert choose_title("0000764478-23-000006", [COVER], "nw.pdf") == expected
    assert choose_title("Nike 2023 Proxy", [COVER], "nw.pdf") == expected  # a wrong metadata title loses too
    # a cover laid out one word a line, with small capitals read as "T RADERS"
    spaced = COVER.replace("NORTHWIND TRADERS", "N ORTHWIND T RADERS")
    assert filing_title(["\n".join(spaced.split())], "nw.pdf") == expected


def test_quarterly_and_current_reports_and_a_cover_without_the_name():
    quarterly = COVER.replace("FORM 10-K", "FORM 10-Q").replace("fiscal year ended", "quarterly period ended")
    assert filing_title([quarterly], "x.pdf") == "NORTHWIND TRADERS, INC. Form 10-Q, quarter ended January 28, 2023"
    current = ("FORM 8-K\nCURRENT REPORT\nDate of Report (Date of earliest event reported): May 3, 2023\n"
               "PEPSICO, INC.\n(Exact name of registrant as specified in its charter)\n")
    assert filing_title([current], "x.pdf") == "PEPSICO, INC. Form 8-K, May 3, 2023"
    # the registrant printed as an image: the file name stands in for it
    logo = COVER.replace("NORTHWIND TRADERS, INC.\n", "")
    assert filing_title([logo], "NW_2023_10K.pdf") == "NW_2023_10K (Form 10-K, fiscal year ended January 28, 2023)"


def test_a_cover_without_the_registrant_note_is_named_by_the_line_after_its_file_number():
    # Microsoft's 10-Q covers: the name, then its state and I.R.S. number, and no "(Exact name of registrant ...)"
    cover = ("FORM 10-Q\nQUARTERLY REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934\n"
             "For the Quarterly Period Ended September 30, 2022\nOR\nFor the Transition Period From to\n"
             "Commission File Number 001-37845\n\nMICROSOFT CORPORATION\n\nWASHINGTON 91-1144442\n"
             "(STATE OF INCORPORATION) (I.R.S. ID)\n")
    expected = "MICROSOFT CORPORATION Form 10-Q, quarter ended September 30, 2022"
    assert filing_title([cover], "2022 Q3 MSFT.pdf") == expected
    # a line that is no company's name is not taken for one
    unnamed = cover.replace("MICROSOFT CORPORATION", "WASHINGTON STATE OFFICE")
    assert filing_title([unnamed], "x.pdf") == "x (Form 10-Q, quarter ended September 30, 2022)"


def test_contracts_keep_the_title_line_and_the_file_name_is_the_last_resort():
    pages = ["EXHIBIT 10.1\nSUPPLY AGREEMENT\nThis Supply Agreement is made by and between ..."]
    assert choose_title(None, pages, "ex10.pdf") == "SUPPLY AGREEMENT"
    toc = ["Table of contents\nChanges in and Disagreements with Accountants on Accounting 102\n"]
    assert choose_title("0000764478-23-000006", toc, "BESTBUY_2017_10K.pdf") == "BESTBUY_2017_10K"
    # folio ingest names a file by the path it was given: the folders are never part of the title
    assert choose_title(None, toc, "/data/filings/BESTBUY_2017_10K.pdf") == "BESTBUY_2017_10K"
    cover = ["UNITED STATES SECURITIES AND EXCHANGE COMMISSION\nFORM 10-Q\nFor the quarterly period ended "
             "September 30, 2022\n"]
    assert choose_title(None, cover, "/srv/in/2022 Q3 MSFT.pdf") == \
        "2022 Q3 MSFT (Form 10-Q, quarter ended September 30, 2022)"


@pytest.mark.realdata
@pytest.mark.parametrize("folder", ["financebench-dev", "sec10q"])
def test_every_real_filing_gets_a_title_a_person_recognises(folder):
    """Every 10-K and 10-Q of the dev sets: its form in the title, never an identifier or boilerplate."""
    pdfs = require_shared_data(folder, "pdfs")
    checked = 0
    for path in sorted(pdfs.glob("*.pdf")):
        form = "10-Q" if folder == "sec10q" else re.search(r"10-?K|10-?Q", path.stem, re.I)
        if form is None:
            continue  # earnings releases and 8-Ks: their own titles
        wanted = form if isinstance(form, str) else form.group(0).upper().replace("10", "10-").replace("--", "-")
        with pypdf.apply_configuration(array_maximum_element_count=ARRAY_LIMIT,
                                       dictionary_maximum_element_count=DICTIONARY_LIMIT):
            reader = pypdf.PdfReader(path)
            metadata = reader.metadata.title if reader.metadata else None
            pages = normalize_pages([page.extract_text() or "" for page in reader.pages[:2]])
        title = choose_title(metadata, pages, path.name)
        assert f"Form {wanted}" in title, (path.name, title)
        assert not is_placeholder(title) and not re.search(r"\d{10}-\d{2}-\d{6}", title), (path.name, title)
        checked += 1
    assert checked >= 20
