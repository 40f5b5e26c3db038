"""Money-flow structures around an account: temporal cycles, scatter-gather, bipartite
co-payment and its layers (stacks).

Every structure is found by bounded joins over the transfers, never per account: paths
grow one hop at a time as arrays of partial paths, each hop a binary search into the
transfers sorted by (payer, time). Accounts with more than ``hub_degree`` distinct
counterparties (payroll, merchants, exchanges) are left out of every structure: they
would multiply the partial paths without telling a ring apart, and a ring's accounts are
rarely hubs.
"""

from __future__ import annotations

import numpy as np

from graph_service.temporal import DAY_US
from graph_service.typing import I64, BoolArray

from .book import TransferBook

__all__ = ["copayment_columns", "path_columns"]

_NEVER = np.iinfo(np.int64).min


def _previous_on_link(book: TransferBook) -> I64:
    """Time of the previous transfer on the same link (``_NEVER`` for a link's first)."""
    order = book.link_order
    t = book.ts[order.index]
    prev = np.full(t.shape[0], _NEVER, np.int64)
    same = order.group[1:] == order.group[:-1]
    prev[1:][same] = t[:-1][same]
    out = np.empty_like(prev)
    out[order.index] = prev
    return out


def _ranges(lo: I64, hi: I64) -> tuple[I64, I64]:
    """For half-open ranges ``[lo, hi)``: the range of each member, and the member."""
    count = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(lo.shape[0], dtype=np.int64), count)
    offset = np.arange(owner.shape[0], dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return owner, lo[owner] + offset


def _canonical_cycles(rows: I64) -> I64:
    """Distinct cycles among node sequences, each rotated to start at its least node."""
    if rows.shape[0] == 0:
        return rows
    k = rows.shape[1]
    turn = np.argmin(rows, axis=1)[:, None]
    rotated = np.take_along_axis(rows, (turn + np.arange(k)) % k, axis=1)
    return np.unique(rotated, axis=0)


def _scatter_gather(book: TransferBook, a: I64, mid: I64, z: I64) -> tuple[I64, I64]:
    """Per account: sinks it reaches through >= 2 intermediaries, and sources that reach
    it so, from the time-respecting two-hop paths ``a -> mid -> z``."""
    n = book.n
    if a.shape[0] == 0:
        return np.zeros(n, np.int64), np.zeros(n, np.int64)
    ends, end_of = np.unique(a * n + z, return_inverse=True)
    triples = np.unique(end_of.astype(np.int64) * n + mid)
    via = np.bincount(triples // n, minlength=ends.shape[0])
    wide = ends[via >= 2]
    return (
        np.bincount(wide // n, minlength=n).astype(np.int64),
        np.bincount(wide % n, minlength=n).astype(np.int64),
    )


def path_columns(
    book: TransferBook, hub: BoolArray, *, max_hops: int, window_days: int, fan_cap: int
) -> dict[str, np.ndarray]:
    """Temporal cycles, reciprocal pairs and scatter-gather from time-respecting paths.

    Every transfer between two non-hub accounts starts a path; a path at account ``v``
    at time ``t`` continues along each link out of ``v`` by that link's earliest
    transfer at or after ``t``, while the path stays within ``window_days`` of its first
    transfer and visits no account twice (at most ``fan_cap`` transfers per step, the
    earliest). Taking the earliest transfer is exact: if a cycle can be travelled in time
    order from a first transfer, it can by the earliest next transfers.

    Returns
    -------
    dict of str to ndarray, each shape (n,)
        ``reciprocal_pairs``, ``temporal_cycles``, ``shortest_temporal_cycle_hops``,
        ``scatter_gather``, ``scatter_gather_sink``.

    Notes
    -----
    O(P log m) for P partial paths: each hop costs binary searches per path. P grows
    like the transfers times the mean number of transfers out of an account within the
    window, per hop, which is why hubs are left out.
    """
    n = book.n
    window = int(window_days) * DAY_US
    prev_on_link = _previous_on_link(book)
    start = ~hub[book.src] & ~hub[book.dst] & (book.src != book.dst)
    path = [book.src[start], book.dst[start]]
    deadline = book.ts[start] + window
    now = book.ts[start]
    cycles: dict[int, I64] = {}
    two_hop = (np.zeros(0, np.int64),) * 3
    hops = 1
    while path[0].shape[0]:
        closing = book.first_on_link_from(book.link_of(path[-1], path[0]), now)
        closes = (closing >= 0) & (closing <= deadline)
        cycles[hops + 1] = _canonical_cycles(np.stack(path, axis=1)[closes])
        if hops + 2 > max_hops and hops > 1:
            break
        outs = book.out_order
        lo = np.searchsorted(outs.keys, book.key_before(path[-1], now))
        hi = np.searchsorted(outs.keys, book.key_after(path[-1], deadline))
        owner, pos = _ranges(lo, np.minimum(hi, lo + fan_cap))
        transfer = outs.index[pos]
        nxt = book.dst[transfer]
        keep = (prev_on_link[transfer] < now[owner]) & ~hub[nxt]
        for node in path:
            keep &= nxt != node[owner]
        owner, transfer, nxt = owner[keep], transfer[keep], nxt[keep]
        path = [node[owner] for node in path] + [nxt]
        deadline, now = deadline[owner], book.ts[transfer]
        hops += 1
        if hops == 2:
            two_hop = (path[0], path[1], path[2])
        if hops + 1 > max_hops:
            break

    reciprocal = cycles.get(2, np.zeros((0, 2), np.int64))
    counted = np.zeros(n, np.int64)
    shortest = np.zeros(n, np.int64)
    for k in sorted(cycles):
        if k < 3:
            continue
        members = cycles[k].ravel()
        counted += np.bincount(members, minlength=n)
        fresh = np.zeros(n, bool)
        fresh[members] = True
        shortest[fresh & (shortest == 0)] = k
    sources, sinks = _scatter_gather(book, two_hop[0], two_hop[1], two_hop[2])
    return {
        "reciprocal_pairs": np.bincount(reciprocal.ravel(), minlength=n).astype(np.int64),
        "temporal_cycles": counted,
        "shortest_temporal_cycle_hops": shortest,
        "scatter_gather": sources,
        "scatter_gather_sink": sinks,
    }


def copayment_columns(
    book: TransferBook, hub: BoolArray, *, window_days: int, fan_cap: int, max_layers: int
) -> dict[str, np.ndarray]:
    """Bipartite co-payment and how many layers of it stack downstream.

    Two payers *co-pay* a payee when both pay it within ``window_days`` of each other.
    Two payers that co-pay at least two same payees form a complete bipartite block
    (K2,2); its four payments are *block links*.

    Returns
    -------
    dict of str to ndarray, each shape (n,)
        ``bipartite`` (distinct payees the account pays over block links),
        ``stack_depth`` (0 for an account with no block link out; otherwise 1 plus the
        largest ``stack_depth`` among the payees of its block links, at most
        ``max_layers``).

    Notes
    -----
    O(C log C) for C co-payments: each payment into a non-hub account is joined with at
    most ``fan_cap`` later payments into it within the window.
    """
    n = book.n
    window = int(window_days) * DAY_US
    ins = book.in_order
    payer = book.src[ins.index]
    t = book.ts[ins.index]
    ok = ~hub[ins.group] & ~hub[payer]
    first = np.flatnonzero(ok)
    lo = first + 1
    hi = np.searchsorted(ins.keys, book.key_after(ins.group[first], t[first] + window))
    owner, pos = _ranges(lo, np.minimum(hi, lo + fan_cap))
    a, b, payee = payer[first[owner]], payer[pos], ins.group[pos]
    keep = (a != b) & ok[pos]
    a, b, payee = a[keep], b[keep], payee[keep]
    low, high = np.minimum(a, b), np.maximum(a, b)
    pairs, pair_of = np.unique(low * n + high, return_inverse=True)
    triples = np.unique(pair_of.astype(np.int64) * n + payee)
    shared = np.bincount(triples // n, minlength=pairs.shape[0])
    block = shared[triples // n] >= 2
    pair = pairs[triples[block] // n]
    to = triples[block] % n
    links = np.unique(np.concatenate([(pair // n) * n + to, (pair % n) * n + to]))
    src, dst = links // n, links % n
    bipartite = np.bincount(src, minlength=n).astype(np.int64)
    depth = np.zeros(n, np.int64)
    for _ in range(max_layers):
        deeper = np.zeros(n, np.int64)
        np.maximum.at(deeper, src, depth[dst] + 1)
        if np.array_equal(deeper, depth):
            break
        depth = deeper
    return {"bipartite": bipartite, "stack_depth": depth}
