"""Neo4j fixtures: one local Neo4j + GDS server for the whole session, a clean graph per test.

The server is started lazily, on the first test that needs it, through
``graph_service.neo4j.launcher`` (10-20 s on two cores), and stopped when the session
ends. Without ``java`` or ``mvn`` on ``PATH`` every Neo4j test is skipped with the reason.
Between tests the graph is emptied (all nodes and relationships deleted); constraints and
indexes stay, since every store creates them idempotently on open anyway.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph_service.neo4j import launcher
from graph_service.neo4j.launcher import LocalNeo4j

PASSWORD = "fraudgraph-test"
AUTH = ("neo4j", PASSWORD)
_MISSING_TOOLS = (
    "NEO4J TESTS SKIPPED: the local Neo4j server needs java (17+) and mvn on PATH "
    "(graph_service/neo4j_local is built with Maven)"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def skip_without_java() -> None:
    """Skip the calling test, loudly, when the launcher cannot run here."""
    pytest.importorskip("neo4j")
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip(_MISSING_TOOLS)


class SharedNeo4j:
    """The session's one server, started on first use and stopped at session end."""

    def __init__(self) -> None:
        self._server: LocalNeo4j | None = None
        self._data_dir: Path | None = None

    def get(self) -> LocalNeo4j:
        """The running server (started now if it is not yet)."""
        skip_without_java()
        if self._server is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="fraudgraph-neo4j-test-"))
            self._server = launcher.start(
                port=free_port(),
                data_dir=self._data_dir,
                password=PASSWORD,
                heap="1g",
                page_cache="256m",
            )
        return self._server

    def stop(self) -> None:
        """Stop the server if it was started, and remove its files."""
        if self._data_dir is None:
            return
        launcher.stop(self._data_dir)
        shutil.rmtree(self._data_dir, ignore_errors=True)
        self._server = None
        self._data_dir = None


SHARED_NEO4J = SharedNeo4j()


@pytest.fixture(scope="session", autouse=True)
def _stop_shared_neo4j() -> Iterator[None]:
    """Stops the shared server at session end (starts nothing)."""
    yield
    SHARED_NEO4J.stop()


@pytest.fixture(scope="session")
def neo4j_server() -> LocalNeo4j:
    """The session's local Neo4j + GDS server."""
    return SHARED_NEO4J.get()


def wipe(server: LocalNeo4j) -> None:
    """Delete every node and relationship of the server's default database."""
    from neo4j import GraphDatabase

    with GraphDatabase.driver(server.uri, auth=AUTH) as driver, driver.session() as session:
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


def open_neo4j_store(store_dir: Path, **options: Any) -> Any:
    """A ``Neo4jStore`` on the shared server, whose graph is emptied first."""
    from graph_service.neo4j.store import Neo4jStore

    server = SHARED_NEO4J.get()
    wipe(server)
    return Neo4jStore(uri=server.uri, password=PASSWORD, store_dir=store_dir, **options)


@pytest.fixture
def neo4j_store(tmp_path: Path) -> Iterator[Any]:
    """A ``Neo4jStore`` on the shared server with an empty graph."""
    store = open_neo4j_store(tmp_path / "store")
    try:
        yield store
    finally:
        store.close()
