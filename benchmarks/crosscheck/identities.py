"""Entity factories and every customer's own identity: phone, email, address, devices, IPs.

Factories draw entities that never collide by chance with one made elsewhere (IPs, phone
numbers and street addresses come from :class:`~benchmarks.crosscheck.world.SlotAllocator`
spaces, emails are checked against those already issued), so any identifier two accounts
share in the export was shared on purpose by a benign group or a fraud ring.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

from benchmarks.crosscheck.geo import (
    CA_AREAS,
    CARRIERS,
    COUNTRIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    METROS,
    MX_AREAS,
    PHONE_COUNTRIES,
    RESIDENTIAL,
    ROUTING_NUMBERS,
    STREETS,
    SUFFIXES,
    Network,
)
from benchmarks.crosscheck.world import (
    DAY,
    I64,
    NONE,
    WINDOW_DAYS,
    WINDOW_END,
    WINDOW_START,
    Customers,
    World,
    local_time,
)


class DeviceKind(IntEnum):
    """Device families; phones first so that ``kind <= ANDROID`` means a handset."""

    IPHONE = 0
    ANDROID = 1
    IPAD = 2
    ANDROID_TABLET = 3
    WINDOWS = 4
    MAC = 5
    LINUX = 6


#: OS strings as device SDKs and browsers report them, grouped by device kind.
OS_BY_KIND: Final[dict[DeviceKind, tuple[str, ...]]] = {
    DeviceKind.IPHONE: ("iOS 18.1", "iOS 18.0", "iOS 17.6", "iOS 17.5", "iOS 16.7", "iOS"),
    DeviceKind.ANDROID: ("Android 15", "Android 14", "Android 13", "Android 12", "android"),
    DeviceKind.IPAD: ("iPadOS 18.1", "iPadOS 17.5"),
    DeviceKind.ANDROID_TABLET: ("Android 14", "Android 13"),
    DeviceKind.WINDOWS: ("Windows 11", "Windows 10", "Windows"),
    DeviceKind.MAC: ("macOS 15.1", "macOS 14.5", "Mac OS X 10.15"),
    DeviceKind.LINUX: ("Linux", "Ubuntu"),
}
OS_NAMES: Final[tuple[str, ...]] = tuple(dict.fromkeys(s for v in OS_BY_KIND.values() for s in v))
_OS_INDEX: Final = {name: i for i, name in enumerate(OS_NAMES)}
_OS_CHOICES: Final = {
    kind: np.array([_OS_INDEX[s] for s in names], dtype=np.int16)
    for kind, names in OS_BY_KIND.items()
}
_COUNTRY: Final = {code: i for i, code in enumerate(COUNTRIES)}
_VALID_EXCHANGES: Final = np.array(
    [e for e in range(201, 1000) if e % 100 != 11 and e != 555 and e != 950], dtype=np.int64
)


def country_index(code: str) -> int:
    """Index of an ISO country code in ``geo.COUNTRIES``."""
    return _COUNTRY[code]


def new_devices(
    world: World,
    kind: ArrayLike,
    *,
    emulator: ArrayLike = False,
    rooted: ArrayLike = False,
) -> I64:
    """New devices of the given kinds (one per element), with a plausible OS version."""
    rng = world.rng(f"devices-{len(world.entities.devices)}")
    kinds = np.asarray(kind, dtype=np.int8).ravel()
    os = np.empty(kinds.size, dtype=np.int16)
    for k, choices in _OS_CHOICES.items():
        mask = kinds == k
        # Older OS versions are rarer; the last choice is the bare family name.
        weights = np.linspace(1.0, 0.3, choices.size)
        os[mask] = rng.choice(choices, size=int(mask.sum()), p=weights / weights.sum())
    return world.entities.devices.add(
        kinds.size, kind=kinds, os=os, emulator=emulator, rooted=rooted
    )


def new_ipv4(
    world: World,
    network: Network,
    n: int,
    *,
    country: str | ArrayLike | None = None,
    proxy: ArrayLike = False,
    asn: int | None = None,
) -> I64:
    """``n`` distinct IPv4 addresses of ``network`` (its ASN unless ``asn`` is given)."""
    sixteens = np.array([(a << 8) | b for a, lo, hi in network.ranges for b in range(lo, hi + 1)])
    slots = world.slots.take(("ipv4", network.name), n, sixteens.size * 65_536)
    v4 = (sixteens[slots // 65_536] << 16) | (slots % 65_536)
    where = network.country if country is None else country
    if isinstance(where, str):
        countries: ArrayLike = _COUNTRY[where]
    else:
        countries = np.asarray(where)
    return world.entities.ips.add(
        n,
        v4=v4,
        v6_prefix=NONE,
        asn=network.asn if asn is None else asn,
        country=countries,
        proxy=proxy,
    )


def new_ipv6(world: World, carrier: ArrayLike) -> I64:
    """Mobile IPv6 addresses under each carrier's /32 (one per element of ``carrier``)."""
    carriers = np.asarray(carrier, dtype=np.int8).ravel()
    rng = world.rng(f"ipv6-{len(world.entities.ips)}")
    low = rng.integers(1, 2**62, size=carriers.size, dtype=np.int64)
    asns = np.array([c.asn for c, _ in CARRIERS], dtype=np.int32)[carriers]
    return world.entities.ips.add(
        carriers.size, v4=low, v6_prefix=carriers, asn=asns, country=_COUNTRY["US"], proxy=False
    )


