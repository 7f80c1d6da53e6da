"""Plain records (the service's ledger and upload jobs) as payloads of vector-less Qdrant collections,
``{prefix}_{suffix}``. ``QdrantKeyValue`` filters on a Qdrant server; ``LocalQdrantKeyValue`` (local mode: this
process makes every write) keeps each collection in memory once read, in sync write by write."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from folio.errors import StoreError
from folio.index.retry import Qdrant
from folio.index.schema import ensure_plain_collection
from folio.records.qdrant_documents import field_filter

logger = logging.getLogger(__name__)


class QdrantKeyValue:
    """``KeyValueRecords`` on a Qdrant server."""

    def __init__(self, qdrant: Qdrant, prefix: str, *, shards: int = 1, replicas: int = 1) -> None:
        self.qdrant = qdrant
        self.prefix = prefix
        self.shards = shards
        self.replicas = replicas
        self._names: list[str] = []  # collections to make whenever Qdrant is (re)opened
        qdrant.on_open(self._ensure_all)

    def collection(self, suffix: str) -> str:
        """A vector-less collection for plain records, created on first use: ``{prefix}_{suffix}``. While the
        index cannot be used, it is created when the index opens (or finds the server again)."""
        name = f"{self.prefix}_{suffix}"
        if name not in self._names:
            self._names.append(name)
        if not self.qdrant.usable:
            try:
                self.qdrant.available()  # opening makes every record collection
            except StoreError as exc:
                logger.debug("%s: made when the index opens (%s)", name, exc.code)
            return name
        self._ensure(name)
        return name

    def get(self, collection: str, record_id: str) -> dict[str, Any] | None:
        """One record's payload by its id (a UUID), or None; read from Qdrant in both modes."""
        points = self.qdrant.call("read", lambda: self.qdrant.client.retrieve(collection, [record_id],
                                                                              with_payload=True))
        return dict(points[0].payload or {}) if points else None

    def put(self, collection: str, record_id: str, payload: dict[str, Any]) -> None:
        from qdrant_client import models

        point = models.PointStruct(id=record_id, vector={}, payload=payload)
        self.qdrant.call("write", lambda: self.qdrant.client.upsert(collection, [point], wait=True), retries=4)

    def delete(self, collection: str, record_ids: Sequence[str]) -> None:
        from qdrant_client import models

        if not record_ids:
            return
        self.qdrant.call("delete", lambda: self.qdrant.client.delete(
            collection, points_selector=models.PointIdsList(points=list(record_ids)), wait=True))

    def scan(self, collection: str, *, key: str | None = None, value: str = "") -> list[dict[str, Any]]:
        flt = None if key is None else field_filter(key, value)
        return [dict(p.payload or {}) for p in self.qdrant.scroll(collection, flt, True)]

    def _ensure_all(self) -> None:
        for name in self._names:
            self._ensure(name)

    def _ensure(self, name: str) -> None:
        ensure_plain_collection(self.qdrant, name, shards=self.shards, replicas=self.replicas)


class LocalQdrantKeyValue(QdrantKeyValue):
    """``KeyValueRecords`` in Qdrant's local mode, each collection held in memory once read."""

    def __init__(self, qdrant: Qdrant, prefix: str, *, shards: int = 1, replicas: int = 1) -> None:
        super().__init__(qdrant, prefix, shards=shards, replicas=replicas)
        self._held: dict[str, dict[str, dict[str, Any]]] = {}  # collection -> point id -> payload
        qdrant.on_reset(self.reset)

    def reset(self) -> None:
        with self.qdrant.lock:
            self._held = {}

    def put(self, collection: str, record_id: str, payload: dict[str, Any]) -> None:
        with self.qdrant.lock:
            super().put(collection, record_id, payload)
            if collection in self._held:
                self._held[collection][str(uuid.UUID(record_id))] = dict(payload)

    def delete(self, collection: str, record_ids: Sequence[str]) -> None:
        with self.qdrant.lock:
            super().delete(collection, record_ids)
            for record_id in record_ids:
                self._held.get(collection, {}).pop(str(uuid.UUID(record_id)), None)

    def scan(self, collection: str, *, key: str | None = None, value: str = "") -> list[dict[str, Any]]:
        with self.qdrant.lock:
            if collection not in self._held:
                self._held[collection] = {str(p.id): dict(p.payload or {})
                                          for p in self.qdrant.scroll(collection, None, True)}
            return [dict(p) for p in self._held[collection].values() if key is None or p.get(key) == value]
