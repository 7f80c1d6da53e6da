"""The command line's client for a running Folio server (``folio --server URL ...``): its REST API over httpx.

The server's errors come back as the same ``FolioError`` codes the local commands raise (``document_not_found``,
``file_too_large``, ...), so ``folio`` prints them the same way and exits 1; a server that cannot be reached is
``store_unavailable``, as a Qdrant server that cannot be reached is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import httpx

from folio.errors import FolioError, InvalidRequest, StoreUnavailable

POLL_S = 0.25


class RemoteError(FolioError):
    """An error the server reported, with the server's own code."""

    def __init__(self, code: str, message: str, *, status: int, file: str | None = None,
                 document_id: str | None = None) -> None:
        super().__init__(message, file=file, document_id=document_id)
        self.code = code
        self.http_status = status
        self.job: dict[str, Any] | None = None  # an upload's job, when the server sent one with the error


class RemoteFolio:
    def __init__(self, url: str, *, timeout_s: float = 30.0, transport: httpx.BaseTransport | None = None,
                 api_key: str | None = None) -> None:
        base = url.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise InvalidRequest(f"--server wants a URL such as http://127.0.0.1:8000, not {url!r}")
        self.url = base
        headers = {"User-Agent": "folio-cli"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=base, timeout=timeout_s, transport=transport, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteFolio:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        try:
            options: dict[str, Any] = dict(kwargs)
            if timeout is not None:
                options["timeout"] = timeout
            response = self._http.request(method, path, **options)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"the Folio server at {self.url} did not answer in time ({type(exc).__name__})") \
                from exc
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"cannot reach the Folio server at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    def call(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """One JSON request to any route of the server's API; its error as the server's code."""
        return self._request(method, path, timeout=timeout, **kwargs)

    def events(self, path: str, body: dict[str, Any], *,
               read_timeout_s: float) -> Iterator[tuple[str, dict[str, Any]]]:
        """POST ``body`` and yield the ``(event, data)`` of the server-sent events that answer it. An error before
        the stream (a 4xx) is raised with the server's code; an unreachable or silent server is
        ``store_unavailable``."""
        try:
            with self._http.stream("POST", path, json=body,
                                   timeout=httpx.Timeout(30.0, read=read_timeout_s)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                yield from sse_events(response.iter_lines())
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"the Folio server at {self.url} did not answer in time ({type(exc).__name__})") \
                from exc
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"the Folio server at {self.url} could not be read: {exc}") from exc

    # -- documents -------------------------------------------------------------------------------------

    def documents(self, *, show_all: bool = False) -> list[dict[str, Any]]:
        data = self._request("GET", "/v1/documents", params={"status": "all" if show_all else "ready"})
        return list(data["documents"])

    def document(self, doc_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/documents/{doc_id}"))

    def page(self, doc_id: str, page: int) -> dict[str, Any]:
        """Page ``page`` (counted from 1) of a document."""
        return dict(self._request("GET", f"/v1/documents/{doc_id}/pages/{page}"))

    def delete(self, doc_id: str) -> dict[str, Any]:
        return dict(self._request("DELETE", f"/v1/documents/{doc_id}"))

    def info(self) -> dict[str, Any]:
        """The service's model, prices and whether its answers are simulated (``GET /v1/info``)."""
        return dict(self._request("GET", "/v1/info"))

    def rename(self, doc_id: str, title: str) -> dict[str, Any]:
        return dict(self._request("PATCH", f"/v1/documents/{doc_id}", json={"title": title}))

    def search(self, query: str, *, documents: Sequence[str] | None, limit: int, mode: str) -> dict[str, Any]:
        body = {"query": query, "documents": list(documents or []) or None, "limit": limit, "mode": mode}
        return dict(self._request("POST", "/v1/search", json=body))

    def query(self, body: dict[str, Any], *, timeout_s: float = 1800.0) -> dict[str, Any]:
        return dict(self._request("POST", "/v1/query", json=body, timeout=timeout_s))

    # -- uploads ---------------------------------------------------------------------------------------

    def upload(self, name: str, data: bytes, *, collection: str | None = None) -> dict[str, Any]:
        """Queue one file; its job (which may already say ``failed``, e.g. a file over the size limit).
        ``collection``: the document joins it when ready (made if there is none)."""
        params = {"collection": collection, "create_collection": "true"} if collection else None
        try:
            body = self._request("POST", "/v1/documents", files=[("files", (name, data))], timeout=600.0,
                                 params=params)
        except RemoteError as exc:  # one refused file: the server answers with its job beside the error
            if exc.job is not None:
                return exc.job
            raise
        return dict(body["jobs"][0])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/jobs/{job_id}"))

    def wait(self, job_ids: Sequence[str], *, on_update: Callable[[dict[str, Any]], None] | None = None,
             timeout_s: float = 24 * 3600.0) -> dict[str, dict[str, Any]]:
        """Poll the jobs until each has finished; ``on_update`` sees each job once, when it finishes."""
        pending = list(job_ids)
        done: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while pending:
            for job_id in list(pending):
                job = self.job(job_id)
                if job.get("finished") is not None:
                    done[job_id] = job
                    pending.remove(job_id)
                    if on_update is not None:
                        on_update(job)
            if pending:
                if time.monotonic() > deadline:
                    raise StoreUnavailable(f"{len(pending)} upload(s) still running on {self.url} after "
                                           f"{timeout_s:.0f} s")
                time.sleep(POLL_S)
        return done


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event, data)`` of a ``text/event-stream``'s lines: each event's JSON data (comments, the stream's
    pings, are skipped)."""
    kind = "message"
    data: list[str] = []
    for line in [*lines, ""]:
        if not line:
            if data:
                yield kind, json.loads("\n".join(data))
            kind, data = "message", []
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)


def _error(response: httpx.Response) -> RemoteError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = response.text.strip()[:200] or response.reason_phrase
        return RemoteError("http_error", f"the server answered HTTP {response.status_code}: {text}",
                           status=response.status_code)
    exc = RemoteError(str(error.get("code") or "http_error"), str(error.get("message") or response.reason_phrase),
                      status=response.status_code, file=error.get("file"), document_id=error.get("document_id"))
    jobs = body.get("jobs")
    exc.job = dict(jobs[0]) if isinstance(jobs, list) and jobs else None
    return exc
