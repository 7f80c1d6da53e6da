"""An upload job's progress as the API shows it: the stage in words, and the rates as numbers of their own (pages
parsed per second once the file is prepared, chunks embedded per second while they are), which the UI's bar shows."""

from __future__ import annotations

import time

from folio.records.job_records import Claim
from folio.service.job import Job
from folio.service.job_progress import Held, JobProgress
from folio.service.schemas.documents import Job as JobResponse


class _Saved:
    """Keeps what the worker would write into the job's record, as ``to_dict`` gives it."""

    def __init__(self) -> None:
        self.records: list[dict[str, object]] = []

    def save(self, held: Held) -> bool:
        self.records.append(held.job.to_dict())
        return True

    def save_progress(self, held: Held) -> None:
        self.records.append(held.job.to_dict())


def test_the_rates_are_numbers_of_their_own_and_the_stage_says_them() -> None:
    job = Job(id="j1", file_name="msa.pdf", size_bytes=10)
    saved = _Saved()
    progress = JobProgress(saved, Held(job=job, claim=Claim(job_id="j1", worker="w", attempt=1)))
    progress.start(1)
    assert "pages_per_s" not in saved.records[-1] and "chunks_per_s" not in saved.records[-1]
    time.sleep(0.05)
    progress.file_prepared("msa.pdf", pages=4, chunks=10)
    parsed = saved.records[-1]
    assert parsed["status"] == "embedding" and 0 < parsed["pages_per_s"] <= 4 / 0.05  # type: ignore[operator]
    assert "chunks_per_s" not in parsed
    time.sleep(0.05)
    progress.chunks_done("msa.pdf", 5)
    embedding = saved.records[-1]
    assert embedding["chunks_done"] == 5 and 0 < embedding["chunks_per_s"] <= 5 / 0.05  # type: ignore[operator]
    assert f"at {embedding['chunks_per_s']:.1f}/s" in str(embedding["stage"])
    assert f"parsed 4 pages at {parsed['pages_per_s']:.1f}/s" in str(embedding["stage"])
    shown = JobResponse.model_validate(embedding)  # what GET /v1/jobs/{id} answers
    assert shown.chunks_per_s == embedding["chunks_per_s"] and shown.pages_per_s == parsed["pages_per_s"]
    assert Job.from_record(embedding).chunks_per_s == shown.chunks_per_s  # another replica reads it back
