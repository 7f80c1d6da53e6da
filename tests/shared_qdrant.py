"""One Qdrant engine shared by several Folio stores, the way a Qdrant server is shared by replicas.

No Qdrant server runs on these machines. ``shared_qdrant`` makes ``Store.open`` with ``FOLIO_QDRANT_URL`` set
get a client onto one in-process engine (Qdrant's local mode, in a temp dir) instead of a network connection.
The client's type is not ``QdrantClient``, so the stores take their server-mode paths: no in-memory copies of
the documents, chunks or records; every read goes to the engine. Each ``Store.open`` gets its own client
object, so two apps are two replicas that share nothing but Qdrant. Not exercised: the network and Qdrant's
server itself (its REST/gRPC layer, sharding across nodes). ``created`` records every collection creation's
arguments (shard number, replication factor).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


class ServerModeClient:
    """A replica's client: every call goes to the shared engine, one call at a time (local mode is not
    thread-safe); ``close`` leaves the engine to its owner."""

    def __init__(self, shared: SharedQdrant, url: str) -> None:
        self._shared = shared
        self.url = url

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._shared.engine, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._shared.lock:
                if name == "create_collection":
                    self._shared.created.append({"name": args[0] if args else kwargs.get("collection_name"),
                                                 **kwargs})
                    if self._shared.race_on_create:
                        target(*args, **kwargs)  # another replica created it a moment earlier
                        raise RuntimeError("Unexpected Response: 409 (Conflict): Collection already exists!")
                with warnings.catch_warnings():  # "payload indexes have no effect in local mode": expected here
                    warnings.simplefilter("ignore", UserWarning)
                    return target(*args, **kwargs)

        return call

    def close(self) -> None:
        pass


@dataclass
class SharedQdrant:
    engine: Any
    lock: threading.RLock = field(default_factory=threading.RLock)
    created: list[dict[str, Any]] = field(default_factory=list)
    clients: list[ServerModeClient] = field(default_factory=list)
    race_on_create: bool = False

    def client(self, url: str) -> ServerModeClient:
        client = ServerModeClient(self, url)
        self.clients.append(client)
        return client


@contextmanager
def shared_qdrant(monkeypatch: pytest.MonkeyPatch, path: Path) -> Iterator[SharedQdrant]:
    import qdrant_client

    engine = qdrant_client.QdrantClient(path=str(path))
    shared = SharedQdrant(engine=engine)
    factory: Callable[..., ServerModeClient] = lambda url=None, **_: shared.client(url)  # noqa: E731
    monkeypatch.setattr(qdrant_client, "QdrantClient", factory)
    try:
        yield shared
    finally:
        engine.close()
