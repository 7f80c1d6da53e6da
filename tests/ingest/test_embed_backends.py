"""The int8 ONNX Runtime embedder: its export, cache, self-check and the fallback to torch, on the bundled model."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from folio.config import Settings
from folio.errors import ConfigError
from folio.evaluation.embed_cache import CachedEmbedder, EmbeddingCache
from folio.ingest import onnx_export
from folio.ingest.embed import (
    SentenceTransformerEmbedder,
    embedder_from_settings,
    load_embedder,
    model_window,
    resolve_model_path,
)
from folio.ingest.embed_backends import OnnxEmbedder, load_onnx

pytestmark = pytest.mark.integration
MODEL = "all-MiniLM-L6-v2"
TEXTS = ["The Supplier may terminate this Agreement on sixty days' written notice.",
         "Net sales rose 8% to $3.1 billion on higher volumes.",
         "bananas"]


@pytest.fixture(scope="module")
def torch_fp32() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MODEL, dtype="fp32")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), embed_model=MODEL, embed_backend="onnx")


def _load(cache: Path, torch_fp32: SentenceTransformerEmbedder) -> tuple[OnnxEmbedder, onnx_export.Export]:
    return load_onnx(MODEL, resolve_model_path(MODEL), cache, batch_size=32, max_tokens=model_window(MODEL),
                     torch_reference=lambda: torch_fp32)


@pytest.fixture(scope="module")
def exported(settings: Settings, torch_fp32: SentenceTransformerEmbedder) -> tuple[OnnxEmbedder, onnx_export.Export]:
    """The module's one export, built into the settings' model cache."""
    return _load(settings.model_cache_dir, torch_fp32)


def test_export_passes_its_self_check_and_matches_torch(exported, torch_fp32):
    embedder, export = exported
    assert export.built and export.self_check.passed
    assert export.self_check.mean_cosine >= onnx_export.MIN_MEAN_COSINE
    assert embedder.dim == 384 and embedder.max_tokens == 256 and embedder.backend == "onnx-int8"
    int8, fp32 = embedder.embed(TEXTS), torch_fp32.embed(TEXTS)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(int8 * fp32, axis=1))) > 0.97
    # a long text is truncated at the model's window as sentence-transformers does, not refused
    long = "indemnification " * 600
    assert float(embedder.embed_query(long) @ torch_fp32.embed_query(long)) > 0.97
    # the order of the texts in a call does not change a text's vector (batches are sorted by length inside)
    assert np.allclose(embedder.embed(TEXTS[::-1])[::-1], int8, atol=1e-5)


def test_the_export_is_reused_not_rebuilt(exported, settings, torch_fp32):
    _, export = exported
    before = export.path.stat()
    _, second = _load(settings.model_cache_dir, torch_fp32)
    assert not second.built and second.path == export.path and second.self_check == export.self_check
    after = export.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # the service and the CLI get the same backend from the settings, over the same file
    from_settings = embedder_from_settings(settings)
    assert isinstance(from_settings, OnnxEmbedder) and from_settings.path == export.path
    assert export.path.stat().st_mtime_ns == before.st_mtime_ns


def test_a_corrupt_export_is_detected_and_rebuilt_and_a_failed_self_check_falls_back(
        exported, tmp_path, torch_fp32, monkeypatch, caplog):
    _, export = exported
    cache = tmp_path / "models"
    shutil.copytree(export.path.parent.parent, cache)
    export_dir = onnx_export.cache_dir_for(cache, MODEL, resolve_model_path(MODEL))
    model_file = export_dir / onnx_export.MODEL_FILE
    fingerprint = onnx_export.model_fingerprint(resolve_model_path(MODEL))
    assert onnx_export.read_valid(export_dir, fingerprint) == export.self_check
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    model_file.write_bytes(bytes(data))
    assert onnx_export.read_valid(export_dir, fingerprint) is None
    model_file.write_bytes(bytes(data[: len(data) // 3]))  # truncated
    assert onnx_export.read_valid(export_dir, fingerprint) is None
    # a threshold no int8 model meets: the rebuilt export is whole, but fails its check
    monkeypatch.setattr(onnx_export, "MIN_MEAN_COSINE", 0.99999)
    with caplog.at_level(logging.INFO):
        _, rebuilt = _load(cache, torch_fp32)
    said = [(r.name, r.getMessage()) for r in caplog.records]
    assert [m for name, m in said if name == "folio.ingest.embed" and "building the int8 encoder" in m]
    assert not [m for name, m in said if "pre-processing" in m], said  # ONNX Runtime's advice stays out of it
    caplog.clear()
    assert rebuilt.built and not rebuilt.self_check.passed
    assert rebuilt.self_check.mean_cosine == pytest.approx(export.self_check.mean_cosine, abs=2e-3)
    assert onnx_export.read_valid(export_dir, fingerprint) == rebuilt.self_check
    with caplog.at_level(logging.WARNING, logger="folio.ingest.embed"):
        chosen = load_embedder(MODEL, backend="auto", cache_dir=cache)
    assert isinstance(chosen, SentenceTransformerEmbedder) and chosen.backend == "torch-fp32"
    assert [r.getMessage() for r in caplog.records if "self-check" in r.getMessage()]
    with pytest.raises(ConfigError, match="self-check"):
        load_embedder(MODEL, backend="onnx", cache_dir=cache)


def test_without_onnxruntime_auto_is_torch_with_a_one_line_note(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with caplog.at_level(logging.WARNING, logger="folio.ingest.embed"):
        chosen = load_embedder(MODEL, backend="auto", cache_dir=tmp_path)
    assert isinstance(chosen, SentenceTransformerEmbedder)
    notes = [r.getMessage() for r in caplog.records if r.name == "folio.ingest.embed"]
    assert len(notes) == 1 and "ONNX Runtime is not installed" in notes[0] and "\n" not in notes[0]
    assert not any(tmp_path.iterdir()), "nothing exported"
    with pytest.raises(ConfigError, match="pip install onnxruntime"):
        load_embedder(MODEL, backend="onnx", cache_dir=tmp_path)


def test_the_evaluation_cache_keeps_int8_vectors_apart_from_torch(exported, torch_fp32, tmp_path):
    embedder, _ = exported
    cache = EmbeddingCache(tmp_path / "vectors.sqlite")
    torch_cached = CachedEmbedder(MODEL, cache, lambda: torch_fp32)
    onnx_cached = CachedEmbedder(MODEL, cache, lambda: embedder, backend="onnx-int8")
    a, b = torch_cached.embed(TEXTS[:2]), onnx_cached.embed(TEXTS[:2])
    assert len(cache) == 4 and not np.allclose(a, b, atol=1e-6)
    assert np.allclose(CachedEmbedder(MODEL, cache, lambda: embedder, backend="onnx-int8").embed(TEXTS[:2]), b)
    wrong = CachedEmbedder(MODEL, cache, lambda: embedder)  # declared torch, loads ONNX: refused, not mixed
    with pytest.raises(ValueError, match="mix"):
        wrong.embed(["a text not cached yet"])
    cache.close()


def test_auto_takes_int8_on_a_new_index_and_follows_torch_on_an_index_torch_wrote(exported, settings, caplog):
    """The default, 'auto': a new data dir (or one whose documents int8 embedded) gets the int8 export, a data dir
    written by torch (its records say so, or say nothing, from before the backend was recorded) stays on torch, so
    that its queries match its vectors; a backend named in the settings is taken whatever the index holds."""
    _, export = exported
    auto = settings.model_copy(update={"embed_backend": "auto"})
    assert Settings().embed_backend == "auto"
    for written_by in (None, {}, {"onnx-int8": 3, None: 1}, {"onnx-int8": 2, "torch-fp32": 2, "hash": 9}):
        chosen = embedder_from_settings(auto, written_by)
        assert isinstance(chosen, OnnxEmbedder) and chosen.path == export.path, written_by
    with caplog.at_level(logging.INFO, logger="folio.ingest.embed"):
        for written_by in ({None: 2}, {"torch-fp32": 5, "onnx-int8": 1}, {"torch-bf16": 1}):
            chosen = embedder_from_settings(auto, written_by)
            assert isinstance(chosen, SentenceTransformerEmbedder), written_by
    assert any("embedded by torch" in r.getMessage() for r in caplog.records)
    assert isinstance(embedder_from_settings(settings, {None: 7}), OnnxEmbedder)  # 'onnx', as named
