from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from folio.config import PARSE_SHARE, Settings
from folio.errors import StoreUnavailable
from folio.ingest.pipeline import EMBED_BATCH, MIN_EMBED_BATCH, PROGRESS_STEPS, Ingestor, embed_batch_size
from folio.ingest.progress import _describe
from folio.ingest.reports import NullProgress
from folio.ingest.sources import Source, collect_paths
from folio.ingest.store import Store
from tests.pdfs import CONTRACT_PAGES, image_only_pdf, text_pdf, write
from tests.records_helpers import document_rows


def snapshot(store: Store) -> str:
    """Every document record (with its pages) and every chunk point (payloads and vectors), as one canonical
    string."""
    out: dict[str, object] = {"records": document_rows(store)}
    out["chunks"] = sorted(json.dumps({"id": c.id, "payload": c.payload, "dense": c.dense.tolist(),
                                       "sparse": [c.sparse.indices, c.sparse.values]}, sort_keys=True)
                           for c in store.index.stored())
    return json.dumps(out, sort_keys=True)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    write(folder / "supply agreement, final (v2) – signé.pdf", text_pdf(CONTRACT_PAGES, title="Supply Agreement"))
    write(folder / "notes.md", b"# Meeting Notes\n\nThe supplier agreed to a 5% discount on Products.\n")
    write(folder / "ignored.bin", b"\x00\x01")
    return folder


def test_ingest_folder_then_skip_unchanged(ingestor, store, tmp_path):
    folder = _folder(tmp_path)
    sources = collect_paths([folder])
    assert [Path(s.name).name for s in sources] == ["notes.md", "supply agreement, final (v2) – signé.pdf"]
    results = ingestor.run(sources)
    assert [r.status for r in results] == ["ingested", "ingested"]
    pdf = next(r for r in results if r.name.endswith(".pdf"))
    record = store.require_document(pdf.doc_id, with_pages=True)
    assert record.n_pages == 3 and record.status == "ready"
    assert (record.embed_model, record.embed_backend) == ("hash-64", "hash")  # what 'auto' later follows
    assert store.document_records.embed_backends() == {"hash": 2}
    assert record.title == "Supply Agreement"
    assert record.file_name == "supply agreement, final (v2) – signé.pdf"
    assert len(record.page_tokens) == 3 and sum(record.page_tokens) == record.total_tokens > 50
    assert store.count_chunks(pdf.doc_id) == record.n_chunks == pdf.chunks > 0
    assert "Oregon" in record.pages[2]

    before = snapshot(store)
    again = ingestor.run(collect_paths([folder]))
    assert [r.status for r in again] == ["skipped", "skipped"]
    assert snapshot(store) == before


def test_same_bytes_under_two_names_are_one_document(ingestor, store, tmp_path):
    data = text_pdf(CONTRACT_PAGES)
    a = write(tmp_path / "a.pdf", data)
    b = write(tmp_path / "copy of a.pdf", data)
    results = ingestor.run(collect_paths([a, b]))
    assert [r.status for r in results] == ["ingested", "skipped"]
    assert len(store.list_documents()) == 1


def test_changed_file_replaces_its_old_version(ingestor, store, tmp_path):
    path = write(tmp_path / "contract.pdf", text_pdf(CONTRACT_PAGES))
    first = ingestor.run(collect_paths([path]))[0]
    changed = [p.replace("Oregon", "Washington") for p in CONTRACT_PAGES]
    write(path, text_pdf(changed))
    second = ingestor.run(collect_paths([path]))[0]
    assert second.status == "replaced"
    assert second.replaced == [first.doc_id]
    assert [d.id for d in store.list_documents()] == [second.doc_id]
    assert store.count_chunks(first.doc_id) == 0
    assert "Washington" in store.page_text(second.doc_id, 2)


def test_a_replacement_cut_before_the_old_version_went_is_finished_by_the_next_run(ingestor, store, tmp_path,
                                                                                    monkeypatch):
    path = write(tmp_path / "contract.pdf", text_pdf(CONTRACT_PAGES))
    first = ingestor.run(collect_paths([path]))[0]
    write(path, text_pdf([p.replace("Oregon", "Washington") for p in CONTRACT_PAGES]))
    # the index goes away after the new version is ready, just before the old one is deleted
    monkeypatch.setattr(store, "delete_document", _unavailable)
    cut = ingestor.run(collect_paths([path]))[0]
    assert cut.status == "failed" and cut.error is not None and cut.error.code == "store_unavailable"
    monkeypatch.undo()
    assert len(store.list_documents()) == 2  # both versions visible: the state the next run must repair
    again = ingestor.run(collect_paths([path]))[0]
    assert again.status == "skipped" and again.replaced == [first.doc_id]
    assert [d.id for d in store.list_documents()] == [again.doc_id]
    assert store.count_chunks(first.doc_id) == 0


def _unavailable(doc_id: str) -> None:
    raise StoreUnavailable("Qdrant cannot be reached (delete): ConnectError: connection refused")


