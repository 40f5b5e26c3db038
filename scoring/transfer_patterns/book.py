"""The transfer table in the shape every feature is computed from.

One pass turns ``export_transfers()`` into dense account positions, integer times and
the two orders the features read, by payer then time and by payee then time, with the
neighbouring transfers on each payment link (payer, payee). Times are also kept as their rank among the
distinct transfer times, so that ``(group, time)`` pairs pack into one int64 key that
cannot overflow (see :class:`graph_service.temporal.TimeKeys` for the same idea).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import InvalidInput
from graph_service.transfers import TRANSFER_EXPORT_SCHEMA
from graph_service.typing import F64, I64

__all__ = ["Order", "TransferBook", "build_book", "run_edges"]


@dataclass(frozen=True)
class Order:
    """Transfers sorted by ``(group, time)``: ``index`` into the book, ``keys`` packed.

    Every binary search into ``keys`` is made with queries in ascending order: random
    queries into tens of millions of keys miss the cache at every step and cost twenty
    times more.
    """

    index: I64
    group: I64
    keys: I64
    #: The grouping account of every transfer, in book order (``src`` or ``dst``).
    group_of: I64


@dataclass(frozen=True)
class TransferBook:
    """Transfers up to ``as_of`` with dense account positions.

    Attributes
    ----------
    accounts : ndarray of int64, shape (n,)
        Store id of each account position, ascending.
    src, dst : ndarray of int64, shape (m,)
        Payer and payee position of each transfer.
    ts : ndarray of int64, shape (m,)
        Time of each transfer (µs since the epoch).
    amount : ndarray of float64, shape (m,)
    times : ndarray of int64, shape (u,)
        Distinct transfer times, ascending; ``rank`` indexes into it.
    rank : ndarray of int64, shape (m,)
    link : ndarray of int64, shape (m,)
        Payment link of each transfer, an index into ``link_src`` / ``link_dst``.
    link_src, link_dst : ndarray of int64, shape (l,)
        Ends of each distinct payment link, sorted by ``(src, dst)``.
    link_keys : ndarray of int64, shape (l,)
        ``link_src * n + link_dst``, ascending.
    out_order, in_order : Order
        Transfers by ``(src, time)`` and by ``(dst, time)``.
    prev_on_link, next_on_link : ndarray of int64, shape (m,)
        Time rank of the transfer before / after each one on its link, in link order
        (-1 / ``u`` where none).
    as_of : int
        The point in time (µs); no transfer after it is in the book.
    """

    accounts: I64
    src: I64
    dst: I64
    ts: I64
    amount: F64
    times: I64
    rank: I64
    link: I64
    link_src: I64
    link_dst: I64
    link_keys: I64
    out_order: Order
    in_order: Order
    prev_on_link: I64
    next_on_link: I64
    as_of: int

    @property
    def n(self) -> int:
        """Number of accounts."""
        return int(self.accounts.shape[0])

    @property
    def m(self) -> int:
        """Number of transfers."""
        return int(self.ts.shape[0])

    @property
    def span(self) -> int:
        """Multiplier of the group in a packed ``(group, time rank)`` key."""
        return int(self.times.shape[0]) + 1

    def key(self, group: I64, rank: I64) -> I64:
        """Packed ``(group, time rank)`` keys, as in the orders' ``keys``."""
        return group * self.span + rank

    def ranks_back(self, width_us: int, *, inclusive: bool) -> I64:
        """For each time rank ``r``: how many distinct times are before
        ``times[r] - width_us`` (or at or before it, when ``inclusive``)."""
        shifted = self.times - width_us
        if inclusive:
            return np.searchsorted(self.times, shifted, side="right").astype(np.int64, copy=False)
        return np.searchsorted(self.times, shifted, side="left").astype(np.int64, copy=False)

    def ranks_ahead(self, width_us: int) -> I64:
        """For each time rank ``r``: how many distinct times are at or before
        ``times[r] + width_us``."""
        return np.searchsorted(self.times, self.times + width_us, side="right").astype(
            np.int64, copy=False
        )


def run_edges(keys: I64, *, right: bool) -> I64:
    """``np.searchsorted(keys, keys, side)`` for ascending ``keys``, in O(m): where each
    run of equal keys begins (or ends, when ``right``).

    Examples
    --------
    >>> run_edges(np.array([4, 4, 6]), right=True).tolist()
    [2, 2, 3]
    >>> run_edges(np.array([4, 4, 6]), right=False).tolist()
    [0, 0, 2]
    """
    m = keys.shape[0]
    if m == 0:
        return np.zeros(0, np.int64)
    if right:
        last = np.flatnonzero(np.r_[keys[1:] != keys[:-1], True])
        return np.repeat(last + 1, np.diff(np.r_[-1, last])).astype(np.int64, copy=False)
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.repeat(first, np.diff(np.r_[first, m])).astype(np.int64, copy=False)


def _order(group: I64, rank: I64, span: int) -> Order:
    keys = group * span + rank
    index = np.argsort(keys).astype(np.int64, copy=False)
    return Order(index=index, group=group[index], keys=keys[index], group_of=group)


def _dense(ids: I64) -> tuple[I64, I64]:
    """Distinct ids ascending, and the position of each id among them.

    Store ids are dense integers, so a presence mask over their range usually does in
    O(m) what ``np.unique`` does in O(m log m).
    """
    if ids.shape[0] == 0:
        return ids.astype(np.int64, copy=False), ids.astype(np.int64, copy=False)
    low, high = int(ids.min()), int(ids.max())
    if high - low > 4 * ids.shape[0] + 1024:
        distinct, position = np.unique(ids, return_inverse=True)
        return distinct.astype(np.int64, copy=False), position.astype(np.int64, copy=False)
    present = np.zeros(high - low + 1, bool)
    present[ids - low] = True
    distinct = np.flatnonzero(present)
    slot = np.cumsum(present) - 1
    return (distinct + low).astype(np.int64, copy=False), slot[ids - low].astype(
        np.int64, copy=False
    )


