"""One error tree in one module (folio/errors.py), mapped to HTTP by code whatever has been imported."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import folio
from folio.errors import FolioError


def _all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def test_every_error_class_is_in_the_one_module():
    for module in pkgutil.walk_packages(folio.__path__, "folio."):
        if module.name.startswith("folio.testing") or module.name == "folio.cli":
            continue
        if module.name == "folio.records.migrations.env":  # Alembic's script, run by Alembic with its context
            continue
        importlib.import_module(module.name)
    outside = {f"{c.__module__}.{c.__name__}" for c in _all_subclasses(FolioError) if c.__module__ != "folio.errors"}
    # RemoteError carries the code a running service answered with: a transport of the tree, not a member
    assert outside == {"folio.ingest.remote.RemoteError"}


def test_status_by_code_does_not_depend_on_what_was_imported():
    probe = ("from folio.errors import http_status_for as s; "
             "print(s('question_too_long'), s('too_many_files'), s('document_conflict'), s('store_locked'), "
             "s('provider_rate_limited'), s('no_such_code'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["413", "413", "409", "503", "429", "500"]
