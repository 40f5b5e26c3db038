"""shared_identifiers: who shares what with an account, rarest first, on every backend."""

from __future__ import annotations

import pytest

from graph_service import EntityNotFound, GraphStore, InvalidInput, LimitExceeded, NodeType
from graph_service.model import NODE_TYPE_CODE
from queries import shared_identifiers
from queries.limits import MAX_IDENTIFIER_ACCOUNTS, MAX_PAGE
from tests.queries.conftest import INJECTION_ACCOUNT, entity_id, oracle_graph


def expected_sharing(store: GraphStore, key: str) -> dict[str, set[str]]:
    """Account key -> keys of identifiers shared with ``key``, from networkx."""
    graph = oracle_graph(store)
    me = entity_id(store, NodeType.ACCOUNT, key)
    account = NODE_TYPE_CODE[NodeType.ACCOUNT]
    sharing: dict[str, set[str]] = {}
    for identifier in graph.successors(me):
        if graph.nodes[identifier]["type"] == account:
            continue
        for other in graph.predecessors(identifier):
            if other != me:
                other_key = graph.nodes[other]["key"]
                sharing.setdefault(other_key, set()).add(graph.nodes[identifier]["key"])
    return sharing


def test_sharing_accounts_match_networkx(graph: GraphStore) -> None:
    """Every account sharing an identifier is listed with exactly what it shares."""
    for key in ("A1", "A2", "A5", "A9", INJECTION_ACCOUNT):
        found = shared_identifiers(graph, key)
        got = {a.account.key: {i.key for i in a.shared} for a in found.accounts}
        assert got == expected_sharing(graph, key)
        assert not found.truncated


def test_known_answer_ranks_by_shared_count_then_rarity(graph: GraphStore) -> None:
    """A1: identifiers rarest first; accounts by identifiers shared, rarest, then id."""
    found = shared_identifiers(graph, "A1")
    assert [(u.identifier.key, u.link_type.value, u.account_count) for u in found.identifiers] == [
        ("C1", "HAS_CARD", 1),
        ("M1", "PAYS", 2),
        ("D1", "USES_DEVICE", 3),
        ("10.0.0.1", "LOGS_IN_FROM", 6),
    ]
    assert all(u.expanded for u in found.identifiers)
    assert [
        (a.account.key, [i.key for i in a.shared], a.rarest_account_count) for a in found.accounts
    ] == [
        ("A2", ["D1", "10.0.0.1"], 3),
        ("A3", ["D1", "10.0.0.1"], 3),
        ("A7", ["M1"], 2),
        ("A4", ["10.0.0.1"], 6),
        ("A5", ["10.0.0.1"], 6),
        ("A6", ["10.0.0.1"], 6),
    ]


def test_common_identifiers_are_listed_but_not_expanded(graph: GraphStore) -> None:
    """An identifier used by more than max_identifier_accounts is shown, not followed."""
    found = shared_identifiers(graph, "A1", max_identifier_accounts=5)
    ip = next(u for u in found.identifiers if u.identifier.key == "10.0.0.1")
    assert (ip.account_count, ip.expanded) == (6, False)
    assert [(a.account.key, [i.key for i in a.shared]) for a in found.accounts] == [
        ("A7", ["M1"]),
        ("A2", ["D1"]),
        ("A3", ["D1"]),
    ]


def test_limit_truncates_and_says_so(graph: GraphStore) -> None:
    """With limit=2 the two best-ranked accounts come back and truncated is set."""
    found = shared_identifiers(graph, "A1", limit=2)
    assert [a.account.key for a in found.accounts] == ["A2", "A3"] and found.truncated
    empty = shared_identifiers(graph, "A1", limit=0)
    assert empty.accounts == () and empty.truncated and len(empty.identifiers) == 4


def test_link_type_filter(graph: GraphStore) -> None:
    """Only identifiers reached through the asked link types count."""
    found = shared_identifiers(graph, "A1", link_types=["USES_DEVICE"])
    assert [u.identifier.key for u in found.identifiers] == ["D1"]
    assert [a.account.key for a in found.accounts] == ["A2", "A3"]


@pytest.mark.parametrize(
    "options",
    [
        {"link_types": ["TRANSFERS_TO"]},
        {"link_types": ["SHARES"]},
        {"limit": -1},
        {"max_identifier_accounts": -1},
    ],
)
def test_bad_arguments_are_invalid_input(graph: GraphStore, options: dict[str, object]) -> None:
    """Transfers are not identifiers; unknown link types and negative caps are refused."""
    with pytest.raises(InvalidInput):
        shared_identifiers(graph, "A1", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options", [{"limit": MAX_PAGE + 1}, {"max_identifier_accounts": MAX_IDENTIFIER_ACCOUNTS + 1}]
)
def test_caps_are_enforced(graph: GraphStore, options: dict[str, int]) -> None:
    """Asking beyond a hard cap raises LimitExceeded."""
    with pytest.raises(LimitExceeded):
        shared_identifiers(graph, "A1", **options)  # type: ignore[arg-type]


def test_only_accounts_have_shared_identifiers(graph: GraphStore) -> None:
    """An unknown account, or the key of a device, raises EntityNotFound."""
    with pytest.raises(EntityNotFound):
        shared_identifiers(graph, "D1")
    with pytest.raises(InvalidInput):
        shared_identifiers(graph, "")
