"""The modelled world's state: time window, entity tables, customers and the event log.

Entities (devices, IPs, phones, emails, addresses, cards, merchants, external accounts)
are rows of append-only :class:`Registry` tables; events refer to them by row index and
are rendered to text only when written. Every random draw comes from a generator derived
from the scenario seed and a component name, so adding a component leaves the others'
draws unchanged and the same arguments always give the same bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from benchmarks.crosscheck.geo import DIURNAL, METROS

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

DAY: Final = 86_400
HOUR: Final = 3_600
#: First second of the exported window: Monday 2 June 2025, 00:00 UTC.
WINDOW_START: Final = 1_748_822_400
#: Length of the export in days (to 1 December 2025).
WINDOW_DAYS: Final = 182
WINDOW_END: Final = WINDOW_START + WINDOW_DAYS * DAY
#: Fall term starts on Monday 25 August 2025 (day 84 of the window).
TERM_START_DAY: Final = 84
NONE: Final = -1
#: Device or IP of an event to be filled from the account's session context at the end,
#: once every group and ring has set the account's devices and networks.
AUTO: Final = -2


class EventType(IntEnum):
    """Event kinds, in the order of their text names in the export."""

    SIGNUP = 0
    LOGIN = 1
    PAYMENT = 2
    TRANSFER = 3


EVENT_TYPE_NAMES: Final[tuple[str, ...]] = ("signup", "login", "payment", "transfer")


class Registry:
    """An append-only table of one kind of entity; a row index is the entity's handle.

    Columns live in buffers that double when full, so appending is amortised O(rows added)
    and reading a column is O(1) (a view of the filled part).

    Parameters
    ----------
    fields : mapping of str to numpy dtype
        The table's columns.
    """

    def __init__(self, fields: Mapping[str, type | np.dtype]) -> None:
        self._data = {name: np.empty(16, dtype=np.dtype(dt)) for name, dt in fields.items()}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, n: int, **values: ArrayLike) -> I64:
        """Append ``n`` rows; scalars broadcast. Returns the new rows' indices."""
        missing = set(self._data) - set(values)
        if missing:
            raise ValueError(f"missing fields {sorted(missing)}")
        start, end = self._size, self._size + n
        for name, buffer in self._data.items():
            if end > buffer.size:
                grown = np.empty(max(end, 2 * buffer.size), dtype=buffer.dtype)
                grown[:start] = buffer[:start]
                self._data[name] = buffer = grown
            buffer[start:end] = np.broadcast_to(np.asarray(values[name], dtype=buffer.dtype), (n,))
        self._size = end
        return np.arange(start, end, dtype=np.int64)

    def col(self, name: str) -> np.ndarray:
        """Column ``name`` (a view, valid until the next ``add``)."""
        return self._data[name][: self._size]


@dataclass
class Entities:
    """Every entity table of the world."""

    #: kind: see ``identities.DeviceKind``; os: index into ``identities.OS_NAMES``.
    devices: Registry = field(
        default_factory=lambda: Registry(
            {"kind": np.int8, "os": np.int16, "emulator": np.bool_, "rooted": np.bool_}
        )
    )
    #: v4 holds the IPv4 integer, or the low 64 bits of an IPv6 address under ``v6_prefix``.
    ips: Registry = field(
        default_factory=lambda: Registry(
            {
                "v4": np.int64,
                "v6_prefix": np.int8,
                "asn": np.int32,
                "country": np.int8,
                "proxy": np.bool_,
            }
        )
    )
    #: country: index into ``geo.PHONE_COUNTRIES``; nsn: national significant number.
    phones: Registry = field(
        default_factory=lambda: Registry({"country": np.int8, "nsn": np.int64})
    )
    emails: Registry = field(default_factory=lambda: Registry({"local": object, "domain": object}))
    addresses: Registry = field(
        default_factory=lambda: Registry(
            {
                "number": np.int32,
                "street": np.int16,
                "suffix": np.int8,
                "unit": object,
                "metro": np.int8,
                "zip": np.int32,
                "zip4": np.int16,
            }
        )
    )
    cards: Registry = field(default_factory=lambda: Registry({"token": np.int64}))
    merchants: Registry = field(
        default_factory=lambda: Registry({"category": np.int8, "metro": np.int8})
    )
    externals: Registry = field(default_factory=lambda: Registry({"routing": np.int8}))


