"""The index unavailable: a local store held by another process, a Qdrant server that goes away and comes back.

The service starts anyway, `/healthz`, `/v1/info` and the UI keep answering, `/readyz` and everything that needs
the index answer 503 with the store's code, nothing is lost, and it recovers without a restart.

What is real here:

- the lock: a second Python process opens the local store with qdrant-client, as a running `folio ingest` would,
  and lets go of it when told (its stdin closes);
- the outage: no Qdrant server binary runs on these machines, so ``QdrantRestShim`` below serves the part of
  Qdrant's REST API that Folio's store uses, over HTTP on a loopback port, from Qdrant's own local engine. Folio
  talks to it through the real qdrant-client in server mode (``QdrantClient(url=...)``: its REST client, httpx,
  TCP). Stopping the shim closes the port, so the client meets what it meets when a server stops: a connection
  dropped without an answer, then refused connections. Not exercised: Qdrant's server itself (its storage,
  consensus, gRPC), and a server that hangs rather than refuses (the client's timeout).
"""

from __future__ import annotations

import importlib.metadata
import json
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import TypeAdapter

from folio.config import Settings
from folio.errors import StoreLocked, StoreUnavailable
from folio.index import connection, edge
from folio.ingest.store import Store
from tests.conftest import held_by_another_process
from tests.live_server import live_folio
from tests.service_helpers import SAMPLES, contract_pdf, service_settings

T = TypeVar("T")
MSA = (SAMPLES / "northwind-brightwater-msa.pdf").read_bytes()
REPORT = (SAMPLES / "brightwater-annual-report-2025.pdf").read_bytes()
QUESTION = {"question": "Which state's laws govern the agreement?", "mode": "rag"}


# -- the parts ------------------------------------------------------------------------------------------------




