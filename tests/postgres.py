"""A real PostgreSQL for the tests, as a pytest plugin (tests/conftest.py loads it through ``pytest_plugins``).

``postgres_server`` (session) starts a throwaway cluster: ``initdb`` into a temporary directory (trust
authentication, UTF8, C collation as SQLite's, no fsync), ``pg_ctl start`` on 127.0.0.1 and a free port with
its unix socket in a private directory; it is stopped and deleted when the session ends. As root (initdb refuses
root) every PostgreSQL program runs as the ``postgres`` user that Debian's package creates. With
``FOLIO_TEST_POSTGRES_URL`` set, the tests use that server instead and start nothing; ``stop``/``start`` then
skip the tests that need them. Without PostgreSQL's programs the tests that need it skip (fail under ``CI``).

``postgres_url`` (function) is a fresh, empty database per test; ``database_url`` runs a test twice, on the
default SQLite file (``None``) and on a fresh PostgreSQL database. Tests that take ``postgres_server`` or
``postgres_url`` directly or through other fixtures, and the ``postgresql`` case of ``database_url``, are marked
``postgres``: ``pytest -m postgres`` runs exactly that tier and ``-m "not postgres"`` never starts a server.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

ENV_URL = "FOLIO_TEST_POSTGRES_URL"
SUPERUSER = "postgres"
START_TIMEOUT_S = 30
LIB_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = "apt-get install postgresql"
_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# the server's settings for tests: loopback only, nothing waits for the disk (a crash loses a throwaway cluster)
_SERVER_OPTIONS = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def _version(bin_dir: Path) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,); unparsable names sort first."""
    parts = bin_dir.parent.name.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()


def find_bin_dir(path: str | None = None, lib_root: Path = LIB_ROOT) -> Path | None:
    """The folder of initdb, pg_ctl and postgres: pg_ctl's on PATH, else the highest version under lib_root.

    A pg_ctl on PATH counts only if initdb and postgres lie beside it (after links are followed), so a wrapper
    script that dispatches to a versioned folder is passed over for that folder.
    """
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl", path=path)
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(lib_root.glob("*/bin"), key=_version, reverse=True)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) and (folder / name).is_file() for name in _PROGRAMS):
            return folder
    return None