EVENT_FIELDS: Final[dict[str, type]] = {
    "ts": np.int64,
    "etype": np.int8,
    "account": np.int32,
    "device": np.int32,
    "ip": np.int32,
    "phone": np.int32,
    "email": np.int32,
    "card": np.int32,
    "address": np.int32,
    "merchant": np.int32,
    "counterparty": np.int32,
    "cents": np.int64,
    "currency": np.int8,
}


class EventLog:
    """Events as integer columns referring to entity rows; ``NONE`` where a field is absent.

    ``counterparty`` is an account index, or ``n_accounts + i`` for external account ``i``;
    ``currency`` indexes ``geo.CURRENCIES``.
    """

    def __init__(self) -> None:
        self._chunks: dict[str, list[np.ndarray]] = {name: [] for name in EVENT_FIELDS}
        self.size = 0

    def add(self, ts: ArrayLike, etype: EventType, **values: ArrayLike) -> None:
        """Append events; every other field given broadcasts against ``ts``.

        Complexity: O(n).
        """
        unknown = set(values) - set(EVENT_FIELDS)
        if unknown:
            raise ValueError(f"unknown event fields {sorted(unknown)}")
        times = np.asarray(ts, dtype=np.int64).ravel()
        n = times.size
        if n == 0:
            return
        if times.min() < WINDOW_START or times.max() >= WINDOW_END:
            raise ValueError(f"{etype.name.lower()} events outside the export window")
        self._chunks["ts"].append(times)
        self._chunks["etype"].append(np.full(n, int(etype), dtype=np.int8))
        columns: dict[str, np.ndarray] = {
            name: np.broadcast_to(np.asarray(values.get(name, NONE), dtype=dtype), (n,)).copy()
            for name, dtype in EVENT_FIELDS.items()
            if name not in ("ts", "etype")
        }
        if (columns["account"] == columns["counterparty"]).any():
            raise ValueError("an account cannot transfer money to itself")
        for name, column in columns.items():
            self._chunks[name].append(column)
        self.size += n

    def columns(self) -> dict[str, np.ndarray]:
        """All events, concatenated in insertion order."""
        return {name: np.concatenate(chunks) for name, chunks in self._chunks.items()}


@dataclass
class Customers:
    """Per-account state, one row per account index.

    ``open_ts`` before ``WINDOW_START`` means an established account (no signup event in
    the export). Device, IP and card fields hold entity rows or ``NONE``.
    """

    n: int
    metro: NDArray[np.int8]
    open_ts: I64
    activity: F64
    phone: I64
    email: I64
    address: I64
    card: I64
    shared_card: I64
    device: I64
    second_device: I64
    new_device: I64
    new_device_ts: I64
    family_device: I64
    emulator_device: I64
    home_ip: I64
    next_home_ip: I64
    home_ip_switch_ts: I64
    cell_share: F64
    carrier: NDArray[np.int8]
    nat_pool: I64
    office_ip: I64
    campus_ip: I64
    vpn_pool: I64
    vpn_share: F64
    signup_device: I64
    signup_ip: I64
    own_external: I64
    business: B
    fraud_opened: B

    @classmethod
    def empty(cls, n: int) -> Customers:
        """Customers with every optional field unset."""

        def unset() -> I64:
            return np.full(n, NONE, dtype=np.int64)

        return cls(
            n=n,
            metro=np.zeros(n, dtype=np.int8),
            open_ts=np.zeros(n, dtype=np.int64),
            activity=np.ones(n),
            phone=unset(),
            email=unset(),
            address=unset(),
            card=unset(),
            shared_card=unset(),
            device=unset(),
            second_device=unset(),
            new_device=unset(),
            new_device_ts=np.full(n, WINDOW_END + DAY, dtype=np.int64),
            family_device=unset(),
            emulator_device=unset(),
            home_ip=unset(),
            next_home_ip=unset(),
            home_ip_switch_ts=np.full(n, WINDOW_END + DAY, dtype=np.int64),
            cell_share=np.zeros(n),
            carrier=np.zeros(n, dtype=np.int8),
            nat_pool=unset(),
            office_ip=unset(),
            campus_ip=unset(),
            vpn_pool=unset(),
            vpn_share=np.zeros(n),
            signup_device=unset(),
            signup_ip=unset(),
            own_external=unset(),
            business=np.zeros(n, dtype=np.bool_),
            fraud_opened=np.zeros(n, dtype=np.bool_),
        )


