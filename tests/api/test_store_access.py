"""The server and the batch jobs share the embedded store file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import INVESTIGATOR, AnalysedStore, AppFactory

REPO = Path(__file__).resolve().parents[2]

_WRITER = """
import sys
from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import StoreLocked
for line in sys.stdin:
    try:
        EmbeddedStore(sys.argv[1], memory_limit="256MB", threads=1).close()
        print("ok", flush=True)
    except StoreLocked:
        print("locked", flush=True)
"""


class BatchWriter:
    """Another process that tries to open the store for writing when asked."""

    def __init__(self, store_dir: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(store_dir)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def can_write(self) -> bool:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("try\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        assert answer in ("ok", "locked"), answer
        return answer == "ok"

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def writer(analysed: AnalysedStore) -> Iterator[BatchWriter]:
    """A batch-job process on the analysed store (its interpreter already started)."""
    process = BatchWriter(analysed.settings.store_dir)
    assert process.can_write()
    yield process
    process.close()


def test_server_releases_the_file_for_batch_jobs_when_idle(
    make_app: AppFactory, writer: BatchWriter
) -> None:
    """Right after a GraphQL read a writer is refused (StoreLocked); once the server has
    been idle for embedded_hold_s it can open the store for writing, and the server
    reopens it for the next read."""
    with TestClient(make_app(embedded_hold_s=1.0)) as client:
        query = {"query": "{ rings(first: 1) { nodes { members(first: 2) { key } } } }"}
        assert client.post("/graphql", json=query, headers=INVESTIGATOR).status_code == 200
        assert not writer.can_write()
        time.sleep(2.5)
        assert writer.can_write()
        response = client.post("/graphql", json=query, headers=INVESTIGATOR)
        assert response.status_code == 200 and response.json()["data"]["rings"]["nodes"]


def test_features_never_open_the_store(
    make_app: AppFactory, analysed: AnalysedStore, writer: BatchWriter
) -> None:
    """Feature reads are answered from the snapshot: a writer can open the store meanwhile."""
    with TestClient(make_app(embedded_hold_s=0.2)) as client:
        time.sleep(0.8)
        key = analysed.snapshot.keys[0]
        for _ in range(20):
            response = client.get(
                f"/v1/features/Account/{key}", headers={"X-API-Key": "dev-scorer"}
            )
            assert response.status_code == 200
        assert writer.can_write()
