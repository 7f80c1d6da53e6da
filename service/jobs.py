"""Background ingestion for uploads: one worker thread, jobs with a status to poll."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingest.errors import FolioError
from ingest.pipeline import FileResult, Source


@dataclass
class Job:
    id: str
    file_name: str
    size_bytes: int
    status: str = "queued"  # queued, parsing, embedding, done, skipped, failed
    stage: str = "waiting for earlier uploads"
    pages: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    document_id: str | None = None
    error: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    done_event: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        progress = 1.0 if self.finished else (self.chunks_done / self.chunks_total if self.chunks_total else 0.0)
        return {"id": self.id, "file": self.file_name, "size_bytes": self.size_bytes, "status": self.status,
                "stage": self.stage, "pages": self.pages, "chunks_total": self.chunks_total,
                "chunks_done": self.chunks_done, "progress": round(progress, 3), "document_id": self.document_id,
                "error": self.error, "created": self.created, "finished": self.finished}


class _JobProgress:
    """The pipeline's progress events, written onto one job."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def start(self, total_files: int) -> None:
        self.job.status, self.job.stage = "parsing", "parsing and chunking"

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        self.job.status, self.job.stage = "embedding", f"embedding {chunks} chunks"
        self.job.pages, self.job.chunks_total = pages, chunks

    def chunks_done(self, name: str, n: int) -> None:
        self.job.chunks_done += n

    def file_done(self, result: FileResult) -> None:
        pass

    def finish(self, results: list[FileResult]) -> None:
        pass


class JobQueue:
    def __init__(self, ingest: Callable[[Source, Any], FileResult], *, keep: int = 1000) -> None:
        self._ingest = ingest
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[tuple[Job, Source] | None] = queue.Queue()
        self._keep = keep
        self._thread = threading.Thread(target=self._work, name="folio-ingest", daemon=True)
        self._thread.start()

    def submit(self, source: Source, size: int) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], file_name=source.name, size_bytes=size)
        self._jobs[job.id] = job
        self._trim()
        self._queue.put((job, source))
        return job

    def fail(self, file_name: str, size: int, error: FolioError) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], file_name=file_name, size_bytes=size, status="failed",
                  stage="refused", error=error.to_dict(), finished=time.time())
        job.done_event.set()
        self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished]
        for job in sorted(finished, key=lambda j: j.created)[: max(0, len(self._jobs) - self._keep)]:
            self._jobs.pop(job.id, None)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, source = item
            try:
                result = self._ingest(source, _JobProgress(job))
                job.document_id = result.doc_id
                job.pages = result.pages or job.pages
                if result.error is not None:
                    job.status, job.stage, job.error = "failed", "failed", result.error.to_dict()
                elif result.status == "skipped":
                    job.status, job.stage = "skipped", "already indexed (same bytes)"
                else:
                    job.status, job.stage = "done", result.status
            except FolioError as exc:
                job.status, job.stage, job.error = "failed", "failed", exc.to_dict()
            except Exception as exc:  # the worker must survive anything one file does
                job.status, job.stage = "failed", "failed"
                job.error = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
            finally:
                job.finished = time.time()
                job.done_event.set()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