@dataclass(frozen=True)
class Group:
    """A benign sharing group: legitimate accounts sharing identifiers for one reason."""

    kind: str
    group_id: str
    members: I64


@dataclass(frozen=True)
class Ring:
    """A planted fraud ring, its members and the time each member's fraud happened."""

    ring_id: str
    typology: str
    members: I64
    fraud_ts: I64


@dataclass
class World:
    """Everything a scenario is built from; components add to it in a fixed order."""

    seed: int
    customers: Customers
    entities: Entities = field(default_factory=Entities)
    slots: SlotAllocator = field(init=False)
    events: EventLog = field(default_factory=EventLog)
    groups: list[Group] = field(default_factory=list)
    rings: list[Ring] = field(default_factory=list)
    #: Pools of IP rows (carrier NAT pools, VPN providers), referred to by index.
    ip_pools: list[I64] = field(default_factory=list)
    #: Named IP pools (``nat/<carrier>/<metro>``, ``vpn/<provider>``) by pool index.
    pool_names: dict[str, int] = field(default_factory=dict)
    #: Friend lists used by ordinary P2P transfers: (account, friend) pairs.
    friends: list[tuple[I64, I64]] = field(default_factory=list)
    #: Mobile IPv6 leases: sorted keys ``account * 16 + month`` and their IP rows.
    v6_keys: I64 = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    v6_rows: I64 = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    #: Every email address issued so far, lower-cased (addresses are never reissued).
    issued_emails: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.slots = SlotAllocator(self.seed)

    def rng(self, component: str) -> np.random.Generator:
        """A generator for ``component``, independent of every other component's."""
        return np.random.default_rng([self.seed, zlib.crc32(component.encode())])

    def add_group(self, kind: str, number: int, members: ArrayLike) -> Group:
        """Record a benign group ``<kind>-<number>`` and return it."""
        group = Group(kind, f"{kind}-{number:05d}", np.asarray(members, dtype=np.int64))
        self.groups.append(group)
        return group

    def add_pool(self, name: str, ips: I64) -> int:
        """Register the IP pool ``name``; returns its index."""
        self.ip_pools.append(np.asarray(ips, dtype=np.int64))
        self.pool_names[name] = len(self.ip_pools) - 1
        return len(self.ip_pools) - 1

    def legit_individuals(self) -> I64:
        """Accounts of real, legitimate people (no fraud-opened or business accounts)."""
        c = self.customers
        return np.flatnonzero(~c.fraud_opened & ~c.business)


_DIURNAL_CDF: Final = np.cumsum(DIURNAL) / np.sum(DIURNAL)
_UTC_OFFSETS: Final = np.array([m.utc_offset for m in METROS], dtype=np.int64)


def local_time(
    rng: np.random.Generator,
    day: ArrayLike,
    metro: ArrayLike,
    hours: tuple[float, float] | None = None,
) -> I64:
    """Epoch seconds on window day ``day`` at a local time in ``metro``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    day : array_like of int
        Day offsets from ``WINDOW_START`` (may be negative or past the end).
    metro : array_like of int
        Metro indices (their UTC offset applies).
    hours : (float, float), optional
        Uniform local hours to draw from; the retail diurnal curve when omitted.

    Returns
    -------
    ndarray of int64
        Timestamps, one per element of the broadcast ``day`` and ``metro``.
    """
    days, metros = np.broadcast_arrays(np.asarray(day, dtype=np.int64), np.asarray(metro))
    n = days.size
    if hours is None:
        hour = np.searchsorted(_DIURNAL_CDF, rng.random(n), side="right").astype(np.float64)
        hour += rng.random(n)
    else:
        hour = rng.uniform(hours[0], hours[1], n)
    local = (hour * HOUR).astype(np.int64)
    utc = local - _UTC_OFFSETS[metros.ravel().astype(np.int64)] * HOUR
    ts = WINDOW_START + days.ravel() * DAY + utc
    # A local evening on the last day is already past the end in UTC: keep it a day earlier.
    out: I64 = np.where(ts >= WINDOW_END, ts - DAY, ts).astype(np.int64)
    return out


