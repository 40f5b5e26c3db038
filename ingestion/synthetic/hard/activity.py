"""Legitimate activity of the hard profile: sign-ups, everyday events, recurring
transfers and one-off visits (public and hotel Wi-Fi, the call centre, small sellers).

Everyday events are drawn per time bucket (a Poisson process per account with a
Pareto-distributed rate and a daily rhythm); recurring transfers are a pure function
of the bucket's time range; one-off events are drawn once, sorted, and sliced.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from graph_service.typing import I64, BoolArray
from ingestion.synthetic.hard.config import BenignKind
from ingestion.synthetic.hard.events import (
    CARD_FAMILY,
    CARD_PERSONAL,
    DAY,
    DEV_BRANCH,
    DEV_CALL_CENTRE,
    HOUR,
    IP_BANK,
    IP_HOME,
    IP_HOTEL,
    IP_WIFI,
    LOGIN,
    MINUTE,
    PAYMENT,
    SIGNUP,
    TRANSFER,
    WEEK,
    EventBatch,
    code,
    events,
    kind_of,
    money,
    sorted_uniforms,
)
from ingestion.synthetic.hard.world import (
    CELLULAR,
    DEVELOPER,
    FAKE,
    HH_FAMILY_CARD,
    HH_FAMILY_DEVICE,
    MOBILE_ONLY,
    SECOND_DEVICE,
    STUDENT,
    VPN_USER,
    World,
)

__all__ = [
    "device_for",
    "diurnal_times",
    "everyday",
    "ip_for",
    "one_offs",
    "popular_merchants",
    "recurring",
    "signups",
]

#: Relative activity by local hour (US Eastern), midnight first.
_DIURNAL: Final = (
    0.3, 0.15, 0.1, 0.08, 0.1, 0.2, 0.5, 0.9, 1.1, 1.2, 1.2, 1.25,
    1.4, 1.3, 1.2, 1.2, 1.25, 1.35, 1.4, 1.45, 1.4, 1.2, 0.9, 0.6,
)  # fmt: skip
_P_LOGIN: Final = 0.5
_P_PAYMENT: Final = 0.38
_ONLINE_PAYMENTS: Final = 0.4
PAYROLL, RENT, HOUSEHOLD = range(3)


def diurnal_times(rng: np.random.Generator, t0: int, t1: int, count: int) -> I64:
    """``count`` sorted times in ``[t0, t1)`` following the daily rhythm."""
    first = t0 - t0 % HOUR
    grid = np.arange(first, t1 + HOUR, HOUR, dtype=np.int64)
    hour = ((grid[:-1] // HOUR) - 5) % 24
    width = (np.minimum(grid[1:], t1) - np.maximum(grid[:-1], t0)).clip(0).astype(np.float64)
    mass = np.asarray(_DIURNAL)[hour] * width
    cumulative = np.concatenate([[0.0], np.cumsum(mass)])
    draw = sorted_uniforms(rng, count) * cumulative[-1]
    edges = np.concatenate([[t0], np.minimum(grid[1:], t1)]).astype(np.float64)
    ts: I64 = np.clip(np.interp(draw, cumulative, edges).astype(np.int64), t0, t1 - 1)
    return ts


def device_for(world: World, account: I64, ts: I64, rng: np.random.Generator) -> I64:
    """The device of each app or web event: mostly the phone."""
    person = world.person[account].astype(np.int64)
    flags = world.flags[account]
    u = rng.random(account.size)
    device = world.phone_device(person, ts)
    second = ((flags & SECOND_DEVICE) != 0) & (u < 0.3)
    device = np.where(second, world.second_device(person), device)
    developer = ((flags & DEVELOPER) != 0) & (u < 0.12)
    return np.where(developer, world.emulator(person), device)


def ip_for(world: World, account: I64, ts: I64, phone: BoolArray, rng: np.random.Generator) -> I64:
    """The IP of each app or web event: home, carrier NAT, office, campus or VPN."""
    n = account.size
    household = world.household[account].astype(np.int64)
    flags = world.flags[account]
    u = rng.random((4, n))
    mobile_only = (flags & MOBILE_ONLY) != 0
    ip = world.home_ip(household, ts)
    nat = ((flags & CELLULAR) != 0) & (phone | mobile_only) & (mobile_only | (u[0] < 0.35))
    ip = np.where(nat, world.nat_ip(account, ts), ip)
    weekday, hour = world.local_clock(household, ts)
    working = (weekday < 5) & (hour >= 9) & (hour < 18)
    office = (world.office[account] >= 0) & working & (u[1] < 0.65)
    ip[office] = world.office_ip(world.office[account[office]].astype(np.int64), rng)
    campus = (world.campus[account] >= 0) & (weekday < 5) & (hour >= 8) & (hour < 22)
    campus &= world.in_term(ts) & (u[2] < 0.6)
    ip[campus] = world.campus_ip(world.campus[account[campus]].astype(np.int64), rng)
    vpn = ((flags & VPN_USER) != 0) & (u[3] < 0.75)
    ip = np.where(vpn, world.vpn_ip(account, ts), ip)
    nat &= ~(office | campus | vpn)
    world.mark(BenignKind.CARRIER_NAT, account[nat])
    world.mark(BenignKind.OFFICE, account[office & ~vpn])
    world.mark(BenignKind.CAMPUS, account[campus & ~vpn])
    world.mark(BenignKind.VPN, account[vpn])
    return ip


def _is_phone(world: World, device: I64, person: I64) -> BoolArray:
    return device < world.second_device(person)


def signups(world: World, account: I64, rng: np.random.Generator) -> EventBatch:
    """Signup events carrying every contact detail, on the device and network used.

    Parameters
    ----------
    world : World
    account : ndarray of int64
        Accounts signing up (their ``created`` time is the event time).
    rng : numpy.random.Generator

    Returns
    -------
    EventBatch
        One signup per account, in the order given.
    """
    n = account.size
    ts = world.created[account]
    person = world.person[account].astype(np.int64)
    device = world.phone_device(person, ts)
    web = ((world.flags[account] & SECOND_DEVICE) != 0) & (rng.random(n) < 0.3)
    device = np.where(web, world.second_device(person), device)
    ip = np.zeros(n, np.int64)
    # Branch sign-ups happen on the branch tablet and network, students' on the campus
    # network during term; everyone else signs up wherever they are.
    tablet = world.branch_device[account].astype(np.int64)
    branch = tablet >= 0
    device[branch] = code(DEV_BRANCH, tablet[branch])
    ip[branch] = code(IP_BANK, 16 + tablet[branch] // 2)
    student = ((world.flags[account] & STUDENT) != 0) & world.in_term(ts)
    at = np.flatnonzero(student)
    ip[at] = world.campus_ip(world.campus[account[at]].astype(np.int64), rng)
    world.mark(BenignKind.CAMPUS, account[at])
    at = np.flatnonzero(~branch & ~student)
    ip[at] = ip_for(world, account[at], ts[at], ~web[at], rng)
    return events(
        account,
        ts,
        SIGNUP,
        device=device,
        ip=ip,
        phone=world.phone[account],
        email=world.email[account],
        address=world.address[account],
    )


def everyday(world: World, t0: int, t1: int, rng: np.random.Generator) -> EventBatch:
    """Logins, card payments and transfers of alive accounts in ``[t0, t1)``.

    Parameters
    ----------
    world : World
    t0, t1 : int
        The time range, microseconds since the epoch.
    rng : numpy.random.Generator

    Returns
    -------
    EventBatch
        About ``world.rate`` times the alive accounts' weight times ``t1 - t0`` events,
        none before an account's signup or after its closure.

    Notes
    -----
    O(E log A) for E events and A accounts (one weighted lookup per event).
    """
    n_alive = int(np.searchsorted(world.created, t1))
    if n_alive == 0:
        return EventBatch.concat([])
    total = float(world.cumulative_weight[n_alive - 1])
    k = int(rng.poisson(world.rate * total * (t1 - t0)))
    draw = sorted_uniforms(rng, k) * total
    account = np.searchsorted(world.cumulative_weight, draw, side="right").astype(np.int64)
    np.minimum(account, n_alive - 1, out=account)
    rng.shuffle(account)
    ts = diurnal_times(rng, t0, t1, k)
    alive = (ts > world.created[account]) & (ts < world.closed[account])
    account, ts = account[alive], ts[alive]
    k = account.size
    u = rng.random(k)
    etype = np.where(u < _P_LOGIN, LOGIN, np.where(u < _P_LOGIN + _P_PAYMENT, PAYMENT, TRANSFER))
    batch = events(account, ts, etype)
    person = world.person[account].astype(np.int64)
    household = world.household[account].astype(np.int64)

    online = (etype != PAYMENT) | (rng.random(k) < _ONLINE_PAYMENTS)
    rows = np.flatnonzero(online)
    device = device_for(world, account[rows], ts[rows], rng)
    phone = _is_phone(world, device, person[rows])
    ip = ip_for(world, account[rows], ts[rows], phone, rng)
    home = kind_of(ip) == IP_HOME
    family = (
        (etype[rows] == LOGIN)
        & home
        & ((world.hh_flags[household[rows]] & HH_FAMILY_DEVICE) != 0)
        & (rng.random(rows.size) < 0.3)
    )
    device[family] = world.family_device(household[rows[family]])
    world.mark(BenignKind.FAMILY_DEVICE, account[rows[family]])
    batch.device[rows] = device
    batch.ip[rows] = ip

    rows = np.flatnonzero(etype == PAYMENT)
    _payments(world, batch, rows, household[rows], person[rows], rng)
    rows = np.flatnonzero(etype == TRANSFER)
    batch.counterparty[rows] = _payees(world, account[rows], ts[rows], rng)
    batch.amount[rows] = money(np.minimum(rng.lognormal(math.log(90), 1.1, rows.size), 8_000))

    rows = np.flatnonzero(etype == LOGIN)
    typed = rows[rng.random(rows.size) < 0.06]
    batch.email[typed] = world.email[account[typed]]
    otp = rows[rng.random(rows.size) < 0.04]
    batch.phone[otp] = world.phone[account[otp]]
    valid = (etype != TRANSFER) | (batch.counterparty >= 0)
    return batch.take(np.flatnonzero(valid)) if not valid.all() else batch


def _payments(
    world: World,
    batch: EventBatch,
    rows: I64,
    household: I64,
    person: I64,
    rng: np.random.Generator,
) -> None:
    """Card, merchant, amount and (for some online payments) billing address."""
    k = rows.size
    cards = 1 + (world.habits(person) < 0.4)
    slot = (rng.random(k) * cards).astype(np.int64)
    card = code(CARD_PERSONAL, person * 4 + slot)
    family = ((world.hh_flags[household] & HH_FAMILY_CARD) != 0) & (rng.random(k) < 0.35)
    card[family] = code(CARD_FAMILY, household[family])
    world.mark(BenignKind.FAMILY_CARD, batch.account[rows[family]])
    batch.card[rows] = card
    batch.merchant[rows] = popular_merchants(world, rng, k)
    batch.amount[rows] = money(np.minimum(rng.lognormal(math.log(32), 1.0, k), 3_000))
    billing = rows[(batch.device[rows] >= 0) & (rng.random(k) < 0.12)]
    batch.address[billing] = world.address[batch.account[billing]]


def popular_merchants(world: World, rng: np.random.Generator, count: int) -> I64:
    """Merchants drawn by Zipf popularity, in random order."""
    drawn = np.searchsorted(world.merchant_cdf, sorted_uniforms(rng, count), side="right")
    rng.shuffle(drawn)
    return np.minimum(drawn, world.n_merchants - 1).astype(np.int64)


def _payees(world: World, account: I64, ts: I64, rng: np.random.Generator) -> I64:
    """Transfer counterparties that exist at ``ts``: a household member or one of
    three regular payees among older accounts; -1 where there is none."""
    household = world.household[account]
    relative = world.other_member(account, rng)
    at_home = (world.hh_size[household] > 1) & (rng.random(account.size) < 0.4)
    at_home &= (relative != account) & (world.created[relative] < ts)
    slot = account * 4 + rng.integers(0, 3, account.size)
    regular = (slot * 2_654_435_761 + world.salts["profile"] % 1_000_003) % np.maximum(account, 1)
    payee = np.where(at_home, relative, regular)
    return np.where((payee == account) | (world.created[payee] >= ts), -1, payee)


def recurring(world: World, t0: int, t1: int, rng: np.random.Generator) -> EventBatch:
    """Pay, rent and household transfers due in ``[t0, t1)``; no device or IP (they
    run in the core banking batch).

    Parameters
    ----------
    world : World
    t0, t1 : int
        The time range, microseconds since the epoch.
    rng : numpy.random.Generator
        Draws small variations of pay.

    Returns
    -------
    EventBatch
        One transfer per order occurrence in the range while both ends are open.

    Notes
    -----
    O(orders + occurrences).
    """
    orders = world.orders
    first = np.maximum(0, -((orders.phase - t0) // orders.period))
    last = np.maximum(0, -((orders.phase - t1) // orders.period))
    count = last - first
    index = np.repeat(np.arange(count.size), count)
    k = first[index] + np.arange(index.size) - np.repeat(np.cumsum(count) - count, count)
    ts = orders.phase[index] + k * orders.period[index]
    payroll = orders.kind[index] == PAYROLL
    weekday = (ts // DAY + 3) % 7
    ts -= np.where(payroll & (weekday >= 5), (weekday - 4) * DAY, 0)
    src = orders.src[index].astype(np.int64)
    dst = orders.dst[index].astype(np.int64)
    alive = (world.created[src] < ts) & (ts < world.closed[src]) & (world.created[dst] < ts)
    alive &= (ts >= t0) & (ts < t1)
    index, ts, src, dst, payroll = index[alive], ts[alive], src[alive], dst[alive], payroll[alive]
    amount = orders.amount[index] * np.where(payroll, rng.normal(1.0, 0.03, index.size), 1.0)
    for kind, which in ((BenignKind.PAYROLL, PAYROLL), (BenignKind.LANDLORD, RENT)):
        fired = orders.kind[index] == which
        world.mark(kind, src[fired])
        world.mark(kind, dst[fired])
        world.order_fired[index[fired]] = True
    return events(src, ts, TRANSFER, counterparty=dst, amount=money(amount))


def one_offs(world: World, rng: np.random.Generator) -> EventBatch:
    """Hotspot and hotel logins, call-centre sessions and small sellers' sales.

    Parameters
    ----------
    world : World
        Its ``pairs`` receive each group's members (visitors, customers served, sellers
        with their savings accounts and buyers).
    rng : numpy.random.Generator

    Returns
    -------
    EventBatch
        Every one-off event of the period, sorted by time.
    """
    batches = [
        _visits(world, rng, BenignKind.PUBLIC_WIFI, IP_WIFI, world.config.public_wifi_fraction,
                world.config.public_wifi_users_per_venue),
        _visits(world, rng, BenignKind.HOTEL_WIFI, IP_HOTEL, world.config.hotel_wifi_fraction,
                world.config.hotel_wifi_users_per_hotel),
        _call_centre(world, rng),
        _sales(world, rng),
    ]  # fmt: skip
    return EventBatch.concat(batches).sorted()


def _active_time(world: World, account: I64, rng: np.random.Generator, margin: int) -> I64:
    """A time while each account is open, at least ``margin`` after its signup."""
    low = world.created[account] + margin
    high = np.maximum(world.closed[account], low + 1)
    return low + (rng.random(account.size) * (high - low)).astype(np.int64)


def _visitors(world: World, rng: np.random.Generator, fraction: float) -> I64:
    real = np.flatnonzero((world.flags & FAKE) == 0)
    return real[rng.random(real.size) < fraction]


def _visits(
    world: World,
    rng: np.random.Generator,
    kind: BenignKind,
    ip_kind: int,
    fraction: float,
    per_venue: int,
) -> EventBatch:
    """One or two logins of transient users from a venue's Wi-Fi."""
    users = _visitors(world, rng, fraction)
    venues = max(1, math.ceil(users.size / per_venue))
    venue = rng.integers(0, venues, users.size)
    world.pairs[kind] = (users, venue.astype(np.int64))
    twice = rng.random(users.size) < 0.3
    account = np.concatenate([users, users[twice]])
    first = _active_time(world, users, rng, HOUR)
    gap = rng.random(int(twice.sum())) * (2 * DAY if kind is BenignKind.HOTEL_WIFI else HOUR)
    ts = np.concatenate([first, first[twice] + 10 * MINUTE + gap.astype(np.int64)])
    ts = np.minimum(ts, world.closed[account] - 1)
    where = np.concatenate([venue, venue[twice]])
    device = device_for(world, account, ts, rng)
    return events(account, ts, LOGIN, device=device, ip=code(ip_kind, where))


