"""One Folio index per (set, chunking configuration), built with Folio's own ``Ingestor`` and kept for reuse.

Each index is a local-mode data dir under the cache folder, named for its configuration; a rerun skips every
document already ingested (same bytes: same id) and embeds only what the embedding cache lacks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from folio.config import Settings
from folio.evaluation.embed_cache import CachedEmbedder, EmbeddingCache
from folio.ingest.embed import load_embedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.prepare import content_id
from folio.ingest.reports import FileResult
from folio.ingest.sources import Source
from folio.ingest.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkConfig:
    """How documents are chunked: sizes in the embedding model's word pieces (Folio's ``Settings`` fields)."""

    chunk_tokens: int = 200
    chunk_overlap: int = 24
    heading_tokens: int = 32

    @property
    def key(self) -> str:
        return f"c{self.chunk_tokens}-o{self.chunk_overlap}-h{self.heading_tokens}"

    @property
    def label(self) -> str:
        heading = f"heading {self.heading_tokens}" if self.heading_tokens else "no heading"
        return f"{self.chunk_tokens} tokens, {heading}"

    def settings(self, data_dir: Path, embed_model: str, workers: int = 1) -> Settings:
        return Settings(data_dir=data_dir, embed_model=embed_model, chunk_tokens=self.chunk_tokens,
                        chunk_overlap=self.chunk_overlap, heading_tokens=self.heading_tokens, ingest_workers=workers,
                        qdrant_url=None)


DEFAULT_CONFIG = ChunkConfig()


def file_ids(paths: Sequence[Path]) -> dict[str, str]:
    """PDF file name -> Folio document id (the SHA-256 of its bytes)."""
    return {p.name: content_id(p.read_bytes()) for p in paths}


@dataclass
class BuiltIndex:
    set_name: str
    config: ChunkConfig
    data_dir: Path
    ids: dict[str, str]  # file name -> document id
    results: list[FileResult]
    seconds: float
    chunks: int
    embedded: int  # chunk texts the model had to encode (the rest came from the cache)

    def summary(self) -> dict[str, Any]:
        failed = [r.to_dict() for r in self.results if r.status == "failed"]
        return {"set": self.set_name, "config": self.config.key, "data_dir": str(self.data_dir),
                "documents": len(self.ids), "chunks": self.chunks, "embedded_now": self.embedded,
                "seconds": round(self.seconds, 1), "failed": failed}


def index_dir(cache_root: Path, set_name: str, config: ChunkConfig, embed_model: str, tag: str = "") -> Path:
    """The configuration's index folder; an index whose PDFs were read by a text layer other than pypdf
    (``FOLIO_PDF_TEXT``) has its own, since a rerun would otherwise keep the other layer's documents."""
    model = Path(embed_model).name.lower()
    layer = Settings().pdf_text
    text = "" if layer == "pypdf" else f"-text-{layer}"
    return cache_root / "index" / f"{set_name}{'-' + tag if tag else ''}-{model}-{config.key}{text}"


def build_index(set_name: str, paths: Sequence[Path], config: ChunkConfig, *, cache_root: Path,
                cache: EmbeddingCache, embed_model: str, tag: str = "", log: Any = None,
                embedder: CachedEmbedder | None = None, workers: int = 1) -> BuiltIndex:
    """Ingest ``paths`` into the configuration's index (resuming), embedding through the cache.

    ``workers``: parser processes ahead of the embedder (0: parse inline, no process start-up for a few files).
    """
    data_dir = index_dir(cache_root, set_name, config, embed_model, tag)
    settings = config.settings(data_dir, embed_model, workers)
    started = time.perf_counter()
    misses_before = cache.misses
    embedder = embedder or CachedEmbedder(embed_model, cache, lambda: load_embedder(
        embed_model, dtype=settings.embed_dtype, batch_size=settings.embed_batch_size))
    sources = [Source(name=str(p), key=str(p.resolve()), path=p) for p in paths]
    with Store.open(settings) as store:
        ingestor = Ingestor(store, lambda: embedder, settings)
        try:
            results = ingestor.run(sources, _LogProgress(log) if log else None)
        finally:
            ingestor.close()
        ids = {Path(r.name).name: r.doc_id for r in results if r.doc_id and r.status != "failed"}
        chunks = sum(r.n_chunks for r in store.list_documents())
    return BuiltIndex(set_name=set_name, config=config, data_dir=data_dir, ids=ids, results=results,
                      seconds=time.perf_counter() - started, chunks=chunks, embedded=cache.misses - misses_before)


class _LogProgress:
    """One line per file, through the evaluation's log function."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self._done = 0
        self._total = 0

    def start(self, total_files: int) -> None:
        self._total = total_files

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        pass

    def chunks_done(self, name: str, n: int) -> None:
        pass

    def file_done(self, result: FileResult) -> None:
        self._done += 1
        if result.status != "skipped":
            self._log(f"  [{self._done}/{self._total}] {result.status} {Path(result.name).name}: {result.pages} pages, "
                      f"{result.chunks} chunks, {result.seconds:.1f}s"
                      + (f" ({result.error})" if result.error else ""))

    def finish(self, results: list[FileResult]) -> None:
        pass
