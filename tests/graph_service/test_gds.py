"""Parity of the GDS engine with the embedded engine on the same generated scenario.

One synthetic population (1,000 accounts with planted rings) is loaded into an embedded
store and into the session's local Neo4j + GDS, then every algorithm runs on both engines.

Tolerances, and why:

* WCC, degree: exact (deterministic, same projection semantics).
* PageRank: relative 1e-9. The embedded engine reproduces GDS's Pregel computation
  (delta accumulation, per-node halting at ``tolerance``, unnormalised scores); the
  measured gap is ~1e-15 (float summation order only).
* Louvain / Leiden: heuristics with different random orders (GDS Louvain is unseeded, and
  GDS and igraph consume seeds differently), so partitions differ; their modularity
  must agree within 0.02 (measured gap < 0.005).
* Node similarity: per node, the multiset of its top-k similarities is equal, and so are
  the pairs strictly above the k-th similarity (ties at the k-th place may be broken
  differently).
* FastRP: random projections are drawn differently; only shapes and ids are compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from graph_service.algorithms import (
    Algorithm,
    EdgeListProjection,
    GraphAlgorithms,
    NativeProjection,
    Projection,
    embedding_schema,
    modularity,
)
from graph_service.embedded.algorithms import EmbeddedAlgorithms
from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import BackendUnavailable, LimitExceeded
from graph_service.model import NODE_TYPE_CODE, LinkType, NodeType
from graph_service.projected_graph import project_store
from graph_service.store import GraphStore
from ingestion.loader import Ingestor
from ingestion.synthetic import ScenarioConfig, generate_scenario
from tests.graph_service.conftest import PASSWORD, free_port, open_neo4j_store

pytest.importorskip("graphdatascience")

from graph_service.neo4j.gds import GdsAlgorithms
from graph_service.neo4j.store import Neo4jStore

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

ACCOUNTS = 1_000
MODULARITY_TOLERANCE = 0.02
PAGERANK_RTOL = 1e-9

EVERYTHING = NativeProjection()
BY_EVENTS = NativeProjection(weight="n_events")
#: Accounts and their rare identifiers (no IPs, no merchants): the ring-detection view.
RARE = NativeProjection(
    node_types=(
        NodeType.ACCOUNT,
        NodeType.DEVICE,
        NodeType.PHONE,
        NodeType.EMAIL,
        NodeType.CARD,
        NodeType.ADDRESS,
    ),
    link_types=(
        LinkType.USES_DEVICE,
        LinkType.HAS_PHONE,
        LinkType.HAS_EMAIL,
        LinkType.HAS_CARD,
        LinkType.HAS_ADDRESS,
        LinkType.TRANSFERS_TO,
    ),
    weight="amount_sum",
)


@dataclass(frozen=True)
class Engines:
    embedded_store: EmbeddedStore
    embedded: EmbeddedAlgorithms
    gds: GdsAlgorithms
    neo4j_store: Neo4jStore


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    """The scenario loaded into both backends, and an engine on each."""
    root = tmp_path_factory.mktemp("gds-parity")
    neo4j_store: Neo4jStore = open_neo4j_store(root / "neo4j")  # skips without java / mvn
    scenario = generate_scenario(ScenarioConfig(accounts=ACCOUNTS, seed=7), root / "scenario")
    embedded_store = EmbeddedStore(root / "embedded", memory_limit="1GB", threads=2)
    both: tuple[GraphStore, GraphStore] = (embedded_store, neo4j_store)
    for index, store in enumerate(both):
        ingestor = Ingestor(store, quarantine_dir=root / f"quarantine-{index}")
        ingestor.run([scenario.events_path])
        ingestor.close()
    # One thread per GDS call: on a 2-core test machine parallel Louvain is 5-10x slower
    # (contention), and single-threaded runs are repeatable.
    gds = GdsAlgorithms.for_store(neo4j_store, concurrency=1)
    try:
        yield Engines(embedded_store, EmbeddedAlgorithms(embedded_store), gds, neo4j_store)
    finally:
        gds.close()
        embedded_store.close()
        neo4j_store.close()


def projected_edges(store: EmbeddedStore, projection: NativeProjection) -> tuple[np.ndarray, ...]:
    """The projection's undirected edges as store ids (for modularity)."""
    graph = project_store(store, projection)
    src, dst, weight = graph.edges()
    return graph.ids[src], graph.ids[dst], weight


def no_projections_left(gds: GdsAlgorithms) -> bool:
    return not gds._gds.graph.list()


def test_both_backends_hold_the_same_graph(engines: Engines) -> None:
    """Precondition of every parity test: the same counts on both sides."""
    assert engines.neo4j_store.counts() == engines.embedded_store.counts()
    assert isinstance(engines.gds, GraphAlgorithms) and engines.gds.engine == "gds"


@pytest.mark.parametrize("projection", [EVERYTHING, RARE], ids=["all", "rare"])
def test_wcc_tables_are_equal(engines: Engines, projection: Projection) -> None:
    """WCC with canonical labels gives identical tables."""
    assert engines.gds.wcc(projection).equals(engines.embedded.wcc(projection))


