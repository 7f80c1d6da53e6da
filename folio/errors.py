"""Folio's one error hierarchy.

Every error a user can cause or meet carries a stable ``code`` (part of the API and of the CLI's
``--json`` output), a message in words, and, where it applies, the file or document it concerns::

    FolioError
    ├── InputError                  the caller's input is wrong (HTTP 4xx)
    │   ├── FileNotFound            file_not_found
    │   ├── EmptyFile               empty_file
    │   ├── FileTooLarge            file_too_large
    │   ├── UnsupportedFormat       unsupported_format
    │   ├── CorruptFile             corrupt_file
    │   ├── EncryptedFile           encrypted_file
    │   ├── NoText                  no_text
    │   ├── TooManyPages            too_many_pages (HTTP 413): counted before any page's text is read
    │   ├── ContentTooLarge         content_too_large (HTTP 413): inflates past a limit (a decompression bomb)
    │   ├── TooComplex              too_complex: nested too deep, too many zip members or HTML elements
    │   ├── ParseTimeout            parse_timeout: the parse ran past FOLIO_PARSE_TIMEOUT_S and was stopped
    │   ├── ParseMemory             parse_memory (HTTP 413): the parse needed more than FOLIO_PARSE_MEMORY_MB
    │   ├── DocumentNotFound        document_not_found
    │   ├── PageNotFound            page_not_found
    │   ├── NoOriginalFile          no_original_file (HTTP 404): ingested before Folio kept files: no page image
    │   ├── NoPrintedPage           no_printed_page (HTTP 409): not a PDF, so no page as printed (text only)
    │   ├── PageTooLarge            page_too_large (HTTP 422): a page that cannot be drawn within the pixel cap
    │   ├── RenderTimeout           render_timeout (HTTP 422): drawing the page ran past FOLIO_RENDER_TIMEOUT_S
    │   ├── DocumentConflict        document_conflict (HTTP 409): the id is another tenant's (crafted bytes)
    │   ├── TitleTaken              title_taken (HTTP 409): another document of the tenant has that title
    │   ├── ConversationNotFound    conversation_not_found (HTTP 404): none of the tenant's has that id
    │   ├── ConversationBusy        conversation_busy (HTTP 409): another turn of it is being answered
    │   ├── ScopeEmpty              scope_empty (HTTP 409): none of the conversation's documents is left
    │   ├── CollectionNotFound      collection_not_found (HTTP 404): none of the tenant's has that id or name
    │   ├── CollectionNameTaken     collection_name_taken (HTTP 409): another collection of the tenant has it
    │   ├── ScopeConflict           scope_conflict (HTTP 422): both documents and a collection were given
    │   └── InvalidRequest          invalid_request
    │       ├── QuestionTooLong     question_too_long (HTTP 413): over FOLIO_MAX_QUESTION_CHARS
    │       ├── OverBudget          over_budget (HTTP 422): the route's estimate exceeds the request's max_cost_usd
    │       └── TooManyFiles        too_many_files (HTTP 413): over FOLIO_MAX_FILES_PER_REQUEST
    ├── StoreError                  the index or the records cannot be used right now (HTTP 503)
    │   ├── StoreLocked             store_locked
    │   ├── StoreUnavailable        store_unavailable: the vector index (Qdrant)
    │   └── DatabaseUnavailable     database_unavailable: the records' database (SQLite or PostgreSQL)
    ├── ProviderError               the language model's provider failed (HTTP 502)
    │   ├── ProviderRateLimited     provider_rate_limited (HTTP 429, carries retry_after_s)
    │   ├── ProviderStreamBroken    provider_error: a stream cut mid-answer (carries the partial text)
    │   ├── ProviderTimeout         provider_timeout (HTTP 504)
    │   ├── ContextTooLong          context_too_long (the service falls back to retrieval)
    │   └── ProviderBadResponse     provider_bad_response
    ├── ParseInterrupted            interrupted: the parser was shut down while the file waited or was parsed
    └── ConfigError                 configuration is invalid (HTTP 500)
        ├── OcrUnavailable          ocr_unavailable: a PDF needs OCR and Tesseract is missing (HTTP 503)
        └── DatabaseConfigError     database_config: FOLIO_DATABASE_URL is not a database Folio can use

Foreign exceptions (pypdf, python-docx, qdrant-client, SQLAlchemy, openai) are translated where they are raised,
in ``folio.ingest.parse``, ``folio.index.retry``, ``folio.records.database`` and ``folio.service.llm``; nothing
else catches them. The service
maps this tree to HTTP in one handler (``folio.service.errors``).
"""

