"""Documents: upload (background ingestion with a status to poll), list, read pages, delete."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from folio.errors import (
    DocumentNotFound,
    FileTooLarge,
    FolioError,
    InvalidRequest,
    PageNotFound,
    http_status_for,
)
from folio.ingest.parse import detect_format
from folio.ingest.pipeline import Source, safe_file_name
from folio.service.access import TenantDep
from folio.service.context import scope_tokens
from folio.service.deps import RuntimeDep
from folio.service.errors import retry_headers
from folio.service.plan import (
    REFERENCE_CHUNK_TOKENS,
    REFERENCE_QUESTION_TOKENS,
    CacheState,
    PlanInputs,
    reference_costs,
    wants_warmup,
)
from folio.service.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["documents"])


def _document(runtime: Runtime, record: Any) -> dict[str, Any]:
    data: dict[str, Any] = record.model_dump(exclude={"pages", "source", "tenant"})
    answerer, settings = runtime.answerer, runtime.settings
    tokens = scope_tokens([record], answerer.counter)
    data["scope_tokens"] = tokens
    # priced as the plan prices a question (system prompt, layout, question, output, warm-up), not the pages alone
    cold = CacheState(followups=settings.expected_followups)
    inputs = PlanInputs(system_tokens=answerer._system_tokens(), scope_tokens=tokens,
                        question_tokens=REFERENCE_QUESTION_TOKENS,
                        retrieved_tokens=settings.top_k * REFERENCE_CHUNK_TOKENS,
                        output_tokens=settings.expected_output_tokens, output_reserve=settings.output_reserve,
                        window=settings.context_window, cache=cold, warmup=wants_warmup(cold, settings.warm_cache))
    data["question_cost_usd"] = {**reference_costs(inputs, answerer.prices), "profile": answerer.prices.name}
    return data


@router.post("/documents", status_code=202, summary="Upload one or many files for ingestion")
async def upload(runtime: RuntimeDep, tenant: TenantDep,
                 files: Annotated[list[UploadFile], File(description="PDF, DOCX, HTML, MD, TXT")],
                 wait: Annotated[bool, Query(description="Answer when ingestion has finished")] = False
                 ) -> JSONResponse:
    if not files:
        raise InvalidRequest("no files in the upload")
    most = runtime.settings.max_files_per_request
    if len(files) > most:
        raise TooManyFiles(f"{len(files)} files in one request, over the limit of {most} (FOLIO_MAX_FILES_PER_REQUEST)")
    limit = int(runtime.settings.max_file_mb * 1_000_000)
    jobs = []
    for upload_file in files:
        name = safe_file_name(upload_file.filename)
        data = await upload_file.read(limit + 1)
        try:
            if len(data) > limit:
                raise FileTooLarge(f"file is over the {runtime.settings.max_file_mb:g} MB limit (FOLIO_MAX_FILE_MB)",
                                   file=name)
            detect_format(name, data)
        except FolioError as exc:
            jobs.append(runtime.jobs.fail(name, len(data), exc, tenant=tenant))
            continue
        jobs.append(runtime.jobs.submit(Source(name=name, key=f"upload:{name}", data=data, tenant=tenant), len(data)))
    if wait:
        for job in jobs:
            await run_in_threadpool(job.done_event.wait)
    body = {"jobs": [j.to_dict() for j in jobs]}
    if len(jobs) == 1 and jobs[0].status == "failed" and jobs[0].error is not None:
        # one file that failed: the failure is the answer
        code = jobs[0].error["code"]
        return JSONResponse({"error": {**jobs[0].error, "file": jobs[0].file_name}, **body},
                            status_code=_status_for(code), headers=retry_headers(code))
    return JSONResponse(body, status_code=200 if wait else 202)


def _status_for(code: str) -> int:
    return http_status_for(code)


class TooManyFiles(InvalidRequest):
    code = "too_many_files"
    http_status = 413


@router.get("/jobs", summary="Recent ingestion jobs")
def list_jobs(runtime: RuntimeDep, tenant: TenantDep) -> dict[str, Any]:
    return {"jobs": [j.to_dict() for j in runtime.jobs.all(tenant=tenant)]}


@router.get("/jobs/{job_id}", summary="One ingestion job's status")
def get_job(runtime: RuntimeDep, tenant: TenantDep, job_id: str) -> dict[str, Any]:
    job = runtime.jobs.get(job_id, tenant=tenant)
    if job is None:
        raise InvalidRequest(f"no job {job_id}")
    return job.to_dict()


@router.get("/documents", summary="Indexed documents, in canonical order")
def list_documents(runtime: RuntimeDep, tenant: TenantDep, status: Annotated[
        Literal["ready", "writing", "deleting", "all"],
        Query(description="ready (default: what questions can use), one other status, or all")] = "ready",
        ) -> dict[str, Any]:
    records = runtime.store.list_documents(status=None if status == "all" else status, tenant=tenant)
    return {"documents": [_document(runtime, r) for r in records]}


def _resolve(runtime: Runtime, tenant: str, doc_id: str) -> str:
    try:
        return runtime.store.resolve_id(doc_id, tenant=tenant)
    except DocumentNotFound:
        raise DocumentNotFound(f"no document with id {doc_id}", document_id=doc_id) from None


@router.get("/documents/{doc_id}", summary="One document's record")
def get_document(runtime: RuntimeDep, tenant: TenantDep, doc_id: str) -> dict[str, Any]:
    return _document(runtime, runtime.store.require_document(_resolve(runtime, tenant, doc_id), tenant=tenant))


@router.get("/documents/{doc_id}/pages/{n}", summary="The stored text of page n (counted from 1)")
def get_page(runtime: RuntimeDep, tenant: TenantDep, doc_id: str, n: int) -> dict[str, Any]:
    record = runtime.store.require_document(_resolve(runtime, tenant, doc_id), with_pages=True, tenant=tenant)
    if not 1 <= n <= record.n_pages:
        raise PageNotFound(f"document {record.id[:12]} has pages 1 to {record.n_pages}, not {n}",
                           document_id=record.id)
    assert record.pages is not None
    return {"document_id": record.id, "title": record.title, "page": n, "pages": record.n_pages,
            "tokens": record.page_tokens[n - 1], "text": record.pages[n - 1]}


@router.delete("/documents/{doc_id}", summary="Delete a document and all of its chunks")
def delete_document(runtime: RuntimeDep, tenant: TenantDep, doc_id: str) -> dict[str, Any]:
    full_id = _resolve(runtime, tenant, doc_id)
    record = runtime.store.require_document(full_id, tenant=tenant)
    runtime.store.delete_document(full_id)
    return {"deleted": full_id, "title": record.title}
