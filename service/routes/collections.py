"""Collections: named sets of a tenant's documents that scope a question or a conversation in one step."""

from __future__ import annotations

from fastapi import APIRouter

from folio.service.access import TenantDep
from folio.service.collections import Collections, summary
from folio.service.deps import RuntimeDep
from folio.service.runtime import Runtime
from folio.service.schemas.collections import (
    CollectionCreate,
    CollectionDeleted,
    CollectionDetail,
    CollectionDocuments,
    CollectionList,
    CollectionPatch,
    DocumentRemoved,
    DocumentsAdded,
)

router = APIRouter(prefix="/v1/collections", tags=["collections"])


def _collections(runtime: Runtime, tenant: str) -> Collections:
    return Collections(runtime.store, tenant)


@router.post("", status_code=201, response_model=CollectionDetail,
             summary="Create a collection, optionally with its first documents (409 collection_name_taken)")
def create(runtime: RuntimeDep, tenant: TenantDep, body: CollectionCreate) -> CollectionDetail:
    collections = _collections(runtime, tenant)
    doc_ids = collections.resolve_documents(body.documents)  # a bad id refuses the whole request, first
    row = collections.records.create(tenant=tenant, name=body.name)
    if doc_ids:
        collections.records.add(row.id, doc_ids, tenant=tenant)
        row = collections.records.get(row.id, tenant=tenant)
    return collections.detail(row)


@router.get("", response_model=CollectionList, summary="Your collections by name, with their numbers of documents")
def list_collections(runtime: RuntimeDep, tenant: TenantDep) -> CollectionList:
    rows = _collections(runtime, tenant).records.all(tenant=tenant)
    return CollectionList(collections=[summary(r) for r in rows], total=len(rows))


@router.get("/{collection_id}", response_model=CollectionDetail,
            summary="A collection (by id or name) with its ready documents in the order they joined")
def get_collection(runtime: RuntimeDep, tenant: TenantDep, collection_id: str) -> CollectionDetail:
    collections = _collections(runtime, tenant)
    return collections.detail(collections.find(collection_id))


@router.patch("/{collection_id}", response_model=CollectionDetail, summary="Rename a collection")
def rename(runtime: RuntimeDep, tenant: TenantDep, collection_id: str, body: CollectionPatch) -> CollectionDetail:
    collections = _collections(runtime, tenant)
    row = collections.find(collection_id)
    return collections.detail(collections.records.rename(row.id, tenant=tenant, name=body.name))


@router.delete("/{collection_id}", response_model=CollectionDeleted,
               summary="Delete a collection (its documents stay)")
def delete_collection(runtime: RuntimeDep, tenant: TenantDep, collection_id: str) -> CollectionDeleted:
    collections = _collections(runtime, tenant)
    row = collections.find(collection_id)
    return CollectionDeleted(deleted=row.id, documents=collections.records.delete(row.id, tenant=tenant))


@router.post("/{collection_id}/documents", response_model=DocumentsAdded,
             summary="Append documents to a collection, in the order given (those in it keep their place)")
def add_documents(runtime: RuntimeDep, tenant: TenantDep, collection_id: str,
                  body: CollectionDocuments) -> DocumentsAdded:
    collections = _collections(runtime, tenant)
    row = collections.find(collection_id)
    added = collections.add(row, body.documents)
    return DocumentsAdded(added=added, collection=collections.detail(collections.records.get(row.id, tenant=tenant)))


@router.delete("/{collection_id}/documents/{document_id}", response_model=DocumentRemoved,
               summary="Take a document out of a collection (the document stays)")
def remove_document(runtime: RuntimeDep, tenant: TenantDep, collection_id: str, document_id: str) -> DocumentRemoved:
    collections = _collections(runtime, tenant)
    row = collections.find(collection_id)
    removed = collections.remove(row, document_id)
    return DocumentRemoved(removed=removed, collection=collections.detail(collections.records.get(row.id,
                                                                                                  tenant=tenant)))
