"""A Folio app served by uvicorn on a loopback port in a background thread: real HTTP for the openai SDK, the
CLI's ``--server`` mode and streaming, with the hash embedder and the settings a test gives."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from folio.config import Settings
from folio.ingest.embed import HashEmbedder
from folio.service.app import create_app


@dataclass
class LiveFolio:
    app: FastAPI
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def live_folio(settings: Settings, **create: Any) -> Iterator[LiveFolio]:
    """Serve ``create_app(settings, **create)`` until the block ends; lifespan errors surface here."""
    app = create_app(settings, embedder_factory=lambda: HashEmbedder(64), **create)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=5, log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"folio-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Folio server did not start")
            time.sleep(0.02)
        yield LiveFolio(app=app, port=port)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def free_port() -> int:
    """A loopback port nothing listens on (for a server that cannot be reached)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
