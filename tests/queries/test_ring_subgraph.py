"""ring_subgraph: members, identifiers shared by two or more, links; on every backend."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from graph_service import EntityNotFound, GraphStore, InvalidInput, LimitExceeded, NodeType
from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType
from queries import ring_member_ids, ring_subgraph
from queries.limits import MAX_RING_LINKS, MAX_RING_MEMBERS
from tests.queries.conftest import BACKENDS, entity_id, open_backend, oracle_graph


def account_ids(store: GraphStore, *keys: str) -> list[int]:
    return [entity_id(store, NodeType.ACCOUNT, k) for k in keys]


def expected_ring(
    store: GraphStore, members: list[int]
) -> tuple[dict[int, int], list[tuple[int, int, int]]]:
    """Shared identifier -> member count, and the (src, dst, type code) links, from networkx."""
    graph = oracle_graph(store)
    account = NODE_TYPE_CODE[NodeType.ACCOUNT]
    users = Counter(
        dst
        for src in members
        for dst in set(graph.successors(src))
        if graph.nodes[dst]["type"] != account
    )
    shared = {i: n for i, n in users.items() if n >= 2}
    links = [
        (src, dst, code)
        for src, dst, code in graph.out_edges(members, keys=True)
        if dst in shared or (code == LINK_TYPE_CODE[LinkType.TRANSFERS_TO] and dst in members)
    ]
    return shared, sorted(links)


@pytest.mark.parametrize(
    "keys", [("A1", "A2", "A3"), ("A2", "A5"), ("A4", "A5", "A6"), ("A7", "A8"), ("A9",)]
)
def test_subgraph_matches_networkx(graph: GraphStore, keys: tuple[str, ...]) -> None:
    """Members, shared identifiers (>= 2 members) and links are those networkx finds."""
    members = account_ids(graph, *keys)
    ring = ring_subgraph(graph, members)
    shared, links = expected_ring(graph, members)
    assert [m.id for m in ring.members] == sorted(members)
    assert {i.identifier.id: i.member_count for i in ring.identifiers} == shared
    assert [i.identifier.id for i in ring.identifiers] == sorted(shared)
    assert [(k.src, k.dst, LINK_TYPE_CODE[k.type]) for k in ring.links] == links


def test_known_ring_with_account_counts(graph: GraphStore) -> None:
    """A1-A3 share D1 and the common IP (used by 6 accounts in all) and pay each other."""
    ring = ring_subgraph(graph, account_ids(graph, "A3", "A1", "A2", "A1"))
    assert [m.key for m in ring.members] == ["A1", "A2", "A3"]
    assert sorted(
        (i.identifier.key, i.member_count, i.account_count) for i in ring.identifiers
    ) == [
        ("10.0.0.1", 3, 6),
        ("D1", 3, 3),
    ]
    transfers = sorted(
        (k.amount_sum, k.n_events) for k in ring.links if k.type == LinkType.TRANSFERS_TO
    )
    assert transfers == [(20.0, 1), (30.0, 1), (150.0, 2)]
    assert len(ring.links) == 9


def test_too_many_links_is_refused_not_cut(graph: GraphStore) -> None:
    """A ring with more links than limit raises LimitExceeded; exactly enough is fine."""
    members = account_ids(graph, "A1", "A2", "A3")
    with pytest.raises(LimitExceeded):
        ring_subgraph(graph, members, limit=8)
    assert len(ring_subgraph(graph, members, limit=9).links) == 9
    with pytest.raises(LimitExceeded):
        ring_subgraph(graph, members, limit=MAX_RING_LINKS + 1)


def test_too_many_members_is_refused(graph: GraphStore) -> None:
    """More than MAX_RING_MEMBERS distinct ids raise LimitExceeded before any read."""
    with pytest.raises(LimitExceeded):
        ring_subgraph(graph, list(range(MAX_RING_MEMBERS + 1)))


@pytest.mark.parametrize("members", [[], "A1", [1.5], [True], None])
def test_malformed_members_are_invalid_input(graph: GraphStore, members: object) -> None:
    """member_ids must be a non-empty sequence of integer ids."""
    with pytest.raises(InvalidInput):
        ring_subgraph(graph, members)  # type: ignore[arg-type]


def test_members_must_be_existing_accounts(graph: GraphStore) -> None:
    """A device id raises InvalidInput; an id with no entity raises EntityNotFound."""
    device = entity_id(graph, NodeType.DEVICE, "D1")
    with pytest.raises(InvalidInput):
        ring_subgraph(graph, [*account_ids(graph, "A1"), device])
    with pytest.raises(EntityNotFound):
        ring_subgraph(graph, [*account_ids(graph, "A1"), 10_000])
    with pytest.raises(InvalidInput):
        ring_subgraph(graph, account_ids(graph, "A1"), limit=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ring_member_ids_reads_the_latest_flagging_run(backend: str, tmp_path: Path) -> None:
    """A ring id resolves to its members from the latest ``ring_members`` version only."""
    store = open_backend(backend, tmp_path / "store")
    try:
        older = pa.table({"ring_id": ["R1", "R1", "R2"], "account_id": [5, 3, 5]})
        newer = pa.table({"ring_id": ["R2"], "account_id": [7]})
        store.write_table("ring_members", older, version="20260101T000000Z")
        store.write_table("ring_members", newer, version="20260102T000000Z")
        assert ring_member_ids(store, "R2") == [7]
        assert ring_member_ids(store, "R1", version="20260101T000000Z") == [3, 5]
        with pytest.raises(EntityNotFound, match="no ring 'R1'"):
            ring_member_ids(store, "R1")
    finally:
        store.close()
