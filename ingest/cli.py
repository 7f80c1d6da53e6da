"""The ``folio`` command line: ingest folders of documents, list, inspect, search and delete them.

Every command works on the local index, or with ``--server URL`` (or ``FOLIO_SERVER``) on a running Folio
server through its REST API (``ingest.remote``): same arguments, same output, same exit codes.

Exit codes: 0 success, 1 some input failed or the index could not be used, 2 usage error.

File names, titles and error messages are printed through ``ingest.progress.terminal_safe``: a name may hold
escape sequences, control or bidi characters, and the terminal must show them, not obey them. ``--json``
output is escaped by ``json.dumps`` itself.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from folio.config import Settings
from folio.errors import FolioError
from folio.ingest.progress import plural, terminal_safe

F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES_INGEST = """
\b
Examples:
  folio ingest samples/
  folio ingest contracts/ --recursive --glob '*.pdf'
  folio ingest "Master Services Agreement.pdf" report.docx --json
  folio --server http://folio.internal:8000 ingest contracts/   # upload to a running server
"""


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"folio: error: {terminal_safe(message)}", err=True)
    sys.exit(code)


def handles_errors(fn: F) -> F:
    """Turn Folio's errors into one line on stderr and exit code 1, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FolioError as exc:
            _fail(f"{exc} [{exc.code}]")
        except KeyboardInterrupt:
            _fail("interrupted; documents not fully written stay invisible and are finished by the next run",
                  130)
        return None

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Folder of the local index (default: FOLIO_DATA_DIR or ./data).")
@click.option("--server", metavar="URL", envvar="FOLIO_SERVER", default=None,
              help="Use a running Folio server (e.g. http://127.0.0.1:8000) instead of the local index "
              "(env: FOLIO_SERVER; its API key, if it needs one: FOLIO_API_KEY).")
@click.version_option(package_name="folio")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, server: str | None) -> None:
    """Folio: ask long contracts and reports, by retrieval or in full, and see the bill."""
    logging.basicConfig(level=os.environ.get("FOLIO_LOG_LEVEL", "WARNING").upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    if server and data_dir is not None:
        raise click.UsageError("--server and --data-dir exclude each other: the server has its own index")
    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir is not None else {}
    ctx.obj = {"settings": Settings(**overrides), "server": server or None}


def remote_server(ctx: click.Context) -> Any:
    """A client for ``--server URL`` (``ingest.remote.RemoteFolio``), or None for the local index."""
    url = (ctx.obj or {}).get("server")
    if not url:
        return None
    from folio.ingest.remote import RemoteFolio

    return RemoteFolio(url, api_key=os.environ.get("FOLIO_API_KEY") or None)


def _open_store(settings: Settings) -> Any:
    from folio.ingest.store import Store

    return Store.open(settings)


def _embedder_factory(settings: Settings, store: Any) -> Callable[[], Any]:
    """The embedder, loaded on first use; 'auto' follows the backend that embedded the store's documents."""
    def make() -> Any:
        from folio.ingest.embed import embedder_from_settings

        return embedder_from_settings(settings, store.document_records.embed_backends())

    return make


@cli.command(epilog=EXAMPLES_INGEST)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders.")
@click.option("--glob", "pattern", default=None, help="Only files matching this pattern (e.g. '*.pdf').")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every file's result.")
@click.option("--collection", metavar="NAME", default=None,
              help="Each ingested file's document joins this collection (by name or id; created if there is none).")
@click.pass_context
@handles_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], recursive: bool, pattern: str | None,
           as_json: bool, collection: str | None) -> None:
    """Parse, chunk, embed and index files and folders (PDF, DOCX, HTML, Markdown, text).

    Unchanged files are skipped; a changed file at the same path replaces its old version once the
    new one is fully written. A failing file is reported and the batch goes on.
    """
    from folio.index.connection import local_size_note
    from folio.ingest.pipeline import Ingestor
    from folio.ingest.progress import PlainProgress, RichProgress, summary_line
    from folio.ingest.sources import collect_paths

    settings = _settings(ctx)
    sources = collect_paths(paths, recursive=recursive, glob=pattern)
    if not sources:
        _fail("no supported files found in " + ", ".join(map(str, paths)), 2)
    stream = sys.stderr if as_json else sys.stdout
    remote = remote_server(ctx)
    started = time.perf_counter()
    size_note: str | None = None
    if remote is not None:
        with remote:
            results = _ingest_remote(remote, sources, PlainProgress(stream), collection)
    else:
        progress = RichProgress() if stream.isatty() and not as_json else PlainProgress(stream)
        with _open_store(settings) as store:
            ingestor = Ingestor(store, _embedder_factory(settings, store), settings)
            try:
                results = ingestor.run(sources, progress)
            finally:
                ingestor.close()
            if collection is not None:
                _join_collection(store.database, collection, [r.doc_id for r in results if r.doc_id
                                                              and r.status != "failed"])
            size_note = local_size_note(store.index.count()) if store.engine == "local" else None
    elapsed = time.perf_counter() - started
    failed = sum(r.status == "failed" for r in results)
    if as_json:
        click.echo(json.dumps({"results": [r.to_dict() for r in results], "failed": failed,
                               "seconds": round(elapsed, 3)}, indent=2))
    else:
        click.echo(summary_line(results, elapsed))
    if remote is None and size_note:
        click.echo(size_note, err=True)
    sys.exit(1 if failed else 0)