def _ranked(ts: I64) -> tuple[I64, I64]:
    """Distinct times ascending, and the rank of each time among them (O(m) when the
    transfers come in time order, as the stores export them)."""
    if ts.shape[0] and bool(np.all(ts[1:] >= ts[:-1])):
        new = np.empty(ts.shape[0], bool)
        new[0] = True
        np.not_equal(ts[1:], ts[:-1], out=new[1:])
        return ts[new].astype(np.int64, copy=False), (np.cumsum(new) - 1).astype(
            np.int64, copy=False
        )
    times, rank = np.unique(ts, return_inverse=True)
    return times.astype(np.int64, copy=False), rank.astype(np.int64, copy=False)


def _as_micros(value: datetime) -> int:
    if value.tzinfo is None:
        raise InvalidInput("as_of must be timezone-aware (transfers are stored in UTC)")
    return int(pa.scalar(value, pa.timestamp("us", tz="UTC")).value)


def build_book(transfers: pa.Table, as_of: datetime | None) -> TransferBook:
    """Dense, sorted arrays of the transfers at or before ``as_of``.

    Parameters
    ----------
    transfers : pa.Table
        In :data:`~graph_service.transfers.TRANSFER_EXPORT_SCHEMA` (row order free).
    as_of : datetime or None
        Timezone-aware point in time; ``None`` means the latest transfer.

    Returns
    -------
    TransferBook

    Raises
    ------
    InvalidInput
        When a column is missing, has another type, or ``as_of`` is naive.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> ts = pa.array([datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2)], pa.timestamp("us", tz="UTC"))
    >>> book = build_book(pa.table({"src": [7, 8], "dst": [8, 9], "ts": ts, "amount": [5.0, 4.0]}), None)
    >>> book.accounts.tolist(), book.src.tolist(), book.dst.tolist()
    ([7, 8, 9], [0, 1], [1, 2])

    Notes
    -----
    Three argsorts of ``m`` int64 keys and the distinct links: O(m log m). Accounts
    and times take O(m) when the ids are dense and the rows in time order.
    """
    missing = [f.name for f in TRANSFER_EXPORT_SCHEMA if f.name not in transfers.column_names]
    if missing:
        raise InvalidInput(f"transfers lack columns {missing}")
    try:
        table = transfers.select(TRANSFER_EXPORT_SCHEMA.names).cast(TRANSFER_EXPORT_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as err:
        raise InvalidInput(f"transfers do not fit the export schema: {err}") from err
    ts_all = pc.cast(table.column("ts"), pa.int64()).to_numpy()
    latest = int(ts_all.max()) if ts_all.shape[0] else 0
    cut = latest if as_of is None else _as_micros(as_of)
    keep = ts_all <= cut
    src_id = table.column("src").to_numpy()[keep]
    dst_id = table.column("dst").to_numpy()[keep]
    ts = np.ascontiguousarray(ts_all[keep], np.int64)
    amount = np.ascontiguousarray(table.column("amount").to_numpy()[keep], np.float64)
    m = src_id.shape[0]
    accounts, position = _dense(np.concatenate([src_id, dst_id]))
    src = position[:m]
    dst = position[m:]
    n = int(accounts.shape[0])
    times, rank = _ranked(ts)
    span = int(times.shape[0]) + 1
    link_keys, link = np.unique(src * n + dst, return_inverse=True)
    link = link.astype(np.int64, copy=False)
    link_order = _order(link, rank, span)
    ordered_rank = rank[link_order.index]
    same = link_order.group[1:] == link_order.group[:-1]
    prev_on_link = np.full(m, -1, np.int64)
    next_on_link = np.full(m, times.shape[0], np.int64)
    prev_on_link[link_order.index[1:][same]] = ordered_rank[:-1][same]
    next_on_link[link_order.index[:-1][same]] = ordered_rank[1:][same]
    return TransferBook(
        accounts=accounts.astype(np.int64, copy=False),
        src=src,
        dst=dst,
        ts=ts,
        amount=amount,
        times=times.astype(np.int64, copy=False),
        rank=rank,
        link=link,
        link_src=(link_keys // max(n, 1)).astype(np.int64, copy=False),
        link_dst=(link_keys % max(n, 1)).astype(np.int64, copy=False),
        link_keys=link_keys.astype(np.int64, copy=False),
        out_order=_order(src, rank, span),
        in_order=_order(dst, rank, span),
        prev_on_link=prev_on_link,
        next_on_link=next_on_link,
        as_of=cut,
    )


def book_on_days(
    src: Sequence[int], dst: Sequence[int], day: Sequence[int], amount: Sequence[float]
) -> TransferBook:
    """The book of transfers ``src[i] -> dst[i]`` of ``amount[i]`` made ``day[i]`` days
    after 2026-01-01 (UTC), as of the last: small books written by hand.

    Examples
    --------
    >>> book_on_days([7, 8], [8, 9], [0, 1], [5.0, 4.0]).accounts.tolist()
    [7, 8, 9]
    """
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ts = pa.array([start + timedelta(days=d) for d in day], pa.timestamp("us", tz="UTC"))
    table = pa.table(
        {
            "src": pa.array(src, pa.int64()),
            "dst": pa.array(dst, pa.int64()),
            "ts": ts,
            "amount": pa.array(amount, pa.float64()),
        }
    )
    return build_book(table, None)
