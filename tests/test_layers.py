"""Imports go one way: ``folio.config`` and ``folio.errors`` <- ``folio.index``, ``folio.records`` <-
``folio.ingest``, ``folio.retrieval`` <- ``folio.service`` (folio/__init__.py). Read from the source with ``ast``,
lazy imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = {"config", "errors"}
# each stage package: the folio packages it may import besides itself and BASE
ALLOWED = {
    "index": set(),
    "records": {"index"},  # Qdrant access (connection, retry policy, schema) while records live in Qdrant
    "retrieval": {"index", "records"},
    "ingest": {"index", "records", "retrieval"},  # retrieval: only ingest/cli.py's `folio search`
}


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        found |= {name.split(".")[1] for name in names if name.startswith("folio.") and name.count(".") >= 1}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_nothing_imports_upward(package: str) -> None:
    allowed = ALLOWED[package] | BASE | {package}
    wrong = {f"{path.relative_to(ROOT)}: folio.{name}" for path in sorted((ROOT / package).rglob("*.py"))
             for name in _imported(path) - allowed}
    assert not wrong, sorted(wrong)


def test_retrieval_from_ingest_is_only_the_cli() -> None:
    users = {path.name for path in (ROOT / "ingest").rglob("*.py") if "retrieval" in _imported(path)}
    assert users <= {"cli.py"}