def _call_centre(world: World, rng: np.random.Generator) -> EventBatch:
    """Agents logging in for customers on call-centre workstations; some transfers."""
    customers = _visitors(world, rng, world.config.call_centre_fraction)
    sessions = 1 + rng.poisson(0.6, customers.size)
    account = np.repeat(customers, sessions)
    ts = _active_time(world, account, rng, DAY)
    ts = ts - ts % DAY + 13 * HOUR + (rng.random(account.size) * 10 * HOUR).astype(np.int64)
    ts = np.clip(ts, world.created[account] + HOUR, world.closed[account] - 1)
    device = rng.integers(0, world.n_call_centre_devices, account.size)
    world.pairs[BenignKind.CALL_CENTRE] = (account, device)
    login = events(
        account,
        ts,
        LOGIN,
        device=code(DEV_CALL_CENTRE, device),
        ip=code(IP_BANK, rng.integers(0, 2, account.size)),
    )
    helped = np.flatnonzero(rng.random(account.size) < 0.3)
    payee = _payees(world, account[helped], ts[helped], rng)
    helped, payee = helped[payee >= 0], payee[payee >= 0]
    transfer = login.take(helped)
    transfer.etype[:] = TRANSFER
    transfer.ts += (rng.random(helped.size) * 8 * MINUTE).astype(np.int64) + MINUTE
    transfer.counterparty = payee
    transfer.amount = money(rng.lognormal(math.log(250), 0.9, helped.size))
    return EventBatch.concat([login, transfer])


