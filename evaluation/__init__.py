"""``folio eval``: retrieval quality and routing economics on the real sets in ``../shared/data``.

Modules, one job each:

- ``data``: the three sets' questions in one shape (gold pages per document, or document-level evidence);
- ``metrics``: page- and document-level recall@k, MRR, grouped means (pure functions, tested on known answers);
- ``embed_cache``: an on-disk cache of embeddings keyed by (model, exact text), shared by every configuration;
- ``indexes``: one Folio index per (set, chunking configuration), built with Folio's own ``Ingestor``;
- ``retrieval``: recall@k of dense, BM25 and hybrid search over those indexes;
- ``baseline``: the plain llama-index ``VectorStoreIndex`` baseline (the ``bench`` extra);
- ``routing``: sessions of questions replayed through the provider test double, per routing strategy;
- ``report``: the JSON, the Markdown report and the PNG plots;
- ``command``: the ``folio eval`` click command that ties them together.
"""
