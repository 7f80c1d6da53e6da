"""The records move out of Qdrant: documents, their pages and BM25 statistics, the ledger (and its summary's
running totals), upload jobs and their bytes.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("ingested_at", sa.String(40), nullable=False),
        sa.Column("n_pages", sa.Integer, nullable=False),
        sa.Column("total_tokens", sa.BigInteger, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_index("ix_documents_tenant_status", "documents", ["tenant", "status", "ingested_at"])
    op.create_index("ix_documents_status", "documents", ["status", "ingested_at"])
    op.create_index("ix_documents_source", "documents", ["source"])

    op.create_table(
        "document_pages",
        sa.Column("document_id", sa.String(80), nullable=False),
        sa.Column("page", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("document_id", "page", name="pk_document_pages"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE",
                                name="fk_document_pages_document_id_documents"),
    )

    op.create_table(
        "document_terms",
        sa.Column("document_id", sa.String(80), nullable=False),
        sa.Column("term", sa.Integer, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("document_id", "term", name="pk_document_terms"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE",
                                name="fk_document_terms_document_id_documents"),
    )

    op.create_table(
        "ledger",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("minute_of_day", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("prefix_hash", sa.String(80), nullable=True),
        sa.Column("scope_key", sa.String(200), nullable=True),
        sa.Column("doc_scope", sa.Text, nullable=False),
        sa.Column("query_id", sa.String(40), nullable=True),
        sa.Column("profile", sa.String(80), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("reasoning", sa.String(16), nullable=True),
        sa.Column("usage_source", sa.String(16), nullable=False),
        sa.Column("hit_tokens", sa.BigInteger, nullable=False),
        sa.Column("miss_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger, nullable=False),
        sa.Column("prefix_tokens", sa.BigInteger, nullable=True),
        sa.Column("dollars", sa.Float, nullable=False),
        sa.Column("priced", sa.Boolean, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger"),
    )
    op.create_index("ix_ledger_tenant_prefix", "ledger",
                    ["tenant", "prefix_hash", "ts", "id", "kind", "reasoning", "prefix_tokens", "hit_tokens"])
    op.create_index("ix_ledger_tenant_scope", "ledger", ["tenant", "scope_key", "ts", "id", "kind", "query_id"])
    op.create_index("ix_ledger_tenant_ts", "ledger", ["tenant", "ts"])

    op.create_table(
        "ledger_documents",
        sa.Column("entry_id", sa.String(40), nullable=False),
        sa.Column("document_id", sa.String(80), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("share", sa.Float, nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "document_id", name="pk_ledger_documents"),
        sa.ForeignKeyConstraint(["entry_id"], ["ledger.id"], ondelete="CASCADE",
                                name="fk_ledger_documents_entry_id_ledger"),
    )
    op.create_index("ix_ledger_documents_tenant_document", "ledger_documents", ["tenant", "document_id"])

    op.create_table(
        "ledger_totals",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("shared", sa.BigInteger, nullable=False),
        sa.Column("estimated", sa.BigInteger, nullable=False),
        sa.Column("hit_tokens", sa.Float, nullable=False),
        sa.Column("miss_tokens", sa.Float, nullable=False),
        sa.Column("output_tokens", sa.Float, nullable=False),
        sa.Column("dollars", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "dimension", "key_hash", name="pk_ledger_totals"),
    )

    op.create_table(
        "ledger_minutes",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("minute_of_day", sa.Integer, nullable=False),
        sa.Column("hit_tokens", sa.BigInteger, nullable=False),
        sa.Column("miss_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "minute_of_day", name="pk_ledger_minutes"),
    )

    op.create_table(
        "ledger_rates",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("profile", sa.String(80), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("entry_id", sa.String(40), nullable=False),
        sa.Column("prices", JSON, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "profile", name="pk_ledger_rates"),
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("finished", sa.Float, nullable=True),
        sa.Column("heartbeat", sa.Float, nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_tenant_created", "jobs", ["tenant", "created"])
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created"])

    op.create_table(
        "job_uploads",
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_job_uploads"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE", name="fk_job_uploads_job_id_jobs"),
    )

    op.create_table(
        "facts",
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_facts"),
    )


def downgrade() -> None:
    for table in ("facts", "job_uploads", "jobs", "ledger_rates", "ledger_minutes", "ledger_totals",
                  "ledger_documents", "ledger", "document_terms", "document_pages", "documents"):
        op.drop_table(table)
