"""One upload's job as the API shows it (``GET /v1/jobs``) and as its record's ``data`` keeps it: what the queue's
front (``service.jobs``) answers and its worker (``service.job_worker``) writes."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Job:
    """One upload's job as ``GET /v1/jobs`` shows it (``to_dict``, also its record's ``data``); a snapshot."""

    id: str
    file_name: str
    size_bytes: int
    status: str = "queued"  # queued, parsing, ocr, embedding, done, skipped, failed
    stage: str = "waiting for earlier uploads"
    pages: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    pages_per_s: float | None = None  # the file's pages parsed per second, once it is prepared
    chunks_per_s: float | None = None  # its chunks embedded per second so far
    document_id: str | None = None
    error: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)  # what ingestion ignored or could not read; a retry's note
    created: float = field(default_factory=time.time)
    finished: float | None = None
    worker: str = ""  # the replica that runs (or ran) it; empty while it waits for one
    request_id: str | None = None  # the upload's request id, also on the job's log lines
    tenant: str = "default"  # who uploaded it: only that tenant sees the job
    collection: str | None = None  # the id of the collection its document joins once ready

    def to_dict(self) -> dict[str, Any]:
        progress = 1.0 if self.finished else (self.chunks_done / self.chunks_total if self.chunks_total else 0.0)
        return {"id": self.id, "file": self.file_name, "size_bytes": self.size_bytes, "status": self.status,
                "stage": self.stage, "pages": self.pages, "chunks_total": self.chunks_total,
                "chunks_done": self.chunks_done, "progress": round(progress, 3),
                **({"pages_per_s": self.pages_per_s} if self.pages_per_s is not None else {}),
                **({"chunks_per_s": self.chunks_per_s} if self.chunks_per_s is not None else {}),
                "document_id": self.document_id,
                "error": self.error, "warnings": self.warnings, "created": self.created, "finished": self.finished,
                "worker": self.worker, "request_id": self.request_id, "tenant": self.tenant,
                "collection": self.collection}

    @classmethod
    def from_record(cls, payload: dict[str, Any]) -> Job:
        names = {f.name for f in fields(cls)} - {"file_name"}
        return cls(file_name=payload.get("file", ""), **{k: v for k, v in payload.items() if k in names})

    def copy(self) -> Job:
        return dataclasses.replace(self, warnings=list(self.warnings))
