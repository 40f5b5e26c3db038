"""The container stack in docker/: compose file, Dockerfile, and the CLI they start.

No Docker engine is needed. The compose file is rendered by the compose client
(`docker-compose config` or `docker compose config`, which parse and interpolate without a
daemon); the Dockerfile is checked by reading it; the image's entrypoint is checked against
the installed `fraudgraph` console script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer.core
import typer.main

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
ENV_EXAMPLE = DOCKER / ".env.example"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

SERVICES = {"neo4j", "redis", "api", "worker", "beat"}
APP_SERVICES = {"api", "worker", "beat"}
#: A password no file in the repo contains: wherever a password shows up, it must be this.
SENTINEL = "sentinel-Pw-7c1e0a9b"
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|NEO4J_AUTH", re.IGNORECASE)
INSTALL_HINT = "apt-get install -y --no-install-recommends docker-compose"


# ----------------------------------------------------------------------------- helpers


def _compose_client() -> list[str] | None:
    """`docker-compose` (v1) if on PATH, else the `docker compose` plugin (v2), else None."""
    if exe := shutil.which("docker-compose"):
        return [exe]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    return None


def _render(
    tmp_path: Path, *args: str, password: str | None = SENTINEL
) -> subprocess.CompletedProcess[str]:
    """Run `<compose> --env-file <empty> -f docker/compose.yaml config ARGS` in a clean env."""
    client = _compose_client()
    if client is None:
        pytest.skip(
            "NO COMPOSE CLIENT: docker/compose.yaml was NOT validated; neither `docker-compose` "
            f"nor `docker compose` is installed (CI: `{INSTALL_HINT}`)"
        )
    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    # Only what the client needs to run: no NEO4J_* or FRAUDGRAPH_* from the test runner.
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "DOCKER_CONFIG"}}
    if password is not None:
        env["NEO4J_PASSWORD"] = password
    return subprocess.run(
        [*client, "--env-file", str(env_file), "-f", str(COMPOSE), "config", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _service_blocks(yaml_text: str) -> dict[str, str]:
    """Split block-style YAML into {service: its indented text} under `services:`."""
    blocks: dict[str, str] = {}
    in_services = False
    current: str | None = None
    for line in yaml_text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            in_services = line.rstrip() == "services:"
            current = None
            continue
        if not in_services:
            continue
        if match := re.match(r"^  ([A-Za-z0-9_.-]+):\s*$", line):
            current = match.group(1)
            blocks[current] = ""
        elif current is not None:
            blocks[current] += line + "\n"
    return blocks


def _compose_commands() -> dict[str, list[str]]:
    """The `command:` of each app service in docker/compose.yaml (written as a JSON list)."""
    commands: dict[str, list[str]] = {}
    for name, block in _service_blocks(COMPOSE.read_text(encoding="utf-8")).items():
        if "<<: *fraudgraph-app" not in block:
            continue
        match = re.search(r"^\s+command:\s*(\[.*\])\s*$", block, re.MULTILINE)
        assert match, f"service {name}: command must be a one-line JSON list"
        commands[name] = json.loads(match.group(1))
    return commands


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Dockerfile instructions (continuations joined, comments dropped), one list per stage.

    Stage 0 holds the instructions before the first FROM (global ARGs).
    """
    logical: list[str] = []
    buffer = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    assert not buffer, "Dockerfile ends inside a line continuation"
    stages: list[list[tuple[str, str]]] = [[]]
    for line in logical:
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), rest.strip()))
    return stages


def _args(stage: list[tuple[str, str]]) -> dict[str, str]:
    """ARG name -> default value ('' when it has none) in one stage."""
    out: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            out[name.strip()] = default.strip().strip('"')
    return out


def _env_example_keys() -> dict[str, str]:
    """Variables in docker/.env.example, set (`K=v`) or shown commented (`# K=v`)."""
    keys: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip()):
            keys.setdefault(match.group(1), match.group(2))
    return keys


def _compose_variables() -> set[str]:
    """Variables docker/compose.yaml interpolates (`$${...}` is the container's, not ours)."""
    text = COMPOSE.read_text(encoding="utf-8")
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


# ------------------------------------------------------------------------ compose file


def test_compose_renders_the_five_services(tmp_path: Path) -> None:
    """The compose client accepts docker/compose.yaml and finds exactly the five services."""
    result = _render(tmp_path, "--services")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == SERVICES


def test_compose_refuses_to_render_without_neo4j_password(tmp_path: Path) -> None:
    """NEO4J_PASSWORD has no default: rendering without it fails and names the variable."""
    result = _render(tmp_path, password=None)
    assert result.returncode != 0
    assert "NEO4J_PASSWORD" in result.stdout + result.stderr


