"""Fixtures for the API tests: an analysed store with a published snapshot, a real Redis,
the app in-process (TestClient), the real server over HTTP (:func:`serve_over_http`), and
the Neo4j session server.

The scenario (1,500 accounts) is generated, ingested, analysed, flagged and published
once per session; every test reads it through a fresh app. Redis is a real
``redis-server`` started on a free port with a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.fast_path import ApiApp
from api.settings import ApiSettings
from graph_service.embedded.store import EmbeddedStore
from graph_service.settings import Neo4jSettings, Settings
from ingestion.synthetic import ScenarioConfig, ScenarioSummary, generate_scenario
from scoring.feature_cache import FeatureSnapshot
from tests.conftest import RedisServer, analyse_and_publish
from tests.graph_service.conftest import (  # noqa: F401  (fixtures re-exported)
    _stop_shared_neo4j,
    free_port,
    neo4j_server,
    open_neo4j_store,
)

__all__ = ["RedisServer", "ServedApi", "analyse_and_publish", "copy_store", "serve_over_http"]

REPO = Path(__file__).resolve().parents[2]

SCORER = {"X-API-Key": "dev-scorer"}
INVESTIGATOR = {"X-API-Key": "dev-investigator"}
ADMIN = {"X-API-Key": "dev-admin"}


@dataclass(frozen=True)
class AnalysedStore:
    """A store analysed, flagged and published, with what the tests compare against."""

    settings: Settings
    snapshot: FeatureSnapshot
    scenario: ScenarioSummary


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioSummary:
    """A 1,500-account scenario with planted rings and labels."""
    out = tmp_path_factory.mktemp("api-scenario")
    config = ScenarioConfig(accounts=1_500, seed=23, label_fraction=0.5, legit_label_fraction=0.03)
    return generate_scenario(config, out)


@pytest.fixture(scope="session")
def analysed(scenario: ScenarioSummary, tmp_path_factory: pytest.TempPathFactory) -> AnalysedStore:
    """The scenario in an embedded store: analysed, flagged, snapshot published; closed."""
    work = tmp_path_factory.mktemp("api-store")
    store = EmbeddedStore(work / "store", memory_limit="1GB", threads=2)
    try:
        snapshot = analyse_and_publish(store, scenario, work)
    finally:
        store.close()
    settings = Settings(store_dir=work / "store", duckdb_memory_limit="1GB", duckdb_threads=2)
    return AnalysedStore(settings=settings, snapshot=snapshot, scenario=scenario)


AppFactory = Callable[..., ApiApp]


def copy_store(analysed: AnalysedStore, parent: Path) -> Path:
    """A copy of the analysed store under ``parent`` (for a server that may be written to)."""
    store = parent / "store"
    shutil.copytree(analysed.settings.store_dir, store)
    return store


@dataclass(frozen=True)
class ServedApi:
    """A running ``fraudgraph serve``: its base URL and process."""

    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def serve_over_http(
    store: Path,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    ready_within_s: float = 60,
) -> Iterator[ServedApi]:
    """``fraudgraph serve`` on a free port over ``store`` (development keys, no polling),
    ready (``/readyz`` 200) until the block ends; then stopped with SIGTERM and waited for.

    ``env`` adds to (or overrides) the server's environment.
    """
    port = free_port()
    server_env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FRAUDGRAPH_API_SNAPSHOT_POLL_S": "0",
        "FRAUDGRAPH_ENVIRONMENT": "development",
        **(env or {}),
    }
    command = [sys.executable, "-m", "fraudgraph.cli", "serve", "--store", str(store)]
    command += ["--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(
        command, env=server_env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_within_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited: {process.stderr.read().decode() if process.stderr else ''}"
                )
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready within {ready_within_s:g} s")
            time.sleep(0.2)
        yield ServedApi(url=url, process=process)
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def make_app(analysed: AnalysedStore) -> AppFactory:
    """Factory: ``make_app(graph_settings=None, **api_settings) -> ApiApp`` (the app
    closes the embedded store after each unit unless ``embedded_hold_s`` is given)."""

    def _make(graph_settings: Settings | None = None, **options: Any) -> ApiApp:
        options.setdefault("snapshot_poll_s", 0)
        # Tests open the store in this process too; DuckDB refuses a second instance of
        # one file with another configuration, so the app does not keep it open.
        options.setdefault("embedded_hold_s", 0)
        return create_app(ApiSettings(**options), graph_settings or analysed.settings)

    return _make


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    """A TestClient on the app over the analysed embedded store (development keys)."""
    with TestClient(make_app()) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def neo4j_analysed(
    scenario: ScenarioSummary, tmp_path_factory: pytest.TempPathFactory
) -> AnalysedStore:
    """The scenario in the session's Neo4j: analysed with GDS, flagged, published."""
    from tests.graph_service.conftest import PASSWORD, SHARED_NEO4J

    work = tmp_path_factory.mktemp("api-neo4j")
    store = open_neo4j_store(work / "store")
    try:
        snapshot = analyse_and_publish(store, scenario, work)
    finally:
        store.close()
    server = SHARED_NEO4J.get()
    settings = Settings(
        backend="neo4j",
        store_dir=work / "store",
        neo4j=Neo4jSettings(uri=server.uri, password=PASSWORD),
    )
    return AnalysedStore(settings=settings, snapshot=snapshot, scenario=scenario)
