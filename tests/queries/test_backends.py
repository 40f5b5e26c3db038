"""Choosing the implementation for a store, and parity of every query on a generated scenario."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.compute as pc
import pytest

from graph_service import BackendUnavailable, GraphStore, NodeType
from graph_service.embedded.store import EmbeddedStore
from graph_service.model import NODE_TYPE_CODE
from ingestion.loader import Ingestor
from ingestion.synthetic import ScenarioConfig, generate_scenario
from queries import (
    money_flow,
    neighbourhood,
    ring_subgraph,
    shared_identifiers,
    shortest_path,
    to_json_ready,
)
from queries.backends import IMPLEMENTATIONS, RelationshipBackend, backend_for
from tests.graph_service.conftest import open_neo4j_store


class _StoreOfUnknownKind:
    backend = "cassandra"


class _EmbeddedNamedStoreWithoutCursor:
    backend = "embedded"


def test_backend_for_picks_the_implementation_by_backend_name(
    embedded_store: EmbeddedStore,
) -> None:
    """An embedded store gets the SQL implementation, which satisfies every family."""
    backend = backend_for(embedded_store)
    assert isinstance(backend, RelationshipBackend)
    assert type(backend).__name__ == IMPLEMENTATIONS["embedded"].rsplit(":", 1)[1]


def test_unknown_backend_is_unavailable() -> None:
    """A store of a backend with no query implementation raises BackendUnavailable."""
    with pytest.raises(BackendUnavailable, match="cassandra"):
        backend_for(_StoreOfUnknownKind())  # type: ignore[arg-type]


def test_store_without_the_read_capability_is_unavailable() -> None:
    """A store claiming a backend but lacking its read capability raises BackendUnavailable."""
    with pytest.raises(BackendUnavailable):
        backend_for(_EmbeddedNamedStoreWithoutCursor())  # type: ignore[arg-type]


@dataclass(frozen=True)
class Pair:
    embedded: GraphStore
    neo4j: GraphStore
    ring: list[str]
    others: list[str]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """A 1,000-account scenario loaded into both backends."""
    root = tmp_path_factory.mktemp("queries-parity")
    neo4j_store: GraphStore = open_neo4j_store(root / "neo4j")  # skips without java / mvn
    scenario = generate_scenario(ScenarioConfig(accounts=1_000, seed=5), root / "scenario")
    embedded = EmbeddedStore(root / "embedded", memory_limit="1GB", threads=2)
    try:
        for index, store in enumerate((embedded, neo4j_store)):
            ingestor = Ingestor(store, quarantine_dir=root / f"quarantine-{index}")
            ingestor.run([scenario.events_path])
            ingestor.close()
        with scenario.truth_path.open() as fh:
            truth = list(csv.DictReader(fh))
        first_ring = truth[0]["ring_id"]
        ring = [r["account_id"] for r in truth if r["ring_id"] == first_ring]
        nodes = embedded.export_nodes()
        accounts = nodes.filter(pc.equal(nodes["type"], NODE_TYPE_CODE[NodeType.ACCOUNT]))
        population = sorted(accounts.column("key").to_pylist())
        others = random.Random(5).sample(population, 8)
        yield Pair(embedded, neo4j_store, ring, others)
    finally:
        embedded.close()
        neo4j_store.close()


@pytest.mark.neo4j
def test_every_query_gives_identical_results_on_both_backends(both: Pair) -> None:
    """On a realistic graph, each query returns equal results on embedded and Neo4j (amount
    sums equal to 12 significant digits: the engines add the same amounts in different
    orders, so the last bit of a sum may differ)."""
    assert both.embedded.counts() == both.neo4j.counts()
    accounts = both.ring[:4] + both.others
    for key in accounts:
        for store_a, store_b in [(both.embedded, both.neo4j)]:
            for page_a, page_b in zip(_pages(store_a, key), _pages(store_b, key), strict=True):
                assert _same(page_a, page_b)
            assert _same(
                shared_identifiers(store_a, key, limit=50),
                shared_identifiers(store_b, key, limit=50),
            )
            assert _same(
                money_flow(store_a, key, depth=3, limit=200),
                money_flow(store_b, key, depth=3, limit=200),
            )
    for source, target in zip(accounts, accounts[1:] + accounts[:1], strict=True):
        ends = (("Account", source), ("Account", target))
        assert _same(
            shortest_path(both.embedded, *ends, max_hops=5),
            shortest_path(both.neo4j, *ends, max_hops=5),
        )
    ring_ids = [both.embedded.get_entity(NodeType.ACCOUNT, k).id for k in both.ring]
    ring = ring_subgraph(both.embedded, ring_ids)
    assert _same(ring, ring_subgraph(both.neo4j, ring_ids))
    assert ring.identifiers, "a planted ring shares identifiers"


def _same(left: object, right: object) -> bool:
    """Equal as JSON, floats compared to 12 significant digits."""
    return _rounded(to_json_ready(left)) == _rounded(to_json_ready(right))


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _pages(store: GraphStore, key: str) -> Iterator[object]:
    page = neighbourhood(store, "Account", key, limit=3)
    yield page
    while page.truncated:
        page = neighbourhood(store, "Account", key, limit=3, after=page.next_after)
        yield page