def _sales(world: World, rng: np.random.Generator) -> EventBatch:
    """Buyers paying small sellers by transfer, and weekly sweeps to the seller's savings."""
    config = world.config
    sellers, savings = world.sellers, world.savings
    low, high = config.p2p_buyers
    counts = np.exp(rng.uniform(math.log(low), math.log(high + 1), sellers.size)).astype(np.int64)
    seller_of = np.repeat(np.arange(sellers.size), counts)
    buyer = rng.integers(0, world.n, seller_of.size)
    seller = sellers[seller_of]
    keep = (buyer != seller) & (buyer != savings[seller_of]) & ((world.flags[buyer] & FAKE) == 0)
    buyer, seller_of, seller = buyer[keep], seller_of[keep], seller[keep]
    purchases = 1 + (rng.random(buyer.size) < 0.35) + (rng.random(buyer.size) < 0.1)
    buyer, seller_of = np.repeat(buyer, purchases), np.repeat(seller_of, purchases)
    seller = sellers[seller_of]
    low_ts = np.maximum(world.created[buyer], world.created[seller]) + HOUR
    high_ts = np.minimum(world.closed[buyer], world.closed[seller])
    ok = high_ts > low_ts
    buyer, seller_of, seller = buyer[ok], seller_of[ok], seller[ok]
    ts = low_ts[ok] + (rng.random(buyer.size) * (high_ts[ok] - low_ts[ok])).astype(np.int64)
    device = device_for(world, buyer, ts, rng)
    person = world.person[buyer].astype(np.int64)
    ip = ip_for(world, buyer, ts, _is_phone(world, device, person), rng)
    amount = money(np.clip(rng.lognormal(math.log(45), 0.6, buyer.size), 5, 400))
    sales = events(buyer, ts, TRANSFER, device=device, ip=ip, counterparty=seller, amount=amount)

    week = (ts - world.start_us) // WEEK
    key, inverse = np.unique(seller_of * 1_000 + week, return_inverse=True)
    takings = np.bincount(inverse, weights=amount)
    who, when = key // 1_000, key % 1_000
    sweep_ts = world.start_us + (when + 1) * WEEK + 2 * DAY + 15 * HOUR
    sweep_ts += (rng.random(key.size) * 4 * HOUR).astype(np.int64)
    owner, target = sellers[who], savings[who]
    ok = (target >= 0) & (sweep_ts < world.closed[owner]) & (sweep_ts < world.end_us)
    ok &= sweep_ts > world.created[np.maximum(target, 0)]
    owner, target, sweep_ts = owner[ok], target[ok], sweep_ts[ok]
    device = world.phone_device(owner, sweep_ts)
    sweeps = events(
        owner,
        sweep_ts,
        TRANSFER,
        device=device,
        ip=ip_for(world, owner, sweep_ts, np.ones(owner.size, np.bool_), rng),
        counterparty=target,
        amount=money(takings[ok] * rng.uniform(0.85, 1.0, owner.size)),
    )
    group = np.arange(sellers.size, dtype=np.int64)
    has_savings = savings >= 0
    world.pairs[BenignKind.P2P_SELLER] = (
        np.concatenate([sellers, savings[has_savings], buyer]),
        np.concatenate([group, group[has_savings], seller_of]),
    )
    return EventBatch.concat([sales, sweeps])
