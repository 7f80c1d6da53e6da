"""The service's shared embedder: remembered query vectors, uploads embedded in slices."""

from __future__ import annotations

import threading
import time

import numpy as np

from folio.ingest.embed import HashEmbedder
from folio.service.runtime import LockedEmbedder


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(32)
        self.batches: list[int] = []
        self.queries = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches.append(len(texts))
        return super().embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self.queries += 1
        return super().embed_query(text)


def test_query_vectors_are_remembered_and_read_only() -> None:
    inner = CountingEmbedder()
    shared = LockedEmbedder(inner)
    first = shared.embed_query("What is the liability cap?")
    again = shared.embed_query("What is the liability cap?")
    assert inner.queries == 1 and again is first and not first.flags.writeable
    np.testing.assert_array_equal(first, HashEmbedder(32).embed_query("What is the liability cap?"))
    for i in range(LockedEmbedder.QUERY_CACHE + 1):
        shared.embed_query(f"question {i}")
    shared.embed_query("What is the liability cap?")  # pushed out by newer questions: embedded again
    assert inner.queries == LockedEmbedder.QUERY_CACHE + 3


def test_uploads_go_in_slices_with_the_same_vectors() -> None:
    inner = CountingEmbedder()
    shared = LockedEmbedder(inner)
    texts = [f"chunk number {i} of the agreement" for i in range(70)]
    vectors = shared.embed(texts)
    assert inner.batches == [32, 32, 6]
    np.testing.assert_array_equal(vectors, HashEmbedder(32).embed(texts))
    assert shared.embed([]).shape[0] == 0


def test_a_question_waits_for_one_slice_not_the_whole_upload() -> None:
    class Slow(CountingEmbedder):
        def embed(self, texts: list[str]) -> np.ndarray:
            time.sleep(0.05)
            return super().embed(texts)

    inner = Slow()
    shared = LockedEmbedder(inner)
    upload = threading.Thread(target=shared.embed, args=([f"t{i}" for i in range(32 * 20)],))
    upload.start()
    while not inner.batches:
        time.sleep(0.001)
    shared.embed_query("a question during an upload")
    slices_before_the_question = len(inner.batches)
    upload.join()
    assert slices_before_the_question < 20  # answered while the upload still had slices to go


def test_a_failed_jobs_code_maps_to_its_errors_http_status() -> None:
    import folio.ingest.pipeline  # noqa: F401  (errors defined beside the pipeline join the tree)
    from folio.errors import http_status_for

    assert [http_status_for(c) for c in ("file_too_large", "unsupported_format", "no_text", "too_many_pages",
                                         "document_conflict", "ocr_unavailable", "no_such_code")] == \
        [413, 415, 422, 413, 409, 503, 500]


def test_the_model_waits_for_the_records_at_start_and_readiness_loads_it_once_they_answer(tmp_path, monkeypatch):
    """'auto' reads which backend embedded the documents before it loads a model: with the records unreadable at
    start the service starts anyway, unready, and the first readiness check after they answer loads the model."""
    from folio.config import Settings
    from folio.errors import DatabaseUnavailable
    from folio.service.app import readiness
    from folio.service.runtime import build_runtime

    runtime = build_runtime(Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=0))
    try:
        records = runtime.store.document_records
        answer = records.embed_backends
        monkeypatch.setattr(records, "embed_backends", lambda: (_ for _ in ()).throw(DatabaseUnavailable("down")))
        runtime.warm()
        assert not runtime.model_loaded and runtime.model_wanted and runtime.embed_backend is None
        monkeypatch.setattr(records, "embed_backends", answer)
        response = readiness(runtime)
        assert response.status_code == 200, response.body
        assert runtime.model_loaded and not runtime.model_wanted and runtime.embed_backend == "hash"
    finally:
        runtime.close()
