"""The embedded algorithm engine against networkx (and a literal GDS PageRank) as oracles.

Small graphs with known answers: a ring of cliques (planted communities joined by single
edges), a graph with three components and an isolated node, and the six-event log of
``tests/conftest.py`` for native projections of a real store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from graph_service.algorithms import (
    COMMUNITY_SCHEMA,
    COMPONENT_SCHEMA,
    DEGREE_SCHEMA,
    SCORE_SCHEMA,
    SIMILARITY_SCHEMA,
    Algorithm,
    EdgeListProjection,
    GraphAlgorithms,
    NativeProjection,
    canonical_labels,
    embedding_schema,
    modularity,
)
from graph_service.embedded.algorithms import EmbeddedAlgorithms
from graph_service.embedded.kernels import jaccard_top_k
from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import InvalidInput, LimitExceeded
from graph_service.model import LinkType, NodeType
from graph_service.projected_graph import project_edge_list
from ingestion.loader import Ingestor
from tests.conftest import GOOD_EVENTS, write_rows

ENGINE = EmbeddedAlgorithms(None)


def edge_list(graph: nx.Graph[Any], weight: str | None = None) -> EdgeListProjection:
    """The networkx graph as an ``EdgeListProjection`` (nodes must be ints)."""
    edges = np.array(list(graph.edges()), np.int64).reshape(-1, 2)
    weights = (
        np.array([graph.edges[u, v][weight] for u, v in graph.edges()], np.float64)
        if weight
        else None
    )
    return EdgeListProjection(
        nodes=np.array(sorted(graph.nodes()), np.int64),
        src=edges[:, 0],
        dst=edges[:, 1],
        weight=weights,
    )


def parts(table: pa.Table, column: str) -> list[set[int]]:
    """The partition in ``table`` as a sorted list of id sets."""
    groups: dict[int, set[int]] = {}
    for node, label in zip(table["id"].to_pylist(), table[column].to_pylist(), strict=True):
        groups.setdefault(label, set()).add(node)
    return sorted(groups.values(), key=min)


def ring_of_cliques(cliques: int = 5, size: int = 6, offset: int = 100) -> nx.Graph[Any]:
    """``cliques`` complete graphs joined in a ring by single edges; ids start at ``offset``."""
    graph = nx.ring_of_cliques(cliques, size)
    return nx.relabel_nodes(graph, {v: offset + 3 * v for v in graph})


def pregel_pagerank(
    graph: nx.Graph[Any], damping: float, max_iterations: int, tolerance: float, weight: str | None
) -> dict[int, float]:
    """GDS's PageRank computation, transcribed literally (node by node, message by message)."""
    nodes = sorted(graph.nodes())

    def deg(v: int) -> float:
        return float(graph.degree(v, weight=weight))

    rank = {v: 1.0 - damping for v in nodes}
    outbox = {v: rank[v] / deg(v) for v in nodes if deg(v) > 0}  # superstep 0 sends
    for _ in range(1, max_iterations):
        inbox = {v: 0.0 for v in nodes}
        for u, message in outbox.items():
            for v in graph.neighbors(u):
                w = graph.edges[u, v][weight] if weight else 1.0
                inbox[v] += message * w
        outbox = {}
        for v in nodes:
            delta = damping * inbox[v]
            rank[v] += delta
            if delta > tolerance and deg(v) > 0:
                outbox[v] = delta / deg(v)
        if not outbox:
            break
    return rank


# -- WCC ----------------------------------------------------------------------------------


def test_engine_satisfies_the_protocol() -> None:
    """EmbeddedAlgorithms is a GraphAlgorithms with engine 'embedded'."""
    assert isinstance(ENGINE, GraphAlgorithms)
    assert ENGINE.engine == "embedded"


def test_wcc_matches_networkx_components_with_canonical_labels() -> None:
    """WCC finds networkx's components, each labelled by its smallest id."""
    graph = nx.Graph([(10, 11), (11, 12), (30, 31), (5, 40), (40, 41)])
    graph.add_node(99)  # isolated: its own component
    table = ENGINE.wcc(edge_list(graph))

    assert table.schema == COMPONENT_SCHEMA
    assert table["id"].to_pylist() == sorted(graph.nodes())
    assert parts(table, "component") == sorted(nx.connected_components(graph), key=min)
    labels = dict(zip(table["id"].to_pylist(), table["component"].to_pylist(), strict=True))
    assert labels[41] == 5 and labels[12] == 10 and labels[99] == 99


