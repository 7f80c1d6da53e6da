"""A document's original file (``document_files``): the bytes it was ingested from, kept so that any replica can
show its pages as printed. Written in the same transaction as the document's record (``SqlDocuments.begin``), so
an ingest that fails leaves neither; deleted with the document (the foreign key cascades, on SQLite and
PostgreSQL alike). Documents ingested before revision 0003 have none."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from folio.records.database import Database
from folio.records.tables import document_files

MEDIA_TYPES = {"pdf": "application/pdf",
               "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "html": "text/html", "markdown": "text/markdown", "text": "text/plain"}


@dataclass(frozen=True)
class DocumentFile:
    """The original bytes of a document and what they are."""

    content: bytes
    media_type: str

    @classmethod
    def of(cls, content: bytes, format_name: str) -> DocumentFile:
        """The file of a document parsed as ``format_name`` (``DocumentRecord.format``)."""
        return cls(content=content, media_type=MEDIA_TYPES.get(format_name, "application/octet-stream"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def write_file(conn: Connection, doc_id: str, tenant: str, file: DocumentFile) -> None:
    """Store ``file`` as the document's, in the caller's transaction (replacing one it had)."""
    conn.execute(delete(document_files).where(document_files.c.document_id == doc_id))
    conn.execute(insert(document_files), [{"document_id": doc_id, "tenant": tenant, "media_type": file.media_type,
                                           "size": len(file.content), "sha256": file.sha256,
                                           "content": file.content}])


class DocumentFiles:
    """Reads the documents' original files."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def get(self, doc_id: str, *, tenant: str) -> DocumentFile | None:
        """The document's file, when ``tenant`` owns it and it was kept; else None."""
        with self.database.read() as conn:
            row = conn.execute(select(document_files.c.content, document_files.c.media_type).where(
                document_files.c.document_id == doc_id, document_files.c.tenant == tenant)).first()
        return None if row is None else DocumentFile(content=bytes(row.content), media_type=row.media_type)

    def digest(self, doc_id: str, *, tenant: str) -> str | None:
        """The SHA-256 of the document's file (for caching what is made from it), without reading the bytes."""
        with self.database.read() as conn:
            return conn.execute(select(document_files.c.sha256).where(
                document_files.c.document_id == doc_id, document_files.c.tenant == tenant)).scalar_one_or_none()
