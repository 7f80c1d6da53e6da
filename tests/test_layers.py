"""The packages form layers and imports point down them only, read from the source with ``ast`` (lazy imports
inside functions included)::

    folio.config, folio.errors
      <- folio.index, folio.records
      <- folio.ingest, folio.retrieval, folio.testing
      <- folio.service <- folio.evaluation <- folio.cli

No package imports pytest or the ``tests/`` folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = {"config", "errors"}
# each stage package: the folio packages it may import besides itself and BASE
ALLOWED = {
    "index": set(),
    "records": set(),
    "retrieval": {"index", "records"},
    "ingest": {"index", "records", "retrieval"},  # retrieval: only ingest/cli.py's `folio search`
    "testing": {"ingest"},  # the provider double counts tokens with DeepSeek's tokenizer
    "service": {"index", "records", "retrieval", "ingest", "testing"},  # testing: serve --simulated-model
    "evaluation": {"index", "records", "retrieval", "ingest", "testing", "service"},
}


def imported(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _folio_packages(names: set[str]) -> set[str]:
    return {name.split(".")[1] for name in names if name.startswith("folio.")}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    allowed = ALLOWED[package] | BASE | {package}
    wrong = {f"{path.relative_to(ROOT)}: folio.{name}" for path in files
             for name in _folio_packages(imported(path)) - allowed}
    wrong |= {f"{path.relative_to(ROOT)}: {name}" for path in files for name in imported(path)
              if name.partition(".")[0] in ("tests", "pytest", "_pytest")}
    assert not wrong, sorted(wrong)


def test_every_stage_package_has_its_layer():
    linked = {p.name for p in (ROOT / "folio").iterdir() if p.is_symlink() and (p / "__init__.py").exists()}
    assert linked == set(ALLOWED), "a new stage package needs its place in the layers"


def test_config_and_errors_import_no_package_of_folio():
    for path in (ROOT / "folio" / "config.py", ROOT / "folio" / "errors.py", ROOT / "folio" / "__init__.py"):
        assert not _folio_packages(imported(path)) - BASE, path


def test_retrieval_from_ingest_is_only_the_cli():
    users = {path.name for path in (ROOT / "ingest").rglob("*.py") if "retrieval" in _folio_packages(imported(path))}
    assert users <= {"cli.py"}
