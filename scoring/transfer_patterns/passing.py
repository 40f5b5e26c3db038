"""Money passed on: how much of what an account receives goes out again, how soon, and
through how many hands on each side."""

from __future__ import annotations

import numpy as np

from graph_service.tables import distinct
from graph_service.temporal import DAY_US, HOUR_US
from graph_service.typing import F64, I64

from .book import TransferBook, run_edges

__all__ = ["passing_columns"]

#: Delays are ranked to the second (exact enough for a median in hours).
_SECOND_US = 1_000_000


def _group_median(group: I64, value: I64, n: int) -> F64:
    """Median of ``value`` per group (NaN for a group without values)."""
    median = np.full(n, np.nan)
    if group.shape[0] == 0:
        return median
    if n * (int(value.max()) + 1) < 2**62:
        order = np.argsort(group * (int(value.max()) + 1) + value)
    else:
        order = np.lexsort((value, group))
    g, v = group[order], value[order].astype(np.float64)
    count = np.bincount(g, minlength=n)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    has = count > 0
    lo = first[has] + (count[has] - 1) // 2
    hi = first[has] + count[has] // 2
    median[has] = (v[lo] + v[hi]) / 2.0
    return median


def passing_columns(book: TransferBook, pass_days: int) -> dict[str, np.ndarray]:
    """Pass-through share and margin, delay to the next payment out, gather-scatter.

    Parameters
    ----------
    book : TransferBook
        At least one transfer.
    pass_days : int
        Money out within this many days after money in can pass it on.

    Returns
    -------
    dict of str to ndarray, each shape (n,)
        ``pass_through``, ``pass_through_margin``, ``median_delay_hours``,
        ``gather_scatter`` (see :func:`~scoring.transfer_patterns.transfer_pattern_features`).

    Examples
    --------
    >>> from scoring.transfer_patterns.book import book_on_days as book_of
    >>> columns = passing_columns(book_of([1, 2], [2, 3], [0, 1], [1000.0, 900.0]), 7)
    >>> columns["pass_through"].tolist(), columns["median_delay_hours"].tolist()[1]
    ([nan, 0.9, 0.0], 24.0)

    Notes
    -----
    O(m log m): binary searches of every transfer among the account's transfers in the
    other direction, sorted once by (account, time).
    """
    n = book.n
    window = int(pass_days) * DAY_US
    ins, outs = book.in_order, book.out_order
    in_ts, out_ts = book.ts[ins.index], book.ts[outs.index]
    in_amount, out_amount = book.amount[ins.index], book.amount[outs.index]
    cum_in = np.concatenate([[0.0], np.cumsum(in_amount)])
    cum_out = np.concatenate([[0.0], np.cumsum(out_amount)])
    g_out, g_in = outs.group, ins.group

    r_out = book.rank[outs.index]
    back = book.ranks_back(window, inclusive=False)

    # Each payment out passes on at most the money received in the window before it,
    # net of the money already sent out in that window.
    since_out = book.key(g_out, back[r_out])
    upto = np.searchsorted(ins.keys, book.key(g_out, r_out + 1))
    received = cum_in[upto] - cum_in[np.searchsorted(ins.keys, since_out)]
    sent = (
        cum_out[run_edges(outs.keys, right=False)] - cum_out[np.searchsorted(outs.keys, since_out)]
    )
    covered = np.clip(np.minimum(out_amount, received - sent), 0.0, None)
    passed = np.bincount(g_out, covered, minlength=n)
    amount_in = np.bincount(g_in, in_amount, minlength=n)

    # The next payment out at or after each payment in.
    nxt = np.searchsorted(outs.keys, ins.keys)
    nxt_c = np.minimum(nxt, outs.keys.shape[0] - 1)
    has_next = (nxt < outs.keys.shape[0]) & (g_out[nxt_c] == g_in)
    delay = np.where(has_next, out_ts[nxt_c] - in_ts, -1)
    matched = has_next & (delay <= window)
    matched_in = np.bincount(g_in, np.where(matched, in_amount, 0.0), minlength=n)

    # The last payment in at or before each payment out.
    prev = upto - 1
    prev_c = np.maximum(prev, 0)
    fed = (prev >= 0) & (g_in[prev_c] == g_out) & (out_ts - in_ts[prev_c] <= window)
    gathered_links = distinct(book.link[ins.index[matched]])
    scattered_links = distinct(book.link[outs.index[fed]])
    gathered = np.bincount(book.link_dst[gathered_links], minlength=n)
    scattered = np.bincount(book.link_src[scattered_links], minlength=n)
    hub = (gathered >= 2) & (scattered >= 2)

    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(amount_in > 0, np.minimum(passed / amount_in, 1.0), np.nan)
        margin = np.where(matched_in > 0, np.clip(1.0 - passed / matched_in, 0.0, 1.0), np.nan)
    delay_s = (delay[has_next] + _SECOND_US // 2) // _SECOND_US
    median_s = _group_median(g_in[has_next], delay_s.astype(np.int64, copy=False), n)
    return {
        "pass_through": share,
        "pass_through_margin": margin,
        "median_delay_hours": median_s * _SECOND_US / HOUR_US,
        "gather_scatter": np.where(hub, gathered * scattered, 0).astype(np.int64, copy=False),
    }
