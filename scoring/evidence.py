"""Behavioural fraud evidence per account: coordination, takeover, money and spending.

Sharing an identifier is not evidence of fraud: households, offices, carrier NAT, call
centres and payroll hubs share identifiers every day. What separates a ring from them is
*coordinated* behaviour, and each feature here measures one kind of it from the
aggregated links alone (``first_ts``, ``last_ts``, ``n_events``, ``amount_sum`` per link),
so it is the same on every backend:

``identity_partners``
    Accounts tied to this one by an identity attribute (phone, email, card, address) or
    by a device both keep using, other than people living together (an address and an IP
    shared): the same person's details reused
    across accounts, a synthetic identity's fragments.
``cohort_partners``, ``cohort_surprise``
    Accounts tied to this one by an identity attribute (phone, email, card, address) or by
    a device both keep using (other than people living together: an address and an IP
    shared), that were first seen within
    ``cohort_days`` of it; and how
    surprising that many are, ``-log10 P(X >= k)`` for ``X ~ Binomial(d, r)`` with ``d``
    the account's tied partners and ``r`` the share of all accounts first seen within
    ``cohort_days`` of it (so a book opened in one month is no evidence). A ring's
    accounts are opened in a campaign; a household's members join over years; a branch
    tablet's customers touch it once.
``late_cojoin_partners``
    Established accounts (not living with this one) that took up the same new device or
    IP within days of it, long after they were opened, and used it again, as this one
    did: a takeover attacker's device working through its victims (log in, then move the
    money). A shop's or branch's tablet serves each customer once.
``new_device_payouts``, ``new_device_inflows``
    Payments to a newly opened account (seen opened at most ``fresh_payee_days`` before)
    made within ``takeover_hours`` of the payer's first use of a device that other
    accounts use too, that it took up long after it was opened (``settled_days``) and
    used for days at most (``session_days``), other than to family: an established
    customer's balance moved to a drop from the attacker's device, which works through
    several victims. Counted for the payer, and, as the distinct payers doing so, for
    the account paid (the drop). A customer on a new phone of its own pays people it has
    long known; a drop is days or weeks old.
``passed_on``, ``pass_through``
    Payments out that pass on money just received, where the passing on is material (see
    :mod:`scoring.pass_through`): their number, and the share of the account's money in
    (from unrelated accounts) they amount to.
``collector_inflows``
    Distinct payers whose payment to this account passed on money they had just
    received, counted from the second on (0 for one): a mule network's collector
    gathers from several mules. One passed-on payment in is its payer's evidence, not
    the payee's: counted for both, every coincidence (a friend forwarding the 30 she
    was just paid back) would make two accounts active, tied by the very payment.
``spend_spike``
    Spending at merchants first paid in the account's last ``spike_days`` of activity,
    over its usual spend in such a window: a cash-out before the account goes quiet.
``merchant_cospike``
    Other accounts with a big burst at the same small merchant within ``spike_days`` of
    this account's: a bust-out ring's colluding merchant.
``age_days``, ``events``
    How long the account has been seen, and its events (a thin, new account).

Everything is vectorised over the projection's arrays: O(n + l + m + t log t) for n
accounts, l identifier links, m projected pairs and t transfer links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from graph_service.model import NODE_TYPE_CODE, NodeType
from graph_service.temporal import DAY_US, HOUR_US, TimeKeys, signup_burst
from graph_service.typing import F64, I64
from scoring.projection import AccountProjection

__all__ = ["EVIDENCE_FEATURES", "EvidenceConfig", "account_evidence"]


def _bit(*types: NodeType) -> int:
    mask = 0
    for node_type in types:
        mask |= 1 << NODE_TYPE_CODE[node_type]
    return mask


#: Identity attributes: sharing one is a claim about who the customer is.
IDENTITY_KINDS: Final = _bit(NodeType.PHONE, NodeType.EMAIL, NodeType.CARD, NodeType.ADDRESS)
_DEVICE: Final = _bit(NodeType.DEVICE)
_IP: Final = _bit(NodeType.IP)

#: Evidence feature columns, in order.
EVIDENCE_FEATURES: Final[tuple[str, ...]] = (
    "identity_partners",
    "cohort_partners",
    "cohort_surprise",
    "late_cojoin_partners",
    "new_device_payouts",
    "new_device_inflows",
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
    spike_days : float
        Window of the spending spike and of the merchant co-spike (14).
    small_merchant : int
        Merchants paid by at most this many accounts are small (colluding merchants are;
        chains are not) (50).
    burst_ratio : float
        A burst at a merchant at least this many times the account's usual spend in the
        window is big (3).
    settled_days : float
        A device first used this many days or more after the account was opened is a new
        device on an established account (60).
    takeover_hours : float
        A payment within this many hours of the first use of such a device follows it (24).
    fresh_payee_days : float
        An account paid within this many days of being first seen (and an hour or more
        after) is newly opened (90).
    session_days : float
        A device the account stopped using within this many days of taking it up was a
        passing session (an attacker's), not a phone of its own or a family tablet (7).
    """

    cohort_days: float = 30.0
    spike_days: float = 14.0
    small_merchant: int = 50
    burst_ratio: float = 3.0
    settled_days: float = 60.0
    takeover_hours: float = 24.0
    fresh_payee_days: float = 90.0
    session_days: float = 7.0