def residential_ips(world: World, n: int, *, proxy: ArrayLike = False) -> I64:
    """Home broadband addresses across the residential ISPs (one ISP per address)."""
    rng = world.rng(f"residential-{len(world.entities.ips)}")
    isp = rng.integers(0, len(RESIDENTIAL), n)
    out = np.empty(n, dtype=np.int64)
    proxies = np.broadcast_to(np.asarray(proxy, dtype=np.bool_), (n,))
    for i, network in enumerate(RESIDENTIAL):
        mask = isp == i
        out[mask] = new_ipv4(world, network, int(mask.sum()), proxy=proxies[mask])
    return out


def new_phones(world: World, metro: ArrayLike, *, foreign_share: float = 0.0) -> I64:
    """Phone numbers local to ``metro`` (one per element); some foreign when asked."""
    metros = np.asarray(metro, dtype=np.int64).ravel()
    n = metros.size
    rng = world.rng(f"phones-{len(world.entities.phones)}")
    weights = np.array([w for _, _, w in PHONE_COUNTRIES])
    country = np.zeros(n, dtype=np.int8)
    if foreign_share > 0:
        foreign = rng.random(n) < foreign_share
        p = weights[1:] / weights[1:].sum()
        country[foreign] = 1 + rng.choice(len(p), size=int(foreign.sum()), p=p)
    area = np.zeros(n, dtype=np.int64)
    us = country == 0
    for m, metro_info in enumerate(METROS):
        mask = us & (metros == m)
        area[mask] = rng.choice(metro_info.area_codes, size=int(mask.sum()))
    area[country == 1] = rng.choice(CA_AREAS, size=int((country == 1).sum()))
    nsn = np.zeros(n, dtype=np.int64)
    nanp = country <= 1
    for code in np.unique(area[nanp]):
        mask = nanp & (area == code)
        slots = world.slots.take(
            ("nanp", int(code)), int(mask.sum()), _VALID_EXCHANGES.size * 10_000
        )
        nsn[mask] = code * 10_000_000 + _VALID_EXCHANGES[slots // 10_000] * 10_000 + slots % 10_000
    mx = country == 2
    if mx.any():
        mx_area = rng.choice(MX_AREAS, size=int(mx.sum()))
        slots = world.slots.take("mx", int(mx.sum()), 80_000_000)
        nsn[mx] = mx_area * 100_000_000 + 20_000_000 + slots
    gb = country == 3
    if gb.any():
        prefix = rng.choice(np.array([74, 75, 78]), size=int(gb.sum()))
        slots = world.slots.take("gb", int(gb.sum()), 100_000_000)
        nsn[gb] = prefix * 100_000_000 + slots
    return world.entities.phones.add(n, country=country, nsn=nsn)


def new_emails(world: World, n: int, *, domain: str | None = None) -> I64:
    """Personal email addresses made from people's names (never one issued before)."""
    rng = world.rng(f"emails-{len(world.entities.emails)}")
    first = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.strings.replace(np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n)], "'", "")
    number = rng.integers(1, 100, n).astype(str)
    year = rng.integers(60, 106, n) % 100
    year_s = np.strings.zfill(year.astype(str), 2)
    initial = np.strings.slice(first, 0, 1)
    patterns = np.stack(
        [
            first + "." + last,
            first + last,
            initial + last,
            first + "_" + last + number,
            first + "." + last + year_s,
            np.strings.lower(first) + np.strings.lower(last) + number,
            last + initial + year_s,
        ]
    )
    which = rng.choice(patterns.shape[0], size=n, p=[0.25, 0.15, 0.15, 0.1, 0.15, 0.12, 0.08])
    local = patterns[which, np.arange(n)]
    # Most people type their address in lower case; some keep the capitals of their name.
    keep_case = rng.random(n) < 0.25
    local = np.where(keep_case, local, np.strings.lower(local))
    if domain is None:
        names = np.array([d for d, _ in EMAIL_DOMAINS])
        weights = np.array([w for _, w in EMAIL_DOMAINS])
        domains = names[rng.choice(names.size, size=n, p=weights / weights.sum())]
    else:
        domains = np.full(n, domain)
    local = _dedupe_emails(world, rng, local, domains)
    return world.entities.emails.add(n, local=local, domain=domains.astype(object))