from __future__ import annotations

from typing import Any


class FolioError(Exception):
    """Base of every error Folio raises on purpose."""

    code: str = "folio_error"
    http_status: int = 500

    def __init__(self, message: str, *, file: str | None = None, document_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.document_id = document_id

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as the API and ``--json`` report it."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.file is not None:
            out["file"] = self.file
        if self.document_id is not None:
            out["document_id"] = self.document_id
        return out


class InputError(FolioError):
    code = "bad_input"
    http_status = 400


class FileNotFound(InputError):
    code = "file_not_found"
    http_status = 404


class EmptyFile(InputError):
    code = "empty_file"
    http_status = 422


class FileTooLarge(InputError):
    code = "file_too_large"
    http_status = 413


class UnsupportedFormat(InputError):
    code = "unsupported_format"
    http_status = 415


class CorruptFile(InputError):
    code = "corrupt_file"
    http_status = 422


class EncryptedFile(InputError):
    code = "encrypted_file"
    http_status = 422


class NoText(InputError):
    code = "no_text"
    http_status = 422


class DocumentNotFound(InputError):
    code = "document_not_found"
    http_status = 404


class PageNotFound(InputError):
    code = "page_not_found"
    http_status = 404


class NoOriginalFile(InputError):
    """The document was ingested before Folio kept original files: its pages exist as text only."""

    code = "no_original_file"
    http_status = 404


class NoPrintedPage(InputError):
    """The document is not a PDF (DOCX, HTML, text): it has no printed page to draw, only its text."""

    code = "no_printed_page"
    http_status = 409


class PageTooLarge(InputError):
    """The page's shape cannot be drawn within the image's pixel cap at a useful width."""

    code = "page_too_large"
    http_status = 422


class RenderTimeout(InputError):
    """Drawing the page (or finding a quote on it) ran past FOLIO_RENDER_TIMEOUT_S and was stopped."""

    code = "render_timeout"
    http_status = 422


class InvalidRequest(InputError):
    code = "invalid_request"
    http_status = 422


class DocumentConflict(InputError):
    """The document's id is taken by another tenant's document (only crafted bytes can do that)."""

    code = "document_conflict"
    http_status = 409


class TitleTaken(InputError):
    """Another document of the tenant already has the title asked for."""

    code = "title_taken"
    http_status = 409


class ConversationError(InputError):
    """An error about one conversation: it carries the conversation's id."""

    def __init__(self, message: str, *, conversation_id: str) -> None:
        super().__init__(message)
        self.conversation_id = conversation_id

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "conversation_id": self.conversation_id}


class ConversationNotFound(ConversationError):
    """No conversation of the caller's tenant has that id (another tenant's is not found either)."""

    code = "conversation_not_found"
    http_status = 404


class ConversationBusy(ConversationError):
    """A turn of the conversation is being answered: the next waits for it, so the history never interleaves."""

    code = "conversation_busy"
    http_status = 409


class ScopeEmpty(ConversationError):
    """The conversation's documents have all been deleted: there is nothing left to ask about."""

    code = "scope_empty"
    http_status = 409


class CollectionError(InputError):
    """An error about one collection: it carries what the caller named it by (an id or a name)."""

    def __init__(self, message: str, *, collection: str) -> None:
        super().__init__(message)
        self.collection = collection

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "collection": self.collection}


class CollectionNotFound(CollectionError):
    """No collection of the caller's tenant has that id or name (another tenant's is not found either)."""

    code = "collection_not_found"
    http_status = 404


class CollectionNameTaken(CollectionError):
    """Another collection of the tenant already has the name asked for."""

    code = "collection_name_taken"
    http_status = 409


class ScopeConflict(InputError):
    """A request named both documents and a collection as its scope: it must name one."""

    code = "scope_conflict"
    http_status = 422


class QuestionTooLong(InvalidRequest):
    """A question or search query longer than FOLIO_MAX_QUESTION_CHARS."""

    code = "question_too_long"
    http_status = 413


