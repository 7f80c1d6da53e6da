"""What an upload job's worker holds of a job, and the ingestion's progress events written onto it (its stage,
pages and chunks), into its record at each stage and now and then while its chunks are embedded."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from folio.ingest.reports import FileResult
from folio.records.job_records import Claim
from folio.service.job import Job


@dataclass
class Held:
    """A job this replica runs (or ran, its end not yet written) and its claim on it."""

    job: Job
    claim: Claim


class Saver(Protocol):
    """Where a held job's record goes: at once (a stage), or when enough time has passed (progress)."""

    def save(self, held: Held) -> bool: ...
    def save_progress(self, held: Held) -> None: ...


class JobProgress:
    """The pipeline's progress events, written onto one job (and, now and then, into its record)."""

    def __init__(self, worker: Saver, held: Held) -> None:
        self.worker = worker
        self.held = held
        self.job = held.job
        self._started = self._embedding = time.perf_counter()
        self._parsed = ""  # "parsed N pages at R/s", once the file is prepared

    def start(self, total_files: int) -> None:
        self.job.status, self.job.stage = "parsing", "parsing and chunking"
        self._started = self._embedding = time.perf_counter()
        self._parsed = ""
        self.worker.save(self.held)

    def file_prepared(self, name: str, pages: int, chunks: int) -> None:
        now = time.perf_counter()
        self.job.pages_per_s = round(pages / max(now - self._started, 1e-3), 2)
        self._parsed = f"parsed {pages} pages at {self.job.pages_per_s:.1f}/s"
        self._embedding = now
        self.job.status, self.job.stage = "embedding", f"embedding {chunks} chunks; {self._parsed}"
        self.job.pages, self.job.chunks_total = pages, chunks
        self.worker.save(self.held)

    def ocr_page(self, name: str, done: int, total: int) -> None:
        self.job.status, self.job.stage = "ocr", f"OCR page {done}/{total}"
        self.worker.save_progress(self.held)

    def chunks_done(self, name: str, n: int) -> None:
        self.job.chunks_done += n
        rate = self.job.chunks_done / max(time.perf_counter() - self._embedding, 1e-3)
        self.job.chunks_per_s = round(rate, 2)
        self.job.stage = f"embedding {self.job.chunks_total} chunks at {self.job.chunks_per_s:.1f}/s; {self._parsed}"
        self.worker.save_progress(self.held)

    def file_done(self, result: FileResult) -> None:
        pass

    def finish(self, results: list[FileResult]) -> None:
        pass
