"""The Cypher text of the relationship queries, and nothing else.

Every statement is a :class:`~graph_service.neo4j.cypher.ReadQuery` (so it carries
``LIMIT $cap``). The only text assembled here is made of node labels and relationship
types taken from our enums through the backend's validating helpers (``label_of``,
``rel_type_of``); every value (ids, cursors, lists) reaches Neo4j as a parameter.

Parameters shared by the statements: ``$link_codes`` maps a relationship type to its
stored link type code (``graph_service.neo4j.cypher.link_code_map()``). Timestamps are
returned as integer microseconds since the epoch, like the backend's own reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Final, Literal

from graph_service.model import LinkType
from graph_service.neo4j.cypher import ENTITY_LABEL, ReadQuery, rel_type_of
from queries.backends import IDENTIFIER_LINK_TYPES


def _micros(value: str) -> str:
    """Cypher turning a ``DATETIME`` into integer epoch microseconds."""
    return f"{value}.epochMillis * 1000 + {value}.nanosecond / 1000 % 1000"


def _rels(link_types: Sequence[LinkType]) -> str:
    """``A|B|C`` from validated relationship types, in code order, deduplicated."""
    if not link_types:
        raise ValueError("at least one link type is needed")
    wanted = {rel_type_of(t) for t in link_types}  # refuses anything but LinkType members
    return "|".join(rel_type_of(t) for t in LinkType if t.value in wanted)


_ANY_LINK: Final = _rels(tuple(LinkType))
_LINK_VALUES: Final = (
    f"r.n_events AS n_events, r.amount_sum AS amount_sum, "
    f"{_micros('r.first_ts')} AS first_us, {_micros('r.last_ts')} AS last_us"
)


@cache
def neighbour_rows(link_types: tuple[LinkType, ...]) -> ReadQuery:
    """Links of ``$id`` both ways after the position ``($after_type, $after_id, $after_direction)``.

    Ordered by link type code, neighbour id, direction; ``$after_type = -1`` starts at
    the beginning.
    """
    rels = _rels(link_types)
    return ReadQuery(
        f"MATCH (a:{ENTITY_LABEL} {{id: $id}}) "
        "CALL (a) { "
        f"MATCH (a)-[r:{rels}]->(b:{ENTITY_LABEL}) RETURN r, b, 'out' AS direction "
        "UNION ALL "
        f"MATCH (a)<-[r:{rels}]-(b:{ENTITY_LABEL}) RETURN r, b, 'in' AS direction "
        "} "
        "WITH r, b, direction, $link_codes[type(r)] AS link_type "
        "WHERE link_type > $after_type OR (link_type = $after_type AND (b.id > $after_id "
        "OR (b.id = $after_id AND direction > $after_direction))) "
        "RETURN link_type, b.id AS other_id, direction, b.type AS other_type, "
        f"b.key AS other_key, {_LINK_VALUES} "
        "ORDER BY link_type, other_id, direction LIMIT $cap"
    )


@cache
def identifier_uses(link_types: tuple[LinkType, ...]) -> ReadQuery:
    """Identifiers ``$id`` links to, with the number of links into each."""
    return ReadQuery(
        f"MATCH (a:{ENTITY_LABEL} {{id: $id}})-[r:{_rels(link_types)}]->(i:{ENTITY_LABEL}) "
        "RETURN i.id AS id, i.type AS type, i.key AS key, $link_codes[type(r)] AS link_type, "
        f"COUNT {{ (i)<-[:{_ANY_LINK}]-() }} AS account_count LIMIT $cap"
    )


SHARING_ACCOUNTS: Final = ReadQuery(
    "UNWIND range(0, size($identifier_ids) - 1) AS k "
    "WITH $identifier_ids[k] AS identifier_id, $identifier_counts[k] AS identifier_count "
    f"MATCH (i:{ENTITY_LABEL} {{id: identifier_id}})<-[:{_ANY_LINK}]-(b:{ENTITY_LABEL}) "
    "WHERE b.id <> $id "
    "WITH b, count(*) AS n_shared, min(identifier_count) AS rarest "
    "RETURN b.id AS id, b.type AS type, b.key AS key, n_shared, rarest "
    "ORDER BY n_shared DESC, rarest, id LIMIT $cap"
)

SHARED_PAIRS: Final = ReadQuery(
    f"UNWIND $account_ids AS aid MATCH (b:{ENTITY_LABEL} {{id: aid}})-[:{_ANY_LINK}]->"
    f"(i:{ENTITY_LABEL}) WHERE i.id IN $identifier_ids "
    "RETURN b.id AS account_id, i.id AS identifier_id "
    "ORDER BY account_id, identifier_id LIMIT $cap"
)


@cache
def adjacent(link_types: tuple[LinkType, ...]) -> ReadQuery:
    """Distinct undirected adjacencies ``[from, to]`` of the nodes ``$ids``, as one list."""
    return ReadQuery(
        f"UNWIND $ids AS fid MATCH (a:{ENTITY_LABEL} {{id: fid}})-[:{_rels(link_types)}]-"
        f"(b:{ENTITY_LABEL}) WITH DISTINCT a.id AS a, b.id AS b LIMIT $cap "
        "RETURN collect([a, b]) AS rows",
        collected=True,
    )


_TRANSFER: Final = rel_type_of(LinkType.TRANSFERS_TO)

RING_LINKS: Final = ReadQuery(
    "CALL () { "
    f"UNWIND $member_ids AS mid MATCH (a:{ENTITY_LABEL} {{id: mid}})"
    f"-[r:{_rels(IDENTIFIER_LINK_TYPES)}]->(i:{ENTITY_LABEL}) "
    "WITH i, collect(r) AS rs WHERE size(rs) >= 2 UNWIND rs AS r RETURN r "
    "UNION ALL "
    f"UNWIND $member_ids AS mid MATCH (a:{ENTITY_LABEL} {{id: mid}})-[r:{_TRANSFER}]->"
    f"(b:{ENTITY_LABEL}) WHERE b.id IN $member_ids RETURN r "
    "} "
    "WITH r, startNode(r) AS s, endNode(r) AS d "
    f"RETURN s.id AS src, d.id AS dst, $link_codes[type(r)] AS type, {_LINK_VALUES} "
    "ORDER BY src, dst, type LIMIT $cap"
)

ACCOUNT_COUNTS: Final = ReadQuery(
    f"UNWIND $ids AS iid MATCH (i:{ENTITY_LABEL} {{id: iid}}) "
    f"WITH i, COUNT {{ (i)<-[:{_ANY_LINK}]-() }} AS n WHERE n > 0 "
    "RETURN i.id AS id, n LIMIT $cap"
)


@cache
def transfer_rows(direction: Literal["out", "in"]) -> ReadQuery:
    """``TRANSFERS_TO`` links leaving (``out``) or entering (``in``) the nodes ``$ids``."""
    if direction == "out":
        match, src, dst = f"(a)-[r:{_TRANSFER}]->(b:{ENTITY_LABEL})", "a.id", "b.id"
    elif direction == "in":
        match, src, dst = f"(a)<-[r:{_TRANSFER}]-(b:{ENTITY_LABEL})", "b.id", "a.id"
    else:
        raise ValueError(f"direction must be 'out' or 'in', not {direction!r}")
    return ReadQuery(
        f"UNWIND $ids AS fid MATCH (a:{ENTITY_LABEL} {{id: fid}}) MATCH {match} "
        f"RETURN {src} AS src, {dst} AS dst, {_LINK_VALUES} ORDER BY src, dst LIMIT $cap"
    )
