"""``folio collections``: list, create, rename, delete, add to, remove from and show collections, on the local
records (tenant ``default``) or, with ``folio --server URL``, through the REST API (``/v1/collections``).

Locally only the records' database is opened (never the vector index), so these commands work beside a running
``folio serve`` on the same data folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from folio.ingest.cli import _settings, handles_errors, remote_server
from folio.ingest.progress import terminal_safe

TENANT = "default"  # what the local CLI writes, as ``folio ingest`` does


class _Local:
    """The collections in the local records' database, answered as the REST API's JSON."""

    def __init__(self, ctx: click.Context) -> None:
        from folio.records.collection_records import CollectionRecords
        from folio.records.database import Database
        from folio.records.sql_documents import SqlDocuments

        self.database = Database.from_settings(_settings(ctx))
        self.records = CollectionRecords(self.database)
        self.documents = SqlDocuments(self.database)

    def close(self) -> None:
        self.database.close()

    def _ids(self, given: tuple[str, ...]) -> list[str]:
        from folio.records.lookup import resolve_id

        return [resolve_id(self.documents, d, tenant=TENANT) for d in given]

    def _detail(self, collection_id: str) -> dict[str, Any]:
        row = self.records.get(collection_id, tenant=TENANT)
        items = []
        for member in self.records.members(row.id, tenant=TENANT):
            record = self.documents.get(member.document_id)
            if record is not None and record.status == "ready":
                items.append({"id": record.id, "title": record.title, "pages": record.n_pages,
                              "tokens": record.total_tokens, "added": member.added})
        return {"id": row.id, "name": row.name, "created": row.created, "updated": row.updated,
                "documents": row.documents, "items": items}

    def list(self) -> dict[str, Any]:
        rows = self.records.all(tenant=TENANT)
        return {"collections": [{"id": r.id, "name": r.name, "created": r.created, "updated": r.updated,
                                 "documents": r.documents} for r in rows], "total": len(rows)}

    def create(self, name: str, documents: tuple[str, ...]) -> dict[str, Any]:
        ids = self._ids(documents)
        row = self.records.create(tenant=TENANT, name=name)
        if ids:
            self.records.add(row.id, ids, tenant=TENANT)
        return self._detail(row.id)

    def show(self, ref: str) -> dict[str, Any]:
        return self._detail(self.records.find(ref, tenant=TENANT).id)

    def rename(self, ref: str, name: str) -> dict[str, Any]:
        row = self.records.find(ref, tenant=TENANT)
        return self._detail(self.records.rename(row.id, tenant=TENANT, name=name).id)

    def delete(self, ref: str) -> dict[str, Any]:
        row = self.records.find(ref, tenant=TENANT)
        return {"deleted": row.id, "documents": self.records.delete(row.id, tenant=TENANT)}

    def add(self, ref: str, documents: tuple[str, ...]) -> dict[str, Any]:
        row = self.records.find(ref, tenant=TENANT)
        added = self.records.add(row.id, self._ids(documents), tenant=TENANT)
        return {"added": added, "collection": self._detail(row.id)}

    def remove(self, ref: str, document: str) -> dict[str, Any]:
        row = self.records.find(ref, tenant=TENANT)
        removed = self.records.remove(row.id, self._ids((document,))[0], tenant=TENANT)
        return {"removed": removed, "collection": self._detail(row.id)}


class _Remote:
    """The same calls through ``/v1/collections`` of a running server."""

    def __init__(self, remote: Any) -> None:
        self.remote = remote

    def close(self) -> None:
        self.remote.close()

    def _path(self, ref: str) -> str:
        from urllib.parse import quote

        return f"/v1/collections/{quote(ref, safe='')}"

    def list(self) -> dict[str, Any]:
        return dict(self.remote.call("GET", "/v1/collections"))

    def create(self, name: str, documents: tuple[str, ...]) -> dict[str, Any]:
        return dict(self.remote.call("POST", "/v1/collections", json={"name": name, "documents": list(documents)}))

    def show(self, ref: str) -> dict[str, Any]:
        return dict(self.remote.call("GET", self._path(ref)))

    def rename(self, ref: str, name: str) -> dict[str, Any]:
        return dict(self.remote.call("PATCH", self._path(ref), json={"name": name}))

    def delete(self, ref: str) -> dict[str, Any]:
        return dict(self.remote.call("DELETE", self._path(ref)))

    def add(self, ref: str, documents: tuple[str, ...]) -> dict[str, Any]:
        return dict(self.remote.call("POST", self._path(ref) + "/documents", json={"documents": list(documents)}))

    def remove(self, ref: str, document: str) -> dict[str, Any]:
        from urllib.parse import quote

        return dict(self.remote.call("DELETE", self._path(ref) + f"/documents/{quote(document, safe='')}"))


@contextmanager
def _backend(ctx: click.Context) -> Iterator[Any]:
    remote = remote_server(ctx)
    backend: Any = _Remote(remote) if remote is not None else _Local(ctx)
    try:
        yield backend
    finally:
        backend.close()


def _print(body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    detail = body.get("collection", body)
    if "added" in body:
        click.echo(f"added {len(body['added'])} document(s)")
    if "removed" in body:
        click.echo("removed" if body["removed"] else "it was not in the collection")
    if "items" in detail:
        click.echo(terminal_safe(f"{detail['id'][:12]}  {detail['name']}  ({detail['documents']} documents)"))
        for n, item in enumerate(detail["items"], 1):
            click.echo(terminal_safe(f"  {n:>3}. {item['id'][:12]}  {item['title']}  {item['pages']} pages  "
                                     f"{item['tokens']:,} tokens"))


@click.group()
def collections() -> None:
    """Named sets of documents (a deal room, a year of filings) that scope `ask` and `chat` in one option.

    \b
    Examples:
      folio collections create "Deal room" 3f2a9c 8be01d
      folio collections add "Deal room" 77c1e0        # joins at the end: the earlier prefix stays cached
      folio ask "Compare the termination rights" --collection "Deal room"
    """


@collections.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def list_collections(ctx: click.Context, as_json: bool) -> None:
    """Your collections by name, with their numbers of documents."""
    with _backend(ctx) as backend:
        body = backend.list()
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    if not body["collections"]:
        click.echo("no collections yet: folio collections create NAME [DOC ...]")
    for c in body["collections"]:
        click.echo(terminal_safe(f"{c['id'][:12]}  {c['name']}  ({c['documents']} documents)"))


@collections.command()
@click.argument("name")
@click.argument("documents", nargs=-1)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def create(ctx: click.Context, name: str, documents: tuple[str, ...], as_json: bool) -> None:
    """Create collection NAME, with these documents (ids or prefixes) in this order."""
    with _backend(ctx) as backend:
        _print(backend.create(name, documents), as_json)


@collections.command()
@click.argument("collection")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def show(ctx: click.Context, collection: str, as_json: bool) -> None:
    """A collection (id or name) and its documents, in the order they joined."""
    with _backend(ctx) as backend:
        _print(backend.show(collection), as_json)


@collections.command()
@click.argument("collection")
@click.argument("name")
@click.pass_context
@handles_errors
def rename(ctx: click.Context, collection: str, name: str) -> None:
    """Rename a collection."""
    with _backend(ctx) as backend:
        _print(backend.rename(collection, name), False)


@collections.command()
@click.argument("collection")
@click.pass_context
@handles_errors
def delete(ctx: click.Context, collection: str) -> None:
    """Delete a collection (its documents stay)."""
    with _backend(ctx) as backend:
        body = backend.delete(collection)
    click.echo(f"deleted collection {body['deleted'][:12]} ({body['documents']} documents; they stay)")


@collections.command()
@click.argument("collection")
@click.argument("documents", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def add(ctx: click.Context, collection: str, documents: tuple[str, ...], as_json: bool) -> None:
    """Append documents to a collection, in this order (those in it keep their place)."""
    with _backend(ctx) as backend:
        _print(backend.add(collection, documents), as_json)


@collections.command()
@click.argument("collection")
@click.argument("document")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def remove(ctx: click.Context, collection: str, document: str, as_json: bool) -> None:
    """Take a document out of a collection (the document stays)."""
    with _backend(ctx) as backend:
        _print(backend.remove(collection, document), as_json)
