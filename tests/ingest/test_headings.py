from __future__ import annotations

import pytest

from folio.ingest.headings import find_headings, heading_of_line


@pytest.mark.parametrize(("line", "expected"), [
    ("12.3 Termination. Either party may terminate on notice.", "12.3 Termination"),
    ("1. Definitions", "1. Definitions"),
    ("Section 1. The Offering. In accordance with the plan", "Section 1. The Offering"),
    ("ARTICLE IV", "ARTICLE IV"),
    ("Item 7. Management's Discussion and Analysis of Financial Condition",
     "Item 7. Management's Discussion and Analysis of Financial Condition"),
    ("PART II. OTHER INFORMATION", "PART II. OTHER INFORMATION"),
    ("## Fees and Payment", "Fees and Payment"),
    ("TERM AND TERMINATION", "TERM AND TERMINATION"),
    ("1. The Company shall pay the fee within thirty days.", None),
    ("9.6 Entire Agreement; Amendments. This Agreement is the whole agreement. " * 4,
     "9.6 Entire Agreement; Amendments"),
    ("Results of Operations", "Results of Operations"),
    ("Overview", "Overview"),
    ("EXCEPT UNDER SECTIONS 15 AND 16, IN NO EVENT WILL EITHER PARTY BE LIABLE TO", None),
    ("the Company will pay", None),
    ("The parties agree as follows:", None),
    ("2023 2022 2021", None),
    ("Section 5 of the Exchange Act requires", None),
])
def test_heading_of_line(line, expected):
    assert heading_of_line(line) == expected


def test_find_headings_offsets():
    text = "Preamble text.\n\n1. Definitions\nWords mean things.\n\n2. Term\nThree years."
    headings = find_headings(text)
    assert [h.text for h in headings] == ["1. Definitions", "2. Term"]
    for h in headings:
        assert text[h.start:].startswith(h.text)
