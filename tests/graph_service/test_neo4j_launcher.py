"""The local Neo4j + GDS server: build, start, Bolt, GDS procedures, status and stop.

One server per module (startup takes 10-20 s on two cores). ``test_stop_*`` stops it and is
therefore the last test in the file.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph_service.errors import BackendUnavailable, InvalidInput
from graph_service.neo4j import launcher
from graph_service.neo4j.launcher import LocalNeo4j

pytest.importorskip("neo4j")
if shutil.which("java") is None or shutil.which("mvn") is None:
    pytest.skip("the local Neo4j server needs java (17+) and mvn on PATH", allow_module_level=True)

from neo4j import Driver, GraphDatabase

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

PASSWORD = "fraudgraph-test"
AUTH = ("neo4j", PASSWORD)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_is_gone(pid: int) -> bool:
    """No process with ``pid``, or only a zombie awaiting its parent."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return True
    return stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNeo4j]:
    data_dir = tmp_path_factory.mktemp("neo4j-local")
    started = launcher.start(port=free_port(), data_dir=data_dir, password=PASSWORD, heap="1g")
    try:
        yield started
    finally:
        launcher.stop(data_dir)


@pytest.fixture(scope="module")
def driver(server: LocalNeo4j) -> Iterator[Driver]:
    with GraphDatabase.driver(server.uri, auth=AUTH) as connected:
        yield connected


def test_status_of_a_dir_without_server(tmp_path: Path) -> None:
    found = launcher.status(tmp_path)

    assert not found.running
    assert found.pid is None
    assert found.uri is None
    assert not found.accepting


def test_start_rejects_malformed_heap(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="heap"):
        launcher.start(port=free_port(), data_dir=tmp_path, heap="lots")


def test_start_rejects_short_password(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="at least 8"):
        launcher.start(port=free_port(), data_dir=tmp_path, password="short")


def test_build_is_cached(server: LocalNeo4j) -> None:
    target = launcher.build()

    assert (target / "neo4j-local-launcher.jar").is_file()
    assert any((target / "plugins").glob("proc-2.13.*.jar"))


def test_bolt_answers(driver: Driver) -> None:
    records, _, _ = driver.execute_query("RETURN 1 AS one")

    assert records[0]["one"] == 1


def test_gds_version_is_2_13(server: LocalNeo4j, driver: Driver) -> None:
    records, _, _ = driver.execute_query("CALL gds.version() YIELD gdsVersion RETURN gdsVersion")

    assert records[0]["gdsVersion"] == server.gds_version
    assert server.gds_version.startswith("2.13.")
    assert server.neo4j_version.startswith("5.26.")


def test_gds_list_has_the_algorithms_we_use(driver: Driver) -> None:
    records, _, _ = driver.execute_query("CALL gds.list() YIELD name RETURN collect(name) AS names")
    names = set(records[0]["names"])

    assert {"gds.wcc.stream", "gds.leiden.stream", "gds.pageRank.stream"} <= names


def test_wcc_through_the_graphdatascience_client(server: LocalNeo4j) -> None:
    graphdatascience = pytest.importorskip("graphdatascience")
    # show_progress=False: the client's progress poller trips a pandas 3.1 deprecation
    # (DataFrame.sort_values(inplace=...)) and reports it as a RuntimeWarning.
    gds = graphdatascience.GraphDataScience(server.uri, auth=AUTH, show_progress=False)
    try:
        gds.run_cypher("MATCH (n) DETACH DELETE n")
        # Components {1, 2, 3}, {4, 5} and the isolated {6}.
        gds.run_cypher(
            "CREATE (a1:Account {id: 1}), (a2:Account {id: 2}), (a3:Account {id: 3}),"
            " (a4:Account {id: 4}), (a5:Account {id: 5}), (:Account {id: 6}),"
            " (a1)-[:SHARES]->(a2), (a3)-[:SHARES]->(a2), (a4)-[:SHARES]->(a5)"
        )
        projection = {"SHARES": {"orientation": "UNDIRECTED"}}
        with gds.graph.project.native("accounts", "Account", projection) as graph:
            components = gds.wcc.stream(graph)
        nodes = gds.util.as_nodes(components["nodeId"].tolist())
        by_component: dict[int, set[int]] = {}
        for node, component in zip(nodes, components["componentId"], strict=True):
            by_component.setdefault(int(component), set()).add(int(node["id"]))
    finally:
        gds.close()

    assert sorted(by_component.values(), key=min) == [{1, 2, 3}, {4, 5}, {6}]


def test_start_on_a_taken_port_raises(server: LocalNeo4j, tmp_path: Path) -> None:
    port = int(server.uri.rsplit(":", 1)[1])

    with pytest.raises(BackendUnavailable, match=f"port {port} .* already in use"):
        launcher.start(port=port, data_dir=tmp_path)
    assert not (tmp_path / "neo4j-local.pid").exists()


def test_start_in_a_running_data_dir_raises(server: LocalNeo4j) -> None:
    with pytest.raises(BackendUnavailable, match="already runs"):
        launcher.start(port=free_port(), data_dir=server.data_dir)


def test_status_of_the_running_server(server: LocalNeo4j) -> None:
    found = launcher.status(server.data_dir)

    assert found.running
    assert found.accepting
    assert found.pid == server.pid
    assert found.uri == server.uri
    assert found.gds_version == server.gds_version


def test_stop_leaves_no_java_process(server: LocalNeo4j) -> None:
    # Stops the module's server: keep this test last.
    assert launcher.stop(server.data_dir) is True

    assert process_is_gone(server.pid)
    after = launcher.status(server.data_dir)
    assert not after.running
    assert not after.accepting
    assert not (server.data_dir / "neo4j-local.pid").exists()
    assert launcher.stop(server.data_dir) is False
    assert "neo4j-local: stopped" in server.log_file.read_text()
    assert (server.data_dir / "logs" / "debug.log").is_file()
