"""Benign sharing between people: campuses, households and families, landlords, and
ordinary friendships.

Each function picks its members among legitimate accounts, overrides the identifiers the
members share, records one :class:`~benchmarks.crosscheck.world.Group` per group, and
emits the group's own events (bill splitting, family transfers, rent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.crosscheck.geo import CAMPUS_ASNS, CAMPUS_RANGES, METROS, Network
from benchmarks.crosscheck.identities import (
    DeviceKind,
    new_addresses,
    new_devices,
    new_emails,
    new_externals,
    new_ipv4,
)
from benchmarks.crosscheck.world import (
    AUTO,
    DAY,
    I64,
    NONE,
    TERM_START_DAY,
    WINDOW_DAYS,
    WINDOW_END,
    WINDOW_START,
    EventType,
    World,
    local_time,
    skewed_sizes,
    spread_in,
)


@dataclass(frozen=True)
class Households:
    """Households as a flat member array; ``of[account]`` is its household or -1."""

    flat: I64
    start: I64
    size: I64
    of: I64

    def members(self, h: int) -> I64:
        """Members of household ``h``, head first."""
        return self.flat[self.start[h] : self.start[h] + self.size[h]]


def draw_in_metro(
    rng: np.random.Generator, world: World, free: np.ndarray, metro: int, k: int
) -> I64:
    """Up to ``k`` free accounts, from ``metro`` first, marked as taken."""
    local = np.flatnonzero(free & (world.customers.metro == metro))
    chosen = rng.permutation(local)[:k]
    if chosen.size < k:
        others = np.flatnonzero(free)
        others = others[~np.isin(others, chosen)]
        chosen = np.concatenate([chosen, rng.permutation(others)[: k - chosen.size]])
    free[chosen] = False
    return chosen.astype(np.int64)


def campuses(world: World, free: np.ndarray) -> None:
    """Students: a campus NAT egress, dorm buildings, term-start signups, bill splitting.

    About 5% of people are students at ``max(1, n / 8000)`` campuses. Six in ten open
    their account in the three weeks around term start, three quarters of those on the
    campus network and one in five at the bank's booth on campus (a ``shop_device`` group).
    """
    c = world.customers
    rng = world.rng("campus")
    n_campus = max(1, round(c.n / 8_000))
    target = 0.05 * free.sum()
    weights = rng.uniform(0.5, 1.5, n_campus)
    sizes = np.maximum(30, np.round(target * weights / weights.sum())).astype(np.int64)
    campus_net = Network("Campus", 0, "US", CAMPUS_RANGES)
    for k in range(n_campus):
        metro = int(rng.integers(0, len(METROS)))
        students = draw_in_metro(rng, world, free, metro, int(sizes[k]))
        ips = new_ipv4(
            world, campus_net, int(rng.integers(2, 5)), asn=CAMPUS_ASNS[k % len(CAMPUS_ASNS)]
        )
        c.metro[students] = metro
        c.campus_ip[students] = ips[rng.integers(0, ips.size, students.size)]
        c.cell_share[students] = np.maximum(c.cell_share[students], 0.45)
        dorm = rng.random(students.size) < 0.7
        c.home_ip[students[dorm]] = c.campus_ip[students[dorm]]
        c.next_home_ip[students[dorm]] = NONE
        c.home_ip_switch_ts[students[dorm]] = WINDOW_END + DAY
        buildings = new_addresses(world, np.full(int(rng.integers(2, 6)), metro), unit_share=0.0)
        residents = students[dorm]
        rooms = rng.integers(1, 6, residents.size) * 100 + rng.integers(1, 40, residents.size)
        c.address[residents] = new_addresses(
            world,
            np.full(residents.size, metro),
            building=buildings[rng.integers(0, buildings.size, residents.size)],
            units=rooms.astype(str).astype(object),
        )
        fresh = students[rng.random(students.size) < 0.6]
        day = TERM_START_DAY - 7 + np.minimum(rng.gamma(2.0, 3.5, fresh.size), 24).astype(np.int64)
        c.open_ts[fresh] = local_time(rng, day, metro)
        on_campus = rng.random(fresh.size) < 0.75
        c.signup_ip[fresh[on_campus]] = c.campus_ip[fresh[on_campus]]
        at_booth = fresh[rng.random(fresh.size) < 0.2]
        booth = new_devices(world, [DeviceKind.IPAD])
        c.signup_device[at_booth] = booth[0]
        c.signup_ip[at_booth] = ips[0]
        world.add_group("campus", k, students)
        world.add_group("shop_device", 90_000 + k, at_booth)
        _campus_splits(world, rng, students)


def _campus_splits(world: World, rng: np.random.Generator, students: I64) -> None:
    """Each student splits bills with three classmates: small, frequent transfers."""
    c = world.customers
    k = 3
    payer = np.repeat(students, k)
    mate = students[rng.integers(0, students.size, payer.size)]
    keep = payer != mate
    payer, mate = payer[keep], mate[keep]
    counts = rng.poisson(2.0, payer.size)
    account = np.repeat(payer, counts)
    other = np.repeat(mate, counts)
    lo = np.maximum(np.maximum(c.open_ts[account], c.open_ts[other]), WINDOW_START) + 3_600
    ts = spread_in(rng, lo, WINDOW_END - 1, c.metro[account])
    cents = np.round(1_800 * np.exp(rng.normal(0, 0.6, account.size))).astype(np.int64)
    world.events.add(
        ts,
        EventType.TRANSFER,
        account=account,
        device=AUTO,
        ip=AUTO,
        counterparty=other,
        cents=np.maximum(300, cents),
        currency=0,
    )


def households(world: World, free: np.ndarray) -> Households:
    """Households of two to five people: one home address and broadband line, transfers.

    About 48% of the remaining people live with another customer of the bank. Members
    send each other money about once a month; three in ten households with children pay
    a weekly allowance.
    """
    c = world.customers
    rng = world.rng("household")
    pool = rng.permutation(np.flatnonzero(free))
    quota = int(0.48 * pool.size)
    sizes = rng.choice(np.array([2, 3, 4, 5]), size=quota // 2 + 1, p=[0.55, 0.22, 0.16, 0.07])
    sizes = sizes[np.cumsum(sizes) <= quota]
    flat = pool[: sizes.sum()]
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    hh = np.repeat(np.arange(sizes.size), sizes)
    head = flat[start][hh]
    free[flat] = False
    for name in ("metro", "address", "home_ip", "next_home_ip", "home_ip_switch_ts", "carrier"):
        column = getattr(c, name)
        column[flat] = column[head]
    of = np.full(c.n, NONE, dtype=np.int64)
    of[flat] = hh
    homes = Households(flat, start, sizes.astype(np.int64), of)
    for h in range(sizes.size):
        world.add_group("household", h, homes.members(h))
    _family_transfers(world, rng, homes)
    _family_sharing(world, rng, homes)
    return homes


def _family_transfers(world: World, rng: np.random.Generator, homes: Households) -> None:
    """Money between household members, and weekly allowances to children."""
    c = world.customers
    position = np.arange(homes.flat.size) - np.repeat(homes.start, homes.size)
    size = np.repeat(homes.size, homes.size)
    counts = rng.poisson(5.0, homes.flat.size)
    sender_pos = np.repeat(np.arange(homes.flat.size), counts)
    shift = 1 + (rng.random(sender_pos.size) * (size[sender_pos] - 1)).astype(np.int64)
    receiver_pos = (
        sender_pos - position[sender_pos] + (position[sender_pos] + shift) % size[sender_pos]
    )
    account, other = homes.flat[sender_pos], homes.flat[receiver_pos]
    lo = np.maximum(np.maximum(c.open_ts[account], c.open_ts[other]), WINDOW_START) + 3_600
    ts = spread_in(rng, lo, WINDOW_END - 1, c.metro[account])
    cents = np.round(8_000 * np.exp(rng.normal(0, 0.9, account.size))).astype(np.int64)
    world.events.add(
        ts,
        EventType.TRANSFER,
        account=account,
        device=AUTO,
        ip=AUTO,
        counterparty=other,
        cents=np.maximum(500, cents // 100 * 100),
        currency=0,
    )
    with_kids = np.flatnonzero((homes.size >= 3) & (rng.random(homes.size.size) < 0.3))
    parent, child = homes.flat[homes.start[with_kids]], homes.flat[homes.start[with_kids] + 2]
    weeks = np.arange(WINDOW_DAYS // 7)
    account = np.repeat(parent, weeks.size)
    other = np.repeat(child, weeks.size)
    day = np.tile(weeks * 7 + 4, parent.size)
    ts = local_time(rng, day, c.metro[account], hours=(17.0, 21.0))
    keep = ts > np.maximum(c.open_ts[account], c.open_ts[other])
    allowance = np.repeat(
        rng.choice(np.array([1_000, 2_000, 2_500, 4_000, 5_000]), parent.size), weeks.size
    )
    world.events.add(
        ts[keep],
        EventType.TRANSFER,
        account=account[keep],
        device=AUTO,
        ip=AUTO,
        counterparty=other[keep],
        cents=allowance[keep],
        currency=0,
    )


def _family_sharing(world: World, rng: np.random.Generator, homes: Households) -> None:
    """Family tablet, authorised-user card, and the family phone or email."""
    c = world.customers
    n_homes = homes.size.size
    tablet_homes = np.flatnonzero(rng.random(n_homes) < 0.22)
    tablets = new_devices(
        world,
        rng.choice(
            np.array([DeviceKind.IPAD, DeviceKind.ANDROID_TABLET, DeviceKind.WINDOWS]),
            size=tablet_homes.size,
            p=[0.55, 0.2, 0.25],
        ),
    )
    for number, (h, tablet) in enumerate(zip(tablet_homes, tablets, strict=True)):
        members = homes.members(int(h))[: int(rng.integers(2, 4))]
        c.family_device[members] = tablet
        # A parent opens the younger member's account on the parent's own phone.
        if c.open_ts[members[-1]] >= WINDOW_START and rng.random() < 0.5:
            c.signup_device[members[-1]] = c.device[members[0]]
        world.add_group("family_device", number, members)
    for h in np.flatnonzero(rng.random(n_homes) < 0.12):
        members = homes.members(int(h))[:2]
        c.shared_card[members[1]] = c.card[members[0]]
        world.add_group("family_card", int(h), members)
    phone_homes = np.flatnonzero(rng.random(n_homes) < 0.07)
    # Four in ten of these families also give the bank one shared family email.
    family_emails = new_emails(world, phone_homes.size)
    with_email = rng.random(phone_homes.size) < 0.4
    for h, email, shared in zip(phone_homes, family_emails, with_email, strict=True):
        members = homes.members(int(h))[-2:]
        c.phone[members[1]] = c.phone[members[0]]
        if shared:
            c.email[members] = email
        world.add_group("family_phone", int(h), members)


def landlords(world: World, free: np.ndarray, homes: Households) -> None:
    """Small landlords collecting rent from tenants living in units of one building.

    About 0.4% of people let 2 to 30 units; each tenant household's address becomes its
    unit, and its head pays the same rent early every month.
    """
    c = world.customers
    rng = world.rng("landlord")
    people = world.legit_individuals()
    owners = rng.choice(people, size=max(1, round(0.004 * people.size)), replace=False)
    tenant_ok = np.zeros(c.n, dtype=np.bool_)
    tenant_ok[people] = True
    tenant_ok[owners] = False
    tenant_ok &= c.campus_ip == NONE
    in_home = homes.of != NONE
    tenant_ok[in_home] &= homes.flat[homes.start[homes.of[in_home]]] == np.flatnonzero(in_home)
    months = np.arange(6)
    for k, owner in enumerate(owners):
        metro = int(c.metro[owner])
        size = int(skewed_sizes(rng, 1, 2, 30, 2.0)[0])
        tenants = draw_in_metro(rng, world, tenant_ok, metro, size)
        building = new_addresses(world, [metro], unit_share=0.0)[0]
        floors = rng.permutation(np.arange(1, 40))[: tenants.size]
        units = np.where(
            rng.random(tenants.size) < 0.5,
            floors.astype(str),
            (floors // 4 + 1).astype(str) + np.array(list("ABCD"))[floors % 4],
        )
        unit_rows = new_addresses(
            world, np.full(tenants.size, metro), building=building, units=units.astype(object)
        )
        for tenant, unit in zip(tenants, unit_rows, strict=True):
            h = homes.of[tenant]
            household = homes.members(int(h)) if h != NONE else np.array([tenant])
            c.address[household] = unit
            c.metro[household] = metro
        rent = np.round(rng.uniform(900, 2_600, tenants.size) / 25) * 2_500
        account = np.repeat(tenants, months.size)
        day = np.tile(
            np.array([29, 60, 91, 121, 152, 182]) + rng.integers(0, 5, months.size), tenants.size
        )
        ts = local_time(rng, day, metro)
        keep = (ts > c.open_ts[account]) & (ts > c.open_ts[owner]) & (ts < WINDOW_END)
        world.events.add(
            ts[keep],
            EventType.TRANSFER,
            account=account[keep],
            device=AUTO,
            ip=AUTO,
            counterparty=owner,
            cents=np.repeat(rent.astype(np.int64), months.size)[keep],
            currency=0,
        )
        mortgage = new_externals(world, 1)[0]
        pay_day = np.array([33, 63, 94, 124, 155])
        ts = local_time(rng, pay_day, metro)
        world.events.add(
            ts[ts > c.open_ts[owner]],
            EventType.TRANSFER,
            account=owner,
            device=AUTO,
            ip=AUTO,
            counterparty=mortgage,
            cents=int(rent.sum() * 0.7),
            currency=0,
        )
        world.add_group("landlord", k, np.concatenate([[owner], tenants]))


def befriend(world: World) -> None:
    """Ordinary friendships behind occasional P2P transfers: about 1.2 per person."""
    c = world.customers
    rng = world.rng("friends")
    people = world.legit_individuals()
    a = np.repeat(people, rng.poisson(0.6, people.size))
    by_metro = np.argsort(c.metro[people], kind="stable")
    sorted_people = people[by_metro]
    starts = np.searchsorted(c.metro[sorted_people], np.arange(len(METROS)))
    ends = np.searchsorted(c.metro[sorted_people], np.arange(len(METROS)), side="right")
    m = c.metro[a].astype(np.int64)
    local = sorted_people[
        np.minimum(
            starts[m] + (rng.random(a.size) * (ends[m] - starts[m])).astype(np.int64),
            people.size - 1,
        )
    ]
    b = np.where(rng.random(a.size) < 0.8, local, people[rng.integers(0, people.size, a.size)])
    keep = a != b
    world.friends.append((a[keep], b[keep]))
