"""Money-flow ring candidates: groups that only the shape of who pays whom reveals.

Laundering rings often share no device, phone or address; what ties them is money
moving among accounts that have no other reason to pay each other. Most payments run
between people who share counterparties (a family, friends, colleagues, the same
landlord), so an account pair that shares no counterparty but the very busiest is a
payment between *strangers* (:func:`stranger_links`). On the links between strangers,
the shapes of AML typologies are found (the eight patterns of IBM AMLSim):

- ``fan_in`` / ``fan_out``: one account paid by (paying) several strangers;
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
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import igraph as ig  # type: ignore[import-untyped]
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from graph_service.errors import InvalidInput
from graph_service.typing import I64
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


class FlowPattern(StrEnum):
    """The AML typologies a money-flow candidate can have (IBM AMLSim's eight)."""

    FAN_IN = "fan_in"
    FAN_OUT = "fan_out"
    CYCLE = "cycle"
    SCATTER_GATHER = "scatter_gather"
    GATHER_SCATTER = "gather_scatter"
    BIPARTITE = "bipartite"
    STACK = "stack"
    RANDOM = "random"


#: One row per candidate: its pattern, members (store ids, ascending), the account at its
#: centre (-1 for none), the transfer links inside it, how many hops money takes across
#: it, the days its links span and whether money could have moved through it in time
#: order (null where the pattern has no order).
FLOW_CANDIDATE_SCHEMA: Final = pa.schema(
    [
        pa.field("pattern", pa.string(), nullable=False),
        pa.field("members", pa.list_(pa.int64()), nullable=False),
        pa.field("centre", pa.int64(), nullable=False),
        pa.field("links", pa.int64(), nullable=False),
        pa.field("hops", pa.int64(), nullable=False),
        pa.field("span_days", pa.float64(), nullable=False),
        pa.field("in_time_order", pa.bool_()),
    ]
)

_DAY_US: Final = 86_400e6


@dataclass(frozen=True, slots=True)
class FlowRingConfig:
    """Which transfer links are between strangers and which shapes are candidates.

    Parameters
    ----------
    stranger_max_shared : float
        Two accounts are strangers when the counterparties they share weigh less than
        this, each counting one over its own number of counterparties (the
        resource-allocation index; 0.01: they share no counterparty with fewer than
        100 counterparties, only the busiest, such as a supermarket or an employer).
    min_fan : int
        Fewest strangers paying (paid by) one account for a fan (4).
    max_members : int
        Largest candidate (60): a fan of hundreds is a business, and a ring that large is
        not one investigators can read as one; its evidence still shows on the accounts.
    hub_links : int
        Links to strangers beyond which an account is a hub (12). A cycle may pass
        through one hub at most, and scatter legs and bipartite payers never run through
        one: hubs join everything to everything.
    max_cycle_length : int
        Longest cycle searched, in accounts (10).
    max_cycles : int
        Most cycles kept (100,000); the search stops there and logs it.
    min_island : int
        Fewest accounts of a ``random`` island (5); the largest is ``max_members``.
    pass_on_low, pass_on_high : float
        Share of the money in that a gather-scatter centre passes on (0.5 to 1.02: the
        money, less a margin, give or take rounding).
    """

    stranger_max_shared: float = 0.01
    min_fan: int = 4
    max_members: int = 60
    hub_links: int = 12
    max_cycle_length: int = 10
    max_cycles: int = 100_000
    min_island: int = 5
    pass_on_low: float = 0.5
    pass_on_high: float = 1.02

    def __post_init__(self) -> None:
        if self.stranger_max_shared <= 0:
            raise InvalidInput("stranger_max_shared must be > 0")
        if self.min_fan < 2:
            raise InvalidInput("min_fan must be >= 2")
        if self.max_members < max(self.min_fan + 1, self.min_island):
            raise InvalidInput("max_members must hold the smallest fan and island")
        if self.hub_links < 2:
            raise InvalidInput("hub_links must be >= 2")
        if not 3 <= self.max_cycle_length <= 20:
            raise InvalidInput("max_cycle_length must be in [3, 20]")
        if self.max_cycles < 1:
            raise InvalidInput("max_cycles must be >= 1")
        if self.min_island < 3:
            raise InvalidInput("min_island must be >= 3")
        if not 0 < self.pass_on_low <= self.pass_on_high:
            raise InvalidInput("need 0 < pass_on_low <= pass_on_high")


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


@dataclass(frozen=True, slots=True)
class _Found:
    """Candidates of one pattern: members as flat ids with their candidate number."""

    pattern: FlowPattern
    flat: I64
    group: I64
    centre: I64
    links: I64
    hops: I64
    span_days: np.ndarray
    in_time_order: np.ndarray | None


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
        _fans(d, s, first, last, FlowPattern.FAN_IN, config),
        _fans(s, d, first, last, FlowPattern.FAN_OUT, config),
        _cycles(s, d, first, last, config),
        _scatter_gather(s, d, first, last, config),
        _gather_scatter(s, d, first, last, flow.amount[strange], config),
        *_bipartite_and_stack(s, d, first, last, config),
        _islands(s, d, first, last, config),
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


def _empty(pattern: FlowPattern) -> _Found:
    none = np.zeros(0, np.int64)
    return _Found(pattern, none, none, none, none, none, np.zeros(0), None)


def _span(first: np.ndarray, last: np.ndarray, group: I64, k: int) -> np.ndarray:
    """Days between the first and the last transfer of each candidate's links."""
    lo = np.full(k, np.iinfo(np.int64).max)
    hi = np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(lo, group, first)
    np.maximum.at(hi, group, last)
    span: np.ndarray = np.where(hi >= lo, (hi - lo) / _DAY_US, 0.0)
    return span


def _degrees(s: I64, d: I64) -> tuple[I64, I64]:
    """Ids with stranger links, and each one's number of distinct stranger links."""
    ids, inverse = np.unique(np.concatenate([s, d]), return_inverse=True)
    return ids, np.bincount(inverse, minlength=ids.size)


def _hubs(s: I64, d: I64, config: FlowRingConfig) -> I64:
    ids, degree = _degrees(s, d)
    hubs: I64 = ids[degree > config.hub_links]
    return hubs


def _fans(
    centre_side: I64,
    other_side: I64,
    first: np.ndarray,
    last: np.ndarray,
    pattern: FlowPattern,
    config: FlowRingConfig,
) -> _Found:
    """Accounts with at least ``min_fan`` strangers on the other side, with them."""
    if centre_side.size == 0:
        return _empty(pattern)
    order = np.lexsort((other_side, centre_side))
    c, o = centre_side[order], other_side[order]
    f, la = first[order], last[order]
    centres, start, count = np.unique(c, return_index=True, return_counts=True)
    keep = (count >= config.min_fan) & (count + 1 <= config.max_members)
    k = int(keep.sum())
    if k == 0:
        return _empty(pattern)
    row_keep = np.repeat(keep, count)
    group_of_row = np.repeat(np.cumsum(keep) - 1, count)[row_keep]
    flat = np.concatenate([o[row_keep], centres[keep]])
    group = np.concatenate([group_of_row, np.arange(k)])
    span = _span(f[row_keep], la[row_keep], group_of_row, k)
    del start
    return _Found(
        pattern,
        flat,
        group,
        centres[keep],
        count[keep].astype(np.int64),
        np.ones(k, np.int64),
        span,
        None,
    )


def _cycles(s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig) -> _Found:
    """Simple directed cycles of 3 to ``max_cycle_length`` strangers, at most one hub."""
    if s.size == 0:
        return _empty(FlowPattern.CYCLE)
    ids, inverse = np.unique(np.concatenate([s, d]), return_inverse=True)
    u, v = inverse[: s.size], inverse[s.size :]
    n = ids.size
    hub = np.zeros(n, np.bool_)
    hub[np.searchsorted(ids, _hubs(s, d, config))] = True
    plain = ~hub[u] & ~hub[v]
    found: list[list[int]] = []
    graph = ig.Graph(n=n, edges=np.column_stack([u[plain], v[plain]]).tolist(), directed=True)
    found += [list(c) for c in _bounded_cycles(graph, config, config.max_cycles)]
    depth = config.max_cycle_length - 1
    by_payer = np.argsort(u, kind="stable")
    by_payee = np.argsort(v, kind="stable")
    payer_sorted, payee_sorted = u[by_payer], v[by_payee]
    for h in np.flatnonzero(hub).tolist():
        if len(found) >= config.max_cycles:
            log.warning("cycle search stopped at max_cycles", extra={"cycles": len(found)})
            break
        outs = v[
            by_payer[np.searchsorted(payer_sorted, h) : np.searchsorted(payer_sorted, h, "right")]
        ]
        ins = u[
            by_payee[np.searchsorted(payee_sorted, h) : np.searchsorted(payee_sorted, h, "right")]
        ]
        outs, ins = outs[~hub[outs]], ins[~hub[ins]]
        if outs.size == 0 or ins.size == 0:
            continue
        ahead: set[int] = set()
        ahead.update(*graph.neighborhood(outs.tolist(), order=depth - 1, mode="out"))
        behind: set[int] = set()
        behind.update(*graph.neighborhood(ins.tolist(), order=depth - 1, mode="in"))
        nodes = np.asarray(sorted((ahead & behind) | {h}), np.int64)
        if nodes.size < 3:
            continue
        pu = np.minimum(np.searchsorted(nodes, u), nodes.size - 1)
        pv = np.minimum(np.searchsorted(nodes, v), nodes.size - 1)
        inside = (nodes[pu] == u) & (nodes[pv] == v) & (plain | (u == h) | (v == h))
        local = ig.Graph(
            n=nodes.size,
            edges=np.column_stack([pu[inside], pv[inside]]).tolist(),
            directed=True,
        )
        at = int(np.searchsorted(nodes, h))
        for cycle in _bounded_cycles(local, config, config.max_cycles - len(found)):
            if at in cycle:
                found.append([int(nodes[i]) for i in cycle])
    if not found:
        return _empty(FlowPattern.CYCLE)
    sizes = np.fromiter((len(c) for c in found), np.int64, len(found))
    ordered = np.concatenate([np.asarray(c, np.int64) for c in found])
    group = np.repeat(np.arange(len(found)), sizes)
    # The links of each cycle, hop by hop, and whether money could go round in order.
    nxt = np.concatenate([np.roll(np.asarray(c, np.int64), -1) for c in found])
    link = _link_index(u, v, ordered, nxt)
    span = _span(first[link], last[link], group, len(found))
    in_order = _goes_round_in_time(first[link], last[link], group, sizes)
    return _Found(
        FlowPattern.CYCLE,
        ids[ordered],
        group,
        np.full(len(found), -1, np.int64),
        sizes,
        sizes,
        span,
        in_order,
    )


def _bounded_cycles(graph: ig.Graph, config: FlowRingConfig, most: int) -> list[tuple[int, ...]]:
    """Simple cycles of 3 to ``max_cycle_length`` vertices, at most ``most`` of them.

    A cycle lies inside one strongly connected component, so the search runs only on the
    components of three or more vertices: most stranger graphs have none, and the search
    over the whole graph would still walk every path."""
    if graph.ecount() == 0 or most <= 0:
        return []
    components = graph.connected_components(mode="strong")
    keep = sorted(v for component in components if len(component) >= 3 for v in component)
    if not keep:
        return []
    inside = graph.induced_subgraph(keep, implementation="copy_and_delete")
    cycles: list[tuple[int, ...]] = inside.simple_cycles(min=3, max=config.max_cycle_length)
    return [tuple(keep[i] for i in cycle) for cycle in cycles[:most]]


def _link_index(u: I64, v: I64, a: I64, b: I64) -> I64:
    """Row of link ``a[i] -> b[i]`` among the links ``u -> v`` (every pair present)."""
    n = int(max(u.max(initial=0), v.max(initial=0))) + 1
    key = u * n + v
    order = np.argsort(key, kind="stable")
    at: I64 = order[np.searchsorted(key[order], a * n + b)]
    return at


def _goes_round_in_time(first: np.ndarray, last: np.ndarray, group: I64, sizes: I64) -> np.ndarray:
    """Whether, starting at some member, each hop of a cycle can follow the one before in
    time: a transfer on every hop no earlier than the one chosen on the hop before. With
    links known by their first and last transfer only, a hop is taken at its first
    transfer after the previous one (its last transfer bounds it)."""
    starts = np.concatenate([[0], np.cumsum(sizes)])
    result = np.zeros(sizes.size, np.bool_)
    for ring, (a, b) in enumerate(zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True)):
        f, la = first[a:b], last[a:b]
        m = b - a
        for begin in range(m):
            at = f[begin]
            ok = True
            for step in range(1, m):
                j = (begin + step) % m
                if la[j] < at:
                    ok = False
                    break
                at = max(at, f[j])
            if ok:
                result[ring] = True
                break
    del group
    return result


