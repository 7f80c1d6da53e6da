"""The records' tables (SQLAlchemy Core), the same on SQLite and PostgreSQL. Alembic's migrations
(``folio.records.migrations``) make them; this module is what the code reads and writes through.

Columns are what a query filters, orders or sums on; the rest of a record is one JSON ``data`` column, so that a
field the code adds later needs no migration unless a query needs it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# JSON on SQLite (text), JSONB on PostgreSQL
Json = JSON().with_variant(JSONB(), "postgresql")

# One row per document (every version, every status); page texts in ``document_pages``.
documents = Table(
    "documents", metadata,
    Column("id", String(80), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # writing | ready | deleting
    Column("source", Text, nullable=True),  # a path, or upload:NAME
    Column("title", Text, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("ingested_at", String(40), nullable=False),  # ISO 8601: the canonical order's first key
    Column("n_pages", Integer, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("data", Json, nullable=False),  # every other field of ``DocumentRecord``
    Index("ix_documents_tenant_status", "tenant", "status", "ingested_at"),
    Index("ix_documents_status", "status", "ingested_at"),
    Index("ix_documents_source", "source"),
)

document_pages = Table(
    "document_pages", metadata,
    Column("document_id", String(80), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("page", Integer, primary_key=True),  # 0-based
    Column("text", Text, nullable=False),
)

# BM25's statistics per document: for each term, how many of its chunks hold it; term -1 holds its number of
# chunks. A question's IDF is summed from its scope's rows (``folio.records.term_stats``).
document_terms = Table(
    "document_terms", metadata,
    Column("document_id", String(80), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("term", Integer, primary_key=True),  # ``folio.index.sparse.term_index``, 31 bits; -1: every chunk
    Column("chunks", Integer, nullable=False),
)

# One row per provider request (``folio.service.ledger.LedgerEntry``).
ledger = Table(
    "ledger", metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("ts", Float, nullable=False),  # Unix time
    Column("minute_of_day", Integer, nullable=False),  # UTC, from ts: the summary re-prices by time of day
    Column("kind", String(20), nullable=False),
    Column("route", String(20), nullable=False),
    Column("prefix_hash", String(80), nullable=True),
    Column("scope_key", String(200), nullable=True),
    Column("doc_scope", Text, nullable=False),  # the summary's scope: sorted 12-digit document ids, or (none)
    Column("query_id", String(40), nullable=True),
    Column("profile", String(80), nullable=False),
    Column("model", String(200), nullable=False),
    Column("reasoning", String(16), nullable=True),
    Column("usage_source", String(16), nullable=False),
    Column("hit_tokens", BigInteger, nullable=False),
    Column("miss_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("prefix_tokens", BigInteger, nullable=True),  # the cache state's hit ratio is hits / prefix tokens
    Column("dollars", Float, nullable=False),
    Column("priced", Boolean, nullable=False),  # whether ``data`` holds the rates it was billed at
    Column("conversation_id", String(40), nullable=True),  # the conversation a turn's request belongs to
    Column("data", Json, nullable=False),  # the rest of the entry: doc_ids, doc_tokens, prices, window, ...
    # A plan reads the most recent requests on a prefix (its cache state) and of a scope (its session), newest
    # first by (ts, id): each read walks its index backwards and stops at its limit, with no sort, and finds every
    # column it needs in the index, never reading the table (``LedgerRecords.cache_history``, ``session_history``)
    Index("ix_ledger_tenant_prefix", "tenant", "prefix_hash", "ts", "id", "kind", "reasoning", "prefix_tokens",
          "hit_tokens"),
    Index("ix_ledger_tenant_scope", "tenant", "scope_key", "ts", "id", "kind", "query_id"),
    Index("ix_ledger_tenant_ts", "tenant", "ts"),
    Index("ix_ledger_tenant_conversation", "tenant", "conversation_id", "ts"),
)

# A ledger entry's share of each document it was about: the summary's spend by document is a GROUP BY here.
ledger_documents = Table(
    "ledger_documents", metadata,
    Column("entry_id", String(40), ForeignKey("ledger.id", ondelete="CASCADE"), primary_key=True),
    Column("document_id", String(80), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("share", Float, nullable=False),  # of the entry's tokens and dollars, by the document's tokens
    Column("shared", Boolean, nullable=False),  # the request was about several documents
    Index("ix_ledger_documents_tenant_document", "tenant", "document_id"),
)

# The summary's running totals (``folio.records.ledger_summary``), kept in the transaction that writes the entries:
# per tenant and group (``dimension``: total, profile, route, scope or document; ``key``: the group's name), what
# ``GET /v1/ledger`` shows. Keyed by a hash of the name: a scope's name grows with its documents, past what a
# PostgreSQL index entry may hold.
ledger_totals = Table(
    "ledger_totals", metadata,
    Column("tenant", String(200), primary_key=True),
    Column("dimension", String(16), primary_key=True),
    Column("key_hash", String(64), primary_key=True),  # sha256 of ``key``
    Column("key", Text, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("shared", BigInteger, nullable=False),  # of them, about other documents too (by document only)
    Column("estimated", BigInteger, nullable=False),  # of them, with usage Folio estimated
    # floats: a document's tokens are its share of each request's
    Column("hit_tokens", Float, nullable=False),
    Column("miss_tokens", Float, nullable=False),
    Column("output_tokens", Float, nullable=False),
    Column("dollars", Float, nullable=False),
)

# The tokens of each tenant's requests by UTC minute of the day: the whole ledger re-priced at any profile, time of
# day rates included, from at most 1,440 rows a tenant.
ledger_minutes = Table(
    "ledger_minutes", metadata,
    Column("tenant", String(200), primary_key=True),
    Column("minute_of_day", Integer, primary_key=True),
    Column("hit_tokens", BigInteger, nullable=False),
    Column("miss_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
)

# The rates that each tenant's latest priced entry of a profile stored (the latest by time, then id).
ledger_rates = Table(
    "ledger_rates", metadata,
    Column("tenant", String(200), primary_key=True),
    Column("profile", String(80), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("entry_id", String(40), nullable=False),
    Column("prices", Json, nullable=False),
)

# Upload jobs: the queue replicas claim work from, and what GET /v1/jobs shows.
jobs = Table(
    "jobs", metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created", Float, nullable=False),
    Column("finished", Float, nullable=True),
    Column("heartbeat", Float, nullable=True),
    Column("worker", String(200), nullable=True),  # the replica running it (or that ran it)
    Column("attempts", Integer, nullable=False, default=0),
    Column("data", Json, nullable=False),  # the job as GET /v1/jobs shows it
    Index("ix_jobs_tenant_created", "tenant", "created"),
    Index("ix_jobs_status_created", "status", "created"),
)

# An upload's bytes until its job has run: any replica that claims the job reads them here.
job_uploads = Table(
    "job_uploads", metadata,
    Column("job_id", String(40), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# Conversations: one row per thread (its scope, the layout its requests build on, its running totals), and a
# lock a turn holds while it runs (``busy_token``), so that two turns of one thread never interleave.
conversations = Table(
    "conversations", metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),  # the last activity: lists are newest first by it
    Column("turns", Integer, nullable=False),
    Column("dollars", Float, nullable=False),
    Column("busy_token", String(40), nullable=True),
    Column("busy_since", Float, nullable=True),
    Column("data", Json, nullable=False),  # the scope and the thread's state (``folio.records.conversation_records``)
    Index("ix_conversations_tenant_updated", "tenant", "updated"),
)

# A conversation's turns, numbered from 1: what was asked and answered, the exact user message the thread sent,
# and the whole answer as the API showed it. ``thread_digest`` names the history up to and including the turn,
# so that a chat client that sends the whole history again continues the same conversation.
conversation_turns = Table(
    "conversation_turns", metadata,
    Column("conversation_id", String(40), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("created", Float, nullable=False),
    Column("route", String(20), nullable=False),
    Column("dollars", Float, nullable=False),
    Column("thread_digest", String(64), nullable=False),
    Column("data", Json, nullable=False),
    Index("ix_conversation_turns_tenant_digest", "tenant", "thread_digest"),
)

# A document's original file, kept so that its pages can be rendered as printed (PDF page images, the boxes of a
# quoted passage) by any replica; deleted with the document.
document_files = Table(
    "document_files", metadata,
    Column("document_id", String(80), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("media_type", String(120), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

# Collections: named sets of a tenant's documents (a deal room, a year of filings). ``position`` keeps the order
# documents joined, so that a collection's scope grows at its end and the cached prefix of the earlier ones holds.
collections = Table(
    "collections", metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    UniqueConstraint("tenant", "name", name="uq_collections_tenant_name"),
)

collection_documents = Table(
    "collection_documents", metadata,
    Column("collection_id", String(40), ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True),
    Column("document_id", String(80), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("added", Float, nullable=False),
    Index("ix_collection_documents_document_id", "document_id"),
)

# Facts about the records themselves (the one-time move of records out of Qdrant, ...).
facts = Table(
    "facts", metadata,
    Column("key", String(80), primary_key=True),
    Column("value", Text, nullable=False),
)
