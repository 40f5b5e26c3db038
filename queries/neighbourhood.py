"""An entity's neighbours, by link type, one page at a time."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from graph_service.errors import InvalidInput
from graph_service.model import LINK_TYPE_CODE, LinkType, NodeType
from graph_service.store import GraphStore, link_type_of, node_type_of
from queries.backends import backend_for
from queries.limits import (
    DEFAULT_PAGE,
    MAX_PAGE,
    checked_limit,
    parse_key,
    parse_link_types,
    parse_node_type,
)
from queries.results import (
    Direction,
    EntityRef,
    Link,
    NeighbourhoodPage,
    NeighbourLink,
    utc_from_micros,
)

log = logging.getLogger(__name__)

_DIRECTIONS: dict[str, Direction] = {"in": "in", "out": "out"}
_MAX_ID = 2**63


def neighbourhood(
    store: GraphStore,
    node_type: NodeType | str,
    key: str,
    *,
    link_types: Sequence[LinkType | str] | None = None,
    limit: int = DEFAULT_PAGE,
    after: str | None = None,
) -> NeighbourhoodPage:
    """The entity's neighbours with the aggregated link to each, one page at a time.

    Parameters
    ----------
    store : GraphStore
        Any backend.
    node_type : NodeType or str
        Type of the entity (``"Account"``, ``"device"``...).
    key : str
        Its normalised natural key (matched exactly).
    link_types : sequence of LinkType or str, optional
        Only these link types; all by default.
    limit : int
        Rows per page, from 0 to :data:`~queries.limits.MAX_PAGE`.
    after : str, optional
        The ``cursor`` of the last row of the previous page (or its ``next_after``).

    Returns
    -------
    NeighbourhoodPage
        Neighbours ordered by link type code, neighbour id, then direction (``in``
        before ``out``); ``truncated`` and ``next_after`` tell whether and where the
        next page starts.

    Raises
    ------
    InvalidInput
        On an unknown node or link type, an empty key, a negative limit or a malformed
        cursor.
    LimitExceeded
        If ``limit`` is above ``MAX_PAGE``.
    EntityNotFound
        If no entity has this type and key.

    Examples
    --------
    >>> page = neighbourhood(store, "Account", "A1", limit=50)  # doctest: +SKIP
    >>> while page.truncated:  # doctest: +SKIP
    ...     page = neighbourhood(store, "Account", "A1", limit=50, after=page.next_after)

    Notes
    -----
    One capped read per page. Neo4j expands the entity's relationships of the asked
    types (O(degree)); the embedded store scans ``links`` (O(n_links), pruned on
    ``src`` by DuckDB's zone maps).
    """
    entity_type = parse_node_type(node_type)
    entity_key = parse_key(key)
    types = parse_link_types(link_types)
    page_size = checked_limit(limit, MAX_PAGE)
    position = parse_cursor(after) if after is not None else None
    entity = EntityRef.of(store.get_entity(entity_type, entity_key))
    rows = backend_for(store).neighbour_rows(entity.id, types, position, page_size + 1)
    truncated = len(rows) > page_size
    neighbours = []
    for row in rows[:page_size]:
        link_type = link_type_of(int(row[0]))
        other = EntityRef(id=int(row[1]), type=node_type_of(int(row[3])), key=str(row[4]))
        direction = _DIRECTIONS[str(row[2])]
        src, dst = (entity.id, other.id) if direction == "out" else (other.id, entity.id)
        link = Link(
            src=src,
            dst=dst,
            type=link_type,
            n_events=int(row[5]),
            amount_sum=float(row[6]),
            first_ts=utc_from_micros(row[7]),
            last_ts=utc_from_micros(row[8]),
        )
        cursor = format_cursor(link_type, other.id, direction)
        neighbours.append(NeighbourLink(other, link, direction, cursor))
    next_after = None
    if truncated:
        next_after = neighbours[-1].cursor if neighbours else after
    log.debug(
        "neighbourhood",
        extra={"entity_id": entity.id, "rows": len(neighbours), "truncated": truncated},
    )
    return NeighbourhoodPage(entity, tuple(neighbours), truncated, next_after)


def format_cursor(link_type: LinkType, neighbour_id: int, direction: Direction) -> str:
    """The opaque page cursor of a neighbour row: ``"<LINK_TYPE>:<id>:<direction>"``.

    Parameters
    ----------
    link_type : LinkType
    neighbour_id : int
    direction : {"out", "in"}

    Returns
    -------
    str

    Examples
    --------
    >>> format_cursor(LinkType.USES_DEVICE, 42, "out")
    'USES_DEVICE:42:out'
    """
    return f"{link_type.value}:{neighbour_id}:{direction}"


def parse_cursor(cursor: str) -> tuple[int, int, str]:
    """The ``(link type code, neighbour id, direction)`` position a cursor names.

    Parameters
    ----------
    cursor : str
        A ``NeighbourLink.cursor`` or ``NeighbourhoodPage.next_after``.

    Returns
    -------
    tuple of (int, int, str)

    Raises
    ------
    InvalidInput
        If ``cursor`` is not a cursor made by :func:`format_cursor`.
    """
    parts = cursor.split(":") if isinstance(cursor, str) else []
    if (
        len(parts) != 3
        or parts[2] not in _DIRECTIONS
        or not (parts[1].isascii() and parts[1].isdigit())
        or int(parts[1]) >= _MAX_ID
    ):
        raise InvalidInput(f"malformed cursor {cursor!r}")
    try:
        link_type = LinkType(parts[0])
    except ValueError as exc:
        raise InvalidInput(f"malformed cursor {cursor!r}") from exc
    return LINK_TYPE_CODE[link_type], int(parts[1]), parts[2]
