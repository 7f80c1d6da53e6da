"""The collections a previous release kept its records in (``{prefix}_documents``, ``_ledger``, ``_jobs``), read
once so that ``folio.records.upgrade`` can move them into the records' database, then removed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from folio.index.retry import Qdrant


class LegacyCollections:
    """``folio.records.upgrade.LegacyRecords`` in a Qdrant: the collections the previous release kept records in."""

    def __init__(self, qdrant: Qdrant) -> None:
        self.qdrant = qdrant

    def collections(self) -> set[str]:
        listed = self.qdrant.call("list the collections", lambda: self.qdrant.client.get_collections().collections)
        return {c.name for c in listed}

    def scroll(self, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for point in self.qdrant.scroll(name, None, True):
            yield str(point.id), dict(point.payload or {})

    def drop(self, name: str) -> None:
        self.qdrant.call("remove a collection", lambda: self.qdrant.client.delete_collection(name))


class NoLegacyCollections:
    """An index that never held a previous release's records (Qdrant Edge, made after they moved to SQL)."""

    def collections(self) -> set[str]:
        return set()

    def scroll(self, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(())

    def drop(self, name: str) -> None:
        pass