def test_canonical_labels_name_each_part_by_its_smallest_id() -> None:
    """Relabelling is independent of the labels an engine happened to choose."""
    ids = np.array([7, 3, 9, 1])
    assert canonical_labels(ids, np.array([0, 0, 5, 5])).tolist() == [3, 3, 1, 1]
    assert canonical_labels(ids, np.array([8, 8, 2, 2])).tolist() == [3, 3, 1, 1]


# -- communities --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["louvain", "leiden"])
def test_communities_recover_planted_cliques(method: str) -> None:
    """Louvain and Leiden find the cliques of a ring of cliques, within 0.02 of networkx's Q."""
    graph = ring_of_cliques()
    projection = edge_list(graph)
    table = getattr(ENGINE, method)(projection, seed=7)

    assert table.schema == COMMUNITY_SCHEMA
    cliques = sorted((set(c) for c in nx.community.louvain_communities(graph, seed=1)), key=min)
    assert parts(table, "community") == cliques
    assert all(len(c) == 6 for c in cliques)
    ours = modularity(table, projection.src, projection.dst)
    oracle = nx.community.modularity(graph, nx.community.louvain_communities(graph, seed=1))
    assert ours == pytest.approx(oracle, abs=0.02)


@pytest.mark.parametrize("method", ["louvain", "leiden"])
def test_communities_are_reproducible_by_seed(method: str) -> None:
    """The same seed gives the same table on a graph without an obvious optimum."""
    graph = nx.relabel_nodes(nx.gnm_random_graph(80, 240, seed=3), lambda v: v + 1000)
    projection = edge_list(graph)
    first = getattr(ENGINE, method)(projection, seed=11)
    assert first.equals(getattr(ENGINE, method)(projection, seed=11))
    oracle = nx.community.modularity(graph, nx.community.louvain_communities(graph, seed=1))
    assert modularity(first, projection.src, projection.dst) == pytest.approx(oracle, abs=0.02)


def test_leiden_resolution_trades_community_count() -> None:
    """A higher resolution splits into more communities; a tiny one merges everything."""
    projection = edge_list(ring_of_cliques(cliques=6, size=5))
    coarse = ENGINE.leiden(projection, resolution=0.01)
    fine = ENGINE.leiden(projection, resolution=1.0)
    assert len(set(coarse["community"].to_pylist())) < len(set(fine["community"].to_pylist()))


def test_weighted_louvain_follows_heavy_edges() -> None:
    """Two triangles whose bridge is heavy and whose inner edges are light merge by weight."""
    graph = nx.Graph()
    graph.add_weighted_edges_from(
        [(1, 2, 0.01), (2, 3, 0.01), (1, 3, 0.01), (4, 5, 0.01), (5, 6, 0.01), (4, 6, 0.01)]
    )
    graph.add_weighted_edges_from([(1, 4, 10.0), (2, 5, 10.0), (3, 6, 10.0)])
    weighted = ENGINE.louvain(edge_list(graph, "weight"))
    unweighted = ENGINE.louvain(edge_list(graph))
    assert {1, 4} <= next(p for p in parts(weighted, "community") if 1 in p)
    assert parts(unweighted, "community") == [{1, 2, 3}, {4, 5, 6}]


def test_modularity_helper_matches_networkx() -> None:
    """graph_service.algorithms.modularity equals networkx's, unweighted and weighted."""
    graph = nx.relabel_nodes(nx.gnm_random_graph(40, 90, seed=5), lambda v: 2 * v)
    rng = np.random.default_rng(0)
    for u, v in graph.edges():
        graph.edges[u, v]["weight"] = float(rng.uniform(0.5, 3.0))
    communities = nx.community.louvain_communities(graph, seed=2)
    label = {v: i for i, c in enumerate(communities) for v in c}
    table = pa.table({"id": list(label), "community": list(label.values())})
    src, dst = np.array(graph.edges()).T
    weights = np.array([graph.edges[u, v]["weight"] for u, v in graph.edges()])

    assert modularity(table, src, dst) == pytest.approx(
        nx.community.modularity(graph, communities, weight=None)
    )
    assert modularity(table, src, dst, weights) == pytest.approx(
        nx.community.modularity(graph, communities, weight="weight")
    )


