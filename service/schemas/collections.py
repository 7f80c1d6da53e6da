"""Collections (``/v1/collections``): named sets of a tenant's documents that scope a question or a conversation
in one step; their documents keep the order they joined."""

from __future__ import annotations

from pydantic import BaseModel, Field

NAME_MAX = 200


class CollectionCreate(BaseModel):
    name: str = Field(max_length=NAME_MAX + 100, description="1 to 200 characters once trimmed; unique among your "
                      "collections (409 collection_name_taken)")
    documents: list[str] = Field(default_factory=list, description="document ids (or unique prefixes) that join "
                                 "it now, in this order")


class CollectionPatch(BaseModel):
    name: str = Field(max_length=NAME_MAX + 100, description="the new name (trimmed, unique among yours)")


class CollectionDocuments(BaseModel):
    documents: list[str] = Field(min_length=1, description="document ids (or unique prefixes) to append, in this "
                                 "order; those already in it keep their place")


class CollectionSummary(BaseModel):
    id: str
    name: str
    created: float = Field(description="Unix time")
    updated: float = Field(description="Unix time of the last change")
    documents: int = Field(description="documents in it (ready or not)")


class CollectionDocument(BaseModel):
    id: str
    title: str
    pages: int
    tokens: int
    added: float = Field(description="Unix time it joined")


class CollectionDetail(CollectionSummary):
    items: list[CollectionDocument] = Field(description="its ready documents in the order they joined: the order of "
                                            "a whole-documents prompt scoped to it")


class CollectionList(BaseModel):
    collections: list[CollectionSummary]
    total: int


class CollectionDeleted(BaseModel):
    deleted: str
    documents: int = Field(description="documents it held (they stay)")


class DocumentsAdded(BaseModel):
    added: list[str] = Field(description="the ids appended (those already in it are not)")
    collection: CollectionDetail


class DocumentRemoved(BaseModel):
    removed: bool = Field(description="false when the document was not in the collection")
    collection: CollectionDetail
