"""The ``folio`` console script: one command group, composed here at the top of the layers.

The group and its options (``--data-dir``, ``--server``, ``--version``) are ``folio.ingest.cli``'s, with the
ingestion commands (``ingest``, ``documents``, ``show``, ``search``, ``delete``; ``collections`` and ``compact`` in
modules of their own); the service adds ``serve`` and ``ask`` (``folio.service.cli``) and ``chat``
(``folio.service.chat_cli``), the evaluation ``eval`` (``folio.evaluation.command``). Each layer imports only the
ones below it, so only this module sees them all::

    folio (config, errors) <- folio.ingest <- folio.service <- folio.evaluation <- folio.cli

Run it as ``folio`` (``[project.scripts]``) or ``python -m folio.cli``.
"""

from __future__ import annotations

from folio.evaluation.command import eval_command
from folio.ingest.cli import cli
from folio.ingest.collections_cli import collections
from folio.ingest.compact_cli import compact
from folio.service.chat_cli import chat
from folio.service.cli import ask, serve

for command in (collections, compact, serve, ask, chat, eval_command):
    cli.add_command(command)

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="folio")


if __name__ == "__main__":
    main()
