"""The plain llama-index baseline: ``VectorStoreIndex`` with its defaults and the same embedding model.

One ``Document`` per PDF page (pypdf's text, as llama-index's PDF reader makes them; the page and file are metadata
kept out of the embedded text), ``VectorStoreIndex.from_documents``'s defaults (``SentenceSplitter``: 1024-token
chunks, 200 overlap; the in-memory ``SimpleVectorStore``), ``HuggingFaceEmbedding`` over the bundled
all-MiniLM-L6-v2 folder, and the index's retriever with ``similarity_top_k=k`` and a metadata filter on the
question's file. For reference also BM25 (``llama-index-retrievers-bm25`` over the same nodes, per document) and
the two fused by reciprocal rank (``QueryFusionRetriever``, ``reciprocal_rerank``, one query, no LLM).

Embeddings go through the evaluation's cache (a thin ``BaseEmbedding`` that asks ``HuggingFaceEmbedding`` only for
texts the cache lacks), so the vectors are the ones ``HuggingFaceEmbedding`` computes. Needs the ``bench`` extra.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from folio.evaluation.data import EvalQuestion
from folio.evaluation.embed_cache import EmbeddingCache, cached_vectors
from folio.evaluation.metrics import KS, Span, score_question

INSTALL_HINT = ("the llama-index baseline needs the bench extra: pip install -e '.[bench]' "
                "(llama-index-embeddings-huggingface; BM25 rows also llama-index-retrievers-bm25), "
                "or leave it out with --no-baseline")
MODES = ("dense", "bm25", "hybrid")


class BaselineUnavailable(RuntimeError):
    pass


def _imports() -> Any:
    try:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    except ImportError as exc:
        raise BaselineUnavailable(f"{INSTALL_HINT} ({exc})") from exc
    return HuggingFaceEmbedding


def make_cached_embedding(cache: EmbeddingCache, model_path: str) -> Any:
    """A llama-index ``BaseEmbedding`` whose vectors come from the cache, else from ``HuggingFaceEmbedding``."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    hf_class = _imports()
    namespace = f"llamaindex-hf:{Path(model_path).name}"

    class CachedHuggingFaceEmbedding(BaseEmbedding):  # type: ignore[misc]
        _inner: Any = PrivateAttr(default=None)

        def _model(self) -> Any:
            if self._inner is None:
                self._inner = hf_class(model_name=model_path, device="cpu", embed_batch_size=32)
            return self._inner

        def _many(self, texts: list[str], query: bool = False) -> list[list[float]]:
            def compute(todo: list[str]) -> Any:
                import numpy as np

                model = self._model()
                if query:
                    return np.asarray([model.get_query_embedding(t) for t in todo], dtype=np.float32)
                return np.asarray(model.get_text_embedding_batch(todo), dtype=np.float32)

            key = namespace + (":query" if query else "")
            return [list(map(float, v)) for v in cached_vectors(cache, key, texts, compute)]

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._many([query], query=True)[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._many([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._many(texts)

    return CachedHuggingFaceEmbedding(model_name=namespace, embed_batch_size=256)


def page_texts(path: Path, cache_dir: Path | None = None) -> list[str]:
    """pypdf's text of every page (an empty password opens an encrypted filing), cached by the file's hash:
    pypdf takes about 0.2 s a page, 20 minutes for financebench-dev."""
    import hashlib
    import json

    cached = None
    if cache_dir is not None:
        cached = cache_dir / "pypdf-pages" / f"{hashlib.sha256(path.read_bytes()).hexdigest()}.json"
        if cached.is_file():
            return list(json.loads(cached.read_text(encoding="utf-8")))
    import pypdf

    pypdf.overwrite_configuration(array_maximum_element_count=5_000_000, dictionary_maximum_element_count=1_000_000)
    reader = pypdf.PdfReader(str(path))
    if reader.is_encrypted:
        reader.decrypt("")
    texts = [page.extract_text() or "" for page in reader.pages]
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(texts), encoding="utf-8")
    return texts


def page_documents(paths: Sequence[Path], cache_dir: Path | None = None) -> list[Any]:
    """One llama-index ``Document`` per PDF page, pypdf's text, file and page as metadata (not embedded)."""
    from llama_index.core import Document

    return [Document(text=text, metadata={"file": path.name, "page": i}, excluded_embed_metadata_keys=["file", "page"],
                     excluded_llm_metadata_keys=["file", "page"])
            for path in paths for i, text in enumerate(page_texts(path, cache_dir))]


def run_baseline(paths: Sequence[Path], questions: Sequence[EvalQuestion], *, cache: EmbeddingCache,
                 model_path: str, ks: Sequence[int] = KS, log: Callable[[str], None] | None = None,
                 cache_dir: Path | None = None) -> dict[str, Any]:
    """Build the default ``VectorStoreIndex`` over ``paths`` and score each question within its own file."""
    _imports()
    from llama_index.core import Settings as LlamaSettings
    from llama_index.core import VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode
    from llama_index.core.vector_stores import MetadataFilter, MetadataFilters

    started = time.perf_counter()
    embed = make_cached_embedding(cache, model_path)
    documents = page_documents(paths, cache_dir)
    parsed = time.perf_counter()
    splitter = SentenceSplitter()  # what from_documents applies by default (Settings.transformations)
    nodes = splitter.get_nodes_from_documents(documents)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    misses = cache.misses
    embed.get_text_embedding_batch(texts)  # fills the cache in large batches; from_documents then reads it
    if log:
        log(f"  baseline: {len(documents)} pages, {len(nodes)} chunks, {cache.misses - misses} embedded now")
    LlamaSettings.llm = MockLLM()  # nothing here asks a language model; keeps llama-index from resolving OpenAI
    index = VectorStoreIndex.from_documents(documents, embed_model=embed)
    built = time.perf_counter()
    by_file: dict[str, list[Any]] = {}
    for node in index.docstore.docs.values():
        by_file.setdefault(str(node.metadata["file"]), []).append(node)
    bm25 = _bm25_factory()
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES if m == "dense" or bm25 is not None}
    for q in questions:
        file = q.docs[0]
        filters = MetadataFilters(filters=[MetadataFilter(key="file", value=file)])
        ranked: dict[str, dict[int, list[Span]]] = {m: {} for m in rows}
        for k in ks:
            vector = index.as_retriever(similarity_top_k=k, filters=filters)
            ranked["dense"][k] = _spans(vector.retrieve(q.text))
            if bm25 is not None:
                lexical = bm25(by_file.get(file, []), k)
                ranked["bm25"][k] = _spans(lexical.retrieve(q.text)) if lexical else []
                ranked["hybrid"][k] = _spans(_fused(vector, lexical, k).retrieve(q.text)) if lexical else \
                    ranked["dense"][k]
        for mode, mode_rows in rows.items():
            mode_rows.append({"id": q.id, "group": q.group, "trivial": q.trivial,
                              **score_question(q.gold, ranked[mode], ks)})
    lengths = _wordpieces(model_path, texts)
    return {
        "rows": rows,
        "pages": len(documents),
        "chunks": len(nodes),
        "splitter": {"chunk_size": splitter.chunk_size, "chunk_overlap": splitter.chunk_overlap},
        "chunks_over_model_window": sum(n > 256 for n in lengths),
        "mean_chunk_wordpieces": round(sum(lengths) / len(lengths), 1) if lengths else 0,
        "seconds": {"parse": round(parsed - started, 1), "index": round(built - parsed, 1),
                    "retrieve": round(time.perf_counter() - built, 1)},
        "bm25": bm25 is not None,
    }


def _spans(results: Sequence[Any]) -> list[Span]:
    out = []
    for r in results:
        page = int(r.node.metadata["page"])
        out.append(Span(str(r.node.metadata["file"]), page, page))
    return out


def _bm25_factory() -> Callable[[list[Any], int], Any] | None:
    try:
        from llama_index.retrievers.bm25 import BM25Retriever
    except ImportError:
        return None
    import logging

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    built: dict[int, Any] = {}

    def make(nodes: list[Any], k: int) -> Any:
        if not nodes:
            return None
        key = id(nodes[0])
        if key not in built:
            built[key] = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(max(KS), len(nodes)))
        retriever = built[key]
        retriever.similarity_top_k = min(k, len(nodes))
        return retriever

    return make


def _fused(vector: Any, lexical: Any, k: int) -> Any:
    from llama_index.core.llms import MockLLM
    from llama_index.core.retrievers import QueryFusionRetriever
    from llama_index.core.retrievers.fusion_retriever import FUSION_MODES

    return QueryFusionRetriever([vector, lexical], llm=MockLLM(), mode=FUSION_MODES.RECIPROCAL_RANK,
                                similarity_top_k=k, num_queries=1, use_async=False)


def _wordpieces(model_path: str, texts: Sequence[str]) -> list[int]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tokenizer.no_truncation()
    return [len(e.ids) for e in tokenizer.encode_batch(list(texts))]