def test_bad_files_are_reported_and_change_nothing(ingestor, store, tmp_path):
    good = write(tmp_path / "good.pdf", text_pdf(CONTRACT_PAGES))
    ingestor.run(collect_paths([good]))
    before = snapshot(store)
    bad = {
        "corrupt.pdf": b"%PDF-1.7\n" + b"\x00garbage" * 100,
        "truncated.pdf": text_pdf(CONTRACT_PAGES * 4)[:900],
        "password.pdf": text_pdf(CONTRACT_PAGES, encrypt_user="s3cret"),
        "scan.pdf": image_only_pdf(1),
        "empty.txt": b"",
        "sheet.xlsx": b"PK\x03\x04",
        "naïve résumé, v1.pdf": b"not a pdf at all",
    }
    paths = [write(tmp_path / "bad" / name, data) for name, data in bad.items()]
    paths.append(tmp_path / "bad" / "missing.pdf")
    results = ingestor.run(collect_paths(paths))
    codes = {Path(r.name).name: r.error.code for r in results if r.error is not None}
    assert all(r.status == "failed" for r in results)
    assert codes == {
        "corrupt.pdf": "corrupt_file", "truncated.pdf": "corrupt_file", "password.pdf": "encrypted_file",
        "scan.pdf": "no_text", "empty.txt": "empty_file", "sheet.xlsx": "unsupported_format",
        "naïve résumé, v1.pdf": "corrupt_file", "missing.pdf": "file_not_found",
    }
    for r in results:
        assert r.error is not None and r.error.file == r.name
    assert snapshot(store) == before


def test_file_over_the_size_limit(store, settings, tmp_path):
    settings = settings.model_copy(update={"max_file_mb": 0.001})
    ing = Ingestor(store, lambda: __import__("folio.ingest.embed").ingest.embed.HashEmbedder(64), settings)
    path = write(tmp_path / "big.txt", b"word " * 1000)
    result = ing.run(collect_paths([path]))[0]
    assert result.error is not None and result.error.code == "file_too_large"
    assert "FOLIO_MAX_FILE_MB" in result.error.message


def test_uploaded_bytes_and_worker_process(store, settings, tmp_path):
    from folio.ingest.embed import HashEmbedder

    ing = Ingestor(store, lambda: HashEmbedder(64), settings, workers=1)
    try:
        sources = [Source(name=f"upload-{i}.txt", key=f"upload:{i}", data=f"Clause {i}. ".encode() * 50)
                   for i in range(3)]
        sources.append(Source(name="bad.pdf", key="upload:bad", data=b"%PDF-1.4 nonsense"))
        sources += collect_paths([write(tmp_path / "on-disk.pdf", text_pdf(CONTRACT_PAGES))])
        results = ing.run(sources)
    finally:
        ing.close()
    assert [r.status for r in results] == ["ingested", "ingested", "ingested", "failed", "ingested"]
    assert len(store.list_documents()) == 4
    for source, result in zip(sources, results, strict=True):  # each document keeps the bytes it was parsed from
        kept = store.document_files.get(result.doc_id, tenant="default") if result.doc_id else None
        assert (kept.content if kept else None) == (source.read() if result.status == "ingested" else None)
    # each file's own rates: its parse in the worker, its embedding here, each over its own stage's time
    for r in (r for r in results if r.status == "ingested"):
        assert 0 < r.parse_s < r.seconds and 0 < r.embed_s < r.seconds
        pages_s, chunks_s = r.rates() or (0.0, 0.0)
        assert pages_s == r.pages / r.parse_s and chunks_s == r.chunks / r.embed_s
        assert f"(parsed {pages_s:.1f} pages/s, embedded {chunks_s:.1f} chunks/s)" in _describe(r)
    assert results[3].rates() is None and "pages/s" not in _describe(results[3])


def test_workers_auto_is_sized_to_the_cores(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("FOLIO_INGEST_WORKERS", "auto")
    assert Settings().ingest_worker_count == max(1, round(cores * PARSE_SHARE)) >= 1
    assert Settings(ingest_workers=3).ingest_worker_count == 3 and Settings(ingest_workers=0).ingest_worker_count == 0
    with pytest.raises(ValidationError, match="ingest_workers"):
        Settings(ingest_workers=-1)


def test_retrieval_finds_the_right_page(ingestor, store, tmp_path):
    from folio.ingest.embed import HashEmbedder
    from folio.retrieval.search import search

    path = write(tmp_path / "contract.pdf", text_pdf(CONTRACT_PAGES))
    doc_id = ingestor.run(collect_paths([path]))[0].doc_id
    hits = search(store, HashEmbedder(64), "governing law State of Oregon", limit=1)
    assert hits[0].doc_id == doc_id
    assert hits[0].first_page <= 2 <= hits[0].last_page


class _Recorder(NullProgress):
    def __init__(self) -> None:
        self.prepared: list[int] = []
        self.batches: list[int] = []

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        self.prepared.append(chunks)

    def chunks_done(self, name: str, n: int) -> None:
        self.batches.append(n)


def test_a_small_document_reports_its_embedding_in_steps(ingestor, tmp_path):
    """A document under one full batch (EMBED_BATCH chunks) is embedded in several smaller ones, each reported,
    so an upload's "embedding chunks k of n" moves before the end (issue 21: it stood at 0 of 125)."""
    paragraphs = [f"Clause {i}. " + " ".join(f"term{i}x{j} applies to the supplier" for j in range(40))
                  for i in range(40)]
    path = write(tmp_path / "long.md", ("# Long\n\n" + "\n\n".join(paragraphs)).encode())
    progress = _Recorder()
    [result] = ingestor.run(collect_paths([path]), progress)
    assert result.status == "ingested"
    assert progress.prepared == [result.chunks] and MIN_EMBED_BATCH * 2 < result.chunks < EMBED_BATCH
    assert sum(progress.batches) == result.chunks
    assert len(progress.batches) >= 4 and max(progress.batches) <= MIN_EMBED_BATCH, progress.batches
    assert embed_batch_size(125) == -(-125 // PROGRESS_STEPS) == 16 and embed_batch_size(5) == MIN_EMBED_BATCH
    assert embed_batch_size(10_000) == EMBED_BATCH
