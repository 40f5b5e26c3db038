"""Benign sharing of networks and devices: carrier NAT, public and hotel Wi-Fi, commercial
VPNs, the phone-banking centre and bank branch tablets.

These groups are large and unrelated: hundreds of strangers behind one carrier NAT
address, travellers passing through a hotel, customers served by the same call-centre
agent or opening their account on the same branch tablet.
"""

from __future__ import annotations

import numpy as np

from benchmarks.crosscheck.commerce import Catalogue, everyday_merchants, ticket_cents
from benchmarks.crosscheck.geo import (
    ABROAD,
    BANK,
    BUSINESS,
    CARRIERS,
    CURRENCIES,
    HOSTING,
    HOTEL_US,
    METROS,
    VPN_COUNTRIES,
)
from benchmarks.crosscheck.identities import DeviceKind, country_index, new_devices, new_ipv4
from benchmarks.crosscheck.world import (
    AUTO,
    I64,
    NONE,
    WINDOW_DAYS,
    WINDOW_START,
    EventType,
    World,
    days_after_open,
    later,
    local_time,
    skewed_sizes,
)


def carrier_nat(world: World) -> None:
    """Mobile data behind carrier-grade NAT: one pool of egress IPs per carrier and metro.

    55% of people's handsets are on an IPv4 CGNAT pool (the rest get the carrier's IPv6);
    a pool has one egress address per ~150 subscribers, so each address is shared by
    strangers. Pools are also used by fraud rings whose members are on real phones.
    """
    c = world.customers
    rng = world.rng("carrier_nat")
    people = world.legit_individuals()
    on_nat = people[rng.random(people.size) < 0.55]
    number = 0
    for carrier, (network, _) in enumerate(CARRIERS):
        for metro in range(len(METROS)):
            members = on_nat[(c.carrier[on_nat] == carrier) & (c.metro[on_nat] == metro)]
            ips = new_ipv4(world, network, max(2, round(members.size / 150)))
            pool = world.add_pool(f"nat/{carrier}/{metro}", ips)
            c.nat_pool[members] = pool
            if members.size:
                world.add_group("carrier_nat", number, members)
            number += 1


def vpns(world: World) -> None:
    """Commercial VPN subscribers: most of their sessions exit on a shared hosting IP.

    About 3% of people use one of five providers for 50-95% of sessions; exits are in
    the US and Europe, and IP intelligence flags 85% of exit addresses as proxies. Fraud
    rings use the same providers.
    """
    c = world.customers
    rng = world.rng("vpn")
    people = world.legit_individuals()
    users = people[rng.random(people.size) < 0.03]
    provider = rng.integers(0, 5, users.size)
    codes = np.array([country_index(code) for code, _ in VPN_COUNTRIES])
    weights = np.array([w for _, w in VPN_COUNTRIES])
    for k in range(5):
        n_exits = int(rng.integers(8, 26))
        network = rng.integers(0, len(HOSTING), n_exits)
        ips = np.empty(n_exits, dtype=np.int64)
        for j in range(n_exits):
            ips[j] = new_ipv4(
                world,
                HOSTING[network[j]],
                1,
                country=codes[rng.choice(codes.size, p=weights)],
                proxy=rng.random() < 0.85,
            )[0]
        pool = world.add_pool(f"vpn/{k}", ips)
        members = users[provider == k]
        c.vpn_pool[members] = pool
        c.vpn_share[members] = rng.uniform(0.5, 0.95, members.size)
        if members.size:
            world.add_group("vpn", k, members)