def _join_collection(database: Any, name: str, doc_ids: list[str]) -> None:
    """The ingested documents join collection ``name`` (tenant default), made if there is none."""
    from folio.errors import CollectionNotFound
    from folio.records.collection_records import CollectionRecords

    records = CollectionRecords(database)
    try:
        row = records.find(name, tenant="default")
    except CollectionNotFound:
        row = records.create(tenant="default", name=name)
    records.add(row.id, doc_ids, tenant="default")


def _ingest_remote(remote: Any, sources: list[Any], progress: Any, collection: str | None = None) -> list[Any]:
    """Upload each file to the server, then follow the jobs until every file has finished."""
    from folio.ingest.reports import FileResult

    progress.start(len(sources))
    results: dict[int, FileResult] = {}
    queued: dict[str, int] = {}

    def finished(index: int, job: dict[str, Any]) -> None:
        results[index] = _job_result(remote, sources[index].name, job)
        progress.file_done(results[index])

    for index, source in enumerate(sources):
        try:
            data = source.read()
        except FolioError as exc:
            results[index] = FileResult(name=source.name, status="failed", error=exc)
            progress.file_done(results[index])
            continue
        job = remote.upload(Path(source.name).name, data, collection=collection)
        if job.get("finished") is not None:  # refused at once (too large, not a supported format)
            finished(index, job)
        else:
            queued[job["id"]] = index
    remote.wait(list(queued), on_update=lambda job: finished(queued[job["id"]], job))
    return [results[i] for i in range(len(sources))]


def _job_result(remote: Any, name: str, job: dict[str, Any]) -> Any:
    """A finished upload job as the pipeline's ``FileResult`` (the same lines and ``--json`` as local)."""
    from folio.ingest.remote import RemoteError
    from folio.ingest.reports import FileResult, Status

    statuses: dict[str, Status] = {"ingested": "ingested", "replaced": "replaced", "skipped": "skipped"}
    result_status: Status = statuses.get(job.get("stage") or "", "ingested") if job["status"] == "done" else \
        statuses.get(job["status"], "failed")
    error = job.get("error")
    seconds = (job["finished"] - job["created"]) if job.get("finished") and job.get("created") else 0.0
    result = FileResult(name=name, status=result_status, doc_id=job.get("document_id"), pages=job.get("pages", 0),
                        chunks=job.get("chunks_total", 0), seconds=max(0.0, seconds),
                        error=RemoteError(error["code"], error["message"], status=0, file=name) if error else None)
    if result.doc_id and result_status != "failed":
        try:
            record = remote.document(result.doc_id)
            result.title, result.tokens, result.chunks = record["title"], record["total_tokens"], record["n_chunks"]
        except FolioError:  # deleted meanwhile: the job's own numbers stand
            pass
    return result


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include documents still being written or deleted.")
@click.pass_context
@handles_errors
def documents(ctx: click.Context, as_json: bool, show_all: bool) -> None:
    """List indexed documents (in canonical order: ingest time, then id)."""
    remote = remote_server(ctx)
    if remote is not None:
        with remote:
            rows = remote.documents(show_all=show_all)
    else:
        with _open_store(_settings(ctx)) as store:
            rows = [r.model_dump(exclude={"pages"})
                    for r in store.list_documents(status=None if show_all else "ready")]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no documents indexed yet; try: folio ingest samples/")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(rows)} document(s)", title_justify="left")
    for column in ("id", "title", "file", "pages", "tokens", "chunks", "status", "ingested (UTC)"):
        table.add_column(column, justify="right" if column in ("pages", "tokens", "chunks") else "left")
    for r in rows:
        title, file_name = escape(terminal_safe(r["title"][:48])), escape(terminal_safe(r["file_name"][:40]))
        table.add_row(r["id"][:12], title, file_name, str(r["n_pages"]), f"{r['total_tokens']:,}",
                      str(r["n_chunks"]), r["status"], r["ingested_at"][:19].replace("T", " "))
    Console(width=max(120, Console().width)).print(table)