def test_compose_rendered_config_has_gds_memory_healthchecks_and_ordering(
    tmp_path: Path,
) -> None:
    """Neo4j has GDS + memory settings; neo4j/redis/api have healthchecks; apps wait on both."""
    result = _render(tmp_path)
    assert result.returncode == 0, result.stderr
    blocks = _service_blocks(result.stdout)
    assert set(blocks) == SERVICES

    neo4j = blocks["neo4j"]
    assert re.search(r"image: neo4j:5\.26", neo4j)
    assert re.search(r"NEO4J_PLUGINS: .*graph-data-science", neo4j)
    assert re.search(r"NEO4J_dbms_security_procedures_unrestricted: .*gds\.\*", neo4j)
    for setting in (
        "server_memory_heap_initial__size",
        "server_memory_heap_max__size",
        "server_memory_pagecache_size",
    ):
        assert f"NEO4J_{setting}:" in neo4j, setting
    assert "gds.version()" in neo4j, "neo4j healthcheck must prove GDS is loaded"

    for name in ("neo4j", "redis", "api"):
        assert "healthcheck:" in blocks[name], name
        assert "NONE" not in blocks[name] and "disable: true" not in blocks[name], name
    assert "appendonly" in blocks["redis"]

    for name in APP_SERVICES:
        block = blocks[name]
        assert "dockerfile: docker/Dockerfile" in block, name
        assert re.search(r"^\s+image: fraudgraph:local$", block, re.MULTILINE), name
        assert block.count("condition: service_healthy") == 2, name
        assert "restart: unless-stopped" in block, name
        assert re.search(r"^\s+memory: \S+", block, re.MULTILINE), f"{name}: memory limit"
        assert "FRAUDGRAPH_BACKEND: neo4j" in block, name
        assert "FRAUDGRAPH_NEO4J_URI: bolt://neo4j:7687" in block, name
        assert "FRAUDGRAPH_REDIS_URL: redis://redis:6379/0" in block, name
        assert "FRAUDGRAPH_ENVIRONMENT: production" in block, name


def test_api_reads_hashed_keys_from_a_secret_and_features_from_redis(tmp_path: Path) -> None:
    """The api gets its key hashes as a mounted secret and serves the Redis feature snapshot."""
    result = _render(tmp_path)
    assert result.returncode == 0, result.stderr
    api = _service_blocks(result.stdout)["api"]
    assert "FRAUDGRAPH_API_KEYS_FILE: /run/secrets/fraudgraph_api_keys" in api
    assert "FRAUDGRAPH_API_FEATURE_CACHE: redis" in api
    assert re.search(r"^\s+secrets:\n\s+- source: fraudgraph_api_keys$", api, re.MULTILINE)
    assert "FRAUDGRAPH_BACKEND: neo4j" in api  # the shared environment is kept
    top_level = result.stdout.split("\nservices:", 1)[0]
    assert "fraudgraph_api_keys:" in top_level and "api-keys.json" in top_level


def test_compose_takes_every_secret_from_the_environment(tmp_path: Path) -> None:
    """No service hard-codes a password: every secret-looking value is the injected one."""
    result = _render(tmp_path)
    assert result.returncode == 0, result.stderr
    secret_lines = 0
    for name, block in _service_blocks(result.stdout).items():
        for key, value in re.findall(r"^\s+([A-Za-z0-9_]+):[ \t]*(.*)$", block, re.MULTILINE):
            mounted = key.endswith("_FILE") and value.startswith("/run/secrets/")
            if SECRET_KEY.search(key) and key != "secrets" and not mounted:
                # `secrets:` lists mounted files; a *_FILE path names one, it holds no secret
                assert SENTINEL in value, f"{name}: {key} is not taken from NEO4J_PASSWORD"
                secret_lines += 1
    assert secret_lines >= 1 + len(APP_SERVICES)  # NEO4J_AUTH + each app's NEO4J_PASSWORD
    # The raw file: every password-valued key interpolates the mandatory variable.
    for line in COMPOSE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_]+):\s*(\S.*)$", line)
        if match and SECRET_KEY.search(match.group(1)):
            if match.group(1).endswith("_FILE") and match.group(2).startswith("/run/secrets/"):
                continue
            assert "${NEO4J_PASSWORD:?" in match.group(2), line


def test_environment_is_documented_and_ships_no_secret() -> None:
    """Every variable compose reads is in .env.example and the deployment doc; no value given."""
    documented = _env_example_keys()
    variables = _compose_variables()
    assert variables - set(documented) == set()
    doc = DEPLOYMENT_DOC.read_text(encoding="utf-8")
    assert {v for v in variables if f"`{v}`" not in doc} == set()
    assert documented["NEO4J_PASSWORD"] == ""
    assert documented["FRAUDGRAPH_BACKEND"] == "neo4j"
    assert documented["NEO4J_URI"] == "bolt://neo4j:7687"
    assert documented["FRAUDGRAPH_REDIS_URL"] == "redis://redis:6379/0"
    assert documented["FRAUDGRAPH_ENVIRONMENT"] == "production"


