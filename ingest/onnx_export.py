"""The embedding model as an int8 ONNX file, exported once from the bundled model's own folder and cached.

Export: the model's transformer with its mean pooling and unit normalisation, traced with ``torch.onnx`` (the
TorchScript exporter: it needs no extra package), then its MatMul weights quantised to int8 per output channel
with ``onnxruntime.quantization.quantize_dynamic`` (``reduce_range``: 7-bit weights, because on CPUs without
VNNI the 8-bit u8*s8 products saturate and the vectors drift; per channel keeps the cosine to fp32 near 0.99).
Nothing is downloaded: the export reads only the local model folder.

Cache: ``<data_dir>/models/<model>-<fingerprint>-onnx-int8/`` holds ``model.onnx`` and ``manifest.json``. Both
are written to temporary names and renamed into place, the manifest last, under a lock file, so a reader sees a
whole export or none. The manifest carries the file's size and SHA-256, the source model's fingerprint, the
export format and the self-check's result; a file that does not match it (truncated, corrupt, from another
model) is rebuilt.

Self-check: the exported model and the fp32 torch model embed a fixed sample of contract and filing sentences;
the export passes when their mean cosine is at least ``MIN_MEAN_COSINE`` and none is under ``MIN_COSINE``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

EXPORT_FORMAT = 1
OPSET = 17
MIN_MEAN_COSINE = 0.99
MIN_COSINE = 0.97
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

# The self-check's fixed sample: the kinds of text Folio indexes (clauses, filings, tables, headings).
SELF_CHECK_SAMPLE = (
    "This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware.",
    "Either party may terminate this Agreement upon ninety (90) days' prior written notice to the other party.",
    "Licensee shall not assign or transfer any of its rights hereunder without the prior written consent of "
    "Licensor, which consent shall not be unreasonably withheld.",
    "IN WITNESS WHEREOF, the parties have executed this Agreement as of the Effective Date.",
    "The Distributor shall purchase a minimum of 10,000 units per calendar quarter during the Term.",
    "Neither party shall be liable for any indirect, incidental, consequential or punitive damages.",
    "Net revenue increased 12% to $4.2 billion, driven by higher volumes in the Americas segment.",
    "Total current assets 1,234.5 1,101.2 Property, plant and equipment, net 987.6 954.3",
    "Item 7. Management's Discussion and Analysis of Financial Condition and Results of Operations",
    "We have identified a material weakness in our internal control over financial reporting.",
    "Cash dividends declared per common share were $0.52 in fiscal 2022 compared with $0.48 in fiscal 2021.",
    "Risk Factors",
    "The Company repurchased 3.1 million shares of its common stock for an aggregate of $250 million.",
    "Exhibit 10.2 - Supply Agreement dated March 1, 2019 between Acme Corp. and Widget Holdings LLC",
    "Section 4.3 Exclusivity. During the Term, Supplier shall not sell the Products to any third party in the "
    "Territory. Supplier grants to Customer a non-exclusive, royalty-free license to use the Marks solely in "
    "connection with the marketing of the Products, subject to the quality standards set out in Schedule B.",
    "Operating income was $812 million, or 18.4% of net sales, compared with $745 million, or 17.9%, a year ago.",
)


@dataclass(frozen=True)
class SelfCheck:
    """The exported model's cosine to fp32 torch on ``SELF_CHECK_SAMPLE``."""

    mean_cosine: float
    min_cosine: float
    passed: bool


