"""Everyday life of every account: signups, logins, card payments and transfers.

Which device and network a session comes from follows the account's state set by the
benign groups and rings before this runs: the handset (or its replacement after an
upgrade), sometimes the laptop, the family tablet or a developer's emulator; on the
handset, mobile data for a share of sessions (carrier NAT IPv4 or the carrier's IPv6),
otherwise Wi-Fi at home, on campus, or at the office on weekday working hours; a VPN for
the share of sessions its users switch it on.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from benchmarks.crosscheck.commerce import Catalogue, everyday_merchants, ticket_cents
from benchmarks.crosscheck.geo import METROS
from benchmarks.crosscheck.identities import DeviceKind, new_ipv6
from benchmarks.crosscheck.world import (
    AUTO,
    DAY,
    HOUR,
    I64,
    NONE,
    WINDOW_DAYS,
    WINDOW_END,
    WINDOW_START,
    EventType,
    World,
    spread_in,
)

#: Mean events per account over the whole window, at activity 1.
LOGINS: Final = 14.0
PAYMENTS: Final = 17.0
FRIEND_TRANSFERS: Final = 1.3
OWN_TRANSFERS: Final = 1.6
_OFFSETS: Final = np.array([m.utc_offset for m in METROS], dtype=np.int64)


def session_context(
    world: World, rng: np.random.Generator, account: I64, ts: I64
) -> tuple[I64, I64]:
    """The device and IP each (account, time) session comes from.

    Parameters
    ----------
    world : World
        The world, with customers' devices and networks already set.
    rng : numpy.random.Generator
        Source of randomness.
    account, ts : ndarray of int64
        Sessions' accounts and epoch seconds.

    Returns
    -------
    (ndarray, ndarray)
        Device rows and IP rows, one per session.
    """
    c = world.customers
    n = account.size
    device = np.where(
        (c.new_device[account] != NONE) & (ts >= c.new_device_ts[account]),
        c.new_device[account],
        c.device[account],
    )
    for extra, share in (
        (c.second_device, 0.3),
        (c.family_device, 0.25),
        (c.emulator_device, 0.35),
    ):
        use = (extra[account] != NONE) & (rng.random(n) < share)
        device = np.where(use, extra[account], device)
    u = rng.random((3, n))
    kinds = world.entities.devices.col("kind")
    emulated = world.entities.devices.col("emulator")
    handset = (kinds[device] <= DeviceKind.ANDROID) & ~emulated[device]
    ip = np.where(ts >= c.home_ip_switch_ts[account], c.next_home_ip[account], c.home_ip[account])
    local = ts + _OFFSETS[c.metro[account]] * HOUR
    weekday = ((local // DAY) + 3) % 7 < 5
    hour = (local % DAY) // HOUR
    at_work = (c.office_ip[account] != NONE) & weekday & (hour >= 9) & (hour < 18) & (u[1] < 0.8)
    ip = np.where(at_work, c.office_ip[account], ip)
    on_campus = (c.campus_ip[account] != NONE) & (u[1] < 0.7)
    ip = np.where(on_campus, c.campus_ip[account], ip)
    mobile = handset & (u[2] < c.cell_share[account])
    if mobile.any():
        ip[mobile] = _cellular_ip(world, rng, account[mobile], ts[mobile])
    vpn = (c.vpn_pool[account] != NONE) & (rng.random(n) < c.vpn_share[account])
    if vpn.any():
        ip[vpn] = _pool_draw(world, rng, c.vpn_pool[account[vpn]])
    return device.astype(np.int64), ip.astype(np.int64)


def _pool_draw(world: World, rng: np.random.Generator, pool: I64) -> I64:
    """One IP from each given pool."""
    out = np.empty(pool.size, dtype=np.int64)
    for p in np.unique(pool):
        mask = pool == p
        ips = world.ip_pools[int(p)]
        out[mask] = ips[rng.integers(0, ips.size, int(mask.sum()))]
    return out


def _cellular_ip(world: World, rng: np.random.Generator, account: I64, ts: I64) -> I64:
    """Carrier NAT egress for accounts on a NAT pool, else a monthly IPv6 lease."""
    c = world.customers
    out = np.full(account.size, NONE, dtype=np.int64)
    pooled = c.nat_pool[account] != NONE
    if pooled.any():
        out[pooled] = _pool_draw(world, rng, c.nat_pool[account[pooled]])
    v6 = ~pooled
    if v6.any():
        month = np.clip((ts[v6] - WINDOW_START) // (30 * DAY), -1, 14) + 1
        out[v6] = _v6_lease(world, account[v6] * 16 + month)
    return out


def _v6_lease(world: World, keys: I64) -> I64:
    """IPv6 rows for (account, month) keys, leasing new addresses for keys not seen yet."""
    wanted = np.unique(keys)
    known = np.isin(wanted, world.v6_keys)
    fresh = wanted[~known]
    if fresh.size:
        rows = new_ipv6(world, world.customers.carrier[fresh // 16])
        all_keys = np.concatenate([world.v6_keys, fresh])
        all_rows = np.concatenate([world.v6_rows, rows])
        order = np.argsort(all_keys)
        world.v6_keys, world.v6_rows = all_keys[order], all_rows[order]
    return world.v6_rows[np.searchsorted(world.v6_keys, keys)]


def _active_from(world: World) -> I64:
    return np.maximum(world.customers.open_ts, WINDOW_START) + 600


def _counts(world: World, rng: np.random.Generator, mean: float) -> I64:
    c = world.customers
    lived = (WINDOW_END - _active_from(world)) / (WINDOW_DAYS * DAY)
    return rng.poisson(mean * c.activity * np.clip(lived, 0.0, 1.0))


def fill_sessions(world: World, events: dict[str, np.ndarray]) -> None:
    """Replace every ``AUTO`` device and IP of ``events`` by the account's session context."""
    rng = world.rng("sessions")
    auto = (events["device"] == AUTO) | (events["ip"] == AUTO)
    device, ip = session_context(
        world, rng, events["account"][auto].astype(np.int64), events["ts"][auto]
    )
    for name, value in (("device", device), ("ip", ip)):
        column = events[name]
        chosen = column[auto]
        column[auto] = np.where(chosen == AUTO, value, chosen)