@pytest.mark.parametrize("projection", [EVERYTHING, BY_EVENTS, RARE], ids=["all", "events", "rare"])
def test_degree_is_equal(engines: Engines, projection: Projection) -> None:
    """Degree: same ids; neighbour counts exactly, summed weights up to summation order."""
    ours = engines.embedded.degree(projection)
    theirs = engines.gds.degree(projection)
    assert ours["id"].equals(theirs["id"])
    if projection.weight is None:
        assert ours.equals(theirs)
    np.testing.assert_allclose(theirs["degree"].to_numpy(), ours["degree"].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("projection", [EVERYTHING, RARE], ids=["all", "rare"])
def test_pagerank_matches_gds_to_1e9(engines: Engines, projection: Projection) -> None:
    """Same ids, scores within 1e-9 relative (the embedded engine replays GDS's Pregel run)."""
    ours = engines.embedded.pagerank(projection, max_iterations=30, tolerance=1e-6)
    theirs = engines.gds.pagerank(projection, max_iterations=30, tolerance=1e-6)
    assert ours["id"].equals(theirs["id"])
    np.testing.assert_allclose(
        theirs["score"].to_numpy(), ours["score"].to_numpy(), rtol=PAGERANK_RTOL
    )


#: (projection id, projection, method) of the community runs compared below.
COMMUNITY_RUNS = [
    ("all", EVERYTHING, "louvain"),
    ("all", EVERYTHING, "leiden"),
    ("rare", RARE, "leiden"),
]


@pytest.fixture(scope="module")
def modularities(engines: Engines) -> dict[tuple[str, str, str], float]:
    """Modularity of every run in COMMUNITY_RUNS on both engines: ``(engine, id, method)``."""
    found: dict[tuple[str, str, str], float] = {}
    for name, projection, method in COMMUNITY_RUNS:
        src, dst, weight = projected_edges(engines.embedded_store, projection)
        weights = weight if projection.weight else None
        tables = {
            engine.engine: getattr(engine, method)(projection)
            for engine in (engines.embedded, engines.gds)
        }
        assert tables["embedded"]["id"].equals(tables["gds"]["id"])
        for engine_name, table in tables.items():
            found[engine_name, name, method] = modularity(table, src, dst, weights)
    return found


@pytest.mark.parametrize(("name", "method"), [(n, m) for n, _, m in COMMUNITY_RUNS])
def test_communities_have_the_same_modularity(
    modularities: dict[tuple[str, str, str], float], name: str, method: str
) -> None:
    """Both engines partition the same nodes with modularity within 0.02 of each other."""
    ours = modularities["embedded", name, method]
    assert ours > 0.3
    assert modularities["gds", name, method] == pytest.approx(ours, abs=MODULARITY_TOLERANCE)


@pytest.mark.parametrize("engine", ["embedded", "gds"])
def test_leiden_and_louvain_agree_with_each_other(
    modularities: dict[tuple[str, str, str], float], engine: str
) -> None:
    """On each engine, Leiden's and Louvain's modularity are within 0.02 of each other."""
    leiden, louvain = modularities[engine, "all", "leiden"], modularities[engine, "all", "louvain"]
    assert leiden == pytest.approx(louvain, abs=MODULARITY_TOLERANCE)


def top_sets(table: pa.Table) -> tuple[dict[int, list[float]], set[tuple[int, int]]]:
    """Per id1 its sorted similarities, and the pairs strictly above id1's k-th similarity."""
    rows = table.to_pydict()
    scores: dict[int, list[float]] = {}
    for u, s in zip(rows["id1"], rows["similarity"], strict=True):
        scores.setdefault(u, []).append(round(s, 12))
    floor = {u: min(s) for u, s in scores.items()}
    above = {
        (u, v)
        for u, v, s in zip(rows["id1"], rows["id2"], rows["similarity"], strict=True)
        if round(s, 12) > floor[u]
    }
    return {u: sorted(s) for u, s in scores.items()}, above


def test_node_similarity_top_pairs_agree(engines: Engines) -> None:
    """Top-5 Jaccard neighbours: same similarities per node, same pairs above the ties."""
    ours = engines.embedded.node_similarity(RARE, top_k=5, cutoff=0.2)
    theirs = engines.gds.node_similarity(RARE, top_k=5, cutoff=0.2)
    our_scores, our_pairs = top_sets(ours)
    their_scores, their_pairs = top_sets(theirs)

    assert ours.num_rows == theirs.num_rows > 100
    assert our_scores == their_scores
    assert our_pairs == their_pairs


def test_fastrp_shapes_agree(engines: Engines) -> None:
    """FastRP: one embedding of the asked dimension per projected node on both engines."""
    ours = engines.embedded.fastrp(RARE, dimension=16)
    theirs = engines.gds.fastrp(RARE, dimension=16)
    assert ours.schema == theirs.schema == embedding_schema(16)
    assert ours["id"].equals(theirs["id"])
    matrix = np.array(theirs["embedding"].to_pylist())
    assert np.isfinite(matrix).all() and (np.abs(matrix).sum(axis=1) > 0).mean() > 0.5


def account_graph(store: EmbeddedStore) -> EdgeListProjection:
    """Accounts chained through shared devices, plus some edges repeated in reverse."""
    links = store.export_links([LinkType.USES_DEVICE])
    nodes = store.export_nodes()
    accounts = nodes.filter(pc.equal(nodes["type"], NODE_TYPE_CODE[NodeType.ACCOUNT]))["id"]
    device = links["dst"].to_numpy()
    account = links["src"].to_numpy()
    order = np.argsort(device, kind="stable")
    device, account = device[order], account[order]
    same = device[1:] == device[:-1]  # consecutive accounts of one device
    src, dst = account[:-1][same], account[1:][same]
    src, dst = np.concatenate([src, dst[:50]]), np.concatenate([dst, src[:50]])
    weight = np.linspace(0.5, 2.0, src.shape[0])
    return EdgeListProjection(nodes=accounts.to_numpy(), src=src, dst=dst, weight=weight)


def test_edge_list_projection_parity(engines: Engines) -> None:
    """A derived account graph (with duplicates and isolated accounts) gives equal answers."""
    projection = account_graph(engines.embedded_store)
    assert projection.src.shape[0] > 100
    assert engines.gds.wcc(projection).equals(engines.embedded.wcc(projection))
    np.testing.assert_allclose(
        engines.gds.degree(projection)["degree"].to_numpy(),
        engines.embedded.degree(projection)["degree"].to_numpy(),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        engines.gds.pagerank(projection)["score"].to_numpy(),
        engines.embedded.pagerank(projection)["score"].to_numpy(),
        rtol=PAGERANK_RTOL,
    )
    q_ours = modularity(engines.embedded.leiden(projection), projection.src, projection.dst)
    q_theirs = modularity(engines.gds.leiden(projection), projection.src, projection.dst)
    assert q_theirs == pytest.approx(q_ours, abs=MODULARITY_TOLERANCE)


def test_projection_without_links_keeps_the_nodes(engines: Engines) -> None:
    """No selected link type: every node of the selected types is its own component."""
    projection = NativeProjection(node_types=(NodeType.MERCHANT,), link_types=())
    ours = engines.embedded.wcc(projection)
    assert engines.gds.wcc(projection).equals(ours)
    assert ours["id"].equals(ours["component"]) and ours.num_rows > 0


def test_estimate_memory_is_sane(engines: Engines) -> None:
    """GDS's estimate covers the projected nodes, is positive and fits the test server."""
    counts = engines.embedded_store.counts()
    for algorithm in Algorithm:
        estimate = engines.gds.estimate_memory(EVERYTHING, algorithm)
        assert 0 < estimate.bytes_min <= estimate.bytes_max < estimate.available_bytes
        assert estimate.node_count == sum(counts.nodes.values())
        links = sum(counts.links.values())
        assert 0.8 * links <= estimate.relationship_count <= links
    derived = account_graph(engines.embedded_store)
    estimate = engines.gds.estimate_memory(derived, Algorithm.LEIDEN)
    assert estimate.node_count == derived.nodes.shape[0]


def test_failing_memory_check_raises_before_projecting(engines: Engines) -> None:
    """With a 1 KiB cap every call raises LimitExceeded and leaves no projection behind."""
    starved = GdsAlgorithms.for_store(engines.neo4j_store, max_memory_bytes=1024)
    try:
        with pytest.raises(LimitExceeded, match="heap"):
            starved.wcc(EVERYTHING)
        with pytest.raises(LimitExceeded, match="heap"):
            starved.leiden(account_graph(engines.embedded_store))
    finally:
        starved.close()
    assert no_projections_left(engines.gds)


def test_projection_is_dropped_when_the_call_fails(engines: Engines) -> None:
    """A failure while the projection exists still drops it."""
    with pytest.raises(RuntimeError, match="boom"), engines.gds._projected(RARE, Algorithm.WCC):
        assert not no_projections_left(engines.gds)
        raise RuntimeError("boom")
    assert no_projections_left(engines.gds)


def test_every_projection_was_dropped(engines: Engines) -> None:
    """After all the calls of this module the GDS catalog is empty."""
    engines.gds.degree(RARE)
    assert no_projections_left(engines.gds)


def test_unreachable_server_is_backend_unavailable() -> None:
    """Nothing listening: BackendUnavailable with a one-line message, at once."""
    with pytest.raises(BackendUnavailable, match=r"cannot reach Neo4j at bolt://") as caught:
        GdsAlgorithms(uri=f"bolt://127.0.0.1:{free_port()}", password=PASSWORD)
    assert "\n" not in str(caught.value)


def test_wrong_password_is_backend_unavailable(engines: Engines) -> None:
    """Rejected credentials: BackendUnavailable naming the cause."""
    uri = engines.gds.uri
    with pytest.raises(BackendUnavailable, match="rejected the credentials"):
        GdsAlgorithms(uri=uri, password="not-the-password")
