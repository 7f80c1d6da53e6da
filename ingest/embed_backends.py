"""The ONNX Runtime embedder (int8), and the choice of backend behind ``FOLIO_EMBED_BACKEND``.

``OnnxEmbedder`` runs the cached export of ``ingest.onnx_export`` with the model's own ``tokenizer.json``
(the ``tokenizers`` library, no torch at run time): the same word pieces, truncation and mean pooling as
sentence-transformers, so its vectors stay comparable with an index written by the torch backend (the measured
cosines and recall are in docs/embedding-backends.md).

Choice (``choose_backend``): ``torch`` and ``onnx`` are taken as named; ``auto`` takes torch on CUDA when a GPU
is present, else ONNX int8 when ONNX Runtime is installed and the export passed its self-check, else torch with
a one-line note saying why.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from folio.errors import ConfigError
from folio.ingest import onnx_export

logger = logging.getLogger("folio.ingest.embed")


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cuda_available() -> bool:
    """A CUDA device torch can use; torch is imported only where an NVIDIA device node exists."""
    if not Path("/dev/nvidia0").exists() and not Path("/dev/nvidiactl").exists():
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover - a dependency
        return False
    return bool(torch.cuda.is_available())


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEmbedder:
    """An exported, int8-quantised model run by ONNX Runtime on the CPU."""

    backend = "onnx-int8"

    def __init__(self, name: str, model_path: Path, tokenizer_path: Path, *, max_tokens: int, batch_size: int = 32,
                 threads: int | None = None) -> None:
        import os

        self.name = name
        self.path = model_path
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_tokens)
        self._tokenizer.enable_padding()
        self._threads = threads or os.cpu_count() or 1
        self._sessions: dict[int, Any] = {}
        self.dim = int(self._embed_batch(["dimension probe"]).shape[1])

    def _current(self) -> Any:
        session = self._sessions.get(self._threads)
        if session is None:  # one session per thread count the pipeline asks for (at most two: parsing or not)
            session = self._sessions[self._threads] = _session(self.path, self._threads)
        return session

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        out = self._current().run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        vectors = np.asarray(out, dtype=np.float32)
        unit: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return unit

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # longest first in batches of like length, as sentence-transformers does: less padding to compute
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            part = order[start:start + self.batch_size]
            out[part] = self._embed_batch([texts[i] for i in part])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed([text])[0]
        return vector

    def set_threads(self, n: int) -> None:
        """ONNX Runtime's intra-op threads for the next calls (the pipeline lends a core to its parser)."""
        self._threads = max(1, n)


def load_onnx(model: str, model_dir: Path, cache_root: Path, *, batch_size: int, max_tokens: int,
              torch_reference: Any) -> tuple[OnnxEmbedder, onnx_export.Export]:
    """The ONNX embedder over the cached export (built and self-checked first if missing, stale or corrupt).

    ``torch_reference()`` returns an fp32 torch embedder; it is loaded only when an export has to be built.
    """
    tokenizer = model_dir / "tokenizer.json"
    if not tokenizer.exists():
        raise ConfigError(f"the embedding model folder has no tokenizer.json: {model_dir}")

    def embed_with(path: Path, texts: list[str]) -> np.ndarray:
        return OnnxEmbedder(model, path, tokenizer, max_tokens=max_tokens, batch_size=batch_size).embed(texts)

    def reference() -> np.ndarray:
        vectors: np.ndarray = torch_reference().embed(list(onnx_export.SELF_CHECK_SAMPLE))
        return vectors

    export_dir = onnx_export.cache_dir_for(cache_root, model, model_dir)
    export = onnx_export.ensure_export(model_dir, export_dir, reference, embed_with, announce=lambda: logger.warning(
        "building the int8 encoder from %s once (20-60 s), into %s", model, export_dir))
    if export.built:
        logger.info("exported %s to ONNX int8 at %s (self-check: mean cosine %.4f, min %.4f)", model, export.path,
                    export.self_check.mean_cosine, export.self_check.min_cosine)
    embedder = OnnxEmbedder(model, export.path, tokenizer, max_tokens=max_tokens, batch_size=batch_size)
    return embedder, export