@cli.command()
@click.argument("doc_id")
@click.option("--page", type=click.IntRange(min=1), default=None,
              help="Print this page's stored text (pages are numbered from 1, as a PDF viewer shows them).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def show(ctx: click.Context, doc_id: str, page: int | None, as_json: bool) -> None:
    """Show one document's record, or the stored text of one of its pages."""
    remote = remote_server(ctx)
    if remote is not None:
        with remote:
            if page is not None:
                found = remote.page(doc_id, page)
                payload = {"document_id": found["document_id"], "page_index": page - 1, "text": found["text"]}
                click.echo(json.dumps(payload) if as_json else found["text"])
                return
            data = remote.document(doc_id)
    else:
        with _open_store(_settings(ctx)) as store:
            full_id = store.resolve_id(doc_id)
            if page is not None:
                text = store.page_text(full_id, page - 1)
                payload = {"document_id": full_id, "page_index": page - 1, "text": text}
                click.echo(json.dumps(payload) if as_json else text)
                return
            data = store.require_document(full_id).model_dump(exclude={"pages"})
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            if key != "page_tokens":
                click.echo(f"{key:>14}: {terminal_safe(str(value))}")


@cli.command()
@click.argument("doc_id")
@click.argument("title")
@click.pass_context
@handles_errors
def rename(ctx: click.Context, doc_id: str, title: str) -> None:
    """Give a document a new title, the name its citations use (unique among your documents).

    \b
    Example:
      folio rename 3f9a2c1b "Best Buy 10-K FY2023"
    """
    remote = remote_server(ctx)
    if remote is not None:
        with remote:
            data = remote.rename(remote.document(doc_id)["id"], title)
        click.echo(f"renamed {data['id'][:12]} to {terminal_safe(data['title'])}")
        return
    with _open_store(_settings(ctx)) as store:
        record = store.rename_document(store.resolve_id(doc_id), title)
    click.echo(f"renamed {record.id[:12]} to {terminal_safe(record.title)}")


@cli.command()
@click.argument("doc_ids", nargs=-1, required=True)
@click.pass_context
@handles_errors
def delete(ctx: click.Context, doc_ids: tuple[str, ...]) -> None:
    """Delete documents (by id or a unique id prefix of 6+ characters) and all of their chunks."""
    remote = remote_server(ctx)
    if remote is not None:
        with remote:
            for doc_id in doc_ids:
                data = remote.document(doc_id)
                remote.delete(data["id"])
                chunks = plural(data["n_chunks"], "chunk")
                click.echo(f"deleted {data['id'][:12]} {terminal_safe(data['title'])} ({chunks})")
        return
    with _open_store(_settings(ctx)) as store:
        for doc_id in doc_ids:
            full_id = store.resolve_id(doc_id)
            record = store.require_document(full_id)
            store.delete_document(full_id)
            click.echo(f"deleted {full_id[:12]} {terminal_safe(record.title)} ({plural(record.n_chunks, 'chunk')})")


@cli.command()
@click.argument("query")
@click.option("--doc", "doc_ids", multiple=True, help="Restrict to this document (repeatable).")
@click.option("-k", "--limit", default=5, show_default=True, help="How many chunks to return.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def search(ctx: click.Context, query: str, doc_ids: tuple[str, ...], limit: int, mode: str,
           as_json: bool) -> None:
    """Retrieve the chunks that best match QUERY (no model or API key needed).

    \b
    Example:
      folio search "who may terminate the agreement and how much notice is needed" -k 3
    """
    remote = remote_server(ctx)
    if remote is not None:
        with remote:
            hits = remote.search(query, documents=doc_ids, limit=limit, mode=mode)["hits"]
    else:
        from folio.ingest.embed import embedder_from_settings
        from folio.retrieval.search import search as run_search

        settings = _settings(ctx)
        with _open_store(settings) as store:
            store.memory_index = False  # one search: cheaper to ask Qdrant than to load the in-memory index
            ids = [store.resolve_id(d) for d in doc_ids] or None
            ready = store.list_documents()
            titles = {r.id: r.title for r in ready}
            embedder = embedder_from_settings(settings, store.document_records.embed_backends())
            found = run_search(store, embedder, query, doc_ids=ids, limit=limit, mode=mode,  # type: ignore[arg-type]
                               records=ready)
        hits = [{**h.__dict__, "title": titles.get(h.doc_id)} for h in found]
    if as_json:
        click.echo(json.dumps(hits, indent=2))
        return
    if not hits:
        click.echo("no matching chunks (is anything ingested? folio documents)")
    for rank, h in enumerate(hits, 1):
        first, last = h["first_page"] + 1, h["last_page"] + 1
        pages = f"p.{first}" if first == last else f"pp.{first}-{last}"
        click.echo(terminal_safe(f"{rank}. [{h['title'] or h['doc_id'][:12]} {pages}] {h['heading'] or ''}"))
        click.echo("   " + terminal_safe(" ".join(h["text"].split())[:300]))


def main() -> None:
    cli(prog_name="folio")


if __name__ == "__main__":
    main()