def public_wifi(world: World, catalogue: Catalogue) -> None:
    """Coffee shops, libraries and airports: strangers online on one venue address.

    ``max(3, n / 400)`` venues of 5 to 80 visitors, each visitor online there one to
    four times (a login, sometimes a purchase).
    """
    c = world.customers
    rng = world.rng("public_wifi")
    people = world.legit_individuals()
    n_venues = max(3, round(c.n / 400))
    for k in range(n_venues):
        metro = int(rng.integers(0, len(METROS)))
        local = people[c.metro[people] == metro]
        if local.size == 0:
            local = people
        size = int(skewed_sizes(rng, 1, 5, 80, 2.0)[0])
        visitors = rng.choice(local, size=min(size, local.size), replace=False)
        ip = new_ipv4(world, BUSINESS[int(rng.integers(0, len(BUSINESS)))], 1)[0]
        account = np.repeat(visitors, rng.integers(1, 5, visitors.size))
        day = days_after_open(rng, c.open_ts[account])
        ts = local_time(rng, day, metro, hours=(7.0, 21.0))
        world.events.add(ts, EventType.LOGIN, account=account, device=AUTO, ip=ip)
        buys = rng.random(account.size) < 0.4
        merchant, _ = everyday_merchants(world, rng, catalogue, c.metro[account[buys]])
        world.events.add(
            later(ts[buys], rng.integers(60, 1_800, int(buys.sum()))),
            EventType.PAYMENT,
            account=account[buys],
            device=AUTO,
            ip=ip,
            card=c.card[account[buys]],
            merchant=merchant,
            cents=ticket_cents(world, rng, merchant),
            currency=0,
        )
        world.add_group("public_wifi", k, visitors)


def hotel_wifi(world: World) -> None:
    """Travellers: a stay of one to five nights, online on the hotel's network.

    ``max(2, n / 1500)`` hotels, a quarter abroad (card purchases there are in the local
    currency); 3 to 40 guests each, stays spread over the window.
    """
    c = world.customers
    rng = world.rng("hotel_wifi")
    people = world.legit_individuals()
    n_hotels = max(2, round(c.n / 1_500))
    for k in range(n_hotels):
        abroad = k % 4 == 3
        if abroad:
            network, currency = ABROAD[int(rng.integers(0, len(ABROAD)))]
            ip = new_ipv4(world, network, 1)[0]
            cur = CURRENCIES.index(currency)
        else:
            ip = new_ipv4(world, HOTEL_US, 1)[0]
            cur = 0
        size = int(skewed_sizes(rng, 1, 3, 40, 1.8)[0])
        guests = rng.choice(people, size=size, replace=False)
        check_in = days_after_open(rng, c.open_ts[guests], WINDOW_DAYS - 7)
        nights = rng.integers(1, 6, size)
        sessions = rng.integers(2, 7, size)
        account = np.repeat(guests, sessions)
        day = np.repeat(check_in, sessions) + (
            rng.random(account.size) * np.repeat(nights + 1, sessions)
        ).astype(np.int64)
        ts = local_time(rng, day, c.metro[account])
        world.events.add(ts, EventType.LOGIN, account=account, device=AUTO, ip=ip)
        if abroad:
            guest = np.repeat(np.arange(size), rng.integers(1, 4, size))
            buys = guests[guest]
            buy_day = check_in[guest] + rng.integers(0, 3, guest.size)
            world.events.add(
                local_time(rng, buy_day, c.metro[buys]),
                EventType.PAYMENT,
                account=buys,
                card=c.card[buys],
                merchant=_foreign_merchants(world, buys.size),
                cents=np.round(rng.lognormal(np.log(6_000), 0.8, buys.size)).astype(np.int64),
                currency=cur,
            )
        world.add_group("hotel_wifi", k, guests)


def _foreign_merchants(world: World, n: int) -> I64:
    """Restaurants and shops abroad: merchants outside the bank's catalogue pools."""
    return world.entities.merchants.add(n, category=1, metro=NONE)


