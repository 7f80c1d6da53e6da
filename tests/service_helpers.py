"""Build a Folio service against the provider double, in process (TestClient) with the hash embedder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from folio.config import Settings
from folio.ingest.embed import HashEmbedder
from folio.service.app import create_app
from tests.pdfs import CONTRACT_PAGES, text_pdf

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def service_settings(tmp_path: Path, double: Any | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=0,
                                  llm_max_retries=2, llm_timeout_s=5.0)
    if double is not None:
        # the double stands in for the seed's provider: its prices (a loopback endpoint alone would mean self-hosted)
        values.update(llm_base_url=double.base_url, llm_api_key=SecretStr("test-key"), llm_model="deepseek-chat",
                      pricing_profile="deepseek-v4-flash-compat")
    values.update(overrides)
    return Settings(**values)


@contextmanager
def service(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, embedder_factory=lambda: HashEmbedder(64))
    with TestClient(app) as client:
        yield client


def upload(client: TestClient, name: str, data: bytes) -> dict[str, Any]:
    response = client.post("/v1/documents?wait=true", files=[("files", (name, data))])
    assert response.status_code == 200, response.text
    job = response.json()["jobs"][0]
    assert job["status"] == "done", job
    return job


def contract_pdf() -> bytes:
    return text_pdf(CONTRACT_PAGES, title="Master Supply Agreement")