# -- PageRank -----------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [None, "weight"])
@pytest.mark.parametrize(("max_iterations", "tolerance"), [(40, 1e-7), (3, 1e-7), (40, 1e-2)])
def test_pagerank_equals_the_gds_computation(
    weight: str | None, max_iterations: int, tolerance: float
) -> None:
    """Scores equal GDS's Pregel PageRank, transcribed literally, incl. early halting."""
    graph = nx.relabel_nodes(nx.gnm_random_graph(50, 120, seed=9), lambda v: v + 7)
    graph.add_node(500)  # isolated: keeps 1 - d
    rng = np.random.default_rng(1)
    for u, v in graph.edges():
        graph.edges[u, v]["weight"] = float(rng.uniform(0.1, 5.0))
    table = ENGINE.pagerank(
        edge_list(graph, weight), max_iterations=max_iterations, tolerance=tolerance
    )
    expected = pregel_pagerank(graph, 0.85, max_iterations, tolerance, weight)

    assert table.schema == SCORE_SCHEMA
    assert table["id"].to_pylist() == sorted(expected)
    np.testing.assert_allclose(
        table["score"].to_numpy(), [expected[v] for v in sorted(expected)], rtol=1e-12
    )
    assert table["score"].to_pylist()[-1] == pytest.approx(0.15)


def test_pagerank_is_networkx_pagerank_times_n_on_a_connected_graph() -> None:
    """Converged GDS scores are n times networkx's probabilities (same ranking)."""
    graph = nx.relabel_nodes(nx.connected_watts_strogatz_graph(60, 4, 0.3, seed=2), str)
    graph = nx.convert_node_labels_to_integers(graph, first_label=10)
    table = ENGINE.pagerank(edge_list(graph), max_iterations=500, tolerance=1e-14)
    oracle = nx.pagerank(graph, alpha=0.85, tol=1e-14, max_iter=1000)
    scores = table["score"].to_numpy()
    expected = np.array([oracle[v] for v in table["id"].to_pylist()])

    np.testing.assert_allclose(scores / scores.sum(), expected, rtol=1e-6)
    assert scores.sum() == pytest.approx(graph.number_of_nodes(), rel=1e-6)
    assert np.array_equal(np.argsort(-scores, kind="stable"), np.argsort(-expected, kind="stable"))


def test_pagerank_rejects_bad_parameters() -> None:
    """A damping outside [0, 1) is invalid input."""
    with pytest.raises(InvalidInput, match="damping"):
        ENGINE.pagerank(edge_list(nx.path_graph(3)), damping=1.0)


# -- degree -------------------------------------------------------------------------------


def test_degree_matches_networkx_plain_and_weighted() -> None:
    """Degree is networkx's degree; with weights, the summed weight."""
    graph = nx.relabel_nodes(nx.gnm_random_graph(30, 60, seed=4), lambda v: v * 5)
    for i, (u, v) in enumerate(graph.edges()):
        graph.edges[u, v]["weight"] = 0.5 + i % 3
    plain = ENGINE.degree(edge_list(graph))
    weighted = ENGINE.degree(edge_list(graph, "weight"))

    assert plain.schema == DEGREE_SCHEMA
    assert plain["degree"].to_pylist() == [float(graph.degree(v)) for v in sorted(graph)]
    assert weighted["degree"].to_pylist() == pytest.approx(
        [graph.degree(v, weight="weight") for v in sorted(graph)]
    )


# -- node similarity ----------------------------------------------------------------------


def expected_jaccard(
    graph: nx.Graph[Any], top_k: int, cutoff: float
) -> list[tuple[int, int, float]]:
    """Top-k Jaccard per node from networkx, ties by smaller neighbour id."""
    active = [v for v in graph if graph.degree(v) > 0]
    pairs = [(u, v) for u in active for v in active if u != v]
    best: dict[int, list[tuple[float, int]]] = {}
    for u, v, score in nx.jaccard_coefficient(graph, pairs):
        if score >= cutoff and score > 0:
            best.setdefault(u, []).append((-score, v))
    rows = []
    for u in sorted(best):
        for negative, v in sorted(best[u])[:top_k]:
            rows.append((u, v, -negative))
    return rows


