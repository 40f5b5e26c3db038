"""IBM AMLSim's eight money-laundering patterns, planted on given accounts as transfers.

The patterns are those of AMLSim's transaction-graph generator
(``scripts/transaction_graph_generator.py``): ``fan_out``, ``fan_in``, ``cycle``,
``bipartite``, ``stack``, ``random``, ``scatter_gather`` and ``gather_scatter``. As in
AMLSim, an intermediary passes on what it received minus a margin (``margin_ratio``
there, :attr:`AmlPatternParams.margin` here), and scatter legs come before gather legs.
Here every leg also has a time: the money moves on only after it arrived.

:func:`plant_pattern` returns the transfers as an
:class:`~ingestion.synthetic.hard.events.EventBatch` (``account`` sends ``amount`` to
``counterparty`` at ``ts``; no device or IP), the hard generator's event representation,
so the ``aml`` profile renders them with its world and a test can check them directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from graph_service.errors import InvalidInput
from graph_service.typing import F64, I64
from ingestion.synthetic.hard.events import DAY, MINUTE, TRANSFER, EventBatch, events
from ingestion.synthetic.hard.world import microseconds

__all__ = ["MIN_MEMBERS", "AmlPattern", "AmlPatternParams", "plant_pattern"]


class AmlPattern(StrEnum):
    """AMLSim's laundering patterns; the value is what ``truth.csv`` says.

    Member roles follow the order of the ``members`` given to :func:`plant_pattern`.
    """

    #: ``members[0]`` sends to each of ``members[1:]``.
    FAN_OUT = "fan_out"
    #: Each of ``members[1:]`` sends to ``members[0]``.
    FAN_IN = "fan_in"
    #: ``members[0] -> members[1] -> ... -> members[-1] -> members[0]``, hop after hop,
    #: each passing on what it received minus the margin.
    CYCLE = "cycle"
    #: Every account of set A (``members[:sources]``) sends to every account of set B.
    BIPARTITE = "bipartite"
    #: Layered bipartite: each layer sends to every account of the next, after it was
    #: paid, passing on what it received minus the margin.
    STACK = "stack"
    #: A random walk: the holder passes the money minus the margin to another member,
    #: first visiting every member once, then moving at random.
    RANDOM = "random"
    #: ``members[0]`` scatters to the intermediaries ``members[1:-1]``, which pass the
    #: money minus the margin to ``members[-1]``; every scatter leg comes first.
    SCATTER_GATHER = "scatter_gather"
    #: The sources ``members[:sources]`` send to the hub ``members[sources]``, which
    #: scatters what it gathered minus the margin over ``members[sources + 1:]``.
    GATHER_SCATTER = "gather_scatter"


#: The fewest members each pattern needs (a stack needs one per layer at least).
MIN_MEMBERS: Final[dict[AmlPattern, int]] = {
    AmlPattern.FAN_OUT: 2,
    AmlPattern.FAN_IN: 2,
    AmlPattern.CYCLE: 3,
    AmlPattern.BIPARTITE: 2,
    AmlPattern.STACK: 3,
    AmlPattern.RANDOM: 3,
    AmlPattern.SCATTER_GATHER: 3,
    AmlPattern.GATHER_SCATTER: 3,
}


@dataclass(frozen=True, slots=True)
class AmlPatternParams:
    """How a planted pattern moves money: amounts, margin, period and shape.

    Parameters
    ----------
    amount : tuple of 2 float
        Inclusive range in dollars of the first legs (the money put in), drawn uniformly
        as in AMLSim and rounded to cents; at least 1.00.
    margin : float
        Share an intermediary keeps of what it received before passing the rest on
        (AMLSim's ``margin_ratio``), in ``[0, 1)``; 5% by default (mules keep 5-12%).
    period_days : float
        Every leg falls within this many days from the start.
    jitter : float
        Relative variation of the margin per leg and of the split of a hub's money over
        its recipients, in ``[0, 1]``; 0 gives the exact margin and equal splits.
    sources : int, optional
        Set A of ``bipartite`` (``size // 2`` by default) and the sources of
        ``gather_scatter`` (``(size - 1) // 2``); other patterns ignore it.
    layers : int
        Layers of ``stack`` (3, AMLSim's originator, intermediary and beneficiary
        layers); members are split as evenly as possible, earlier layers taking the
        extra.
    hops : int, optional
        Transfers of ``random``; at least ``size - 1``, so that every member is paid
        (``size - 1 + size // 2`` by default).

    Raises
    ------
    InvalidInput
        If a value is out of its range.

    Examples
    --------
    >>> AmlPatternParams(margin=0.1).margin
    0.1
    """

    amount: tuple[float, float] = (500.0, 5_000.0)
    margin: float = 0.05
    period_days: float = 30.0
    jitter: float = 0.0
    sources: int | None = None
    layers: int = 3
    hops: int | None = None

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise InvalidInput("invalid AmlPatternParams: " + "; ".join(problems))


def _problems(params: AmlPatternParams) -> list[str]:
    problems = []
    low, high = params.amount
    if not (math.isfinite(low) and math.isfinite(high) and 1.0 <= low <= high):
        problems.append("amount must be (low, high) with 1 <= low <= high")
    if not 0.0 <= params.margin < 1.0:
        problems.append("margin must be in [0, 1)")
    if not (math.isfinite(params.period_days) and params.period_days > 0):
        problems.append("period_days must be > 0")
    if not 0.0 <= params.jitter <= 1.0:
        problems.append("jitter must be in [0, 1]")
    elif params.margin * (1.0 + params.jitter) >= 1.0:
        problems.append("margin * (1 + jitter) must be < 1 (something is passed on)")
    if params.sources is not None and params.sources < 1:
        problems.append("sources must be >= 1")
    if params.layers < 2:
        problems.append("layers must be >= 2")
    if params.hops is not None and params.hops < 1:
        problems.append("hops must be >= 1")
    return problems


def plant_pattern(
    pattern: AmlPattern | str,
    members: npt.ArrayLike,
    *,
    start: datetime,
    rng: np.random.Generator,
    params: AmlPatternParams | None = None,
) -> EventBatch:
    """The transfers of one ``pattern`` among ``members``, from ``start`` on.

    Parameters
    ----------
    pattern : AmlPattern or str
        One of the eight patterns, by enum or by name (``"fan_out"`` ...).
    members : array_like of int
        Distinct account numbers (``>= 0``) in role order (see :class:`AmlPattern`);
        their count is the pattern's size.
    start : datetime
        Timezone-aware time of the first possible leg.
    rng : numpy.random.Generator
        Draws amounts, times and (for ``random``) the walk.
    params : AmlPatternParams, optional
        Amounts, margin, period and shape; the defaults when omitted.

    Returns
    -------
    EventBatch
        ``transfer`` events sorted by time: ``account`` pays ``amount`` dollars (cents)
        to ``counterparty`` at ``ts`` (microseconds since the epoch), every ``ts`` in
        ``[start, start + period_days)``; device, IP and the other columns are absent.

    Raises
    ------
    InvalidInput
        If the pattern is unknown, ``members`` are not distinct non-negative integers
        or too few for the pattern (:data:`MIN_MEMBERS`, ``layers`` for ``stack``),
        ``sources`` or ``hops`` do not fit the size, ``start`` is naive, or the period
        is too short to give every leg its own minute.

    Examples
    --------
    >>> from datetime import UTC
    >>> batch = plant_pattern(
    ...     "cycle", [7, 8, 9], start=datetime(2025, 3, 1, tzinfo=UTC),
    ...     rng=np.random.default_rng(0), params=AmlPatternParams(margin=0.1),
    ... )
    >>> batch.account.tolist(), batch.counterparty.tolist()
    ([7, 8, 9], [8, 9, 7])
    >>> bool(np.all(np.diff(batch.ts) > 0))
    True

    Notes
    -----
    O(E log E) for E transfers (``size`` for fans and cycles, ``|A| * |B|`` for
    bipartite, the sum of consecutive layer products for stack); vectorised.
    """
    kind = _pattern(pattern)
    accounts = _members(members)
    params = params or AmlPatternParams()
    if start.tzinfo is None:
        raise InvalidInput("start must be timezone-aware")
    n = accounts.size
    least = max(MIN_MEMBERS[kind], params.layers) if kind is AmlPattern.STACK else MIN_MEMBERS[kind]
    if n < least:
        raise InvalidInput(f"{kind.value} needs at least {least} members, got {n}")
    plan = _Plan(params, microseconds(start), rng)
    src, dst, ts, amount = _BUILDERS[kind](plan, accounts)
    order = np.argsort(ts, kind="stable")
    return events(src[order], ts[order], TRANSFER, counterparty=dst[order], amount=amount[order])


def _pattern(pattern: AmlPattern | str) -> AmlPattern:
    try:
        return AmlPattern(pattern)
    except ValueError:
        names = ", ".join(p.value for p in AmlPattern)
        raise InvalidInput(f"unknown AML pattern {pattern!r}: one of {names}") from None


def _members(members: npt.ArrayLike) -> I64:
    raw = np.asarray(members)
    if raw.ndim != 1 or (raw.size and not np.issubdtype(raw.dtype, np.integer)):
        raise InvalidInput("members must be a 1-D sequence of account numbers (integers)")
    accounts = raw.astype(np.int64)
    if accounts.size and accounts.min() < 0:
        raise InvalidInput("members must be >= 0")
    if np.unique(accounts).size != accounts.size:
        raise InvalidInput("members must be distinct")
    return accounts


class _Plan:
    """Draws shared by the pattern builders: amounts, margins and leg times."""

    def __init__(self, params: AmlPatternParams, start_us: int, rng: np.random.Generator) -> None:
        self.params = params
        self.start = start_us
        self.span = round(params.period_days * DAY)
        self.rng = rng

    def amounts(self, count: int) -> F64:
        """First-leg amounts, uniform in the range, in cents."""
        low, high = self.params.amount
        drawn: F64 = np.round(self.rng.uniform(low, high, count), 2)
        return drawn

    def kept(self, count: int) -> F64:
        """The share passed on per leg: ``1 - margin``, the margin jittered."""
        p = self.params
        margin = p.margin * (1.0 + p.jitter * self.rng.uniform(-1.0, 1.0, count))
        share: F64 = 1.0 - margin
        return share

    def pass_on(self, received: F64) -> F64:
        """What each intermediary passes on of what it ``received``, in cents."""
        out: F64 = np.maximum(np.round(received * self.kept(received.size), 2), 0.01)
        return out

    def split(self, total: F64, parts: int) -> F64:
        """Each of ``total`` (one per payer) split over ``parts`` payees, shape
        ``(total.size, parts)``; shares vary by ``jitter``, rounding down to cents."""
        weight = 1.0 + self.params.jitter * self.rng.uniform(-0.5, 0.5, (total.size, parts))
        weight /= weight.sum(axis=1, keepdims=True)
        shares: F64 = np.maximum(np.floor(total[:, None] * weight * 100) / 100, 0.01)
        return shares

    def times(self, count: int, first: float = 0.0, last: float = 1.0) -> I64:
        """``count`` increasing times at least a minute apart in the part
        ``[first, last)`` of the period."""
        low = self.start + round(first * self.span)
        width = round(last * self.span) - round(first * self.span)
        slack = width - count * MINUTE
        if slack < 0:
            raise InvalidInput(
                f"period_days={self.params.period_days} is too short for {count} transfers"
                " in one phase (one minute each)"
            )
        u = np.sort(self.rng.random(count))
        ts: I64 = low + (u * slack).astype(np.int64) + np.arange(count, dtype=np.int64) * MINUTE
        return ts


_Legs = tuple[I64, I64, I64, F64]


def _fan_out(plan: _Plan, m: I64) -> _Legs:
    dst = plan.rng.permutation(m[1:])
    return np.full(dst.size, m[0]), dst, plan.times(dst.size), plan.amounts(dst.size)


def _fan_in(plan: _Plan, m: I64) -> _Legs:
    src = plan.rng.permutation(m[1:])
    return src, np.full(src.size, m[0]), plan.times(src.size), plan.amounts(src.size)


def _chain(plan: _Plan, holders: I64) -> _Legs:
    """Money handed along ``holders``: each hop after the last, minus the margin."""
    hops = holders.size - 1
    kept = plan.kept(hops)
    kept[0] = 1.0
    amount = np.round(plan.amounts(1)[0] * np.cumprod(kept), 2)
    return holders[:-1], holders[1:], plan.times(hops), np.maximum(amount, 0.01)


def _cycle(plan: _Plan, m: I64) -> _Legs:
    return _chain(plan, np.append(m, m[0]))


def _random(plan: _Plan, m: I64) -> _Legs:
    n = m.size
    hops = plan.params.hops if plan.params.hops is not None else n - 1 + n // 2
    if hops < n - 1:
        raise InvalidInput(f"random needs hops >= size - 1 = {n - 1}, got {hops}")
    rng = plan.rng
    tour = np.concatenate([[0], 1 + rng.permutation(n - 1)])
    # Later hops move to any other member: an offset of 1..n-1 never stays put.
    wander = (tour[-1] + np.cumsum(rng.integers(1, n, hops - (n - 1)))) % n
    return _chain(plan, m[np.concatenate([tour, wander])])


def _sides(plan: _Plan, n: int, default: int, low: int, high: int, name: str) -> int:
    k = plan.params.sources if plan.params.sources is not None else default
    if not low <= k <= high:
        raise InvalidInput(f"{name} with {n} members needs sources in [{low}, {high}], got {k}")
    return k


def _bipartite(plan: _Plan, m: I64) -> _Legs:
    n = m.size
    k = _sides(plan, n, n // 2, 1, n - 1, "bipartite")
    src, dst = (a.ravel() for a in np.meshgrid(m[:k], m[k:], indexing="ij"))
    order = plan.rng.permutation(src.size)
    return src[order], dst[order], plan.times(src.size), plan.amounts(src.size)


def _stack(plan: _Plan, m: I64) -> _Legs:
    layers = np.array_split(m, plan.params.layers)
    steps = len(layers) - 1
    legs: list[_Legs] = []
    received: F64 = np.zeros(0)
    for step in range(steps):
        payers, payees = layers[step], layers[step + 1]
        if step == 0:
            amount = plan.amounts(payers.size * payees.size).reshape(payers.size, payees.size)
        else:
            amount = plan.split(plan.pass_on(received), payees.size)
        src = np.repeat(payers, payees.size)
        dst = np.tile(payees, payers.size)
        order = plan.rng.permutation(src.size)
        ts = plan.times(src.size, step / steps, (step + 1) / steps)
        legs.append((src[order], dst[order], ts, amount.ravel()[order]))
        received = amount.sum(axis=0)
    return _joined(legs)


def _scatter_gather(plan: _Plan, m: I64) -> _Legs:
    middle = plan.rng.permutation(m[1:-1])
    k = middle.size
    scattered = plan.amounts(k)
    scatter = (np.full(k, m[0]), middle, plan.times(k, 0.0, 0.5), scattered)
    back = plan.rng.permutation(k)
    gather = (middle[back], np.full(k, m[-1]), plan.times(k, 0.5), plan.pass_on(scattered)[back])
    return _joined([scatter, gather])


def _gather_scatter(plan: _Plan, m: I64) -> _Legs:
    n = m.size
    k = _sides(plan, n, (n - 1) // 2, 1, n - 2, "gather_scatter")
    sources, hub, sinks = plan.rng.permutation(m[:k]), m[k], plan.rng.permutation(m[k + 1 :])
    gathered = plan.amounts(k)
    gather = (sources, np.full(k, hub), plan.times(k, 0.0, 0.5), gathered)
    out = plan.split(plan.pass_on(np.asarray([gathered.sum()])), sinks.size)[0]
    scatter = (np.full(sinks.size, hub), sinks, plan.times(sinks.size, 0.5), out)
    return _joined([gather, scatter])


def _joined(legs: list[_Legs]) -> _Legs:
    src, dst, ts, amount = (np.concatenate([leg[i] for leg in legs]) for i in range(4))
    return src, dst, ts, amount


_BUILDERS: Final = {
    AmlPattern.FAN_OUT: _fan_out,
    AmlPattern.FAN_IN: _fan_in,
    AmlPattern.CYCLE: _cycle,
    AmlPattern.BIPARTITE: _bipartite,
    AmlPattern.STACK: _stack,
    AmlPattern.RANDOM: _random,
    AmlPattern.SCATTER_GATHER: _scatter_gather,
    AmlPattern.GATHER_SCATTER: _gather_scatter,
}