def spread_in(rng: np.random.Generator, lo: ArrayLike, hi: ArrayLike, metro: ArrayLike) -> I64:
    """Times between epoch seconds ``lo`` and ``hi`` (per element), at diurnal local hours."""
    lo_a, hi_a, metros = np.broadcast_arrays(
        np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64), np.asarray(metro)
    )
    span_days = np.maximum((hi_a - lo_a) // DAY, 0)
    first_day = (lo_a - WINDOW_START) // DAY
    day = first_day + (rng.random(lo_a.size) * (span_days.ravel() + 1)).astype(np.int64)
    ts = local_time(rng, day.ravel(), metros.ravel())
    return np.clip(ts, lo_a.ravel(), hi_a.ravel())


class SlotAllocator:
    """Hands out distinct slots of a keyed space in a scattered order, never one twice.

    Slot ``c`` of key ``k`` is ``(c * P + salt_k) mod size``, a permutation of the space
    while ``P`` is coprime to ``size``; used for IP addresses, phone numbers and street
    addresses so that unrelated customers never collide by chance.
    """

    _STRIDE: Final = 2_654_435_761

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._next: dict[object, int] = {}

    def take(self, key: object, n: int, size: int) -> I64:
        """``n`` fresh slots in ``[0, size)`` of ``key``'s space."""
        start = self._next.get(key, 0)
        if start + n > size:
            raise ValueError(f"slot space of {key!r} exhausted ({size} slots)")
        self._next[key] = start + n
        salt = zlib.crc32(repr((self._seed, key)).encode()) % size
        stride = self._STRIDE % size
        while np.gcd(stride, size) != 1:
            stride += 1
        counters = np.arange(start, start + n, dtype=np.int64)
        return (counters * stride + salt) % size


def days_after_open(
    rng: np.random.Generator, open_ts: ArrayLike, last_day: int = WINDOW_DAYS - 1
) -> I64:
    """A random window day after each account's opening (its opening day when none is left)."""
    first = np.maximum(np.asarray(open_ts, dtype=np.int64) - WINDOW_START, 0) // DAY + 1
    first = np.minimum(first, last_day)
    span = np.maximum(last_day - first + 1, 1)
    day: I64 = first + (rng.random(first.size) * span).astype(np.int64)
    return day


def later(ts: ArrayLike, delay: ArrayLike) -> I64:
    """``ts + delay``, kept inside the window (a follow-up of a session near its end)."""
    out: I64 = np.minimum(np.asarray(ts, dtype=np.int64) + np.asarray(delay), WINDOW_END - 1)
    return out


def unique_integers(rng: np.random.Generator, n: int, low: int, high: int) -> I64:
    """``n`` distinct integers in ``[low, high)``, in random order.

    Complexity: O(n log n); ``high - low`` must be much larger than ``n``.
    """
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        draw = rng.integers(low, high, size=int((n - out.size) * 1.1) + 8, dtype=np.int64)
        merged = np.concatenate([out, draw])
        _, first = np.unique(merged, return_index=True)
        out = merged[np.sort(first)]
    return out[:n]


def pick(rng: np.random.Generator, pool: ArrayLike, n: int) -> I64:
    """``n`` draws with replacement from ``pool``."""
    values = np.asarray(pool, dtype=np.int64)
    return values[rng.integers(0, values.size, n)]


def skewed_sizes(rng: np.random.Generator, n: int, low: int, high: int, power: float) -> I64:
    """Group sizes in ``[low, high]``, small ones more likely the larger ``power`` is."""
    return low + np.floor((high - low + 1) * rng.random(n) ** power).astype(np.int64)
