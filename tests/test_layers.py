"""The packages form layers, and imports point down them only (lazy imports inside functions included):
``folio`` (config, errors) <- ``folio.ingest`` <- ``folio.service`` <- ``folio.evaluation`` <- ``folio.cli``;
``folio.testing`` (the provider double) may use ``folio.ingest`` and nothing above it. No package imports pytest
or the ``tests/`` folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = {"folio.config", "folio.errors"}
ALLOWED = {
    "ingest": BASE | {"folio.ingest"},
    "testing": BASE | {"folio.ingest", "folio.testing"},
    "service": BASE | {"folio.ingest", "folio.testing", "folio.service"},
    "evaluation": BASE | {"folio.ingest", "folio.testing", "folio.service", "folio.evaluation"},
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


def _within(name: str, allowed: set[str]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def _refused(name: str, package: str) -> bool:
    if name.partition(".")[0] in ("tests", "pytest", "_pytest"):
        return True
    return (name == "folio" or name.startswith("folio.")) and not _within(name, ALLOWED[package])


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    wrong = {f"{path.relative_to(ROOT)}: {name}" for path in files for name in imported(path)
             if _refused(name, package)}
    assert not wrong, sorted(wrong)


def test_config_and_errors_import_no_package_of_folio():
    for path in (ROOT / "folio" / "config.py", ROOT / "folio" / "errors.py", ROOT / "folio" / "__init__.py"):
        assert not {n for n in imported(path) if n.startswith("folio.") and n not in BASE}, path
