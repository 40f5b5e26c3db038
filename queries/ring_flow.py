"""The money flow of a ring: what came in from outside, what left, what moved inside."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from graph_service.errors import LimitExceeded
from graph_service.store import GraphStore
from queries.backends import Row, backend_for
from queries.limits import MAX_FLOW_TRANSFERS, MAX_RING_LINKS
from queries.results import RingFlow
from queries.ring_subgraph import resolve_ring_members
from queries.temporal_flow import longest_chain

log = logging.getLogger(__name__)


def ring_flow(store: GraphStore, member_ids: Sequence[int]) -> RingFlow:
    """Money into, out of and within a ring, and its longest time-respecting chain.

    Parameters
    ----------
    store : GraphStore
        Any backend.
    member_ids : sequence of int
        Internal ids of the member accounts (duplicates are ignored), e.g. a flagged
        ring's members (:func:`queries.ring_member_ids`).

    Returns
    -------
    RingFlow
        Totals from the aggregated ``TRANSFERS_TO`` links: money in from outside
        (``total_in``), out to outside (``total_out``), between members (``internal``),
        ``retained = total_in - total_out``, and ``hops``: the number of transfers in the
        longest chain of internal transfers where each leaves the member the previous
        one paid, strictly later (see :func:`queries.temporal_flow.longest_chain`).

    Raises
    ------
    InvalidInput
        If ``member_ids`` is empty or holds something other than ints, or an id is not
        an account.
    LimitExceeded
        If there are more than :data:`~queries.limits.MAX_RING_MEMBERS` members, the
        members have more than :data:`~queries.limits.MAX_RING_LINKS` transfer links
        either way, or their internal links hold more than
        :data:`~queries.limits.MAX_FLOW_TRANSFERS` transfers (a partial sum would
        misstate the flow, so it is refused rather than cut).
    EntityNotFound
        If an id names no entity.

    Examples
    --------
    >>> flow = ring_flow(store, [0, 1, 2])  # doctest: +SKIP
    >>> flow.total_in, flow.total_out, flow.internal, flow.retained, flow.hops  # doctest: +SKIP
    (70.0, 5.0, 200.0, 65.0, 3)

    Notes
    -----
    One entity lookup, two capped reads of aggregated links (out of and into the
    members), one capped read of the internal links' single transfers (one scan of the
    event files); O(links + internal transfers * log) in Python.
    """
    members = resolve_ring_members(store, member_ids)
    ids = np.array([m.id for m in members], np.int64)
    inside = set(ids.tolist())
    backend = backend_for(store)
    leaving = _capped(backend.transfer_rows(ids, "out", MAX_RING_LINKS + 1), "leaving")
    entering = _capped(backend.transfer_rows(ids, "in", MAX_RING_LINKS + 1), "entering")
    internal = [r for r in leaving if int(r[1]) in inside]
    outgoing = [r for r in leaving if int(r[1]) not in inside]
    incoming = [r for r in entering if int(r[0]) not in inside]
    pairs = np.array([(int(r[0]), int(r[1])) for r in internal], np.int64).reshape(-1, 2)
    singles = backend.link_transfers(pairs[:, 0], pairs[:, 1], MAX_FLOW_TRANSFERS + 1)
    if len(singles) > MAX_FLOW_TRANSFERS:
        raise LimitExceeded(
            f"the ring's internal links hold more than {MAX_FLOW_TRANSFERS} transfers"
        )
    chain = np.array([(int(s), int(d), int(t)) for s, d, t, _ in singles], np.int64).reshape(-1, 3)
    total_in, total_out = _amount(incoming), _amount(outgoing)
    flow = RingFlow(
        members=members,
        total_in=total_in,
        in_events=_events(incoming),
        sources=len({int(r[0]) for r in incoming}),
        total_out=total_out,
        out_events=_events(outgoing),
        destinations=len({int(r[1]) for r in outgoing}),
        internal=_amount(internal),
        internal_events=_events(internal),
        retained=total_in - total_out,
        hops=longest_chain(chain[:, 0], chain[:, 1], chain[:, 2]),
    )
    log.debug(
        "ring flow",
        extra={"members": len(members), "links": len(leaving) + len(incoming), "hops": flow.hops},
    )
    return flow


def _capped(rows: list[Row], way: str) -> list[Row]:
    if len(rows) > MAX_RING_LINKS:
        raise LimitExceeded(f"the ring has more than {MAX_RING_LINKS} transfer links {way} it")
    return rows


def _amount(rows: list[Row]) -> float:
    return math.fsum(float(r[3]) for r in rows)


def _events(rows: list[Row]) -> int:
    return sum(int(r[2]) for r in rows)
