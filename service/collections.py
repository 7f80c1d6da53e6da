"""Collections as one tenant sees them: named sets of its documents that scope a question or a conversation.

The records (``folio.records.collection_records``) keep each collection's documents in the order they joined; a
question scoped to a collection reads its ready documents in that order (``scope_records``), so that the whole
documents prompt of a collection that grows keeps the earlier documents' prefix (``service/context.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

from folio.errors import CollectionNotFound, DocumentNotFound, ScopeConflict
from folio.ingest.store import Store
from folio.records import DocumentRecord
from folio.records.collection_records import CollectionRecords, CollectionRow
from folio.service.schemas.collections import CollectionDetail, CollectionDocument, CollectionSummary
from folio.service.schemas.plan import CollectionRef


def check_one_scope(documents: Sequence[str] | None, collection: str | None) -> None:
    """A request names its scope by documents or by a collection, never both (``ScopeConflict``, 422)."""
    if documents and collection:
        raise ScopeConflict("documents and collection: name the scope by one of them, not both (a collection's "
                            "scope is its documents in the order they joined)")


def summary(row: CollectionRow) -> CollectionSummary:
    return CollectionSummary(id=row.id, name=row.name, created=row.created, updated=row.updated,
                             documents=row.documents)


def ref(row: CollectionRow) -> CollectionRef:
    return CollectionRef(id=row.id, name=row.name)


class Collections:
    """One tenant's collections over the store's documents."""

    def __init__(self, store: Store, tenant: str) -> None:
        self.store = store
        self.tenant = tenant
        self.records = CollectionRecords(store.database)

    def find(self, name_or_id: str) -> CollectionRow:
        return self.records.find(name_or_id, tenant=self.tenant)

    def find_or_create(self, name_or_id: str, *, create: bool) -> CollectionRow:
        """The collection with this id or name; with ``create``, a new one by that name when there is none."""
        try:
            return self.find(name_or_id)
        except CollectionNotFound:
            if not create:
                raise
            return self.records.create(tenant=self.tenant, name=name_or_id)

    def scope_records(self, row: CollectionRow) -> list[DocumentRecord]:
        """The collection's ready documents, in the order they joined (unfinished ones are left out)."""
        ready = {r.id: r for r in self.store.list_documents(tenant=self.tenant)}
        return [ready[d] for d in self.records.documents(row.id, tenant=self.tenant) if d in ready]

    def resolve_documents(self, given: Sequence[str]) -> list[str]:
        """Document ids (or unique prefixes of at least 6 characters) of the tenant's ready documents, in the order
        given; ``DocumentNotFound`` names the first that is not one."""
        ready = {r.id for r in self.store.list_documents(tenant=self.tenant)}
        out: list[str] = []
        for item in given:
            matches = [item] if item in ready else (
                [d for d in ready if d.startswith(item.lower())] if len(item) >= 6 else [])
            if len(matches) != 1:
                raise DocumentNotFound(f"documents: no ready document with id {item!r}", document_id=item)
            out.append(matches[0])
        return out

    def add(self, row: CollectionRow, documents: Sequence[str]) -> list[str]:
        return self.records.add(row.id, self.resolve_documents(documents), tenant=self.tenant)

    def remove(self, row: CollectionRow, document: str) -> bool:
        doc_id = document
        if len(document) < 64:  # a prefix of a ready document's id; an unknown one is simply not in it
            with suppress(DocumentNotFound):
                doc_id = self.resolve_documents([document])[0]
        return self.records.remove(row.id, doc_id, tenant=self.tenant)

    def detail(self, row: CollectionRow) -> CollectionDetail:
        members = self.records.members(row.id, tenant=self.tenant)
        ready = {r.id: r for r in self.store.list_documents(tenant=self.tenant)}
        documents = [CollectionDocument(id=m.document_id, title=ready[m.document_id].title,
                                        pages=ready[m.document_id].n_pages, tokens=ready[m.document_id].total_tokens,
                                        added=m.added)
                     for m in members if m.document_id in ready]
        return CollectionDetail(**summary(row).model_dump(), items=documents)
