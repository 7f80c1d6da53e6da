"""Alembic's environment: the caller (``folio.records.database``) hands over a connection in a transaction."""

from __future__ import annotations

from alembic import context

from folio.records.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
