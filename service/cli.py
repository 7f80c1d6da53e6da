"""``folio serve`` and ``folio ask``: the service's commands.

``folio.cli`` adds them to the command group of ``folio.ingest.cli`` (whose options give them ``ctx.obj``: the
settings and ``--server``), with the evaluation's ``folio eval``; that group is the ``folio`` console script.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import ExitStack

import click

from folio.config import Settings
from folio.ingest.cli import _settings, handles_errors, remote_server
from folio.ingest.progress import terminal_safe
from folio.service.schemas.answer import Answer, CoverageReport
from folio.service.schemas.common import Citation, Usage


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--simulated-model", is_flag=True,
              help="A demo without an API key: answers come from Folio's built-in provider double (it quotes the "
              "best-matching sentence; no language model), labelled simulated (env: FOLIO_SIMULATED_MODEL).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, simulated_model: bool) -> None:
    """Run the query service and web UI (OpenAPI docs at /docs).

    \b
    Examples:
      folio serve --port 8000   # then open http://127.0.0.1:8000/
      folio serve --simulated-model   # the whole flow without an API key; answers are simulated
    """
    import logging

    import uvicorn

    from folio.service.app import create_app
    from folio.service.logs import configure_logging

    if (ctx.obj or {}).get("server"):
        raise click.UsageError("serve runs a server; --server is for the other commands")
    settings = _settings(ctx)
    # one handler for every line, uvicorn's included (FOLIO_LOG_FORMAT=json: JSON lines with the request id);
    # the service writes its own access lines, with the request id and the time to the last byte
    configure_logging(settings.log_format, settings.log_level or "INFO")
    logging.getLogger("folio.service").setLevel(logging.INFO)

    def say(message: str) -> None:  # JSON logs stay JSON lines only
        if settings.log_format == "json":
            logging.getLogger("folio.service").info(message)
        else:
            click.echo(message, err=True)

    from folio.errors import ConfigError
    from folio.service.access import ApiKeys, is_loopback
    from folio.service.pricing import choose_profile

    try:
        keys = ApiKeys.from_settings(settings)
        pricing = choose_profile(settings)
        records = _records_database(settings, say)
    except ConfigError as exc:
        raise click.UsageError(exc.message) from None
    if not keys:
        if not is_loopback(host) and not settings.allow_no_auth:
            raise click.UsageError(
                f"no API keys are configured, so Folio listens on loopback only, not on {host}: set FOLIO_API_KEYS "
                "(KEY:TENANT,...) or FOLIO_API_KEYS_FILE, or FOLIO_ALLOW_NO_AUTH=true when only a trusted network "
                "can reach it")
        say("note: no API keys configured (FOLIO_API_KEYS): no authentication, one tenant"
            + (", loopback only" if is_loopback(host) else f", listening on {host} (FOLIO_ALLOW_NO_AUTH)"))
    else:
        say(f"access: API keys for {len(keys.tenants)} tenant(s)")
    with ExitStack() as stack:
        if simulated_model or settings.simulated_model:
            from folio.service.simulated import SIMULATED_NOTICE, run_simulated_model

            settings, double_url = stack.enter_context(run_simulated_model(settings))
            say(f"{SIMULATED_NOTICE} (provider double on {double_url})")
        elif not settings.llm_configured:
            say("note: no language model configured (FOLIO_LLM_API_KEY / FOLIO_LLM_BASE_URL): questions "
                "return the plan and the retrieved pages only")
        pricing = choose_profile(settings)  # the simulated model's settings name their own profile
        say(f"prices: {pricing.profile.name}, as of {pricing.profile.as_of.isoformat()} ({pricing.reason})")
        say(f"Folio on http://{host}:{port}/  (API docs: /docs; vectors: {settings.index_location}; "
            f"records: {records})"
            + ("  [SIMULATED MODEL]" if settings.simulated_model else ""))
        try:
            uvicorn.run(create_app(settings), host=host, port=port, log_level="info", log_config=None,
                        access_log=False)
        except Exception as exc:  # e.g. the store is locked: uvicorn reports lifespan failures as exceptions
            from folio.errors import FolioError

            if isinstance(exc, FolioError):
                click.echo(f"folio: error: {exc} [{exc.code}]", err=True)
                sys.exit(1)
            raise


def _records_database(settings: Settings, say: Callable[[str], None]) -> str:
    """Where the records live, checked before the service starts: a URL that names no usable database stops the
    start (``DatabaseConfigError``, naming FOLIO_DATABASE_URL); a database that cannot be reached yet does not."""
    from folio.errors import DatabaseUnavailable
    from folio.records.database import Database

    database = Database.from_settings(settings)
    try:
        database.check()
    except DatabaseUnavailable as exc:
        say(f"note: {exc.message}; the service starts and /readyz reports ready once it can be used")
    finally:
        database.close()
    return database.where


def _safe(text: str) -> str:
    """Text from documents or the model, fit for a terminal line by line (``terminal_safe``: no escape codes, no
    bidi overrides), its line breaks kept."""
    return "\n".join(terminal_safe(line) for line in str(text).split("\n"))


def _print_coverage(report: CoverageReport) -> None:
    """The coverage report: pages read, windows that found nothing or failed, cache hits and the bill per window."""
    click.echo(f"coverage: {report.pages_sent:,} of {report.pages_in_scope:,} pages read "
               f"({report.pages_sent_percent}%) in {report.windows_read} of {report.windows} windows; "
               f"cache hits {report.cache_hit_tokens:,} tokens"
               + (f" ({report.cache_hit_ratio:.0%})" if report.cache_hit_ratio is not None else ""))
    nothing = report.windows_found_nothing
    if nothing:
        click.echo(f"  nothing relevant in window(s) {', '.join(str(n) for n in nothing)}")
    for failed in report.windows_failed:
        click.echo(f"  window {failed.window} FAILED after {failed.attempts} attempt(s): {_safe(str(failed.error))}")
    for doc in report.documents_left_out:
        click.echo(f"  not covered: {_safe(doc.title)} ({doc.pages_left_out} of {doc.pages} pages: {doc.ranges})")
    for w in report.per_window:
        docs = ", ".join(f"{_safe(d.title)} pp.{d.pages}" for d in w.documents)
        ratio = f"{w.cache_hit_ratio:.0%}" if w.cache_hit_ratio is not None else "-"
        click.echo(f"  window {w.window}/{w.of}: {w.status:<8} {w.tokens:>9,} tokens  hits {ratio:>4}  "
                   f"${w.dollars:.5f}  {docs}")
    reduce = report.reduce
    click.echo(f"  reduce: {reduce.calls} call(s) in {reduce.rounds} round(s), ${reduce.dollars:.5f}; "
               f"total ${report.dollars:.5f} (estimated ${report.estimated_dollars:.5f})")


def _print_answer(result: Answer) -> None:
    plan = result.plan
    if result.summary:  # the plain sentence first; the numbers under it
        click.echo(_safe(result.summary))
    click.echo(f"route: {result.route}  ({_safe(result.reason)})")
    rag, full, coverage = plan.estimates.rag, plan.estimates.full, plan.estimates.coverage
    windows = plan.coverage.windows if plan.coverage else None
    click.echo(f"estimates: rag ${rag.dollars:.5f} · full ${full.dollars:.5f}"
               + ("" if full.feasible else " (does not fit)")
               + (f" · coverage ${coverage.dollars:.5f} ({windows} window{'s' if windows != 1 else ''})"
                  if coverage else ""))
    for note in plan.notes:
        click.echo(f"note: {_safe(note)}")
    for event in result.events:
        click.echo(f"{event.kind}: {_safe(event.reason)}")
    if result.answer is None:
        click.echo("")
        click.echo(_safe(result.message or ""))
        click.echo("\nretrieved:")
        for hit in result.retrieved[:5]:
            click.echo(_safe(f"  [{hit.title} p.{hit.first_page + 1}] {' '.join(hit.text.split())[:160]}"))
        return
    click.echo("")
    click.echo(_safe(result.answer))
    click.echo("")
    if result.coverage:
        _print_coverage(result.coverage)
    usage, cost = result.usage or Usage(), result.cost
    click.echo(f"tokens: {usage.hit_tokens:,} cache hit · {usage.miss_tokens:,} miss · "
               f"{usage.output_tokens:,} output"
               + (f"   cost: ${cost.dollars:.5f} (estimated ${cost.estimated_dollars:.5f}, {cost.profile})"
                  if cost else ""))
    for c in result.citations:
        click.echo(citation_line(c))


def citation_line(c: Citation) -> str:
    """``  [Title p.N] verified`` (or ``NOT verified``, ``no quote``), with the check's note."""
    mark = {True: "verified", False: "NOT verified", None: "no quote"}[c.verified]
    return _safe(f"  {c.label} {mark}{' - ' + c.note if c.note else ''}")


