"""The Cypher of the queries: capped, parameterised, built from enums; hostile keys are data."""

from __future__ import annotations

import re

import pytest

from graph_service import EntityNotFound, GraphStore, NodeType
from graph_service.model import LinkType
from graph_service.neo4j.cypher import ReadQuery
from queries import (
    cypher,
    money_flow,
    neighbourhood,
    ring_subgraph,
    shared_identifiers,
    shortest_path,
)
from queries.backends import IDENTIFIER_LINK_TYPES
from tests.queries.conftest import INJECTION_ACCOUNT, INJECTION_DEVICE, entity_id

ALL = tuple(LinkType)


def every_statement() -> list[ReadQuery]:
    return [
        cypher.neighbour_rows(ALL),
        cypher.neighbour_rows((LinkType.USES_DEVICE,)),
        cypher.identifier_uses(IDENTIFIER_LINK_TYPES),
        cypher.SHARING_ACCOUNTS,
        cypher.SHARED_PAIRS,
        cypher.adjacent(ALL),
        cypher.RING_LINKS,
        cypher.ACCOUNT_COUNTS,
        cypher.transfer_rows("out"),
        cypher.transfer_rows("in"),
    ]


def test_every_statement_is_capped_and_has_no_literal_values() -> None:
    """Each statement carries LIMIT $cap and no quoted or numeric id literal."""
    for statement in every_statement():
        assert "LIMIT $cap" in statement.text
        quoted = re.findall(r"'[^']*'", statement.text)
        assert set(quoted) <= {"'out'", "'in'"}, statement.text
        assert not re.search(r"\{id: \d", statement.text)


def test_relationship_types_come_only_from_the_enum() -> None:
    """A string posing as a link type is refused before any text is built."""
    with pytest.raises(TypeError):
        cypher.neighbour_rows(("USES_DEVICE]->() DETACH DELETE n //",))
    with pytest.raises(ValueError):
        cypher.adjacent(())
    with pytest.raises(ValueError):
        cypher.transfer_rows("sideways")


def test_hostile_keys_are_plain_data(graph: GraphStore) -> None:
    """Keys written as Cypher/SQL injections are matched as data and change nothing."""
    before = graph.counts()
    page = neighbourhood(graph, "Account", INJECTION_ACCOUNT)
    assert sorted(n.neighbour.key for n in page.neighbours) == sorted(["D2", INJECTION_DEVICE])
    device = neighbourhood(graph, "Device", INJECTION_DEVICE)
    assert [n.neighbour.key for n in device.neighbours] == [INJECTION_ACCOUNT]
    shared = shared_identifiers(graph, INJECTION_ACCOUNT)
    assert [(a.account.key, [i.key for i in a.shared]) for a in shared.accounts] == [("A4", ["D2"])]
    path = shortest_path(graph, ("Device", INJECTION_DEVICE), ("Account", "A4"))
    assert path is not None
    assert [n.key for n in path.nodes] == [INJECTION_DEVICE, INJECTION_ACCOUNT, "D2", "A4"]
    injection_id = entity_id(graph, NodeType.ACCOUNT, INJECTION_ACCOUNT)
    ring = ring_subgraph(graph, [injection_id, entity_id(graph, NodeType.ACCOUNT, "A4")])
    assert [i.identifier.key for i in ring.identifiers] == ["D2"]
    assert money_flow(graph, INJECTION_ACCOUNT).links == ()
    for hostile in ("x' OR '1'='1", "A1'}) RETURN n //", 'A1" OR 1=1 --'):
        with pytest.raises(EntityNotFound):
            neighbourhood(graph, "Account", hostile)
        with pytest.raises(EntityNotFound):
            shared_identifiers(graph, hostile)
    assert graph.counts() == before
