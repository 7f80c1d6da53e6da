"""Folio: long-document question answering that chooses, per question, between retrieval and whole documents.

The one import namespace over the project's stage folders (see ARCHITECTURE.md for the map). Imports go
one way: ``folio.config`` and ``folio.errors`` <- ``folio.index``, ``folio.records`` <- ``folio.ingest``,
``folio.retrieval`` <- ``folio.service``.

- ``folio.index``: the chunk vectors in Qdrant, behind the ``ChunkIndex`` protocol (the ``index/`` folder);
- ``folio.records``: document records and the service's plain records (the ``records/`` folder);
- ``folio.ingest``: files to page texts, chunks, vectors and records (the ``ingest/`` folder);
- ``folio.retrieval``: a question to the chunks that answer it (the ``retrieval/`` folder);
- ``folio.service``: planning, context, the model, citations, the ledger, the REST API and the CLI
  (the ``service/`` folder);
- ``folio/ui``: the web UI's static files (the ``ui/`` folder), served by the service.
"""

__version__ = "0.1.0"
