"""Money passed on: payments out that forward money an account has just received.

A mule receives from victims or other mules and sends most of it on within hours or
days, keeping a cut. Here a payment out of account ``a`` is *passed on* when money came
into ``a`` during the ``days`` before it and the payment is between ``ratio`` and 1.02
times that money. Each aggregated link stands for its first payment at its mean amount
(a link's later payments are not seen separately). Money between related accounts (the
caller says which: the customer's own savings, family, flatmates) neither comes in nor
goes out for this purpose, so a household passing rent shares on to the one who pays the
landlord is not a mule.

Both the projection (a passed-on payment ties payer and payee strongly) and the account
evidence (how many payments an account passes on, how many passed-on payments reach it)
use the same links, computed once.
"""

from __future__ import annotations

import numpy as np

from graph_service.temporal import DAY_US, TimeKeys
from graph_service.typing import F64, I64, BoolArray

__all__ = ["passed_on_links"]


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
        Smallest share of that money the payment must be.

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
    O(t log t): one sort of the incoming links by (account, time) and two binary
    searches per outgoing link over the cumulative money in.
    """
    window = int(days * DAY_US)
    each = amount / np.maximum(n_events, 1)
    free = np.flatnonzero(~related)
    passed = np.zeros(payer.shape[0], np.bool_)
    if free.size == 0:
        return passed
    keys = TimeKeys(np.concatenate([payee[free], payer[free]]), first_ts[free])
    in_key = keys(payee[free], first_ts[free])
    order = np.argsort(in_key, kind="stable")
    in_key = in_key[order]
    money_in = np.concatenate([[0.0], np.cumsum(each[free][order])])
    paid_at = first_ts[free]
    before = (
        money_in[np.searchsorted(in_key, keys.after(payer[free], paid_at), side="left")]
        - money_in[np.searchsorted(in_key, keys(payer[free], paid_at - window), side="left")]
    )
    sent = each[free]
    passed[free] = (before > 0) & (sent >= ratio * before) & (sent <= 1.02 * before)
    return passed
