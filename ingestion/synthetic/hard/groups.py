"""Benign structure of the hard profile's world: households, identities and groups.

:func:`build_world` turns a :class:`~ingestion.synthetic.hard.world.Draft` into a
:class:`~ingestion.synthetic.hard.world.World`: it partitions accounts into households
(members join at unrelated times), gives each account its phone, mailbox and address
(some shared within the household), its habits (mobile-only, cellular, VPN, developer),
and draws the sharing groups: offices, campuses, employers paying staff, landlords and
tenants, small sellers with their own savings account, and the household standing
orders (allowances, rent shares).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from graph_service.typing import I64
from ingestion.synthetic.hard.config import BenignKind, HardScenarioConfig
from ingestion.synthetic.hard.events import DAY, HOUR
from ingestion.synthetic.hard.tables import CITIES, COUNTRY_INDEX, US, VPN_NETWORKS
from ingestion.synthetic.hard.world import (
    CELLULAR,
    CITY_DST,
    CITY_OFFSETS,
    COUNTRY_DST,
    COUNTRY_OFFSETS,
    DEVELOPER,
    FAKE,
    HH_FAMILY_CARD,
    HH_FAMILY_DEVICE,
    HH_FAMILY_EMAIL,
    HH_FAMILY_PHONE,
    HH_IPV6,
    MOBILE_ONLY,
    SECOND_DEVICE,
    STUDENT,
    VPN_USER,
    Draft,
    StandingOrders,
    World,
    domains,
    foreign_phone_country,
)
from ingestion.synthetic.hashing import hashed_below, hashed_unit

__all__ = ["build_world"]

MONTH: Final = int(30.436875 * DAY)
#: Pay frequencies of US employers: biweekly, semi-monthly, monthly (shares 50/20/30).
_PAY_PERIODS: Final = (14 * DAY, MONTH // 2, MONTH)
_PAY_SHARES: Final = (0.5, 0.2, 0.3)
#: Median net pay per period, by frequency (US median weekly earnings ~ $1,150).
_PAY_MEDIANS: Final = (1_650.0, 1_800.0, 3_600.0)
PAYROLL, RENT, HOUSEHOLD = range(3)


def build_world(config: HardScenarioConfig, draft: Draft, rng: np.random.Generator) -> World:
    """Sort accounts by signup and draw households, identities and sharing groups.

    Parameters
    ----------
    config : HardScenarioConfig
    draft : Draft
        Accounts after ring planning (ring members already marked).
    rng : numpy.random.Generator

    Returns
    -------
    World
        Accounts numbered by signup time, with households, identities, groups,
        standing orders and the everyday activity rate.

    Notes
    -----
    O(A log A) for A accounts (one sort); everything else is O(A).
    """
    world = World(config, draft)
    _households(world, rng)
    _identities(world, rng)
    _offices_and_campuses(world, rng)
    world.orders = _standing_orders(world, rng)
    world.order_fired = np.zeros(world.orders.src.size, np.bool_)
    _sellers(world, rng)
    _activity_rate(world)
    return world


def _sizes(rng: np.random.Generator, total: int, low: int, high: int) -> I64:
    """Group sizes, log-uniform in ``[low, high]``, adding up to ``total``."""
    if total <= 0:
        return np.zeros(0, np.int64)
    draws = np.exp(rng.uniform(math.log(low), math.log(high + 1), total // low + 1))
    sizes = np.minimum(draws.astype(np.int64), high)
    cumulative = np.cumsum(sizes)
    count = int(np.searchsorted(cumulative, total)) + 1
    sizes = sizes[:count].copy()
    sizes[-1] -= int(cumulative[count - 1]) - total
    if sizes.size > 1 and sizes[-1] < low:
        sizes[-2] += sizes[-1]
        sizes = sizes[:-1]
    return sizes


def _households(world: World, rng: np.random.Generator) -> None:
    """Partition accounts into households; fake identities live alone."""
    config = world.config
    fake = (world.flags & FAKE) != 0
    real = rng.permutation(np.flatnonzero(~fake)).astype(np.int32)
    weights = np.asarray(config.household_size_weights)
    sizes = rng.choice(np.arange(1, 7), real.size, p=weights / weights.sum()).astype(np.int32)
    cumulative = np.cumsum(sizes)
    count = int(np.searchsorted(cumulative, real.size)) + 1 if real.size else 0
    sizes = sizes[:count]
    if count:
        sizes[-1] -= int(cumulative[count - 1]) - real.size
    alone = np.flatnonzero(fake).astype(np.int32)
    world.hh_size = np.concatenate([sizes, np.ones(alone.size, np.int32)])
    world.member_at = np.concatenate([real, alone])
    world.hh_start = np.cumsum(world.hh_size, dtype=np.int64) - world.hh_size
    households = world.hh_size.size
    world.household[world.member_at] = np.repeat(
        np.arange(households, dtype=np.int32), world.hh_size
    )

    codes = [COUNTRY_INDEX[c] for c, _ in config.country_weights]
    shares = np.asarray([w for _, w in config.country_weights])
    world.hh_country = np.asarray(codes, np.int8)[
        rng.choice(len(codes), households, p=shares / shares.sum())
    ]
    world.hh_local = np.zeros(households, np.int32)
    for country in np.unique(world.hh_country):
        rows = np.flatnonzero(world.hh_country == country)
        world.hh_local[rows] = np.arange(rows.size, dtype=np.int32)
    city = address_city(world, np.arange(households, dtype=np.int64))
    us = world.hh_country == US
    world.hh_utc_offset = np.where(us, CITY_OFFSETS[city], COUNTRY_OFFSETS[world.hh_country])
    world.hh_dst = np.where(us, CITY_DST[city], COUNTRY_DST[world.hh_country])
    low, high = config.home_ip_lease_days
    world.hh_lease = rng.integers(low, high + 1, households).astype(np.int64) * DAY
    world.hh_phase = (rng.random(households) * world.hh_lease).astype(np.int64)

    shared = world.hh_size >= 2
    u = rng.random((4, households))
    flags = np.where(u[0] < config.ipv6_home_fraction, HH_IPV6, 0)
    flags |= np.where(shared & (u[1] < config.family_device_fraction), HH_FAMILY_DEVICE, 0)
    flags |= np.where(shared & (u[2] < config.family_card_fraction), HH_FAMILY_CARD, 0)
    family_contact = shared & (u[3] < config.family_phone_fraction)
    # Three in five share a (land)line, the others a family mailbox.
    by_phone = u[3] < 0.6 * config.family_phone_fraction
    flags |= np.where(family_contact & by_phone, HH_FAMILY_PHONE, 0)
    flags |= np.where(family_contact & ~by_phone, HH_FAMILY_EMAIL, 0)
    world.hh_flags = flags.astype(np.uint8)
    members = world.member_at[np.repeat(shared, world.hh_size)].astype(np.int64)
    world.mark(BenignKind.HOUSEHOLD, members)


def address_city(world: World, address: I64) -> I64:
    """City index of address codes (the rest of the address is drawn at render time)."""
    return world.scramble_address(address) % len(CITIES)


def _identities(world: World, rng: np.random.Generator) -> None:
    """Country, phone, mailbox, address, habits, carrier and VPN provider of accounts."""
    config = world.config
    n = world.n
    accounts = np.arange(n, dtype=np.int64)
    household = world.household.astype(np.int64)
    world.country = world.hh_country[household]
    world.address = household.copy()

    phone_country = world.country.astype(np.int64)
    foreign = (world.country == US) & (rng.random(n) < config.foreign_phone_fraction)
    phone_country[foreign] = foreign_phone_country(rng.random(int(foreign.sum())))
    for country in np.unique(phone_country):
        rows = np.flatnonzero(phone_country == country)
        world.phone[rows] = world.new_phones(int(country), rows.size)
    world.email = world.email_of(accounts, domains(hashed_unit(accounts, world.salts["emails"])))

    head = world.member_at[world.hh_start].astype(np.int64)
    flags = world.hh_flags[household]
    for bit, column in ((HH_FAMILY_PHONE, world.phone), (HH_FAMILY_EMAIL, world.email)):
        rows = np.flatnonzero((flags & bit) != 0)
        column[rows] = column[head[household[rows]]]
    contact = np.flatnonzero((flags & (HH_FAMILY_PHONE | HH_FAMILY_EMAIL)) != 0)
    world.mark(BenignKind.FAMILY_PHONE, contact)

    # Usual spellings: most people write their email in lower case and their address
    # the way the USPS does; see ``render`` for the variant codes.
    u = rng.random(n)
    world.email_pin = np.select([u < 0.75, u < 0.85, u < 0.9, u < 0.95], [0, 1, 3, 4], 6).astype(
        np.int8
    )
    world.address_pin = _address_pins(rng, n)

    u = rng.random((5, n))
    fake = (world.flags & FAKE) != 0
    mobile_only = u[0] < config.mobile_only_fraction
    cellular = ~mobile_only & (u[1] < config.cellular_fraction)
    bits = np.where(mobile_only, MOBILE_ONLY | CELLULAR, 0) | np.where(cellular, CELLULAR, 0)
    bits |= np.where(~fake & (u[2] < config.vpn_user_fraction), VPN_USER, 0)
    bits |= np.where(~fake & (u[3] < config.developer_fraction), DEVELOPER | SECOND_DEVICE, 0)
    bits |= np.where(~mobile_only & (u[4] < 0.35), SECOND_DEVICE, 0)
    world.flags |= bits.astype(np.uint16)

    by_country: dict[int, list[int]] = {}
    for i, (country, _) in enumerate(world.carriers):
        by_country.setdefault(country, []).append(i)
    for country in np.unique(world.country):
        rows = np.flatnonzero(world.country == country)
        options = np.asarray(by_country[int(country)], np.int8)
        world.carrier[rows] = options[hashed_below(rows, world.salts["carrier"], options.size)]
    users = np.flatnonzero((world.flags & CELLULAR) != 0)
    counts = np.bincount(world.carrier[users], minlength=len(world.carriers))
    world.nat_pool = np.maximum(2, -(-counts // config.accounts_per_nat_ip)).astype(np.int64)
    vpn = np.flatnonzero((world.flags & VPN_USER) != 0)
    provider = hashed_below(vpn, world.salts["vpn"], len(VPN_NETWORKS))
    counts = np.bincount(provider, minlength=len(VPN_NETWORKS))
    world.vpn_pool = np.maximum(2, -(-counts // config.vpn_users_per_exit)).astype(np.int64)
    served = config.call_centre_fraction * n * 1.6
    world.n_call_centre_devices = max(
        2, math.ceil(served / config.call_centre_customers_per_device)
    )
    world.mark(BenignKind.SHOP_DEVICE, np.flatnonzero(world.branch_device >= 0))


def _address_pins(rng: np.random.Generator, n: int) -> npt.NDArray[np.int16]:
    """Each person's usual address spelling (a variant code, see ``render``)."""
    case = rng.choice(3, n, p=[0.45, 0.45, 0.1])
    suffix = rng.choice(3, n, p=[0.6, 0.35, 0.05])
    unit = rng.choice(5, n, p=[0.5, 0.2, 0.1, 0.1, 0.1])
    state = rng.random(n) < 0.1
    zip4 = rng.random(n) < 0.3
    direction = rng.random(n) < 0.2
    pins = case | suffix << 2 | unit << 4 | state << 7 | zip4 << 8 | direction << 9
    return pins.astype(np.int16)