def call_centre(world: World) -> None:
    """Phone banking: agents' desktops act for the customers who call in.

    ``1 + n / 40000`` centres with 8 to 40 agent desktops behind the bank's network; 7%
    of people call during the window and the agent makes a login, a transfer to their own
    account elsewhere or a card payment on their behalf, with the caller's phone number.
    """
    c = world.customers
    rng = world.rng("call_centre")
    people = world.legit_individuals()
    n_centres = 1 + c.n // 40_000
    callers = people[rng.random(people.size) < 0.07]
    centre = rng.integers(0, n_centres, callers.size)
    for k in range(n_centres):
        members = callers[centre == k]
        agents = new_devices(world, np.full(int(rng.integers(8, 41)), DeviceKind.WINDOWS))
        ips = new_ipv4(world, BANK, int(rng.integers(1, 3)))
        calls = rng.integers(1, 4, members.size)
        account = np.repeat(members, calls)
        day = days_after_open(rng, c.open_ts[account])
        ts = local_time(rng, day, c.metro[account], hours=(8.0, 20.0))
        device = agents[rng.integers(0, agents.size, account.size)]
        ip = ips[rng.integers(0, ips.size, account.size)]
        world.events.add(
            ts, EventType.LOGIN, account=account, device=device, ip=ip, phone=c.phone[account]
        )
        moves = (rng.random(account.size) < 0.5) & (c.own_external[account] != NONE)
        world.events.add(
            later(ts[moves], rng.integers(60, 600, int(moves.sum()))),
            EventType.TRANSFER,
            account=account[moves],
            device=device[moves],
            ip=ip[moves],
            counterparty=c.own_external[account[moves]],
            cents=np.round(rng.lognormal(np.log(50_000), 0.8, int(moves.sum())), -2).astype(
                np.int64
            ),
            currency=0,
        )
        world.add_group("call_centre", k, members)


def branches(world: World) -> None:
    """Bank branches: tablets that open accounts for walk-in customers and help the elderly.

    ``max(3, n / 2500)`` branches, one or two tablets each on the branch network; 22% of
    new accounts are opened in a branch, and 3% of established customers are helped to
    log in on a branch tablet once or twice.
    """
    c = world.customers
    rng = world.rng("branches")
    people = world.legit_individuals()
    n_branches = max(3, round(c.n / 2_500))
    weights = np.array([m.weight for m in METROS])
    metro_of = rng.choice(len(METROS), size=n_branches, p=weights / weights.sum())
    metro_of[: min(n_branches, len(METROS))] = np.arange(min(n_branches, len(METROS)))
    new = people[(c.open_ts[people] >= WINDOW_START) & (c.signup_device[people] == NONE)]
    walk_in = new[rng.random(new.size) < 0.22]
    helped = people[(c.open_ts[people] < WINDOW_START) & (rng.random(people.size) < 0.03)]
    walk_in_branch = _nearest_branch(rng, c.metro[walk_in], metro_of)
    helped_branch = _nearest_branch(rng, c.metro[helped], metro_of)
    for k in range(n_branches):
        metro = int(metro_of[k])
        tablets = new_devices(world, np.full(int(rng.integers(1, 3)), DeviceKind.IPAD))
        ip = new_ipv4(world, BANK, 1)[0]
        opened = walk_in[walk_in_branch == k]
        c.signup_device[opened] = tablets[rng.integers(0, tablets.size, opened.size)]
        c.signup_ip[opened] = ip
        assisted = helped[helped_branch == k]
        visits = np.repeat(assisted, rng.integers(1, 3, assisted.size))
        day = rng.integers(1, WINDOW_DAYS - 1, visits.size)
        world.events.add(
            local_time(rng, day, metro, hours=(9.5, 16.5)),
            EventType.LOGIN,
            account=visits,
            device=tablets[rng.integers(0, tablets.size, visits.size)],
            ip=ip,
        )
        members = np.concatenate([opened, assisted])
        if members.size:
            world.add_group("shop_device", k, members)


def _nearest_branch(rng: np.random.Generator, metro: np.ndarray, metro_of: np.ndarray) -> I64:
    """A branch in each customer's metro (-1 where the metro has none)."""
    out = np.full(metro.size, NONE, dtype=np.int64)
    for m in np.unique(metro):
        branches_here = np.flatnonzero(metro_of == m)
        mask = metro == m
        if branches_here.size:
            out[mask] = branches_here[rng.integers(0, branches_here.size, int(mask.sum()))]
    return out
