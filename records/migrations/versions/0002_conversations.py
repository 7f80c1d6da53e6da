"""Conversations: threads of questions and their turns, and the ledger's conversation column.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("ledger", sa.Column("conversation_id", sa.String(40), nullable=True))
    op.create_index("ix_ledger_tenant_conversation", "ledger", ["tenant", "conversation_id", "ts"])
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("turns", sa.Integer, nullable=False),
        sa.Column("dollars", sa.Float, nullable=False),
        sa.Column("busy_token", sa.String(40), nullable=True),
        sa.Column("busy_since", sa.Float, nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
    )
    op.create_index("ix_conversations_tenant_updated", "conversations", ["tenant", "updated"])
    op.create_table(
        "conversation_turns",
        sa.Column("conversation_id", sa.String(40), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("dollars", sa.Float, nullable=False),
        sa.Column("thread_digest", sa.String(64), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "n", name="pk_conversation_turns"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE",
                                name="fk_conversation_turns_conversation_id_conversations"),
    )
    op.create_index("ix_conversation_turns_tenant_digest", "conversation_turns", ["tenant", "thread_digest"])


def downgrade() -> None:
    op.drop_index("ix_conversation_turns_tenant_digest", table_name="conversation_turns")
    op.drop_table("conversation_turns")
    op.drop_index("ix_conversations_tenant_updated", table_name="conversations")
    op.drop_table("conversations")
    op.drop_index("ix_ledger_tenant_conversation", table_name="ledger")
    with op.batch_alter_table("ledger") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("conversation_id")