def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QdrantRestShim:
    """The REST calls Folio's store makes, answered from Qdrant's local engine over HTTP on one loopback port
    that ``stop`` closes and ``start`` opens again (the module's docstring says what this does and does not
    exercise). ``fail_on(match)``: the next request that matches ``match(method, path)`` is not answered, its
    connection is dropped and the port closes, as when the server stops in the middle of it."""

    def __init__(self, path: Path) -> None:
        from qdrant_client import QdrantClient

        self.engine = QdrantClient(path=str(path))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()  # the local engine serves one call at a time
        self._server: ThreadingHTTPServer | None = None
        self._fail: Callable[[str, str], bool] | None = None

    def start(self) -> None:
        shim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                path = urlsplit(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fail = shim._fail
                if fail is not None and fail(self.command, path):
                    shim._fail = None
                    shim.stop()  # no answer: the connection closes when this returns
                    self.close_connection = True
                    return
                shim.requests.append((self.command, path))
                status, payload = shim.answer(self.command, path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = handle_one

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)  # SO_REUSEADDR: the same port again
        self._server = server
        threading.Thread(target=server.serve_forever, name=f"qdrant-shim-{self.port}", daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def close(self) -> None:
        self.stop()
        self.engine.close()

    def fail_on(self, match: Callable[[str, str], bool]) -> None:
        self._fail = match

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/":  # the client's version check: the API of the client's own version is what is served
            return 200, {"title": "qdrant (Folio's test shim)", "version": importlib.metadata.version("qdrant-client")}
        try:
            with self._lock, warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "payload indexes have no effect in local mode"
                result = self._dispatch(method, path.strip("/").split("/"), body)
        except Exception as exc:  # the engine refused the request: as the server does, a 4xx with the reason
            status = 404 if "not found" in str(exc).lower() else 400
            return status, {"status": {"error": f"{type(exc).__name__}: {exc}"}, "time": 0.0}
        return 200, {"result": result, "status": "ok", "time": 0.0}

    def _dispatch(self, method: str, parts: list[str], body: Any) -> Any:
        from qdrant_client import models

        engine = self.engine
        if parts == ["collections"]:
            return engine.get_collections().model_dump(mode="json")
        if len(parts) < 2 or parts[0] != "collections":
            raise KeyError(f"not found: {method} /{'/'.join(parts)}")
        name, rest = parts[1], parts[2:]

        def payload(value: Any) -> Any:  # the REST default of with_payload
            return True if value is None else value

        if rest == ["exists"]:
            return {"exists": engine.collection_exists(name)}
        if not rest and method == "GET":
            return engine.get_collection(name).model_dump(mode="json")
        if not rest and method == "PUT":
            create = models.CreateCollection.model_validate(body)
            return engine.create_collection(name, vectors_config=create.vectors,
                                            sparse_vectors_config=create.sparse_vectors)
        if not rest and method == "PATCH":
            change = models.UpdateCollection.model_validate(body)
            return engine.update_collection(name, sparse_vectors_config=change.sparse_vectors)
        if rest == ["facet"]:
            facet = models.FacetRequest.model_validate(body)
            return engine.facet(name, key=facet.key, facet_filter=facet.filter, limit=facet.limit or 10,
                                exact=bool(facet.exact)).model_dump(mode="json")
        if rest == ["index"]:
            index = models.CreateFieldIndex.model_validate(body)
            return engine.create_payload_index(name, index.field_name, index.field_schema).model_dump(mode="json")
        if rest == ["points"] and method == "PUT":
            points = TypeAdapter(models.PointsList).validate_python(body)
            return engine.upsert(name, points=points.points).model_dump(mode="json")
        if rest == ["points"] and method == "POST":
            get = models.PointRequest.model_validate(body)
            return [r.model_dump(mode="json") for r in engine.retrieve(
                name, get.ids, with_payload=payload(get.with_payload), with_vectors=get.with_vector or False)]
        if rest == ["points", "scroll"]:
            scroll = models.ScrollRequest.model_validate(body)
            points, offset = engine.scroll(name, scroll_filter=scroll.filter, limit=scroll.limit or 10,
                                           offset=scroll.offset, with_payload=payload(scroll.with_payload),
                                           with_vectors=scroll.with_vector or False)
            return {"points": [p.model_dump(mode="json") for p in points], "next_page_offset": offset}
        if rest == ["points", "count"]:
            count = models.CountRequest.model_validate(body)
            return engine.count(name, count_filter=count.filter, exact=count.exact is not False).model_dump(mode="json")
        if rest == ["points", "payload"]:
            update = models.SetPayload.model_validate(body)
            selector = update.points if update.points is not None else update.filter
            return engine.set_payload(name, update.payload, points=selector).model_dump(mode="json")
        if rest == ["points", "delete"]:
            selector = TypeAdapter(models.PointsSelector).validate_python(body)
            return engine.delete(name, points_selector=selector).model_dump(mode="json")
        if rest == ["points", "query"]:
            query = models.QueryRequest.model_validate(body)
            return engine.query_points(name, query=query.query, using=query.using, prefetch=query.prefetch,
                                       query_filter=query.filter, limit=query.limit or 10,
                                       with_payload=bool(query.with_payload)).model_dump(mode="json")
        raise KeyError(f"not found: {method} /{'/'.join(parts)}")

    def chunk_counts(self) -> dict[str, int]:
        """Chunks per document, as the engine holds them."""
        counts: dict[str, int] = {}
        offset = None
        with self._lock:
            while True:
                points, offset = self.engine.scroll("folio_chunks", limit=1024, offset=offset,
                                                    with_payload=["doc_id"])
                for p in points:
                    counts[p.payload["doc_id"]] = counts.get(p.payload["doc_id"], 0) + 1
                if offset is None:
                    return counts


@pytest.fixture
def shim(tmp_path: Path) -> Iterator[QdrantRestShim]:
    server = QdrantRestShim(tmp_path / "engine")
    try:
        yield server
    finally:
        server.close()


# -- helpers --------------------------------------------------------------------------------------------------


def _eventually(check: Callable[[], T | None], what: str, timeout_s: float = 90.0) -> T:
    """Poll ``check`` until it returns something truthy (returned), or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.1)


def _job_when(http: httpx.Client, job_id: str, condition: Callable[[dict[str, Any]], bool],
              what: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
        return job if condition(job) else None

    return _eventually(check, what)


def _upload(http: httpx.Client, name: str, data: bytes) -> dict[str, Any]:
    response = http.post("/v1/documents?wait=true", files=[("files", (name, data))])
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["jobs"][0]
    assert job["status"] == "done", job
    return job


def _documents(http: httpx.Client, status: str = "ready") -> dict[str, tuple[str, int]]:
    response = http.get(f"/v1/documents?status={status}")
    assert response.status_code == 200, response.text
    return {d["id"]: (d["status"], d["n_chunks"]) for d in response.json()["documents"]}


def _answered(http: httpx.Client) -> dict[str, Any]:
    response = http.post("/v1/query", json=QUESTION)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert "Oregon" in result["answer"]
    return result


def _everything_that_needs_the_index(http: httpx.Client, doc_id: str) -> dict[str, httpx.Response]:
    chat = {"model": "folio-rag", "messages": [{"role": "user", "content": QUESTION["question"]}]}
    return {
        "readyz": http.get("/readyz"),
        "delete": http.delete(f"/v1/documents/{doc_id}"),
        "plan": http.post("/v1/plan", json=QUESTION),
        "query": http.post("/v1/query", json=QUESTION),
        "query_stream": http.post("/v1/query", json={**QUESTION, "stream": True}),
        "chat": http.post("/v1/chat/completions", json=chat),
        "search": http.post("/v1/search", json={"query": "governing law"}),
    }


def _assert_records_answer(http: httpx.Client, doc_id: str) -> None:
    """What reads only the records (in the database, not in Qdrant) answers while the index cannot be used."""
    for path in ("/v1/documents", f"/v1/documents/{doc_id}", f"/v1/documents/{doc_id}/pages/1", "/v1/jobs",
                 "/v1/ledger"):
        response = http.get(path)
        assert response.status_code == 200, (path, response.text[:300])


def _assert_all_unavailable(responses: dict[str, httpx.Response], code: str) -> None:
    """Each a 503 with the store's code in the API's error body, and (the error handler's) a Retry-After."""
    wrong = {name: (r.status_code, r.headers.get("Retry-After"), r.text[:200]) for name, r in responses.items()
             if r.status_code != 503 or r.json().get("error", {}).get("code") != code
             or (name != "readyz" and r.headers.get("Retry-After") != "5")}
    assert not wrong, wrong


def _assert_index_free_parts_answer(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    info = http.get("/v1/info")
    assert info.status_code == 200 and info.json()["embed_model"] == "hash-64"
    ui = http.get("/")
    assert ui.status_code == 200 and "<html" in ui.text.lower()
    assert http.get("/metrics").status_code == 200
    assert http.get("/v1/models").status_code == 200


# -- a local store held by another process ----------------------------------------------------------------------


def test_a_local_store_held_by_another_process_is_503_until_it_lets_go(tmp_path, provider_double):
    settings = service_settings(tmp_path, provider_double())
    with live_folio(settings) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        first = _upload(http, "supply.pdf", contract_pdf())
        _upload(http, "msa.pdf", MSA)
        before = _documents(http)
    assert len(before) == 2

    # the service starts although another process holds the index (before: `folio serve` failed to start)
    with held_by_another_process(settings) as release, live_folio(settings) as live, \
            httpx.Client(base_url=live.url, timeout=60) as http:
        _assert_index_free_parts_answer(http)
        responses = _everything_that_needs_the_index(http, first["document_id"])
        _assert_all_unavailable(responses, "store_locked")
        _assert_records_answer(http, first["document_id"])
        assert _documents(http) == before
        ready = responses["readyz"].json()
        assert ready["ready"] is False and ready["checks"]["model_loaded"] is True
        assert "another Folio process" in ready["checks"]["qdrant"]
        assert "another Folio process" in responses["search"].json()["error"]["message"]

        release()  # the other process ends: the next request opens the index, without a restart
        _eventually(lambda: http.get("/readyz").status_code == 200, "/readyz answers 200")
        assert _documents(http) == before  # the delete that got 503 deleted nothing
        page = http.get(f"/v1/documents/{first['document_id']}/pages/1")
        assert page.status_code == 200 and page.json()["text"]
        _answered(http)
        added = _upload(http, "report.pdf", REPORT)
        after = _documents(http)
        assert set(after) == {*before, added["document_id"]}
        assert after[added["document_id"]] == ("ready", added["chunks_total"])


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_a_locked_store_is_tried_again_after_a_backoff_not_on_every_call(tmp_path, monkeypatch, engine):
    attempts: list[Path] = []
    opener = (edge, "EdgeStorage") if engine == "edge" else (connection, "open_local")
    real_open = getattr(*opener)

    def counted(path: Path) -> Any:
        attempts.append(path)
        return real_open(path)

    monkeypatch.setattr(*opener, counted)
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", index_engine=engine)
    now = [1000.0]
    with held_by_another_process(settings) as release:
        store = Store.lazy(settings)
        store.clock = lambda: now[0]
        for _ in range(25):  # a burst of requests: one attempt to open, the others fail at once
            with pytest.raises(StoreLocked):
                store.count_chunks()
        assert len(attempts) == 1
        waits = []
        for _ in range(8):  # each attempt that fails doubles the wait before the next one, up to 5 s
            with pytest.raises(StoreLocked) as at_once:
                store.check()
            waits.append(float(str(at_once.value).rsplit("next attempt in ", 1)[1].split(" s)")[0]))
            now[0] += waits[-1]
            with pytest.raises(StoreLocked, match="another Folio process"):  # due: an attempt, which fails
                store.check()
        assert waits == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]
        assert len(attempts) == 9 and store.unavailable is not None
        release()
        now[0] += 5.0
        store.check()  # due again: it opens
        assert len(attempts) == 10 and store.unavailable is None
        assert store.list_documents() == [] and store.local
        store.close()
    with pytest.raises(StoreUnavailable, match="closed"):  # a closed store never opens again by itself
        store.check()


# -- a Qdrant server that goes away ----------------------------------------------------------------------------


def _is_chunk_write(method: str, path: str) -> bool:
    return method == "PUT" and path == "/collections/folio_chunks/points"


# qdrant-client asks a new client's server for its version, and warns when it cannot: expected here
@pytest.mark.filterwarnings("ignore:Failed to obtain server version:UserWarning")
def test_a_server_outage_is_503_everywhere_and_an_upload_in_progress_completes(tmp_path, shim, provider_double):
    settings = service_settings(tmp_path, provider_double(), qdrant_url=shim.url)
    # the server is down when the service starts
    with live_folio(settings) as live, httpx.Client(base_url=live.url, timeout=120) as http:
        _assert_index_free_parts_answer(http)
        down = http.get("/readyz")
        assert down.status_code == 503 and down.json()["error"]["code"] == "store_unavailable"
        assert "cannot be reached" in down.json()["checks"]["qdrant"]
        shim.start()
        _eventually(lambda: http.get("/readyz").status_code == 200, "/readyz answers 200 once the server is up")
        first = _upload(http, "supply.pdf", contract_pdf())
        _upload(http, "msa.pdf", MSA)
        before = _documents(http)
        assert {doc_id: n for doc_id, (_, n) in before.items()} == shim.chunk_counts()

        # the server stops while an upload is writing its chunks
        shim.fail_on(_is_chunk_write)
        accepted = http.post("/v1/documents", files=[("files", ("report.pdf", REPORT))])
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["jobs"][0]["id"]
        waiting = _job_when(http, job_id, lambda j: j["stage"].startswith("waiting for the index"),
                            "the upload waits for the index")  # answered from memory: the index is down
        assert waiting["status"] == "queued" and "store_unavailable" in waiting["stage"]

        _assert_index_free_parts_answer(http)
        _assert_all_unavailable(_everything_that_needs_the_index(http, first["document_id"]), "store_unavailable")
        _assert_records_answer(http, first["document_id"])

        shim.start()  # the server is back: no restart of the service
        _eventually(lambda: http.get("/readyz").status_code == 200, "/readyz answers 200 again")
        job = _job_when(http, job_id, lambda j: bool(j["finished"]), "the upload finishes")
        assert job["status"] == "done" and job["error"] is None, job
        after = _documents(http, status="all")  # nothing half-written left behind
        assert set(after) == {*before, job["document_id"]}
        assert {doc_id: n for doc_id, (_, n) in after.items()} == shim.chunk_counts()
        assert all(status == "ready" for status, _ in after.values())
        assert after[job["document_id"]][1] == job["chunks_total"] > 0
        _answered(http)


def test_an_upload_the_server_does_not_come_back_for_fails_cleanly(tmp_path, shim, provider_double):
    settings = service_settings(tmp_path, provider_double(), qdrant_url=shim.url)
    shim.start()
    with live_folio(settings) as live, httpx.Client(base_url=live.url, timeout=120) as http:
        _upload(http, "supply.pdf", contract_pdf())
        before = _documents(http)
        live.app.state.runtime.jobs.store_wait_s = 0.0  # give up at once rather than wait five minutes
        shim.fail_on(_is_chunk_write)
        failed = http.post("/v1/documents?wait=true", files=[("files", ("msa.pdf", MSA))])
        assert failed.status_code == 503, failed.text
        assert failed.json()["error"]["code"] == "store_unavailable"
        assert failed.headers.get("Retry-After") == "5"  # as every other 503 of the index says
        job = failed.json()["jobs"][0]
        assert job["status"] == "failed" and job["error"]["code"] == "store_unavailable"
        # its last status could not be written: this replica answers it from memory meanwhile
        assert http.get(f"/v1/jobs/{job['id']}").json()["status"] == "failed"

        shim.start()
        _eventually(lambda: http.get("/readyz").status_code == 200, "/readyz answers 200 again")
        assert _documents(http) == before  # the half-written document is not visible
        hits = http.post("/v1/search", json={"query": "Master Services Agreement Northwind", "limit": 20}).json()
        assert {h["doc_id"] for h in hits["hits"]} <= set(before)
        again = _upload(http, "msa.pdf", MSA)  # uploading it again completes it
        after = _documents(http, status="all")
        assert set(after) == {*before, again["document_id"]}
        assert {doc_id: n for doc_id, (_, n) in after.items()} == shim.chunk_counts()
        assert all(status == "ready" for status, _ in after.values())


def test_an_error_the_server_answers_leaves_the_store_usable(tmp_path, shim):
    shim.start()
    store = Store.open(Settings(data_dir=tmp_path / "data", embed_model="hash-64", qdrant_url=shim.url))
    try:
        assert not store.local
        with pytest.raises(StoreUnavailable, match="read failed"):  # a 404: an answer, not an outage
            store.qdrant.call("read", lambda: store.client.retrieve("folio_nothing",
                                                                    ["0d7bf5e4-9a43-4c2e-8f0b-5b7f3c1e2a90"]))
        assert store.unavailable is None
        seen = len(shim.requests)
        store.check()
        assert len(shim.requests) == seen + 1  # the next call went to the server at once
        shim.stop()
        with pytest.raises(StoreUnavailable, match="cannot be reached") as down:
            store.check()
        assert "ConnectError" in str(down.value) and store.unavailable is not None
    finally:
        store.close()


# -- found by bench/load_bench.py: questions waited behind an upload's slices -------------------------------------


def test_the_shared_embedder_serves_in_order_so_a_question_waits_for_one_slice_at_most():
    import numpy as np

    from folio.ingest.embed import HashEmbedder
    from folio.service.runtime import LockedEmbedder

    class Recording(HashEmbedder):
        def __init__(self) -> None:
            super().__init__(16)
            self.calls: list[str] = []
            self.slice_started = threading.Event()
            self.go_on = threading.Semaphore(0)

        def embed(self, texts: list[str]) -> np.ndarray:
            self.calls.append("slice")
            self.slice_started.set()
            assert self.go_on.acquire(timeout=30)  # a slice ends only when the test lets it
            return super().embed(texts)

        def embed_query(self, text: str) -> np.ndarray:
            self.calls.append(text)
            return super().embed_query(text)

    inner = Recording()
    shared = LockedEmbedder(inner)
    upload = threading.Thread(target=shared.embed, args=([f"chunk {i}" for i in range(32 * 5)],))
    upload.start()
    assert inner.slice_started.wait(30)  # the first slice holds the model
    question = threading.Thread(target=shared.embed_query, args=("What is the liability cap?",))
    question.start()
    _eventually(lambda: shared._lock._next == 2, "the question is waiting for the model")
    for _ in range(5):
        inner.go_on.release()
    upload.join(30)
    question.join(30)
    # with threading.Lock the upload took the model back after each slice, ahead of the waiting question
    assert inner.calls == ["slice", "What is the liability cap?", "slice", "slice", "slice", "slice"]
    before = len(inner.calls)
    assert shared.embed_query("What is the liability cap?") is shared.embed_query("What is the liability cap?")
    assert len(inner.calls) == before  # remembered: answered without the model