# -------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multistage_slim_and_non_root() -> None:
    """Runtime stage: python:3.11-slim, copies the venv from a builder, runs as a non-root USER."""
    stages = _dockerfile_stages()
    global_args = _args(stages[0])
    bases = [rest.split()[0] for stage in stages[1:] for kw, rest in stage if kw == "FROM"]
    assert len(bases) >= 2, "multi-stage build expected"
    for base in bases:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), ""), base)
        assert resolved == "python:3.11-slim", base
    final = stages[-1]
    assert any(kw == "COPY" and rest.startswith("--from=builder") for kw, rest in final)
    users = [rest for kw, rest in final if kw == "USER"]
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0", ""}, users[-1]
    assert any(kw == "HEALTHCHECK" for kw, _ in final)
    assert any(kw == "LABEL" and "org.opencontainers.image" in rest for kw, rest in final)


def test_dockerfile_installs_the_project_with_declared_extras() -> None:
    """The builder pip-installs `.[extras]`; every extra exists in pyproject and neo4j is one."""
    stages = _dockerfile_stages()
    builder = stages[1]
    runs = [rest for kw, rest in builder if kw == "RUN" and "pip install" in rest]
    assert any('".[${FRAUDGRAPH_EXTRAS}]"' in run for run in runs), runs
    extras = {e.strip() for e in _args(builder)["FRAUDGRAPH_EXTRAS"].split(",")}
    assert "neo4j" in extras
    assert "dev" not in extras
    assert extras <= set(PYPROJECT["project"]["optional-dependencies"])
    copied = {rest.split()[0].rstrip("/") for kw, rest in builder if kw == "COPY"}
    packages = {
        p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages - copied == set(), "every package must be copied into the build"


def test_dockerfile_bakes_in_no_secret() -> None:
    """No ENV, ARG or LABEL in the Dockerfile names a password, secret, token or credential."""
    for stage in _dockerfile_stages():
        for keyword, rest in stage:
            if keyword in {"ENV", "ARG", "LABEL"}:
                assert not SECRET_KEY.search(rest), f"{keyword} {rest}"


# -------------------------------------------------------------------- entrypoint + CLI


def test_image_entrypoint_is_the_installed_fraudgraph_console_script() -> None:
    """ENTRYPOINT is the `fraudgraph` script from [project.scripts], installed, and --help runs."""
    final = _dockerfile_stages()[-1]
    entrypoints = [json.loads(rest) for kw, rest in final if kw == "ENTRYPOINT"]
    assert entrypoints == [["fraudgraph"]]
    scripts = PYPROJECT["project"]["scripts"]
    assert scripts.get("fraudgraph") == "fraudgraph.cli:app"
    script = Path(sys.executable).with_name("fraudgraph")
    if not script.exists():
        found = shutil.which("fraudgraph")
        assert found, "the `fraudgraph` console script is not installed (run `make install`)"
        script = Path(found)
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_compose_commands_are_registered_cli_commands() -> None:
    """Compose starts registered `fraudgraph` subcommands with arguments they accept, so a
    typo in a command or an option fails here rather than in production."""
    from fraudgraph.cli import app

    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    commands = _compose_commands()
    assert set(commands) == APP_SERVICES
    for service, argv in commands.items():
        command = group.commands.get(argv[0])
        assert command is not None, f"{service}: `fraudgraph {argv[0]}` is not a command"
        command.make_context(argv[0], list(argv[1:]))  # raises on an unknown option


def test_worker_and_beat_run_the_jobs_from_the_app_image(tmp_path: Path) -> None:
    """Worker and beat share the app image and environment, plus the jobs' broker, schedule
    and inbox; the worker exposes its metrics and reads the webhook key from a secret."""
    result = _render(tmp_path)
    assert result.returncode == 0, result.stderr
    blocks = _service_blocks(result.stdout)
    for name in ("worker", "beat"):
        block = blocks[name]
        assert "FRAUDGRAPH_JOBS_BROKER_URL: redis://redis:6379/1" in block, name
        assert "FRAUDGRAPH_JOBS_FEATURE_REDIS_URL: redis://redis:6379/0" in block, name
        assert "FRAUDGRAPH_JOBS_INBOX: /var/lib/fraudgraph/inbox" in block, name
        assert "FRAUDGRAPH_BACKEND: neo4j" in block, name  # the shared environment is kept
        assert re.search(r"^\s+image: fraudgraph:local$", block, re.MULTILINE), name
    worker = blocks["worker"]
    assert re.search(r"FRAUDGRAPH_JOBS_METRICS_PORT: ['\"]?9808['\"]?$", worker, re.MULTILINE)
    assert "FRAUDGRAPH_JOBS_WEBHOOK_SECRET_FILE: /run/secrets/fraudgraph_webhook_secret" in worker
    assert re.search(r"^\s+- source: fraudgraph_webhook_secret$", worker, re.MULTILINE)
    assert "replicas: 1" in blocks["beat"]
