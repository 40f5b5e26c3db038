"""Camouflaged fraud rings of the hard profile.

A ring is planned on the draft accounts (who, when; new accounts' signups moved into
the ring's window), then planted once the world exists. Members live ordinary lives
too: they have households, devices, home IPs and everyday activity from the world.
What ties a ring together is sparse: each member touches one or two identifiers of the
ring's small pool (a device, a phone, an address, a mailbox spelled its own way, a proxy
IP, a card), chained so that the ring is connected through different identifiers, and
money flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from graph_service.typing import F64, I64, BoolArray
from ingestion.synthetic.default import Typology
from ingestion.synthetic.hard.config import HardScenarioConfig
from ingestion.synthetic.hard.events import (
    ANDROID,
    CARD_PERSONAL,
    DAY,
    DEV_RING,
    HOUR,
    IOS,
    IP_RING,
    LOGIN,
    PAYMENT,
    TRANSFER,
    WEEK,
    EventBatch,
    code,
    events,
    money,
)
from ingestion.synthetic.hard.tables import (
    COUNTRIES,
    COUNTRY_INDEX,
    HOSTING_NETWORKS,
    PROXY_COUNTRIES,
    US,
)
from ingestion.synthetic.hard.world import Draft, World, microseconds

__all__ = [
    "ADDRESS",
    "CARD",
    "DEVICE",
    "IP",
    "MAILBOX",
    "MAILBOX_SPELLINGS",
    "PHONE",
    "RingPlan",
    "links",
    "logins",
    "new_devices",
    "new_ips",
    "pays",
    "plan_rings",
    "sends",
]

_MONTH: Final = 30 * DAY
#: Kinds of pool item a ring member may share.
DEVICE, IP, PHONE, ADDRESS, MAILBOX, CARD = range(6)
#: Email spellings a synthetic identity's members use for one mailbox, in order (see
#: ``render``): plain, dots dropped, a +tag, a dot moved, googlemail, further tags.
MAILBOX_SPELLINGS: Final = (0, 4, 7, 5, 8, 6, 9, 10, 11, 12, 13, 14, 15)


@dataclass(slots=True)
class RingPlan:
    """One planted ring: members, their roles, and its time window.

    ``role`` is 0 for an ordinary member, 1 for a collector (or, for account takeover,
    a drop account); ``fresh`` marks accounts opened for the ring; ``fraud_ts`` is when
    each member's fraudulent activity happened (set when planted).
    """

    ring_id: str
    typology: Typology
    members: I64
    role: I64
    fresh: BoolArray
    start_us: int
    end_us: int
    fraud_ts: I64 = field(default_factory=lambda: np.zeros(0, np.int64))


def _ring_count(config: HardScenarioConfig) -> int:
    return max(len(Typology), round(config.accounts / 10_000 * config.rings_per_10k))


def plan_rings(
    config: HardScenarioConfig, draft: Draft, rng: np.random.Generator
) -> list[RingPlan]:
    """Choose ring typologies, sizes, members and windows; update ``draft`` in place.

    Parameters
    ----------
    config : HardScenarioConfig
    draft : Draft
        Accounts in draft order; new ring accounts get their signup moved into the
        ring's window, members are marked, fake identities flagged.
    rng : numpy.random.Generator

    Returns
    -------
    list of RingPlan
        One per ring, members in draft numbering.

    Raises
    ------
    ValueError
        If too few established accounts are left to recruit from.

    Notes
    -----
    One Python iteration per ring; members are drawn by rejection, O(ring size).
    """
    typologies = list(Typology)
    weights = np.asarray(config.typology_weights)
    extra = rng.choice(
        len(typologies), _ring_count(config) - len(typologies), p=weights / weights.sum()
    )
    chosen = typologies + [typologies[int(i)] for i in extra]
    bounds = np.asarray([config.ring_sizes(t) for t in chosen])
    # Sizes lean to the low end of the range.
    sizes = bounds[:, 0] + (
        rng.random(len(chosen)) ** 1.6 * (bounds[:, 1] - bounds[:, 0] + 1)
    ).astype(np.int64)
    while sizes.sum() > 0.1 * config.accounts and (sizes > bounds[:, 0]).any():
        sizes = np.where(sizes > bounds[:, 0], sizes - 1, sizes)
    start = microseconds(config.start)
    end = start + config.days * DAY
    planners: dict[Typology, Callable[[Draft, np.random.Generator, int, int, int], _Members]] = {
        Typology.DEVICE_FARM: _plan_device_farm,
        Typology.SYNTHETIC_IDENTITY: _plan_synthetic_identity,
        Typology.MULE_NETWORK: _plan_mule_network,
        Typology.BUST_OUT: _plan_bust_out,
        Typology.ACCOUNT_TAKEOVER: _plan_account_takeover,
    }
    plans = []
    for i, typology in enumerate(chosen):
        members, role, fresh, t0, t1 = planners[typology](draft, rng, int(sizes[i]), start, end)
        draft.taken[members] = True
        draft.member[members] = True
        plans.append(RingPlan(f"R{i + 1:05d}", typology, members, role, fresh, t0, t1))
    return plans


_Members = tuple[I64, I64, BoolArray, int, int]


def _pick(
    draft: Draft, rng: np.random.Generator, count: int, before: int, open_until: int = 0
) -> I64:
    """``count`` untaken accounts created before ``before`` (real people), kept open
    until at least ``open_until``."""
    chosen = np.zeros(0, np.int64)
    n = draft.created.size
    for _ in range(200):
        draw = rng.integers(0, n, 4 * count + 16)
        ok = ~draft.taken[draw] & (draft.created[draw] < before) & ~draft.student[draw]
        chosen = np.unique(np.concatenate([chosen, draw[ok]]))
        if chosen.size >= count:
            picked = rng.permutation(chosen)[:count]
            draft.closed[picked] = np.maximum(draft.closed[picked], open_until)
            return picked
    raise ValueError("too few established accounts to plant the configured rings")


def _open(draft: Draft, rng: np.random.Generator, count: int, t0: int, weeks: int) -> I64:
    """``count`` accounts opened for the ring over ``weeks`` weeks from ``t0``; they stay
    open unless the typology closes them."""
    accounts = _pick(draft, rng, count, np.iinfo(np.int64).max)
    offset = np.sort(rng.random(count)) * weeks * WEEK
    day = (
        np.clip(t0 + offset.astype(np.int64), draft.start_us, draft.end_us - 2 * DAY) // DAY
    ) * DAY
    draft.created[accounts] = day + 13 * HOUR + (rng.random(count) * 10 * HOUR).astype(np.int64)
    draft.closed[accounts] = draft.end_us
    draft.taken[accounts] = True
    return accounts


def _window(rng: np.random.Generator, start: int, end: int, earliest: float, length: int) -> int:
    low = start + int(earliest * (end - start))
    return int(rng.integers(low, max(low + 1, end - length)))


def _plan_device_farm(d: Draft, rng: np.random.Generator, s: int, start: int, end: int) -> _Members:
    weeks = int(rng.integers(2, 9))
    t0 = _window(rng, start, end, 0.05, weeks * WEEK + 120 * DAY)
    members = _open(d, rng, s, t0, weeks)
    d.fake[members] = True
    role = (np.arange(s) >= s - (1 + (s >= 10))).astype(np.int64)
    last = t0 + weeks * WEEK + int(rng.integers(30, 121)) * DAY
    d.closed[members] = np.minimum(end, last + (rng.random(s) * 30 * DAY).astype(np.int64))
    return members, role, np.ones(s, np.bool_), t0, last


def _plan_synthetic_identity(
    d: Draft, rng: np.random.Generator, s: int, start: int, end: int
) -> _Members:
    weeks = int(rng.integers(2, 9))
    build = int(rng.integers(90, 241)) * DAY
    t0 = _window(rng, start, end, 0.02, weeks * WEEK + build + 10 * DAY)
    members = _open(d, rng, s, t0, weeks)
    d.fake[members] = True
    cash_out = t0 + weeks * WEEK + build
    d.closed[members] = np.minimum(end, cash_out + (rng.integers(2, 6, s) * DAY))
    role = (np.arange(s) == s - 1).astype(np.int64)
    return members, role, np.zeros(s, np.bool_), t0, cash_out


def _plan_mule_network(
    d: Draft, rng: np.random.Generator, s: int, start: int, end: int
) -> _Members:
    weeks = int(rng.integers(2, 9))
    operation = int(rng.integers(60, 151)) * DAY
    t0 = _window(rng, start, end, 0.15, weeks * WEEK + operation)
    recruited = max(1, round(0.6 * s))
    t1 = min(end - DAY, t0 + weeks * WEEK + operation)
    existing = _pick(d, rng, recruited, t0 - 30 * DAY, min(end, t1 + 30 * DAY))
    opened = _open(d, rng, s - recruited, t0, weeks)
    members = np.concatenate([existing, opened])
    role = (np.arange(s) >= s - (1 + (s >= 10))).astype(np.int64)
    fresh = np.concatenate([np.zeros(recruited, np.bool_), np.ones(s - recruited, np.bool_)])
    return members, role, fresh, t0, t1


def _plan_bust_out(d: Draft, rng: np.random.Generator, s: int, start: int, end: int) -> _Members:
    t0 = _window(rng, start, end, 0.55, 20 * DAY)
    members = _pick(d, rng, s, start + int(0.25 * (end - start)), t0 + 5 * DAY)
    spike = int(rng.integers(1, 5)) * DAY
    d.closed[members] = np.minimum(end, t0 + spike + rng.integers(1, 6, s) * DAY)
    return members, np.zeros(s, np.int64), np.zeros(s, np.bool_), t0, t0 + spike


def _plan_account_takeover(
    d: Draft, rng: np.random.Generator, s: int, start: int, end: int
) -> _Members:
    weeks = int(rng.integers(2, 9))
    t0 = _window(rng, start, end, 0.35, weeks * WEEK + 2 * DAY)
    drops = min(int(rng.integers(1, 4)), s // 2)  # every drop gets a victim's money
    victims = _pick(d, rng, s - drops, t0 - 90 * DAY, min(end, t0 + weeks * WEEK + 30 * DAY))
    opened = _open(d, rng, drops, t0 - int(rng.integers(1, 7)) * WEEK, int(rng.integers(1, 4)))
    d.closed[opened] = np.minimum(end, t0 + weeks * WEEK + 30 * DAY)
    role = np.concatenate([np.zeros(s - drops, np.int64), np.ones(drops, np.int64)])
    fresh = np.concatenate([np.zeros(s - drops, np.bool_), np.ones(drops, np.bool_)])
    return np.concatenate([victims, opened]), role, fresh, t0, t0 + weeks * WEEK


# ------------------------------------------------------------------ pool helpers


def links(rng: np.random.Generator, size: int, pool: int) -> tuple[I64, I64]:
    """One or two pool items per member, chained so that the ring is connected.

    Members take the first ``m = min(pool, size)`` items in blocks (member ``i`` gets
    item ``i * m // size``); the last member of each block also takes the next block's
    item, which links consecutive blocks, and a few take a random second item. ``-1``
    means no second item.

    Examples
    --------
    >>> primary, secondary = links(np.random.default_rng(0), 4, 7)
    >>> primary.tolist(), [int(x) for x in secondary[:3]]
    ([0, 1, 2, 3], [1, 2, 3])
    """
    used = min(pool, size)
    primary = np.arange(size, dtype=np.int64) * used // size
    secondary = np.full(size, -1, np.int64)
    boundary = np.flatnonzero(primary[:-1] != primary[1:])
    secondary[boundary] = primary[boundary] + 1
    extra = np.flatnonzero((secondary < 0) & (rng.random(size) < 0.2))
    secondary[extra] = rng.integers(0, used, extra.size)
    secondary[secondary == primary] = -1
    return primary, secondary


def new_devices(world: World, rng: np.random.Generator, count: int, emulators: float) -> I64:
    reg = world.registry
    first = len(reg.device_os)
    emulator = rng.random(count) < emulators
    os = np.where(emulator | (rng.random(count) < 0.7), ANDROID, IOS)
    reg.device_emulator.extend(bool(x) for x in emulator)
    reg.device_rooted.extend(
        bool(x) for x in (~emulator & (os == ANDROID) & (rng.random(count) < 0.5))
    )
    reg.device_os.extend(int(x) for x in os)
    return code(DEV_RING, np.arange(first, first + count))


def new_ips(world: World, rng: np.random.Generator, count: int, residential: float) -> I64:
    """Proxy IPs: residential (US ISP blocks, rarely flagged) or hosting (often flagged)."""
    reg = world.registry
    first = len(reg.ip_value)
    us = COUNTRIES[US]
    for i in range(count):
        j = first + i
        if rng.random() < residential:
            isp = us.isps[j % len(us.isps)]
            reg.ip_value.append(isp.base + isp.span // 2 + (j * 7_919) % (isp.span // 2))
            reg.ip_asn.append(isp.asn)
            reg.ip_country.append(US)
            reg.ip_proxy.append(int(rng.choice([1, -1, 0], p=[0.15, 0.55, 0.3])))
        else:
            net = HOSTING_NETWORKS[j % len(HOSTING_NETWORKS)]
            reg.ip_value.append(net.base + 256 + (j * 104_729) % (net.span - 512))
            reg.ip_asn.append(net.asn)
            country = PROXY_COUNTRIES[int(rng.integers(len(PROXY_COUNTRIES)))]
            reg.ip_country.append(COUNTRY_INDEX[country])
            reg.ip_proxy.append(int(rng.choice([1, -1, 0], p=[0.5, 0.3, 0.2])))
    return code(IP_RING, np.arange(first, first + count))


def logins(world: World, account: I64, ts: I64, device: I64, ip: I64) -> EventBatch:
    """Logins on the given device and IP, or the account's own phone and usual network
    where none is given."""
    person = world.person[account].astype(np.int64)
    own_device = world.phone_device(person, ts)
    own_ip = world.usual_ip(account, ts)
    return events(
        account,
        ts,
        LOGIN,
        device=np.where(device >= 0, device, own_device),
        ip=np.where(ip >= 0, ip, own_ip),
    )


def pays(world: World, account: I64, ts: I64, merchant: I64, amount: F64) -> EventBatch:
    """Card payments with each account's first card."""
    person = world.person[account].astype(np.int64)
    return events(
        account,
        ts,
        PAYMENT,
        card=code(CARD_PERSONAL, person * 4),
        merchant=merchant,
        amount=money(amount),
    )


def sends(account: I64, ts: I64, to: I64, amount: np.ndarray, device: I64, ip: I64) -> EventBatch:
    return events(
        account, ts, TRANSFER, counterparty=to, amount=money(amount), device=device, ip=ip
    )
