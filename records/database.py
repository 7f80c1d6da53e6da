"""The records' database: a SQLite file in the data dir by default, PostgreSQL when ``FOLIO_DATABASE_URL`` says so.

``Database`` owns the SQLAlchemy engine and is the one place SQLAlchemy's and the drivers' exceptions become
Folio's: ``DatabaseConfigError`` for a URL that names no usable database (at start-up, naming the setting),
``DatabaseUnavailable`` (HTTP 503) for a database that cannot be reached or refused the work right now. Every
read and write runs in ``read()`` / ``write()``: a write is one transaction, so it happens whole or not at all;
after an outage the next call simply tries again (the pool drops dead connections, ``pool_pre_ping``).

SQLite: WAL mode, so that readers never wait for the writer and the CLI and a running service can both use the
file; transactions are begun by us (``BEGIN`` or, for a write, ``BEGIN IMMEDIATE``, which takes the write lock
up front so that two writers queue on the busy timeout rather than fail on an upgrade). PostgreSQL: a pool of
connections, each checked before use.

The schema is made and upgraded by Alembic (``folio.records.migrations``) on first use, inside one transaction
that holds the database's write lock (SQLite) or an advisory lock (PostgreSQL): replicas and processes that start
together migrate once. A ``guard`` may hold the records back after that, until they are whole: the store's waits
for the move of a previous release's records out of Qdrant (``folio.records.upgrade``).
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool

from folio.config import Settings
from folio.errors import DatabaseConfigError, DatabaseUnavailable

logger = logging.getLogger(__name__)

SETTING = "FOLIO_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# any 64-bit number of our own: the advisory lock that serialises PostgreSQL migrations
_MIGRATION_LOCK = 0x466F6C696F  # "Folio"
# the words in a driver's message that mean the URL itself is wrong (not that the server is down)
_CONFIG_WORDS = ("password authentication failed", "does not exist", "no password supplied",
                 "role \"", "authentication failed", "invalid dsn", "unable to open database file")


class Database:
    """One records database. Thread-safe; ``close()`` releases its connections."""

    def __init__(self, engine: Engine, *, where: str, migrate_lock: Path | None = None) -> None:
        """``migrate_lock``: a file that processes on one SQLite database lock while they make or upgrade its
        schema (none for PostgreSQL, whose advisory lock does it)."""
        self.engine = engine
        self._migrate_file = migrate_lock
        self.where = where  # what messages show: the dialect and place, never a password
        self.dialect = engine.dialect.name
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._guards: list[Callable[[], bool]] = []
        self._guarded = False  # a guard has yet to say the records may be used for good
        self._in_guard = threading.local()

    # -- opening ---------------------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The configured database, not yet connected: ``FOLIO_DATABASE_URL``, else ``DATA_DIR/folio.db``."""
        if settings.database_url is None:
            return cls.sqlite(settings.database_path)
        raw = settings.database_url.get_secret_value().strip()
        try:
            url = make_url(raw)
        except exc.ArgumentError:
            raise DatabaseConfigError(f"{SETTING} is not a database URL (expected "
                                      "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB or sqlite:///PATH)") from None
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                raise DatabaseConfigError(f"{SETTING}: a SQLite URL needs a file (sqlite:///PATH); an in-memory "
                                          "database would lose every record when Folio stops")
            return cls.sqlite(Path(url.database))
        if url.get_backend_name() != "postgresql":
            raise DatabaseConfigError(f"{SETTING}: {url.get_backend_name()!r} is not supported; use PostgreSQL "
                                      "(postgresql+psycopg://...) or SQLite (sqlite:///PATH)")
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        if not url.database:
            raise DatabaseConfigError(f"{SETTING} names no database (…/DBNAME at its end)")
        try:
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800,
                                   connect_args={"connect_timeout": 5})
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            raise DatabaseConfigError(f"{SETTING}: {error}") from None
        return cls(engine, where=shown_url(url))

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        """A SQLite file (made, with its folder, on first use)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # the driver's own busy timeout covers what runs before the PRAGMAs below (opening a locked file)
        engine = create_engine(URL.create("sqlite", database=str(path)),
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _sqlite_events(engine, wal=True)
        return cls(engine, where=f"sqlite:{path}", migrate_lock=path.with_name(path.name + ".migrate-lock"))

    @classmethod
    def memory(cls) -> Database:
        """A database in this process's memory, gone when it closes (an evaluation's scratch records)."""
        engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        _sqlite_events(engine, wal=False)
        return cls(engine, where="sqlite:(memory)")

    def close(self) -> None:
        self.engine.dispose()

    # -- use -------------------------------------------------------------------------------------------

    @contextmanager
    def read(self, what: str = "read") -> Iterator[Connection]:
        """A connection for reads (one snapshot: a transaction that is rolled back at the end)."""
        self._ensure()
        with self._translated(what), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, what: str = "write") -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        self._ensure()
        with self._translated(what), self.engine.connect() as conn:
            conn.execution_options(folio_write=True)
            with conn.begin():
                yield conn

    def check(self) -> None:
        """Raise the error that stops the database from being used now (readiness); migrates on first use."""
        with self.read("check") as conn:
            conn.execute(text("SELECT 1"))

    @property
    def migrated(self) -> bool:
        return self._migrated

    def guard(self, check: Callable[[], bool]) -> None:
        """Hold the records back until ``check`` lets them through: it is called before each read or write (once
        the schema is made) until it returns True, and from then on never again. While it raises, every read and
        write raises that; False lets this one through only (``check``'s own reads and writes, and those of what
        it calls, in its thread, always go through). Several threads may run it at once."""
        self._guards.append(check)
        self._guarded = True

    # -- the schema ------------------------------------------------------------------------------------

    def _ensure(self) -> None:
        if not self._migrated:
            with self._migrate_lock:
                if not self._migrated:
                    with self._translated("migrate"):
                        self._migrate()
                    self._migrated = True
        if self._guarded and not getattr(self._in_guard, "running", False):
            self._run_guards()

    def _run_guards(self) -> None:
        self._in_guard.running = True
        try:
            passed = all([check() for check in self._guards])
        finally:
            self._in_guard.running = False
        if passed:
            self._guarded = False

    def _migrate(self) -> None:
        with _quiet("alembic"), self._processes_in_turn():  # alembic's INFO lines describe its own machinery
            self._upgrade()

    @contextmanager
    def _processes_in_turn(self) -> Iterator[None]:
        """SQLite: one process (or ``Database``) at a time opens a new file and makes its schema. Two that start
        together on a new file otherwise race through its switch to WAL and the first transaction, and SQLite
        can answer the loser "database is locked" at once, without waiting out its busy timeout."""
        if self._migrate_file is None:
            yield
            return
        with self._migrate_file.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield

    def _upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        head = ScriptDirectory.from_config(config).get_current_head()
        with self.engine.connect() as conn:
            conn.execution_options(folio_write=True)
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                current = MigrationContext.configure(conn).get_current_revision()
                if current == head:
                    return
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        logger.info("records database %s: schema upgraded from %s to %s", self.where, current or "(empty)", head)

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except exc.ArgumentError as error:
            raise DatabaseConfigError(f"{SETTING}: {error}") from None
        except (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError) as error:
            raise self._unavailable(error, what) from error
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                raise self._unavailable(error, what) from error
            raise

    def _unavailable(self, error: Exception, what: str) -> DatabaseUnavailable | DatabaseConfigError:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()
        detail = cause[0][:300] if cause else type(error).__name__
        if any(word in detail.lower() for word in _CONFIG_WORDS):
            return DatabaseConfigError(f"{SETTING}: the records' database at {self.where} refused Folio: {detail}")
        return DatabaseUnavailable(f"the records' database at {self.where} cannot be used ({what}): {detail}")


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """The logger ``name`` says only warnings and errors for the duration (unless it was set quieter still)."""
    log = logging.getLogger(name)
    before = log.level
    log.setLevel(max(before, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(before)


def shown_url(url: URL) -> str:
    """A database URL as messages show it: never the password."""
    return url.render_as_string(hide_password=True)


def _sqlite_events(engine: Engine, *, wal: bool) -> None:
    """SQLite as Folio uses it: WAL (a file), a busy timeout, foreign keys, and transactions begun by us."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver begins nothing itself; ``_on_begin`` does
        cursor = dbapi_connection.cursor()
        # first: switching to WAL takes a lock, and another process may hold the write lock (a migration)
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("folio_write") else "BEGIN")
