"""Search: the chunks that best match a query, without a model (what ``folio --server URL search`` calls)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from folio.errors import DocumentNotFound, QuestionTooLong
from folio.retrieval.search import search as run_search
from folio.service.access import TenantDep
from folio.service.collections import check_one_scope
from folio.service.deps import RuntimeDep
from folio.service.schemas.search import SearchHit, SearchResults

router = APIRouter(prefix="/v1", tags=["questions"])


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=1_000_000, description="At most FOLIO_MAX_QUESTION_CHARS")
    documents: list[str] | None = Field(default=None, description="Document ids (or unique prefixes); default: all")
    collection: str | None = Field(default=None, description="A collection's id or name: search its documents (not "
                                   "with documents: 422 scope_conflict)")
    limit: int = Field(default=5, ge=1, le=100)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"


@router.post("/search", response_model=SearchResults,
             summary="The chunks that best match a query: hybrid, dense or BM25; no model call")
def search(runtime: RuntimeDep, tenant: TenantDep, request: SearchRequest) -> SearchResults:
    store = runtime.store
    limit = runtime.settings.max_question_chars
    if len(request.query) > limit:
        raise QuestionTooLong(f"the query has {len(request.query):,} characters, over the {limit:,} limit "
                              "(FOLIO_MAX_QUESTION_CHARS)")
    check_one_scope(request.documents, request.collection)
    ready = store.list_documents(tenant=tenant)
    titles = {r.id: r.title for r in ready}
    if request.collection is not None:
        ids = [r.id for r in runtime.answerer_for(tenant).collection_scope(request.collection)[0]]
    else:
        ids = [store.resolve_id(d, tenant=tenant) for d in request.documents] if request.documents else list(titles)
    for doc_id in ids:  # the tenant's ready documents only, always an explicit list
        if doc_id not in titles:
            raise DocumentNotFound(f"no ready document with id {doc_id[:12]}", document_id=doc_id)
    hits = run_search(store, runtime.embedder(), request.query, doc_ids=ids, limit=request.limit, mode=request.mode,
                      records=ready)
    # the fields of ``folio search --json``: doc_id, chunk_index, pages (0-based), offsets, heading, text, score
    return SearchResults(query=request.query, mode=request.mode,
                         hits=[SearchHit(**asdict(h), title=titles.get(h.doc_id)) for h in hits])
