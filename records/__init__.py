"""Folio's records: what it knows about each document apart from its chunks, and the plain records of the
service (the ``records/`` folder).

- ``model.DocumentRecord``: one document's record (metadata, status, page texts, per-page token counts);
- ``protocol``: ``DocumentRecords`` and ``KeyValueRecords`` (the ledger's and the upload jobs' collections),
  what callers use;
- ``qdrant_documents``, ``qdrant_keyvalue``: today's implementations, Qdrant payloads (a server, or local mode
  with the records held in memory); a SQL implementation replaces them behind the protocols;
- ``lookup``: a record by id, id prefix or page; ``migration``: tags records written before Folio tagged them.
"""

from folio.records.model import DocumentRecord
from folio.records.protocol import DocumentRecords, KeyValueRecords

__all__ = ["DocumentRecord", "DocumentRecords", "KeyValueRecords"]
