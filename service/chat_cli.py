"""``folio chat``: a conversation in the terminal, and ``folio ask --conversation ID``: one more turn of one.

Both work on the local index (the runtime's ``Conversations``) or, with ``folio --server URL``, through the REST
API (``/v1/conversations``). Either way a ``Conversations`` client below does the work and the command prints:

- each answer (streamed as it comes), one line with the route, the turn's dollars and the prompt tokens read
  from the provider's cache, then the citations, verified or not;
- commands: ``/new``, ``/scope ID ... | all``, ``/cost``, ``/help``, ``/exit`` (or Ctrl-D);
- an error as one line on stderr (``folio: error: ... [code]``): before the first question it ends the command
  with exit code 1, as every ``folio`` command does; during the chat the loop goes on.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from folio.errors import FolioError
from folio.ingest.cli import handles_errors
from folio.ingest.progress import plural, terminal_safe
from folio.service.chat_clients import Conversations, LocalConversations, opened
from folio.service.cli import _print_answer, _safe, citation_line
from folio.service.schemas.answer import Answer
from folio.service.schemas.conversations import (
    ConversationSummary,
    TurnRequest,
)

logger = logging.getLogger("folio.cli")

if TYPE_CHECKING:
    pass

PROMPT = "folio> "
HELP = """\
Type a question and press Enter; each follows the earlier ones (they are in its prompt, read from the cache).
  /new              a new conversation over the same documents
  /scope ID ...     ask about these documents from now on (ids or unique prefixes); /scope all: every document
  /cost             this conversation's turns and dollars, and what the ledger billed to it
  /help             this help
  /exit, Ctrl-D     leave (the conversation's id is printed, to continue it with --conversation)"""
HINTS = {
    "scope_empty": "; here: /scope ID ... or /scope all",
    "conversation_not_found": "; /new starts another",
    "conversation_busy": "; another turn of it is being answered, ask again when it is done",
}


def _error_line(exc: Exception) -> str:
    if isinstance(exc, FolioError):
        return f"folio: error: {terminal_safe(str(exc))} [{exc.code}]{HINTS.get(exc.code, '')}"
    assert isinstance(exc, ValidationError)
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return f"folio: error: {terminal_safe(problems)} [invalid_request]"


def status_line(answer: Answer) -> str:
    """``full · $0.00123 · 4,096 of 4,200 prompt tokens from the cache``."""
    parts: list[str] = [answer.route]
    if answer.cost is not None:
        parts.append(f"${answer.cost.dollars:.5f}")
    if answer.usage is not None:
        hit = answer.usage.hit_tokens
        parts.append(f"{hit:,} of {hit + answer.usage.miss_tokens:,} prompt tokens from the cache")
    return " · ".join(parts)


def scope_words(summary: ConversationSummary) -> str:
    if summary.scope == "all":
        return f"all documents ({len(summary.documents)} now)"
    if summary.collection is not None:
        return (f"collection {_safe(summary.collection.name)!r} ({plural(len(summary.documents), 'document')} now; "
                "documents added to it join the conversation)")
    titles = ", ".join(_safe(d.title) + (" (deleted)" if d.deleted else "") for d in summary.documents)
    return f"{plural(len(summary.documents), 'document')}: {titles}"


class TurnPrinter:
    """Prints a turn as it comes: the answer's deltas, an escalation between them, then what the result adds."""

    def __init__(self) -> None:
        self.text = ""  # the answer streamed since the last restart (a cascade escalating starts another)
        self.shown: set[str] = set()  # the events already printed

    def event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "delta":
            text = str(data.get("text") or "")
            self.text += text
            click.echo(_safe(text), nl=False)
        elif kind == "escalation":
            self.end_line()
            reason = str(data.get("reason") or "")
            click.echo(f"{kind}: {_safe(reason)}")
            self.shown.add(reason)
            self.text = ""

    def end_line(self) -> None:
        """A line break after a streamed answer that did not end with one."""
        if self.text and not self.text.endswith("\n"):
            click.echo("")

    def finish(self, answer: Answer) -> None:
        if answer.answer is None:  # no model configured: the plan, the retrieved pages and how to add a model
            self.end_line()
            _print_answer(answer)
            return
        self.end_line()
        if self.text.strip() != answer.answer.strip():  # not streamed, or not all of it (the answer is the truth)
            click.echo(_safe(answer.answer))
        click.echo(status_line(answer))
        for citation in answer.citations:
            click.echo(citation_line(citation))
        for e in answer.events:
            if e.reason not in self.shown:
                click.echo(f"  {e.kind}: {_safe(e.reason)}")


class ChatSession:
    def __init__(self, conversations: Conversations, summary: ConversationSummary, *, mode: str,
                 reasoning: str, max_cost: float | None, tty: bool) -> None:
        self.conversations = conversations
        self.summary = summary
        self.options: dict[str, Any] = {"mode": mode, "reasoning": reasoning, "max_cost_usd": max_cost}
        self.tty = tty

    @property
    def id(self) -> str:
        return self.summary.id

    def scope(self) -> list[str] | None:
        if self.summary.scope == "all":
            return None
        return [d.id for d in self.summary.documents if not d.deleted]

    def run(self) -> None:
        if self.tty:
            with suppress(ImportError):
                import readline  # noqa: F401  (line editing and history for input())
            how = "continuing" if self.summary.turns else "new"
            click.echo(f"{how} conversation {self.id} over {scope_words(self.summary)}; /help for commands, "
                       "Ctrl-D to leave")
        while (line := self.read()) is not None:
            try:
                if not self.handle(line.strip()):
                    break
            except KeyboardInterrupt:  # Ctrl-C stops the turn (the local one is not recorded), not the chat
                click.echo("\ninterrupted" + ("; this turn was not recorded" if isinstance(
                    self.conversations, LocalConversations) else "; the server may still finish and record this turn"),
                    err=True)
            except (FolioError, ValidationError) as exc:
                click.echo(_error_line(exc), err=True)
            except Exception as exc:  # a bug: one line all the same, the traceback in the log (FOLIO_LOG_LEVEL)
                logger.debug("the chat's line %r failed", line, exc_info=True)
                click.echo(f"folio: error: {terminal_safe(f'{type(exc).__name__}: {exc}')} [internal_error]",
                           err=True)
        self.leave()

    def read(self) -> str | None:
        if not self.tty:
            try:
                line = sys.stdin.readline()
            except KeyboardInterrupt:
                return None
            return line if line else None
        while True:
            try:
                return input(PROMPT)
            except EOFError:
                click.echo("")
                return None
            except KeyboardInterrupt:
                click.echo("\n(Ctrl-D or /exit leaves)")

    def handle(self, line: str) -> bool:
        """Answer one line; False: leave."""
        if not line:
            return True
        if not line.startswith("/"):
            self.ask(line)
            return True
        command, *args = line.split()
        if command in ("/exit", "/quit"):
            return False
        if command == "/help":
            click.echo(HELP)
        elif command == "/new":
            self.new()
        elif command == "/scope":
            self.rescope(args)
        elif command == "/cost":
            self.cost()
        else:
            click.echo(f"unknown command {terminal_safe(command)}; /help lists them", err=True)
        return True

    def ask(self, question: str) -> None:
        request = TurnRequest(question=question, stream=True, **self.options)
        printer = TurnPrinter()
        try:
            result = self.conversations.ask(self.id, request, printer.event)
        except BaseException:
            printer.end_line()
            raise
        printer.finish(result.answer)
        self.summary = result.conversation
        click.echo("")

    def new(self) -> None:
        scope = self.scope()
        if scope == []:
            click.echo("folio: error: none of this conversation's documents is left; /scope ID ... or /scope all "
                       "first", err=True)
            return
        previous = self.summary
        followed = previous.collection.id if previous.collection is not None else None
        self.summary = self.conversations.create(None if followed else scope, followed)
        click.echo(f"new conversation {self.id} over {scope_words(self.summary)} (the last one: {previous.id}, "
                   f"{plural(previous.turns, 'turn')})")

    def rescope(self, args: list[str]) -> None:
        if not args:
            click.echo(f"scope: {scope_words(self.summary)}\nchange it with /scope ID ... or /scope all")
            return
        documents = None if args == ["all"] else args
        self.summary, cache = self.conversations.rescope(self.id, documents)
        click.echo(f"scope: {scope_words(self.summary)}")
        click.echo(f"cache: {cache}")

    def cost(self) -> None:
        detail = self.conversations.detail(self.id)
        click.echo(f"conversation {self.id}: {plural(detail.turns, 'turn')}, ${detail.dollars:.5f}")
        for turn in detail.history:
            question = " ".join(turn.question.split())
            click.echo(f"  turn {turn.n}  {turn.answer.route:<8} ${turn.dollars:.5f}  "
                       f"{terminal_safe(question[:70])}{'...' if len(question) > 70 else ''}")
        dollars, requests = self.conversations.ledger(self.id)
        click.echo(f"ledger: ${dollars:.5f} in {plural(requests, 'request')} billed to this conversation")

    def leave(self) -> None:
        click.echo(f"conversation {self.id} ({plural(self.summary.turns, 'turn')}, ${self.summary.dollars:.5f}); "
                   f"continue it with: folio chat --conversation {self.id}")


@click.command()
@click.option("--doc", "doc_ids", multiple=True,
              help="Ask about this document (id or unique prefix; repeatable). Default: every document.")
@click.option("--collection", metavar="NAME", default=None,
              help="Ask about this collection (name or id); documents added to it later join the conversation.")
@click.option("--mode", type=click.Choice(["auto", "rag", "full", "coverage"]), default="auto", show_default=True)
@click.option("--reasoning", type=click.Choice(["none", "high", "max"]), default="none", show_default=True)
@click.option("--max-cost", "max_cost", type=click.FloatRange(min=0), default=None,
              help="A hard cap in USD on each turn: a turn over it is refused before anything is spent.")
@click.option("--conversation", "conversation_id", metavar="ID", default=None,
              help="Continue this conversation (the id `folio chat` printed) instead of starting one.")
@click.pass_context
@handles_errors
def chat(ctx: click.Context, doc_ids: tuple[str, ...], collection: str | None, mode: str, reasoning: str,
         max_cost: float | None, conversation_id: str | None) -> None:
    """Talk with the documents: a conversation, one question per line, each with the earlier ones in its prompt.

    Each answer is followed by its route, dollars and prompt tokens read from the cache, then its citations.
    Commands: /new, /scope ID ... (or /scope all), /cost, /help, /exit (or Ctrl-D).

    \b
    Examples:
      folio chat
      folio chat --doc 3f9a2c1b --doc 7c01de55 --mode full
      folio chat --conversation 0f6a2d...   # continue it
      printf 'Who are the parties?\\nAnd the governing law?\\n' | folio chat
    """
    if conversation_id and (doc_ids or collection):
        raise click.UsageError("--doc and --collection start a conversation over those documents; a continued one "
                               "keeps its scope (change it with /scope)")
    with opened(ctx) as conversations:
        if conversation_id:
            summary = conversations.summary(conversation_id)
        else:
            summary = conversations.create(list(doc_ids) or None, collection)
        if conversations.notice:
            click.echo(f"note: {conversations.notice}", err=True)
        ChatSession(conversations, summary, mode=mode, reasoning=reasoning, max_cost=max_cost,
                    tty=sys.stdin.isatty()).run()


def ask_in_conversation(ctx: click.Context, conversation_id: str, request: TurnRequest, *, as_json: bool) -> None:
    """``folio ask --conversation ID``: the conversation's next turn, printed as ``folio ask`` prints an answer,
    after a line with the turn's number (``--json``: the ``TurnResult``)."""
    with opened(ctx) as conversations:
        result = conversations.ask(conversation_id, request, lambda kind, data: None)
        notice = conversations.notice
    if as_json:
        click.echo(json.dumps(result.model_dump(mode="json", by_alias=True), indent=2))
    else:
        click.echo(f"conversation {result.conversation_id}: turn {result.turn}"
                   + ("" if result.recorded else " (not recorded)"))
        _print_answer(result.answer)
    if notice:
        click.echo(f"note: {notice}", err=True)
