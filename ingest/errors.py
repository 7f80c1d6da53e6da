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
    │   └── DocumentNotFound        document_not_found
    ├── StoreError                  the index cannot be used right now (HTTP 503)
    │   ├── StoreLocked             store_locked
    │   └── StoreUnavailable        store_unavailable
    └── ConfigError                 configuration is invalid (HTTP 500)

Foreign exceptions (pypdf, python-docx, qdrant-client) are translated where they are raised, in
``ingest.parse`` and ``ingest.store``; nothing else catches them.
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


class StoreError(FolioError):
    code = "store_error"
    http_status = 503


class StoreLocked(StoreError):
    code = "store_locked"


class StoreUnavailable(StoreError):
    code = "store_unavailable"


class ConfigError(FolioError):
    code = "config_error"
    http_status = 500
