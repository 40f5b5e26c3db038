"""The shapes of money among strangers, one finder per AML pattern.

Each finder takes the stranger links (payer ``s``, payee ``d``, first and last transfer)
and returns a :class:`Found`: every candidate of its pattern as flat member ids with
their candidate number, and the shape's links, hops, span and time order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import igraph as ig  # type: ignore[import-untyped]
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graph_service.typing import I64
from scoring.flow_rings.config import BURST_DAYS, DAY_US, FlowPattern, FlowRingConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Found:
    """Candidates of one pattern: members as flat ids with their candidate number."""

    pattern: FlowPattern
    flat: I64
    group: I64
    centre: I64
    links: I64
    hops: I64
    span_days: np.ndarray
    in_time_order: np.ndarray | None


def _empty(pattern: FlowPattern) -> Found:
    none = np.zeros(0, np.int64)
    return Found(pattern, none, none, none, none, none, np.zeros(0), None)


def _span(first: np.ndarray, last: np.ndarray, group: I64, k: int) -> np.ndarray:
    """Days between the first and the last transfer of each candidate's links."""
    lo = np.full(k, np.iinfo(np.int64).max)
    hi = np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(lo, group, first)
    np.maximum.at(hi, group, last)
    span: np.ndarray = np.where(hi >= lo, (hi - lo) / DAY_US, 0.0)
    return span


def _degrees(s: I64, d: I64) -> tuple[I64, I64]:
    """Ids with stranger links, and each one's number of distinct stranger links."""
    ids, inverse = np.unique(np.concatenate([s, d]), return_inverse=True)
    return ids, np.bincount(inverse, minlength=ids.size)


def _hubs(s: I64, d: I64, config: FlowRingConfig) -> I64:
    ids, degree = _degrees(s, d)
    hubs: I64 = ids[degree > config.hub_links]
    return hubs


def fans(
    centre_side: I64,
    other_side: I64,
    first: np.ndarray,
    last: np.ndarray,
    pattern: FlowPattern,
    config: FlowRingConfig,
) -> Found:
    """Accounts with at least ``min_fan`` strangers on the other side, with them; and,
    where a fan is drawn out over more than :data:`BURST_DAYS`, its busiest stretch
    (:func:`_bursts`)."""
    whole = _whole_fans(centre_side, other_side, first, last, pattern, config)
    burst = _bursts(centre_side, other_side, first, last, pattern, config)
    return _joined(whole, burst)


def _joined(a: Found, b: Found) -> Found:
    """The candidates of ``a`` then those of ``b`` (same pattern)."""
    if b.centre.size == 0:
        return a
    if a.centre.size == 0:
        return b
    return Found(
        a.pattern,
        np.concatenate([a.flat, b.flat]),
        np.concatenate([a.group, b.group + a.centre.size]),
        np.concatenate([a.centre, b.centre]),
        np.concatenate([a.links, b.links]),
        np.concatenate([a.hops, b.hops]),
        np.concatenate([a.span_days, b.span_days]),
        None,
    )


