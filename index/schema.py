"""The collection schema: names of the chunk collection's vectors, point ids, the statement kinds its payload
carries, and how a collection is made (with the payload indexes a Qdrant server needs to filter fast).

A chunk point holds a dense vector (``DENSE``, cosine) and a BM25 sparse vector (``SPARSE``, a dot product with
a query weighted by the scope's IDF, ``folio.index.sparse``), and a payload: ``doc_id``, ``chunk_index``,
``first_page``, ``last_page``, ``start``, ``end``, ``heading``, ``text``, and ``statements`` (the financial
statement kinds of the pages it spans, if any). On a server the payload fields that searches filter on are indexed
(``KEYWORD``); local mode checks every point's payload in Python whatever the indexes, and warns that they have
no effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from folio.errors import ConfigError, StoreError
from folio.index.retry import Qdrant

DENSE = "dense"
SPARSE = "bm25"
_NAMESPACE = uuid.UUID("6f1c2b1e-2d3a-4c53-9d0e-6a9e6b8f0a11")

# The primary financial statements, in the order the ``statements`` payload lists them, and their names.
STATEMENT_KINDS: tuple[str, ...] = ("income", "balance", "cashflow", "equity")
STATEMENT_LABELS: dict[str, str] = {"income": "income statement", "balance": "balance sheet",
                                    "cashflow": "cash flow statement", "equity": "statement of equity"}
# The chunk payload's fields a server indexes: the document filter of every search, and the statement lane's.
CHUNK_KEYWORDS = ("doc_id", "statements")


def chunk_point_id(doc_id: str, index: int) -> str:
    """A chunk's point id, from its document's id and its index: a re-run overwrites instead of duplicating."""
    return str(uuid.uuid5(_NAMESPACE, f"{doc_id}:{index}"))


def create_collection(qdrant: Qdrant, name: str, create: Callable[[], Any]) -> None:
    """Create a collection; another replica creating it at the same moment is not an error."""
    try:
        qdrant.call("create collection", create)
    except StoreError:
        if not qdrant.call("collection check", lambda: qdrant.client.collection_exists(name)):
            raise


def index_keywords(qdrant: Qdrant, name: str, fields: Sequence[str]) -> None:
    """Index these payload fields of collection ``name`` as keywords (idempotent)."""
    from qdrant_client import models

    for field in fields:
        qdrant.call("create index", lambda f=field: qdrant.client.create_payload_index(  # type: ignore[misc]
            name, f, models.PayloadSchemaType.KEYWORD))


def ensure_plain_collection(qdrant: Qdrant, name: str, *, shards: int, replicas: int,
                            keywords: Sequence[str] = ()) -> None:
    """Make the vector-less collection ``name`` (records' payloads only) unless it exists; ``keywords``: payload
    fields to index as it is made."""
    if qdrant.call("collection check", lambda: qdrant.client.collection_exists(name)):
        return
    create_collection(qdrant, name, lambda: qdrant.client.create_collection(
        name, vectors_config={}, shard_number=shards, replication_factor=replicas))
    index_keywords(qdrant, name, keywords)


def ensure_chunk_collection(qdrant: Qdrant, name: str, dim: int, *, shards: int, replicas: int,
                            keywords: Sequence[str] = ()) -> None:
    """Make the chunk collection for ``dim``-dimensional dense vectors unless it exists; ``ConfigError`` if it
    exists with another dimension (another embedding model)."""
    from qdrant_client import models

    if qdrant.call("collection check", lambda: qdrant.client.collection_exists(name)):
        existing = dense_size(qdrant, name)
        if existing != dim:
            raise ConfigError(
                f"the index holds {existing}-dimensional vectors but the embedding model makes {dim}; "
                "use the model the index was built with (FOLIO_EMBED_MODEL) or a new FOLIO_DATA_DIR"
            )
        return
    create_collection(qdrant, name, lambda: qdrant.client.create_collection(
        name,
        vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
        sparse_vectors_config={SPARSE: models.SparseVectorParams()},  # a dot product: the query carries the IDF
        shard_number=shards, replication_factor=replicas,
    ))
    index_keywords(qdrant, name, keywords)


def dense_size(qdrant: Qdrant, name: str) -> int | None:
    """The dimension of the chunk collection's dense vectors, as Qdrant reports it."""
    info = qdrant.call("collection info", lambda: qdrant.client.get_collection(name))
    vectors = info.config.params.vectors
    return int(vectors[DENSE].size) if isinstance(vectors, dict) else None


def collection_idf(qdrant: Qdrant, name: str) -> bool:
    """Whether the chunk collection's BM25 vectors still get Qdrant's collection-wide IDF (``Modifier.IDF``, as
    collections made before the IDF came from the question's scope did)."""
    from qdrant_client import models

    info = qdrant.call("collection info", lambda: qdrant.client.get_collection(name))
    params = (info.config.params.sparse_vectors or {}).get(SPARSE)
    return params is not None and params.modifier == models.Modifier.IDF


def drop_collection_idf(qdrant: Qdrant, name: str) -> None:
    """Score the collection's BM25 vectors by a plain dot product from now on (the stored vectors stay)."""
    from qdrant_client import models

    qdrant.call("collection update", lambda: qdrant.client.update_collection(
        name, sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.NONE)}))
