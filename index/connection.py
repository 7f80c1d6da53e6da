"""Which Qdrant: an embedded index on disk (Qdrant Edge, ``folio.index.edge``, or Qdrant's local mode,
``QdrantClient(path=...)``, as ``Settings.embedded_engine`` says) or a Qdrant server (``FOLIO_QDRANT_URL``), as a
``Qdrant`` (``folio.index.retry``) that opens it on first use."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from folio.config import Settings
from folio.errors import StoreLocked
from folio.index.retry import LOCAL, LOCKED_MESSAGE, SERVER, Qdrant


def connect(settings: Settings) -> Qdrant:
    """The configured Qdrant, not yet opened: the server at ``settings.qdrant_url`` if set, else the embedded
    index: Qdrant Edge on ``settings.edge_path`` or local mode on ``settings.qdrant_path``."""
    from qdrant_client import QdrantClient

    url = settings.qdrant_url
    if url:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None

        def open_server() -> Any:
            return QdrantClient(url=url, api_key=key, timeout=30)

        return Qdrant(connect=open_server, policy=SERVER, where=shown_url(url))
    if settings.embedded_engine == "edge":
        from folio.index.edge import connect_edge

        return connect_edge(settings.edge_path)
    path = settings.qdrant_path
    return Qdrant(connect=lambda: open_local(path), policy=LOCAL, where=str(path))


def shown_url(url: str) -> str:
    """The server's URL as messages show it: scheme, host and port (never credentials or a query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def is_local_client(client: Any) -> bool:
    """Whether ``client`` is a qdrant-client in local mode (an embedded index on disk or in memory)."""
    return type(client).__name__ == "QdrantClient" and getattr(client, "_client", None) is not None \
        and type(client._client).__name__ == "QdrantLocal"


# Qdrant's local mode keeps every point in memory and checks filters in Python; past this many points it warns
# (in its own words, with a source line). Folio says what it means for its users instead: ``local_size_note``.
LOCAL_MODE_POINTS = 20_000


def local_size_note(points: int) -> str | None:
    """What a local index of ``points`` chunks means for the user, past the size local mode is made for."""
    if points <= LOCAL_MODE_POINTS:
        return None
    return (f"note: the embedded index holds {points:,} chunks, past the ~{LOCAL_MODE_POINTS:,} that Qdrant's "
            "local mode is made for: start-up and writes slow down as it grows. Move it to Qdrant Edge with "
            "`python -m folio.index.migrate` (docs/deployment.md), or run a Qdrant server (FOLIO_QDRANT_URL).")


def open_local(path: Path) -> Any:
    """A local-mode client on ``path``; ``StoreLocked`` at once when another process holds it.

    The lock is tried first on its own: QdrantLocal reads every collection into memory before it tries the lock,
    which for a large index would cost seconds on each attempt while another process holds it."""
    from qdrant_client import QdrantClient

    path.mkdir(parents=True, exist_ok=True)
    lock_file = path / ".lock"
    if lock_file.exists():
        import portalocker  # what QdrantLocal locks with (flock on POSIX), so that both see the same lock

        with lock_file.open("r+") as handle:
            try:
                portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
            except portalocker.exceptions.LockException:
                raise StoreLocked(LOCKED_MESSAGE) from None
            portalocker.unlock(handle)
    # Folio says it in its own words (local_size_note), once, where the user can act on it
    warnings.filterwarnings("ignore", message="Local mode is not recommended", category=UserWarning)
    return QdrantClient(path=str(path))