@click.command()
@click.argument("question")
@click.option("--doc", "doc_ids", multiple=True, help="Restrict the scope to this document (repeatable).")
@click.option("--collection", metavar="NAME", default=None,
              help="Scope the question to this collection (name or id): its documents in the order they joined.")
@click.option("--mode", type=click.Choice(["auto", "rag", "full", "coverage"]), default="auto", show_default=True,
              help="coverage: every page of a scope larger than the context, in cached windows (map-reduce).")
@click.option("--reasoning", type=click.Choice(["none", "high", "max"]), default="none", show_default=True)
@click.option("--max-cost", "max_cost", type=click.FloatRange(min=0), default=None,
              help="A hard cap for this question in USD, whatever the mode: over it the question is refused "
              "(over_budget) before anything is spent.")
@click.option("--fallback", is_flag=True, help="Over --max-cost, answer by retrieval (when within it) instead.")
@click.option("--cascade", is_flag=True, help="Self-Route: retrieval first, whole documents if it cannot answer.")
@click.option("--conversation", "conversation_id", metavar="ID", default=None,
              help="Ask it as the next turn of this conversation (`folio chat` prints its id): the earlier turns "
              "are in the prompt, the scope is the conversation's. --json: the turn's result.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def ask(ctx: click.Context, question: str, doc_ids: tuple[str, ...], collection: str | None, mode: str,
        reasoning: str, max_cost: float | None, fallback: bool, cascade: bool, conversation_id: str | None,
        as_json: bool) -> None:
    """Ask a question of the indexed documents; prints the answer, route, cost and citations.

    \b
    Examples:
      folio ask "What is the liability cap?"
      folio ask "Compare the termination rights in these contracts" --mode full --json
      folio ask "List every termination right in these contracts" --mode coverage --max-cost 1.50
      folio --server http://folio.internal:8000 ask "What is the liability cap?"
      folio ask --conversation 0f6a2d... "And which courts hear disputes?"   # a chat's next turn
    """
    if conversation_id is not None:
        if doc_ids or collection:
            raise click.UsageError("--doc or --collection and --conversation exclude each other: a conversation "
                                   "asks about its own scope (change it with folio chat's /scope)")
        from folio.service.chat_cli import ask_in_conversation
        from folio.service.schemas.conversations import TurnRequest

        turn = TurnRequest(question=question, mode=mode, reasoning=reasoning,  # type: ignore[arg-type]
                           max_cost_usd=max_cost, fallback=fallback, cascade=cascade)
        ask_in_conversation(ctx, conversation_id, turn, as_json=as_json)
        return
    remote = remote_server(ctx)
    notice: str | None = None
    if remote is not None:  # folio --server URL ask ...: the server's POST /v1/query
        with remote:
            result = Answer.model_validate(remote.query({
                "question": question, "documents": list(doc_ids) or None, "collection": collection, "mode": mode,
                "reasoning": reasoning,
                "max_cost_usd": max_cost, "fallback": fallback, "cascade": cascade}))
            notice = remote.info().get("simulated_notice")  # a demo server's answers say they are simulated
    else:
        from folio.service.answer import QueryRequest
        from folio.service.runtime import build_runtime

        runtime = build_runtime(_settings(ctx))
        try:
            request = QueryRequest(question=question, documents=list(doc_ids) or None, collection=collection,
                                   mode=mode, reasoning=reasoning,  # type: ignore[arg-type]
                                   max_cost_usd=max_cost, fallback=fallback, cascade=cascade)
            result = runtime.answerer.answer(request)
        finally:
            runtime.close()
    if as_json:
        click.echo(json.dumps(result.model_dump(mode="json", by_alias=True), indent=2))
    else:
        _print_answer(result)
    if notice:
        click.echo(f"note: {notice}", err=True)