@pytest.mark.parametrize(("top_k", "cutoff"), [(10, 0.1), (2, 0.0), (3, 0.5)])
def test_node_similarity_matches_networkx_jaccard(top_k: int, cutoff: float) -> None:
    """Top-k Jaccard per node (cutoff inclusive) equals networkx's jaccard_coefficient."""
    graph = nx.relabel_nodes(nx.gnm_random_graph(40, 100, seed=6), lambda v: v + 100)
    graph.add_node(1)  # no neighbours: never compared
    table = ENGINE.node_similarity(edge_list(graph), top_k=top_k, cutoff=cutoff)
    expected = expected_jaccard(graph, top_k, cutoff)

    assert table.schema == SIMILARITY_SCHEMA
    got = list(zip(*(table[c].to_pylist() for c in SIMILARITY_SCHEMA.names), strict=True))
    assert [(u, v) for u, v, _ in got] == [(u, v) for u, v, _ in expected]
    assert [s for *_, s in got] == pytest.approx([s for *_, s in expected])


def test_node_similarity_is_the_same_in_small_blocks() -> None:
    """Row blocks of a few intersections give the same answer as one block."""
    graph = nx.relabel_nodes(nx.gnm_random_graph(60, 200, seed=8), lambda v: v + 3)
    projection = edge_list(graph)
    whole = ENGINE.node_similarity(projection, top_k=4, cutoff=0.05)
    tiny = EmbeddedAlgorithms(None, similarity_block_entries=7)
    assert tiny.node_similarity(projection, top_k=4, cutoff=0.05).equals(whole)
    adjacency = project_edge_list(projection).adjacency
    u, _, _ = jaccard_top_k(adjacency, top_k=4, cutoff=0.05, block_entries=1)
    assert u.shape[0] == whole.num_rows


def test_node_similarity_pins_a_hand_computed_pair() -> None:
    """Accounts 1 and 2 share two of three identifiers: J = 2 / 4 = 0.5 (both directions)."""
    graph = nx.Graph([(1, 10), (1, 11), (1, 12), (2, 10), (2, 11), (2, 13)])
    table = ENGINE.node_similarity(edge_list(graph), top_k=1, cutoff=0.5)
    rows = set(zip(table["id1"].to_pylist(), table["id2"].to_pylist(), strict=True))
    assert {(1, 2), (2, 1)} <= rows
    assert table.filter(pc.equal(table["id1"], 1))["similarity"].to_pylist() == [0.5]


# -- FastRP -------------------------------------------------------------------------------


def test_fastrp_shape_determinism_and_clique_geometry() -> None:
    """Embeddings have the asked shape, repeat by seed, and place clique-mates closer."""
    graph = ring_of_cliques(cliques=4, size=8)
    projection = edge_list(graph)
    table = ENGINE.fastrp(projection, dimension=32, seed=3)

    assert table.schema == embedding_schema(32)
    assert table["id"].to_pylist() == sorted(graph)
    assert table.equals(ENGINE.fastrp(projection, dimension=32, seed=3))
    assert not table.equals(ENGINE.fastrp(projection, dimension=32, seed=4))
    matrix = np.array(table["embedding"].to_pylist())
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    cosine = unit @ unit.T
    clique = np.array([(v - 100) // 3 // 8 for v in table["id"].to_pylist()])
    same = clique[:, None] == clique[None, :]
    np.fill_diagonal(same, False)
    across = clique[:, None] != clique[None, :]
    assert cosine[same].mean() > cosine[across].mean() + 0.3


def test_fastrp_gives_isolated_nodes_a_zero_vector() -> None:
    """An isolated node has no neighbours to aggregate: its embedding is 0 (as in GDS)."""
    graph = nx.path_graph(4)
    graph.add_node(9)
    table = ENGINE.fastrp(edge_list(graph), dimension=8)
    assert table["embedding"].to_pylist()[-1] == [0.0] * 8


# -- edge-list projections ----------------------------------------------------------------


def test_edge_list_sums_duplicates_and_drops_self_loops() -> None:
    """Repeated edges (either direction) merge, weights add, self-loops vanish."""
    projection = EdgeListProjection(
        nodes=np.array([4, 2, 8, 6]),
        src=np.array([2, 4, 2, 8]),
        dst=np.array([4, 2, 2, 6]),
        weight=np.array([1.5, 2.0, 9.0, 0.0]),
    )
    graph = project_edge_list(projection)
    assert graph.ids.tolist() == [2, 4, 6, 8]
    assert graph.n_edges == 2
    src, dst, weight = graph.edges()
    ends = zip(graph.ids[src].tolist(), graph.ids[dst].tolist(), weight.tolist(), strict=True)
    assert list(ends) == [
        (2, 4, 3.5),
        (6, 8, 0.0),  # zero weight is still an edge
    ]
    assert ENGINE.degree(projection)["degree"].to_pylist() == [3.5, 3.5, 0.0, 0.0]
    unweighted = EdgeListProjection(nodes=projection.nodes, src=projection.src, dst=projection.dst)
    assert ENGINE.degree(unweighted)["degree"].to_pylist() == [1.0, 1.0, 1.0, 1.0]
    assert ENGINE.wcc(projection)["component"].to_pylist() == [2, 2, 6, 6]


def test_edge_list_with_sparse_ids_maps_edge_ends_by_search() -> None:
    """Ids far apart (no lookup table) map the same way; unsorted, repeated nodes are fine."""
    big = 10**12
    projection = EdgeListProjection(
        nodes=np.array([3 * big, 5, big, 5]),
        src=np.array([5, big]),
        dst=np.array([big, 3 * big]),
    )
    assert ENGINE.wcc(projection)["component"].to_pylist() == [5, 5, 5]
    with pytest.raises(InvalidInput, match="outside nodes"):
        ENGINE.wcc(EdgeListProjection(nodes=projection.nodes, src=np.array([7]), dst=np.array([5])))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"src": np.array([1]), "dst": np.array([5])}, "outside nodes"),
        ({"src": np.array([1, 2]), "dst": np.array([2])}, "equal length"),
        ({"src": np.array([1]), "dst": np.array([2]), "weight": np.array([-1.0])}, "non-negative"),
        ({"src": np.array([1]), "dst": np.array([2]), "weight": np.array([1.0, 2.0])}, "shape"),
    ],
)
def test_edge_list_rejects_malformed_input(kwargs: dict[str, Any], message: str) -> None:
    """Edges to unknown nodes, ragged arrays and bad weights are InvalidInput."""
    with pytest.raises(InvalidInput, match=message):
        ENGINE.wcc(EdgeListProjection(nodes=np.array([1, 2, 3]), **kwargs))