def _offices_and_campuses(world: World, rng: np.random.Generator) -> None:
    """Office workers into offices, students into campuses."""
    config = world.config
    flags = world.flags
    eligible = (flags & (FAKE | STUDENT)) == 0
    workers = np.flatnonzero(eligible & (rng.random(world.n) < config.office_worker_fraction))
    sizes = _sizes(rng, workers.size, *config.office_sizes)
    world.office[rng.permutation(workers)] = np.repeat(np.arange(sizes.size), sizes)
    world.office_ips = (1 + (sizes >= 50) + (sizes >= 150)).astype(np.int8)
    students = np.flatnonzero((flags & STUDENT) != 0)
    sizes = _sizes(rng, students.size, *config.campus_sizes)
    world.campus[rng.permutation(students)] = np.repeat(np.arange(sizes.size), sizes)
    world.campus_ips = np.minimum(4, 1 + sizes // 200).astype(np.int8)


def _standing_orders(world: World, rng: np.random.Generator) -> StandingOrders:
    """Payroll, rent and household transfers as recurring orders.

    Employers and landlords are legitimate; ring members can be employees or tenants.
    """
    config = world.config
    n = world.n
    real = np.flatnonzero((world.flags & FAKE) == 0)
    legit = real[~world.is_member[real]]
    single = legit[world.hh_size[world.household[legit]] == 1]

    target = round(config.payroll_fraction * n)
    sizes = _sizes(rng, target, *config.employer_sizes)
    employers = rng.choice(single, min(sizes.size, single.size), replace=False)
    sizes = sizes[: employers.size]
    pool = np.setdiff1d(real, employers)
    employees = rng.choice(pool, min(int(sizes.sum()), pool.size), replace=False)
    sizes[-1:] -= int(sizes.sum()) - employees.size
    employer_of = np.repeat(employers, sizes)
    frequency = rng.choice(3, employers.size, p=_PAY_SHARES)
    period = np.asarray(_PAY_PERIODS, np.int64)[frequency]
    # Pay lands on a weekday morning (ACH settlement, about 06:00 Eastern).
    phase = world.start_us + (rng.random(employers.size) * period).astype(np.int64)
    phase = phase - phase % DAY + 11 * HOUR
    per_employee = np.repeat(np.arange(employers.size), sizes)
    median = np.asarray(_PAY_MEDIANS)[frequency[per_employee]]
    pay = median * rng.lognormal(0.0, 0.45, employees.size)

    landlords = rng.choice(legit, _count(config.landlord_fraction, n), replace=False)
    counts = rng.integers(
        config.landlord_tenants[0], config.landlord_tenants[1] + 1, landlords.size
    )
    pool = np.setdiff1d(real, np.concatenate([landlords, employers]))
    tenants = rng.choice(pool, min(int(counts.sum()), pool.size), replace=False)
    landlord_of = np.repeat(landlords, counts)[: tenants.size]
    rent = np.clip(rng.lognormal(math.log(1_450), 0.35, tenants.size), 600, 4_500).round(0)
    rent_day = world.start_us + rng.integers(0, 4, tenants.size) * DAY + 14 * HOUR

    shared = np.flatnonzero(world.hh_size >= 2)
    paying = shared[rng.random(shared.size) < config.household_transfer_fraction]
    payer = world.member_at[world.hh_start[paying]]
    payee = world.member_at[world.hh_start[paying] + 1]
    allowance = np.where(
        rng.random(paying.size) < 0.5,
        rng.lognormal(math.log(150), 0.5, paying.size),
        rng.lognormal(math.log(700), 0.4, paying.size),
    ).round(0)
    family_phase = world.start_us + (rng.random(paying.size) * MONTH).astype(np.int64)

    return StandingOrders(
        src=np.concatenate([employer_of, tenants, payer]).astype(np.int32),
        dst=np.concatenate([employees, landlord_of, payee]).astype(np.int32),
        amount=np.concatenate([pay, rent, allowance]),
        period=np.concatenate(
            [period[per_employee], np.full(tenants.size + paying.size, MONTH, np.int64)]
        ),
        phase=np.concatenate([phase[per_employee], rent_day, family_phase]),
        kind=np.repeat(
            np.asarray([PAYROLL, RENT, HOUSEHOLD], np.int8),
            [employees.size, tenants.size, paying.size],
        ),
    )


def _sellers(world: World, rng: np.random.Generator) -> None:
    """Small sellers and their own savings accounts (same person, same identifiers);
    both legitimate."""
    config = world.config
    real = np.flatnonzero(((world.flags & (FAKE | STUDENT)) == 0) & ~world.is_member)
    single = real[world.hh_size[world.household[real]] == 1]
    taken = np.zeros(world.n, np.bool_)
    taken[world.orders.src] = True
    count = _count(config.p2p_seller_fraction, world.n)
    sellers = np.sort(rng.choice(real[~taken[real]], count, replace=False)).astype(np.int64)
    taken[sellers] = True
    # The savings account is opened later than the seller's main account.
    candidates = single[~taken[single]]
    first = np.searchsorted(candidates, sellers, side="right")
    left = candidates.size - first
    pick = first + (rng.random(sellers.size) * left).astype(np.int64)
    savings = np.where(left > 0, candidates[np.minimum(pick, candidates.size - 1)], -1)
    _, once = np.unique(savings, return_index=True)
    repeated = np.ones(sellers.size, np.bool_)
    repeated[once] = False
    savings[repeated] = -1
    world.sellers = sellers
    world.savings = savings
    owned = savings >= 0
    own, acct = sellers[owned], savings[owned]
    world.person[acct] = own
    world.household[acct] = world.household[own]
    world.address[acct] = world.address[own]
    world.country[acct] = world.country[own]
    world.phone[acct] = world.phone[own]
    world.email[acct] = world.email[own]
    world.email_pin[acct] = world.email_pin[own]
    world.address_pin[acct] = world.address_pin[own]
    world.flags[acct] = world.flags[own]
    world.carrier[acct] = world.carrier[own]
    world.weight[acct] *= 0.2


def _count(fraction: float, n: int) -> int:
    """``round(fraction * n)``, at least one when ``fraction`` is positive."""
    return max(1 if fraction > 0 else 0, round(fraction * n))


def _activity_rate(world: World) -> None:
    """Everyday events per microsecond per unit of weight, for the configured mean."""
    world.weight[(world.flags & FAKE) != 0] *= 0.2
    alive = (world.closed - world.created).astype(np.float64)
    world.cumulative_weight = np.cumsum(world.weight)
    exposure = float(world.weight @ alive)
    world.rate = world.n * world.config.events_per_account / max(exposure, 1.0)
