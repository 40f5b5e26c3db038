"""neighbourhood: order, pagination, filters, caps and errors, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graph_service import EntityNotFound, GraphStore, InvalidInput, LimitExceeded, NodeType
from graph_service.model import LINK_TYPE_CODE, LinkType
from queries import NeighbourLink, neighbourhood
from queries.limits import MAX_PAGE
from queries.neighbourhood import format_cursor, parse_cursor
from tests.queries.conftest import INJECTION_ACCOUNT, entity_id, oracle_graph


def expected_rows(store: GraphStore, node_id: int) -> list[tuple[LinkType, int, str, int, float]]:
    """Every link of ``node_id`` from networkx, in the documented order."""
    graph = oracle_graph(store)
    rows = [
        (data["type"], other, "out", data["n_events"], data["amount_sum"])
        for _, other, data in graph.out_edges(node_id, data=True)
    ]
    rows += [
        (data["type"], other, "in", data["n_events"], data["amount_sum"])
        for other, _, data in graph.in_edges(node_id, data=True)
    ]
    return sorted(rows, key=lambda r: (LINK_TYPE_CODE[r[0]], r[1], r[2]))


def test_lists_every_link_ordered_by_type_neighbour_and_direction(graph: GraphStore) -> None:
    """All links of an account, both directions, ordered by link type, neighbour id, direction."""
    for key in ("A1", "A3", "A8", INJECTION_ACCOUNT):
        node_id = entity_id(graph, NodeType.ACCOUNT, key)
        page = neighbourhood(graph, NodeType.ACCOUNT, key)
        got = [
            (n.link.type, n.neighbour.id, n.direction, n.link.n_events, n.link.amount_sum)
            for n in page.neighbours
        ]
        assert got == expected_rows(graph, node_id)
        assert page.entity.id == node_id and not page.truncated and page.next_after is None


def test_rows_carry_the_aggregated_link(graph: GraphStore) -> None:
    """A row holds the neighbour's type and key, the stored link ends, counts and times."""
    page = neighbourhood(graph, "account", "A1", link_types=["logs_in_from", "TRANSFERS_TO"])
    ip = page.neighbours[0]
    assert (ip.neighbour.type, ip.neighbour.key, ip.direction) == (NodeType.IP, "10.0.0.1", "out")
    assert (ip.link.src, ip.link.dst) == (page.entity.id, ip.neighbour.id)
    assert ip.link.n_events == 2
    assert ip.link.first_ts == datetime(2026, 2, 1, 0, tzinfo=UTC)
    assert ip.link.last_ts == datetime(2026, 2, 1, 1, tzinfo=UTC)
    transfers = [(n.neighbour.key, n.direction, n.link.amount_sum) for n in page.neighbours[1:]]
    assert sorted(transfers) == [("A2", "out", 150.0), ("A3", "in", 20.0)]
    incoming = next(n for n in page.neighbours if n.direction == "in")
    assert (incoming.link.src, incoming.link.dst) == (incoming.neighbour.id, page.entity.id)


def test_pages_follow_each_other_without_gaps_or_repeats(graph: GraphStore) -> None:
    """Walking the pages with ``after`` yields exactly the full list, in order."""
    full = neighbourhood(graph, "Account", "A1").neighbours
    walked: list[NeighbourLink] = []
    page = neighbourhood(graph, "Account", "A1", limit=2)
    walked += page.neighbours
    while page.truncated:
        assert page.next_after == page.neighbours[-1].cursor
        page = neighbourhood(graph, "Account", "A1", limit=2, after=page.next_after)
        walked += page.neighbours
    assert walked == list(full)
    assert len(full) == 6


def test_link_type_filter_keeps_only_those_links(graph: GraphStore) -> None:
    """An identifier's neighbours through one link type: the accounts using it, incoming."""
    page = neighbourhood(graph, "Device", "D1", link_types=[LinkType.USES_DEVICE])
    assert [(n.neighbour.key, n.direction) for n in page.neighbours] == [
        ("A1", "in"),
        ("A2", "in"),
        ("A3", "in"),
    ]
    assert neighbourhood(graph, "Device", "D1", link_types=["PAYS"]).neighbours == ()


def test_limit_zero_reports_truncation_without_rows(graph: GraphStore) -> None:
    """limit=0 returns no rows but says more exist, with a cursor that starts at the top."""
    page = neighbourhood(graph, "Account", "A1", limit=0)
    assert page.neighbours == () and page.truncated and page.next_after is None
    assert not neighbourhood(graph, "Account", "A9", limit=1).truncated


def test_limit_above_the_cap_is_refused(graph: GraphStore) -> None:
    """A page larger than MAX_PAGE raises LimitExceeded."""
    with pytest.raises(LimitExceeded):
        neighbourhood(graph, "Account", "A1", limit=MAX_PAGE + 1)


@pytest.mark.parametrize(
    ("arguments", "options"),
    [
        (("Planet", "A1"), {}),
        (("Account", ""), {}),
        (("Account", "A1"), {"link_types": ["KNOWS"]}),
        (("Account", "A1"), {"link_types": []}),
        (("Account", "A1"), {"link_types": "USES_DEVICE"}),
        (("Account", "A1"), {"limit": -1}),
        (("Account", "A1"), {"limit": 2.5}),
        (("Account", "A1"), {"after": "USES_DEVICE:1"}),
        (("Account", "A1"), {"after": "KNOWS:1:out"}),
        (("Account", "A1"), {"after": "USES_DEVICE:1:sideways"}),
        (("Account", "A1"), {"after": "USES_DEVICE:-1:out"}),
        (("Account", "A1"), {"after": "USES_DEVICE:99999999999999999999:out"}),
        (("Account", "A1"), {"after": "USES_DEVICE:1 OR 1=1:out"}),
    ],
)
def test_malformed_arguments_are_invalid_input(
    graph: GraphStore, arguments: tuple[str, str], options: dict[str, object]
) -> None:
    """Unknown types, empty keys, bad limits and malformed cursors raise InvalidInput."""
    with pytest.raises(InvalidInput):
        neighbourhood(graph, *arguments, **options)  # type: ignore[arg-type]


def test_unknown_entity_is_not_found(graph: GraphStore) -> None:
    """A key with no entity of that type raises EntityNotFound."""
    with pytest.raises(EntityNotFound):
        neighbourhood(graph, "Account", "nobody")
    with pytest.raises(EntityNotFound):
        neighbourhood(graph, "Device", "A1")


def test_cursor_round_trip() -> None:
    """A cursor names (link type code, neighbour id, direction) and parses back."""
    cursor = format_cursor(LinkType.TRANSFERS_TO, 12, "in")
    assert cursor == "TRANSFERS_TO:12:in"
    assert parse_cursor(cursor) == (LINK_TYPE_CODE[LinkType.TRANSFERS_TO], 12, "in")