def _dedupe_emails(
    world: World, rng: np.random.Generator, local: np.ndarray, domain: np.ndarray
) -> np.ndarray:
    """Append digits to any address already issued (or repeated in this batch)."""
    issued = world.issued_emails
    out = local.astype(object)
    for i, (name, host) in enumerate(zip(out.tolist(), domain.tolist(), strict=True)):
        candidate = name
        while f"{candidate}@{host}".lower() in issued:
            candidate = f"{name}{int(rng.integers(100, 10_000))}"
        issued.add(f"{candidate}@{host}".lower())
        out[i] = candidate
    return out


def new_addresses(
    world: World,
    metro: ArrayLike,
    *,
    unit_share: float = 0.35,
    units: ArrayLike | None = None,
    building: ArrayLike | None = None,
) -> I64:
    """Street addresses in ``metro`` (one per element).

    With ``building`` (address rows), each new address is another unit of that building
    and ``units`` gives the unit names; otherwise each address is a new building, with a
    unit for about ``unit_share`` of them.
    """
    reg = world.entities.addresses
    metros = np.asarray(metro, dtype=np.int64).ravel()
    n = metros.size
    rng = world.rng(f"addresses-{len(reg)}")
    if building is not None:
        rows = np.asarray(building, dtype=np.int64).ravel()
        unit_names = np.broadcast_to(np.asarray(units, dtype=object), (n,))
        return reg.add(
            n,
            number=reg.col("number")[rows],
            street=reg.col("street")[rows],
            suffix=reg.col("suffix")[rows],
            unit=unit_names,
            metro=reg.col("metro")[rows],
            zip=reg.col("zip")[rows],
            zip4=reg.col("zip4")[rows],
        )
    number = np.zeros(n, dtype=np.int64)
    street = np.zeros(n, dtype=np.int64)
    suffix = np.zeros(n, dtype=np.int64)
    space = 9_999 * len(STREETS) * len(SUFFIXES)
    for m in np.unique(metros):
        mask = metros == m
        slots = world.slots.take(("street", int(m)), int(mask.sum()), space)
        number[mask] = 1 + slots % 9_999
        street[mask] = (slots // 9_999) % len(STREETS)
        suffix[mask] = slots // (9_999 * len(STREETS))
    zip3 = np.array([mt.zip3 for mt in METROS], dtype=np.int64)[metros]
    # One ZIP per street and block of a thousand numbers, so neighbours agree.
    block = (street * 131 + suffix * 17 + number // 1_000 * 7 + metros * 3) % 90
    zip5 = zip3 * 100 + block + 1
    zip4 = (number * 37 + street * 101) % 9_000 + 1_000
    if units is None:
        has_unit = rng.random(n) < unit_share
        unit = _unit_names(rng, n)
        unit_names = np.where(has_unit, unit, "").astype(object)
    else:
        unit_names = np.broadcast_to(np.asarray(units, dtype=object), (n,))
    return reg.add(
        n,
        number=number,
        street=street,
        suffix=suffix,
        unit=unit_names,
        metro=metros,
        zip=zip5,
        zip4=zip4,
    )


def _unit_names(rng: np.random.Generator, n: int) -> np.ndarray:
    floor = rng.integers(1, 25, n)
    door = rng.integers(1, 12, n)
    letter = np.array(list("ABCDEF"))[rng.integers(0, 6, n)]
    numeric = floor.astype(str) + np.strings.zfill(door.astype(str), 2)
    lettered = floor.astype(str) + letter
    return np.where(rng.random(n) < 0.6, numeric, lettered)


def new_cards(world: World, n: int) -> I64:
    """Payment card tokens."""
    rng = world.rng(f"cards-{len(world.entities.cards)}")
    return world.entities.cards.add(n, token=rng.integers(1, 2**62, n, dtype=np.int64))


def new_externals(world: World, n: int) -> I64:
    """Accounts held at other banks; returned as counterparty codes (``n_accounts + row``)."""
    rng = world.rng(f"externals-{len(world.entities.externals)}")
    rows = world.entities.externals.add(n, routing=rng.integers(0, len(ROUTING_NUMBERS), n))
    return world.customers.n + rows


def phone_devices(world: World, n: int, *, rooted_share: float = 0.025) -> I64:
    """Customers' handsets: iPhones and Androids in US proportions, a few Androids rooted."""
    rng = world.rng(f"handsets-{len(world.entities.devices)}")
    kind = np.where(rng.random(n) < 0.56, DeviceKind.IPHONE, DeviceKind.ANDROID)
    rooted = (kind == DeviceKind.ANDROID) & (rng.random(n) < rooted_share)
    return new_devices(world, kind, rooted=rooted)


def computer_devices(world: World, n: int) -> I64:
    """Laptops and desktops browsing online banking."""
    rng = world.rng(f"computers-{len(world.entities.devices)}")
    kind = rng.choice(
        np.array([DeviceKind.WINDOWS, DeviceKind.MAC, DeviceKind.LINUX]),
        size=n,
        p=[0.62, 0.34, 0.04],
    )
    return new_devices(world, kind)


def build_customers(world: World) -> None:
    """Give every account its metro, opening time, activity level and own identifiers.

    About 82% of accounts were opened before the window (established customers, no signup
    in the export); the rest open during it, more on marketing-campaign days. Benign groups
    and fraud rings later override parts of this identity.
    """
    c: Customers = world.customers
    n = c.n
    rng = world.rng("customers")
    weights = np.array([m.weight for m in METROS])
    c.metro[:] = rng.choice(len(METROS), size=n, p=weights / weights.sum())
    established = rng.random(n) < 0.82
    age_days = (30 + rng.gamma(1.4, 900, n)).astype(np.int64)
    c.open_ts[:] = WINDOW_START - age_days * DAY + rng.integers(0, DAY, n)
    # Campaign days (a promotion every few weeks) draw about a quarter of new accounts.
    campaigns = np.array([9, 38, 66, 101, 129, 157])
    day = rng.integers(0, WINDOW_DAYS - 1, n)
    on_campaign = rng.random(n) < 0.25
    day[on_campaign] = rng.choice(campaigns, size=int(on_campaign.sum())) + rng.integers(
        0, 3, int(on_campaign.sum())
    )
    new_ts = local_time(rng, day, c.metro)
    c.open_ts[:] = np.where(established, c.open_ts, np.clip(new_ts, WINDOW_START, WINDOW_END - DAY))
    c.activity[:] = rng.gamma(1.6, 1 / 1.6, n)
    c.phone[:] = new_phones(world, c.metro, foreign_share=0.045)
    c.email[:] = new_emails(world, n)
    c.address[:] = new_addresses(world, c.metro)
    c.card[:] = new_cards(world, n)
    c.device[:] = phone_devices(world, n)
    has_computer = np.flatnonzero(rng.random(n) < 0.45)
    c.second_device[has_computer] = computer_devices(world, has_computer.size)
    upgrades = np.flatnonzero(rng.random(n) < 0.18)
    c.new_device[upgrades] = phone_devices(world, upgrades.size)
    c.new_device_ts[upgrades] = (
        WINDOW_START + rng.integers(10, WINDOW_DAYS - 5, upgrades.size) * DAY
    )
    developers = np.flatnonzero(rng.random(n) < 0.004)
    c.emulator_device[developers] = new_devices(
        world, np.full(developers.size, DeviceKind.ANDROID), emulator=True
    )
    c.home_ip[:] = residential_ips(world, n)
    movers = np.flatnonzero(rng.random(n) < 0.3)
    c.next_home_ip[movers] = residential_ips(world, movers.size)
    c.home_ip_switch_ts[movers] = WINDOW_START + rng.integers(5, WINDOW_DAYS - 5, movers.size) * DAY
    c.cell_share[:] = rng.beta(2.0, 3.0, n)
    c.carrier[:] = rng.choice(len(CARRIERS), size=n, p=[0.38, 0.36, 0.26])
    banked_elsewhere = np.flatnonzero(rng.random(n) < 0.6)
    c.own_external[banked_elsewhere] = new_externals(world, banked_elsewhere.size)
