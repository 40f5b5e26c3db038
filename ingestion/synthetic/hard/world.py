"""The hard profile's customer book: accounts, households, identities and networks.

Per-account state is a handful of arrays; a person's devices, cards, NAT and VPN exits
are stateless hashes of the account and the time, so memory stays O(accounts).
Accounts are numbered in order of signup (``World.created`` ascends).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from graph_service.typing import F64, I64, BoolArray
from ingestion.synthetic.hard.config import BenignKind, HardScenarioConfig
from ingestion.synthetic.hard.events import (
    DAY,
    DEV_FAMILY,
    DEV_PERSONAL,
    EMAIL_SHIFT,
    HOUR,
    I8,
    I32,
    IP_CAMPUS,
    IP_HOME,
    IP_NAT,
    IP_OFFICE,
    IP_VPN,
    PHONE_SHIFT,
    WEEK,
    code,
)
from ingestion.synthetic.hard.tables import (
    CITIES,
    COUNTRIES,
    COUNTRY_INDEX,
    FIRST_NAMES,
    LAST_NAMES,
    MAIL_DOMAINS,
    STREET_SUFFIXES,
    STREETS,
    VPN_NETWORKS,
    Network,
)
from ingestion.synthetic.hashing import Scramble, derive_salt, hashed_below, hashed_unit

__all__ = ["Draft", "RingRegistry", "StandingOrders", "World", "draft_accounts", "microseconds"]

U16 = npt.NDArray[np.uint16]

# Account flags (bits of ``World.flags``).
MOBILE_ONLY: Final = 1
CELLULAR: Final = 2
VPN_USER: Final = 4
DEVELOPER: Final = 8
SECOND_DEVICE: Final = 16
STUDENT: Final = 32
BRANCH: Final = 64
FAKE: Final = 128
# Household flags (bits of ``World.hh_flags``).
HH_FAMILY_DEVICE: Final = 1
HH_FAMILY_CARD: Final = 2
HH_FAMILY_PHONE: Final = 4
HH_FAMILY_EMAIL: Final = 8
HH_IPV6: Final = 16

#: Terms start in mid-January and late August.
_TERM_STARTS: Final = ((1, 13), (8, 25))
TERM_DAYS: Final = 105
_DST_RULES: Final = {"": 0, "us": 1, "eu": 2}
_SALT_PURPOSES: Final = [
    "account",
    "device",
    "card",
    "merchant",
    "mailbox",
    "address",
    "habits",
    "profile",
    "lease",
    "carrier",
    "nat",
    "vpn",
    "pins",
    "emails",
    "device_traits",
    "ip_traits",
    "ip_flags",
    "rooted",
    "render",
]
#: Where US residents' foreign mobile numbers come from.
_FOREIGN_PHONES: Final = (("MX", 0.4), ("IN", 0.3), ("CA", 0.1), ("GB", 0.1), ("DE", 0.1))
#: Address space: house number x street x suffix x city, and apartment units.
HOUSE_NUMBERS: Final = 9_899


def microseconds(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _day_us(year: int, month: int, day: int) -> int:
    return microseconds(datetime(year, month, day, tzinfo=UTC))


def _year(us: int) -> int:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).year


def term_starts(start_us: int, end_us: int) -> I64:
    """Start days (UTC midnight) of the terms that overlap ``[start_us, end_us)``."""
    years = range(_year(start_us) - 1, _year(end_us) + 1)
    starts = [_day_us(y, m, d) for y in years for m, d in _TERM_STARTS]
    return np.asarray([t for t in starts if start_us - TERM_DAYS * DAY < t < end_us], np.int64)


@dataclass(slots=True)
class Draft:
    """Accounts before they are sorted by signup, indexed by draft number.

    Ring planning moves new ring accounts' signups into the ring's window, marks ring
    members and fake identities and sets when accounts go silent; ``taken`` marks
    accounts already given a role (students and branch sign-ups keep theirs).
    """

    start_us: int
    end_us: int
    created: I64
    closed: I64
    student: BoolArray
    branch_device: I32
    weight: F64
    fake: BoolArray = field(init=False)
    member: BoolArray = field(init=False)
    taken: BoolArray = field(init=False)

    def __post_init__(self) -> None:
        self.fake = np.zeros(self.created.size, np.bool_)
        self.member = np.zeros(self.created.size, np.bool_)
        self.taken = self.student | (self.branch_device >= 0)


def draft_accounts(config: HardScenarioConfig, rng: np.random.Generator) -> Draft:
    """Draw signup and closure times, students and branch sign-ups.

    Parameters
    ----------
    config : HardScenarioConfig
    rng : numpy.random.Generator

    Returns
    -------
    Draft
        The accounts in draft order, for ring planning to adjust.

    Notes
    -----
    O(A) for A accounts.
    """
    n = config.accounts
    start_us = microseconds(config.start)
    span = config.days * DAY
    end_us = start_us + span
    book = rng.random(n) < config.initial_book_fraction
    later = start_us + 28 * DAY + (rng.random(n) ** 0.9 * (span - 29 * DAY)).astype(np.int64)
    created = np.where(book, start_us + (rng.random(n) * 28 * DAY).astype(np.int64), later)
    created = _daytime(created, rng)

    student = rng.random(n) < config.student_fraction
    terms = term_starts(start_us, end_us)
    terms = terms[terms >= start_us - WEEK]
    if terms.size:  # students sign up in the first weeks of a term
        term = terms[rng.integers(0, terms.size, n)]
        wave = (rng.exponential(4.0, n).clip(0, 21) * DAY).astype(np.int64)
        created = np.where(student, _daytime(np.maximum(term + wave, start_us), rng), created)

    branch = ~student & (rng.random(n) < config.branch_signup_fraction)
    branch_device = np.full(n, -1, np.int32)
    rows = np.flatnonzero(branch)
    devices = max(2, math.ceil(rows.size / config.branch_signups_per_device))
    branch_device[rows] = rng.integers(0, devices, rows.size)
    # A third of branch sign-ups fall on the tablet's busy days (a local promotion, the
    # first of the month), several on one tablet in a day.
    busy = rows[rng.random(rows.size) < 0.3]
    n_busy = max(1, busy.size // (5 * devices))
    busy_day = start_us + rng.integers(0, config.days, (devices, n_busy)) * DAY
    pick = busy_day[branch_device[busy], rng.integers(0, n_busy, busy.size)]
    created[busy] = pick + (created[busy] % DAY)
    created[rows] = _branch_hours(created[rows], rng)

    years = (end_us - created) / (365.25 * DAY)
    closes = rng.random(n) < 1.0 - np.exp(-config.closure_rate_per_year * years)
    closed = created + ((end_us - created) * rng.random(n)).astype(np.int64)
    closed = np.where(closes, np.maximum(closed, created + 30 * DAY), end_us)
    weight = rng.pareto(config.activity_exponent, n) + 1.0
    weight = np.minimum(weight, 100.0 * weight.mean())
    return Draft(
        start_us, end_us, created, np.minimum(closed, end_us), student, branch_device, weight
    )


def _daytime(ts: I64, rng: np.random.Generator) -> I64:
    """Move times to a waking hour (07:00-23:00 US Eastern), keeping the UTC day."""
    day = ts - ts % DAY
    return day + 12 * HOUR + (rng.beta(2.2, 2.0, ts.size) * 16 * HOUR).astype(np.int64)


def _branch_hours(ts: I64, rng: np.random.Generator) -> I64:
    """Move times into branch opening hours (Mon-Sat 09:00-17:00 US Eastern)."""
    day = ts // DAY
    sunday = (day + 3) % 7 == 6
    day = day + sunday
    opening: I64 = day * DAY + 14 * HOUR + (rng.random(ts.size) * 8 * HOUR).astype(np.int64)
    return opening


@dataclass(slots=True)
class StandingOrders:
    """Recurring transfers: pay, rent, allowances. One row per order.

    Occurrence ``k`` of order ``i`` is at ``phase[i] + k * period[i]``; ``kind`` is
    0 payroll, 1 rent, 2 household.
    """

    src: I32
    dst: I32
    amount: F64
    period: I64
    phase: I64
    kind: I8

    @staticmethod
    def empty() -> StandingOrders:
        """No orders."""
        i32, i64 = np.zeros(0, np.int32), np.zeros(0, np.int64)
        return StandingOrders(i32, i32, np.zeros(0), i64, i64, np.zeros(0, np.int8))


@dataclass(slots=True)
class RingRegistry:
    """Identifiers created for rings; they live in their own ranges of each space."""

    device_os: list[int] = field(default_factory=list)
    device_emulator: list[bool] = field(default_factory=list)
    device_rooted: list[bool] = field(default_factory=list)
    #: IPv4 value, ASN, country index and is_proxy (1 true, 0 false, -1 unknown).
    ip_value: list[int] = field(default_factory=list)
    ip_asn: list[int] = field(default_factory=list)
    ip_country: list[int] = field(default_factory=list)
    ip_proxy: list[int] = field(default_factory=list)
    mailboxes: int = 0
    addresses: int = 0
    merchants: int = 0


class World:
    """The customer book, sorted by signup time, and its identifier spaces.

    Built by :func:`ingestion.synthetic.hard.groups.build_world`; see there for how
    households and sharing groups are drawn.
    """

    def __init__(self, config: HardScenarioConfig, draft: Draft) -> None:
        self.config = config
        self.n = n = config.accounts
        self.start_us = microseconds(config.start)
        self.end_us = self.start_us + config.days * DAY
        self.salts = {p: derive_salt(config.seed, p) for p in _SALT_PURPOSES}
        order = np.argsort(draft.created, kind="stable")
        self.rank: I64 = np.empty(n, np.int64)
        self.rank[order] = np.arange(n, dtype=np.int64)
        self.created: I64 = draft.created[order]
        self.closed: I64 = draft.closed[order]
        self.weight: F64 = draft.weight[order]
        self.branch_device: I32 = draft.branch_device[order]
        self.flags: U16 = np.zeros(n, np.uint16)
        self.flags[draft.student[order]] |= STUDENT
        self.flags[self.branch_device >= 0] |= BRANCH
        self.flags[draft.fake[order]] |= FAKE
        self.n_branch_devices = int(self.branch_device.max()) + 1
        self.person: I32 = np.arange(n, dtype=np.int32)
        self.office: I32 = np.full(n, -1, np.int32)
        self.campus: I32 = np.full(n, -1, np.int32)
        self.ring_signup: BoolArray = np.zeros(n, np.bool_)
        self.is_member: BoolArray = draft.member[order]
        self.used: dict[BenignKind, BoolArray] = {}
        self.registry = RingRegistry()
        self.terms = term_starts(self.start_us, self.end_us)
        # Filled in by ``build_world``.
        self.household: I32 = np.zeros(n, np.int32)
        self.member_at: I32 = np.zeros(n, np.int32)
        self.hh_start: I64 = np.zeros(0, np.int64)
        self.hh_size: I32 = np.zeros(0, np.int32)
        self.hh_flags: npt.NDArray[np.uint8] = np.zeros(0, np.uint8)
        self.hh_country: I8 = np.zeros(0, np.int8)
        #: Number of each household among the households of its country.
        self.hh_local: I32 = np.zeros(0, np.int32)
        self.hh_utc_offset: npt.NDArray[np.int16] = np.zeros(0, np.int16)
        self.hh_dst: I8 = np.zeros(0, np.int8)
        self.hh_lease: I64 = np.zeros(0, np.int64)
        self.hh_phase: I64 = np.zeros(0, np.int64)
        self.country: I8 = np.zeros(n, np.int8)
        self.phone: I64 = np.zeros(n, np.int64)
        self.email: I64 = np.zeros(n, np.int64)
        self.address: I64 = np.zeros(n, np.int64)
        self.email_pin: I8 = np.zeros(n, np.int8)
        self.address_pin: npt.NDArray[np.int16] = np.zeros(n, np.int16)
        self.carrier: I8 = np.zeros(n, np.int8)
        self.carriers: list[tuple[int, Network]] = [
            (i, net) for i, c in enumerate(COUNTRIES) for net in c.carriers
        ]
        self.nat_pool: I64 = np.ones(len(self.carriers), np.int64)
        self.vpn_pool: I64 = np.ones(len(VPN_NETWORKS), np.int64)
        self.office_ips: I8 = np.zeros(0, np.int8)
        self.campus_ips: I8 = np.zeros(0, np.int8)
        self.n_call_centre_devices = 1
        self.phone_count: dict[int, int] = {}
        self.orders = StandingOrders.empty()
        self.order_fired: BoolArray = np.zeros(0, np.bool_)
        #: Members of one-off sharing groups: kind -> (accounts, group numbers).
        self.pairs: dict[BenignKind, tuple[I64, I64]] = {}
        #: Small sellers and their savings accounts (-1: none).
        self.sellers: I64 = np.zeros(0, np.int64)
        self.savings: I64 = np.zeros(0, np.int64)
        self.cumulative_weight: F64 = np.zeros(n)
        self.rate = 0.0
        self.n_merchants = max(300, n // 40)
        ranks = np.arange(1, self.n_merchants + 1, dtype=np.float64)
        self.merchant_cdf: F64 = np.cumsum(ranks**-1.07)
        self.merchant_cdf /= self.merchant_cdf[-1]
        #: Popular merchants where stolen money is cashed out: a crypto exchange, gift
        #: cards, a money-transfer service, an electronics chain, a jeweller.
        self.cash_out_merchants: I64 = np.asarray([4, 9, 17, 31, 52], np.int64)
        self.scramble_account = Scramble.build(10**9, self.salts["account"])
        self.scramble_device = Scramble.build(10**10, self.salts["device"])
        self.scramble_card = Scramble.build(10**12, self.salts["card"])
        self.scramble_merchant = Scramble.build(10**7, self.salts["merchant"])
        self.scramble_mailbox = Scramble.build(_mailbox_space(), self.salts["mailbox"])
        self.scramble_address = Scramble.build(address_space(), self.salts["address"])
        self._scrambles: dict[tuple[str, int], Scramble] = {}

    # -- households -------------------------------------------------------------------

    def other_member(self, account: I64, rng: np.random.Generator) -> I64:
        """A random other member of each account's household (itself if alone)."""
        household = self.household[account]
        start = self.hh_start[household]
        size = self.hh_size[household].astype(np.int64)
        slot = rng.integers(0, np.maximum(size, 1))
        other = self.member_at[start + slot].astype(np.int64)
        return np.where(other == account, self.member_at[start + (slot + 1) % size], other)

    def utc_offset(self, household: I64, ts: I64) -> I64:
        """Local UTC offset (minutes, daylight saving included) of each household."""
        offset = self.hh_utc_offset[household].astype(np.int64)
        rule = self.hh_dst[household]
        summer = np.zeros(ts.size, np.bool_)
        for us_start, us_end, eu_start, eu_end in _dst_windows(self.start_us, self.end_us):
            local_rule = ts + offset * 60_000_000
            summer |= (rule == 1) & (local_rule >= us_start) & (local_rule < us_end - HOUR)
            summer |= (rule == 2) & (ts >= eu_start) & (ts < eu_end)
        return offset + 60 * summer

    def local_clock(self, household: I64, ts: I64) -> tuple[I64, I64]:
        """``(weekday, hour)`` of each timestamp in the household's time zone (Mon = 0)."""
        local = ts + self.utc_offset(household, ts) * 60_000_000
        day = local // DAY
        return (day + 3) % 7, (local % DAY) // HOUR

    def in_term(self, ts: I64) -> BoolArray:
        """Whether each time falls within a university term."""
        index = np.searchsorted(self.terms, ts, side="right") - 1
        since = ts - self.terms[np.maximum(index, 0)]
        return (index >= 0) & (since < TERM_DAYS * DAY)

    # -- identities -------------------------------------------------------------------

    def habits(self, person: npt.NDArray[np.integer]) -> F64:
        """A per-person uniform draw that fixes device habits."""
        return hashed_unit(person, self.salts["habits"])

    def phone_device(self, person: I64, ts: I64) -> I64:
        """The phone each person uses at ``ts``; it is replaced every two to three years."""
        low, high = self.config.phone_lifetime_days
        lifetime = ((low + self.habits(person) * (high - low)) * DAY).astype(np.int64)
        phase = (hashed_unit(person, self.salts["lease"]) * lifetime).astype(np.int64)
        generation = ((ts - self.created[person] + phase) // lifetime) % 4
        return code(DEV_PERSONAL, person * 16 + generation)

    def second_device(self, person: I64) -> I64:
        """Each person's laptop, tablet or desktop."""
        return code(DEV_PERSONAL, person * 16 + 4)

    def emulator(self, person: I64) -> I64:
        """A developer's Android emulator."""
        return code(DEV_PERSONAL, person * 16 + 8)

    def family_device(self, household: I64) -> I64:
        """The household tablet or computer."""
        return code(DEV_FAMILY, household)

    def home_ip(self, household: I64, ts: I64) -> I64:
        """The home IP at ``ts``: the ISP renumbers the home every few months."""
        epoch = (ts - self.start_us + self.hh_phase[household]) // self.hh_lease[household]
        return code(IP_HOME, household.astype(np.int64) * 16 + epoch % 16)

    def usual_ip(self, account: I64, ts: I64) -> I64:
        """The network an account is usually on: home, or carrier NAT if mobile-only."""
        home = self.home_ip(self.household[account].astype(np.int64), ts)
        mobile_only = (self.flags[account] & MOBILE_ONLY) != 0
        return np.where(mobile_only, self.nat_ip(account, ts), home)

    def nat_ip(self, account: I64, ts: I64) -> I64:
        """A carrier-grade NAT address of the account's carrier (new per session)."""
        carrier = self.carrier[account].astype(np.int64)
        session = account * 8_191 + ts // (2 * HOUR)
        slot = hashed_below(session, self.salts["nat"], 1 << 30) % self.nat_pool[carrier]
        return code(IP_NAT, carrier * 4_096 + slot)

    def vpn_ip(self, account: I64, ts: I64) -> I64:
        """An exit of the account's VPN provider (a new one every few days)."""
        provider = hashed_below(account, self.salts["vpn"], len(VPN_NETWORKS))
        session = account * 8_191 + ts // (3 * DAY)
        slot = hashed_below(session, self.salts["vpn"], 1 << 30) % self.vpn_pool[provider]
        return code(IP_VPN, provider * 65_536 + slot)

    def office_ip(self, office: I64, rng: np.random.Generator) -> I64:
        """One of the office's egress IPs."""
        slot = rng.integers(0, self.office_ips[office])
        return code(IP_OFFICE, office * 4 + slot)

    def campus_ip(self, campus: I64, rng: np.random.Generator) -> I64:
        """One of the campus's egress IPs."""
        slot = rng.integers(0, self.campus_ips[campus])
        return code(IP_CAMPUS, campus * 8 + slot)

    def scramble(self, purpose: str, modulus: int) -> Scramble:
        """The scramble of ``[0, modulus)`` for ``purpose`` (built once)."""
        key = (purpose, modulus)
        built = self._scrambles.get(key)
        if built is None:
            built = self._scrambles[key] = Scramble.build(
                modulus, derive_salt(self.config.seed, purpose)
            )
        return built

    def mark(self, kind: BenignKind, accounts: I64) -> None:
        """Record that ``accounts`` used a shared resource of ``kind``."""
        used = self.used.get(kind)
        if used is None:
            used = self.used[kind] = np.zeros(self.n, np.bool_)
        used[accounts] = True

    def phones_of(self, country: int, index: I64) -> I64:
        """Phone codes of sequential ``index`` numbers of ``country`` (distinct per index)."""
        spec = COUNTRIES[country]
        rest_space = 10**spec.phone_rest_digits - spec.phone_rest_min
        space = len(spec.phone_prefixes) * rest_space
        scrambled = self.scramble(f"phone/{country}", space)(index)
        prefix = np.asarray(spec.phone_prefixes, np.int64)[scrambled // rest_space]
        nsn = prefix * 10**spec.phone_rest_digits + spec.phone_rest_min + scrambled % rest_space
        codes: I64 = (np.int64(country) << np.int64(PHONE_SHIFT)) | nsn
        return codes

    def new_phones(self, country: int, count: int) -> I64:
        """Reserve ``count`` fresh numbers of ``country`` (never a customer's)."""
        first = self.phone_count.get(country, 0)
        self.phone_count[country] = first + count
        return self.phones_of(country, np.arange(first, first + count, dtype=np.int64))

    def email_of(self, mailbox: I64, domain: I64) -> I64:
        """Email codes of mailboxes on domains."""
        return (mailbox << np.int64(EMAIL_SHIFT)) | domain


def _mailbox_space() -> int:
    return len(FIRST_NAMES) * len(LAST_NAMES) * 3 * 100


def address_space() -> int:
    """Number of distinct street addresses (before apartment units)."""
    return HOUSE_NUMBERS * len(STREETS) * len(STREET_SUFFIXES) * len(CITIES)


def domains(u: F64) -> I64:
    """Mail domain indices for uniform draws, by the US market shares."""
    cdf = np.cumsum([w for _, w in MAIL_DOMAINS])
    return np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), len(cdf) - 2)


