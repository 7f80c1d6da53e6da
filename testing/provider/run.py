"""Run the provider double on loopback, in a background thread of this process.

``run_provider_double`` serves one double for the length of a ``with`` block; ``double_factory`` starts any number
and stops them all when its block ends. The tests' ``provider_double`` fixture (``tests/conftest.py``) is the
factory; ``folio serve --simulated-model`` and ``folio eval``'s routing replay use the context manager::

    with run_provider_double(DoubleConfig(ttl_s=60)) as double:
        client = double.openai_client()            # openai.OpenAI on double.base_url, max_retries=0
        ...
        double.advance_clock(61); double.add_faults("429"); double.requests()
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import openai
import uvicorn

from .config import DoubleConfig
from .server import DoubleState, create_app
from .template import load_tokenizer


@dataclass
class RunningDouble:
    """A double serving on ``127.0.0.1:port``, with helpers for its admin routes."""

    config: DoubleConfig
    state: DoubleState
    port: int
    admin: httpx.Client = field(repr=False)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (ends with ``/v1``)."""
        return f"{self.root_url}/v1"

    def openai_client(self, **kwargs: Any) -> openai.OpenAI:
        options: dict[str, Any] = {"base_url": self.base_url, "api_key": "test", "max_retries": 0, "timeout": 30.0}
        options.update(kwargs)
        return openai.OpenAI(**options)

    def advance_clock(self, seconds: float) -> float:
        response = self.admin.post("/_double/clock", json={"advance_s": seconds})
        response.raise_for_status()
        return float(response.json()["now"])

    def add_faults(self, *faults: str | dict[str, Any]) -> None:
        self.admin.post("/_double/faults", json={"faults": list(faults)}).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        response = self.admin.get("/_double/requests")
        response.raise_for_status()
        return list(response.json())

    def cache(self) -> list[dict[str, Any]]:
        response = self.admin.get("/_double/cache")
        response.raise_for_status()
        return list(response.json())

    def reset(self) -> None:
        self.admin.post("/_double/reset").raise_for_status()


@contextmanager
def run_provider_double(config: DoubleConfig | None = None, startup_timeout_s: float = 10.0) -> Iterator[RunningDouble]:
    """Serve a double with uvicorn in a background thread on a free loopback port; stop it on exit."""
    cfg = config or DoubleConfig()
    load_tokenizer()
    app = create_app(cfg)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"provider-double-{port}")
    thread.daemon = True
    thread.start()
    state: DoubleState = app.state.double
    admin = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the provider double did not start")
            time.sleep(0.01)
        admin.get("/v1/models").raise_for_status()
        yield RunningDouble(config=cfg, state=state, port=port, admin=admin)
    finally:
        admin.close()
        state.closing.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


DoubleFactory = Callable[..., RunningDouble]


@contextmanager
def double_factory() -> Iterator[DoubleFactory]:
    """``start(config=None, **DoubleConfig fields) -> RunningDouble``; every double started is stopped on exit."""
    with ExitStack() as stack:

        def start(config: DoubleConfig | None = None, **overrides: Any) -> RunningDouble:
            return stack.enter_context(run_provider_double(replace(config or DoubleConfig(), **overrides)))

        yield start