def test_empty_projection_gives_empty_tables() -> None:
    """No nodes: every algorithm returns an empty table of its schema."""
    empty = np.zeros(0, np.int64)
    projection = EdgeListProjection(nodes=empty, src=empty, dst=empty)
    assert ENGINE.wcc(projection).num_rows == 0
    assert ENGINE.leiden(projection).num_rows == 0
    assert ENGINE.pagerank(projection).schema == SCORE_SCHEMA
    assert ENGINE.node_similarity(projection).num_rows == 0
    assert ENGINE.fastrp(projection, dimension=4).schema == embedding_schema(4)


# -- native projections of a store --------------------------------------------------------

#: A second transfer, back from A3 to A2: two links of one pair, in opposite directions.
TRANSFER_BACK = {
    "event_id": "e7",
    "ts": "2026-01-06T09:00:00Z",
    "event_type": "transfer",
    "account_id": "A3",
    "counterparty_account_id": "A2",
    "amount": "50",
    "currency": "GBP",
}


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """An embedded store holding the six-event log plus a transfer back from A3 to A2."""
    store = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q")
    ingestor.run([write_rows(tmp_path / "events.csv", [*GOOD_EVENTS, TRANSFER_BACK])])
    ingestor.close()
    yield store
    store.close()


def ids_of(store: EmbeddedStore, node_type: NodeType, *keys: str) -> list[int]:
    return [store.get_entity(node_type, key).id for key in keys]


def test_native_projection_filters_node_and_link_types(loaded: EmbeddedStore) -> None:
    """Only the selected node types appear; links to other types are dropped."""
    engine = EmbeddedAlgorithms(loaded)
    projection = NativeProjection(
        node_types=(NodeType.ACCOUNT, NodeType.DEVICE), link_types=(LinkType.USES_DEVICE,)
    )
    degree = engine.degree(projection)
    accounts = ids_of(loaded, NodeType.ACCOUNT, "A1", "A2", "A3")
    devices = ids_of(loaded, NodeType.DEVICE, "D1", "D2")

    assert degree["id"].to_pylist() == sorted(accounts + devices)
    by_id = dict(zip(degree["id"].to_pylist(), degree["degree"].to_pylist(), strict=True))
    assert by_id[devices[0]] == 2.0 and by_id[devices[1]] == 1.0
    assert [by_id[a] for a in accounts] == [1.0, 1.0, 1.0]
    components = parts(engine.wcc(projection), "component")
    assert components == sorted(
        [{accounts[0], accounts[1], devices[0]}, {accounts[2], devices[1]}], key=min
    )
    # The transfer link ends at accounts, but USES_DEVICE alone does not connect A2 and A3.
    only_accounts = NativeProjection(node_types=(NodeType.ACCOUNT,), link_types=tuple(LinkType))
    assert len(parts(engine.wcc(only_accounts), "component")) == 2  # {A2, A3}, {A1}