class OverBudget(InvalidRequest):
    """The route a request asks for (or the cheapest one it allows) is estimated over its ``max_cost_usd``:
    refused before anything is spent. 422 rather than 402: nothing is to be paid, the request asks for the
    impossible; it can raise the cap, choose another mode, or allow the fallback (``fallback: true``)."""

    code = "over_budget"
    http_status = 422

    def __init__(self, message: str, *, estimate_usd: float, max_cost_usd: float, route: str) -> None:
        super().__init__(message)
        self.estimate_usd = estimate_usd
        self.max_cost_usd = max_cost_usd
        self.route = route

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "route": self.route, "estimate_usd": round(self.estimate_usd, 8),
                "max_cost_usd": self.max_cost_usd}


class TooManyFiles(InvalidRequest):
    """An upload of more files than FOLIO_MAX_FILES_PER_REQUEST."""

    code = "too_many_files"
    http_status = 413


class StoreError(FolioError):
    code = "store_error"
    http_status = 503


class StoreLocked(StoreError):
    code = "store_locked"


class StoreUnavailable(StoreError):
    code = "store_unavailable"


class DatabaseUnavailable(StoreError):
    """The records' database cannot be reached or refused the work (down, restarting, out of disk); every
    write it was given either happened whole or not at all."""

    code = "database_unavailable"


class ProviderError(FolioError):
    code = "provider_error"
    http_status = 502


class ProviderStreamBroken(ProviderError):
    """The answer's stream broke off after some text had arrived (not retried: the caller has shown it).
    Carries that text, so the ledger can bill what the provider likely billed."""

    def __init__(self, message: str, *, partial_text: str = "") -> None:
        super().__init__(message)
        self.partial_text = partial_text


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderTimeout(ProviderError):
    code = "provider_timeout"
    http_status = 504


class ContextTooLong(ProviderError):
    code = "context_too_long"
    http_status = 413


class ProviderBadResponse(ProviderError):
    code = "provider_bad_response"


class ParseInterrupted(FolioError):
    """The parser pool was closed while the file was queued or being parsed (the batch or the service stopped)."""

    code = "interrupted"


class ConfigError(FolioError):
    code = "config_error"
    http_status = 500


class OcrUnavailable(ConfigError):
    """A PDF page needs OCR and Tesseract (or its language data) is not installed; the message says how."""

    code = "ocr_unavailable"
    http_status = 503


class DatabaseConfigError(ConfigError):
    """``FOLIO_DATABASE_URL`` names no database Folio can use (a bad URL, an unsupported driver, a wrong
    password, a database that does not exist); the message names the setting and the cause."""

    code = "database_config"


class TooManyPages(InputError):
    """More pages than ``FOLIO_MAX_PAGES``: counted from the PDF's page tree (or the text's page breaks)
    before any page's text is read."""

    code = "too_many_pages"
    http_status = 413


class ContentTooLarge(InputError):
    """The file inflates past a limit: one PDF stream or zip member over ``FOLIO_MAX_STREAM_MB``, a document's
    streams or members together over ``FOLIO_MAX_DECOMPRESSED_MB``, or a member that inflates past the size
    its zip directory declares."""

    code = "content_too_large"
    http_status = 413


class TooComplex(InputError):
    """The file's structure is past what Folio reads: objects nested too deep, more zip members than
    ``FOLIO_MAX_ZIP_MEMBERS``, more HTML elements than ``FOLIO_MAX_HTML_ELEMENTS``."""

    code = "too_complex"
    http_status = 422


class ParseTimeout(InputError):
    """The file's parse went on past ``FOLIO_PARSE_TIMEOUT_S`` (a page that draws one form thousands of times,
    say) and its worker process was stopped (``ingest.sandbox``)."""

    code = "parse_timeout"
    http_status = 422


class ParseMemory(InputError):
    """The file's parse needed more memory than ``FOLIO_PARSE_MEMORY_MB`` allows its worker process
    (``ingest.sandbox``)."""

    code = "parse_memory"
    http_status = 413


def http_status_for(code: str) -> int:
    """The HTTP status of an error known only by its code (a failed upload job keeps the code, not the error):
    the status its class in this tree declares; 500 for an unknown code."""
    pending: list[type[FolioError]] = [FolioError]
    while pending:
        cls = pending.pop()
        if cls.__dict__.get("code") == code:
            return int(cls.http_status)
        pending.extend(cls.__subclasses__())
    return 500
