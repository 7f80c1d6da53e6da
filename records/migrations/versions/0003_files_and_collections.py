"""The documents' original files (for page images and downloads), and collections of documents.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_files",
        sa.Column("document_id", sa.String(80), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("media_type", sa.String(120), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("document_id", name="pk_document_files"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE",
                                name="fk_document_files_document_id_documents"),
    )
    op.create_table(
        "collections",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_collections"),
        sa.UniqueConstraint("tenant", "name", name="uq_collections_tenant_name"),
    )
    op.create_table(
        "collection_documents",
        sa.Column("collection_id", sa.String(40), nullable=False),
        sa.Column("document_id", sa.String(80), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("added", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("collection_id", "document_id", name="pk_collection_documents"),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE",
                                name="fk_collection_documents_collection_id_collections"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE",
                                name="fk_collection_documents_document_id_documents"),
    )
    op.create_index("ix_collection_documents_document_id", "collection_documents", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_collection_documents_document_id", table_name="collection_documents")
    op.drop_table("collection_documents")
    op.drop_table("collections")
    op.drop_table("document_files")
