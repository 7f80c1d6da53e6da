"""Qdrant Edge as the embedded index (index/edge.py): it ranks as Qdrant's own Query API does on the same chunks,
follows writes and deletes, keeps its index across a reopen, is held by one process at a time, shows the user no
library warning, and takes over a local-mode index through the migration (index/migrate.py) without losing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from folio.config import Settings
from folio.errors import ConfigError, StoreLocked
from folio.index import Hit
from folio.index.edge import EdgeChunks, connect_edge
from folio.index.local import LocalChunks
from folio.index.migrate import migrate
from folio.index.protocol import ChunkPoint
from folio.index.sparse import SparseVector, query_vector
from folio.ingest.embed import HashEmbedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import collect_paths
from folio.ingest.store import Store
from folio.retrieval.search import search
from tests.index.test_index_memory import QUESTIONS, SAMPLES, _has_ties, _key, _same

REPO = Path(__file__).resolve().parents[2]


def _settings(data: Path, engine: str) -> Settings:
    return Settings(data_dir=data, embed_model="hash-64", ingest_workers=0, index_engine=engine)  # type: ignore[arg-type]


def _ingest(settings: Settings, paths: list[Path]) -> None:
    with Store.open(settings) as store:
        ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
        try:
            results = ingestor.run(paths)
        finally:
            ingestor.close()
        assert all(r.status == "ingested" for r in results), results


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Store]]:
    """The four samples ingested into local mode and into Edge, in data dirs of their own."""
    stores = []
    for engine in ("local", "edge"):
        settings = _settings(tmp_path_factory.mktemp(engine) / "data", engine)
        _ingest(settings, collect_paths([SAMPLES], recursive=False))
        stores.append(Store.open(settings))
    assert isinstance(stores[0].index, LocalChunks) and isinstance(stores[1].index, EdgeChunks)
    yield stores[0], stores[1]
    for store in stores:
        store.close()


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_edge_ranks_like_qdrants_query_api(both: tuple[Store, Store], mode: str) -> None:
    local, edge = both
    embedder = HashEmbedder(64)
    docs = local.list_documents()
    assert [d.id for d in docs] == [d.id for d in edge.list_documents()]  # the same ids: content hashes
    # every document (no condition), one or two (a condition on them), all but one (a condition on the rest)
    scopes = [[d.id for d in docs], [docs[0].id], [docs[1].id, docs[3].id], [docs[0].id, docs[1].id, docs[3].id]]
    compared = 0
    for question in QUESTIONS:
        dense, sparse = embedder.embed_query(question), query_vector(question)
        for scope in scopes:
            for limit, distinct, weight in ((1, False, 1.0), (5, True, 1.0), (8, False, 0.5)):
                pool = max(limit * 4, 20)
                if any(_has_ties(local.search_qdrant(dense=dense, sparse=sparse, doc_ids=scope, limit=2 * pool,
                                                     mode=m, pool=2 * pool, distinct=False))
                       for m in ("dense", "bm25")):
                    continue  # the order of tied chunks is Qdrant's choice (the hash embedder ties often)
                theirs = local.search_qdrant(dense=dense, sparse=sparse, doc_ids=scope, limit=limit, mode=mode,  # type: ignore[arg-type]
                                             pool=pool, distinct=distinct, bm25_weight=weight)
                ours = edge.search(dense=dense, sparse=sparse, doc_ids=scope, limit=limit, mode=mode,  # type: ignore[arg-type]
                                   distinct=distinct, bm25_weight=weight)
                _same(ours, theirs)
                assert {h.doc_id for h in ours} <= set(scope)
                compared += 1
    assert compared >= 15


def test_edge_statement_lane_and_tags_match_local_mode(both: tuple[Store, Store]) -> None:
    local, edge = both
    report = next(d for d in local.list_documents() if "annual-report" in d.source)
    spans = sorted(edge.index.spans(report.id))
    assert spans and sorted(p for _, *p in spans) == sorted(p for _, *p in local.index.spans(report.id))
    dense = HashEmbedder(64).embed_query("net income for the year")
    lanes = [store.search(dense=dense, sparse=query_vector("net income for the year"), doc_ids=[report.id],
                          limit=5, statements=("income",)) for store in (local, edge)]
    assert lanes[0] and _key(lanes[1]) == _key(lanes[0])
    assert edge.index.count(report.id) == local.index.count(report.id) > 0
    assert edge.index.documents() == local.index.documents()
    terms = [sorted(map(sorted, store.index.chunk_terms(report.id))) for store in (local, edge)]
    assert terms[0] and terms[1] == terms[0]


def test_both_engines_give_back_what_they_stored(both: tuple[Store, Store]) -> None:
    """``stored``: every point with its payload and both vectors, the same from either engine (what a migration
    copies), and one document's points alone when it is named."""
    local, edge = both
    copies = [{c.id: c for c in store.index.stored()} for store in (local, edge)]
    assert copies[0].keys() == copies[1].keys() and len(copies[0]) == local.count_chunks()
    for point_id, theirs in copies[0].items():
        ours = copies[1][point_id]
        assert ours.payload == theirs.payload and ours.sparse.indices == theirs.sparse.indices
        assert ours.sparse.values == pytest.approx(theirs.sparse.values, rel=1e-6)  # stored as float32
        assert np.allclose(ours.dense, theirs.dense, atol=1e-6) and ours.dense.shape == (64,)
    report = next(d for d in local.list_documents() if "annual-report" in d.source)
    one = list(edge.index.stored(report.id))
    assert len(one) == report.n_chunks and {c.payload["doc_id"] for c in one} == {report.id}


