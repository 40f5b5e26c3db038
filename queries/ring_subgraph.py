"""The subgraph of a ring: its member accounts, the identifiers they share, the links."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np

from graph_service.errors import EntityNotFound, InvalidInput, LimitExceeded
from graph_service.model import LinkType, NodeType
from graph_service.store import GraphStore
from queries.backends import backend_for
from queries.limits import DEFAULT_RING_LINKS, MAX_RING_LINKS, MAX_RING_MEMBERS, checked_limit
from queries.results import EntityRef, Link, RingIdentifier, RingSubgraph

log = logging.getLogger(__name__)


def ring_subgraph(
    store: GraphStore,
    member_ids: Sequence[int],
    *,
    limit: int = DEFAULT_RING_LINKS,
) -> RingSubgraph:
    """The members of a ring, the identifiers two or more of them use, and the links.

    Parameters
    ----------
    store : GraphStore
        Any backend.
    member_ids : sequence of int
        Internal ids of the member accounts (duplicates are ignored).
    limit : int
        Most links the subgraph may hold, from 0 to :data:`~queries.limits.MAX_RING_LINKS`.

    Returns
    -------
    RingSubgraph
        Members and shared identifiers ordered by id; the member-to-identifier links of
        the shared identifiers and the transfers between members, ordered by (src, dst,
        link type code). Identifiers used by a single member, and links leaving the
        ring, are left out.

    Raises
    ------
    InvalidInput
        If ``member_ids`` is empty or holds something other than ints, an id is not an
        account, or ``limit`` is negative.
    LimitExceeded
        If there are more than :data:`~queries.limits.MAX_RING_MEMBERS` members,
        ``limit`` is above its cap, or the ring has more than ``limit`` links (a partial
        ring would misstate the evidence, so it is refused rather than cut).
    EntityNotFound
        If an id names no entity.

    Examples
    --------
    >>> ring = ring_subgraph(store, [3, 4, 9])  # doctest: +SKIP
    >>> [(i.identifier.key, i.member_count) for i in ring.identifiers]  # doctest: +SKIP
    [('D1', 3)]

    Notes
    -----
    Two capped reads plus two entity lookups; O(links of the members).
    """
    wanted = _member_ids(member_ids)
    link_cap = checked_limit(limit, MAX_RING_LINKS)
    members = resolve_ring_members(store, wanted)
    backend = backend_for(store)
    ids = np.array(wanted, np.int64)
    rows = backend.ring_links(ids, link_cap + 1)
    if len(rows) > link_cap:
        raise LimitExceeded(f"the ring has more than {link_cap} links; raise limit")
    links = tuple(Link.from_row(r) for r in rows)
    member_counts = Counter(k.dst for k in links if k.type != LinkType.TRANSFERS_TO)
    shared_ids = np.array(sorted(member_counts), np.int64)
    account_counts = {int(i): int(n) for i, n in backend.account_counts(shared_ids)}
    identifiers = tuple(
        RingIdentifier(
            identifier=EntityRef.of(entity),
            member_count=member_counts[entity.id],
            account_count=account_counts.get(entity.id, 0),
        )
        for entity in store.get_entities(shared_ids.tolist())
    )
    log.debug(
        "ring subgraph",
        extra={"members": len(members), "identifiers": len(identifiers), "links": len(links)},
    )
    return RingSubgraph(members=members, identifiers=identifiers, links=links)


def ring_member_ids(store: GraphStore, ring_id: str, *, version: str | None = None) -> list[int]:
    """Member account ids of a ring recorded by the latest (or a given) flagging run.

    Parameters
    ----------
    store : GraphStore
    ring_id : str
        A ring id as flagging assigns them (``R`` + 16 hex digits).
    version : str, optional
        A run version of the ``ring_members`` table; default the latest.

    Returns
    -------
    list of int
        Member account ids, ascending.

    Raises
    ------
    EntityNotFound
        If no run was recorded, or the run has no ring ``ring_id``.

    Notes
    -----
    Reads the run's ``ring_members`` table (one row per member of every ring): O(members
    of all rings). The API keeps it in its snapshot; this is for ad-hoc use.
    """
    import pyarrow.compute as pc

    table = store.read_table("ring_members", version=version)
    rows = table.filter(pc.equal(table.column("ring_id"), ring_id))
    if not rows.num_rows:
        raise EntityNotFound(f"no ring {ring_id!r} in the latest flagging run")
    return sorted(int(i) for i in rows.column("account_id").to_pylist())


def resolve_ring_members(store: GraphStore, member_ids: Sequence[int]) -> tuple[EntityRef, ...]:
    """The member accounts of a ring, checked: every id an account of the graph.

    Parameters
    ----------
    store : GraphStore
    member_ids : sequence of int
        Internal ids of the member accounts (duplicates are ignored).

    Returns
    -------
    tuple of EntityRef
        The members, ordered by id.

    Raises
    ------
    InvalidInput
        If ``member_ids`` is empty or holds something other than ints, or an id is not
        an account.
    LimitExceeded
        If there are more than :data:`~queries.limits.MAX_RING_MEMBERS` members.
    EntityNotFound
        If an id names no entity.

    Examples
    --------
    >>> [m.key for m in resolve_ring_members(store, [4, 3])]  # doctest: +SKIP
    ['A3', 'A4']

    Notes
    -----
    One entity lookup; O(members).
    """
    wanted = _member_ids(member_ids)
    found = {e.id: EntityRef.of(e) for e in store.get_entities(wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise EntityNotFound(f"no entities with ids {missing[:10]}")
    not_accounts = [i for i in wanted if found[i].type != NodeType.ACCOUNT]
    if not_accounts:
        raise InvalidInput(f"ring members must be accounts; not accounts: {not_accounts[:10]}")
    return tuple(found[i] for i in wanted)


def _member_ids(member_ids: Sequence[int]) -> list[int]:
    if isinstance(member_ids, (str, bytes)) or not isinstance(member_ids, Sequence):
        raise InvalidInput("member_ids must be a sequence of entity ids")
    if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in member_ids):
        raise InvalidInput("member_ids must hold integer entity ids")
    wanted = sorted({int(i) for i in member_ids})
    if not wanted:
        raise InvalidInput("member_ids must name at least one account")
    if len(wanted) > MAX_RING_MEMBERS:
        raise LimitExceeded(f"{len(wanted)} members exceed the cap of {MAX_RING_MEMBERS}")
    return wanted
