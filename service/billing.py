"""Billing: every provider call of a question priced and entered in the ledger, by one function.

A question's calls (a warm-up, the question, a cascade's retrieval step, coverage's windows and reduce) are
charged as they return (``Bill.charge``: the dollars at the profile's prices, one ``LedgerEntry``), and written
to the ledger together once the answer's citations are checked (``Bill.write``), or on the way out when the
question fails, so that what was spent is always billed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from folio.service.ledger import Ledger, LedgerEntry, Usage
from folio.service.pricing import PricingProfile


@dataclass(frozen=True)
class Window:
    """A coverage window, as its ledger entries name it."""

    index: int
    of: int


class Bill:
    """One question's provider calls: priced as they come, written to the ledger by ``write``. Thread-safe."""

    def __init__(self, ledger: Ledger, prices: PricingProfile, *, tenant: str, query_id: str,
                 scope_key: str, reasoning: str | None = None, conversation_id: str | None = None) -> None:
        self.ledger = ledger
        self.prices = prices
        self.tenant = tenant
        self.query_id = query_id
        self.scope_key = scope_key
        self.reasoning = reasoning  # the question's thinking mode: the ledger learns whether a change of it misses
        self.conversation_id = conversation_id  # a conversation turn's: every request of it names the thread
        self.usage = Usage()
        self.dollars = 0.0
        self._pending: list[LedgerEntry] = []
        self._lock = threading.Lock()

    def charge(self, kind: str, usage: Usage, *, model: str, route: str, doc_ids: list[str], doc_tokens: list[int],
               estimated: float | None, prefix_hash: str | None = None, prefix_tokens: int = 0,
               window: Window | None = None, usage_source: str = "provider") -> float:
        """One provider call: its dollars, and its ledger entry (written by ``write``). ``kind``: question,
        warmup, map or reduce; ``usage_source``: provider, or estimated when the provider sent none."""
        rates = self.prices.at()  # the rates in force now (a profile may price hours of the day apart)
        dollars = rates.dollars(hit_tokens=usage.hit_tokens, miss_tokens=usage.miss_tokens,
                                output_tokens=usage.output_tokens)
        entry = LedgerEntry(
            kind=kind, route=route, prefix_hash=prefix_hash, doc_ids=doc_ids, doc_tokens=doc_tokens, usage=usage,
            dollars=dollars, estimated_dollars=estimated, model=model, profile=self.prices.name,
            prices=rates.per_million(), prefix_tokens=prefix_tokens, tenant=self.tenant, query_id=self.query_id,
            scope_key=self.scope_key, usage_source=usage_source, window=window.index if window else None,
            windows=window.of if window else None, reasoning=self.reasoning, conversation_id=self.conversation_id)
        with self._lock:
            self._pending.append(entry)
            self.usage = self.usage.add(usage)
            self.dollars += dollars
        return dollars

    def write(self) -> None:
        """Enter the calls charged so far in the ledger, in the order they were charged."""
        with self._lock:
            pending, self._pending = self._pending, []
        for entry in pending:
            self.ledger.record(entry)
