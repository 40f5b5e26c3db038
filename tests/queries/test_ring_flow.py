"""ring_flow: money into, out of and within a ring, and its longest chain; on every backend."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from graph_service import EntityNotFound, GraphStore, InvalidInput, LimitExceeded, NodeType
from queries import RingFlow, ring_flow
from queries.limits import MAX_RING_MEMBERS
from queries.temporal_flow import longest_chain
from tests.queries.conftest import entity_id

#: The module (its name is shadowed by the function on the package).
RING_FLOW_MODULE = importlib.import_module("queries.ring_flow")


def account_ids(store: GraphStore, *keys: str) -> list[int]:
    return [entity_id(store, NodeType.ACCOUNT, k) for k in keys]


def _totals(flow: RingFlow) -> tuple[object, ...]:
    return (
        flow.total_in,
        flow.in_events,
        flow.sources,
        flow.total_out,
        flow.out_events,
        flow.destinations,
        flow.internal,
        flow.internal_events,
        flow.retained,
        flow.hops,
    )


def test_known_ring_flow(graph: GraphStore) -> None:
    """A1-A3: 70 in from A5, 5 out to A4, 150 + 30 + 20 inside, 65 retained; the chain
    A1 -> A2 (14:00) -> A3 (16:00) -> A1 (17:00) is 3 hops."""
    flow = ring_flow(graph, account_ids(graph, "A3", "A1", "A2", "A1"))
    assert [m.key for m in flow.members] == ["A1", "A2", "A3"]
    assert _totals(flow) == (70.0, 1, 1, 5.0, 1, 1, 200.0, 4, 65.0, 3)


def test_ring_paying_out_more_than_it_received(graph: GraphStore) -> None:
    """A2 and A3: in 150 (A1) + 70 (A5), out 20 (A1) + 5 (A4), one internal transfer."""
    flow = ring_flow(graph, account_ids(graph, "A2", "A3"))
    assert _totals(flow) == (220.0, 3, 2, 25.0, 2, 2, 30.0, 1, 195.0, 1)
    paying = ring_flow(graph, account_ids(graph, "A3"))
    assert (paying.total_in, paying.total_out, paying.retained, paying.hops) == (30.0, 25.0, 5.0, 0)


def test_closed_ring_and_ring_without_transfers(graph: GraphStore) -> None:
    """A7 <-> A8 only pay each other (40 then 10: 2 hops); A9 moves no money at all."""
    closed = ring_flow(graph, account_ids(graph, "A7", "A8"))
    assert _totals(closed) == (0.0, 0, 0, 0.0, 0, 0, 50.0, 2, 0.0, 2)
    idle = ring_flow(graph, account_ids(graph, "A9"))
    assert _totals(idle) == (0.0, 0, 0, 0.0, 0, 0, 0.0, 0, 0.0, 0)


@pytest.mark.parametrize(
    "keys", [("A1", "A2", "A3"), ("A2", "A5"), ("A3", "A4"), ("A7", "A8"), ("A1", "A7")]
)
def test_ring_flow_matches_the_single_transfers(graph: GraphStore, keys: tuple[str, ...]) -> None:
    """On every backend the totals and hops equal those summed from ``export_transfers``."""
    members = set(account_ids(graph, *keys))
    rows = graph.export_transfers().to_pylist()
    inward = [r for r in rows if r["src"] not in members and r["dst"] in members]
    outward = [r for r in rows if r["src"] in members and r["dst"] not in members]
    inside = [r for r in rows if r["src"] in members and r["dst"] in members]
    flow = ring_flow(graph, sorted(members))
    assert flow.total_in == math.fsum(r["amount"] for r in inward)
    assert flow.total_out == math.fsum(r["amount"] for r in outward)
    assert flow.internal == math.fsum(r["amount"] for r in inside)
    assert (flow.in_events, flow.out_events, flow.internal_events) == (
        len(inward),
        len(outward),
        len(inside),
    )
    assert flow.retained == flow.total_in - flow.total_out
    stamps = np.array([int(r["ts"].timestamp() * 1_000_000) for r in inside], np.int64)
    src = np.array([r["src"] for r in inside], np.int64)
    dst = np.array([r["dst"] for r in inside], np.int64)
    assert flow.hops == longest_chain(src, dst, stamps)


@pytest.mark.parametrize("member_ids", [[], "A1", [1.5], [True]])
def test_bad_members_are_invalid_input(graph: GraphStore, member_ids: object) -> None:
    """No members, a string, or ids that are not ints: InvalidInput."""
    with pytest.raises(InvalidInput):
        ring_flow(graph, member_ids)  # type: ignore[arg-type]


def test_members_must_be_accounts(graph: GraphStore) -> None:
    """An identifier among the members is InvalidInput."""
    device = entity_id(graph, NodeType.DEVICE, "D1")
    with pytest.raises(InvalidInput, match="accounts"):
        ring_flow(graph, [*account_ids(graph, "A1"), device])


def test_unknown_member_is_entity_not_found(graph: GraphStore) -> None:
    """An id that names no entity: EntityNotFound."""
    with pytest.raises(EntityNotFound):
        ring_flow(graph, [10**9])


def test_caps_refuse_rather_than_cut(graph: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """More members than MAX_RING_MEMBERS, more links or more internal transfers than the
    caps: LimitExceeded."""
    with pytest.raises(LimitExceeded):
        ring_flow(graph, list(range(MAX_RING_MEMBERS + 1)))
    members = account_ids(graph, "A1", "A2", "A3")
    monkeypatch.setattr(RING_FLOW_MODULE, "MAX_FLOW_TRANSFERS", 3)
    with pytest.raises(LimitExceeded, match="transfers"):
        ring_flow(graph, members)
    monkeypatch.setattr(RING_FLOW_MODULE, "MAX_RING_LINKS", 2)
    with pytest.raises(LimitExceeded, match="links"):
        ring_flow(graph, members)
