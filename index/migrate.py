"""Move an embedded index from Qdrant's local mode (``DATA_DIR/qdrant``) to Qdrant Edge (``DATA_DIR/edge``).

    python -m folio.index.migrate            # with the FOLIO_* settings of the data dir

The chunks cannot be made again from the records (that would mean embedding every page again), so their points are
copied as they are: ids, dense and BM25 vectors, payloads. The copy is written into ``edge/shard.migrating`` and
renamed to ``edge/shard`` only once it is complete and holds as many chunks as the local index, so an interrupted
run leaves the local index in use and is simply run again. The local-mode folder is left untouched: with
``FOLIO_INDEX_ENGINE=auto`` (the default) or ``edge`` the data dir uses Edge from then on (``local`` would keep
reading the old folder); remove ``DATA_DIR/qdrant`` once satisfied. Nothing else changes: the records (SQLite or
PostgreSQL) already hold the BM25 statistics.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from typing import Any

from folio.config import Settings
from folio.errors import ConfigError, FolioError
from folio.index.connection import open_local
from folio.index.edge import EdgeChunks, EdgeStorage, connect_edge
from folio.index.local import LocalChunks
from folio.index.retry import LOCAL, Qdrant
from folio.index.schema import DENSE, SPARSE, dense_size

BATCH = 512


@dataclass(frozen=True)
class Migrated:
    chunks: int
    documents: int


def migrate(settings: Settings) -> Migrated:
    """Copy the local-mode chunk collection of ``settings``' data dir into a new Edge shard (the module's docstring).

    ``StoreLocked`` when a Folio process holds either index; ``ConfigError`` when there is nothing to move, or the
    data dir already has an Edge index."""
    import qdrant_edge as qe

    name = f"{settings.collection_prefix}_chunks"
    if (settings.edge_path / "shard" / "edge_config.json").exists():
        raise ConfigError(f"{settings.edge_path} already holds a Qdrant Edge index; nothing was moved")
    if not (settings.qdrant_path / "collection" / name).is_dir():
        raise ConfigError(f"{settings.qdrant_path} holds no local-mode index ({name}); nothing to move")
    local = Qdrant(connect=lambda: open_local(settings.qdrant_path), policy=LOCAL, where=str(settings.qdrant_path))
    edge = connect_edge(settings.edge_path)
    try:
        dim = dense_size(local, name)
        if dim is None:
            raise ConfigError(f"the local-mode collection {name} has no named dense vector; it cannot be moved")
        local.available()
        storage: EdgeStorage = edge.client if edge.usable else _open(edge)
        staging = storage.path / "shard.migrating"
        shutil.rmtree(staging, ignore_errors=True)  # a run that stopped half-way
        storage.create(dim, staging)
        target, source = EdgeChunks(edge, name), LocalChunks(local, name)
        copied, documents = 0, set()
        batch: list[Any] = []
        for chunk in source.stored():
            batch.append(qe.Point(id=chunk.id, payload=chunk.payload, vector={
                DENSE: chunk.dense.tolist(),
                SPARSE: qe.SparseVector(indices=chunk.sparse.indices, values=chunk.sparse.values)}))
            documents.add(str(chunk.payload.get("doc_id")))
            if len(batch) == BATCH:
                target.write_points(batch)
                copied, batch = copied + len(batch), []
        if batch:
            target.write_points(batch)
            copied += len(batch)
        expected = source.count()
        if target.count() != expected:
            raise ConfigError(f"the copy holds {target.count()} chunks, the local index {expected}; "
                              "the local index stays in use: run the migration again")
        storage.commit(staging)
        return Migrated(chunks=copied, documents=len(documents))
    finally:
        edge.close()
        local.close()


def _open(edge: Qdrant) -> EdgeStorage:
    edge.available()
    storage: EdgeStorage = edge.client
    return storage


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    if settings.qdrant_url:
        print("FOLIO_QDRANT_URL is set: the index is on a Qdrant server, not embedded; nothing to move",
              file=sys.stderr)
        return 2
    try:
        moved = migrate(settings)
    except FolioError as exc:
        print(f"error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 1
    print(f"moved {moved.chunks:,} chunks of {moved.documents:,} documents from {settings.qdrant_path} to "
          f"Qdrant Edge in {settings.edge_path}, which Folio uses from now on (FOLIO_INDEX_ENGINE=auto or edge). The "
          f"local-mode folder {settings.qdrant_path} was left as it was: remove it once satisfied.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
