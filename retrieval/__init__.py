"""Folio's retrieval: from a question to the chunks that answer it (the ``retrieval/`` folder).

- ``search``: the query embedded once, dense, BM25 or hybrid search over the scope's documents, fused with
  genre-dependent weights (BM25 weighs more in a scope of contracts);
- ``statement_lane``: which financial statements a question asks about, whose pages join the fusion;
- ``front_lane``: a question about a document's identity (title, parties, dates) also ranks its first pages;
- ``fusion_weight``: BM25's weight in the fusion, moved per question by the shape and agreement of the two rankings;
- ``signals``: how far dense and BM25 agree on their own top pages (the planner's "retrieval looks weak").

The rankings themselves are the chunk index's (``folio.index``): Qdrant's Query API on a server, and in local
mode the in-memory copy (``folio.index.memory``) that scores and fuses as Qdrant does.
"""

from folio.index.protocol import Hit, SearchMode

__all__ = ["Hit", "SearchMode"]
