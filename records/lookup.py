"""Finding a document's record the ways callers ask for one: by full id for a tenant, by an id prefix, or one
page's text. Written against ``DocumentRecords``, so every implementation answers alike."""

from __future__ import annotations

from collections.abc import Collection

from folio.errors import DocumentNotFound
from folio.records.model import DocumentRecord
from folio.records.protocol import DocumentRecords


def get_document(records: DocumentRecords, doc_id: str, *, with_pages: bool = False,
                 tenant: str | None = None) -> DocumentRecord | None:
    """The document's record; with ``tenant``, only if that tenant owns it (else None, as if absent)."""
    record = records.get(doc_id, with_pages=with_pages)
    if record is None or (tenant is not None and record.tenant != tenant):
        return None
    return record


def require_document(records: DocumentRecords, doc_id: str, *, with_pages: bool = False,
                     tenant: str | None = None) -> DocumentRecord:
    """``get_document``, or ``DocumentNotFound``."""
    record = get_document(records, doc_id, with_pages=with_pages, tenant=tenant)
    if record is None:
        raise DocumentNotFound(f"no document with id {doc_id}", document_id=doc_id)
    return record


def resolve_id(records: DocumentRecords, prefix: str, *, tenant: str | None = None) -> str:
    """The full id of the one document (of ``tenant``'s, if given) whose id starts with ``prefix`` (at least 6
    characters)."""
    prefix = prefix.strip().lower()
    matches = [r.id for r in records.list_documents(status=None, tenant=tenant) if r.id.startswith(prefix)]
    if len(prefix) < 6 and prefix not in matches:
        matches = []
    if len(matches) != 1:
        reason = "no document" if not matches else f"{len(matches)} documents"
        raise DocumentNotFound(f"{reason} with an id starting {prefix!r}", document_id=prefix)
    return matches[0]


def page_text(records: DocumentRecords, doc_id: str, page: int, *, tenant: str | None = None) -> str:
    """The text of a document's 0-based ``page``."""
    record = require_document(records, doc_id, tenant=tenant)
    text = records.page(doc_id, page) if 0 <= page < record.n_pages else None
    if text is None:
        raise DocumentNotFound(f"document {doc_id} has no page {page} (it has {record.n_pages})",
                               document_id=doc_id)
    return text


def unique_title(records: DocumentRecords, title: str, *, tenant: str, exclude: Collection[str] = ()) -> str:
    """``title``, or ``title (2)``, ``(3)``...: unlike every other document's of ``tenant`` (case aside; the
    documents in ``exclude`` aside), so that a citation's title names one document."""
    taken = {r.title.casefold() for r in records.list_documents(status=None, tenant=tenant) if r.id not in exclude}
    candidate, n = title, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{title} ({n})"
    return candidate
