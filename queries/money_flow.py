"""The money flowing out of and into an account: ``TRANSFERS_TO`` links, hop by hop,
optionally along time-respecting paths only (money moves on after it arrived)."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from graph_service.errors import InvalidInput, LimitExceeded
from graph_service.model import LINK_TYPE_CODE, LinkType, NodeType
from graph_service.store import GraphStore
from queries.backends import RelationshipBackend, Row, backend_for
from queries.limits import (
    DEFAULT_FLOW_LINKS,
    MAX_FLOW_DEPTH,
    MAX_FLOW_LINKS,
    MAX_FLOW_TRANSFERS,
    checked_limit,
    checked_range,
    parse_key,
)
from queries.results import Direction, EntityRef, FlowLink, Link, MoneyFlow, utc_from_micros
from queries.temporal_flow import LinkTransfers, time_respecting_links

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
    time_respecting: bool = False,
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
    time_respecting : bool
        Follow only paths on which money can have moved on after it arrived. Following
        money ``out``, a link from ``B`` is followed only if it has a transfer at or after
        the earliest time money from the account reached ``B``; following money ``in``,
        a link into ``B`` only if it has a transfer at or before the latest time money
        could leave ``B`` and still reach the account. Judged on the single transfers,
        not on the links' first and last times. Each link then also carries its time
        bound (``arrival_ts`` out, ``departure_ts`` in) and the amount that moved on it
        within it (``moved_amount``, ``moved_events``). Default: every link within
        ``depth``, whatever its times.

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
        ``direction``, a negative limit or a ``time_respecting`` that is not a bool.
    LimitExceeded
        If ``limit`` is above its cap; time-respecting only: if more than
        :data:`~queries.limits.MAX_FLOW_LINKS` links lie within ``depth`` or they hold
        more than :data:`~queries.limits.MAX_FLOW_TRANSFERS` transfers (a partial read
        could miss the earliest arrival, so such a query is refused, not cut).
    EntityNotFound
        If no account has this key.

    Examples
    --------
    >>> flow = money_flow(store, "A2", depth=2, direction="out")  # doctest: +SKIP
    >>> [(f.link.src, f.link.dst, f.hop) for f in flow.links]  # doctest: +SKIP
    [(1, 2, 1), (2, 0, 2)]
    >>> timed = money_flow(store, "A5", depth=2, direction="out", time_respecting=True)  # doctest: +SKIP
    >>> [(f.link.src, f.link.dst, f.moved_amount) for f in timed.links]  # doctest: +SKIP
    [(4, 1, 70.0)]

    Notes
    -----
    At most ``depth`` capped reads per direction, each expanding one hop from the
    accounts first reached at the previous hop; O(links returned) in Python.
    Time-respecting: the same reads over every link within ``depth`` (they hold every
    time-respecting path), one capped read of their single transfers (one scan of the
    event files), then an earliest-arrival search in Python,
    O(depth * links * log transfers) (see :func:`queries.temporal_flow.time_respecting_links`).
    """
    key = parse_key(account_key, "account_key")
    hops = checked_range(depth, 1, MAX_FLOW_DEPTH, "depth")
    if direction not in _SIDES:
        raise InvalidInput(f"direction must be 'out', 'in' or 'both', got {direction!r}")
    link_cap = checked_limit(limit, MAX_FLOW_LINKS)
    if not isinstance(time_respecting, bool):
        raise InvalidInput(f"time_respecting must be true or false, got {time_respecting!r}")
    account = EntityRef.of(store.get_entity(NodeType.ACCOUNT, key))
    backend = backend_for(store)
    sides = _SIDES[direction]
    if time_respecting:
        return _timed_flow(store, backend, account, sides, hops, link_cap)
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


def _timed_flow(
    store: GraphStore,
    backend: RelationshipBackend,
    account: EntityRef,
    sides: tuple[Direction, ...],
    hops: int,
    link_cap: int,
) -> MoneyFlow:
    """The time-respecting flow: every link within ``hops``, then the time rules."""
    rows: dict[tuple[int, int], Row] = {}
    for side in sides:
        rows.update(_links_within(backend, account.id, side, hops))
    if len(rows) > MAX_FLOW_LINKS:
        raise LimitExceeded(
            f"more than {MAX_FLOW_LINKS} transfer links lie within depth {hops}; lower depth"
        )
    pairs = np.array(sorted(rows), np.int64).reshape(-1, 2)
    singles = backend.link_transfers(pairs[:, 0], pairs[:, 1], MAX_FLOW_TRANSFERS + 1)
    if len(singles) > MAX_FLOW_TRANSFERS:
        raise LimitExceeded(
            f"the links within depth {hops} hold more than {MAX_FLOW_TRANSFERS} transfers; "
            "lower depth"
        )
    grouped: dict[tuple[int, int], tuple[list[int], list[float]]] = {}
    for src, dst, ts_us, amount in singles:
        times, amounts = grouped.setdefault((int(src), int(dst)), ([], []))
        times.append(int(ts_us))
        amounts.append(float(amount))
    transfers = {link: LinkTransfers.of(*values) for link, values in grouped.items()}
    found: dict[tuple[int, int], FlowLink] = {}
    for side in sides:
        for pair, timed in time_respecting_links(account.id, transfers, side, hops).items():
            bound = utc_from_micros(timed.bound_us)
            flow = FlowLink(
                Link.from_row((pair[0], pair[1], _TRANSFER_CODE, *rows[pair][2:])),
                timed.hop,
                side,
                arrival_ts=bound if side == "out" else None,
                departure_ts=bound if side == "in" else None,
                moved_amount=timed.moved_amount,
                moved_events=timed.moved_events,
            )
            kept = found.get(pair)
            if kept is None or (flow.hop, flow.direction != "out") < (
                kept.hop,
                kept.direction != "out",
            ):
                found[pair] = flow
    ordered = sorted(
        found.values(), key=lambda f: (f.hop, f.direction != "out", f.link.src, f.link.dst)
    )
    links = tuple(ordered[:link_cap])
    ends = sorted({account.id} | {i for f in links for i in (f.link.src, f.link.dst)})
    accounts = tuple(EntityRef.of(e) for e in store.get_entities(ends))
    log.debug(
        "time-respecting money flow",
        extra={"account_id": account.id, "links": len(links), "transfers": len(singles)},
    )
    return MoneyFlow(
        account=account,
        accounts=accounts,
        links=links,
        truncated=len(ordered) > link_cap,
        time_respecting=True,
    )


def _links_within(
    backend: RelationshipBackend, account_id: int, side: Direction, hops: int
) -> dict[tuple[int, int], Row]:
    """Every transfer link on a path of at most ``hops`` links from (``out``) or to
    (``in``) the account, by (src, dst); at most ``MAX_FLOW_LINKS + 1`` of them."""
    frontier = np.array([account_id], np.int64)
    seen = frontier
    found: dict[tuple[int, int], Row] = {}
    for _ in range(hops):
        if frontier.size == 0 or len(found) > MAX_FLOW_LINKS:
            break
        rows = backend.transfer_rows(frontier, side, MAX_FLOW_LINKS + 1 - len(found))
        for row in rows:
            found.setdefault((int(row[0]), int(row[1])), row)
        reached = np.array([int(r[1] if side == "out" else r[0]) for r in rows], np.int64)
        frontier = np.setdiff1d(reached, seen)
        seen = np.union1d(seen, frontier)
    return found