def account_evidence(
    projection: AccountProjection,
    first_seen: I64,
    last_seen: I64,
    config: EvidenceConfig | None = None,
) -> dict[str, F64]:
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
    u = projection.src_row
    v = projection.dst_row
    opened = first_seen[accounts]

    # Coordination: ties through identity attributes or a device both keep using, other
    # than a household's (people living together often open their accounts together).
    household = projection.living_together
    tie = np.where(
        household,
        0,
        (projection.kinds_shared & IDENTITY_KINDS) | (projection.repeat_kinds & _DEVICE),
    )
    window = int(config.cohort_days * DAY_US)
    tied = tie != 0
    cohort = tied & (np.abs(opened[u] - opened[v]) <= window)
    cohort_partners = _degree(u[cohort], v[cohort], n)
    identity_partners = _degree(u[tied], v[tied], n)
    cohort_surprise = _binomial_surprise(
        cohort_partners, identity_partners, _share_within(opened, window)
    )

    # Takeover: taken up late and together, not by people living together.
    late = ((projection.late_kinds & (_DEVICE | _IP)) != 0) & ~household
    late_cojoin_partners = _degree(u[late], v[late], n)
    payouts = _new_device_payouts(projection, accounts, first_seen, config)

    money = _money_evidence(projection, accounts)
    spend = _spend_evidence(projection, accounts, first_seen, last_seen, config)

    memberships = projection.memberships
    row = np.searchsorted(accounts, memberships.account)
    # float64 even with no identifier links (transfers only), where bincount gives int64
    events = np.bincount(row, weights=memberships.n_events, minlength=n).astype(np.float64)
    flow = projection.money_flow
    events += np.bincount(np.searchsorted(accounts, flow.src), weights=flow.n_events, minlength=n)
    age_days = (last_seen[accounts] - opened).astype(np.float64) / DAY_US
    return {
        "identity_partners": identity_partners,
        "cohort_partners": cohort_partners,
        "cohort_surprise": cohort_surprise,
        "late_cojoin_partners": late_cojoin_partners,
        **payouts,
        **money,
        **spend,
        "age_days": np.maximum(age_days, 0.0),
        "events": events,
    }


def _share_within(moments: I64, window: int) -> F64:
    """Share of all ``moments`` within ``window`` of each one (itself excluded)."""
    n = int(moments.shape[0])
    if n < 2:
        return np.zeros(n)
    ordered = np.sort(moments)
    inside = np.searchsorted(ordered, moments + window, side="right") - np.searchsorted(
        ordered, moments - window, side="left"
    )
    return np.asarray((inside - 1) / (n - 1), np.float64)


def _binomial_surprise(hits: F64, trials: F64, rate: F64) -> F64:
    """``-log10 P(X >= hits)`` for ``X ~ Binomial(trials, rate)``; 0 where ``hits`` is 0."""
    from scipy.stats import binom

    tail = binom.sf(hits - 1, trials, np.clip(rate, 1e-9, 1.0))
    surprise = -np.log10(np.clip(tail, 1e-300, 1.0))
    return np.where(hits > 0, surprise, 0.0)


def _degree(u: I64, v: I64, n: int) -> F64:
    """Distinct partners per account over undirected pairs (each pair given once)."""
    return np.bincount(np.concatenate([u, v]), minlength=n).astype(np.float64)


