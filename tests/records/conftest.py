"""What the records' tests share: the database, opened as often as a test needs it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from folio.config import Settings
from folio.records.database import Database


@pytest.fixture
def databases(tmp_path: Path, database_url: str | None) -> Iterator[Callable[[], Database]]:
    """Opens the records' database (a SQLite file, or a fresh PostgreSQL database) as often as a test needs:
    each one is a replica's own connection pool onto the same database."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    opened: list[Database] = []

    def open_one() -> Database:
        opened.append(Database.from_settings(settings))
        return opened[-1]

    yield open_one
    for database in opened:
        database.close()
