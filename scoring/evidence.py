"""Behavioural fraud evidence per account: coordination, takeover, money and spending.

Sharing an identifier is not evidence of fraud: households, offices, carrier NAT, call
centres and payroll hubs share identifiers every day. What separates a ring from them is
*coordinated* behaviour, and each feature here measures one kind of it from the
aggregated links alone (``first_ts``, ``last_ts``, ``n_events``, ``amount_sum`` per link),
so it is the same on every backend:

``cohort_partners``, ``cohort_surprise``
    Accounts tied to this one by an identity attribute (phone, email, card, address) or by
    a device both keep using (other than people living together: an address shared by two
    accounts that both keep using the same IP), that were first seen within
    ``cohort_days`` of it; and how
    surprising that many are, ``-log10 P(X >= k)`` for ``X ~ Binomial(d, r)`` with ``d``
    the account's tied partners and ``r`` the share of all accounts first seen within
    ``cohort_days`` of it (so a book opened in one month is no evidence). A ring's
    accounts are opened in a campaign; a household's members join over years; a branch
    tablet's customers touch it once.
``late_cojoin_partners``
    Established accounts (not living with this one) that took up the same new device or
    IP within days of it, long after they were opened: a takeover
    attacker's device working through its victims.
``passed_on``, ``pass_through``
    Payments out that pass on money just received: at most ``pass_through_days`` after
    money came in, and most of it (a mule keeps a cut); their number, and the share of
    the account's money in they amount to. Money between accounts sharing an identity
    attribute (own savings, family) counts neither in nor out.
``collector_inflows``
    Distinct payers whose payment to this account passed on money they had just
    received: a mule network's collector.
``spend_spike``
    Spending at merchants first paid in the account's last ``spike_days`` of activity,
    over its usual spend in such a window: a bust-out.
``merchant_cospike``
    Other accounts that began paying the same small merchant within ``spike_days`` of
    this account's late, large spend there: a bust-out ring's colluding merchant.
``age_days``, ``events``
    How long the account has been seen, and its events (a thin, new account).

Everything is vectorised over the projection's arrays: O(n + l + m + t log t) for n
accounts, l identifier links, m projected pairs and t transfer links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from graph_service.model import NODE_TYPE_CODE, NodeType
from graph_service.temporal import signup_burst
from scoring.projection import AccountProjection

__all__ = ["EVIDENCE_FEATURES", "EvidenceConfig", "account_evidence"]

_DAY_US: Final = 86_400 * 1_000_000

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]


def _bit(*types: NodeType) -> int:
    mask = 0
    for node_type in types:
        mask |= 1 << NODE_TYPE_CODE[node_type]
    return mask


#: Identity attributes: sharing one is a claim about who the customer is.
IDENTITY_KINDS: Final = _bit(NodeType.PHONE, NodeType.EMAIL, NodeType.CARD, NodeType.ADDRESS)
#: Kinds that tie a household together.
HOUSEHOLD_KINDS: Final = _bit(NodeType.ADDRESS)
_DEVICE: Final = _bit(NodeType.DEVICE)
_IP: Final = _bit(NodeType.IP)

#: Evidence feature columns, in order.
EVIDENCE_FEATURES: Final[tuple[str, ...]] = (
    "cohort_partners",
    "cohort_surprise",
    "late_cojoin_partners",
    "passed_on",
    "pass_through",
    "collector_inflows",
    "spend_spike",
    "merchant_cospike",
    "age_days",
    "events",
)


@dataclass(frozen=True, slots=True)
class EvidenceConfig:
    """Windows of the evidence features.

    Parameters
    ----------
    cohort_days : float
        Accounts first seen within this many days of each other form a cohort (30).
    pass_through_days : float
        Money out counts as passed on when money came in at most this many days before
        it (3).
    pass_through_ratio : float
        ... and the payment is at least this share of that money (0.7: a mule's cut is
        a few percent).
    spike_days : float
        Window of the spending spike and of the merchant co-spike (14).
    small_merchant : int
        Merchants paid by at most this many accounts are small (colluding merchants are;
        chains are not) (50).
    """

    cohort_days: float = 30.0
    pass_through_days: float = 3.0
    pass_through_ratio: float = 0.7
    spike_days: float = 14.0
    small_merchant: int = 50


def account_evidence(
    projection: AccountProjection,
    first_seen: _I64,
    last_seen: _I64,
    config: EvidenceConfig | None = None,
) -> dict[str, _F64]:
    """Every evidence feature, aligned with ``projection.accounts``.

    Parameters
    ----------
    projection : AccountProjection
    first_seen, last_seen : ndarray of int64
        First and last time each node was seen (µs), indexed by store id.
    config : EvidenceConfig, optional

    Returns
    -------
    dict of str to ndarray of float64, shape (n,)
        One entry per name of :data:`EVIDENCE_FEATURES`.

    Notes
    -----
    O(n + l + m + t log t); see the module notes for what each feature means.
    """
    config = config or EvidenceConfig()
    accounts = projection.accounts
    n = int(accounts.shape[0])
    u = np.searchsorted(accounts, projection.src)
    v = np.searchsorted(accounts, projection.dst)
    opened = first_seen[accounts]

    # Coordination: ties through identity attributes or a device both keep using, other
    # than a household's (an address shared by two accounts that both keep using the
    # same IP: people living together, who often open their accounts together).
    household = ((projection.kinds_shared & HOUSEHOLD_KINDS) != 0) & (
        (projection.repeat_kinds & _IP) != 0
    )
    tie = np.where(
        household,
        0,
        (projection.kinds_shared & IDENTITY_KINDS) | (projection.repeat_kinds & _DEVICE),
    )
    window = int(config.cohort_days * _DAY_US)
    tied = tie != 0
    cohort = tied & (np.abs(opened[u] - opened[v]) <= window)
    cohort_partners = _degree(u[cohort], v[cohort], n)
    cohort_surprise = _binomial_surprise(
        cohort_partners, _degree(u[tied], v[tied], n), _share_within(opened, window)
    )

    # Takeover: taken up late and together, not by people living together.
    late = ((projection.late_kinds & (_DEVICE | _IP)) != 0) & ~household
    late_cojoin_partners = _degree(u[late], v[late], n)

    money = _money_evidence(projection, accounts, config)
    spend = _spend_evidence(projection, accounts, last_seen, config)

    memberships = projection.memberships
    row = np.searchsorted(accounts, memberships.account)
    events = np.bincount(row, weights=memberships.n_events, minlength=n)
    flow = projection.money_flow
    events += np.bincount(np.searchsorted(accounts, flow.src), weights=flow.n_events, minlength=n)
    age_days = (last_seen[accounts] - opened).astype(np.float64) / _DAY_US
    return {
        "cohort_partners": cohort_partners,
        "cohort_surprise": cohort_surprise,
        "late_cojoin_partners": late_cojoin_partners,
        **money,
        **spend,
        "age_days": np.maximum(age_days, 0.0),
        "events": events,
    }


def _share_within(moments: _I64, window: int) -> _F64:
    """Share of all ``moments`` within ``window`` of each one (itself excluded)."""
    n = int(moments.shape[0])
    if n < 2:
        return np.zeros(n)
    ordered = np.sort(moments)
    inside = np.searchsorted(ordered, moments + window, side="right") - np.searchsorted(
        ordered, moments - window, side="left"
    )
    return np.asarray((inside - 1) / (n - 1), np.float64)


def _binomial_surprise(hits: _F64, trials: _F64, rate: _F64) -> _F64:
    """``-log10 P(X >= hits)`` for ``X ~ Binomial(trials, rate)``; 0 where ``hits`` is 0."""
    from scipy.stats import binom

    tail = binom.sf(hits - 1, trials, np.clip(rate, 1e-9, 1.0))
    surprise = -np.log10(np.clip(tail, 1e-300, 1.0))
    return np.where(hits > 0, surprise, 0.0)


def _degree(u: _I64, v: _I64, n: int) -> _F64:
    """Distinct partners per account over undirected pairs (each pair given once)."""
    return np.bincount(np.concatenate([u, v]), minlength=n).astype(np.float64)


def _money_evidence(
    projection: AccountProjection, accounts: _I64, config: EvidenceConfig
) -> dict[str, _F64]:
    """Money passed on, the share of money in it makes, and collector inflows.

    A payment out is *passed on* when money came in during the ``pass_through_days``
    before it and the payment is between ``pass_through_ratio`` and 1.02 times that
    money (a mule keeps a cut). Each aggregated link stands for its first payment at its
    mean amount. Money between accounts sharing an identity attribute (the customer's own
    savings, family, flatmates) neither comes in nor goes out for this purpose: a
    household passing rent shares on to the one who pays the landlord is not a mule.
    """
    n = int(accounts.shape[0])
    flow = projection.money_flow
    payer = np.searchsorted(accounts, flow.src)
    payee = np.searchsorted(accounts, flow.dst)
    own = _shares_identity(projection, payer, payee, n)
    amount_in = np.bincount(payee[~own], weights=flow.amount[~own], minlength=n)
    each = flow.amount / np.maximum(flow.n_events, 1)
    window = int(config.pass_through_days * _DAY_US)
    if flow.first_ts.size:
        base = int(flow.first_ts.min())
        span = int(flow.first_ts.max()) - base + 2 * window + 1
    else:
        base, span = 0, 1
    out = np.flatnonzero(~own)
    in_key = payee[out].astype(np.int64) * span + (flow.first_ts[out] - base)
    order = np.argsort(in_key, kind="stable")
    in_key = in_key[order]
    money_in = np.concatenate([[0.0], np.cumsum(each[out][order])])
    out_key = payer[out].astype(np.int64) * span + (flow.first_ts[out] - base)
    low = np.searchsorted(in_key, out_key - window, side="left")
    high = np.searchsorted(in_key, out_key, side="right")
    before = money_in[high] - money_in[low]
    sent = each[out]
    passed = (before > 0) & (sent >= config.pass_through_ratio * before) & (sent <= 1.02 * before)
    passed_on = np.bincount(payer[out][passed], minlength=n).astype(np.float64)
    passed_amount = np.bincount(payer[out][passed], weights=sent[passed], minlength=n)
    share = np.minimum(
        np.divide(passed_amount, amount_in, out=np.zeros(n), where=amount_in > 0), 1.0
    )
    collector_inflows = np.bincount(payee[out][passed], minlength=n)
    return {
        "passed_on": passed_on,
        "pass_through": share,
        "collector_inflows": collector_inflows.astype(np.float64),
    }


def _shares_identity(
    projection: AccountProjection, payer: _I64, payee: _I64, n: int
) -> npt.NDArray[np.bool_]:
    """Whether each transfer link joins two accounts sharing an identity attribute."""
    accounts = projection.accounts
    tied = (projection.kinds_shared & IDENTITY_KINDS) != 0
    u = np.searchsorted(accounts, projection.src[tied])
    v = np.searchsorted(accounts, projection.dst[tied])
    width = np.int64(max(n, 1))
    known = np.sort(u.astype(np.int64) * width + v)
    lo = np.minimum(payer, payee).astype(np.int64)
    hi = np.maximum(payer, payee).astype(np.int64)
    key = lo * width + hi
    position = np.minimum(np.searchsorted(known, key), max(known.shape[0] - 1, 0))
    if known.shape[0] == 0:
        return np.zeros(key.shape[0], np.bool_)
    found: npt.NDArray[np.bool_] = known[position] == key
    return found


def _spend_evidence(
    projection: AccountProjection, accounts: _I64, last_seen: _I64, config: EvidenceConfig
) -> dict[str, _F64]:
    """Spending spike at merchants new in the last window, and the merchant co-spike."""
    n = int(accounts.shape[0])
    links = projection.memberships
    paying = links.node_type == NODE_TYPE_CODE[NodeType.MERCHANT]
    row = np.searchsorted(accounts, links.account[paying])
    amount = links.amount[paying]
    first = links.first_ts[paying]
    window = int(config.spike_days * _DAY_US)
    end = last_seen[accounts][row]
    recent = first >= end - window
    total = np.bincount(row, weights=amount, minlength=n)
    late = np.bincount(row[recent], weights=amount[recent], minlength=n)
    earliest = np.full(n, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(earliest, row, first)
    history = np.maximum(last_seen[accounts] - earliest - window, 0).astype(np.float64)
    usual = np.divide((total - late) * window, history, out=np.zeros(n), where=history >= window)
    # Without a history of at least one window the spike is undefined (0).
    spike = np.divide(late, np.maximum(usual, 1.0), out=np.zeros(n), where=history >= window)

    small = recent & (links.share_count[paying] <= config.small_merchant)
    big = small & (amount >= np.median(amount) if amount.size else small)
    cospike = signup_burst(row[big], links.identifier[paying][big], first[big], n, window_us=window)
    return {"spend_spike": spike, "merchant_cospike": cospike}
