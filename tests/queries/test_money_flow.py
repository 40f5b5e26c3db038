"""money_flow: directed transfer hops around an account, networkx as the oracle."""

from __future__ import annotations

import networkx as nx
import pytest

from graph_service import EntityNotFound, GraphStore, InvalidInput, LimitExceeded, NodeType
from graph_service.model import LinkType
from queries import money_flow
from queries.limits import MAX_FLOW_DEPTH, MAX_FLOW_LINKS
from tests.queries.conftest import entity_id, oracle_graph


def expected_flow(
    store: GraphStore, key: str, depth: int, direction: str
) -> list[tuple[int, str, int, int]]:
    """(hop, direction, src, dst) of every transfer reached, from networkx distances."""
    full = oracle_graph(store)
    transfers = nx.DiGraph(
        (u, v) for u, v, data in full.edges(data=True) if data["type"] == LinkType.TRANSFERS_TO
    )
    root = entity_id(store, NodeType.ACCOUNT, key)
    found: dict[tuple[int, int], tuple[int, str]] = {}
    if root not in transfers:
        return []
    sides = ("out", "in") if direction == "both" else (direction,)
    for side in sides:
        walk = transfers if side == "out" else transfers.reverse()
        distance = nx.single_source_shortest_path_length(walk, root, cutoff=depth - 1)
        for node, dist in distance.items():
            for nxt in walk.successors(node):
                link = (node, nxt) if side == "out" else (nxt, node)
                best = found.get(link)
                if best is None or (dist + 1, side != "out") < (best[0], best[1] != "out"):
                    found[link] = (dist + 1, side)
    return sorted(
        ((hop, side, src, dst) for (src, dst), (hop, side) in found.items()),
        key=lambda r: (r[0], r[1] != "out", r[2], r[3]),
    )


@pytest.mark.parametrize("key", ["A1", "A2", "A7", "A9"])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("direction", ["out", "in", "both"])
def test_flow_matches_networkx(graph: GraphStore, key: str, depth: int, direction: str) -> None:
    """Links, hops and directions are those of a directed BFS in networkx."""
    flow = money_flow(graph, key, depth=depth, direction=direction)  # type: ignore[arg-type]
    got = [(f.hop, f.direction, f.link.src, f.link.dst) for f in flow.links]
    assert got == expected_flow(graph, key, depth, direction)
    ends = {flow.account.id} | {i for f in flow.links for i in (f.link.src, f.link.dst)}
    assert [a.id for a in flow.accounts] == sorted(ends)
    assert not flow.truncated


def test_known_flow_with_amounts(graph: GraphStore) -> None:
    """A2 receives 150 from A1 and 70 from A5, and sends 30 to A3, which pays A1 and A4."""
    flow = money_flow(graph, "A2", depth=2)
    keyed = {a.id: a.key for a in flow.accounts}
    got = [
        (
            f.hop,
            f.direction,
            keyed[f.link.src],
            keyed[f.link.dst],
            f.link.amount_sum,
            f.link.n_events,
        )
        for f in flow.links
    ]
    assert got == [
        (1, "out", "A2", "A3", 30.0, 1),
        (1, "in", "A1", "A2", 150.0, 2),
        (1, "in", "A5", "A2", 70.0, 1),
        (2, "out", "A3", "A1", 20.0, 1),
        (2, "out", "A3", "A4", 5.0, 1),
    ]


def test_limit_truncates_nearest_hops_first(graph: GraphStore) -> None:
    """With limit=2 the first two links of hop 1 come back, and truncated is set."""
    flow = money_flow(graph, "A2", depth=2, limit=2)
    assert flow.truncated and len(flow.links) == 2
    assert all(f.hop == 1 for f in flow.links)
    assert money_flow(graph, "A2", depth=2, limit=5).truncated is False
    nothing = money_flow(graph, "A2", limit=0)
    assert nothing.links == () and nothing.truncated


@pytest.mark.parametrize(
    "options",
    [
        {"depth": 0},
        {"depth": MAX_FLOW_DEPTH + 1},
        {"direction": "sideways"},
        {"limit": -1},
    ],
)
def test_bad_arguments_are_invalid_input(graph: GraphStore, options: dict[str, object]) -> None:
    """depth outside [1, MAX_FLOW_DEPTH], unknown direction or a negative limit: InvalidInput."""
    with pytest.raises(InvalidInput):
        money_flow(graph, "A2", **options)  # type: ignore[arg-type]


def test_limit_above_cap_and_unknown_account(graph: GraphStore) -> None:
    """limit beyond MAX_FLOW_LINKS raises LimitExceeded; an unknown account EntityNotFound."""
    with pytest.raises(LimitExceeded):
        money_flow(graph, "A2", limit=MAX_FLOW_LINKS + 1)
    with pytest.raises(EntityNotFound):
        money_flow(graph, "D1")
