"""The retry policy: one Qdrant client, whether it can be used now, and qdrant-client's errors as ``StoreError``s.

Every call to Qdrant goes through ``Qdrant.call``, which translates each qdrant-client exception into a
``StoreError`` (``StoreLocked``, ``StoreUnavailable``); nothing else in Folio sees qdrant-client's exceptions.

Availability: ``Qdrant`` either holds an open client or knows how to ``connect`` one on first use, so that a
process can start while the local index is held by another one or the server is down. While the index cannot be
used every call fails at once with the last ``StoreError``, and a new attempt is made only after a backoff
(``RETRY_FIRST_S``, doubling to ``RETRY_MAX_S``): the first call after it opens the client (or, in server mode,
finds the server again), runs the ``prepare`` and ``after_open`` hooks, and everything works from there on.

The two policies: a Qdrant server (``SERVER``) is retried (0.5 s, 1 s, ... between attempts), and one that stops
answering mid-run (refused or reset connections, timeouts, a 502/503/504 from a proxy) puts the client in that
unavailable state; other errors are translated as they come and leave it usable. Local mode (``LOCAL``) is a file
in this process: an error is final at once and never an outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from folio.errors import StoreError, StoreLocked, StoreUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")

LOCKED_MESSAGE = ("the local index is open in another Folio process (a running `folio serve` or another "
                  "`folio` command); stop it first, or point both at a Qdrant server with FOLIO_QDRANT_URL")
# While the index cannot be used, calls fail at once; the next attempt to open it (or to reach the server) is
# made this long after the last failure, doubling up to the maximum.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    """How a client's failed calls are treated: ``retry``, try a failed call again after 0.5 s, 1 s, ...;
    ``outages``, an unreachable server makes the whole client unavailable until the backoff has passed."""

    retry: bool
    outages: bool


SERVER = RetryPolicy(retry=True, outages=True)
LOCAL = RetryPolicy(retry=False, outages=False)


def is_outage(exc: Exception) -> bool:
    """Whether a qdrant-client error means the server could not be reached (no answer at all, or a gateway's
    502/503/504), as opposed to an answer that refused the request."""
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, ResponseHandlingException):  # raised around httpx's send, and on a body it cannot parse
        return isinstance(exc.source, httpx.TransportError)
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code in (502, 503, 504)
    code = getattr(exc, "code", None)  # gRPC (prefer_grpc): grpc.RpcError.code() is a StatusCode
    if callable(code) and type(exc).__module__.startswith("grpc"):
        return getattr(code(), "name", "") in ("UNAVAILABLE", "DEADLINE_EXCEEDED")
    return isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError)


def translate(exc: Exception, what: str, where: str | None = None) -> StoreError:
    """The ``StoreError`` for a qdrant-client exception raised while doing ``what``."""
    text = str(exc)
    if "already accessed by another instance" in text:
        return StoreLocked(LOCKED_MESSAGE)
    if is_outage(exc):
        cause = getattr(exc, "source", None) or exc
        return StoreUnavailable(f"Qdrant{f' at {where}' if where else ''} cannot be reached ({what}): "
                                f"{type(cause).__name__}: {str(cause)[:300]}")
    return StoreUnavailable(f"Qdrant {what} failed: {type(exc).__name__}: {text[:300]}")


class Qdrant:
    """One qdrant-client, opened now or on first use, with the retry policy around every call."""

    def __init__(self, client: Any = None, *, connect: Callable[[], Any] | None = None,
                 policy: RetryPolicy = SERVER, where: str | None = None) -> None:
        """``client``: an open qdrant-client; or ``connect``, which makes one when it is first needed.
        ``where``: the server's URL or the local path, as messages show it."""
        if client is None and connect is None:
            raise ValueError("Qdrant needs a client or a way to connect one")
        self.client: Any = client
        self.policy = policy
        self.where = where
        # local mode is not thread-safe, and the service calls from a thread pool: one call at a time. The one lock
        # every call holds (and every in-memory copy of what Qdrant holds): no other order of locks to get wrong.
        self.lock = threading.RLock()
        self.clock: Callable[[], float] = time.monotonic
        self._connect = connect
        self._usable = client is not None
        self._down: StoreError | None = None
        self._retry_at = 0.0
        self._backoff = 0.0
        self._closed = False
        self._opening: int | None = None  # the thread opening the client: its own calls go straight through
        self._resets: list[Callable[[], None]] = []  # drop the in-memory copies of what Qdrant holds
        self._prepare: list[Callable[[], None]] = []  # run at each opening, first (make the collections)
        self._after_open: list[Callable[[], None]] = []  # run at each opening, after those

    @property
    def usable(self) -> bool:
        return self._usable

    @property
    def unavailable(self) -> StoreError | None:
        """Why the client could not be used at its last attempt, or None (no attempt made, or it worked)."""
        return self._down

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` on ``reset``: it drops an in-memory copy of what Qdrant holds."""
        self._resets.append(hook)

    def reset(self) -> None:
        """Drop every in-memory copy of what Qdrant holds (read again when next needed): done when a new client
        is made, since what was read from the old one may be stale, and after writes made around Folio."""
        with self.lock:
            for hook in self._resets:
                hook()

    def on_open(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` each time the client is opened (or the server found again), before any ``after_open``."""
        self._prepare.append(hook)

    def after_open(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` now if the client is open, and each time it is opened from now on (before any other call
        is let through)."""
        self._after_open.append(hook)
        if self._usable:
            hook()

    def available(self) -> None:
        """Return when calls may go to Qdrant; else raise why not. Opens the client when that is due."""
        if self._usable or self._opening == threading.get_ident():
            return
        if self._closed:
            raise StoreUnavailable("the index was closed (the process is stopping)")
        if self._down is not None and self.clock() < self._retry_at:
            raise self._still_down()  # at once, without waiting for the calls in progress
        with self.lock:
            if self._usable:
                return
            if self._down is not None and self.clock() < self._retry_at:
                raise self._still_down()
            self._opening = threading.get_ident()
            try:
                self._establish()
            except StoreError as exc:
                self._mark_down(exc)
                raise
            finally:
                self._opening = None
            if self._down is not None:
                logger.info("the index is available again (%s)", self.where or "Qdrant")
            self._usable, self._down, self._backoff = True, None, 0.0

    def call(self, what: str, fn: Callable[[], T], *, retries: int = 2) -> T:
        """``fn()`` (a call on ``client``) under the lock and the retry policy; ``what`` names it in errors."""
        self.available()
        opening = self._opening == threading.get_ident()
        if opening or not self.policy.retry:
            retries = 0  # an attempt to open: its backoff is the retry, and it marks the client down itself
        for attempt in range(retries + 1):
            try:
                with self.lock:
                    return fn()
            except StoreError:
                raise
            except Exception as exc:
                if attempt == retries or "already accessed" in str(exc):
                    error = translate(exc, what, self.where)
                    if self.policy.outages and not opening and is_outage(exc):
                        self._mark_down(error)
                    raise error from exc
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def scroll(self, collection: str, flt: Any, payload: Any, vectors: Any = False) -> Iterator[Any]:
        """Every point of ``collection`` that matches ``flt`` (None: all), without vectors unless ``vectors`` names
        them, a page per call."""
        offset = None
        while True:
            points, offset = self.call("scroll", lambda o=offset: self.client.scroll(  # type: ignore[misc]
                collection, scroll_filter=flt, limit=256, offset=o, with_payload=payload, with_vectors=vectors))
            yield from points
            if offset is None:
                return

    def close(self) -> None:
        self._closed, self._usable = True, False
        if self.client is None:
            return
        try:
            self.client.close()
        except Exception:  # closing a half-open client must not hide the error that got us here
            logger.debug("closing the Qdrant client failed", exc_info=True)

    def _still_down(self) -> StoreError:
        down = self._down or StoreUnavailable("the index is being opened")
        wait = max(0.0, self._retry_at - self.clock())
        return type(down)(f"{down.message} (next attempt in {wait:.1f} s)")

    def _establish(self) -> None:
        """Open the client if there is none, then run the hooks (a round trip to Qdrant)."""
        if self.client is None:
            assert self._connect is not None
            try:
                client = self._connect()
            except StoreError:
                raise
            except Exception as exc:
                raise translate(exc, "connection", self.where) from exc
            with self.lock:
                self.client = client
                self.reset()
        for hook in (*self._prepare, *self._after_open):
            hook()

    def _mark_down(self, error: StoreError) -> None:
        with self.lock:
            if self._usable:  # it was working (an attempt to open raises to its caller, who says so)
                logger.warning("the index cannot be used: %s [%s]; trying again as requests come", error.message,
                               error.code)
            self._usable, self._down = False, error
            self._backoff = min(RETRY_MAX_S, self._backoff * 2 or RETRY_FIRST_S)
            self._retry_at = self.clock() + self._backoff
