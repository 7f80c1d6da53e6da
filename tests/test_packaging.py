"""The one import namespace, ``folio``, as a user installs it: the wheel, not the editable checkout.

The wheel is built from this checkout and installed, without dependencies, into a fresh virtual environment
whose only other path is the test environment's site-packages (for fastapi, torch and the rest; the editable
install's import hook there is not run, so nothing can come from the checkout by accident).
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--disable-pip-version-check", "-q", "-w", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (found,) = out.glob("folio-*.whl")
    return found


def test_the_wheel_holds_one_namespace_and_the_ui(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        links = [i.filename for i in zf.infolist() if (i.external_attr >> 16) & 0o170000 == 0o120000]
    tops = {name.split("/")[0] for name in names if not name.startswith("folio-")}
    assert tops == {"folio"}, f"only the folio namespace is installed, not {tops}"
    for expected in ("folio/__init__.py", "folio/cli.py", "folio/ingest/parse.py", "folio/service/app.py",
                     "folio/service/routes/query.py", "folio/evaluation/command.py",
                     "folio/testing/provider/server.py", "folio/ui/index.html", "folio/ui/js/main.js"):
        assert expected in names
    assert not links, "the wheel carries files, not the checkout's links"
    assert not any("/tests/" in name or name.startswith("tests/") for name in names)


def test_the_installed_wheel_imports_and_serves_its_ui(wheel: Path, tmp_path: Path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies, from the test environment: a plain path entry, so its .pth import hooks stay unread
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # no PYTHONPATH for pip either: a checkout on it (with the egg-info the wheel build leaves) reads as folio
    # already installed, and pip would skip the wheel
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOLIO_", "PYTHON"))}
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                              "--disable-pip-version-check", str(wheel)], capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    probe = (
        "import folio, folio.ingest.parse, folio.service.app as app, folio.cli, folio.testing.provider;"
        "print(folio.__file__); print(app.UI_DIR); print((app.UI_DIR / 'index.html').is_file())"
    )
    run = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    package_file, ui_dir, has_index = run.stdout.split()
    assert Path(package_file).is_relative_to(purelib), "imported from the wheel, not from the checkout"
    assert Path(ui_dir) == Path(purelib) / "folio" / "ui" and has_index == "True"
    cli = subprocess.run([str(env_dir / "bin" / "folio"), "--help"], capture_output=True, text=True,
                         cwd=tmp_path, env=env)
    assert cli.returncode == 0 and {"ingest", "serve", "ask", "eval"} <= set(cli.stdout.split()), cli.stderr[-3000:]
