"""Transfer-pattern features per account, at a point in time and over windows.

What an account's single transfers say about it: how many accounts pay it and does it
pay, in bursts and right now; how much of what it receives it passes on, keeping what
cut, how soon; how alike and how round its amounts are; and the money-flow structures it
sits in: time-respecting cycles, scatter-gather, gather-scatter, bipartite co-payment
blocks and their layers. Computed from ``export_transfers()``, which both store backends
give in the same schema, by vectorised passes over the transfer table (sorts, binary
searches, bincounts), never a loop per account.

Examples
--------
>>> from datetime import UTC, datetime
>>> table = pa.table(
...     {
...         "src": pa.array([1, 2], pa.int64()),
...         "dst": pa.array([2, 3], pa.int64()),
...         "ts": pa.array(
...             [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)],
...             pa.timestamp("us", tz="UTC"),
...         ),
...         "amount": pa.array([1000.0, 900.0]),
...     }
... )
>>> features = transfer_pattern_features(table)
>>> features.column("pass_through").to_pylist()
[nan, 0.9, 0.0]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import pyarrow as pa

from graph_service.errors import InvalidInput

from .activity import activity_columns, amount_columns, window_columns
from .book import build_book
from .passing import passing_columns
from .structures import copayment_columns, path_columns

__all__ = [
    "FEATURE_COLUMNS",
    "TransferPatternConfig",
    "feature_columns",
    "transfer_pattern_features",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransferPatternConfig:
    """Windows, limits and units of the transfer-pattern features.

    Attributes
    ----------
    windows_days : tuple of int
        Lengths of the windows (days) for the burst and point-in-time columns.
    max_cycle_hops : int
        Longest cycle searched, in hops (at least 2). Six covers the layering chains
        mules use (most rings close in three to five hops); each extra hop multiplies
        the partial paths by the mean number of transfers an account sends within
        ``cycle_window_days``.
    cycle_window_days : int
        A cycle must close, and a scatter-gather or co-payment must happen, within this
        many days of its first transfer.
    pass_through_window_days : int
        Money out within this many days after money in can pass it on.
    round_unit : float
        An amount is round when it is a positive multiple of this (to half a cent):
        structured cash-outs and mule hand-offs move round hundreds, purchases and bills
        carry pence.
    hub_degree : int
        Accounts with more distinct payers plus payees than this are hubs: left out of
        cycles, scatter-gather and co-payment (their other columns are computed).
    fan_cap : int
        At most this many next transfers are followed from one partial path or
        joined with one payment (the earliest), so that no account explodes the joins.
    """

    windows_days: tuple[int, ...] = (1, 7, 30)
    max_cycle_hops: int = 6
    cycle_window_days: int = 30
    pass_through_window_days: int = 7
    round_unit: float = 100.0
    hub_degree: int = 100
    fan_cap: int = 50

    def __post_init__(self) -> None:
        if not self.windows_days or any(int(w) <= 0 for w in self.windows_days):
            raise InvalidInput("windows_days must be positive whole days")
        if len(set(self.windows_days)) != len(self.windows_days):
            raise InvalidInput("windows_days must not repeat")
        if self.max_cycle_hops < 2:
            raise InvalidInput("max_cycle_hops must be at least 2")
        if min(self.cycle_window_days, self.pass_through_window_days) <= 0:
            raise InvalidInput("cycle and pass-through windows must be positive")
        if not self.round_unit > 0:
            raise InvalidInput("round_unit must be positive")
        if self.hub_degree < 1 or self.fan_cap < 1:
            raise InvalidInput("hub_degree and fan_cap must be at least 1")


#: Columns over the whole history up to ``as_of``, in output order (after ``account``).
FEATURE_COLUMNS: Final[tuple[str, ...]] = (
    "payers",
    "payees",
    "amount_in",
    "amount_out",
    "transfers_in",
    "transfers_out",
    "pass_through",
    "pass_through_margin",
    "median_delay_hours",
    "amount_cv_in",
    "amount_cv_out",
    "round_share",
    "reciprocal_pairs",
    "temporal_cycles",
    "shortest_temporal_cycle_hops",
    "scatter_gather",
    "scatter_gather_sink",
    "gather_scatter",
    "bipartite",
    "stack_depth",
)

_WINDOWED: Final = (
    "max_payers",
    "max_payees",
    "payers",
    "payees",
    "amount_in",
    "amount_out",
)
_FLOAT_PREFIXES: Final = ("amount_", "pass_through", "median_", "round_")


def feature_columns(config: TransferPatternConfig = TransferPatternConfig()) -> list[str]:
    """Names of the output columns for ``config``, in order, ``account`` first.

    Examples
    --------
    >>> feature_columns(TransferPatternConfig(windows_days=(7,)))[:4]
    ['account', 'max_payers_7d', 'max_payees_7d', 'payers_7d']
    """
    windowed = [f"{name}_{w}d" for w in config.windows_days for name in _WINDOWED]
    return ["account", *windowed, *FEATURE_COLUMNS]


def _schema(config: TransferPatternConfig) -> pa.Schema:
    return pa.schema(
        [
            pa.field(
                name,
                pa.float64() if name.startswith(_FLOAT_PREFIXES) else pa.int64(),
                nullable=False,
            )
            for name in feature_columns(config)
        ]
    )


def transfer_pattern_features(
    transfers: pa.Table,
    *,
    as_of: datetime | None = None,
    config: TransferPatternConfig = TransferPatternConfig(),
) -> pa.Table:
    """Transfer-pattern features of every account, as seen at ``as_of``.

    Only transfers at or before ``as_of`` are read; an account first appearing later is
    not in the output. Windows are half-open, ``(end - w days, end]``.

    Parameters
    ----------
    transfers : pa.Table
        ``src``, ``dst`` (account ids), ``ts``, ``amount``, as
        ``GraphStore.export_transfers()`` gives them (any row order).
    as_of : datetime, optional
        Timezone-aware point in time; default the latest transfer.
    config : TransferPatternConfig

    Returns
    -------
    pa.Table
        One row per account in a transfer up to ``as_of``, ascending by ``account``;
        counts int64, amounts and ratios float64 (NaN where undefined). Columns:

        For each window ``w`` in ``windows_days`` (suffix ``_{w}d``):

        - ``max_payers_{w}d`` / ``max_payees_{w}d``: the most distinct accounts that paid
          it / it paid within any ``w``-day window (fan-in / fan-out bursts).
        - ``payers_{w}d``, ``payees_{w}d``, ``amount_in_{w}d``, ``amount_out_{w}d``:
          distinct payers / payees and money in / out in the window ending at ``as_of``.

        Over the whole history up to ``as_of``:

        - ``payers``, ``payees``: distinct accounts that paid it / it paid.
        - ``amount_in``, ``amount_out``, ``transfers_in``, ``transfers_out``.
        - ``pass_through``: share of the money received that went out again within
          ``pass_through_window_days``: each payment out passes on at most the money
          received in the window before it (at or before it) less the money already
          sent out in that window; the sum, over ``amount_in``, capped at 1. Money sent
          before a receipt counts against it, so spending one's own money first never
          looks like passing on. NaN without money in.
        - ``pass_through_margin``: amount-weighted cut kept, ``1 - passed on / matched
          in``, where *matched in* is the money of the payments in followed by a
          payment out within ``pass_through_window_days``. NaN when nothing matched.
        - ``median_delay_hours``: median, over the payments in followed by any payment
          out, of the time to the next payment out (to the second). NaN when none.
        - ``amount_cv_in``, ``amount_cv_out``: coefficient of variation (population
          standard deviation / mean) of the amounts received / sent; low is alike.
        - ``round_share``: share of its transfers in and out whose amount is a positive
          multiple of ``round_unit``. NaN never (every account has a transfer).
        - ``reciprocal_pairs``: accounts with which it has a time-respecting round trip
          (a payment one way and one back at or after it, within
          ``cycle_window_days``).
        - ``temporal_cycles``: distinct cycles of 3 to ``max_cycle_hops`` distinct
          accounts through it that can be travelled in time order (each hop at or after
          the previous, starting at some account of the cycle) with the last hop within
          ``cycle_window_days`` of the first. A cycle is a sequence of accounts up to
          rotation, as ``networkx.simple_cycles`` gives them.
        - ``shortest_temporal_cycle_hops``: hops of its shortest such cycle; 0 for none.
        - ``scatter_gather``: accounts ``z`` it reaches through at least two distinct
          intermediaries ``m`` by time-respecting two-hop paths (``a -> m`` then
          ``m -> z`` at or after it, within ``cycle_window_days``), as the source.
        - ``scatter_gather_sink``: the same with the account as the sink ``z``: sources
          that reach it so.
        - ``gather_scatter``: the account as a hub passing money on: payers whose payment
          is followed by a payment out within ``pass_through_window_days``, times
          payees whose payment follows a payment in within it, when both are at least
          2; else 0.
        - ``bipartite``: payees it pays over a co-payment block: it and another payer
          each paid the same two payees, each payee's two payments within
          ``cycle_window_days`` of each other (a K2,2).
        - ``stack_depth``: layers of such blocks downstream: 0 without a block link out,
          else 1 plus the largest ``stack_depth`` of the payees of its block links (at
          most ``max_cycle_hops``).

    Raises
    ------
    InvalidInput
        When ``transfers`` lacks a column or does not cast to the export schema, or
        ``as_of`` is naive.

    Notes
    -----
    Sorts, binary searches and bincounts over the ``m`` transfers, O(m log m) per window,
    plus the partial paths of the cycle search (see
    :func:`scoring.transfer_patterns.structures.path_columns`). Hubs (more than
    ``hub_degree`` distinct payers plus payees) are left out of the cycle,
    reciprocal, scatter-gather, bipartite and stack columns: a hub gets 0 there, and
    no structure through a hub is counted for the other accounts on it.
    Deterministic: the output depends on the set of transfers, not their row order
    (up to float rounding of sums).
    """
    book = build_book(transfers, as_of)
    schema = _schema(config)
    if book.n == 0:
        return schema.empty_table()
    columns: dict[str, np.ndarray] = {"account": book.accounts}
    columns |= window_columns(book, config.windows_days)
    columns |= activity_columns(book)
    columns |= passing_columns(book, config.pass_through_window_days)
    columns |= amount_columns(book, config.round_unit)
    hub = (columns["payers"] + columns["payees"]) > config.hub_degree
    columns |= path_columns(
        book,
        hub,
        max_hops=config.max_cycle_hops,
        window_days=config.cycle_window_days,
        fan_cap=config.fan_cap,
    )
    columns |= copayment_columns(
        book,
        hub,
        window_days=config.cycle_window_days,
        fan_cap=config.fan_cap,
        max_layers=config.max_cycle_hops,
    )
    log.info(
        "transfer pattern features",
        extra={"accounts": book.n, "transfers": book.ts.shape[0], "hubs": int(hub.sum())},
    )
    return pa.table([pa.array(columns[f.name], f.type) for f in schema], schema=schema)
