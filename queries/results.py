"""Typed, immutable results of the relationship queries.

Every result is a frozen dataclass of plain values (ints, floats, strings, enums,
timezone-aware UTC datetimes, tuples), so the API can serialise it directly;
:func:`to_json_ready` gives the JSON form (enums as their values, datetimes as ISO 8601).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final, Literal

from graph_service.model import LinkType, NodeType
from graph_service.store import Entity, link_type_of

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

#: Which way a link points, seen from the entity asked about.
Direction = Literal["out", "in"]


@dataclass(frozen=True, slots=True, order=True)
class EntityRef:
    """An entity of the graph, by internal id, type and normalised key."""

    id: int
    type: NodeType
    key: str

    @classmethod
    def of(cls, entity: Entity) -> EntityRef:
        """The reference to a store entity."""
        return cls(id=entity.id, type=entity.type, key=entity.key)


@dataclass(frozen=True, slots=True)
class Link:
    """One aggregated link, as stored (``src`` is always the account end).

    Attributes
    ----------
    src, dst : int
        Internal ids of the two ends, in the stored direction.
    type : LinkType
    n_events : int
        Events aggregated into the link.
    amount_sum : float
        Sum of the events' amounts (0 where events carry none).
    first_ts, last_ts : datetime
        Time of the first and the last event (UTC).
    """

    src: int
    dst: int
    type: LinkType
    n_events: int
    amount_sum: float
    first_ts: datetime
    last_ts: datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Link:
        """A link from a ``(src, dst, type code, n_events, amount_sum, first_us, last_us)`` row.

        Raises
        ------
        KeyError
            If the type code is unknown.
        """
        return cls(
            src=int(row[0]),
            dst=int(row[1]),
            type=link_type_of(int(row[2])),
            n_events=int(row[3]),
            amount_sum=float(row[4]),
            first_ts=utc_from_micros(row[5]),
            last_ts=utc_from_micros(row[6]),
        )


@dataclass(frozen=True, slots=True)
class NeighbourLink:
    """A neighbour of the entity asked about, with the link between them.

    Attributes
    ----------
    neighbour : EntityRef
    link : Link
    direction : {"out", "in"}
        ``"out"`` if the link points from the entity asked about to the neighbour.
    cursor : str
        Opaque position of this row; pass it as ``after`` to get the rows that follow.
    """

    neighbour: EntityRef
    link: Link
    direction: Direction
    cursor: str


@dataclass(frozen=True, slots=True)
class NeighbourhoodPage:
    """One page of an entity's neighbours, ordered by link type, neighbour id, direction.

    Attributes
    ----------
    entity : EntityRef
        The entity asked about.
    neighbours : tuple of NeighbourLink
    truncated : bool
        More neighbours follow this page.
    next_after : str or None
        Cursor for the next page (``None`` when ``truncated`` is false).
    """

    entity: EntityRef
    neighbours: tuple[NeighbourLink, ...]
    truncated: bool
    next_after: str | None


@dataclass(frozen=True, slots=True)
class IdentifierUse:
    """An identifier the account uses, and how common it is.

    Attributes
    ----------
    identifier : EntityRef
    link_type : LinkType
        How the account is linked to it (``USES_DEVICE``, ``LOGS_IN_FROM``...).
    account_count : int
        Accounts linked to the identifier, the asked account included (a carrier-NAT IP
        or a popular merchant shows a large number here).
    expanded : bool
        Whether the accounts sharing it were looked up. Identifiers used by more accounts
        than the query's ``max_identifier_accounts`` are listed but not expanded.
    """

    identifier: EntityRef
    link_type: LinkType
    account_count: int
    expanded: bool


@dataclass(frozen=True, slots=True)
class SharingAccount:
    """Another account that shares identifiers with the one asked about.

    Attributes
    ----------
    account : EntityRef
    shared : tuple of EntityRef
        The (expanded) identifiers both accounts use, ordered by type code, then id.
    rarest_account_count : int
        ``account_count`` of the rarest identifier among ``shared``.
    """

    account: EntityRef
    shared: tuple[EntityRef, ...]
    rarest_account_count: int


@dataclass(frozen=True, slots=True)
class SharedIdentifiers:
    """The accounts sharing identifiers with an account.

    Attributes
    ----------
    account : EntityRef
        The account asked about.
    identifiers : tuple of IdentifierUse
        Every identifier it uses, rarest first (then type code, then id).
    accounts : tuple of SharingAccount
        Accounts sharing any expanded identifier: most identifiers shared first, then
        the rarest shared identifier, then account id.
    truncated : bool
        More sharing accounts exist than ``limit`` allowed.
    """

    account: EntityRef
    identifiers: tuple[IdentifierUse, ...]
    accounts: tuple[SharingAccount, ...]
    truncated: bool


@dataclass(frozen=True, slots=True)
class EntityPath:
    """A shortest path between two entities over the undirected entity graph.

    Attributes
    ----------
    nodes : tuple of EntityRef
        The entities on the path, from the start to the end (one node when both are the
        same entity).
    hops : tuple of tuple of Link
        ``hops[i]`` holds every link between ``nodes[i]`` and ``nodes[i + 1]`` (two
        accounts can be linked by a transfer each way), ordered by type code, then src.
    """

    nodes: tuple[EntityRef, ...]
    hops: tuple[tuple[Link, ...], ...]

    @property
    def length(self) -> int:
        """Number of hops."""
        return len(self.hops)


@dataclass(frozen=True, slots=True)
class RingIdentifier:
    """An identifier shared by at least two members of a ring.

    Attributes
    ----------
    identifier : EntityRef
    member_count : int
        Members linked to it.
    account_count : int
        Accounts linked to it in the whole graph (members included).
    """

    identifier: EntityRef
    member_count: int
    account_count: int


@dataclass(frozen=True, slots=True)
class RingSubgraph:
    """A ring's members, the identifiers they share, and the links among them.

    Attributes
    ----------
    members : tuple of EntityRef
        The member accounts, ordered by id.
    identifiers : tuple of RingIdentifier
        Identifiers used by two or more members, ordered by id.
    links : tuple of Link
        Member-to-shared-identifier links and transfers between members, ordered by
        (src, dst, type code).
    """

    members: tuple[EntityRef, ...]
    identifiers: tuple[RingIdentifier, ...]
    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class FlowLink:
    """A transfer link reached while following the money around an account.

    Attributes
    ----------
    link : Link
        The ``TRANSFERS_TO`` link.
    hop : int
        1 for links touching the account, 2 for the next ring out, and so on.
    direction : {"out", "in"}
        ``"out"`` if it was reached following money away from the account, ``"in"``
        following money towards it (``"out"`` when both).
    arrival_ts : datetime or None
        Time-respecting flows, links followed ``out`` only: the earliest time money from
        the account can arrive at ``link.dst`` over this link (its first transfer at or
        after the earliest time money reached ``link.src``).
    departure_ts : datetime or None
        Time-respecting flows, links followed ``in`` only: the latest time money on this
        link can leave ``link.src`` and still reach the account (its last transfer at or
        before the latest time money could leave ``link.dst`` towards the account).
    moved_amount : float or None
        Time-respecting flows only: the sum of the link's transfers that fit the time
        bound (at or after the arrival at ``link.src`` following money out; at or before
        the latest departure from ``link.dst`` following money in). ``link.amount_sum``
        stays the link's whole sum.
    moved_events : int or None
        Time-respecting flows only: how many transfers ``moved_amount`` adds up.
    """

    link: Link
    hop: int
    direction: Direction
    arrival_ts: datetime | None = None
    departure_ts: datetime | None = None
    moved_amount: float | None = None
    moved_events: int | None = None


@dataclass(frozen=True, slots=True)
class MoneyFlow:
    """Transfers around an account, up to a number of hops.

    Attributes
    ----------
    account : EntityRef
        The account asked about.
    accounts : tuple of EntityRef
        Every account at either end of ``links`` (the asked one included), ordered by id.
    links : tuple of FlowLink
        Ordered by hop, then direction (``out`` first), then (src, dst).
    truncated : bool
        More links exist within ``depth`` than ``limit`` allowed.
    time_respecting : bool
        Whether only time-respecting paths were followed (money moves on from an
        account only at or after it arrived there).
    """

    account: EntityRef
    accounts: tuple[EntityRef, ...]
    links: tuple[FlowLink, ...]
    truncated: bool
    time_respecting: bool = False


@dataclass(frozen=True, slots=True)
class RingFlow:
    """The money moving into, out of and within a ring.

    Attributes
    ----------
    members : tuple of EntityRef
        The member accounts, ordered by id.
    total_in : float
        Sum of the transfers from accounts outside the ring to members.
    in_events : int
        How many transfers ``total_in`` adds up.
    sources : int
        Outside accounts that paid a member.
    total_out : float
        Sum of the transfers from members to accounts outside the ring.
    out_events : int
    destinations : int
        Outside accounts a member paid.
    internal : float
        Sum of the transfers from one member to another.
    internal_events : int
    retained : float
        ``total_in - total_out``: money that came in and has not left the ring (negative
        when the ring paid out more than it received from outside).
    hops : int
        Transfers in the longest time-respecting chain of internal transfers: each
        transfer of the chain leaves the member the previous one paid, strictly later
        (transfers at the same instant cannot be put in order). A member may appear more
        than once (money cycled back). 0 when no member paid another.
    """

    members: tuple[EntityRef, ...]
    total_in: float
    in_events: int
    sources: int
    total_out: float
    out_events: int
    destinations: int
    internal: float
    internal_events: int
    retained: float
    hops: int


def utc_from_micros(micros: int) -> datetime:
    """The UTC datetime ``micros`` microseconds after the epoch (exact, also before 1970)."""
    return _EPOCH + timedelta(microseconds=int(micros))


def to_json_ready(result: Any) -> Any:
    """The JSON form of a query result: dicts, lists, strings, numbers, ``None``.

    Parameters
    ----------
    result : Any
        A result dataclass (or a dict, tuple, list or value inside one).

    Returns
    -------
    Any
        Dataclasses as dicts, tuples as lists, enums as their values, datetimes as
        ISO 8601 strings.

    Examples
    --------
    >>> to_json_ready(EntityRef(id=3, type=NodeType.DEVICE, key="d-1"))
    {'id': 3, 'type': 'Device', 'key': 'd-1'}

    Notes
    -----
    O(size of the result).
    """
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return {f.name: to_json_ready(getattr(result, f.name)) for f in dataclasses.fields(result)}
    if isinstance(result, dict):
        return {str(key): to_json_ready(value) for key, value in result.items()}
    if isinstance(result, (tuple, list)):
        return [to_json_ready(item) for item in result]
    if isinstance(result, Enum):
        return result.value
    if isinstance(result, datetime):
        return result.isoformat()
    return result
