"""Planning's remembered token counts belong to their counter, never to a later one that reuses its id."""

from __future__ import annotations

import gc

from folio.service.context import PAGE_CLOSE, count_layout, page_open, page_tags_tokens


class _Scaled:
    """A token counter that counts characters times ``k``: two of them count the same text differently."""

    def __init__(self, k: int) -> None:
        self.k = k

    def count(self, text: str) -> int:
        return len(text) * self.k

    def count_many(self, texts: list[str]) -> list[int]:
        return [self.count(t) for t in texts]


def test_a_new_counter_is_never_answered_from_a_dead_ones_counts():
    for k in range(1, 40):  # enough that CPython hands a dead counter's id to a new one
        counter = _Scaled(k)
        assert count_layout(counter, "<document>", "</document>") == 21 * k
        assert page_tags_tokens(counter, 0, 2) == k * sum(len(page_open(n) + PAGE_CLOSE) for n in (1, 2, 3))
        del counter
        gc.collect()


def test_counts_are_remembered_per_counter():
    calls: list[list[str]] = []

    class Counting(_Scaled):
        def count_many(self, texts: list[str]) -> list[int]:
            calls.append(texts)
            return super().count_many(texts)

    counter = Counting(1)
    assert count_layout(counter, "a header", "a header", "a footer") == 24
    assert count_layout(counter, "a header") == 8
    assert calls == [["a header", "a footer"]]
