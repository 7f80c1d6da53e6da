"""A scope that grows by one document: what the provider reads from its cache on the first question after it.

Three cuad-dev contracts (the smallest by file size) are uploaded in order A, B, C through the real app
(``create_app``, fastapi's ``TestClient``, the hashing embedder) and asked about with the provider double, whole
documents (``mode: full``), side by side in one run, each strategy on a fresh double:

- **documents**: a question over documents [A, B], then over [A, B, C]. Documents sort in canonical order (ingest
  time), so C comes last, in the one user message that carries the documents block;
- **collection**: a collection [A, B] and a question scoped to it, then C added to the collection and the same
  question again: a collection's documents are one to a message, in the order they joined.

For the second question it reports each provider request (hit, miss and prompt tokens) and the dollars billed,
at the seed's prices. Nothing here is asserted; ``tests/service/test_collections.py`` holds the collection's part
to the 64-token unit.

    .venv/bin/python bench/collection_bench.py [--out bench/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "cuad-dev" / "pdfs"
QUESTION = "Which law governs these agreements, and what notice does each require for termination?"


def _smallest(n: int) -> list[Path]:
    return sorted((p for p in CUAD.iterdir() if p.suffix.lower() == ".pdf"), key=lambda p: p.stat().st_size)[:n]


def _requests(double: Any, before: int) -> list[dict[str, int]]:
    return [{"hit": r["hit_tokens"], "miss": r["miss_tokens"], "prompt": r["prompt_tokens"]}
            for r in double.requests()[before:]]


def run(strategy: str, pdfs: list[Path], work: Path) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from folio.config import Settings
    from folio.ingest.embed import HashEmbedder
    from folio.service.app import create_app
    from folio.testing.provider import run_provider_double

    with run_provider_double() as double:
        settings = Settings(data_dir=work / strategy, embed_model="hash-64", ingest_workers=0,
                            llm_base_url=double.base_url, llm_api_key=SecretStr("bench"), llm_model="deepseek-chat",
                            pricing_profile="deepseek-v4-flash-compat", llm_max_retries=0, llm_timeout_s=300.0)
        with TestClient(create_app(settings, embedder_factory=lambda: HashEmbedder(64))) as client:
            ids = []
            for pdf in pdfs:
                job = client.post("/v1/documents?wait=true", files=[("files", (pdf.name, pdf.read_bytes()))])
                job.raise_for_status()
                ids.append(job.json()["jobs"][0]["document_id"])
            first_scope: dict[str, Any] = {"documents": ids[:2]}
            second_scope: dict[str, Any] = {"documents": ids}
            if strategy == "collection":
                client.post("/v1/collections", json={"name": "bench", "documents": ids[:2]}).raise_for_status()
                first_scope = second_scope = {"collection": "bench"}
            rows = []
            for n, scope in enumerate((first_scope, second_scope), 1):
                if n == 2 and strategy == "collection":
                    client.post("/v1/collections/bench/documents", json={"documents": ids[2:]}).raise_for_status()
                before = len(double.requests())
                response = client.post("/v1/query", json={"question": QUESTION, "mode": "full", **scope})
                response.raise_for_status()
                body = response.json()
                rows.append({"question": n, "scope_tokens": body["plan"]["inputs"]["scope_tokens"],
                             "requests": _requests(double, before), "dollars": body["cost"]["dollars"]})
    return {"strategy": strategy, "documents": [p.name for p in pdfs], "questions": rows}


def report(results: list[dict[str, Any]]) -> str:
    lines = ["# A scope that grows by one document", "",
             f"`bench/collection_bench.py`, {dt.date.today().isoformat()}: three cuad-dev contracts (A, B, C, "
             "uploaded in that order), whole documents, the provider double at the seed's prices. Question 1 is "
             "over A and B, question 2 over A, B and C (C last either way).", "",
             "| strategy | question | request | hit | miss | prompt | dollars (question) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        for q in r["questions"]:
            for i, req in enumerate(q["requests"], 1):
                dollars = f"${q['dollars']:.5f}" if i == 1 else ""
                lines.append(f"| {r['strategy']} | {q['question']} | {i} | {req['hit']:,} | {req['miss']:,} | "
                             f"{req['prompt']:,} | {dollars} |")
    lines += ["", "Documents: " + ", ".join(results[0]["documents"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pdfs = _smallest(3)
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(strategy, pdfs, Path(tmp)) for strategy in ("documents", "collection")]
    stem = args.out / f"collection-{dt.date.today().isoformat()}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2))
    stem.with_suffix(".md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
