"""The server and the batch jobs share the embedded store file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import INVESTIGATOR, AnalysedStore, AppFactory

REPO = Path(__file__).resolve().parents[2]

_OPEN_FOR_WRITING = """
import sys
from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import StoreLocked
try:
    EmbeddedStore(sys.argv[1], memory_limit="256MB", threads=1).close()
except StoreLocked:
    sys.exit(3)
"""


def _batch_job_can_write(store_dir: Path) -> bool:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_FOR_WRITING, str(store_dir)], env=env, check=False
    )
    assert done.returncode in (0, 3)
    return done.returncode == 0


def test_server_releases_the_file_for_batch_jobs_when_idle(
    make_app: AppFactory, analysed: AnalysedStore
) -> None:
    """Right after a GraphQL read a writer is refused (StoreLocked); once the server has
    been idle for embedded_hold_s it can open the store for writing, and the server
    reopens it for the next read."""
    store_dir = analysed.settings.store_dir
    with TestClient(make_app(embedded_hold_s=4.0)) as client:
        query = {"query": "{ rings(first: 1) { nodes { members(first: 2) { key } } } }"}
        assert client.post("/graphql", json=query, headers=INVESTIGATOR).status_code == 200
        assert not _batch_job_can_write(store_dir)
        time.sleep(5.0)
        assert _batch_job_can_write(store_dir)
        response = client.post("/graphql", json=query, headers=INVESTIGATOR)
        assert response.status_code == 200 and response.json()["data"]["rings"]["nodes"]


def test_features_never_open_the_store(make_app: AppFactory, analysed: AnalysedStore) -> None:
    """Feature reads are answered from the snapshot: a writer can open the store meanwhile."""
    with TestClient(make_app(embedded_hold_s=0.2)) as client:
        time.sleep(0.8)
        key = analysed.snapshot.keys[0]
        for _ in range(20):
            response = client.get(
                f"/v1/features/Account/{key}", headers={"X-API-Key": "dev-scorer"}
            )
            assert response.status_code == 200
        assert _batch_job_can_write(analysed.settings.store_dir)
