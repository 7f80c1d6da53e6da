"""Folio's chunk index: the chunk vectors in Qdrant (the ``index/`` folder).

One collection, ``{prefix}_chunks``: a point per chunk with a dense vector and a BM25 sparse vector
(``sparse``), the schema and point ids in ``schema``. ``ChunkIndex`` (``protocol``) is what the rest of Folio
uses; two implementations, as qdrant-client has a local and a remote client:

- ``local.LocalChunks``: Qdrant's local mode on disk, searched through an in-memory copy (``memory``);
- ``server.ServerChunks``: a Qdrant server or cluster, searched with Qdrant's Query API (``query``).

``connection`` picks the Qdrant from the settings; ``retry`` wraps every call in the retry policy and translates
qdrant-client's errors; ``chunks`` holds what both implementations write alike.
"""

from folio.index.protocol import ChunkIndex, ChunkPoint, Hit, SearchMode
from folio.index.sparse import SparseVector

__all__ = ["ChunkIndex", "ChunkPoint", "Hit", "SearchMode", "SparseVector"]
