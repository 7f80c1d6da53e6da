"""Citations and quote verification; usage normalisation across providers."""

from __future__ import annotations

from types import SimpleNamespace

from folio.records import DocumentRecord
from folio.service.citations import extract
from folio.service.llm import normalise_usage, reasoning_params


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