def signups(world: World) -> None:
    """One signup per account opened inside the window, with its full profile."""
    c = world.customers
    account = np.flatnonzero(c.open_ts >= WINDOW_START)
    world.events.add(
        c.open_ts[account],
        EventType.SIGNUP,
        account=account,
        device=np.where(c.signup_device[account] != NONE, c.signup_device[account], AUTO),
        ip=np.where(c.signup_ip[account] != NONE, c.signup_ip[account], AUTO),
        phone=c.phone[account],
        email=c.email[account],
        address=c.address[account],
    )


def ordinary_activity(world: World, catalogue: Catalogue) -> None:
    """Logins, card payments and P2P/own-account transfers of every account."""
    c = world.customers
    rng = world.rng("activity")
    accounts = np.arange(c.n)
    start = _active_from(world)

    # Every account in the export logs in at least once (dormant ones are not exported).
    account = np.repeat(accounts, np.maximum(_counts(world, rng, LOGINS), 1))
    ts = spread_in(rng, start[account], WINDOW_END - 1, c.metro[account])
    # Step-up logins carry the phone the one-time code went to, email-link logins the email.
    otp = rng.random(account.size)
    world.events.add(
        ts,
        EventType.LOGIN,
        account=account,
        device=AUTO,
        ip=AUTO,
        phone=np.where(otp < 0.12, c.phone[account], NONE),
        email=np.where(otp > 0.96, c.email[account], NONE),
    )

    account = np.repeat(accounts, _counts(world, rng, PAYMENTS))
    ts = spread_in(rng, start[account], WINDOW_END - 1, c.metro[account])
    merchant, online = everyday_merchants(world, rng, catalogue, c.metro[account])
    shared = (c.shared_card[account] != NONE) & (rng.random(account.size) < 0.4)
    ship = online & (rng.random(account.size) < 0.25)
    world.events.add(
        ts,
        EventType.PAYMENT,
        account=account,
        device=np.where(online, AUTO, NONE),
        ip=np.where(online, AUTO, NONE),
        card=np.where(shared, c.shared_card[account], c.card[account]),
        address=np.where(ship, c.address[account], NONE),
        merchant=merchant,
        cents=ticket_cents(world, rng, merchant),
        currency=0,
    )
    _friend_transfers(world, rng, start)
    _own_transfers(world, rng, start)


def _friend_transfers(world: World, rng: np.random.Generator, start: I64) -> None:
    """Occasional P2P transfers to a friend (``world.friends``, either direction)."""
    c = world.customers
    if not world.friends:
        return
    src = np.concatenate([a for a, _ in world.friends] + [b for _, b in world.friends])
    dst = np.concatenate([b for _, b in world.friends] + [a for a, _ in world.friends])
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    first = np.searchsorted(src, np.arange(c.n))
    degree = np.searchsorted(src, np.arange(c.n), side="right") - first
    counts = np.where(degree > 0, _counts(world, rng, FRIEND_TRANSFERS), 0)
    account = np.repeat(np.arange(c.n), counts)
    friend = dst[first[account] + (rng.random(account.size) * degree[account]).astype(np.int64)]
    ts = spread_in(rng, np.maximum(start[account], start[friend]), WINDOW_END - 1, c.metro[account])
    cents = np.round(6_000 * np.exp(rng.normal(0, 0.8, account.size))).astype(np.int64)
    world.events.add(
        ts,
        EventType.TRANSFER,
        account=account,
        device=AUTO,
        ip=AUTO,
        counterparty=friend,
        cents=np.maximum(500, cents // 500 * 500),
        currency=0,
    )


def _own_transfers(world: World, rng: np.random.Generator, start: I64) -> None:
    """Transfers to the customer's own account at another bank."""
    c = world.customers
    counts = np.where(c.own_external != NONE, _counts(world, rng, OWN_TRANSFERS), 0)
    account = np.repeat(np.arange(c.n), counts)
    ts = spread_in(rng, start[account], WINDOW_END - 1, c.metro[account])
    cents = np.round(40_000 * np.exp(rng.normal(0, 0.9, account.size))).astype(np.int64)
    world.events.add(
        ts,
        EventType.TRANSFER,
        account=account,
        device=AUTO,
        ip=AUTO,
        counterparty=c.own_external[account],
        cents=np.maximum(1_000, cents // 100 * 100),
        currency=0,
    )