def _new_device_payouts(
    projection: AccountProjection, accounts: I64, first_seen: I64, config: EvidenceConfig
) -> dict[str, F64]:
    """Payments to newly opened accounts soon after the payer took up a shared device.

    For each money-flow link (its first payment) to an unrelated payee first seen between
    ``fresh_payee_days`` and an hour before it, the payer's latest take-up of a device
    shared with another account and used for ``session_days`` at most, at or before the
    payment, is found by one binary search over (account, time) keys (:class:`TimeKeys`); the payment
    follows a new device when that take-up came ``settled_days`` or more after the payer
    was opened and at most ``takeover_hours`` before the payment. A payee first seen at
    the payment itself was not seen opened: its age is unknown, not young.
    """
    n = int(accounts.shape[0])
    links = projection.memberships
    device = (
        (links.node_type == NODE_TYPE_CODE[NodeType.DEVICE])
        & (links.share_count >= 2)
        & (links.last_ts - links.first_ts <= int(config.session_days * DAY_US))
    )
    owner = links.account[device]
    took_up = links.first_ts[device]
    settled = took_up - first_seen[owner] >= int(config.settled_days * DAY_US)
    owner_row = np.searchsorted(accounts, owner[settled])
    took_up = took_up[settled]

    flow = projection.money_flow
    payee_age = flow.first_ts - first_seen[flow.dst]
    fresh = (
        ~flow.related
        & (payee_age <= int(config.fresh_payee_days * DAY_US))
        & (payee_age >= HOUR_US)
    )
    payer = np.searchsorted(accounts, flow.src[fresh])
    payee = np.searchsorted(accounts, flow.dst[fresh])
    paid = flow.first_ts[fresh]
    if not (owner_row.size and payer.size):
        return {"new_device_payouts": np.zeros(n), "new_device_inflows": np.zeros(n)}
    keys = TimeKeys(np.concatenate([owner_row, payer]), took_up)
    device_key = keys(owner_row, took_up)
    order = np.argsort(device_key, kind="stable")
    device_key, owner_row, took_up = device_key[order], owner_row[order], took_up[order]
    # The payer's latest take-up at or before the payment.
    latest = np.searchsorted(device_key, keys.after(payer, paid), side="left") - 1
    found = np.maximum(latest, 0)
    follows = (
        (latest >= 0)
        & (owner_row[found] == payer)
        & (paid - took_up[found] <= int(config.takeover_hours * HOUR_US))
    )
    return {
        "new_device_payouts": np.bincount(payer[follows], minlength=n).astype(np.float64),
        "new_device_inflows": np.bincount(payee[follows], minlength=n).astype(np.float64),
    }


def _money_evidence(projection: AccountProjection, accounts: I64) -> dict[str, F64]:
    """Payments passed on, the share of money in they make, and collector inflows."""
    n = int(accounts.shape[0])
    flow = projection.money_flow
    payer = np.searchsorted(accounts, flow.src)
    payee = np.searchsorted(accounts, flow.dst)
    free = ~flow.related
    amount_in = np.bincount(payee[free], weights=flow.amount[free], minlength=n)
    passed = flow.passed_on
    each = flow.amount / np.maximum(flow.n_events, 1)
    passed_on = np.bincount(payer[passed], minlength=n).astype(np.float64)
    passed_amount = np.bincount(payer[passed], weights=each[passed], minlength=n)
    share = np.minimum(
        np.divide(passed_amount, amount_in, out=np.zeros(n), where=amount_in > 0), 1.0
    )
    gathered = np.bincount(payee[passed], minlength=n).astype(np.float64)
    collector_inflows = np.where(gathered >= 2, gathered, 0.0)
    return {"passed_on": passed_on, "pass_through": share, "collector_inflows": collector_inflows}


def _spend_evidence(
    projection: AccountProjection,
    accounts: I64,
    first_seen: I64,
    last_seen: I64,
    config: EvidenceConfig,
) -> dict[str, F64]:
    """Spending spike and merchant co-spike.

    ``spend_spike``: spending at merchants first paid in the account's last
    ``spike_days`` of activity, over its usual spend in such a window (a cash-out before
    the account goes quiet). A merchant link whose payments all fell within
    ``spike_days`` is a *burst*; it is *big* at a small merchant when it is at least
    ``burst_ratio`` times the account's usual spend in such a window (its whole spend
    spread over the time it has been seen), and ``merchant_cospike`` counts the other
    accounts with a big burst at the same merchant within ``spike_days`` of this
    account's (a spree at a colluding merchant, whenever it happened).
    """
    n = int(accounts.shape[0])
    links = projection.memberships
    paying = links.node_type == NODE_TYPE_CODE[NodeType.MERCHANT]
    row = np.searchsorted(accounts, links.account[paying])
    amount = links.amount[paying]
    first = links.first_ts[paying]
    window = int(config.spike_days * DAY_US)
    end = last_seen[accounts][row]
    recent = first >= end - window
    total = np.bincount(row, weights=amount, minlength=n)
    late = np.bincount(row[recent], weights=amount[recent], minlength=n)
    earliest = np.full(n, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(earliest, row, first)
    history = np.maximum(last_seen[accounts] - earliest - window, 0).astype(np.float64)
    before = np.divide((total - late) * window, history, out=np.zeros(n), where=history >= window)
    # Without a history of at least one window the spike is undefined (0).
    spike = np.divide(late, np.maximum(before, 1.0), out=np.zeros(n), where=history >= window)

    seen = np.maximum(last_seen[accounts] - first_seen[accounts], window).astype(np.float64)
    usual = total * window / seen
    burst = (links.last_ts[paying] - first) <= window
    size = np.where(burst, amount / np.maximum(usual[row], 1.0), 0.0)
    big = (size >= config.burst_ratio) & (links.share_count[paying] <= config.small_merchant)
    cospike = signup_burst(row[big], links.identifier[paying][big], first[big], n, window_us=window)
    return {"spend_spike": spike, "merchant_cospike": cospike}
