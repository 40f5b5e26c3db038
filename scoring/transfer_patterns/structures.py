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

from graph_service.tables import distinct
from graph_service.temporal import DAY_US
from graph_service.typing import I64, BoolArray

from .book import TransferBook

__all__ = ["copayment_columns", "path_columns"]


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
    triples = distinct(end_of.astype(np.int64, copy=False) * n + mid)
    via = np.bincount(triples // n, minlength=ends.shape[0])
    wide = ends[via >= 2]
    return (
        np.bincount(wide // n, minlength=n).astype(np.int64, copy=False),
        np.bincount(wide % n, minlength=n).astype(np.int64, copy=False),
    )


def path_columns(
    book: TransferBook, hub: BoolArray, *, max_hops: int, window_days: int, fan_cap: int
) -> dict[str, np.ndarray]:
    """Temporal cycles, reciprocal pairs and scatter-gather from time-respecting paths.

    Every transfer between two non-hub accounts starts a path; a path at account ``v``
    at time ``t`` continues along each link out of ``v`` by that link's earliest
    transfer at or after ``t``, while the path stays within ``window_days`` of its first
    transfer and visits no account twice; a step back to the first account closes a
    cycle. Taking the earliest transfer is exact: if a cycle can be travelled in time
    order from a first transfer, it can by the earliest next transfers. A step looks at
    no more than ``fan_cap`` transfers (the earliest) out of ``v`` within ``window_days``
    of ``t``.

    Returns
    -------
    dict of str to ndarray, each shape (n,)
        ``reciprocal_pairs``, ``temporal_cycles``, ``shortest_temporal_cycle_hops``,
        ``scatter_gather``, ``scatter_gather_sink``.

    Examples
    --------
    >>> from scoring.transfer_patterns.book import book_on_days as book_of
    >>> book = book_of([1, 2, 3], [2, 3, 1], [0, 1, 2], [5.0, 5.0, 5.0])
    >>> no_hubs = np.zeros(book.n, bool)
    >>> found = path_columns(book, no_hubs, max_hops=3, window_days=30, fan_cap=10)
    >>> found["temporal_cycles"].tolist(), found["shortest_temporal_cycle_hops"].tolist()
    ([1, 1, 1], [3, 3, 3])

    Notes
    -----
    O(P log m) for P partial paths: each hop costs binary searches per path. P grows
    like the transfers times the mean number of transfers out of an account within the
    window, per hop, which is why hubs are left out.
    """
    n = book.n
    ins, outs = book.in_order, book.out_order
    ahead = book.ranks_ahead(int(window_days) * DAY_US)
    # Where the transfers out of its payee begin, from each transfer's time on, and
    # where they end a window later (binary searches with ascending queries).
    from_here = np.empty(book.m, np.int64)
    from_here[ins.index] = np.searchsorted(outs.keys, ins.keys)
    window_end = np.empty(book.m, np.int64)
    window_end[ins.index] = np.searchsorted(
        outs.keys, book.key(ins.group, ahead[book.rank[ins.index]])
    )
    first = np.flatnonzero(~hub[book.src] & ~hub[book.dst] & (book.src != book.dst))
    path = [book.src[first], book.dst[first]]
    via = first
    deadline = ahead[book.rank[first]]
    cycles: dict[int, I64] = {}
    two_hop = (np.zeros(0, np.int64),) * 3
    hops = 1
    while path[0].shape[0]:
        lo = from_here[via]
        owner, pos = _ranges(lo, np.minimum(window_end[via], lo + fan_cap))
        transfer = outs.index[pos]
        nxt = book.dst[transfer]
        # One transfer per link: the earliest at or after the path's time.
        keep = (book.rank[transfer] < deadline[owner]) & ~hub[nxt]
        keep &= book.prev_on_link[transfer] < book.rank[via[owner]]
        owner, transfer, nxt = owner[keep], transfer[keep], nxt[keep]
        closes = nxt == path[0][owner]
        cycles[hops + 1] = _canonical_cycles(np.stack(path, axis=1)[owner[closes]])
        if hops + 2 > max_hops and hops > 1:
            break
        fresh = ~closes
        for node in path[1:]:
            fresh &= nxt != node[owner]
        owner, transfer, nxt = owner[fresh], transfer[fresh], nxt[fresh]
        path = [node[owner] for node in path] + [nxt]
        via, deadline = transfer, deadline[owner]
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
        on_one = np.zeros(n, bool)
        on_one[members] = True
        shortest[on_one & (shortest == 0)] = k
    sources, sinks = _scatter_gather(book, two_hop[0], two_hop[1], two_hop[2])
    return {
        "reciprocal_pairs": np.bincount(reciprocal.ravel(), minlength=n).astype(
            np.int64, copy=False
        ),
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

    Examples
    --------
    >>> from scoring.transfer_patterns.book import book_on_days as book_of
    >>> book = book_of([1, 1, 2, 2], [3, 4, 3, 4], [0, 0, 1, 1], [5.0] * 4)
    >>> no_hubs = np.zeros(book.n, bool)
    >>> copayment_columns(book, no_hubs, window_days=30, fan_cap=10, max_layers=6)["bipartite"].tolist()
    [2, 2, 0, 0]

    Notes
    -----
    O(C log C) for C co-payments: each payment into a non-hub account is joined with at
    most ``fan_cap`` later payments into it within the window.
    """
    n = book.n
    ins = book.in_order
    payer = book.src[ins.index]
    ok = ~hub[ins.group] & ~hub[payer]
    first = np.flatnonzero(ok)
    lo = first + 1
    ahead = book.ranks_ahead(int(window_days) * DAY_US)[book.rank[ins.index[first]]]
    hi = np.searchsorted(ins.keys, book.key(ins.group[first], ahead))
    owner, pos = _ranges(lo, np.minimum(hi, lo + fan_cap))
    a, b, payee = payer[first[owner]], payer[pos], ins.group[pos]
    keep = (a != b) & ok[pos]
    a, b, payee = a[keep], b[keep], payee[keep]
    low, high = np.minimum(a, b), np.maximum(a, b)
    pairs, pair_of = np.unique(low * n + high, return_inverse=True)
    triples = distinct(pair_of.astype(np.int64, copy=False) * n + payee)
    shared = np.bincount(triples // n, minlength=pairs.shape[0])
    block = shared[triples // n] >= 2
    pair = pairs[triples[block] // n]
    to = triples[block] % n
    links = distinct(np.concatenate([(pair // n) * n + to, (pair % n) * n + to]))
    src, dst = links // n, links % n
    bipartite = np.bincount(src, minlength=n).astype(np.int64, copy=False)
    depth = np.zeros(n, np.int64)
    for _ in range(max_layers):
        deeper = np.zeros(n, np.int64)
        np.maximum.at(deeper, src, depth[dst] + 1)
        if np.array_equal(deeper, depth):
            break
        depth = deeper
    return {"bipartite": bipartite, "stack_depth": depth}
