"""Shared fixtures: a clean environment per test, temporary data dirs, a fake-embedder ingestor."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
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


@pytest.fixture(scope="session", autouse=True)
def local_mode_index() -> Iterator[None]:
    """The suite's embedded index is local mode from the start, for module fixtures made before ``clean_env``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FOLIO_INDEX_ENGINE", "local")
        yield


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No inherited FOLIO_* variables; a working directory of the test's own."""
    for key in list(os.environ):
        if key.startswith("FOLIO_"):
            monkeypatch.delenv(key)
    for key in ("TIKTOKEN_CACHE_DIR", "NLTK_DATA"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the suite's tests of the embedded index read local mode's files (qdrant_path, the qdrant-client); Qdrant
    # Edge, the default for a new data dir, is tested in tests/index/test_edge*.py, which ask for it by name
    monkeypatch.setenv("FOLIO_INDEX_ENGINE", "local")
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


@contextmanager
def store_held_elsewhere(qdrant_path: Path) -> Iterator[None]:
    """Another process holds the local Qdrant store at ``qdrant_path`` for the duration."""
    qdrant_path.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from qdrant_client import QdrantClient; "
         f"c = QdrantClient(path={str(qdrant_path)!r}); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()
