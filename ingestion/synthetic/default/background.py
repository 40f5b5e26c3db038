"""Background activity: time buckets, signups and everyday events of the customer base."""

from __future__ import annotations

import itertools
import math
from typing import Final

import numpy as np

from graph_service.typing import I64
from ingestion.synthetic.default.events import (
    HOUR,
    IP_NAT,
    LOGIN,
    PAYMENT,
    SIGNUP,
    TRANSFER,
    EventBatch,
    events,
    ip_code,
    money,
    sorted_uniforms,
)
from ingestion.synthetic.default.population import Population
from ingestion.synthetic.default.tables import (
    ADDRESS_VARIANTS,
    ANDROID,
    EMAIL_VARIANTS,
    IOS,
    PHONE_FORMATS,
)
from ingestion.synthetic.hashing import hashed_below

_P_LOGIN: Final = 0.52
_P_PAYMENT: Final = 0.40


def bucket_edges(population: Population, rows_per_part: int) -> I64:
    """Time bucket boundaries holding about ``rows_per_part`` expected events each.

    Notes
    -----
    O(hours in the period + log accounts per hour).
    """
    start, end = population.start_us, population.end_us
    grid = np.arange(start, end, HOUR, dtype=np.int64)
    grid = np.append(grid, end)
    alive = np.searchsorted(population.created, grid)
    weight = np.where(alive > 0, population.cumulative_weight[np.maximum(alive - 1, 0)], 0.0)
    steps = np.diff(grid).astype(np.float64)
    activity = np.concatenate([[0.0], np.cumsum((weight[1:] + weight[:-1]) / 2 * steps)])
    expected = alive + population.rate * activity
    total = float(expected[-1])
    n_buckets = max(1, math.ceil(total / rows_per_part))
    targets = total * np.arange(1, n_buckets) / n_buckets
    inner = np.interp(targets, expected, grid.astype(np.float64)).astype(np.int64)
    return np.unique(np.concatenate([[start], inner, [end]]))


def events_between(
    population: Population, ring_events: EventBatch, t0: int, t1: int, rng: np.random.Generator
) -> EventBatch:
    """All events with ``t0 <= ts < t1``: signups, everyday activity, ring events."""
    created = population.created
    first, last = np.searchsorted(created, [t0, t1])
    newcomers = np.arange(first, last, dtype=np.int64)
    newcomers = newcomers[~population.ring_signup[newcomers]]
    lo, hi = np.searchsorted(ring_events.ts, [t0, t1])
    batch = EventBatch.concat(
        [
            _signups(population, newcomers, rng),
            _everyday(population, t0, t1, rng),
            ring_events.take(slice(int(lo), int(hi))),
        ]
    )
    return batch.take(np.argsort(batch.ts, kind="stable"))


def _signups(population: Population, account: I64, rng: np.random.Generator) -> EventBatch:
    """Signup events of background accounts, carrying every contact detail."""
    n = account.size
    household = population.household(account)
    # Big families all sign up on the family tablet: a benign device shared by 5-6.
    device = np.where(
        household < population.n_big_families, 4 * population.n + household, account * 4
    )
    _, _, os = population.device_attributes(device)
    mobile = (os == ANDROID) | (os == IOS)
    nat = ip_code(IP_NAT, hashed_below(account, population.salts["nat"], population.n_nat))
    return events(
        account,
        population.created[account],
        SIGNUP,
        device=device,
        ip=np.where(mobile & (rng.random(n) < 0.3), nat, population.home_ip(household)),
        phone=population.phone(account),
        phone_fmt=rng.integers(0, 4, n),
        email=population.email(account),
        email_var=np.where(rng.random(n) < 0.8, 0, 1),
        address=household,
        address_var=np.where(rng.random(n) < 0.7, 0, rng.integers(0, ADDRESS_VARIANTS, n)),
    )


def _everyday(population: Population, t0: int, t1: int, rng: np.random.Generator) -> EventBatch:
    """Logins, payments and transfers of background activity in ``[t0, t1)``.

    Each alive account emits events as a Poisson process with its own (power-law)
    rate: draw the total, pick accounts by weight, drop events before creation.
    """
    n_alive = int(np.searchsorted(population.created, t1))
    if n_alive == 0:
        return EventBatch.concat([])
    total_weight = float(population.cumulative_weight[n_alive - 1])
    k = int(rng.poisson(population.rate * total_weight * (t1 - t0)))
    # Sorted draws make the weighted lookup cache-friendly (20x faster at 10M accounts);
    # shuffling the accounts afterwards pairs them with independent, sorted times.
    draw = sorted_uniforms(rng, k) * total_weight
    account = np.searchsorted(population.cumulative_weight, draw, side="right").astype(np.int64)
    np.minimum(account, n_alive - 1, out=account)
    rng.shuffle(account)
    ts = t0 + (sorted_uniforms(rng, k) * (t1 - t0)).astype(np.int64)
    alive = ts > population.created[account]
    account, ts = account[alive], ts[alive]
    k = account.size

    u = rng.random(k)
    etype = np.where(u < _P_LOGIN, LOGIN, np.where(u < _P_LOGIN + _P_PAYMENT, PAYMENT, TRANSFER))
    household = population.household(account)
    device = population.everyday_device(account, household, etype == LOGIN, rng)
    batch = events(account, ts, etype, device=device)

    rows = np.flatnonzero(etype != PAYMENT)
    batch.ip[rows] = population.everyday_ip(account[rows], household[rows], device[rows], rng)

    rows = np.flatnonzero(etype == PAYMENT)
    batch.card[rows] = population.everyday_card(account[rows], rng)
    batch.merchant[rows] = population.popular_merchants(rng, rows.size)
    batch.amount[rows] = money(np.minimum(rng.lognormal(math.log(25), 1.0, rows.size), 5_000))
    billing = rows[rng.random(rows.size) < 0.15]
    batch.address[billing] = household[billing]
    batch.address_var[billing] = rng.integers(0, ADDRESS_VARIANTS, billing.size)

    rows = np.flatnonzero(etype == TRANSFER)
    batch.counterparty[rows] = population.payee(account[rows], ts[rows], rng)
    batch.amount[rows] = money(np.minimum(rng.lognormal(math.log(60), 1.1, rows.size), 20_000))

    # Logins sometimes carry what the customer typed: an email or an OTP phone number.
    rows = np.flatnonzero(etype == LOGIN)
    typed = rows[rng.random(rows.size) < 0.08]
    batch.email[typed] = population.email(account[typed])
    batch.email_var[typed] = rng.integers(0, EMAIL_VARIANTS, typed.size)
    otp = rows[rng.random(rows.size) < 0.04]
    batch.phone[otp] = population.phone(account[otp])
    batch.phone_fmt[otp] = rng.integers(0, PHONE_FORMATS, otp.size)
    return batch


def split_parts(batch: EventBatch, rows_per_part: int) -> list[EventBatch]:
    """Cut a time-sorted batch into parts of at most twice ``rows_per_part`` rows."""
    n = len(batch)
    if n == 0:
        return []
    if n <= 2 * rows_per_part:
        return [batch]
    pieces = math.ceil(n / rows_per_part)
    cuts = np.linspace(0, n, pieces + 1).astype(np.int64)
    return [batch.take(slice(int(a), int(b))) for a, b in itertools.pairwise(cuts)]
