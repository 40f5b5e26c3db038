"""Who an account pays and is paid by, how much, how regularly, and in what bursts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graph_service.tables import distinct
from graph_service.temporal import DAY_US
from graph_service.typing import F64, I64

from .book import Order, TransferBook, run_edges

__all__ = ["activity_columns", "amount_columns", "window_columns"]

#: Half a cent: an amount within this of a multiple of the round unit is round.
_ROUND_TOLERANCE = 0.005


def _distinct_links(book: TransferBook, mask: np.ndarray | None = None) -> tuple[I64, I64]:
    """Payer and payee of every distinct link with a transfer under ``mask``."""
    if mask is None:
        return book.link_src, book.link_dst
    links = distinct(book.link[mask])
    return book.link_src[links], book.link_dst[links]


def activity_columns(book: TransferBook) -> dict[str, np.ndarray]:
    """Counts and sums over the whole history up to ``as_of``.

    Returns
    -------
    dict of str to ndarray, each shape (n,)
        ``payers``, ``payees``, ``amount_in``, ``amount_out``, ``transfers_in``,
        ``transfers_out``.

    Examples
    --------
    >>> from scoring.transfer_patterns.book import book_on_days as book_of
    >>> activity_columns(book_of([1, 2], [2, 3], [0, 1], [1000.0, 900.0]))["payers"].tolist()
    [0, 1, 1]

    Notes
    -----
    O(m + n): bincounts over transfers and links.
    """
    n = book.n
    return {
        "payers": np.bincount(book.link_dst, minlength=n).astype(np.int64, copy=False),
        "payees": np.bincount(book.link_src, minlength=n).astype(np.int64, copy=False),
        "amount_in": np.bincount(book.dst, book.amount, minlength=n),
        "amount_out": np.bincount(book.src, book.amount, minlength=n),
        "transfers_in": np.bincount(book.dst, minlength=n).astype(np.int64, copy=False),
        "transfers_out": np.bincount(book.src, minlength=n).astype(np.int64, copy=False),
    }


def _cv(group: I64, amount: F64, n: int) -> F64:
    count = np.bincount(group, minlength=n).astype(np.float64)
    total = np.bincount(group, amount, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        spread = np.bincount(group, (amount - mean[group]) ** 2, minlength=n) / count
        cv = np.sqrt(spread) / mean
    cv[(count == 0) | (mean == 0)] = np.nan
    return np.asarray(cv, np.float64)


def amount_columns(book: TransferBook, round_unit: float) -> dict[str, np.ndarray]:
    """Amount similarity and round amounts.

    Returns
    -------
    dict of str to ndarray, each shape (n,)
        ``amount_cv_in``, ``amount_cv_out`` (population standard deviation over mean of
        the amounts received / sent; NaN without any), ``round_share`` (share of the
        transfers in and out whose amount is a positive multiple of ``round_unit``,
        within half a cent).

    Examples
    --------
    >>> from scoring.transfer_patterns.book import book_on_days as book_of
    >>> book = book_of([1, 1, 2], [2, 2, 3], [0, 1, 2], [100.0, 300.0, 12.5])
    >>> [round(x, 3) for x in amount_columns(book, 100.0)["amount_cv_in"].tolist()[1:]]
    [0.5, 0.0]
    >>> amount_columns(book, 100.0)["round_share"].tolist()
    [1.0, 0.6666666666666666, 0.0]

    Notes
    -----
    O(m): bincounts.
    """
    n = book.n
    nearest = np.rint(book.amount / round_unit) * round_unit
    is_round = (np.abs(book.amount - nearest) <= _ROUND_TOLERANCE) & (nearest > 0)
    rounds = np.bincount(book.src, is_round, minlength=n) + np.bincount(
        book.dst, is_round, minlength=n
    )
    touched = np.bincount(book.src, minlength=n) + np.bincount(book.dst, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(touched > 0, rounds / touched, np.nan)
    return {
        "amount_cv_in": _cv(book.dst, book.amount, n),
        "amount_cv_out": _cv(book.src, book.amount, n),
        "round_share": share.astype(np.float64),
    }


@dataclass(frozen=True)
class _Gaps:
    """One direction's transfers by (account, time), with the time to the previous and
    the next transfer on the same link (``_FAR`` where none)."""

    by: Order
    rank: I64
    before: I64
    after: I64


#: A gap longer than any window.
_FAR = np.iinfo(np.int64).max


def _gaps(book: TransferBook, by: Order) -> _Gaps:
    u = int(book.times.shape[0])
    rank = book.rank[by.index]
    t = book.times[rank]
    prev = book.prev_on_link[by.index]
    nxt = book.next_on_link[by.index]
    before = np.where(prev < 0, _FAR, t - book.times[np.maximum(prev, 0)])
    after = np.where(nxt >= u, _FAR, book.times[np.minimum(nxt, u - 1)] - t)
    return _Gaps(by=by, rank=rank, before=before, after=after)


def _max_distinct_in_window(book: TransferBook, gaps: _Gaps, window_us: int, gone: I64) -> I64:
    """Most distinct counterparties of each account within any ``window_us``.

    A link (payer, payee) is *present* at time ``x`` in the window ``(x - w, x]`` when it
    carried a transfer in it: over the union of ``[t, t + w)`` of its transfer times. The
    union is a few disjoint runs (a new run where the gap to the previous transfer on the
    link is at least ``w``). The count at time ``x`` is the number of the account's runs
    started at or before ``x`` minus those ended at or before it, and its maximum is
    reached at a run start, so it is evaluated there. ``gone[r]`` counts the distinct
    times at or before ``times[r] - w``.
    """
    starts = gaps.before >= window_us
    lasts = gaps.after >= window_us
    start_keys = gaps.by.keys[starts]
    last_keys = gaps.by.keys[lasts]
    group = gaps.by.group[starts]
    # Runs started at or before each start, minus runs whose last transfer is at least
    # w before it (ends are exclusive); earlier accounts' runs cancel out.
    began = run_edges(start_keys, right=True)
    ended = np.searchsorted(last_keys, book.key(group, gone[gaps.rank[starts]]), side="left")
    present = began - ended
    best = np.zeros(book.n, np.int64)
    if group.shape[0] == 0:
        return best
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    best[group[first]] = np.maximum.reduceat(present, first)
    return best


def window_columns(book: TransferBook, windows_days: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Bursts over any window and the window ending at ``as_of``, for each length.

    Returns
    -------
    dict of str to ndarray, each shape (n,)
        For each ``w``: ``max_payers_{w}d``, ``max_payees_{w}d``, ``payers_{w}d``,
        ``payees_{w}d``, ``amount_in_{w}d``, ``amount_out_{w}d``.

    Examples
    --------
    >>> from scoring.transfer_patterns.book import book_on_days as book_of
    >>> book = book_of([1, 2, 3], [9, 9, 9], [0, 0, 2], [1.0, 1.0, 1.0])
    >>> columns = window_columns(book, (1,))
    >>> columns["max_payers_1d"].tolist(), columns["payers_1d"].tolist()
    ([0, 0, 0, 2], [0, 0, 0, 1])

    Notes
    -----
    Per window O(m log m): binary searches over the transfers sorted once by (account,
    time) in each direction.
    """
    n = book.n
    columns: dict[str, np.ndarray] = {}
    into, out_of = _gaps(book, book.in_order), _gaps(book, book.out_order)
    for w in windows_days:
        width = int(w) * DAY_US
        gone = book.ranks_back(width, inclusive=True)
        columns[f"max_payers_{w}d"] = _max_distinct_in_window(book, into, width, gone)
        columns[f"max_payees_{w}d"] = _max_distinct_in_window(book, out_of, width, gone)
        recent = book.ts > book.as_of - width
        payers_of, payees_of = _distinct_links(book, recent)
        columns[f"payers_{w}d"] = np.bincount(payees_of, minlength=n).astype(np.int64, copy=False)
        columns[f"payees_{w}d"] = np.bincount(payers_of, minlength=n).astype(np.int64, copy=False)
        columns[f"amount_in_{w}d"] = np.bincount(book.dst[recent], book.amount[recent], minlength=n)
        columns[f"amount_out_{w}d"] = np.bincount(
            book.src[recent], book.amount[recent], minlength=n
        )
    return columns
