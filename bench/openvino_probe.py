"""OpenVINO against ONNX Runtime on the embedding model, side by side in one run (issue 19's untried backend).

Encodes the same 640 texts (cuad-dev's evidence quotes, cut to 1,200 characters, batches of 32, the model's
256-token window) with each runtime on the same two threads: ONNX Runtime on Folio's int8 export (the default on a
CPU) and on the fp32 export, OpenVINO on both. Prints texts/s and the mean cosine to the ONNX Runtime vectors.
OpenVINO is not a Folio dependency: run this from an environment that has it.

```sh
python -m venv /tmp/ov && /tmp/ov/bin/pip install openvino onnxruntime tokenizers numpy
.venv/bin/python -c "from pathlib import Path; from folio.ingest.onnx_export import _export_fp32; \
    _export_fp32(Path('MODEL_DIR'), Path('/tmp/fp32.onnx'))"
/tmp/ov/bin/python bench/openvino_probe.py --tokenizer MODEL_DIR/tokenizer.json --int8 DATA_DIR/models/.../model.onnx \
    --fp32 /tmp/fp32.onnx --questions ../shared/data/cuad-dev/questions.jsonl
```
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def batches(tokenizer_path: Path, questions: Path, n: int = 640, size: int = 32) -> list[dict[str, np.ndarray]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(256)
    tokenizer.enable_padding()
    texts = [json.loads(line)["evidence"][0]["text"][:1200] for line in questions.read_text().splitlines() if line]
    texts = (texts * (n // max(len(texts), 1) + 1))[:n]
    out = []
    for start in range(0, len(texts), size):
        enc = tokenizer.encode_batch(texts[start:start + size])
        out.append({"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)})
    return out


def onnxruntime_run(path: Path, work: list[dict[str, np.ndarray]], threads: int) -> tuple[float, np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session.run(None, work[0])
    started = time.perf_counter()
    vectors = [session.run(None, b)[0] for b in work]
    return time.perf_counter() - started, np.concatenate(vectors)


def openvino_run(path: Path, work: list[dict[str, np.ndarray]], threads: int) -> tuple[float, np.ndarray]:
    import openvino as ov

    core = ov.Core()
    core.set_property("CPU", {"INFERENCE_NUM_THREADS": threads})
    compiled: Any = core.compile_model(str(path), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    request.infer(work[0])
    started = time.perf_counter()
    vectors = [next(iter(request.infer(b).values())).copy() for b in work]
    return time.perf_counter() - started, np.concatenate(vectors)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--int8", type=Path, required=True)
    parser.add_argument("--fp32", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    work = batches(args.tokenizer, args.questions)
    n = sum(len(b["input_ids"]) for b in work)
    reference: dict[str, np.ndarray] = {}
    for label, model in (("int8", args.int8), ("fp32", args.fp32)):
        for runtime, run in (("ONNX Runtime", onnxruntime_run), ("OpenVINO", openvino_run)):
            seconds, vectors = run(model, work, args.threads)
            reference.setdefault(label, vectors)
            print(f"| {runtime} | {label} export | {n / seconds:.1f} | {cosine(vectors, reference[label]):.4f} |",
                  flush=True)


if __name__ == "__main__":
    main()
