"""Shared fixtures: a clean environment per test, temporary data dirs, a fake-embedder ingestor."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from folio.config import Settings
from folio.ingest.embed import HashEmbedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.store import Store
from folio.testing.provider import DoubleFactory, double_factory

# a real PostgreSQL: postgres_server, postgres_url, database_url and the `postgres` marker (tests/postgres.py)
pytest_plugins = ["tests.postgres"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No inherited FOLIO_* variables; a working directory of the test's own."""
    for key in list(os.environ):
        if key.startswith("FOLIO_"):
            monkeypatch.delenv(key)
    for key in ("TIKTOKEN_CACHE_DIR", "NLTK_DATA"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=0)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as s:
        yield s


@pytest.fixture
def ingestor(store: Store, settings: Settings) -> Iterator[Ingestor]:
    ing = Ingestor(store, lambda: HashEmbedder(64), settings)
    yield ing
    ing.close()


def require_shared_data(*parts: str) -> Path:
    """A folder of ../shared/data; in CI its absence is a failure, elsewhere the test is skipped."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have ../shared/data beside the checkout")
        pytest.skip(f"{path} not present")
    return path




@pytest.fixture
def provider_double() -> Iterator[DoubleFactory]:
    """The provider test double (``folio.testing.provider``), as a factory:
    ``provider_double(config=None, **DoubleConfig fields) -> RunningDouble``; every double it starts is stopped
    after the test."""
    with double_factory() as start:
        yield start


# holds the embedded index (argv: engine, folder) until its stdin closes
HOLD_INDEX = """
import sys
from pathlib import Path
engine, path = sys.argv[1], sys.argv[2]
if engine == "edge":
    from folio.index.edge import EdgeStorage
    held = EdgeStorage(Path(path))
else:
    from qdrant_client import QdrantClient
    held = QdrantClient(path=path)
print("held", flush=True)
sys.stdin.read()
held.close()
print("released", flush=True)
"""


@contextmanager
def held_by_another_process(settings: Settings) -> Iterator[Callable[[], None]]:
    """Another process holds the embedded index ``settings`` open (Qdrant Edge or local mode, as
    ``Settings.embedded_engine`` says) until the ``release()`` this yields is called, which returns once that
    process has let go of it and exited."""
    engine = settings.embedded_engine
    path = settings.edge_path if engine == "edge" else settings.qdrant_path
    path.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_INDEX, engine, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None
    stdin, stdout = holder.stdin, holder.stdout

    def release() -> None:
        stdin.close()
        assert stdout.readline().strip() == "released"
        assert holder.wait(timeout=60) == 0

    try:
        assert stdout.readline().strip() == "held"
        yield release
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        stdout.close()