def _everything(store: Store, question: str) -> list[set[tuple[str, int, float]]]:
    """Every chunk each list finds for ``question`` with its score (a set: the order of ties is Edge's choice)."""
    ids = [d.id for d in store.list_documents()]
    dense, sparse = HashEmbedder(64).embed_query(question), query_vector(question)
    return [{(h.doc_id, h.chunk_index, round(h.score, 4)) for h in store.search(
        dense=dense, sparse=sparse, doc_ids=ids, limit=500, mode=mode, distinct=False)}  # type: ignore[arg-type]
        for mode in ("dense", "bm25")]


def test_edge_follows_writes_and_deletes_and_reopens(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data", "edge")
    first, *rest = collect_paths([SAMPLES], recursive=False)[:3]
    embedder = HashEmbedder(64)
    question = "termination for convenience notice"
    _ingest(settings, [first])
    with Store.open(settings) as store:
        ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
        assert search(store, embedder, question, doc_ids=[r.id for r in store.list_documents()])
        ingestor.run(rest)  # written after a search: searchable at once
        ingestor.close()
        docs = store.list_documents()
        assert len(docs) == 3 and store.index.count() == sum(store.index.count(d.id) for d in docs)
        for doc in docs:  # the document filter
            hits = search(store, embedder, question, doc_ids=[doc.id], limit=3)
            assert hits and {h.doc_id for h in hits} == {doc.id}
        gone = docs[0].id
        store.delete_document(gone)
        assert store.index.count(gone) == 0 and gone not in store.index.documents()
        assert gone not in {h.doc_id for h in search(store, embedder, question, doc_ids=[d.id for d in docs],
                                                         limit=50)}
        before = _everything(store, question)
        assert all(before)
    with Store.open(settings) as reopened:
        assert reopened.engine == "edge"
        assert _everything(reopened, question) == before
        assert [r.id for r in reopened.list_documents()] == [d.id for d in docs[1:]]
    with pytest.raises(ConfigError, match="64-dimensional"), Store.open(settings) as store:
        store.ensure_chunks_collection(32)


def _blocks(folder: Path) -> int:
    """Bytes on disk (allocated blocks: Edge preallocates files it has not filled)."""
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file())


def _points(rng: np.random.Generator, doc: int, n: int) -> list[ChunkPoint]:
    return [ChunkPoint(chunk_index=i, first_page=i // 4, last_page=i // 4, start=0, end=10, heading=None,
                       text=f"clause {i} of document {doc} " * 20, dense=rng.standard_normal(64),
                       sparse=SparseVector([doc, 100 + i % 7], [1.0, 0.5])) for i in range(n)]


