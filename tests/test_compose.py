"""The deployment files, checked without a Docker engine: docker-compose.yml by a real compose implementation
(Debian's ``docker-compose config`` validates and interpolates it), the Dockerfile, nginx.conf and the env
example by reading them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from folio.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_FILES = ("docker-compose.yml", "Dockerfile", ".dockerignore", "deploy/nginx.conf", "folio.env.example")
KEY = "test-qdrant-key-0123456789"
PASSWORD = "0123456789abcdef0123456789abcdef"  # as `openssl rand -hex 16` makes one
DATABASE_URL = f"postgresql+psycopg://folio:{PASSWORD}@postgres:5432/folio"


def _compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: .ci/run installs it (apt-get install docker-compose)")
        pytest.skip("docker-compose not installed")
    return exe


@pytest.fixture
def project(tmp_path) -> Path:
    """The deployment files as a user has them after ``cp folio.env.example .env`` (the secrets still empty)."""
    for name in DEPLOY_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "folio.env.example", tmp_path / ".env")
    return tmp_path


def _config(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FOLIO_", "QDRANT_", "POSTGRES_", "COMPOSE_"))}
    clean.update(env or {})
    return subprocess.run([_compose(), *args, "config"], capture_output=True, text=True, timeout=120, cwd=project,
                          env=clean)


def _set_key(project: Path, key: str | None = KEY, password: str | None = PASSWORD) -> None:
    """Fills in .env's required section: the Qdrant key and the PostgreSQL password (None: left empty)."""
    text = (project / ".env").read_text()
    if key is not None:
        text = text.replace("\nQDRANT_API_KEY=\n", f"\nQDRANT_API_KEY={key}\n")
    if password is not None:
        text = text.replace("\nPOSTGRES_PASSWORD=\n", f"\nPOSTGRES_PASSWORD={password}\n")
    (project / ".env").write_text(text)


def _services(project: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    result = _config(project, *args, env=env)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout)["services"])


def test_secrets_are_required(project):
    assert _config(project).returncode != 0  # as copied: both empty
    _set_key(project, key=None)
    refused = _config(project)
    assert refused.returncode != 0
    assert "QDRANT_API_KEY is not set; cp folio.env.example .env and set it" in refused.stderr
    (project / ".env").unlink()
    assert _config(project).returncode != 0  # no .env at all: refused too
    # from the shell instead of .env: interpolation works, and the env_file is still wanted
    from_shell = _config(project, env={"QDRANT_API_KEY": KEY, "POSTGRES_PASSWORD": PASSWORD})
    assert from_shell.returncode != 0 and ".env" in from_shell.stderr


def test_the_postgres_password_is_required(project):
    _set_key(project, password=None)
    refused = _config(project)
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD is not set; cp folio.env.example .env and set it" in refused.stderr
    # with the cluster profile too, and when set in the shell instead it is taken
    assert _config(project, "--profile", "cluster").returncode != 0
    folio = _services(project, env={"POSTGRES_PASSWORD": PASSWORD})["folio"]
    assert folio["environment"]["FOLIO_DATABASE_URL"] == DATABASE_URL


def _volumes(service: dict) -> list[str]:
    return [v.removesuffix(":rw") if isinstance(v, str) else f"{v['source']}:{v['target']}"
            for v in service["volumes"]]


def _folios(services: dict) -> dict[str, dict]:
    return {name: s for name, s in services.items() if s.get("image") == "folio:local"}


