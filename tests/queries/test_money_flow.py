"""money_flow: directed transfer hops around an account, networkx as the oracle."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import networkx as nx
import pytest

from graph_service import EntityNotFound, GraphStore, InvalidInput, LimitExceeded, NodeType
from graph_service.model import LinkType
from queries import MoneyFlow, money_flow
from queries.limits import MAX_FLOW_DEPTH, MAX_FLOW_LINKS
from queries.temporal_flow import LinkTransfers, time_respecting_links
from tests.queries.conftest import entity_id, oracle_graph

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The module (its name is shadowed by the function on the package).
FLOW_MODULE = importlib.import_module("queries.money_flow")


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


def _keyed(store: GraphStore, flow: MoneyFlow) -> list[tuple[int, str, str, str]]:
    keys = {a.id: a.key for a in flow.accounts}
    return [(f.hop, f.direction, keys[f.link.src], keys[f.link.dst]) for f in flow.links]


def test_time_respecting_cuts_a_transfer_made_before_the_money_arrived(graph: GraphStore) -> None:
    """A5 pays A2 at 19:00; A2 paid A3 at 16:00, before: cut when time-respecting, kept by default."""
    untimed = money_flow(graph, "A5", depth=3, direction="out")
    assert _keyed(graph, untimed) == [
        (1, "out", "A5", "A2"),
        (2, "out", "A2", "A3"),
        (3, "out", "A3", "A1"),
        (3, "out", "A3", "A4"),
    ]
    assert not untimed.time_respecting and untimed.links[0].moved_amount is None
    timed = money_flow(graph, "A5", depth=3, direction="out", time_respecting=True)
    assert timed.time_respecting and not timed.truncated
    assert _keyed(graph, timed) == [(1, "out", "A5", "A2")]
    assert [a.key for a in timed.accounts] == ["A2", "A5"]


def test_time_respecting_out_gives_arrivals_and_moved_amounts(graph: GraphStore) -> None:
    """From A1 (transfers on 1 Feb 2026 at 14:00 +50/15:00 to A2, 16:00 on, 17:00, 18:00) every
    hop is in time order: each link says when money first arrives over it, and how much moved."""
    flow = money_flow(graph, "A1", depth=3, direction="out", time_respecting=True)
    got = [
        (*row, f.arrival_ts.hour if f.arrival_ts else None, f.departure_ts, f.moved_amount,
         f.moved_events)
        for row, f in zip(_keyed(graph, flow), flow.links, strict=True)
    ]  # fmt: skip
    assert got == [
        (1, "out", "A1", "A2", 14, None, 150.0, 2),
        (2, "out", "A2", "A3", 16, None, 30.0, 1),
        (3, "out", "A3", "A1", 17, None, 20.0, 1),
        (3, "out", "A3", "A4", 18, None, 5.0, 1),
    ]
    assert all(f.arrival_ts is not None and f.arrival_ts.tzinfo is not None for f in flow.links)


def test_time_respecting_in_mirrors_the_rule(graph: GraphStore) -> None:
    """Into A3: A2 -> A3 at 16:00; A1 -> A2 (14:00, 15:00) came before it, A5 -> A2 (19:00)
    after, and A3 -> A1 (17:00) after A1's last payment on: only the first two lead in."""
    untimed = money_flow(graph, "A3", depth=3, direction="in")
    assert len(untimed.links) == 4
    flow = money_flow(graph, "A3", depth=3, direction="in", time_respecting=True)
    got = [
        (*row, f.departure_ts.hour if f.departure_ts else None, f.moved_amount)
        for row, f in zip(_keyed(graph, flow), flow.links, strict=True)
    ]
    assert got == [(1, "in", "A2", "A3", 16, 30.0), (2, "in", "A1", "A2", 15, 150.0)]
    assert all(f.arrival_ts is None for f in flow.links)


def test_time_respecting_both_ways_and_limit(graph: GraphStore) -> None:
    """Both ways around A2 keeps every hop-1 link and the onward links after 16:00; a
    limit keeps the nearest hops and sets truncated."""
    flow = money_flow(graph, "A2", depth=2, time_respecting=True)
    assert _keyed(graph, flow) == [
        (1, "out", "A2", "A3"),
        (1, "in", "A1", "A2"),
        (1, "in", "A5", "A2"),
        (2, "out", "A3", "A1"),
        (2, "out", "A3", "A4"),
    ]
    cut = money_flow(graph, "A2", depth=2, limit=2, time_respecting=True)
    assert cut.truncated and _keyed(graph, cut) == _keyed(graph, flow)[:2]
    nothing = money_flow(graph, "A2", limit=0, time_respecting=True)
    assert nothing.links == () and nothing.truncated


@pytest.mark.parametrize("key", ["A1", "A2", "A3", "A5", "A7", "A9"])
@pytest.mark.parametrize("direction", ["out", "in", "both"])
def test_time_respecting_matches_the_single_transfers(
    graph: GraphStore, key: str, direction: str
) -> None:
    """On every backend the links, hops, bounds and amounts are those the temporal search
    finds over ``export_transfers`` (the store's own single transfers)."""
    table = graph.export_transfers().to_pylist()
    transfers: dict[tuple[int, int], LinkTransfers] = {}
    for link in {(r["src"], r["dst"]) for r in table}:
        rows = [r for r in table if (r["src"], r["dst"]) == link]
        transfers[link] = LinkTransfers.of(
            [_micros(r["ts"]) for r in rows],
            [r["amount"] for r in rows],
        )
    root = entity_id(graph, NodeType.ACCOUNT, key)
    expected: dict[tuple[int, int], tuple[int, str, int, float, int]] = {}
    for side in ("out", "in") if direction == "both" else (direction,):
        for link, timed in time_respecting_links(root, transfers, side, 3).items():
            kept = expected.get(link)
            if kept is None or (timed.hop, side != "out") < (kept[0], kept[1] != "out"):
                expected[link] = (
                    timed.hop,
                    side,
                    timed.bound_us,
                    timed.moved_amount,
                    timed.moved_events,
                )
    flow = money_flow(graph, key, depth=3, direction=direction, time_respecting=True)  # type: ignore[arg-type]
    got = {
        (f.link.src, f.link.dst): (
            f.hop,
            f.direction,
            _micros(f.arrival_ts or f.departure_ts),
            f.moved_amount,
            f.moved_events,
        )
        for f in flow.links
    }
    assert got == expected


def _micros(ts: datetime | None) -> int:
    assert ts is not None
    return (ts - EPOCH) // timedelta(microseconds=1)


def test_time_respecting_must_be_a_bool(graph: GraphStore) -> None:
    """time_respecting given as anything but True/False is InvalidInput."""
    with pytest.raises(InvalidInput):
        money_flow(graph, "A2", time_respecting="yes")  # type: ignore[arg-type]


def test_time_respecting_refuses_more_transfers_than_its_cap(
    graph: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More single transfers within depth than MAX_FLOW_TRANSFERS: LimitExceeded, not a cut."""
    monkeypatch.setattr(FLOW_MODULE, "MAX_FLOW_TRANSFERS", 2)
    with pytest.raises(LimitExceeded):
        money_flow(graph, "A1", depth=3, direction="out", time_respecting=True)
    monkeypatch.setattr(FLOW_MODULE, "MAX_FLOW_LINKS", 2)
    with pytest.raises(LimitExceeded):
        money_flow(graph, "A1", depth=3, direction="out", limit=1, time_respecting=True)
