"""``folio compact``: give the embedded Qdrant Edge index back the disk space of deleted chunks.

Deleting a document marks its chunks deleted; Edge rewrites a segment without them only when it optimises, and
that holds Python's interpreter lock for seconds (11 s at 250,000 chunks with a quarter deleted:
bench/results/index-scale-2026-12-03-250k-edge-compact.md), so Folio never does it while serving or starting
(``folio.index.edge``). This command does it with Folio stopped: it opens the index
(refused while another Folio process holds it), vacuums each segment of which a fifth or more of the chunks were
deleted, and says how much disk it gave back. A Qdrant server vacuums by itself; Qdrant's local mode cannot, and
moves to Edge with ``python -m folio.index.migrate``.
"""

from __future__ import annotations

import time

import click

from folio.errors import ConfigError
from folio.ingest.cli import _open_store, _settings, handles_errors, remote_server


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


@click.command()
@click.pass_context
@handles_errors
def compact(ctx: click.Context) -> None:
    """Give back the disk space of deleted chunks (Qdrant Edge, the embedded index), with Folio stopped."""
    from folio.index.edge import EdgeChunks

    if remote_server(ctx) is not None:
        raise ConfigError("compact runs where the index is, on the server's data dir with the server stopped "
                          "(not through --server)")
    settings = _settings(ctx)
    if settings.qdrant_url:
        raise ConfigError("the index is on a Qdrant server (FOLIO_QDRANT_URL), which vacuums its segments itself; "
                          "nothing to compact here")
    with _open_store(settings) as store:
        if not isinstance(store.index, EdgeChunks):
            raise ConfigError(f"{settings.qdrant_path} is Qdrant's local mode, which cannot give back the space of "
                              "deleted chunks; move it to Qdrant Edge with `python -m folio.index.migrate` "
                              "(docs/deployment.md)")
        started = time.perf_counter()
        before, after = store.index.compact()
    took = time.perf_counter() - started
    if before == 0:
        click.echo("the index is empty: nothing to compact")
    elif after < before:
        click.echo(f"compacted {settings.edge_path}: {_mb(before)} -> {_mb(after)} on disk "
                   f"({_mb(before - after)} given back) in {took:.1f} s")
    else:
        click.echo(f"nothing to compact in {settings.edge_path} ({_mb(after)} on disk): no segment has a fifth or "
                   "more of its chunks deleted")