def unavailable(reason: str) -> NoReturn:
    """No PostgreSQL to test against: a failure in CI, where scripts/test installs it, else a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure: scripts/test runs {INSTALL_HINT})", pytrace=False)
    pytest.skip(f"{reason}: {INSTALL_HINT} for the PostgreSQL tests, or set {ENV_URL} to a server's URL")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _connect_kwargs(url: URL) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"host": url.host, "port": url.port, "user": url.username, "password": url.password,
                              "dbname": url.database}
    kwargs.update({k: v for k, v in url.query.items() if isinstance(v, str)})  # e.g. sslmode
    return {k: v for k, v in kwargs.items() if v is not None}


class Cluster:
    """A PostgreSQL cluster in a temporary directory, run by ``owner`` (None: by this process's user)."""

    def __init__(self, bin_dir: Path, owner: pwd.struct_passwd | None) -> None:
        self.bin_dir = bin_dir
        self.owner = owner
        self.base = Path(tempfile.mkdtemp(prefix="folio-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"  # private: no other cluster's socket, no /var/run/postgresql needed
        self.log = self.base / "server.log"
        self.port = 0
        self.running = False
        self.sockets.mkdir()
        if owner is not None:
            for path in (self.base, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)

    def _run(self, program: str, *args: str, timeout: float = START_TIMEOUT_S + 10) -> subprocess.CompletedProcess[str]:
        # no PG* variables from the caller (PGDATA, PGPORT, ...): every setting is on the command line
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        user: dict[str, Any] = {}
        if self.owner is not None:
            user = {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}
            env.update(HOME=self.owner.pw_dir, USER=self.owner.pw_name, LOGNAME=self.owner.pw_name)
        return subprocess.run([str(self.bin_dir / program), *args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.base, env=env, check=False, **user)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def _failure(self, what: str, result: subprocess.CompletedProcess[str]) -> RuntimeError:
        return RuntimeError(f"{what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}\n"
                            f"-- server log {self.log} --\n{self.log_tail()}")

    def init(self) -> None:
        result = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                           "--no-locale", "--no-sync")
        if result.returncode != 0:
            raise self._failure("initdb", result)

    def start(self, port: int | None = None) -> None:
        """Start on ``port`` (default: the last one), wait until it takes connections over TCP."""
        self.port = port or self.port
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                   "-c", f"unix_socket_directories={self.sockets}", *_SERVER_OPTIONS]
        result = self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w",
                           "-t", str(START_TIMEOUT_S), "-o", shlex.join(options))
        if result.returncode != 0:
            raise self._failure(f"pg_ctl start on 127.0.0.1:{self.port}", result)
        self.running = True
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # pg_ctl -w saw it ready; make sure the TCP listener is what answers
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                                connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL on 127.0.0.1:{self.port} did not take connections within "
                                       f"{START_TIMEOUT_S}s: {exc}\n-- server log --\n{self.log_tail()}") from exc
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients are disconnected and the server shuts down cleanly; ``immediate``: no checkpoint."""
        result = self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", str(START_TIMEOUT_S))
        if result.returncode != 0:
            raise self._failure(f"pg_ctl stop -m {mode}", result)
        self.running = False

    def remove(self) -> None:
        if self.running or (self.data / "postmaster.pid").exists():
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


class PostgresServer:
    """A PostgreSQL server for the tests: one started for the session (``cluster``), or one someone runs."""

    def __init__(self, admin_url: URL, cluster: Cluster | None = None) -> None:
        self.admin_url = admin_url  # a superuser's (or a CREATEDB role's) URL to a database that stays
        self.cluster = cluster

    @classmethod
    def external(cls, url: str) -> PostgresServer:
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            raise ValueError(f"{ENV_URL} must be a postgresql:// URL, not {parsed.drivername}://")
        return cls(parsed.set(drivername="postgresql+psycopg", database=parsed.database or "postgres"))

    @property
    def managed(self) -> bool:
        """Whether the tests started this server (and so may stop and start it)."""
        return self.cluster is not None

    @property
    def running(self) -> bool:
        return self.cluster.running if self.cluster is not None else True

    @property
    def port(self) -> int:
        return int(self.admin_url.port or 5432)

    def url(self, database: str) -> str:
        """SQLAlchemy's URL of ``database`` on this server, password included."""
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    def connect(self, database: str | None = None) -> psycopg.Connection[Any]:
        """A psycopg connection in autocommit mode (CREATE/DROP DATABASE refuse transactions)."""
        kwargs = _connect_kwargs(self.admin_url.set(database=database or self.admin_url.database))
        return psycopg.connect(**kwargs, autocommit=True, connect_timeout=10)

    def check(self) -> None:
        """Fails with the reason when the server cannot be reached."""
        try:
            self.connect().close()
        except psycopg.Error as exc:
            error = exc
        else:
            return
        shown = self.admin_url.render_as_string(hide_password=True)
        pytest.fail(f"cannot reach PostgreSQL at {shown} ({ENV_URL}): {error}", pytrace=False)

    def create_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(_checked(name))))

    def drop_database(self, name: str) -> None:
        """Disconnects every client of ``name`` (pooled connections a test left open too), then drops it."""
        with self.connect() as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (_checked(name),))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    @contextmanager
    def fresh_database(self) -> Iterator[str]:
        """A new empty database, dropped afterwards (after a restart if the test left the server stopped)."""
        name = f"folio_test_{uuid.uuid4().hex[:12]}"
        self.create_database(name)
        try:
            yield self.url(name)
        finally:
            if not self.running:
                self.start()
            self.drop_database(name)

    def stop(self) -> None:
        """Fast shutdown: every connection is cut and new ones are refused, as when the database goes away."""
        self._require_managed("stop").stop("fast")

    def start(self) -> None:
        """Start again on the same port with the same data."""
        self._require_managed("start").start()

    def _require_managed(self, what: str) -> Cluster:
        if self.cluster is None:
            pytest.skip(f"{what}() needs a PostgreSQL the tests started themselves; {ENV_URL} points them at a "
                        f"server they do not control (unset it to run this test)")
        return self.cluster


def _checked(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
    return name


@contextmanager
def temporary_server(bin_dir: Path) -> Iterator[PostgresServer]:
    """initdb, start on a free port (another one if it was taken meanwhile), and always stop and delete."""
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(SUPERUSER)
        except KeyError:
            unavailable(f"running as root, and initdb refuses root, but there is no {SUPERUSER!r} user to run it as")
    cluster = Cluster(bin_dir, owner)
    try:
        cluster.init()
        for attempt in range(3):
            try:
                cluster.start(_free_port())
                break
            except RuntimeError as exc:
                if attempt == 2 or "Address already in use" not in str(exc):
                    raise
        yield PostgresServer(URL.create("postgresql+psycopg", username=SUPERUSER, host="127.0.0.1",
                                        port=cluster.port, database="postgres"), cluster)
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL: ``FOLIO_TEST_POSTGRES_URL``'s server, else a throwaway cluster started here."""
    external = os.environ.get(ENV_URL)
    if external:
        server = PostgresServer.external(external)
        server.check()
        yield server
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        unavailable(f"PostgreSQL's programs ({', '.join(_PROGRAMS)}) are not on PATH nor under {LIB_ROOT}/*/bin")
    with temporary_server(bin_dir) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh empty database for this test, dropped after it: its SQLAlchemy URL."""
    with postgres_server.fresh_database() as url:
        yield url


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Each test twice: ``None`` (Folio's default, the SQLite file under the data dir) and a fresh PostgreSQL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks ``postgres`` every test that needs the server through its fixtures."""
    for item in items:
        if {"postgres_server", "postgres_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)
