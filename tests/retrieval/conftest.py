"""One real cuad-dev contract, ingested once with the hashed embedder, for the lanes' and levers' tests (they only
search it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from folio.config import Settings
from folio.ingest.embed import HashEmbedder
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import Source
from folio.ingest.store import Store
from tests.conftest import require_shared_data

CONTRACT = "DUOSTECHNOLOGIESGROUP,INC_04_21_2009-EX-10.1-STRATEGIC ALLIANCE AGREEMENT.PDF"


@pytest.fixture(scope="session")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str]]:
    """The store holding the contract, and its document id."""
    path = require_shared_data("cuad-dev", "pdfs") / CONTRACT
    settings = Settings(data_dir=tmp_path_factory.mktemp("contract") / "data", embed_model="hash-64",
                        ingest_workers=0)
    with Store.open(settings) as store:
        ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
        try:
            [result] = ingestor.run([Source(name=path.name, key=str(path), path=path)])
        finally:
            ingestor.close()
        assert result.status == "ingested" and result.doc_id is not None, result
        yield store, result.doc_id
