"""Embeddings cached on disk, keyed by (model, exact text): configurations that share chunks embed them once.

MiniLM encodes 15-40 chunks a second on two cores, so the evaluation's configurations (chunk sizes, headings
on and off, the llama-index baseline) and its reruns would otherwise spend most of their time re-encoding the
same texts. The cache is one SQLite file (stdlib, safe across processes); vectors are stored as float32 bytes
exactly as the model returned them, so a cached vector is the vector the model would give.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from folio.ingest.embed import Embedder


def cache_model_key(model: str, backend: str) -> str:
    """The name vectors are cached under: the model itself for torch (as before), model|backend for ONNX, so
    int8 ONNX vectors never mix with fp32 torch ones."""
    return f"{model}|{backend}" if backend.startswith("onnx") else model


def text_key(model: str, text: str) -> bytes:
    return hashlib.sha256(f"{model}\x00{text}".encode()).digest()


class EmbeddingCache:
    """``get_many`` / ``put_many`` of float32 vectors in a SQLite file, keyed by (model, text)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (model TEXT PRIMARY KEY, dim INTEGER, max_tokens INTEGER)")
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get_many(self, model: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        keys = [text_key(model, t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start:start + 500]
                rows = self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE key IN ({','.join('?' * len(part))})", part).fetchall()
                found.update((bytes(k), np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return [found.get(k) for k in keys]

    def put_many(self, model: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(text_key(model, t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors,
                                                                                                   strict=True)]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)", rows)
            self._db.commit()

    def meta(self, model: str) -> tuple[int, int] | None:
        with self._lock:
            row = self._db.execute("SELECT dim, max_tokens FROM meta WHERE model = ?", (model,)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def set_meta(self, model: str, dim: int, max_tokens: int) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (model, dim, max_tokens) VALUES (?, ?, ?)",
                             (model, dim, max_tokens))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])


def cached_vectors(cache: EmbeddingCache, model: str, texts: Sequence[str],
                   compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Vectors of ``texts``: the cached ones read, the rest computed in one call (duplicates once) and stored."""
    got = cache.get_many(model, texts)
    missing = list(dict.fromkeys(t for t, v in zip(texts, got, strict=True) if v is None))
    cache.hits += len(texts) - sum(v is None for v in got)
    cache.misses += len(missing)
    if missing:
        computed = np.asarray(compute(missing), dtype=np.float32)
        cache.put_many(model, missing, computed)
        fresh = dict(zip(missing, computed, strict=True))
        got = [v if v is not None else fresh[t] for t, v in zip(texts, got, strict=True)]
    if not got:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([np.asarray(v, dtype=np.float32) for v in got])


class CachedEmbedder:
    """An ``Embedder`` that reads vectors from the cache and loads the real model only for texts it lacks."""

    def __init__(self, model: str, cache: EmbeddingCache, factory: Callable[[], Embedder], *,
                 backend: str = "torch") -> None:
        self.name = model
        self.backend = backend
        self._key = cache_model_key(model, backend)
        self._cache = cache
        self._factory = factory
        self._inner: Embedder | None = None
        self._threads: int | None = None
        meta = cache.meta(self._key)
        self.dim, self.max_tokens = meta if meta else (0, 0)
        if not meta:  # the model's size is needed before the first vector: load it once, remember it
            self._model()

    def _model(self) -> Embedder:
        if self._inner is None:
            inner = self._factory()
            loaded = str(getattr(inner, "backend", "torch"))
            if cache_model_key(self.name, loaded) != self._key:
                raise ValueError(f"the embedding cache was opened for backend {self.backend!r} but the model "
                                 f"loaded as {loaded!r}: its vectors would mix with another backend's")
            self._inner = inner
            self.dim, self.max_tokens = inner.dim, inner.max_tokens
            self._cache.set_meta(self._key, self.dim, self.max_tokens)
            if self._threads is not None:
                self.set_threads(self._threads)
        return self._inner

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return cached_vectors(self._cache, self._key, texts, lambda todo: self._model().embed(todo))

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed([text])[0]
        return vector

    def set_threads(self, n: int) -> None:
        """Passed to the model once it is loaded (the pipeline lends a core to its parser)."""
        self._threads = n
        setter = getattr(self._inner, "set_threads", None)
        if setter is not None:
            setter(n)
