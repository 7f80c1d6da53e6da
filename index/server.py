"""The chunk index on a Qdrant server (or cluster): every search is Qdrant's Query API, and the payload fields
searches filter on are indexed, since a server filters through its indexes."""

from __future__ import annotations

from folio.index.chunks import QdrantChunks
from folio.index.schema import CHUNK_KEYWORDS, index_keywords


class ServerChunks(QdrantChunks):
    """``ChunkIndex`` on a Qdrant server, shared by every replica of the service."""

    keywords = CHUNK_KEYWORDS

    def prepare_statement_tags(self) -> None:
        """A collection made before the statement lane lacks its payload index: make it (idempotent)."""
        index_keywords(self.qdrant, self.name, ["statements"])
