"""Benign sharing at work and in trade: offices, payroll employers and P2P sellers.

Offices put dozens to hundreds of colleagues behind one to three egress IPs; an employer's
payroll account pays every employee every other Friday; a P2P seller is paid by many
strangers and sweeps the takings away each week, a fan-in and fan-out that looks like a
mule from the money alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.crosscheck.benign_people import draw_in_metro
from benchmarks.crosscheck.geo import BUSINESS, METROS
from benchmarks.crosscheck.identities import computer_devices, new_externals, new_ipv4
from benchmarks.crosscheck.world import (
    AUTO,
    DAY,
    I64,
    NONE,
    WINDOW_DAYS,
    WINDOW_END,
    WINDOW_START,
    EventType,
    Group,
    World,
    local_time,
    skewed_sizes,
    spread_in,
)


@dataclass(frozen=True)
class Office:
    """An employer's office: its metro, egress IPs and employees."""

    number: int
    metro: int
    ips: I64
    employees: I64


def pick_businesses(world: World, count: int) -> I64:
    """Turn ``count`` legitimate accounts into business accounts (payroll employers)."""
    rng = world.rng("businesses")
    chosen = rng.choice(world.legit_individuals(), size=count, replace=False)
    c = world.customers
    c.business[chosen] = True
    c.device[chosen] = computer_devices(world, count)
    c.second_device[chosen] = NONE
    c.new_device[chosen] = NONE
    c.cell_share[chosen] = 0.0
    c.activity[chosen] = 0.5
    return np.sort(chosen)


def offices(world: World, free: np.ndarray) -> list[Office]:
    """Offices of 15 to 400 staff behind one to three egress IPs; colleagues split lunch.

    About 17% of people work in one of ``max(2, n / 600)`` offices.
    """
    c = world.customers
    rng = world.rng("office")
    n_offices = max(2, round(c.n / 600))
    target = 0.17 * world.legit_individuals().size
    weights = rng.pareto(1.3, n_offices) + 0.3
    sizes = np.clip(np.round(target * weights / weights.sum()), 15, 400).astype(np.int64)
    staff_ok = np.zeros(c.n, dtype=np.bool_)
    staff_ok[world.legit_individuals()] = True
    staff_ok &= c.campus_ip == NONE
    out: list[Office] = []
    for k in range(n_offices):
        metro = int(rng.integers(0, len(METROS)))
        staff = draw_in_metro(rng, world, staff_ok, metro, int(sizes[k]))
        network = BUSINESS[int(rng.integers(0, len(BUSINESS)))]
        ips = new_ipv4(world, network, int(rng.integers(1, 4)))
        c.office_ip[staff] = ips[rng.integers(0, ips.size, staff.size)]
        lunch = staff[rng.random(staff.size) < 0.5]
        colleague = staff[rng.integers(0, staff.size, lunch.size)]
        world.friends.append((lunch[lunch != colleague], colleague[lunch != colleague]))
        world.add_group("office", k, staff)
        out.append(Office(k, metro, ips, staff))
    return out


def payroll(world: World, offices_: list[Office], businesses: I64) -> None:
    """Employers paying salaries every other Friday from a business account in the book.

    The first employers are offices (their payroll account on the office network); the
    rest are shops, hospitals and warehouses paying 10 to 200 staff who share nothing else.
    """
    c = world.customers
    rng = world.rng("payroll")
    paydays = np.arange(4, WINDOW_DAYS, 14)
    people = world.legit_individuals()
    for k, hub in enumerate(businesses):
        if k < len(offices_):
            office = offices_[k]
            staff = office.employees
            c.home_ip[hub] = office.ips[0]
            c.next_home_ip[hub] = NONE
            c.home_ip_switch_ts[hub] = WINDOW_END + DAY
            c.metro[hub] = office.metro
            # The payroll account is operated from the office network too.
            world.groups.append(Group("office", f"office-{office.number:05d}", np.array([hub])))
        else:
            size = int(skewed_sizes(rng, 1, 10, 200, 2.0)[0])
            staff = rng.choice(people, size=min(size, people.size), replace=False)
            # The back office of a shop chain or hospital, on its business line.
            network = BUSINESS[int(rng.integers(0, len(BUSINESS)))]
            c.home_ip[hub] = new_ipv4(world, network, 1)[0]
            c.next_home_ip[hub] = NONE
        salary = np.round(190_000 * np.exp(rng.normal(0, 0.35, staff.size)), -2)
        account = np.full(staff.size * paydays.size, hub)
        other = np.tile(staff, paydays.size)
        day = np.repeat(paydays, staff.size)
        ts = local_time(rng, day, c.metro[hub], hours=(5.0, 7.0))
        keep = (ts > c.open_ts[other]) & (ts > c.open_ts[hub])
        cents = (np.tile(salary, paydays.size) * rng.uniform(0.9, 1.1, other.size)).astype(np.int64)
        world.events.add(
            ts[keep],
            EventType.TRANSFER,
            account=account[keep],
            device=AUTO,
            ip=AUTO,
            counterparty=other[keep],
            cents=cents[keep],
            currency=0,
        )
        world.add_group("payroll", k, np.concatenate([[hub], staff]))


def p2p_sellers(world: World) -> None:
    """People selling goods over P2P transfers: many buyers in, a weekly sweep out.

    About 0.25% of people sell; 15 to 150 buyers each, mostly from the same metro.
    """
    c = world.customers
    rng = world.rng("p2p_seller")
    people = world.legit_individuals()
    sellers = rng.choice(people, size=max(1, round(0.0025 * people.size)), replace=False)
    for k, seller in enumerate(sellers):
        size = int(skewed_sizes(rng, 1, 15, 150, 1.8)[0])
        local = people[c.metro[people] == c.metro[seller]]
        from_metro = rng.random(size) < 0.6
        buyers = np.unique(
            np.concatenate(
                [
                    rng.choice(local, size=int(from_metro.sum())),
                    rng.choice(people, size=int((~from_metro).sum())),
                ]
            )
        )
        buyers = buyers[buyers != seller]
        purchases = 1 + rng.poisson(0.5, buyers.size)
        account = np.repeat(buyers, purchases)
        lo = np.maximum(np.maximum(c.open_ts[account], c.open_ts[seller]), WINDOW_START) + 3_600
        ts = spread_in(rng, lo, WINDOW_END - 1, c.metro[account])
        cents = np.round(rng.lognormal(np.log(4_500), 0.7, account.size), -2).astype(np.int64)
        world.events.add(
            ts,
            EventType.TRANSFER,
            account=account,
            counterparty=seller,
            cents=np.maximum(500, cents),
            currency=0,
            device=AUTO,
            ip=AUTO,
        )
        if c.own_external[seller] == NONE:
            c.own_external[seller] = new_externals(world, 1)[0]
        # Each week's takings, less what stays for stock, go out on the next Tuesday.
        week = (ts - WINDOW_START) // (7 * DAY)
        takings = np.bincount(week, weights=np.maximum(500, cents), minlength=WINDOW_DAYS // 7 + 1)
        swept = np.flatnonzero(takings > 0)
        day = (swept + 1) * 7 + 1
        keep = day < WINDOW_DAYS
        world.events.add(
            local_time(rng, day[keep], c.metro[seller]),
            EventType.TRANSFER,
            account=seller,
            device=AUTO,
            ip=AUTO,
            counterparty=c.own_external[seller],
            cents=(takings[swept[keep]] * 0.85).astype(np.int64),
            currency=0,
        )
        world.add_group("p2p_seller", k, np.concatenate([[seller], buyers]))
