from __future__ import annotations

from folio.ingest.normalize import normalize_pages, normalize_text


def test_whitespace_controls_and_ligatures():
    raw = "The  \u00a0Licensee\tshall\x00 pay\r\n\n\n\nthe \ufb01nal fee.  "
    assert normalize_text(raw) == "The Licensee shall pay\n\nthe final fee."


def test_line_end_hyphenation_is_joined_but_real_hyphens_stay():
    assert normalize_text("the termi-\nnation clause") == "the termination clause"
    assert normalize_text("a well-known\nparty") == "a well-known\nparty"
    assert normalize_text("Section 3-\nA applies") == "Section 3-\nA applies"


def _pages(n: int) -> list[str]:
    return [
        f"ACME CORP - CONFIDENTIAL\nBody text of page {i}, which sets out the pricing, delivery and acceptance "
        "obligations of the parties.\n"
        f"More text {i}.\nPage {i + 1} of {n}"
        for i in range(n)
    ]


def test_running_headers_and_page_numbers_are_removed():
    out = normalize_pages(_pages(6))
    for i, page in enumerate(out):
        assert "CONFIDENTIAL" not in page
        assert "of 6" not in page
        assert f"Body text of page {i}" in page


def test_short_line_numbered_in_step_with_pages_is_a_footer_but_headings_are_not():
    pages = [f"Apple Inc. | Q3 2022 Form 10-Q | {i + 3}\nARTICLE {i * 2 + 1}\nText {'abc' * i}.\nMore.\n-{i}-"
             for i in range(8)]
    out = normalize_pages(pages)
    for i, page in enumerate(out):
        assert "Form 10-Q" not in page
        assert f"-{i}-" not in page
        assert f"ARTICLE {i * 2 + 1}" in page


def test_text_that_repeats_in_the_body_is_kept():
    pages = _pages(6)
    pages[2] = pages[2].replace("More text 2.", "ACME CORP - CONFIDENTIAL\nSecond mention inside\nthe body here")
    out = normalize_pages(pages)
    # the in-body line sits outside the header/footer zone and stays
    assert out[2].count("ACME CORP - CONFIDENTIAL") == 1


def test_short_documents_keep_everything():
    pages = _pages(2)
    assert "CONFIDENTIAL" in normalize_pages(pages)[0]


def test_normalisation_is_deterministic():
    pages = _pages(5)
    assert normalize_pages(pages) == normalize_pages(list(pages))
