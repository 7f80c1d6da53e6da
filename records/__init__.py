"""Folio's records: what it knows about each document apart from its chunks, and the service's own records (the
``records/`` folder), in a relational database: a SQLite file in the data dir by default, PostgreSQL at scale.

- ``database.Database``: the engine, its errors as Folio's, the schema kept up to date by Alembic (``migrations``);
- ``tables``: the tables; ``model.DocumentRecord``: one document's record;
- ``protocol.DocumentRecords`` and ``sql_documents.SqlDocuments``: the document records;
- ``ledger_records``: the ledger's entries; ``ledger_summary``: the running totals its summary reads;
  ``job_records``: the upload jobs;
- ``lookup``: a record by id, id prefix or page; ``migration``: tags records written before Folio tagged them.
"""

from folio.records.model import DocumentRecord
from folio.records.protocol import DocumentRecords

__all__ = ["DocumentRecord", "DocumentRecords"]
