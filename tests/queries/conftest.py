"""Fixtures for the relationship queries: a small hand-built graph on every backend.

The graph (ids are assigned by the store; tests look them up by key)::

    accounts A1..A9 and INJECTION_ACCOUNT; identifiers:
    D1  <- A1, A2, A3          (a shared device)
    D2  <- A4, INJECTION_ACCOUNT
    D3  <- A5, A6
    D4  <- A7      D5 <- A8     D9 <- A9 (A9 and D9 form their own component)
    INJECTION_DEVICE <- INJECTION_ACCOUNT
    10.0.0.1 <- A1 (2 logins), A2, A3, A4, A5, A6   (a common IP)
    C1 <- A1       C2 <- A2, A5
    M1 <- A1 (pays 10), A7 (pays 20)
    transfers: A1->A2 (100 + 50), A2->A3 (30), A3->A1 (20), A3->A4 (5), A5->A2 (70),
               A7->A8 (40), A8->A7 (10)

The Neo4j fixtures of ``tests/graph_service/conftest.py`` are re-exported here, so the
Neo4j-marked tests share the session's one local server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pyarrow as pa
import pytest

from graph_service import GraphStore, NodeType
from graph_service.embedded.store import EmbeddedStore
from graph_service.store import link_type_of
from ingestion.loader import Ingestor
from tests.conftest import write_rows
from tests.graph_service.conftest import (  # noqa: F401  (fixtures re-exported)
    _stop_shared_neo4j,
    neo4j_server,
    open_neo4j_store,
)

BACKENDS = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]

#: Keys that would break out of a naively built Cypher or SQL string.
INJECTION_ACCOUNT = "x'}) DETACH DELETE n //"
INJECTION_DEVICE = "D' OR '1'='1\"; DROP TABLE links; --"

_EVENTS: list[tuple[str, dict[str, str]]] = [
    ("signup", {"account_id": "A1", "device_id": "D1", "ip": "10.0.0.1", "card_id": "C1"}),
    ("login", {"account_id": "A1", "ip": "10.0.0.1"}),
    ("payment", {"account_id": "A1", "merchant_id": "M1", "amount": "10"}),
    ("signup", {"account_id": "A2", "device_id": "D1", "ip": "10.0.0.1", "card_id": "C2"}),
    ("signup", {"account_id": "A3", "device_id": "D1", "ip": "10.0.0.1"}),
    ("signup", {"account_id": "A4", "device_id": "D2", "ip": "10.0.0.1"}),
    ("signup", {"account_id": "A5", "device_id": "D3", "ip": "10.0.0.1", "card_id": "C2"}),
    ("signup", {"account_id": "A6", "device_id": "D3", "ip": "10.0.0.1"}),
    ("signup", {"account_id": "A7", "device_id": "D4"}),
    ("payment", {"account_id": "A7", "merchant_id": "M1", "amount": "20"}),
    ("signup", {"account_id": "A8", "device_id": "D5"}),
    ("signup", {"account_id": "A9", "device_id": "D9"}),
    ("signup", {"account_id": INJECTION_ACCOUNT, "device_id": "D2"}),
    ("login", {"account_id": INJECTION_ACCOUNT, "device_id": INJECTION_DEVICE}),
    ("transfer", {"account_id": "A1", "counterparty_account_id": "A2", "amount": "100"}),
    ("transfer", {"account_id": "A1", "counterparty_account_id": "A2", "amount": "50"}),
    ("transfer", {"account_id": "A2", "counterparty_account_id": "A3", "amount": "30"}),
    ("transfer", {"account_id": "A3", "counterparty_account_id": "A1", "amount": "20"}),
    ("transfer", {"account_id": "A3", "counterparty_account_id": "A4", "amount": "5"}),
    ("transfer", {"account_id": "A5", "counterparty_account_id": "A2", "amount": "70"}),
    ("transfer", {"account_id": "A7", "counterparty_account_id": "A8", "amount": "40"}),
    ("transfer", {"account_id": "A8", "counterparty_account_id": "A7", "amount": "10"}),
]

#: The event log of the graph above, in the input event schema.
GRAPH_EVENTS: list[dict[str, str]] = [
    {
        "event_id": f"q{i:03d}",
        "ts": f"2026-02-{1 + i // 24:02d}T{i % 24:02d}:00:00Z",
        "event_type": kind,
        **({"currency": "GBP"} if "amount" in fields else {}),
        **fields,
    }
    for i, (kind, fields) in enumerate(_EVENTS)
]


def open_backend(backend: str, directory: Path) -> GraphStore:
    """An empty store of ``backend`` in ``directory``."""
    if backend == "embedded":
        return EmbeddedStore(directory, memory_limit="1GB", threads=2)
    store: GraphStore = open_neo4j_store(directory)  # skips without java / mvn
    return store


def load(store: GraphStore, rows: list[dict[str, Any]], directory: Path) -> None:
    """Ingest ``rows`` into ``store`` through the real ingestion path."""
    ingestor = Ingestor(store, quarantine_dir=directory / "quarantine")
    try:
        ingestor.run([write_rows(directory / "events.csv", rows)])
    finally:
        ingestor.close()


@pytest.fixture(scope="module", params=BACKENDS)
def graph(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GraphStore]:
    """The hand-built graph, loaded into each backend (read-only for the tests)."""
    root = tmp_path_factory.mktemp(f"queries-{request.param}")
    store = open_backend(request.param, root / "store")
    try:
        load(store, GRAPH_EVENTS, root)
        yield store
    finally:
        store.close()


def entity_id(store: GraphStore, node_type: NodeType, key: str) -> int:
    """Internal id of ``(node_type, key)``."""
    return store.get_entity(node_type, key).id


def oracle_graph(store: GraphStore) -> nx.MultiDiGraph:
    """The store's whole graph in networkx: nodes with type/key, one edge per link."""
    graph = nx.MultiDiGraph()
    nodes = store.export_nodes()
    for node_id, code, key in zip(
        nodes.column("id").to_pylist(),
        nodes.column("type").to_pylist(),
        nodes.column("key").to_pylist(),
        strict=True,
    ):
        graph.add_node(node_id, type=code, key=key)
    links: pa.Table = store.export_links()
    for row in links.to_pylist():
        graph.add_edge(
            row["src"],
            row["dst"],
            key=int(row["type"]),
            type=link_type_of(int(row["type"])),
            n_events=row["n_events"],
            amount_sum=row["amount_sum"],
        )
    return graph
