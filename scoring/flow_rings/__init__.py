"""Money-flow ring candidates: groups that only the shape of who pays whom reveals.

Laundering rings often share no device, phone or address; what ties them is money
moving among accounts that have no other reason to pay each other. Most payments run
between people who share counterparties (a family, friends, colleagues, the same
landlord), so an account pair that shares no counterparty but the very busiest is a
payment between *strangers* (:func:`stranger_links`). On the links between strangers,
the shapes of AML typologies are found (the eight patterns of IBM AMLSim):

- ``fan_in`` / ``fan_out``: one account paid by (paying) several strangers, and, when
  the fan is drawn out over months, its busiest 30 days on its own;
- ``cycle``: money going round strangers back to where it started;
- ``scatter_gather``: one account paying several strangers who all pay one other;
- ``gather_scatter``: an account paid by several strangers that pays several others;
- ``bipartite``: several payers who all pay the same several payees; ``stack``: such
  layers one after the other;
- ``random``: a small island of payments between strangers that none of the above reads.

Each shape is a ring *candidate*: it says where to look, never that the ring is fraud.
Payroll is a fan-out, a landlord a fan-in, a family paying back a cycle: the candidates
are tested for fraud evidence beside the identifier and community candidates (see
:mod:`scoring.candidates`), and one is flagged only if its evidence is significant.

Examples
--------
>>> flow = transfer_links([1, 2, 3, 4], [9, 9, 9, 9])
>>> table = flow_ring_candidates(flow, FlowRingConfig(min_fan=4))
>>> table.column("pattern").to_pylist(), table.column("members").to_pylist()
(['fan_in'], [[1, 2, 3, 4, 9]])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from graph_service.typing import I64
from scoring.flow_rings.config import FLOW_CANDIDATE_SCHEMA, FlowPattern, FlowRingConfig
from scoring.flow_rings.shapes import (
    Found,
    bipartite_and_stack,
    cycles,
    fans,
    gather_scatter,
    islands,
    scatter_gather,
    unique_members,
)
from scoring.projection import MoneyFlow

__all__ = [
    "FLOW_CANDIDATE_SCHEMA",
    "FlowPattern",
    "FlowRingConfig",
    "flow_ring_candidates",
    "stranger_links",
    "transfer_links",
]

log = logging.getLogger(__name__)


def transfer_links(
    src: Sequence[int] | I64,
    dst: Sequence[int] | I64,
    *,
    first_ts: Sequence[int] | I64 | None = None,
    last_ts: Sequence[int] | I64 | None = None,
    amount: Sequence[float] | np.ndarray | None = None,
) -> MoneyFlow:
    """A :class:`~scoring.projection.MoneyFlow` of the given links (one transfer each
    unless told), none related or passed on: for building small flows by hand.

    Examples
    --------
    >>> transfer_links([1], [2]).n_events.tolist()
    [1]
    """
    s = np.asarray(src, np.int64)
    d = np.asarray(dst, np.int64)
    first = np.zeros(s.size, np.int64) if first_ts is None else np.asarray(first_ts, np.int64)
    last = first.copy() if last_ts is None else np.asarray(last_ts, np.int64)
    value = np.ones(s.size) if amount is None else np.asarray(amount, np.float64)
    return MoneyFlow(
        src=s,
        dst=d,
        n_events=np.ones(s.size, np.int64),
        amount=value,
        first_ts=first,
        last_ts=last,
        related=np.zeros(s.size, np.bool_),
        passed_on=np.zeros(s.size, np.bool_),
    )


def stranger_links(flow: MoneyFlow, max_shared: float) -> np.ndarray:
    """Which transfer links run between strangers.

    A link is between strangers when the payee never pays the payer back, the two share
    no identity attribute (``flow.related``) and the counterparties they share weigh
    less than ``max_shared``: the resource-allocation index over the undirected transfer
    graph, each shared counterparty counting one over its number of counterparties.

    Parameters
    ----------
    flow : MoneyFlow
    max_shared : float

    Returns
    -------
    ndarray of bool, shape (t,)

    Examples
    --------
    >>> flow = transfer_links([1, 2, 1, 3], [2, 3, 3, 4])
    >>> stranger_links(flow, 0.01).tolist()  # 1, 2 and 3 pay each other: a circle
    [False, False, False, True]

    Notes
    -----
    O(sum of d(u) + d(v) over the links) with sparse products, d the counterparties.
    """
    t = flow.src.shape[0]
    if t == 0:
        return np.zeros(0, np.bool_)
    ids, inverse = np.unique(np.concatenate([flow.src, flow.dst]), return_inverse=True)
    u, v = inverse[:t], inverse[t:]
    n = ids.shape[0]
    adjacency = sp.coo_matrix((np.ones(t), (u, v)), shape=(n, n)).tocsr()
    adjacency.sum_duplicates()
    reciprocal = np.asarray(adjacency[v, u]).ravel() > 0
    both = adjacency + adjacency.T
    both.data[:] = 1.0
    counterparties = np.asarray(both.sum(axis=1)).ravel()
    weighted = both @ sp.diags(1.0 / np.maximum(counterparties, 1.0))
    # Row by row: the shared counterparties of u and v, each weighted 1/degree.
    shared = np.asarray(both[u].multiply(weighted[v]).sum(axis=1)).ravel()
    result: np.ndarray = ~reciprocal & ~flow.related & (shared < max_shared)
    return result


def flow_ring_candidates(flow: MoneyFlow, config: FlowRingConfig | None = None) -> pa.Table:
    """Every money-flow candidate of ``flow`` (see the module docstring).

    Parameters
    ----------
    flow : MoneyFlow
        Aggregated transfer links (one row per payer and payee).
    config : FlowRingConfig, optional

    Returns
    -------
    pa.Table
        :data:`FLOW_CANDIDATE_SCHEMA`, ordered by pattern then members. Candidates with
        the same members and pattern appear once; a fan of more than
        ``config.max_members`` accounts is not a candidate. A set of members appears
        once, with the first pattern that reads it (in :class:`FlowPattern` order).

    Examples
    --------
    >>> flow = transfer_links([1, 2, 3, 4, 5], [2, 3, 4, 5, 1], first_ts=[0, 1, 2, 3, 4])
    >>> table = flow_ring_candidates(flow)
    >>> table.column("pattern").to_pylist(), table.column("in_time_order").to_pylist()
    (['cycle'], [True])

    Notes
    -----
    Stranger links cost O(sum of degrees); fans, scatter-gather and bipartite sets are
    sorts and joins over the stranger links (hubs excluded from the middle of two-hop
    joins, so O(t * hub_links)); cycles are Johnson's search with at most one hub per
    cycle, bounded by ``max_cycle_length`` and ``max_cycles``.
    """
    config = config or FlowRingConfig()
    strange = stranger_links(flow, config.stranger_max_shared)
    s, d = flow.src[strange], flow.dst[strange]
    first, last = flow.first_ts[strange], flow.last_ts[strange]
    found = [
        fans(d, s, first, last, FlowPattern.FAN_IN, config),
        fans(s, d, first, last, FlowPattern.FAN_OUT, config),
        cycles(s, d, first, last, config),
        scatter_gather(s, d, first, last, config),
        gather_scatter(s, d, first, last, flow.amount[strange], config),
        *bipartite_and_stack(s, d, first, last, config),
        islands(s, d, first, last, config),
    ]
    table = _table([f for f in found if f.group.size])
    log.info(
        "money-flow candidates",
        extra={
            "stranger_links": int(strange.sum()),
            "links": int(strange.shape[0]),
            "candidates": table.num_rows,
        },
    )
    return table


def _table(found: list[Found]) -> pa.Table:
    """One table of every pattern's candidates, members ascending; a set of members
    already read by an earlier pattern is dropped."""
    if not found:
        return FLOW_CANDIDATE_SCHEMA.empty_table()
    patterns: list[str] = []
    members: list[list[int]] = []
    columns: dict[str, list[object]] = {
        "centre": [],
        "links": [],
        "hops": [],
        "span_days": [],
        "in_time_order": [],
    }
    seen: set[tuple[int, ...]] = set()
    for f in found:
        flat, group = unique_members(f.flat, f.group)
        k = f.centre.size
        starts = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=k))])
        listed = flat.tolist()
        for c in range(k):
            ring = tuple(listed[starts[c] : starts[c + 1]])
            if ring in seen:
                continue
            seen.add(ring)
            patterns.append(f.pattern.value)
            members.append(list(ring))
            columns["centre"].append(int(f.centre[c]))
            columns["links"].append(int(f.links[c]))
            columns["hops"].append(int(f.hops[c]))
            columns["span_days"].append(float(f.span_days[c]))
            columns["in_time_order"].append(
                None if f.in_time_order is None else bool(f.in_time_order[c])
            )
    table = pa.table(
        {"pattern": patterns, "members": members, **columns}, schema=FLOW_CANDIDATE_SCHEMA
    )
    return table
