"""Who is asking: API keys bound to tenants, and each key's request rate.

Keys come from ``FOLIO_API_KEYS`` (``KEY:TENANT,KEY:TENANT``) and/or ``FOLIO_API_KEYS_FILE`` (one ``KEY:TENANT``
a line; ``#`` comments and blank lines are ignored). A key is at least 16 characters and may contain ``:``
(the tenant is what follows the last one); a tenant name is 1-64 of ``A-Z a-z 0-9 _ . -``. Several keys may
share a tenant (rotation). With no keys configured every request is tenant ``default``.

``AccessMiddleware`` guards every ``/v1/`` path except ``/v1/info``: the key comes in ``Authorization: Bearer
KEY`` or ``X-API-Key: KEY``; a missing or unknown key is answered 401 (``unauthorized``), a key over its rate
429 (``rate_limited``, with ``Retry-After``). Health checks, ``/metrics``, the UI's files and the API docs stay
open. The tenant goes into the request's state, where ``TenantDep`` reads it.

Keys are held only as SHA-256 digests; logs and errors name a key by the first 8 hex digits of its digest.
The rate limit counts each key's requests in a sliding minute (the ``limits`` library), in this process's
memory: with several replicas, each allows the rate.

Guessing keys is limited too: each client address may present ``FOLIO_AUTH_FAILURES_PER_MINUTE`` unknown keys a
minute (counted the same way, per address). Past that, every keyed request from the address is answered 429
(``too_many_failed_keys``) without looking at its key, so a guess that happens to be right during the lock-out
tells the guesser nothing. The address is the connection's peer as uvicorn reports it: behind a reverse proxy,
set ``FORWARDED_ALLOW_IPS`` to the proxy's address so that uvicorn reports the client's from X-Forwarded-For.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from folio.config import Settings
from folio.errors import ConfigError
from folio.service.logs import ASGIApp, Receive, Scope, Send

DEFAULT_TENANT = "default"
DEFAULT_FAILURES_PER_MINUTE = 10
MIN_KEY_CHARS = 16
OPEN_V1_PATHS = frozenset({"/v1/info"})
_TENANT = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True)
class Principal:
    tenant: str
    key_id: str  # the first 8 hex digits of the key's SHA-256: safe to log


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """The configured keys, held as digests."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._by_digest: dict[str, Principal] = {}
        for key, tenant in pairs:
            digest = _digest(key)
            self._by_digest[digest] = Principal(tenant=tenant, key_id=digest[:8])

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        entries: list[tuple[str, str]] = []  # (entry, where) for messages that never show the key
        if settings.api_keys is not None:
            text = settings.api_keys.get_secret_value()
            entries += [(e, f"FOLIO_API_KEYS entry {i}") for i, e in enumerate(text.split(","), 1)]
        if settings.api_keys_file is not None:
            try:
                lines = settings.api_keys_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"cannot read the API keys file {settings.api_keys_file}: {exc.strerror}") from exc
            entries += [(line, f"{settings.api_keys_file} line {i}") for i, line in enumerate(lines, 1)
                        if line.strip() and not line.strip().startswith("#")]
        pairs = []
        for raw, where in entries:
            if not raw.strip():
                continue
            key, sep, tenant = raw.strip().rpartition(":")
            key, tenant = key.strip(), tenant.strip()
            if not sep or not _TENANT.match(tenant):
                raise ConfigError(f"{where}: expected KEY:TENANT, the tenant 1-64 of A-Z a-z 0-9 _ . -")
            if len(key) < MIN_KEY_CHARS:
                raise ConfigError(f"{where}: the key is shorter than {MIN_KEY_CHARS} characters")
            pairs.append((key, tenant))
        return cls(pairs)

    def __bool__(self) -> bool:
        return bool(self._by_digest)

    @property
    def tenants(self) -> set[str]:
        return {p.tenant for p in self._by_digest.values()}

    def lookup(self, key: str) -> Principal | None:
        return self._by_digest.get(_digest(key))


class RateLimiter:
    """At most ``limit`` requests per key in any ``window_s`` seconds (the ``limits`` library's sliding-window
    counter: two counters per key, expired by the storage, so keys that come and go do not pile up). The
    storage is in memory, per replica; ``limits`` can keep it in a shared store instead."""

    def __init__(self, limit: int, *, window_s: int = 60) -> None:
        self.limit = limit
        self.window_s = window_s
        self._item = RateLimitItemPerSecond(max(1, limit), window_s)
        self._storage = MemoryStorage()
        self._strategy = SlidingWindowCounterRateLimiter(self._storage)

    def take(self, key_id: str) -> float | None:
        """None when the request may go on (and is counted), else the seconds until one may."""
        if self.limit <= 0 or self._strategy.hit(self._item, key_id):
            return None
        return self._retry_in(key_id)

    def wait(self, key_id: str) -> float | None:
        """Like ``take``, without counting a request: None when one may go on now."""
        if self.limit <= 0 or self._strategy.test(self._item, key_id):
            return None
        return self._retry_in(key_id)

    def _retry_in(self, key_id: str) -> float:
        reset = self._strategy.get_window_stats(self._item, key_id).reset_time
        return max(0.0, reset - time.time())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _needs_key(path: str) -> bool:
    return path.startswith("/v1/") and path not in OPEN_V1_PATHS


def presented_key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


class AccessMiddleware:
    """Every ``/v1/`` request but ``/v1/info`` names a known key (when keys are configured) and is within its
    key's rate; the tenant is put in the request's state."""

    def __init__(self, app: ASGIApp, *, keys: ApiKeys, limiter: RateLimiter,
                 failures: RateLimiter | None = None) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.failures = failures or RateLimiter(DEFAULT_FAILURES_PER_MINUTE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["tenant"] = DEFAULT_TENANT
        if not self.keys or not _needs_key(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        key = presented_key(headers)
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        locked = self.failures.wait(address)
        if key is not None and locked is not None:
            retry = max(1, math.ceil(locked))
            await _refuse(send, 429, "too_many_failed_keys",
                          f"too many unknown API keys from this address; retry in {retry} s",
                          {"Retry-After": str(retry)})
            return
        principal = self.keys.lookup(key) if key else None
        if principal is None:
            if key is not None:
                self.failures.take(address)
            message = ("this endpoint needs an API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
                       if key is None else "the API key is not valid")
            await _refuse(send, 401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})
            return
        wait = self.limiter.take(principal.key_id)
        if wait is not None:
            retry = max(1, math.ceil(wait))
            await _refuse(send, 429, "rate_limited",
                          f"over {self.limiter.limit} requests a minute for this API key; retry in {retry} s",
                          {"Retry-After": str(retry)})
            return
        state["tenant"] = principal.tenant
        state["key_id"] = principal.key_id
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, code: str, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def get_tenant(request: Request) -> str:
    tenant: str = getattr(request.state, "tenant", DEFAULT_TENANT)
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]
