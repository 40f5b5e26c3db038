"""Hard caps of the relationship queries, and the argument checks every query shares.

A caller may ask for less than a cap, never for more: asking for more raises
:class:`~graph_service.errors.LimitExceeded` (HTTP 413), a malformed argument raises
:class:`~graph_service.errors.InvalidInput` (HTTP 400).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from graph_service.errors import InvalidInput, LimitExceeded
from graph_service.model import LinkType, NodeType

#: Most rows one page of neighbours or sharing accounts may hold.
MAX_PAGE: Final = 1_000
#: Default page size of ``neighbourhood`` and ``shared_identifiers``.
DEFAULT_PAGE: Final = 100
#: Most identifiers one account may use for ``shared_identifiers`` to answer.
MAX_IDENTIFIERS: Final = 10_000
#: Default and largest ``max_identifier_accounts`` of ``shared_identifiers``.
DEFAULT_IDENTIFIER_ACCOUNTS: Final = 1_000
MAX_IDENTIFIER_ACCOUNTS: Final = 100_000
#: Largest ``max_hops`` of ``shortest_path``.
MAX_PATH_HOPS: Final = 8
#: Default and largest number of links one path search may expand, all levels together.
DEFAULT_PATH_EXPANSION: Final = 100_000
MAX_PATH_EXPANSION: Final = 1_000_000
#: Most members of one ring subgraph, and the default and largest link cap.
MAX_RING_MEMBERS: Final = 5_000
DEFAULT_RING_LINKS: Final = 10_000
MAX_RING_LINKS: Final = 100_000
#: Largest ``depth`` of ``money_flow``, and its default and largest link cap.
MAX_FLOW_DEPTH: Final = 6
DEFAULT_FLOW_LINKS: Final = 1_000
MAX_FLOW_LINKS: Final = 50_000
#: Most single transfers one time-respecting ``money_flow`` or one ``ring_flow`` may read
#: (a query that needs more is refused with ``LimitExceeded``, never answered in part).
MAX_FLOW_TRANSFERS: Final = 200_000
#: Seconds before a statement on the embedded store is interrupted (Neo4j reads use the
#: store's own ``query_timeout_s``).
EMBEDDED_QUERY_TIMEOUT_S: Final = 30.0


def checked_limit(value: int, cap: int, what: str = "limit") -> int:
    """``value`` if it is an int in ``[0, cap]``.

    Parameters
    ----------
    value : int
        The requested number of rows.
    cap : int
        The hard cap.
    what : str
        The argument's name, for the error message.

    Returns
    -------
    int

    Raises
    ------
    InvalidInput
        If ``value`` is not an int or is negative.
    LimitExceeded
        If ``value`` is above ``cap``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer, got {value!r}")
    if value < 0:
        raise InvalidInput(f"{what} must be >= 0, got {value}")
    if value > cap:
        raise LimitExceeded(f"{what} {value} exceeds the cap of {cap}")
    return value


def checked_range(value: int, low: int, high: int, what: str) -> int:
    """``value`` if it is an int in ``[low, high]``.

    Parameters
    ----------
    value : int
        The requested value.
    low, high : int
        Inclusive bounds.
    what : str
        The argument's name, for the error message.

    Returns
    -------
    int

    Raises
    ------
    InvalidInput
        If ``value`` is not an int or lies outside ``[low, high]``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{what} must be an integer from {low} to {high}, got {value!r}")
    return value


def parse_node_type(value: NodeType | str) -> NodeType:
    """A node type from an enum member or its name (case-insensitive).

    Parameters
    ----------
    value : NodeType or str

    Returns
    -------
    NodeType

    Raises
    ------
    InvalidInput
        If ``value`` names no node type.
    """
    if isinstance(value, NodeType):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"unknown node type {value!r}")
    try:
        return NodeType.parse(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def parse_link_types(
    values: Sequence[LinkType | str] | None, allowed: Sequence[LinkType] = tuple(LinkType)
) -> tuple[LinkType, ...]:
    """Link types from members or names, deduplicated, in code order.

    Parameters
    ----------
    values : sequence of LinkType or str, optional
        ``None`` means every allowed type.
    allowed : sequence of LinkType
        The link types the query can use.

    Returns
    -------
    tuple of LinkType
        Never empty.

    Raises
    ------
    InvalidInput
        If a value names no link type, a type is not allowed, or ``values`` is empty.
    """
    if values is None:
        return tuple(t for t in LinkType if t in allowed)
    if isinstance(values, str):
        raise InvalidInput("link_types must be a sequence of link types, not one string")
    parsed: set[LinkType] = set()
    for value in values:
        if isinstance(value, LinkType):
            parsed.add(value)
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"unknown link type {value!r}")
        try:
            parsed.add(LinkType.parse(value))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
    if not parsed:
        raise InvalidInput("link_types must name at least one link type")
    refused = sorted(t.value for t in parsed if t not in allowed)
    if refused:
        raise InvalidInput(f"link types {refused} cannot be used here")
    return tuple(t for t in LinkType if t in parsed)


def parse_key(value: str, what: str = "key") -> str:
    """A natural key, which must be a non-empty string (it is matched exactly).

    Parameters
    ----------
    value : str
        The key as the caller gave it (not normalised here).
    what : str
        The argument's name, for the error message.

    Returns
    -------
    str

    Raises
    ------
    InvalidInput
        If ``value`` is not a non-empty string.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string, got {value!r}")
    return value