def test_compact_gives_back_the_space_of_deleted_chunks_and_builds_no_hnsw(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    path = tmp_path / "edge"
    edge = connect_edge(path)
    chunks = EdgeChunks(edge, "folio_chunks")
    chunks.ensure(64)
    for doc in range(4):
        chunks.upsert(f"doc{doc}", _points(rng, doc, 800))  # one segment of 3,200 points
    kept = [c.id for c in chunks.stored("doc3")]
    for doc in range(3):
        chunks.delete(f"doc{doc}")
    edge.close()
    segments = path / "shard" / "segments"
    deleted = _blocks(segments)
    edge = connect_edge(path)
    chunks = EdgeChunks(edge, "folio_chunks")
    assert chunks.count() == 800
    assert _blocks(segments) >= deleted  # opening does not vacuum: it would hold the interpreter lock
    before, after = chunks.compact()  # three quarters of the segment's points are deleted: it is rewritten
    assert before >= deleted and after < 0.5 * before and _blocks(segments) == after
    edge = connect_edge(path)
    chunks = EdgeChunks(edge, "folio_chunks")
    assert chunks.count() == 800 and sorted(c.id for c in chunks.stored()) == sorted(kept)
    dense = rng.standard_normal(64)
    hits = chunks.search(dense=dense, sparse=None, doc_ids=["doc3"], limit=5, mode="dense", distinct=False)
    exact = sorted(chunks.stored(), key=lambda c: -float(np.dot(c.dense, dense) / np.linalg.norm(c.dense)
                                                          / np.linalg.norm(dense)))[:5]
    assert [h.chunk_index for h in hits] == [c.payload["chunk_index"] for c in exact]  # still exact
    assert chunks.compact()[1] == after  # nothing more to do
    # configured never to build an HNSW index, which would hold the interpreter lock for minutes (index/edge.py)
    config = json.loads((path / "shard" / "edge_config.json").read_text())
    assert config["optimizers"]["indexing_threshold"] == 0 and not any(segments.rglob("*hnsw*"))


def test_folio_compact_says_what_it_gave_back_or_why_it_cannot(tmp_path: Path) -> None:
    def compact(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "folio.cli", *args, "compact"], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1", **env})

    data = tmp_path / "data"
    settings = _settings(data, "edge")
    assert compact("--data-dir", str(data)).stdout.strip() == "the index is empty: nothing to compact"
    rng = np.random.default_rng(3)
    with Store.open(settings) as store:
        store.index.ensure(64)
        for doc in range(3):
            store.index.upsert(f"doc{doc}", _points(rng, doc, 600))
        quiet = compact("--data-dir", str(data))  # the store is held: refused in one line
        assert quiet.returncode == 1 and "another Folio process" in quiet.stderr and "[store_locked]" in quiet.stderr
        store.index.delete("doc0")
        store.index.delete("doc1")
    done = compact("--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"compacted {data / 'edge'}: ") and "given back" in done.stdout
    again = compact("--data-dir", str(data))
    assert again.returncode == 0 and again.stdout.startswith("nothing to compact in")
    local = compact("--data-dir", str(tmp_path / "old"), FOLIO_INDEX_ENGINE="local")
    assert local.returncode == 1 and "python -m folio.index.migrate" in local.stderr and "Traceback" not in local.stderr
    remote = compact("--server", "http://127.0.0.1:9")
    assert remote.returncode == 1 and "not through --server" in remote.stderr


def test_a_second_process_is_told_the_edge_index_is_held(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data", "edge")
    script = ("import sys\nfrom pathlib import Path\nfrom folio.index.edge import EdgeStorage\n"
              "from folio.errors import StoreLocked\n"
              "try:\n    EdgeStorage(Path(sys.argv[1])).close()\n"
              "except StoreLocked as e:\n    print('locked:', e.message)\n")
    with Store.open(settings) as store:
        store.ensure_chunks_collection(64)
        done = subprocess.run([sys.executable, "-c", script, str(settings.edge_path)], capture_output=True,
                              text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
        assert "locked: the local index is open in another Folio process" in done.stdout, done.stderr
        with pytest.raises(StoreLocked):  # in this process too: a second store on the same folder
            Store.open(settings)
    with Store.open(settings) as store:  # released on close
        assert store.has_chunks_collection()


def test_folio_ingest_and_search_on_edge_show_no_library_warning(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from folio.ingest.cli import cli

    for key, value in (("FOLIO_EMBED_MODEL", "hash-64"), ("FOLIO_INGEST_WORKERS", "0"),
                       ("FOLIO_INDEX_ENGINE", "auto")):
        monkeypatch.setenv(key, value)
    data = tmp_path / "data"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every warning shown, even one a library raises once per process
        msa = str(SAMPLES / "northwind-brightwater-msa.pdf")
        ingest = CliRunner().invoke(cli, ["--data-dir", str(data), "ingest", msa])
        found = CliRunner().invoke(cli, ["--data-dir", str(data), "search", "liability cap"])
    assert ingest.exit_code == 0 and "1 ingested" in ingest.output, ingest.output
    assert found.exit_code == 0 and "northwind" in found.output.lower(), found.output
    for result in (ingest, found):
        assert "warn" not in result.output.lower() and "note:" not in result.output, result.output
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    assert (data / "edge" / "shard").is_dir() and not (data / "qdrant").exists()


def test_a_local_mode_index_is_read_until_migrated_then_edge_answers_the_same(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _ingest(_settings(data, "local"), collect_paths([SAMPLES], recursive=False))  # an earlier Folio's data dir
    auto = _settings(data, "auto")
    assert auto.embedded_engine == "local"  # kept: its chunks cannot be made again without the model
    embedder = HashEmbedder(64)
    asked = [(embedder.embed_query(q), query_vector(q), mode) for q in ("liability cap", "revenue growth")
             for mode in ("dense", "bm25")]

    def answers(store: Store) -> list[list[Hit]]:
        ids = [d.id for d in store.list_documents()]
        return [store.search(dense=d, sparse=s, doc_ids=ids, limit=8, mode=m) for d, s, m in asked]  # type: ignore[arg-type]

    with Store.open(auto) as store:
        assert store.engine == "local"
        before, chunks = answers(store), store.index.count()
        terms = {d: sorted(map(sorted, store.index.chunk_terms(d))) for d in store.index.documents()}
    with Store.open(auto), pytest.raises(StoreLocked):
        migrate(auto)  # not while a Folio process holds the index
    moved = migrate(auto)
    assert (moved.chunks, moved.documents) == (chunks, 4)
    assert auto.embedded_engine == "edge" and (data / "qdrant" / "collection").is_dir()  # the old one left as it was
    with Store.open(auto) as store:
        assert store.engine == "edge" and store.index.count() == chunks
        assert {d: sorted(map(sorted, store.index.chunk_terms(d))) for d in store.index.documents()} == terms
        for ours, theirs in zip(answers(store), before, strict=True):  # the same scores; tied chunks may swap
            _same(ours, theirs)
    with pytest.raises(ConfigError, match="already holds"):
        migrate(auto)
