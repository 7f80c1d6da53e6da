"""Citations and quote verification; usage normalisation across providers."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from folio.ingest.normalize import normalize_pages
from folio.ingest.parse import parse_file
from folio.records import DocumentRecord
from folio.service.citations import extract
from folio.service.llm import normalise_usage, reasoning_params
from tests.conftest import require_shared_data


def _record(title: str, pages: list[str]) -> DocumentRecord:
    return DocumentRecord(id="a" * 64, file_name="msa.pdf", title=title, format="pdf", size_bytes=1,
                          n_pages=len(pages), total_tokens=1, page_tokens=[1] * len(pages), status="ready",
                          ingested_at="2026-01-01", embed_model="x", pages=pages)


MSA = _record("Master Services Agreement", [
    "1. Definitions\nServices means the platform.",
    "8.2 Termination for Convenience. Customer may terminate on ninety (90)\ndays' prior written notice.",
    "12. Governing Law. Delaware.",
])


def test_verified_quote_on_the_cited_page():
    answer = ('Customer "may terminate on ninety (90) days\' prior written notice." '
              "[Master Services Agreement p.2]")
    [c] = extract(answer, [MSA])
    assert c.document_id == MSA.id and c.page == 2 and c.verified is True


def test_wrong_page_unknown_title_and_page_out_of_range():
    answer = ('"may terminate on ninety (90) days prior written notice" [Master Services Agreement p.3]. '
              'See also [Lease Agreement p.1] and [Master Services Agreement p.9].')
    wrong, unknown, out = extract(answer, [MSA])
    assert wrong.verified is False and "not on the cited page" in wrong.note
    assert unknown.document_id is None and unknown.verified is None
    assert out.note.startswith("the document has 3 pages")


def test_citation_without_quote_and_page_ranges():
    [c] = extract("The term renews yearly [master services agreement, pp. 1-2].", [MSA])
    assert c.document_id == MSA.id and (c.page, c.last_page) == (1, 2) and c.verified is None


def test_a_title_with_brackets_of_its_own_is_cited_and_checked():
    redacted = _record("Supply Agreement [Redacted Version]", MSA.pages or [])
    answer = ('Customer "may terminate on ninety (90) days\' prior written notice." '
              "[Supply Agreement [Redacted Version] p.2], unlike [Master Services Agreement p.1].")
    first, second = extract(answer, [redacted])
    assert first.title == "Supply Agreement [Redacted Version]" and first.document_id == redacted.id
    assert first.verified is True
    assert second.title == "Master Services Agreement" and second.document_id is None


def test_quote_running_across_a_page_break_is_verified():
    answer = '"Services means the platform. 8.2 Termination for Convenience" [Master Services Agreement p.1]'
    assert extract(answer, [MSA])[0].verified is True


def test_usage_normalisation():
    deepseek = SimpleNamespace(model_dump=lambda: {"prompt_tokens": 100, "completion_tokens": 7,
                                                   "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36,
                                                   "completion_tokens_details": {"reasoning_tokens": 3}})
    u = normalise_usage(deepseek)
    assert (u.hit_tokens, u.miss_tokens, u.output_tokens, u.reasoning_tokens) == (64, 36, 7, 3)
    openai_style = {"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 80}}
    u = normalise_usage(openai_style)
    assert (u.hit_tokens, u.miss_tokens) == (80, 20)
    assert normalise_usage(None).prompt_tokens == 0


def test_reasoning_switch():
    assert reasoning_params("none") == {"extra_body": {"thinking": {"type": "disabled"}}}
    assert reasoning_params("max")["reasoning_effort"] == "max"


def test_a_quote_holding_typographic_quotes_is_checked():
    page = 'The products listed in the Orange Book ("Approved Drug Products") are covered.'
    record = _record("Supply Agreement", ["cover", page.replace('"', "\u201c", 1).replace('"', "\u201d", 1)])
    for quoted in ('"listed in the Orange Book (\u201cApproved Drug Products\u201d)"',   # straight around curly
                   '\u201clisted in the Orange Book ("Approved Drug Products")\u201d',   # curly around straight
                   '\u201clisted in the Orange Book (\u201cApproved Drug Products\u201d)\u201d',  # nested curly
                   '"listed in the Orange Book (\u201cApproved Drug Products\u201d)\u201d'):  # mixed pair
        [c] = extract(f"It covers products {quoted} [Supply Agreement p.2].", [record])
        assert c.quote is not None and "Approved Drug Products" in c.quote, quoted
        assert c.verified is True, quoted


@pytest.mark.realdata
def test_quotes_of_real_contract_pages_verify_after_the_same_normalisation():
    """Defined terms in typographic quotes on real cuad-dev pages, quoted back with the typography a model
    may change: straight for curly quotes, en dashes, ligatures, a line-end hyphenation, other whitespace."""
    folder = require_shared_data("cuad-dev", "pdfs")
    path = next(folder.glob("Antares Pharma*Manufacturing Agreement.PDF"))
    pages = normalize_pages(parse_file(path).pages)
    record = _record("Manufacturing Agreement", pages)
    checked = 0
    for number, text in enumerate(pages, start=1):
        for found in re.finditer(r"[A-Za-z][^\n\u201c]{20,60}\u201c[^\u201d\n]{3,40}\u201d[^\n]{0,30}", text):
            span = found.group(0)
            words = span.split(" ")
            middle = len(words) // 2
            long_word = next((i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()), None)
            variants = [
                span.replace("\u201c", "'").replace("\u201d", "'"),
                span.replace("-", "\u2013").replace("fi", "\ufb01"),
                " \n ".join([" ".join(words[:middle]), " ".join(words[middle:])]),
            ]
            if long_word is not None:
                hyphenated = list(words)
                hyphenated[long_word] = words[long_word][:3] + "-\n" + words[long_word][3:]
                variants.append(" ".join(hyphenated))
            for variant in [span, *variants]:
                [c] = extract(f'The agreement reads "{variant}" [Manufacturing Agreement p.{number}].', [record])
                assert c.quote is not None and c.verified is True, (number, variant)
                checked += 1
            break
    assert checked >= 20, f"only {checked} quotes checked: the contract's defined terms were not found"
