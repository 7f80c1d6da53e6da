"""BM25's statistics, per document: how many of its chunks hold each term (``document_terms``), written with the
record's flip to ``ready`` in one transaction (``SqlDocuments.finish``) and deleted with the record.

A question's IDF comes from the documents it searches: ``scope`` sums their rows, so a score depends on those
documents only, never on another tenant's documents or on documents outside the question's scope. Exact by
construction: the statistics of a document are written once, from the chunks it was written with, and a
document's record and its statistics appear and disappear together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, func, insert, select

from folio.records.database import Database
from folio.records.tables import document_terms, documents

CHUNKS = -1  # the row that holds a document's number of chunks
_IN_BATCH = 500  # ids or terms per IN (...) list


def insert_rows(conn: Connection, doc_id: str, chunks: int, containing: Mapping[int, int]) -> None:
    """A document's statistics (``containing``: term -> the chunks that hold it), in the caller's transaction."""
    rows = [{"document_id": doc_id, "term": CHUNKS, "chunks": chunks}]
    rows += [{"document_id": doc_id, "term": int(term), "chunks": int(n)} for term, n in containing.items()]
    for start in range(0, len(rows), 5_000):
        conn.execute(insert(document_terms), rows[start:start + 5_000])


class TermStats:
    """The BM25 statistics of the records' documents."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def scope(self, doc_ids: Sequence[str], terms: Iterable[int]) -> tuple[int, dict[int, int]]:
        """The chunks of these documents, and of them how many hold each of ``terms`` (terms none holds are
        absent)."""
        wanted = sorted({int(t) for t in terms} | {CHUNKS})
        ids = list(dict.fromkeys(doc_ids))
        totals: dict[int, int] = {}
        with self.database.read("read the BM25 statistics") as conn:
            for start in range(0, len(ids), _IN_BATCH):
                rows = conn.execute(
                    select(document_terms.c.term, func.sum(document_terms.c.chunks))
                    .where(document_terms.c.document_id.in_(ids[start:start + _IN_BATCH]),
                           document_terms.c.term.in_(wanted))
                    .group_by(document_terms.c.term))
                for term, n in rows:
                    totals[int(term)] = totals.get(int(term), 0) + int(n)
        chunks = totals.pop(CHUNKS, 0)
        return chunks, totals

    def put(self, doc_id: str, chunks: int, containing: Mapping[int, int]) -> None:
        """Write a document's statistics (an index from before they were kept), unless it has them."""
        with self.database.write("write BM25 statistics") as conn:
            if conn.execute(select(document_terms.c.term).where(document_terms.c.document_id == doc_id,
                                                                document_terms.c.term == CHUNKS)).first():
                return
            if conn.execute(select(documents.c.id).where(documents.c.id == doc_id)).first() is None:
                return  # deleted meanwhile
            insert_rows(conn, doc_id, chunks, containing)

    def of(self, doc_id: str) -> tuple[int, dict[int, int]] | None:
        """A document's statistics as stored, or None when it has none."""
        with self.database.read("read the BM25 statistics") as conn:
            rows = conn.execute(select(document_terms.c.term, document_terms.c.chunks).where(
                document_terms.c.document_id == doc_id)).all()
        counts = {int(term): int(n) for term, n in rows}
        if CHUNKS not in counts:
            return None
        return counts.pop(CHUNKS), counts

    def missing(self) -> list[str]:
        """Ready documents without statistics (ingested before Folio kept them)."""
        has = select(document_terms.c.document_id).where(document_terms.c.term == CHUNKS)
        with self.database.read("read the BM25 statistics") as conn:
            return list(conn.execute(select(documents.c.id).where(
                documents.c.status == "ready", documents.c.id.not_in(has)).order_by(documents.c.id)).scalars())
