"""Documents: upload (background ingestion with a status to poll), list, read pages, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from folio.errors import (
    DocumentNotFound,
    FileTooLarge,
    FolioError,
    InvalidRequest,
    PageNotFound,
    TooManyFiles,
    http_status_for,
)
from folio.ingest.parse import detect_format
from folio.ingest.sources import Source, safe_file_name
from folio.records import DocumentRecord
from folio.service.access import TenantDep
from folio.service.collections import Collections
from folio.service.context import scope_tokens
from folio.service.deps import RuntimeDep
from folio.service.errors import retry_headers
from folio.service.jobs import Job as IngestJob
from folio.service.jobs import Refused
from folio.service.plan import (
    REFERENCE_CHUNK_TOKENS,
    REFERENCE_QUESTION_TOKENS,
    CacheState,
    PlanInputs,
    reference_costs,
    wants_warmup,
)
from folio.service.runtime import Runtime
from folio.service.schemas.common import ErrorInfo
from folio.service.schemas.documents import (
    Deleted,
    Document,
    DocumentList,
    Job,
    JobList,
    Page,
    PageBox,
    QuestionCost,
)

router = APIRouter(prefix="/v1", tags=["documents"])


def _document(runtime: Runtime, record: DocumentRecord) -> Document:
    answerer, settings = runtime.answerer, runtime.settings
    tokens = scope_tokens([record], answerer.counter)
    # priced as the plan prices a question (system prompt, layout, question, output, warm-up), not the pages alone
    cold = CacheState(followups=settings.expected_followups)
    inputs = PlanInputs(system_tokens=answerer.system_tokens(), scope_tokens=tokens,
                        question_tokens=REFERENCE_QUESTION_TOKENS,
                        retrieved_tokens=settings.top_k * REFERENCE_CHUNK_TOKENS,
                        output_tokens=settings.expected_output_tokens, output_reserve=settings.output_reserve,
                        window=settings.context_window, cache=cold, warmup=wants_warmup(cold, settings.warm_cache))
    cost = QuestionCost.model_validate({**reference_costs(inputs, answerer.prices), "profile": answerer.prices.name})
    return Document.model_validate({**record.model_dump(exclude={"pages", "source", "tenant"}),
                                    "scope_tokens": tokens, "question_cost_usd": cost})


@router.post("/documents", status_code=202, response_model=JobList,
             summary="Upload one or many files for ingestion")
async def upload(runtime: RuntimeDep, tenant: TenantDep,
                 files: Annotated[list[UploadFile], File(description="PDF, DOCX, HTML, MD, TXT")],
                 wait: Annotated[bool, Query(description="Answer when ingestion has finished")] = False,
                 collection: Annotated[str | None, Query(description="a collection's id or name: each file's "
                                                         "document joins it (at its end) when ready")] = None,
                 create_collection: Annotated[bool, Query(description="create the collection (by that name) if "
                                                          "there is none")] = False,
                 ) -> JSONResponse:
    if not files:
        raise InvalidRequest("no files in the upload")
    joins = None
    if collection is not None:  # an unknown collection refuses the upload before anything is queued
        joins = (await run_in_threadpool(Collections(runtime.store, tenant).find_or_create, collection,
                                         create=create_collection)).id
    most = runtime.settings.max_files_per_request
    if len(files) > most:
        raise TooManyFiles(f"{len(files)} files in one request, over the limit of {most} (FOLIO_MAX_FILES_PER_REQUEST)")
    limit = int(runtime.settings.max_file_mb * 1_000_000)
    uploads: list[Source | Refused] = []
    for upload_file in files:
        name = safe_file_name(upload_file.filename)
        data = await upload_file.read(limit + 1)
        try:
            if len(data) > limit:
                raise FileTooLarge(f"file is over the {runtime.settings.max_file_mb:g} MB limit (FOLIO_MAX_FILE_MB)",
                                   file=name)
            detect_format(name, data)
        except FolioError as exc:
            uploads.append(Refused(name, len(data), exc, tenant=tenant))
            continue
        uploads.append(Source(name=name, key=f"upload:{name}", data=data, tenant=tenant))
    # every file's job and bytes in one transaction: a database that cannot take them is a 503, nothing queued
    jobs = await run_in_threadpool(runtime.jobs.submit_all, uploads, collection=joins)
    if wait:  # whichever replica runs them
        for i, job in enumerate(jobs):
            if job.finished is None:
                finished: IngestJob | None = await run_in_threadpool(runtime.jobs.wait, job.id)
                jobs[i] = finished or job
    body = JobList(jobs=[_job(j) for j in jobs])
    if len(jobs) == 1 and jobs[0].status == "failed" and jobs[0].error is not None:
        # one file that failed: the failure is the answer
        code = jobs[0].error["code"]
        body.error = ErrorInfo.model_validate({**jobs[0].error, "file": jobs[0].file_name})
        return JSONResponse(body.model_dump(mode="json"), status_code=_status_for(code),
                            headers=retry_headers(code))
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if wait else 202)


def _job(job: IngestJob) -> Job:
    return Job.model_validate(job.to_dict())


def _status_for(code: str) -> int:
    return http_status_for(code)


@router.get("/jobs", response_model=JobList, summary="Recent ingestion jobs")
def list_jobs(runtime: RuntimeDep, tenant: TenantDep) -> JobList:
    return JobList(jobs=[_job(j) for j in runtime.jobs.all(tenant=tenant)])


@router.get("/jobs/{job_id}", response_model=Job, summary="One ingestion job's status")
def get_job(runtime: RuntimeDep, tenant: TenantDep, job_id: str) -> Job:
    job = runtime.jobs.get(job_id, tenant=tenant)
    if job is None:
        raise InvalidRequest(f"no job {job_id}")
    return _job(job)


@router.get("/documents", response_model=DocumentList, summary="Indexed documents, in canonical order")
def list_documents(runtime: RuntimeDep, tenant: TenantDep, status: Annotated[
        Literal["ready", "writing", "deleting", "all"],
        Query(description="ready (default: what questions can use), one other status, or all")] = "ready",
        ) -> DocumentList:
    records = runtime.store.list_documents(status=None if status == "all" else status, tenant=tenant)
    return DocumentList(documents=[_document(runtime, r) for r in records])


def resolve_document(runtime: Runtime, tenant: str, doc_id: str) -> str:
    try:
        return runtime.store.resolve_id(doc_id, tenant=tenant)
    except DocumentNotFound:
        raise DocumentNotFound(f"no document with id {doc_id}", document_id=doc_id) from None


@router.get("/documents/{doc_id}", response_model=Document, summary="One document's record")
def get_document(runtime: RuntimeDep, tenant: TenantDep, doc_id: str) -> Document:
    return _document(runtime, runtime.store.require_document(resolve_document(runtime, tenant, doc_id), tenant=tenant))


def require_page(record: DocumentRecord, n: int) -> None:
    if not 1 <= n <= record.n_pages:
        raise PageNotFound(f"document {record.id[:12]} has pages 1 to {record.n_pages}, not {n}",
                           document_id=record.id)


@router.get("/documents/{doc_id}/pages/{n}", response_model=Page, summary="The stored text of page n (counted from 1)")
def get_page(runtime: RuntimeDep, tenant: TenantDep, doc_id: str, n: int, quote: Annotated[
        str | None, Query(max_length=2000, description="a quoted passage: its boxes on the printed page")] = None,
        ) -> Page:
    record = runtime.store.require_document(resolve_document(runtime, tenant, doc_id), with_pages=True, tenant=tenant)
    require_page(record, n)
    assert record.pages is not None
    printed = runtime.printed_pages()
    page = Page(document_id=record.id, title=record.title, page=n, pages=record.n_pages,
                tokens=record.page_tokens[n - 1], text=record.pages[n - 1], printed=printed.printed(record))
    if quote is not None:
        page.quote = quote
        try:
            page.boxes_source, boxes = printed.boxes(record, n, quote)
            page.boxes = [PageBox(x=b.x, y=b.y, width=b.width, height=b.height) for b in boxes]
        except FolioError as exc:  # the text still answers; the viewer says why nothing is highlighted
            page.boxes_source = "ocr" if n - 1 in record.ocr_pages else "text_layer"
            page.boxes_error = ErrorInfo(code=exc.code, message=exc.message)
    return page


class Rename(BaseModel):
    title: str = Field(min_length=1, max_length=300, description="the new title, unique among the tenant's documents")


@router.patch("/documents/{doc_id}", response_model=Document,
              summary="Rename a document: citations use the new title; earlier answers keep resolving by id")
def rename_document(runtime: RuntimeDep, tenant: TenantDep, doc_id: str, body: Rename) -> Document:
    record = runtime.store.rename_document(resolve_document(runtime, tenant, doc_id), body.title, tenant=tenant)
    return _document(runtime, record)


@router.delete("/documents/{doc_id}", response_model=Deleted, summary="Delete a document and all of its chunks")
def delete_document(runtime: RuntimeDep, tenant: TenantDep, doc_id: str) -> Deleted:
    full_id = resolve_document(runtime, tenant, doc_id)
    record = runtime.store.require_document(full_id, tenant=tenant)
    runtime.store.delete_document(full_id)
    return Deleted(deleted=full_id, title=record.title)