def test_one_node_qdrant_and_folio(project):
    _set_key(project)
    services = _services(project)
    qdrant, folio = services["qdrant"], services["folio"]
    assert "profiles" not in qdrant and "profiles" not in folio  # `docker compose up` starts these (and postgres)
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", qdrant["image"])
    assert qdrant["environment"]["QDRANT__SERVICE__API_KEY"] == KEY
    assert _volumes(qdrant) == ["qdrant-storage:/qdrant/storage", "qdrant-snapshots:/qdrant/snapshots"]
    assert "/readyz" in " ".join(qdrant["healthcheck"]["test"])
    assert folio["build"]["context"] == str(project) and folio["image"] == "folio:local"
    assert folio["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                   "qdrant": {"condition": "service_healthy"}}
    assert "/readyz" in " ".join(folio["healthcheck"]["test"]) and folio["healthcheck"]["start_period"]
    env = folio["environment"]
    assert env["FOLIO_QDRANT_URL"] == "http://qdrant:6333" and env["FOLIO_QDRANT_API_KEY"] == KEY
    assert env["FOLIO_LOG_FORMAT"] == "json"
    assert env["FOLIO_DATABASE_URL"] == DATABASE_URL
    assert "127.0.0.1:8000:8000" in str(folio["ports"])
    assert all("127.0.0.1" in str(p) for s in services.values() for p in s.get("ports", []))


def test_postgres_holds_the_records_for_every_folio(project):
    _set_key(project)
    services = _services(project, "--profile", "cluster")
    postgres = services["postgres"]
    assert "profiles" not in postgres  # started by the single node and by the cluster profile alike
    assert re.fullmatch(r"postgres:\d+\.\d+-bookworm", postgres["image"])  # a pinned release
    env = postgres["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"], env["POSTGRES_PASSWORD"]) == ("folio", "folio", PASSWORD)
    assert "env_file" not in postgres  # the Folio settings and the Qdrant key are not its business
    assert _volumes(postgres) == ["postgres-data:/var/lib/postgresql/data"]
    assert "postgres-data" in yaml.safe_load(_config(project).stdout)["volumes"]  # named: kept by `down`
    check = postgres["healthcheck"]["test"]
    assert check[0] == "CMD" and check[1] == "pg_isready" and " ".join(check).endswith("-U folio -d folio")
    assert all(str(p).startswith("127.0.0.1:") for p in postgres.get("ports", []))

    url = make_url(DATABASE_URL)  # the URL Folio gets names that server, role and database
    assert (url.host, url.port, url.username, url.password, url.database) == (
        "postgres", 5432, env["POSTGRES_USER"], PASSWORD, env["POSTGRES_DB"])
    assert url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg"
    folios = _folios(services)
    assert set(folios) == {"folio", "folio-1", "folio-2"}
    for folio in folios.values():
        assert folio["environment"]["FOLIO_DATABASE_URL"] == DATABASE_URL
        assert folio["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_the_cluster_entry_point_pulls_in_postgres(project):
    """``docker compose --profile cluster up folio-lb`` starts folio-lb and what it depends on, transitively."""
    _set_key(project)
    services = _services(project, "--profile", "cluster")
    started, todo = set(), ["folio-lb"]
    while todo:
        name = todo.pop()
        if name not in started:
            started.add(name)
            todo += list(services[name].get("depends_on", {}))
    assert started == {"folio-lb", "folio-1", "folio-2", "postgres", "qdrant-node1", "qdrant-node2", "qdrant-node3"}


def test_configuration_comes_from_the_env_file(project):
    _set_key(project)
    with (project / ".env").open("a") as env:
        env.write("FOLIO_LLM_API_KEY=sk-from-env-file\nFOLIO_MAX_COST_USD=0.5\nFOLIO_PORT=9000\n")
    folio = _services(project)["folio"]
    assert folio["environment"]["FOLIO_LLM_API_KEY"] == "sk-from-env-file"
    assert folio["environment"]["FOLIO_MAX_COST_USD"] == "0.5"
    assert "9000" in str(folio["ports"])


def test_cluster_profile_three_nodes_two_replicas_one_port(project):
    _set_key(project)
    services = _services(project, "--profile", "cluster")
    cluster = {name: s for name, s in services.items() if s.get("profiles") == ["cluster"]}
    assert set(cluster) == {"qdrant-node1", "qdrant-node2", "qdrant-node3", "folio-1", "folio-2", "folio-lb"}

    nodes = [cluster[f"qdrant-node{i}"] for i in (1, 2, 3)]
    assert len({n["image"] for n in nodes} | {services["qdrant"]["image"]}) == 1  # one pinned version
    for i, node in enumerate(nodes, 1):
        assert node["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert node["environment"]["QDRANT__SERVICE__API_KEY"] == KEY
        assert node["command"][-2:] == ["--uri", f"http://qdrant-node{i}:6335"]
        assert f"qdrant-node{i}-storage:/qdrant/storage" in str(node["volumes"])
        assert "/readyz" in " ".join(node["healthcheck"]["test"])
        if i > 1:
            assert node["command"][1:3] == ["--bootstrap", "http://qdrant-node1:6335"]
            assert node["depends_on"] == {"qdrant-node1": {"condition": "service_healthy"}}

    replicas = [cluster["folio-1"], cluster["folio-2"]]
    healthy_nodes = {f"qdrant-node{i}": {"condition": "service_healthy"} for i in (1, 2, 3)}
    for i, replica in enumerate(replicas, 1):
        assert replica["image"] == services["folio"]["image"] and replica["build"] == services["folio"]["build"]
        assert replica["depends_on"] == {"postgres": {"condition": "service_healthy"}, **healthy_nodes}
        env = replica["environment"]
        assert env["FOLIO_QDRANT_URL"] == f"http://qdrant-node{i}:6333" and env["FOLIO_QDRANT_API_KEY"] == KEY
        assert (env["FOLIO_QDRANT_SHARDS"], env["FOLIO_QDRANT_REPLICAS"]) == ("3", "2")
        assert "ports" not in replica  # reached only through the load balancer
        # so its X-Forwarded-For is trusted: per-address limits count each client, not the load balancer
        assert env["FORWARDED_ALLOW_IPS"] == "*"
        assert "/readyz" in " ".join(replica["healthcheck"]["test"])

    lb = cluster["folio-lb"]
    assert lb["depends_on"] == {"folio-1": {"condition": "service_healthy"},
                                "folio-2": {"condition": "service_healthy"}}
    assert str(services["folio"]["ports"]) == str(lb["ports"])  # the same port as the single Folio
    mount = lb["volumes"][0]
    source = mount["source"] if isinstance(mount, dict) else mount.split(":")[0]
    assert Path(source) == project / "deploy" / "nginx.conf"
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream folio \{(.*?)\}", conf, re.S)
    assert upstream and re.findall(r"server (folio-\d):8000", upstream.group(1)) == ["folio-1", "folio-2"]
    assert "proxy_buffering off" in conf and "X-Request-ID" in conf  # streaming, and the request id
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf  # the client's address


def test_cluster_shards_and_replicas_are_configurable(project):
    _set_key(project)
    services = _services(project, "--profile", "cluster", env={"FOLIO_QDRANT_SHARDS": "6",
                                                                "FOLIO_QDRANT_REPLICAS": "3"})
    for name in ("folio-1", "folio-2"):
        env = services[name]["environment"]
        assert (env["FOLIO_QDRANT_SHARDS"], env["FOLIO_QDRANT_REPLICAS"]) == ("6", "3")
        Settings(qdrant_shards=int(env["FOLIO_QDRANT_SHARDS"]), qdrant_replicas=int(env["FOLIO_QDRANT_REPLICAS"]))


def test_profiles_are_listed(project):
    _set_key(project)
    result = subprocess.run([_compose(), "config", "--profiles"], capture_output=True, text=True, timeout=120,
                            cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cluster"]


def _instructions(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_by_reading():
    steps = _instructions((ROOT / "Dockerfile").read_text())
    text = "\n".join(steps)
    assert steps[0].startswith("FROM python:3.11-")
    torch = next(i for i, s in enumerate(steps) if "torch==" in s)
    folio = next(i for i, s in enumerate(steps) if re.search(r"pip install (-e )?\.", s))
    assert torch < folio, "CPU torch is installed first, so Folio's dependencies do not pull a CUDA build"
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in steps[torch]
    assert "tesseract-ocr tesseract-ocr-eng" in text
    assert not re.search(r"chromium|playwright|\[test\]", text, re.I), "no browser in the service image"
    assert "resolve_model_path('all-MiniLM-L6-v2')" in text  # the bundled model loads at build time
    user = next(i for i, s in enumerate(steps) if s.startswith("USER "))
    assert steps[user] != "USER root" and user > folio
    # the int8 encoder is exported at build time into FOLIO_MODELS_DIR, so a container does not build it first
    export = next(i for i, s in enumerate(steps) if "backend='onnx'" in s)
    models = next(i for i, s in enumerate(steps) if s.startswith("ENV FOLIO_MODELS_DIR="))
    assert folio < models < export < user and "cache_dir=s.model_cache_dir" in steps[export]
    health = next(s for s in steps if s.startswith("HEALTHCHECK"))
    assert "/readyz" in health
    assert steps[-1].startswith("CMD") and '"serve", "--host", "0.0.0.0"' in steps[-1]
    assert "HF_HUB_OFFLINE=1" in text


def test_dockerignore_keeps_what_the_dockerfile_copies():
    ignore = (ROOT / ".dockerignore").read_text().split()
    kept = {line.lstrip("!").rstrip("/") for line in ignore if line.startswith("!")}
    steps = _instructions((ROOT / "Dockerfile").read_text())
    copied = {src for s in steps if s.startswith("COPY ") for src in s.split()[1:-1]}
    assert copied <= kept and "*" in ignore


def test_the_env_example_names_real_settings():
    text = (ROOT / "folio.env.example").read_text()
    names = re.findall(r"^#?\s*(FOLIO_[A-Z_]+)=", text, re.M)
    fields = {f"FOLIO_{name.upper()}" for name in Settings.model_fields}
    compose_only = {"FOLIO_PORT", "FOLIO_LOG_LEVEL"} - fields  # read by docker-compose.yml, not by Settings
    assert names and set(names) <= fields | compose_only
    assert re.search(r"^QDRANT_API_KEY=$", text, re.M)  # present, and empty: compose refuses until it is set
    assert re.search(r"^POSTGRES_PASSWORD=$", text, re.M)  # likewise
    assert not re.search(r"^FOLIO_LLM_API_KEY=", text, re.M)  # an empty key would count as a key