def _two_hop(
    s: I64, d: I64, first: np.ndarray, last: np.ndarray, hubs: I64
) -> tuple[I64, I64, I64, np.ndarray, np.ndarray, np.ndarray]:
    """Every path ``a -> m -> b`` over stranger links with ``m`` no hub and ``a != b``:
    (a, m, b, first of the first leg, last of the second leg, whether the second leg has
    a transfer after the first leg's first)."""
    middle = ~np.isin(d, hubs)
    order_in = np.argsort(d, kind="stable")
    order_in = order_in[middle[order_in]]
    order_out = np.argsort(s, kind="stable")
    sd = s[order_out]
    lo = np.searchsorted(sd, d[order_in], "left")
    hi = np.searchsorted(sd, d[order_in], "right")
    count = hi - lo
    leg1 = np.repeat(order_in, count)
    offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    leg2 = order_out[np.repeat(lo, count) + offsets]
    a, m, b = s[leg1], d[leg1], d[leg2]
    keep = a != b
    leg1, leg2 = leg1[keep], leg2[keep]
    after = last[leg2] >= first[leg1]
    return a[keep], m[keep], b[keep], first[leg1], last[leg2], after


def _scatter_gather(
    s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig
) -> _Found:
    """A payer, two or more strangers it pays who each pay one same payee, and that payee."""
    if s.size == 0:
        return _empty(FlowPattern.SCATTER_GATHER)
    a, m, b, f, la, after = _two_hop(s, d, first, last, _hubs(s, d, config))
    n = int(max(s.max(), d.max())) + 1
    pair, inverse, count = np.unique(a * n + b, return_inverse=True, return_counts=True)
    good = (count >= 2) & (count + 2 <= config.max_members)
    k = int(good.sum())
    if k == 0:
        return _empty(FlowPattern.SCATTER_GATHER)
    number = np.cumsum(good) - 1
    row = good[inverse]
    g = number[inverse[row]]
    flat = np.concatenate([m[row], pair[good] // n, pair[good] % n])
    group = np.concatenate([g, np.arange(k), np.arange(k)])
    in_order = np.zeros(k, np.bool_)
    np.logical_or.at(in_order, g, after[row])
    return _Found(
        FlowPattern.SCATTER_GATHER,
        flat,
        group,
        pair[good] % n,
        2 * count[good].astype(np.int64),
        np.full(k, 2, np.int64),
        _span(f[row], la[row], g, k),
        in_order,
    )


def _gather_scatter(
    s: I64,
    d: I64,
    first: np.ndarray,
    last: np.ndarray,
    amount: np.ndarray,
    config: FlowRingConfig,
) -> _Found:
    """An account paid by two or more strangers that passes the money on to two or more
    strangers, with them.

    Only payees paid after money first came in count, and together they must get between
    ``pass_on_low`` and ``pass_on_high`` of what came in (the money passed on, less a
    margin): an account paid a salary that pays its rent and bills is the everyday case
    of money in and money out, and passes on no set share of it."""
    if s.size == 0:
        return _empty(FlowPattern.GATHER_SCATTER)
    ids, inverse = np.unique(np.concatenate([s, d]), return_inverse=True)
    payee_of, payer_of = inverse[: s.size], inverse[s.size :]
    n_in = np.bincount(payer_of, minlength=ids.size)
    first_in = np.full(ids.size, np.iinfo(np.int64).max)
    np.minimum.at(first_in, payer_of, first)
    after = last >= first_in[payee_of]
    n_out = np.bincount(payee_of[after], minlength=ids.size)
    money_in = np.bincount(payer_of, weights=amount, minlength=ids.size)
    money_out = np.bincount(payee_of[after], weights=amount[after], minlength=ids.size)
    share = money_out / np.maximum(money_in, 1e-12)
    both = (n_in >= 2) & (n_out >= 2) & (n_in + n_out + 1 <= config.max_members)
    both &= (share >= config.pass_on_low) & (share <= config.pass_on_high)
    centres = ids[both]
    k = centres.size
    if k == 0:
        return _empty(FlowPattern.GATHER_SCATTER)
    number = np.full(ids.size, -1, np.int64)
    number[both] = np.arange(k)
    g_in = number[payer_of]
    g_out = np.where(after, number[payee_of], -1)
    ins, outs = g_in >= 0, g_out >= 0
    flat = np.concatenate([s[ins], d[outs], centres])
    group = np.concatenate([g_in[ins], g_out[outs], np.arange(k)])
    link_group = np.concatenate([g_in[ins], g_out[outs]])
    link_rows = np.concatenate([np.flatnonzero(ins), np.flatnonzero(outs)])
    return _Found(
        FlowPattern.GATHER_SCATTER,
        flat,
        group,
        centres,
        (n_in + n_out)[both].astype(np.int64),
        np.full(k, 2, np.int64),
        _span(first[link_rows], last[link_rows], link_group, k),
        np.ones(k, np.bool_),
    )


def _bipartite_and_stack(
    s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig
) -> list[_Found]:
    """Sets of two or more payers who all pay the same two or more payees (bipartite),
    and chains of such sets where one set's payees are the next one's payers (stack).

    Payees paid by two or more of the same payers are grouped (connected components of
    the payee pairs sharing two payers); the set's payers are those paying two or more
    of its payees. Hubs never count as payers: a busy account pays everyone."""
    if s.size == 0:
        return [_empty(FlowPattern.BIPARTITE)]
    hubs = _hubs(s, d, config)
    payer = ~np.isin(s, hubs)
    ps, pd_ = s[payer], d[payer]
    # Payee pairs (b1 < b2) and the payers they share: one row per payer and pair.
    order = np.lexsort((pd_, ps))
    ps, pd_ = ps[order], pd_[order]
    _, start, count = np.unique(ps, return_index=True, return_counts=True)
    pairs_per = count * (count - 1) // 2
    if int(pairs_per.sum()) == 0:
        return [_empty(FlowPattern.BIPARTITE)]
    owner = np.repeat(np.arange(start.size), pairs_per)
    rank = np.arange(int(pairs_per.sum())) - np.repeat(np.cumsum(pairs_per) - pairs_per, pairs_per)
    c = count[owner]
    # Unrank the pair index into (i, j), i < j, within each payer's payees.
    i = (c - 1 - np.floor((np.sqrt(8.0 * ((c * (c - 1)) // 2 - 1 - rank) + 1) - 1) / 2)).astype(
        np.int64
    ) - 1
    j = rank - (i * (2 * c - i - 1)) // 2 + i + 1
    b1, b2 = pd_[start[owner] + i], pd_[start[owner] + j]
    n = int(max(s.max(), d.max())) + 1
    pair, shared = np.unique(b1 * n + b2, return_counts=True)
    strong = pair[shared >= 2]
    if strong.size == 0:
        return [_empty(FlowPattern.BIPARTITE)]
    ends = np.concatenate([strong // n, strong % n])
    ids, inv = np.unique(ends, return_inverse=True)
    graph = sp.coo_matrix(
        (np.ones(strong.size), (inv[: strong.size], inv[strong.size :])),
        shape=(ids.size, ids.size),
    )
    from scipy.sparse.csgraph import connected_components

    _, component = connected_components(graph, directed=False)
    payee_set = np.full(n, -1, np.int64)
    payee_set[ids] = component
    # Payers of each set: paying two or more of its payees.
    at = payee_set[pd_]
    row = at >= 0
    width = int(component.max()) + 1
    key, hits = np.unique(ps[row] * width + at[row], return_counts=True)
    payers = key[hits >= 2] // width
    payer_set = key[hits >= 2] % width
    k = int(component.max()) + 1
    flat = np.concatenate([payers, ids])
    group = np.concatenate([payer_set, component])
    flat, group = _unique_members(flat, group)
    sizes = np.bincount(group, minlength=k)
    n_payers = np.bincount(payer_set, minlength=k)
    row_key = ps[row] * width + at[row]
    in_set = hits[np.searchsorted(key, row_key)] >= 2
    link_rows = np.flatnonzero(payer)[order][np.flatnonzero(row)[in_set]]
    link_group = at[row][in_set]
    links = np.bincount(link_group, minlength=k)
    span = _span(first[link_rows], last[link_rows], link_group, k)
    ok = (n_payers >= 2) & (sizes <= config.max_members)
    bipartite = _select(
        _Found(
            FlowPattern.BIPARTITE,
            flat,
            group,
            np.full(k, -1, np.int64),
            links.astype(np.int64),
            np.ones(k, np.int64),
            span,
            None,
        ),
        ok,
    )
    return [bipartite, _stacks(bipartite, s, d, first, last, config)]


def _stacks(
    sets: _Found, s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig
) -> _Found:
    """Bipartite sets chained payee to payer: two or more layers of them in a row."""
    k = int(sets.group.max()) + 1 if sets.group.size else 0
    if k < 2:
        return _empty(FlowPattern.STACK)
    # Sets sharing a member are layers of one stack.
    ids, inv = np.unique(sets.flat, return_inverse=True)
    member_of = sp.coo_matrix((np.ones(inv.size), (sets.group, inv)), shape=(k, ids.size)).tocsr()
    overlap = (member_of @ member_of.T).tocoo()
    off = overlap.row != overlap.col
    from scipy.sparse.csgraph import connected_components

    graph = sp.coo_matrix(
        (np.ones(int(off.sum())), (overlap.row[off], overlap.col[off])), shape=(k, k)
    )
    _, chain = connected_components(graph, directed=False)
    layers = np.bincount(chain, minlength=int(chain.max()) + 1)
    flat, group = _unique_members(sets.flat, chain[sets.group])
    c = int(chain.max()) + 1
    sizes = np.bincount(group, minlength=c)
    ok = (layers >= 2) & (sizes <= config.max_members)
    links = np.bincount(chain, weights=sets.links, minlength=c).astype(np.int64)
    span = np.zeros(c)
    np.maximum.at(span, chain, sets.span_days)
    return _select(
        _Found(
            FlowPattern.STACK,
            flat,
            group,
            np.full(c, -1, np.int64),
            links,
            layers.astype(np.int64) + 1,
            span,
            None,
        ),
        ok,
    )


def _islands(s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig) -> _Found:
    """Small islands of stranger links once hubs are set aside: money moving among
    accounts that pay no one else, in no shape of its own."""
    if s.size == 0:
        return _empty(FlowPattern.RANDOM)
    hubs = _hubs(s, d, config)
    keep = ~np.isin(s, hubs) & ~np.isin(d, hubs)
    ks, kd = s[keep], d[keep]
    if ks.size == 0:
        return _empty(FlowPattern.RANDOM)
    ids, inv = np.unique(np.concatenate([ks, kd]), return_inverse=True)
    graph = sp.coo_matrix(
        (np.ones(ks.size), (inv[: ks.size], inv[ks.size :])), shape=(ids.size, ids.size)
    )
    from scipy.sparse.csgraph import connected_components

    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    link_group = component[inv[: ks.size]]
    links = np.bincount(link_group, minlength=sizes.size)
    ok = (sizes >= config.min_island) & (sizes <= config.max_members)
    return _select(
        _Found(
            FlowPattern.RANDOM,
            ids,
            component.astype(np.int64),
            np.full(sizes.size, -1, np.int64),
            links.astype(np.int64),
            np.ones(sizes.size, np.int64),
            _span(first[keep], last[keep], link_group, sizes.size),
            None,
        ),
        ok,
    )


def _unique_members(flat: I64, group: I64) -> tuple[I64, I64]:
    order = np.lexsort((flat, group))
    flat, group = flat[order], group[order]
    keep = np.concatenate([[True], (flat[1:] != flat[:-1]) | (group[1:] != group[:-1])])
    return flat[keep], group[keep]


def _select(found: _Found, ok: np.ndarray) -> _Found:
    """The candidates ``ok`` marks, renumbered."""
    if not ok.any():
        return _empty(found.pattern)
    number = np.cumsum(ok) - 1
    row = ok[found.group]
    return _Found(
        found.pattern,
        found.flat[row],
        number[found.group[row]],
        found.centre[ok],
        found.links[ok],
        found.hops[ok],
        found.span_days[ok],
        None if found.in_time_order is None else found.in_time_order[ok],
    )


def _table(found: list[_Found]) -> pa.Table:
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
        flat, group = _unique_members(f.flat, f.group)
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
