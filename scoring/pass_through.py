"""Money passed on: payments out that forward money an account has just received.

A mule receives from victims or other mules and sends most of it on within hours or
days, keeping a cut. Here a payment out of account ``a`` is *passed on* when the latest
payments into ``a`` within the ``days`` before it, taken back from the newest until they
cover it (at 1.02 times the payment out), add up to at most ``1 / ratio`` times it: the
payment forwards one recent payment in, or the last few together, less a cut. A mule
forwarding each victim's payment as it arrives passes each one on, even when other
victims paid in meanwhile. A link passes money on when at least half of its payments do
(:func:`passed_on_payments`, on the single transfers the store keeps): a mule forwarding
each victim's payment to one collector over weeks makes one link of many payments, each
passed on. Where only the aggregated link is known, it stands for its first payment at
its mean amount (:func:`passed_on_links`). Money between related accounts (the caller
says which: the customer's own savings, family, flatmates) neither comes in nor goes out
for this purpose, so a household passing rent shares on to the one who pays the landlord
is not a mule.

Passing money on counts only where it is *material* (:func:`material_passing`): what an
account passed on is at least a tenth of the money it received (from unrelated accounts)
from 30 days before its first passed-on payment to its last, and at least the book's
median payment. A mule's money in is mostly what it forwards, in the amounts its victims
pay; a salaried customer who got 30 from a friend and paid 29 for a dinner two days later
passed on a sliver of a month's income, and students splitting a pizza pass on all they
got, in pocket change: coincidences that a book of 100k customers produces by the
hundred.

A payment on a *standing order* never passes money on (:func:`standing_orders`): rent,
an allowance or a loan repayment goes out on schedule, at the same amount, whatever came
in, and a salary landing the day before the rent is budgeting, not a mule's forwarding.
A mule forwards as the money arrives: when, and as much as, the victims paid.

Both the projection (a passed-on payment ties payer and payee strongly) and the account
evidence (how many payments an account passes on, how many passed-on payments reach it)
use the same links, computed once.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from graph_service.tables import distinct
from graph_service.temporal import DAY_US, TimeKeys
from graph_service.typing import F64, I64, BoolArray

__all__ = [
    "material_passing",
    "passed_on_links",
    "passed_on_payments",
    "payment_links",
    "standing_orders",
]


def passed_on_links(
    payer: I64,
    payee: I64,
    first_ts: I64,
    amount: F64,
    n_events: I64,
    related: BoolArray,
    *,
    days: float = 3.0,
    ratio: float = 0.7,
) -> BoolArray:
    """Which transfer links pass on money their payer had just received.

    Parameters
    ----------
    payer, payee : ndarray of int64, shape (t,)
        Account ids (any integers) of each aggregated transfer link.
    first_ts : ndarray of int64, shape (t,)
        First payment over the link (µs).
    amount : ndarray of float64, shape (t,)
        Money over the link; ``amount / n_events`` is its mean payment.
    n_events : ndarray of int64, shape (t,)
    related : ndarray of bool, shape (t,)
        Links between related accounts, left out on both sides.
    days : float
        How long before the payment out the money may have come in.
    ratio : float
        Smallest share of the money it forwards (the latest payments in that cover it)
        the payment must be.

    Returns
    -------
    ndarray of bool, shape (t,)

    Examples
    --------
    >>> day = 86_400 * 1_000_000
    >>> passed_on_links(
    ...     np.array([1, 2]), np.array([2, 3]), np.array([0, day]), np.array([100.0, 90.0]),
    ...     np.array([1, 1]), np.array([False, False]),
    ... ).tolist()
    [False, True]

    Notes
    -----
    O(t log t): one sort of the incoming links by (account, time) and three binary
    searches per outgoing link, two over the (account, time) keys and one over the
    cumulative money in (non-decreasing: negative amounts count as 0).
    """
    window = int(days * DAY_US)
    each = np.maximum(amount, 0.0) / np.maximum(n_events, 1)
    free = np.flatnonzero(~related)
    passed = np.zeros(payer.shape[0], np.bool_)
    if free.size == 0:
        return passed
    keys = TimeKeys(np.concatenate([payee[free], payer[free]]), first_ts[free])
    in_key = keys(payee[free], first_ts[free])
    order = np.argsort(in_key, kind="stable")
    in_key = in_key[order]
    money_in = np.concatenate([[0.0], np.cumsum(each[free][order])])
    paid_at, sent = first_ts[free], each[free]
    top_at = np.searchsorted(in_key, keys.after(payer[free], paid_at), side="left")
    window_at = np.searchsorted(in_key, keys(payer[free], paid_at - window), side="left")
    # The latest payments in that add up to at least sent / 1.02: money_in is
    # non-decreasing, so the earliest of them is one binary search away.
    top = money_in[top_at]
    start = np.searchsorted(money_in, top - sent / 1.02, side="right") - 1
    recent = top - money_in[np.maximum(start, 0)]
    passed[free] = (start >= window_at) & (sent > 0) & (recent > 0) & (sent >= ratio * recent)
    return passed


def passed_on_payments(
    link_payer: I64,
    link_payee: I64,
    related: BoolArray,
    payer: I64,
    payee: I64,
    ts: I64,
    amount: F64,
    *,
    days: float = 3.0,
    ratio: float = 0.7,
    share: float = 0.5,
    order_payments: int = 3,
    matched: tuple[I64, I64] | None = None,
) -> tuple[BoolArray, BoolArray]:
    """Which transfer links pass money on, judged payment by payment.

    Parameters
    ----------
    link_payer, link_payee : ndarray of int64, shape (t,)
        The aggregated transfer links, one row per (payer, payee).
    related : ndarray of bool, shape (t,)
        Links between related accounts: their payments are left out on both sides.
    payer, payee, ts, amount : ndarray, shape (e,)
        The single transfers (µs timestamps); a transfer with no link among
        ``link_payer, link_payee`` is left out.
    days, ratio : float
        As for :func:`passed_on_links`, applied to each payment.
    share : float
        Smallest share of a link's payments that must pass money on (0.5).
    order_payments : int
        Payments from which a regular link is a standing order and passes nothing on
        (3; see :func:`standing_orders`).
    matched : tuple of ndarray (link_of, keep), optional
        :func:`payment_links` of these links and payments, when the caller has it.

    Returns
    -------
    passed : ndarray of bool, shape (t,)
        Links of which at least ``share`` of the payments pass money on.
    seen : ndarray of bool, shape (t,)
        Links with at least one payment among the transfers (the caller judges the
        others from the aggregate).

    Examples
    --------
    One payee forwards each of three weekly payments to one collector, the first a day
    after it came in; its aggregated link (first payment at the mean amount) would not
    pass the test.

    >>> day, week = 86_400 * 1_000_000, 7 * 86_400 * 1_000_000
    >>> passed, seen = passed_on_payments(
    ...     np.array([1, 2]), np.array([2, 3]), np.array([False, False]),
    ...     np.array([1, 2, 1, 2, 1, 2]), np.array([2, 3, 2, 3, 2, 3]),
    ...     np.array([0, day, week, week + day, 2 * week, 2 * week + day]),
    ...     np.array([100.0, 95.0, 400.0, 380.0, 50.0, 48.0]),
    ... )
    >>> passed.tolist(), seen.tolist()
    ([False, True], [True, True])

    Notes
    -----
    O((t + e) log (t + e)): the payments are matched to their links by one sort and
    tested as single-payment links by :func:`passed_on_links`.
    """
    link_of, keep = matched or payment_links(link_payer, link_payee, payer, payee)
    flags = passed_on_links(
        payer[keep],
        payee[keep],
        ts[keep],
        amount[keep],
        np.ones(keep.size, np.int64),
        related[link_of],
        days=days,
        ratio=ratio,
    )
    t = link_payer.shape[0]
    payments = np.bincount(link_of, minlength=t)
    passing = np.bincount(link_of[flags], minlength=t)
    seen = payments > 0
    regular = standing_orders(link_of, ts[keep], amount[keep], t, min_payments=order_payments)
    return seen & (passing >= share * payments) & ~regular, seen


def payment_links(link_payer: I64, link_payee: I64, payer: I64, payee: I64) -> tuple[I64, I64]:
    """The aggregated link of each single payment that has one.

    Returns
    -------
    link_of : ndarray of int64
        For each payment with a link, the link's row.
    keep : ndarray of int64
        The rows of those payments (payments of no link are left out).
    """
    link_key, pay_key = _pair_keys((link_payer, link_payee), (payer, payee))
    order = np.argsort(link_key, kind="stable")
    at = np.minimum(np.searchsorted(link_key[order], pay_key), max(order.size - 1, 0))
    link_of = order[at] if order.size else np.zeros(0, np.int64)
    known = (link_key[link_of] == pay_key) if order.size else np.zeros(payer.size, np.bool_)
    return link_of[known], np.flatnonzero(known)


#: Ids below this pair up into one int64 key without ranking.
_DIRECT: Final = 1 << 31


def _pair_keys(*pairs: tuple[I64, I64]) -> list[I64]:
    """One int64 key per (a, b) pair of each ``pairs`` entry, equal for equal pairs.

    Ids in [0, 2**31) (every store id) make ``a << 31 | b`` directly; other ids are
    ranked among all the ids first.
    """
    every = [side for pair in pairs for side in pair if side.size]
    if not every or (
        min(int(side.min()) for side in every) >= 0
        and max(int(side.max()) for side in every) < _DIRECT
    ):
        return [(a.astype(np.int64) << 31) | b.astype(np.int64) for a, b in pairs]
    ids = distinct(np.concatenate(every))
    n = np.int64(max(ids.size, 1))
    return [np.searchsorted(ids, a) * n + np.searchsorted(ids, b) for a, b in pairs]


def material_passing(
    link_payer: I64,
    link_payee: I64,
    first_ts: I64,
    last_ts: I64,
    amount: F64,
    n_events: I64,
    related: BoolArray,
    passed: BoolArray,
    received: tuple[I64, I64, F64, BoolArray] | None = None,
    *,
    share: float = 0.1,
    lookback_days: float = 30.0,
    floor_quantile: float = 0.5,
) -> BoolArray:
    """Which passed-on links pass on a material share of their payer's money.

    A payer's passing on is material when the money over its passed-on links is at least
    ``share`` of the money it received from unrelated accounts between ``lookback_days``
    before its first passed-on payment and its last, and at least the book's
    ``floor_quantile`` single payment (its median: students splitting a pizza pass on
    all they got, and it is pocket change). The span, not the account's whole history,
    is what counts: a long-standing customer recruited as a mule passes on most of what
    comes in while it does, whatever it earned in the years before.

    Parameters
    ----------
    link_payer, link_payee : ndarray of int64, shape (t,)
        The aggregated transfer links.
    first_ts, last_ts : ndarray of int64, shape (t,)
        First and last payment over each link (µs).
    amount : ndarray of float64, shape (t,)
        Money over each link.
    n_events : ndarray of int64, shape (t,)
        Payments over each link.
    related : ndarray of bool, shape (t,)
        Links between related accounts: their money does not count as received.
    passed : ndarray of bool, shape (t,)
        The links that pass money on (:func:`passed_on_payments`).
    received : tuple of ndarray (payee, ts, amount, related), optional
        The single transfers: who was paid, when, how much, and whether payer and payee
        are related. Without them, the money a link brought in is spread evenly between
        its first and its last payment.
    share : float
        Smallest material share (0.1).
    lookback_days : float
        How far before the first passed-on payment money in counts (30).
    floor_quantile : float
        The quantile of the book's payments (the links' mean payments without
        ``received``) that a payer's money passed on must reach (0.5; 0 turns it off).

    Returns
    -------
    ndarray of bool, shape (t,)
        ``passed`` where the payer's passing on is material, else False.

    Examples
    --------
    Account 2 forwards the 100 it got from 1; account 5 forwards 29 of the 30 it got
    from 4, but 3,000 of salary came in the week before (and 29 is less than the median
    payment, 95, besides).

    >>> day = 86_400 * 1_000_000
    >>> material_passing(
    ...     np.array([1, 2, 4, 5, 9]), np.array([2, 3, 5, 6, 5]),
    ...     np.array([0, day, 10 * day, 11 * day, 3 * day]),
    ...     np.array([0, day, 10 * day, 11 * day, 3 * day]),
    ...     np.array([100.0, 95.0, 30.0, 29.0, 3000.0]), np.ones(5, np.int64),
    ...     np.zeros(5, bool), np.array([False, True, False, True, False]),
    ... ).tolist()
    [False, True, False, False, False]

    Notes
    -----
    O((t + e) log (t + e)) for t links and e payments: one sort of the passing payers
    and a binary search per incoming link or payment.
    """
    material = np.zeros(link_payer.shape[0], np.bool_)
    at = np.flatnonzero(passed)
    if at.size == 0:
        return material
    passers, slot = np.unique(link_payer[at], return_inverse=True)
    start = np.full(passers.size, np.iinfo(np.int64).max)
    np.minimum.at(start, slot, first_ts[at])
    start -= int(lookback_days * DAY_US)
    end = np.full(passers.size, np.iinfo(np.int64).min)
    np.maximum.at(end, slot, last_ts[at])
    out = np.bincount(slot, weights=np.maximum(amount[at], 0.0), minlength=passers.size)
    if received is None:
        into, begin, finish, money = link_payee, first_ts, last_ts, amount
        free = ~related
    else:
        into, begin, money, between_related = received
        finish, free = begin, ~between_related
    position = np.minimum(np.searchsorted(passers, into), passers.size - 1)
    fed = free & (passers[position] == into)
    who = position[fed]
    lo, hi = begin[fed], finish[fed]
    span = (hi - lo).astype(np.float64)
    inside = np.minimum(hi, end[who]) - np.maximum(lo, start[who])
    fraction = np.where(
        span > 0,
        np.clip(inside / np.maximum(span, 1.0), 0.0, 1.0),
        (lo >= start[who]) & (lo <= end[who]),
    )
    money_in = np.bincount(
        who, weights=np.maximum(money[fed], 0.0) * fraction, minlength=passers.size
    )
    sizes = received[2] if received is not None else amount / np.maximum(n_events, 1)
    floor = float(np.quantile(sizes, floor_quantile)) if floor_quantile > 0 and sizes.size else 0.0
    enough = (out >= share * money_in) & (out >= floor)
    material[at] = enough[slot]
    return material


def standing_orders(
    link_of: I64,
    ts: I64,
    amount: F64,
    n_links: int,
    *,
    min_payments: int = 3,
    min_period_days: float = 6.0,
    period_tolerance: float = 0.35,
    amount_tolerance: float = 0.25,
) -> BoolArray:
    """Which links are standing orders: paid on a schedule at a steady amount.

    A link is a standing order when it has at least ``min_payments`` payments, its
    median gap between payments is at least ``min_period_days`` (weekly or slower: a
    salary, rent, an allowance, a loan repayment), every gap is within
    ``period_tolerance`` of that median (months are 28 to 31 days long) and every
    amount within ``amount_tolerance`` of the link's median amount (pay varies with
    overtime; rent does not).

    Parameters
    ----------
    link_of : ndarray of int64, shape (e,)
        The link (0..n_links-1) of each payment.
    ts : ndarray of int64, shape (e,)
        Payment times (µs).
    amount : ndarray of float64, shape (e,)
    n_links : int

    Returns
    -------
    ndarray of bool, shape (n_links,)

    Examples
    --------
    Rent on the 1st of three months is a standing order; three payments in three days,
    or three monthly payments of very different amounts, are not.

    >>> day = 86_400 * 1_000_000
    >>> standing_orders(
    ...     np.array([0, 0, 0, 1, 1, 1, 2, 2, 2]),
    ...     np.array([0, 31, 59, 0, 1, 2, 0, 31, 59]) * day,
    ...     np.array([1450.0, 1450.0, 1450.0, 500, 500, 500, 100, 900, 2500]),
    ...     3,
    ... ).tolist()
    [True, False, False]

    Notes
    -----
    O(e log e): one sort of the payments by (link, time) and two by (link, value) for
    the medians.
    """
    regular = np.zeros(n_links, np.bool_)
    if link_of.size == 0:
        return regular
    order = np.lexsort((ts, link_of))
    link, at, money = link_of[order], ts[order], amount[order].astype(np.float64)
    count = np.bincount(link, minlength=n_links)
    same = link[1:] == link[:-1]
    gap_link = link[1:][same]
    gap = (at[1:] - at[:-1])[same].astype(np.float64)
    gap_median = _median_by(gap_link, gap, n_links)
    off_period = np.abs(gap - gap_median[gap_link]) > period_tolerance * gap_median[gap_link]
    amount_median = _median_by(link, money, n_links)
    off_amount = np.abs(money - amount_median[link]) > amount_tolerance * np.abs(
        amount_median[link]
    )
    irregular = np.bincount(gap_link[off_period], minlength=n_links) > 0
    irregular |= np.bincount(link[off_amount], minlength=n_links) > 0
    regular = (count >= min_payments) & ~irregular
    return regular & (gap_median >= min_period_days * DAY_US)


def _median_by(group: I64, value: F64, n_groups: int) -> F64:
    """The (lower) median of ``value`` per group, 0 for a group without values."""
    median = np.zeros(n_groups)
    if group.size == 0:
        return median
    order = np.lexsort((value, group))
    count = np.bincount(group, minlength=n_groups)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    has = count > 0
    median[has] = value[order][start[has] + (count[has] - 1) // 2]
    return median
