"""Document records as payloads of a vector-less Qdrant collection, ``{prefix}_documents``: one point per
document, its id the first 32 hex digits of the document's id. ``QdrantDocuments`` asks Qdrant every time (a
server, shared by replicas: filters run there, on indexed ``status`` and ``source``); ``LocalQdrantDocuments``
keeps the records in memory (local mode: this process makes every write), read again after each write."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from folio.index.retry import Qdrant
from folio.index.schema import ensure_plain_collection
from folio.records.model import DocumentRecord


def document_point_id(doc_id: str) -> str:
    """The point that holds a document's record."""
    return str(uuid.UUID(hex=doc_id[:32]))


def payload_selector(exclude: list[str] | None) -> Any:
    """qdrant-client's ``with_payload`` for the whole payload but ``exclude``."""
    if not exclude:
        return True
    from qdrant_client import models

    return models.PayloadSelectorExclude(exclude=exclude)


def field_filter(key: str, value: str) -> Any:
    """The payload filter for records whose ``key`` equals ``value``."""
    from qdrant_client import models

    return models.Filter(must=[models.FieldCondition(key=key, match=models.MatchValue(value=value))])


def _canonical(records: list[DocumentRecord]) -> list[DocumentRecord]:
    return sorted(records, key=lambda r: (r.ingested_at, r.id))


class QdrantDocuments:
    """``DocumentRecords`` on a Qdrant server."""

    keywords: tuple[str, ...] = ("status", "source")  # payload fields indexed as the collection is made

    def __init__(self, qdrant: Qdrant, name: str, *, shards: int = 1, replicas: int = 1) -> None:
        self.qdrant = qdrant
        self.name = name
        self.shards = shards
        self.replicas = replicas
        qdrant.on_open(self.ensure)

    def ensure(self) -> None:
        ensure_plain_collection(self.qdrant, self.name, shards=self.shards, replicas=self.replicas,
                                keywords=self.keywords)

    def get(self, doc_id: str, *, with_pages: bool = False) -> DocumentRecord | None:
        exclude = None if with_pages else ["pages"]
        points = self.qdrant.call("read", lambda: self.qdrant.client.retrieve(
            self.name, [document_point_id(doc_id)], with_payload=payload_selector(exclude)))
        if not points or not points[0].payload or points[0].payload.get("id") != doc_id:
            return None
        return DocumentRecord.model_validate(points[0].payload)

    def list_documents(self, *, status: str | None = "ready", tenant: str | None = None) -> list[DocumentRecord]:
        flt = None if status is None else field_filter("status", status)
        # the tenant is checked here, not in the filter: records from before tenants lack the field
        return _canonical([r for r in self._scan(flt) if tenant is None or r.tenant == tenant])

    def find_by_source(self, source: str, *, tenant: str | None = None) -> list[DocumentRecord]:
        return [r for r in self._scan(field_filter("source", source)) if tenant is None or r.tenant == tenant]

    def begin(self, record: DocumentRecord) -> None:
        from qdrant_client import models

        payload = record.model_dump()
        payload["status"] = "writing"
        point = models.PointStruct(id=document_point_id(record.id), vector={}, payload=payload)
        self._write(lambda: self.qdrant.client.upsert(self.name, [point], wait=True))

    def set_status(self, doc_id: str, status: str, **fields: Any) -> None:
        self._write(lambda: self.qdrant.client.set_payload(
            self.name, {"status": status, **fields}, points=[document_point_id(doc_id)], wait=True))

    def set_title(self, doc_id: str, title: str) -> None:
        self._write(lambda: self.qdrant.client.set_payload(
            self.name, {"title": title}, points=[document_point_id(doc_id)], wait=True))

    def set_tags(self, doc_id: str, statement_pages: dict[str, list[int]], genre: str) -> None:
        self._write(lambda: self.qdrant.client.set_payload(
            self.name, {"statement_pages": statement_pages, "genre": genre}, points=[document_point_id(doc_id)],
            wait=True))

    def delete(self, doc_id: str) -> None:
        from qdrant_client import models

        self._write(lambda: self.qdrant.client.delete(
            self.name, points_selector=models.PointIdsList(points=[document_point_id(doc_id)]), wait=True))

    def _scan(self, flt: Any) -> list[DocumentRecord]:
        return [DocumentRecord.model_validate(p.payload)
                for p in self.qdrant.scroll(self.name, flt, payload_selector(["pages"]))]

    def _write(self, fn: Callable[[], Any]) -> None:
        self.qdrant.call("write", fn)


class LocalQdrantDocuments(QdrantDocuments):
    """``DocumentRecords`` in Qdrant's local mode: every record (without page texts) held in memory."""

    keywords = ()  # local mode checks every payload in Python; an index would have no effect

    def __init__(self, qdrant: Qdrant, name: str, *, shards: int = 1, replicas: int = 1) -> None:
        super().__init__(qdrant, name, shards=shards, replicas=replicas)
        self._records: list[DocumentRecord] | None = None
        qdrant.on_reset(self.reset)

    def reset(self) -> None:
        """Forget the records held in memory; they are read again when next needed."""
        with self.qdrant.lock:
            self._records = None

    def list_documents(self, *, status: str | None = "ready", tenant: str | None = None) -> list[DocumentRecord]:
        with self.qdrant.lock:
            if self._records is None:
                self._records = _canonical(self._scan(None))
            return [r for r in self._records if (status is None or r.status == status)
                    and (tenant is None or r.tenant == tenant)]

    def find_by_source(self, source: str, *, tenant: str | None = None) -> list[DocumentRecord]:
        return [r for r in self.list_documents(status=None, tenant=tenant) if r.source == source]

    def _write(self, fn: Callable[[], Any]) -> None:
        with self.qdrant.lock:
            self._records = None  # read again after any write, even a failed one
            super()._write(fn)
