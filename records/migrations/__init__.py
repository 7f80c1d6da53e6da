"""Alembic's migrations of the records' schema (``folio.records.tables``), run by ``folio.records.database`` on
first use. A new revision: add a module to ``versions/`` (``down_revision`` the current head) that changes the
tables as ``tables.py`` now describes them; ``tests/records/test_migrations.py`` checks that the head and
``tables.py`` agree, on SQLite and PostgreSQL."""
