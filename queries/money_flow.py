"""The money flowing out of and into an account: ``TRANSFERS_TO`` links, hop by hop."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from graph_service.errors import InvalidInput
from graph_service.model import LINK_TYPE_CODE, LinkType, NodeType
from graph_service.store import GraphStore
from queries.backends import backend_for
from queries.limits import (
    DEFAULT_FLOW_LINKS,
    MAX_FLOW_DEPTH,
    MAX_FLOW_LINKS,
    checked_limit,
    checked_range,
    parse_key,
)
from queries.results import Direction, EntityRef, FlowLink, Link, MoneyFlow

log = logging.getLogger(__name__)

FlowDirection = Literal["out", "in", "both"]
_TRANSFER_CODE = LINK_TYPE_CODE[LinkType.TRANSFERS_TO]
_SIDES: dict[str, tuple[Direction, ...]] = {"out": ("out",), "in": ("in",), "both": ("out", "in")}


def money_flow(
    store: GraphStore,
    account_key: str,
    *,
    depth: int = 2,
    direction: FlowDirection = "both",
    limit: int = DEFAULT_FLOW_LINKS,
) -> MoneyFlow:
    """Transfer links reached following money from (and/or to) an account.

    Parameters
    ----------
    store : GraphStore
        Any backend.
    account_key : str
        The account's normalised key.
    depth : int
        Hops to follow, from 1 to :data:`~queries.limits.MAX_FLOW_DEPTH`. Hop 1 is the
        account's own transfers, hop 2 those of its counterparties, and so on, always
        along the direction of the money (``out``) or against it (``in``).
    direction : {"out", "in", "both"}
        Follow money away from the account, towards it, or both.
    limit : int
        Most links returned, from 0 to :data:`~queries.limits.MAX_FLOW_LINKS`.

    Returns
    -------
    MoneyFlow
        Links ordered by hop, direction (``out`` first), src, dst, each with the first
        hop and direction it was reached at; the accounts at their ends; ``truncated``
        when more links exist within ``depth`` than ``limit``. Truncation keeps the
        nearest hops and, within a hop, the first links in (src, dst) order.

    Raises
    ------
    InvalidInput
        On an empty key, a ``depth`` outside ``[1, MAX_FLOW_DEPTH]``, an unknown
        ``direction`` or a negative limit.
    LimitExceeded
        If ``limit`` is above its cap.
    EntityNotFound
        If no account has this key.

    Examples
    --------
    >>> flow = money_flow(store, "A2", depth=2, direction="out")  # doctest: +SKIP
    >>> [(f.link.src, f.link.dst, f.hop) for f in flow.links]  # doctest: +SKIP
    [(1, 2, 1), (2, 0, 2)]

    Notes
    -----
    At most ``depth`` capped reads per direction, each expanding one hop from the
    accounts first reached at the previous hop; O(links returned) in Python.
    """
    key = parse_key(account_key, "account_key")
    hops = checked_range(depth, 1, MAX_FLOW_DEPTH, "depth")
    if direction not in _SIDES:
        raise InvalidInput(f"direction must be 'out', 'in' or 'both', got {direction!r}")
    link_cap = checked_limit(limit, MAX_FLOW_LINKS)
    account = EntityRef.of(store.get_entity(NodeType.ACCOUNT, key))
    backend = backend_for(store)
    sides = _SIDES[direction]
    frontier = {side: np.array([account.id], np.int64) for side in sides}
    seen = {side: frontier[side] for side in sides}
    found: dict[tuple[int, int], FlowLink] = {}
    truncated = False
    for hop in range(1, hops + 1):
        for side in sides:
            if truncated or frontier[side].size == 0:
                continue
            room = link_cap - len(found)
            # Rows already found from the other side do not count against the limit; at
            # most len(found) of them can come back, so this cap still shows an overflow.
            rows = backend.transfer_rows(frontier[side], side, room + 1 + len(found))
            fresh = [r for r in rows if (int(r[0]), int(r[1])) not in found]
            if len(fresh) > room:
                truncated, fresh = True, fresh[:room]
            for row in fresh:
                link = Link.from_row((row[0], row[1], _TRANSFER_CODE, *row[2:]))
                found[(link.src, link.dst)] = FlowLink(link, hop, side)
            reached = np.array([int(r[1] if side == "out" else r[0]) for r in rows], np.int64)
            frontier[side] = np.setdiff1d(reached, seen[side])
            seen[side] = np.union1d(seen[side], frontier[side])
    links = tuple(
        sorted(found.values(), key=lambda f: (f.hop, f.direction != "out", f.link.src, f.link.dst))
    )
    ends = sorted({account.id} | {i for f in links for i in (f.link.src, f.link.dst)})
    accounts = tuple(EntityRef.of(e) for e in store.get_entities(ends))
    log.debug("money flow", extra={"account_id": account.id, "links": len(links)})
    return MoneyFlow(account=account, accounts=accounts, links=links, truncated=truncated)
