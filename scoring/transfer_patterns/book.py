"""The transfer table in the shape every feature is computed from.

One pass turns ``export_transfers()`` into dense account positions, integer times and
the three orders the features read: by payer then time, by payee then time, and by
payment link (payer, payee) then time. Times are also kept as their rank among the
distinct transfer times, so that ``(group, time)`` pairs pack into one int64 key that
cannot overflow (see :class:`graph_service.temporal.TimeKeys` for the same idea).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import InvalidInput
from graph_service.transfers import TRANSFER_EXPORT_SCHEMA
from graph_service.typing import F64, I64

__all__ = ["Order", "TransferBook", "build_book"]


@dataclass(frozen=True)
class Order:
    """Transfers sorted by ``(group, time)``: ``index`` into the book, ``keys`` packed."""

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
    out_order, in_order, link_order : Order
        Transfers by ``(src, time)``, ``(dst, time)`` and ``(link, time)``.
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
    link_order: Order
    as_of: int

    @property
    def n(self) -> int:
        """Number of accounts."""
        return int(self.accounts.shape[0])

    @property
    def span(self) -> int:
        """Multiplier of the group in a packed ``(group, time rank)`` key."""
        return int(self.times.shape[0]) + 1

    def key_before(self, group: I64, time: I64) -> I64:
        """Keys that sort before every ``(group, t)`` with ``t >= time`` and after every
        one with ``t < time``: ``searchsorted(keys, key_before(...))`` counts ``t < time``."""
        return group * self.span + np.searchsorted(self.times, time, side="left")

    def key_after(self, group: I64, time: I64) -> I64:
        """Keys that sort after every ``(group, t)`` with ``t <= time``."""
        return group * self.span + np.searchsorted(self.times, time, side="right")

    def link_of(self, src: I64, dst: I64) -> I64:
        """Link index of each ``(src, dst)``, or -1 where no transfer went that way."""
        if self.link_keys.shape[0] == 0:
            return np.full(src.shape[0], -1, np.int64)
        wanted = src * self.n + dst
        pos = np.minimum(np.searchsorted(self.link_keys, wanted), self.link_keys.shape[0] - 1)
        return np.where(self.link_keys[pos] == wanted, pos, -1).astype(np.int64)

    def first_on_link_from(self, link: I64, time: I64) -> I64:
        """Earliest time of a transfer on ``link`` at or after ``time``; -1 where none
        (or where ``link`` is -1)."""
        keys = self.link_order.keys
        if keys.shape[0] == 0:
            return np.full(link.shape[0], -1, np.int64)
        pos = np.searchsorted(keys, self.key_before(np.maximum(link, 0), time))
        pos_c = np.minimum(pos, keys.shape[0] - 1)
        ok = (link >= 0) & (pos < keys.shape[0]) & (keys[pos_c] // self.span == link)
        return np.where(ok, self.times[keys[pos_c] % self.span], -1).astype(np.int64)


def _order(group: I64, rank: I64, span: int) -> Order:
    keys = group * span + rank
    index = np.argsort(keys).astype(np.int64)
    return Order(index=index, group=group[index], keys=keys[index], group_of=group)


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

    Notes
    -----
    Four sorts of ``m`` int64 keys and one of ``2m``: O(m log m).
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
    accounts, position = np.unique(np.concatenate([src_id, dst_id]), return_inverse=True)
    src = position[:m].astype(np.int64)
    dst = position[m:].astype(np.int64)
    n = int(accounts.shape[0])
    times, rank = np.unique(ts, return_inverse=True)
    rank = rank.astype(np.int64)
    span = int(times.shape[0]) + 1
    link_keys, link = np.unique(src * n + dst, return_inverse=True)
    link = link.astype(np.int64)
    return TransferBook(
        accounts=accounts.astype(np.int64),
        src=src,
        dst=dst,
        ts=ts,
        amount=amount,
        times=times.astype(np.int64),
        rank=rank,
        link=link,
        link_src=(link_keys // max(n, 1)).astype(np.int64),
        link_dst=(link_keys % max(n, 1)).astype(np.int64),
        link_keys=link_keys.astype(np.int64),
        out_order=_order(src, rank, span),
        in_order=_order(dst, rank, span),
        link_order=_order(link, rank, span),
        as_of=cut,
    )
