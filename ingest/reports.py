"""What ingestion reports: each file's result, and the progress events a batch sends (the CLI draws bars
from them, the service keeps a job's status)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from folio.errors import FolioError
from folio.ingest.ocr import OcrReport

Status = Literal["ingested", "replaced", "skipped", "failed"]


@dataclass
class FileResult:
    name: str
    status: Status
    doc_id: str | None = None
    title: str | None = None
    pages: int = 0
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0
    replaced: list[str] = field(default_factory=list)
    error: FolioError | None = None
    ocr: OcrReport | None = None
    warnings: list[str] = field(default_factory=list)  # what was ignored or unreadable (JavaScript, OCR failures)
    parse_s: float = 0.0  # the worker's time on this file alone: parse, OCR, normalise, chunk
    embed_s: float = 0.0  # from its first chunk's encode to its last chunk stored

    def rates(self) -> tuple[float, float] | None:
        """Pages parsed a second and chunks embedded a second for this file, each over its own stage's time."""
        if self.parse_s <= 0 or self.embed_s <= 0:
            return None
        return self.pages / self.parse_s, self.chunks / self.embed_s

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.name, "status": self.status, "document_id": self.doc_id,
                               "title": self.title, "pages": self.pages, "chunks": self.chunks,
                               "tokens": self.tokens, "seconds": round(self.seconds, 3)}
        if self.replaced:
            out["replaced"] = self.replaced
        if self.ocr is not None and self.ocr.pages:
            out["ocr"] = self.ocr.to_dict()
        if self.error is not None:
            out["error"] = self.error.to_dict()
        if self.warnings:
            out["warnings"] = self.warnings
        return out


class Progress(Protocol):
    """Receives ingestion events; the CLI draws bars, the API keeps a status to poll."""

    def start(self, total_files: int) -> None: ...

    def file_prepared(self, name: str, pages: int, chunks: int) -> None: ...

    def chunks_done(self, name: str, n: int) -> None: ...

    def file_done(self, result: FileResult) -> None: ...

    def finish(self, results: list[FileResult]) -> None: ...


class OcrProgress(Protocol):
    """Optional: a progress object with this method also hears of each OCR'd page ("OCR page 12/40")."""

    def ocr_page(self, name: str, done: int, total: int) -> None: ...


def report_ocr_page(progress: Progress, name: str, done: int, total: int) -> None:
    ocr_page = getattr(progress, "ocr_page", None)
    if ocr_page is not None:
        ocr_page(name, done, total)


class NullProgress:
    def start(self, total_files: int) -> None:
        pass

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        pass

    def chunks_done(self, name: str, n: int) -> None:
        pass

    def file_done(self, result: FileResult) -> None:
        pass

    def finish(self, results: list[FileResult]) -> None:
        pass

    def ocr_page(self, name: str, done: int, total: int) -> None:
        pass