def _bursts(
    centre_side: I64,
    other_side: I64,
    first: np.ndarray,
    last: np.ndarray,
    pattern: FlowPattern,
    config: FlowRingConfig,
) -> Found:
    """The busiest :data:`BURST_DAYS` of every fan drawn out over longer: the strangers
    whose links start and end within the window holding the most link starts, when they
    are at least ``min_fan`` and not the whole fan.

    A ring of mules pays its collector within its active period, while the collector's
    other strangers (a seller's buyers, a landlord's tenants) come and go over months:
    the whole fan dilutes the ring with them, its burst is the ring. Fans of more than
    ``max_members`` strangers (businesses) have no burst candidate.

    Notes
    -----
    O(t log t) for t stranger links: one sort by (centre, first transfer) and one binary
    search per link.
    """
    if centre_side.size == 0:
        return _empty(pattern)
    centres, inverse, count = np.unique(centre_side, return_inverse=True, return_counts=True)
    fan = (count[inverse] >= config.min_fan) & (count[inverse] + 1 <= config.max_members)
    rank = inverse[fan].astype(np.int64)
    start = (first[fan] // 1_000_000).astype(np.int64)  # seconds
    end_ts = (last[fan] // 1_000_000).astype(np.int64)
    other = other_side[fan]
    if rank.size == 0:
        return _empty(pattern)
    width = int(BURST_DAYS * DAY_US // 1_000_000)
    origin = int(start.min())
    stride = int(max(start.max(), end_ts.max()) - origin) + width + 1
    key = rank * stride + (start - origin)
    order = np.argsort(key, kind="stable")
    key, rank, start, end_ts, other = (
        key[order],
        rank[order],
        start[order],
        end_ts[order],
        other[order],
    )
    stop = np.searchsorted(key, key + width, side="right")
    in_window = stop - np.arange(key.size)
    # The first window holding the most starts, per centre.
    best = np.lexsort((np.arange(key.size), -in_window, rank))
    first_of = np.concatenate([[True], rank[best][1:] != rank[best][:-1]])
    pick = best[first_of]
    total = count[rank[pick]]
    pick = pick[(in_window[pick] >= config.min_fan) & (in_window[pick] < total)]
    if pick.size == 0:
        return _empty(pattern)
    lo = pick
    hi = stop[pick]
    lengths = hi - lo
    rows = np.repeat(lo - np.cumsum(np.concatenate([[0], lengths[:-1]])), lengths) + np.arange(
        int(lengths.sum())
    )
    group_of_row = np.repeat(np.arange(pick.size), lengths)
    inside = end_ts[rows] <= start[pick][group_of_row] + width
    rows, group_of_row = rows[inside], group_of_row[inside]
    size = np.bincount(group_of_row, minlength=pick.size)
    ok = size >= config.min_fan
    if not ok.any():
        return _empty(pattern)
    keep_row = ok[group_of_row]
    rows = rows[keep_row]
    renumber = np.cumsum(ok) - 1
    group_of_row = renumber[group_of_row[keep_row]]
    k = int(ok.sum())
    hub = centres[rank[pick[ok]]]
    flat = np.concatenate([other[rows], hub])
    group = np.concatenate([group_of_row, np.arange(k)])
    span = _span(
        np.concatenate([start[rows], start[pick[ok]]]) * 1_000_000,
        np.concatenate([end_ts[rows], start[pick[ok]]]) * 1_000_000,
        group,
        k,
    )
    return Found(
        pattern,
        flat,
        group,
        hub,
        size[ok].astype(np.int64),
        np.ones(k, np.int64),
        span,
        None,
    )


def _whole_fans(
    centre_side: I64,
    other_side: I64,
    first: np.ndarray,
    last: np.ndarray,
    pattern: FlowPattern,
    config: FlowRingConfig,
) -> Found:
    """Accounts with at least ``min_fan`` strangers on the other side, with them."""
    if centre_side.size == 0:
        return _empty(pattern)
    order = np.lexsort((other_side, centre_side))
    c, o = centre_side[order], other_side[order]
    f, la = first[order], last[order]
    centres, count = np.unique(c, return_counts=True)
    keep = (count >= config.min_fan) & (count + 1 <= config.max_members)
    k = int(keep.sum())
    if k == 0:
        return _empty(pattern)
    row_keep = np.repeat(keep, count)
    group_of_row = np.repeat(np.cumsum(keep) - 1, count)[row_keep]
    flat = np.concatenate([o[row_keep], centres[keep]])
    group = np.concatenate([group_of_row, np.arange(k)])
    span = _span(f[row_keep], la[row_keep], group_of_row, k)
    return Found(
        pattern,
        flat,
        group,
        centres[keep],
        count[keep].astype(np.int64),
        np.ones(k, np.int64),
        span,
        None,
    )


def cycles(s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig) -> Found:
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
    in_order = _goes_round_in_time(first[link], last[link], sizes)
    return Found(
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


def _goes_round_in_time(first: np.ndarray, last: np.ndarray, sizes: I64) -> np.ndarray:
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


def scatter_gather(
    s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig
) -> Found:
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
    return Found(
        FlowPattern.SCATTER_GATHER,
        flat,
        group,
        pair[good] % n,
        2 * count[good].astype(np.int64),
        np.full(k, 2, np.int64),
        _span(f[row], la[row], g, k),
        in_order,
    )


def gather_scatter(
    s: I64,
    d: I64,
    first: np.ndarray,
    last: np.ndarray,
    amount: np.ndarray,
    config: FlowRingConfig,
) -> Found:
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
    return Found(
        FlowPattern.GATHER_SCATTER,
        flat,
        group,
        centres,
        (n_in + n_out)[both].astype(np.int64),
        np.full(k, 2, np.int64),
        _span(first[link_rows], last[link_rows], link_group, k),
        np.ones(k, np.bool_),
    )


def bipartite_and_stack(
    s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig
) -> list[Found]:
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
    flat, group = unique_members(flat, group)
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
        Found(
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
    sets: Found, s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig
) -> Found:
    """Bipartite sets chained payee to payer: two or more layers of them in a row."""
    k = int(sets.group.max()) + 1 if sets.group.size else 0
    if k < 2:
        return _empty(FlowPattern.STACK)
    # Sets sharing a member are layers of one stack.
    ids, inv = np.unique(sets.flat, return_inverse=True)
    member_of = sp.coo_matrix((np.ones(inv.size), (sets.group, inv)), shape=(k, ids.size)).tocsr()
    overlap = (member_of @ member_of.T).tocoo()
    off = overlap.row != overlap.col
    graph = sp.coo_matrix(
        (np.ones(int(off.sum())), (overlap.row[off], overlap.col[off])), shape=(k, k)
    )
    _, chain = connected_components(graph, directed=False)
    layers = np.bincount(chain, minlength=int(chain.max()) + 1)
    flat, group = unique_members(sets.flat, chain[sets.group])
    c = int(chain.max()) + 1
    sizes = np.bincount(group, minlength=c)
    ok = (layers >= 2) & (sizes <= config.max_members)
    links = np.bincount(chain, weights=sets.links, minlength=c).astype(np.int64)
    span = np.zeros(c)
    np.maximum.at(span, chain, sets.span_days)
    return _select(
        Found(
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


def islands(s: I64, d: I64, first: np.ndarray, last: np.ndarray, config: FlowRingConfig) -> Found:
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
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    link_group = component[inv[: ks.size]]
    links = np.bincount(link_group, minlength=sizes.size)
    ok = (sizes >= config.min_island) & (sizes <= config.max_members)
    return _select(
        Found(
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


def unique_members(flat: I64, group: I64) -> tuple[I64, I64]:
    order = np.lexsort((flat, group))
    flat, group = flat[order], group[order]
    keep = np.concatenate([[True], (flat[1:] != flat[:-1]) | (group[1:] != group[:-1])])
    return flat[keep], group[keep]


def _select(found: Found, ok: np.ndarray) -> Found:
    """The candidates ``ok`` marks, renumbered."""
    if not ok.any():
        return _empty(found.pattern)
    number = np.cumsum(ok) - 1
    row = ok[found.group]
    return Found(
        found.pattern,
        found.flat[row],
        number[found.group[row]],
        found.centre[ok],
        found.links[ok],
        found.hops[ok],
        found.span_days[ok],
        None if found.in_time_order is None else found.in_time_order[ok],
    )
