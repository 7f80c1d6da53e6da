"""``folio eval``: retrieval quality and routing economics on ../shared/data, written to bench/results/."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from folio.evaluation.data import ALL_PARTS, ALL_SETS, data_root

EXAMPLES = """
\b
Examples:
  folio eval                                   # everything (an hour or more on 2 cores the first time)
  folio eval --quick                           # CI's quick evaluation: 4 small contracts of cuad-dev
  folio eval --sets cuad --parts retrieval     # recall@k on cuad-dev, every configuration
  folio eval --parts routing --sessions 3      # the routing replay, 3 sessions per scope
"""


def _split(value: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [v for v in items if v not in allowed]
    if unknown or not items:
        raise click.BadParameter(f"choose {what} from {', '.join(allowed)} (comma-separated)")
    return items


@click.command("eval", epilog=EXAMPLES)
@click.option("--sets", default=",".join(ALL_SETS), show_default=True, help="Comma-separated evaluation sets.")
@click.option("--parts", default=",".join(ALL_PARTS), show_default=True, help="retrieval, routing, or both.")
@click.option("--quick", is_flag=True, help="A fixed subset of cuad-dev (4 contracts), default configuration only, "
              "no baseline; what CI runs.")
@click.option("--configs", type=click.Choice(["all", "default", "levers"]), default="all", show_default=True,
              help="all: also cuad-dev's chunk-size and no-heading variants (one embedding pass each); levers: "
              "only the default and each retrieval lever turned off (cached indexes, minutes).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="The plain llama-index VectorStoreIndex baseline (needs the bench extra).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where the JSON, Markdown and PNG files go (default: bench/results).")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path), default=None,
              help="Indexes and the embedding cache, reused across runs (default: bench/.cache/eval).")
@click.option("--data", "data", type=click.Path(path_type=Path), default=None,
              help="The folder holding cuad-dev/, financebench-dev/ and sec10q/ (default: ../shared/data or "
              "$FOLIO_EVAL_DATA).")
@click.option("--sessions", type=click.IntRange(min=1), default=None, help="At most N sessions per routing scope.")
@click.option("--per-session", type=click.IntRange(min=1), default=None, help="At most N questions per session.")
@click.option("--max-pages", default="", help="Only documents of at most N pages, and the questions on them alone "
              "(a shorter run; the report says so): N for every set, or SET=N,SET=N.")
@click.option("--tag", default="", help="Suffix of the output files' names.")
@click.option("--embed-backend", type=click.Choice(["torch", "onnx"]), default="onnx", show_default=True,
              help="The encoder: the int8 ONNX export (what FOLIO_EMBED_BACKEND=auto takes on a CPU), or torch fp32; "
              "each builds and caches indexes of its own.")
def eval_command(sets: str, parts: str, quick: bool, configs: str, baseline: bool, out_dir: Path | None,
                 cache_dir: Path | None, data: Path | None, sessions: int | None, per_session: int | None,
                 max_pages: str, tag: str, embed_backend: str) -> None:
    """Evaluate retrieval (recall@k, MRR) and routing (dollars, evidence coverage, cache hits) on real data.

    Writes eval-DATE[-quick][-TAG].json, .md and PNG plots. Exit code 1 when the data or a needed extra is missing.
    """
    from folio.evaluation.evaluate import EvalOptions, Evaluation

    root = data_root(data)
    if not root.is_dir():
        click.echo(f"folio: error: no evaluation data at {root} (give --data or set FOLIO_EVAL_DATA)", err=True)
        sys.exit(1)
    options = EvalOptions(sets=_split(sets, ALL_SETS, "sets"), parts=_split(parts, ALL_PARTS, "parts"), quick=quick,
                          configs=configs, baseline=baseline, data=root, sessions=sessions, per_session=per_session,
                          max_pages=_max_pages(max_pages, sets),
                          tag=tag, embed_backend=embed_backend, log=lambda message: click.echo(message, err=True))
    if out_dir is not None:
        options.out_dir = out_dir
    if cache_dir is not None:
        options.cache_dir = cache_dir
    report, written = Evaluation(options).run()
    for target in report["targets"]:
        click.echo(f"{'met ' if target['met'] else 'MISS'}  {target['target']}: {target['measured']}")
    for path in written:
        click.echo(f"wrote {path}")


def _max_pages(value: str, sets: str) -> dict[str, int]:
    """``--max-pages``: "N" (every set) or "SET=N,SET=N"."""
    if not value.strip():
        return {}
    try:
        if "=" not in value:
            return dict.fromkeys(_split(sets, ALL_SETS, "sets"), int(value))
        pairs = (item.split("=", 1) for item in value.split(",") if item.strip())
        return {name.strip(): int(n) for name, n in pairs}
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: give N or SET=N,SET=N with whole numbers", param_hint="--max-pages") \
            from exc
