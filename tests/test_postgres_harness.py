"""The PostgreSQL harness (tests/postgres.py) itself: a real server that SQLAlchemy reaches, one isolated database
per test, an outage on demand, and the behaviour without PostgreSQL's programs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.postgres import ENV_URL, INSTALL_HINT, PostgresServer, find_bin_dir, unavailable

ROOT = Path(__file__).resolve().parents[1]


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(query))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_sqlalchemy_creates_inserts_and_selects(postgres_server, postgres_url):
    if postgres_server.managed:
        assert postgres_url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/folio_test_")
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE documents (id text PRIMARY KEY, title text NOT NULL)"))
            conn.execute(text("INSERT INTO documents VALUES (:id, :title)"),
                         [{"id": "b2", "title": "Übereinkunft – § 3"}, {"id": "a1", "title": "lease"}])
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, title FROM documents ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [("a1", "lease"), ("b2", "Übereinkunft – § 3")]
            assert conn.execute(text("SHOW server_encoding")).scalar() == "UTF8"
            assert conn.execute(text("SELECT current_database()")).scalar() == postgres_url.rsplit("/", 1)[1]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_each_database_is_empty_and_isolated(postgres_server, postgres_url):
    _rows(postgres_url, "CREATE TABLE mine AS SELECT 1 AS x")
    with postgres_server.fresh_database() as other:
        assert other != postgres_url
        tables = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        assert _rows(other, tables) == []
        assert _rows(postgres_url, tables) == [("mine",)]
        name = other.rsplit("/", 1)[1]
        held = create_engine(other).connect()  # left open, as a test's pool may leave one
    with postgres_server.connect() as conn:  # dropped all the same
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone() == (0,)
    with pytest.raises(OperationalError):
        held.execute(text("SELECT 1"))
    held.close()


@pytest.mark.postgres
def test_stop_is_an_outage_and_start_brings_the_data_back(postgres_server, postgres_url):
    _rows(postgres_url, "CREATE TABLE ledger AS SELECT 42 AS cost")
    engine = create_engine(postgres_url)
    try:
        pooled = engine.connect()
        postgres_server.stop()
        assert not postgres_server.running
        with pytest.raises(OperationalError):  # the connection it had is cut
            pooled.execute(text("SELECT 1"))
        pooled.close()
        with pytest.raises(OperationalError):  # and new ones are refused
            engine.connect()
        postgres_server.start()
        assert postgres_server.running
        with engine.connect() as conn:  # the same URL (same port) and the same data
            assert conn.execute(text("SELECT cost FROM ledger")).scalar() == 42
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_server_left_stopped_is_restarted_for_the_drop(postgres_server):
    if not postgres_server.managed:
        pytest.skip(f"{ENV_URL} is set: the tests cannot stop that server")
    with postgres_server.fresh_database() as url:
        name = url.rsplit("/", 1)[1]
        postgres_server.stop()
    assert postgres_server.running
    with postgres_server.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone() == (0,)


@pytest.mark.postgres
def test_an_external_server_is_used_but_never_stopped(postgres_server):
    """What FOLIO_TEST_POSTGRES_URL gives: the same databases, and stop()/start() skip."""
    external = PostgresServer.external(postgres_server.url("postgres").replace("+psycopg", ""))
    assert not external.managed and external.url("x").startswith("postgresql+psycopg://")
    with external.fresh_database() as url:
        assert _rows(url, "SELECT 1") == [(1,)]
    with pytest.raises(pytest.skip.Exception, match=ENV_URL):
        external.stop()
    assert postgres_server.running
    with pytest.raises(ValueError, match=ENV_URL):
        PostgresServer.external("sqlite:///folio.db")


def test_database_url_runs_on_both(request, database_url):
    marked = request.node.get_closest_marker("postgres") is not None
    if request.node.callspec.id == "sqlite":
        assert database_url is None and not marked  # the default: the SQLite file under the data dir
    else:
        assert database_url.startswith("postgresql+psycopg://") and marked
        assert _rows(database_url, "SELECT 1") == [(1,)]


def test_the_marker_selects_exactly_the_postgres_tier():
    def collected(*args: str) -> set[str]:
        result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                 *args, "tests/test_postgres_harness.py"],
                                capture_output=True, text=True, cwd=ROOT, timeout=300,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 0, result.stdout + result.stderr
        return {line.split("::", 1)[1] for line in result.stdout.splitlines() if "::" in line}

    tier = collected("-m", "postgres")
    rest = collected("-m", "not postgres")
    assert tier == {"test_sqlalchemy_creates_inserts_and_selects", "test_each_database_is_empty_and_isolated",
                    "test_stop_is_an_outage_and_start_brings_the_data_back",
                    "test_a_server_left_stopped_is_restarted_for_the_drop",
                    "test_an_external_server_is_used_but_never_stopped", "test_database_url_runs_on_both[postgresql]"}
    assert "test_database_url_runs_on_both[sqlite]" in rest and not tier & rest


def _executable(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)


def test_the_programs_are_found_on_path_else_the_highest_version(tmp_path):
    lib = tmp_path / "lib"
    for version in ("9.6", "13", "15"):
        for program in ("initdb", "pg_ctl", "postgres"):
            _executable(lib / version / "bin" / program)
    _executable(lib / "16" / "bin" / "pg_ctl")  # incomplete: no initdb, no postgres
    assert find_bin_dir(path="", lib_root=lib) == lib / "15" / "bin"
    wrapper = tmp_path / "usr-bin"
    _executable(wrapper / "pg_ctl")  # a dispatcher with nothing beside it is passed over
    assert find_bin_dir(path=str(wrapper), lib_root=lib) == lib / "15" / "bin"
    (wrapper / "pg_ctl").unlink()
    (wrapper / "pg_ctl").symlink_to(lib / "13" / "bin" / "pg_ctl")  # PATH first, links followed
    assert find_bin_dir(path=str(wrapper), lib_root=lib) == lib / "13" / "bin"
    assert find_bin_dir(path="", lib_root=tmp_path / "none") is None


def test_without_postgresql_skip_locally_and_fail_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=INSTALL_HINT):
        unavailable("no PostgreSQL here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        unavailable("no PostgreSQL here")
