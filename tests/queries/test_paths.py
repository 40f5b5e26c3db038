"""shortest_path: networkx as the oracle for length and tie-breaking, on every backend."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest

from graph_service import EntityNotFound, GraphStore, InvalidInput, LimitExceeded, NodeType
from graph_service.model import LinkType
from queries import shortest_path
from queries.limits import MAX_PATH_EXPANSION, MAX_PATH_HOPS
from tests.queries.conftest import INJECTION_ACCOUNT, INJECTION_DEVICE, oracle_graph

ENTITIES = [
    *(("Account", f"A{i}") for i in range(1, 10)),
    ("Account", INJECTION_ACCOUNT),
    ("Device", INJECTION_DEVICE),
    ("Device", "D3"),
    ("Card", "C2"),
    ("Merchant", "M1"),
]


def smallest_shortest_path(graph: nx.Graph, source: int, target: int) -> list[int] | None:
    """The lexicographically smallest id sequence among all shortest paths (networkx)."""
    try:
        smallest: list[int] = min(nx.all_shortest_paths(graph, source, target))
        return smallest
    except nx.NetworkXNoPath:
        return None


def test_paths_are_the_smallest_shortest_paths_of_networkx(graph: GraphStore) -> None:
    """For every pair: same length as networkx, and the lexicographically smallest ids."""
    undirected = nx.Graph(oracle_graph(graph).to_undirected())
    for (a_type, a_key), (b_type, b_key) in itertools.combinations(ENTITIES, 2):
        a = graph.get_entity(NodeType.parse(a_type), a_key).id
        b = graph.get_entity(NodeType.parse(b_type), b_key).id
        expected = smallest_shortest_path(undirected, a, b)
        if expected is not None and len(expected) - 1 > 4:
            expected = None
        path = shortest_path(graph, (a_type, a_key), (b_type, b_key), max_hops=4)
        got = None if path is None else [n.id for n in path.nodes]
        assert got == expected, (a_key, b_key)
        # Searching the other way finds a path of the same length.
        back = shortest_path(graph, (b_type, b_key), (a_type, a_key), max_hops=4)
        assert (back is None) == (path is None)
        if path is not None and back is not None:
            assert back.length == path.length


def test_hops_carry_every_link_between_consecutive_nodes(graph: GraphStore) -> None:
    """Each hop lists the links joining its two nodes (two transfers for A7 <-> A8)."""
    path = shortest_path(graph, ("Account", "A1"), ("Account", "A8"))
    assert path is not None
    assert [n.key for n in path.nodes] == ["A1", "M1", "A7", "A8"]
    assert [[k.type for k in hop] for hop in path.hops] == [
        [LinkType.PAYS],
        [LinkType.PAYS],
        [LinkType.TRANSFERS_TO, LinkType.TRANSFERS_TO],
    ]
    for (left, right), hop in zip(itertools.pairwise(path.nodes), path.hops, strict=True):
        assert all({k.src, k.dst} == {left.id, right.id} for k in hop)
    assert sorted(k.amount_sum for k in path.hops[2]) == [10.0, 40.0]


def test_same_entity_is_a_path_of_one_node(graph: GraphStore) -> None:
    """From an entity to itself: one node, no hops."""
    path = shortest_path(graph, ("Account", "A1"), ("account", "A1"))
    assert path is not None and path.length == 0 and [n.key for n in path.nodes] == ["A1"]


def test_no_path_within_max_hops_is_none(graph: GraphStore) -> None:
    """Disconnected entities, or ones farther than max_hops, give None."""
    assert shortest_path(graph, ("Account", "A1"), ("Account", "A9")) is None
    assert shortest_path(graph, ("Account", "A1"), ("Account", "A8"), max_hops=2) is None
    assert shortest_path(graph, ("Account", "A1"), ("Account", "A8"), max_hops=3) is not None


def test_link_type_filter_restricts_the_traversal(graph: GraphStore) -> None:
    """Over transfers only, A1 reaches A4 through A3 (A3 pays A1 and A4)."""
    path = shortest_path(graph, ("Account", "A1"), ("Account", "A4"), link_types=["TRANSFERS_TO"])
    assert path is not None and [n.key for n in path.nodes] == ["A1", "A3", "A4"]
    assert all(k.type == LinkType.TRANSFERS_TO for hop in path.hops for k in hop)
    assert (
        shortest_path(graph, ("Account", "A1"), ("Account", "A7"), link_types=["TRANSFERS_TO"])
        is None
    )


def test_expansion_cap_refuses_a_search_that_would_read_too_much(graph: GraphStore) -> None:
    """A search needing more adjacencies than max_expansion raises LimitExceeded."""
    with pytest.raises(LimitExceeded):
        shortest_path(graph, ("Account", "A1"), ("Account", "A8"), max_expansion=3)
    with pytest.raises(LimitExceeded):
        shortest_path(
            graph, ("Account", "A1"), ("Account", "A8"), max_expansion=MAX_PATH_EXPANSION + 1
        )


@pytest.mark.parametrize(
    ("source", "target", "options"),
    [
        (("Account", "A1"), ("Account", "A2"), {"max_hops": 0}),
        (("Account", "A1"), ("Account", "A2"), {"max_hops": MAX_PATH_HOPS + 1}),
        (("Account", "A1"), ("Account", "A2"), {"max_hops": True}),
        (("Planet", "A1"), ("Account", "A2"), {}),
        (("Account",), ("Account", "A2"), {}),
        ("A1", ("Account", "A2"), {}),
        (("Account", "A1"), ("Account", ""), {}),
        (("Account", "A1"), ("Account", "A2"), {"link_types": ["KNOWS"]}),
        (("Account", "A1"), ("Account", "A2"), {"max_expansion": -1}),
    ],
)
def test_bad_arguments_are_invalid_input(
    graph: GraphStore, source: object, target: object, options: dict[str, object]
) -> None:
    """Hops outside [1, MAX_PATH_HOPS], malformed names and unknown types raise InvalidInput."""
    with pytest.raises(InvalidInput):
        shortest_path(graph, source, target, **options)  # type: ignore[arg-type]


def test_unknown_end_is_not_found(graph: GraphStore) -> None:
    """Either end missing raises EntityNotFound."""
    with pytest.raises(EntityNotFound):
        shortest_path(graph, ("Account", "A1"), ("Account", "nobody"))
    with pytest.raises(EntityNotFound):
        shortest_path(graph, ("IP", "10.9.9.9"), ("Account", "A1"))