def test_native_projection_weights_sum_parallel_links_and_count_them_once(
    loaded: EmbeddedStore,
) -> None:
    """A2->A3 (100) and A3->A2 (50) are one edge: weight 150 / 2 events, degree 1."""
    engine = EmbeddedAlgorithms(loaded)
    a2, a3 = ids_of(loaded, NodeType.ACCOUNT, "A2", "A3")

    def degree_of(weight: Any) -> dict[int, float]:
        transfers = NativeProjection(
            node_types=(NodeType.ACCOUNT,), link_types=(LinkType.TRANSFERS_TO,), weight=weight
        )
        table = engine.degree(transfers)
        return dict(zip(table["id"].to_pylist(), table["degree"].to_pylist(), strict=True))

    assert degree_of(None)[a2] == 1.0 and degree_of(None)[a3] == 1.0
    assert degree_of("n_events")[a2] == 2.0
    assert degree_of("amount_sum")[a3] == 150.0


def test_native_projection_matches_networkx_on_the_whole_store(loaded: EmbeddedStore) -> None:
    """Over every type, WCC / degree / PageRank agree with networkx built from the export."""
    engine = EmbeddedAlgorithms(loaded)
    links = loaded.export_links()
    graph = nx.Graph()
    graph.add_nodes_from(loaded.export_nodes()["id"].to_pylist())
    graph.add_edges_from(zip(links["src"].to_pylist(), links["dst"].to_pylist(), strict=True))
    projection = NativeProjection()

    assert parts(engine.wcc(projection), "component") == sorted(
        nx.connected_components(graph), key=min
    )
    assert engine.degree(projection)["degree"].to_pylist() == [
        float(graph.degree(v)) for v in sorted(graph)
    ]
    expected = pregel_pagerank(graph, 0.85, 40, 1e-7, None)
    assert engine.pagerank(projection)["score"].to_pylist() == pytest.approx(
        [expected[v] for v in sorted(graph)], rel=1e-12
    )


def test_native_projection_needs_a_store() -> None:
    """Without a store, only edge lists can be projected."""
    with pytest.raises(InvalidInput, match="store"):
        ENGINE.wcc(NativeProjection())


# -- memory -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_estimate_grows_with_the_graph_and_reports_counts(algorithm: Algorithm) -> None:
    """Estimates are positive, min <= max, and larger for a larger graph."""
    small = edge_list(ring_of_cliques(cliques=3, size=4))
    large = edge_list(ring_of_cliques(cliques=30, size=8))
    a = ENGINE.estimate_memory(small, algorithm)
    b = ENGINE.estimate_memory(large, algorithm)

    assert 0 < a.bytes_min <= a.bytes_max < b.bytes_max
    assert (a.node_count, a.relationship_count) == (12, 3 * 6 + 3)
    assert a.available_bytes > 0 and a.fits


def test_native_estimate_uses_store_counts(loaded: EmbeddedStore) -> None:
    """A native estimate counts the selected types from store.counts() without loading."""
    estimate = EmbeddedAlgorithms(loaded).estimate_memory(
        NativeProjection(node_types=(NodeType.ACCOUNT,), link_types=(LinkType.TRANSFERS_TO,)),
        Algorithm.PAGERANK,
    )
    assert (estimate.node_count, estimate.relationship_count) == (3, 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda e, p: e.wcc(p),
        lambda e, p: e.louvain(p),
        lambda e, p: e.leiden(p),
        lambda e, p: e.pagerank(p),
        lambda e, p: e.degree(p),
        lambda e, p: e.node_similarity(p),
        lambda e, p: e.fastrp(p),
    ],
)
def test_algorithms_refuse_to_run_when_memory_does_not_fit(call: Any) -> None:
    """With 1 KiB available every algorithm raises LimitExceeded before running."""
    starved = EmbeddedAlgorithms(None, available_memory=1024)
    with pytest.raises(LimitExceeded, match="available"):
        call(starved, edge_list(ring_of_cliques()))


def test_native_estimate_raises_before_exporting(loaded: EmbeddedStore) -> None:
    """The guard runs on counts: a starved engine never reads the store's links."""
    starved = EmbeddedAlgorithms(loaded, available_memory=100)
    with pytest.raises(LimitExceeded, match="wcc needs up to"):
        starved.wcc(NativeProjection())