def foreign_phone_country(u: F64) -> I64:
    """Country index of a US resident's foreign number, for uniform draws."""
    cdf = np.cumsum([w for _, w in _FOREIGN_PHONES])
    pick = np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), len(cdf) - 1)
    return np.asarray([COUNTRY_INDEX[c] for c, _ in _FOREIGN_PHONES], np.int64)[pick]


def _dst_windows(start_us: int, end_us: int) -> list[tuple[int, int, int, int]]:
    """Per year: US DST (local wall-clock bounds) and EU DST (UTC bounds)."""
    windows = []
    for y in range(_year(start_us), _year(end_us) + 1):
        march = datetime(y, 3, 1, tzinfo=UTC)
        second_sunday = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
        november = datetime(y, 11, 1, tzinfo=UTC)
        first_sunday = november + timedelta(days=(6 - november.weekday()) % 7)
        march_end = datetime(y, 3, 31, tzinfo=UTC)
        eu_start = march_end - timedelta(days=(march_end.weekday() + 1) % 7)
        october_end = datetime(y, 10, 31, tzinfo=UTC)
        eu_end = october_end - timedelta(days=(october_end.weekday() + 1) % 7)
        windows.append(
            (
                microseconds(second_sunday) + 2 * HOUR,
                microseconds(first_sunday) + 2 * HOUR,
                microseconds(eu_start) + HOUR,
                microseconds(eu_end) + HOUR,
            )
        )
    return windows


CITY_OFFSETS: Final = np.asarray([c.utc_offset for c in CITIES], np.int16)
CITY_DST: Final = np.asarray([_DST_RULES[c.dst] for c in CITIES], np.int8)
COUNTRY_OFFSETS: Final = np.asarray([c.utc_offset for c in COUNTRIES], np.int16)
COUNTRY_DST: Final = np.asarray([_DST_RULES[c.dst] for c in COUNTRIES], np.int8)