@dataclass(frozen=True)
class Export:
    """A checked export on disk: its file, its self-check, and whether this call built it."""

    path: Path
    self_check: SelfCheck
    built: bool


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_fingerprint(model_dir: Path) -> str:
    """A short hash of the source model's files (names, sizes and the config's bytes): a new model, a new export."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.relative_to(model_dir)}\x00{path.stat().st_size}\n".encode())
        if path.suffix == ".json" and path.stat().st_size < 1 << 20:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir_for(cache_root: Path, model_name: str, model_dir: Path) -> Path:
    key = model_name.rsplit("/", maxsplit=1)[-1].lower()
    return cache_root / f"{key}-{model_fingerprint(model_dir)}-onnx-int8"


def read_valid(export_dir: Path, fingerprint: str) -> SelfCheck | None:
    """The self-check of a whole, matching export in ``export_dir``; None when it is missing, stale or corrupt."""
    manifest_path, model_path = export_dir / MANIFEST_FILE, export_dir / MODEL_FILE
    try:
        manifest = json.loads(manifest_path.read_text())
        if (manifest.get("format") != EXPORT_FORMAT or manifest.get("source") != fingerprint
                or model_path.stat().st_size != manifest["size"] or _sha256(model_path) != manifest["sha256"]):
            return None
        return SelfCheck(**manifest["self_check"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_atomic(path: Path, write: Any) -> None:
    """``write(tmp_path)`` then rename over ``path`` (same folder, so the rename is atomic)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _export_fp32(model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        """The transformer, mean pooling over real tokens, unit length: sentence-transformers' three modules."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    model = Pooled(AutoModel.from_pretrained(str(model_dir)).eval())
    sample = torch.ones(2, 8, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES}
    # the exporter's tracer warnings are about graphs in general (negative indices, traced branches); the export is
    # judged by its self-check instead, and a user's first ingest does not print them
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (sample, sample, torch.zeros_like(sample)), str(out), input_names=list(INPUT_NAMES),
                          output_names=["embedding"], dynamic_axes={**axes, "embedding": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)


def _from_onnxruntime(record: logging.LogRecord) -> bool:
    return "onnxruntime" not in record.pathname


def _quantize(src: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # ONNX Runtime's quantiser advises pre-processing on the root logger: not for the user of a first ingest
    root = logging.getLogger()
    root.addFilter(_from_onnxruntime)
    try:
        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         op_types_to_quantize=["MatMul"])
    finally:
        root.removeFilter(_from_onnxruntime)


def run_self_check(candidate: np.ndarray, reference: np.ndarray, *, min_mean: float = MIN_MEAN_COSINE,
                   min_each: float = MIN_COSINE) -> SelfCheck:
    """Row-wise cosine of two sets of unit vectors, judged against the thresholds."""
    cosines = np.sum(candidate * reference, axis=1) / (
        np.linalg.norm(candidate, axis=1) * np.linalg.norm(reference, axis=1))
    mean, low = float(cosines.mean()), float(cosines.min())
    return SelfCheck(mean_cosine=round(mean, 5), min_cosine=round(low, 5),
                     passed=mean >= min_mean and low >= min_each)


def build(model_dir: Path, export_dir: Path, reference: np.ndarray, embed: Any) -> SelfCheck:
    """Export, quantise and self-check into ``export_dir`` (the caller holds the lock).

    ``reference`` is the fp32 torch vectors of ``SELF_CHECK_SAMPLE``; ``embed(path, texts)`` embeds with the
    ONNX file at ``path``.
    """
    export_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=export_dir, prefix=".build-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        _export_fp32(model_dir, fp32)
        model_path = export_dir / MODEL_FILE
        _write_atomic(model_path, lambda p: _quantize(fp32, p))
    check = run_self_check(embed(model_path, list(SELF_CHECK_SAMPLE)), reference, min_mean=MIN_MEAN_COSINE,
                           min_each=MIN_COSINE)
    import onnxruntime

    manifest = {"format": EXPORT_FORMAT, "source": model_fingerprint(model_dir), "size": model_path.stat().st_size,
                "sha256": _sha256(model_path), "opset": OPSET, "quantization": "int8 dynamic, MatMul, per channel, "
                "reduce_range", "onnxruntime": onnxruntime.__version__, "self_check": asdict(check)}
    _write_atomic(export_dir / MANIFEST_FILE, lambda p: p.write_text(json.dumps(manifest, indent=2)))
    return check


def ensure_export(model_dir: Path, export_dir: Path, reference: Any, embed: Any,
                  announce: Callable[[], None] | None = None) -> Export:
    """The export in ``export_dir``: reused when whole and matching, else (re)built under a lock.

    ``reference()`` gives the fp32 vectors of the sample; it is called only when a build is needed. ``announce()``
    is called once it is known that the export is missing, before waiting for the lock or building.
    """
    fingerprint = model_fingerprint(model_dir)
    check = read_valid(export_dir, fingerprint)
    if check is not None:
        return Export(export_dir / MODEL_FILE, check, built=False)
    if announce is not None:
        announce()
    export_dir.mkdir(parents=True, exist_ok=True)
    with (export_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        check = read_valid(export_dir, fingerprint)  # another process may have built it while we waited
        if check is not None:
            return Export(export_dir / MODEL_FILE, check, built=False)
        (export_dir / MANIFEST_FILE).unlink(missing_ok=True)
        check = build(model_dir, export_dir, np.asarray(reference(), dtype=np.float32), embed)
        return Export(export_dir / MODEL_FILE, check, built=True)
