"""Folio: long-document question answering that chooses, per question, between retrieval and whole documents.

The one import namespace over the project's stage folders (see ARCHITECTURE.md for the map and the rules).

- ``folio.index``: the chunk vectors in Qdrant, behind the ``ChunkIndex`` protocol (the ``index/`` folder);
- ``folio.records``: document records and the service's plain records (the ``records/`` folder);
- ``folio.ingest``: files to page texts, chunks, vectors and records (the ``ingest/`` folder);
- ``folio.retrieval``: a question to the chunks that answer it (the ``retrieval/`` folder);
- ``folio.service``: planning, context, the model, citations, the ledger, the REST API and ``serve``/``ask``
  (the ``service/`` folder);
- ``folio.evaluation``: ``folio eval``, retrieval quality and routing economics on real data (the ``evaluation/``
  folder);
- ``folio.testing``: test doubles that ship with Folio, the provider double first (the ``testing/`` folder);
- ``folio/ui``: the web UI's static files (the ``ui/`` folder), served by the service;
- ``folio.cli``: the ``folio`` command, composed from the commands of ingest, service and evaluation.

Imports point down the layers only (``tests/test_layers.py`` holds them)::

    folio.config, folio.errors
      <- folio.index, folio.records
      <- folio.ingest, folio.retrieval, folio.testing
      <- folio.service <- folio.evaluation <- folio.cli
"""

__version__ = "0.1.0"
