"""The background customer base of the default profile and its identifier spaces."""

from __future__ import annotations

from typing import Final

import numpy as np

from graph_service.typing import F64, I64, BoolArray
from ingestion.synthetic.default.config import ScenarioConfig
from ingestion.synthetic.default.events import (
    HOME_SPACE,
    I32,
    IP_HOME,
    IP_HOME6,
    IP_INDEX_MASK,
    IP_NAT,
    IP_OFFICE,
    IP_RING,
    IP_SHIFT,
    IP_VPN,
    IP_WIFI,
    U64,
    ip_code,
    sorted_uniforms,
)
from ingestion.synthetic.default.tables import (
    ADDRESS_SPACE,
    ANDROID,
    COUNTRY_CODE,
    GB_MOBILE_BASE,
    GB_MOBILE_SPACE,
    HOSTING_NETWORKS,
    IOS,
    IPADOS,
    MACOS,
    MAIL_DOMAIN_WEIGHTS,
    MAILBOX_SPACE,
    PHONE_TRUNK,
    PROXY_COUNTRIES,
    REGIONS,
    US_AREA_CODES,
    US_SPACE,
    VPN_COUNTRIES,
    VPN_NETWORKS,
    WINDOWS,
    words,
)
from ingestion.synthetic.hashing import (
    Scramble,
    derive_salt,
    hashed_below,
    hashed_fraction,
    hashed_unit,
    splitmix,
)


class _Registry:
    """Identifiers created for rings: devices, IPs, phones, mailboxes, addresses, merchants.

    They live in their own ranges of each identifier space, so they never collide with
    the background population's.
    """

    def __init__(self) -> None:
        self.device_emulator: list[bool] = []
        self.device_rooted: list[bool] = []
        self.device_os: list[int] = []
        self.ip_value: list[int] = []
        self.ip_asn: list[int] = []
        self.ip_country: list[int] = []
        self.ip_proxy: list[bool] = []
        self.phones = 0
        self.mailboxes = 0
        self.addresses = 0
        self.merchants = 0
        self.residential_ips = 0
        self.hosting_ips = 0


class Population:
    """The background customer base, sorted by creation time, and its identifier spaces.

    Per-account state is a handful of arrays; everything else (devices, phones, NAT IP,
    payees ...) is a stateless hash of the account number, so memory stays O(accounts).
    """

    def __init__(
        self,
        config: ScenarioConfig,
        created: I64,
        weight: F64,
        household_sizes: I64,
        member_at: I32,
        is_member: BoolArray,
        start_us: int,
        end_us: int,
    ) -> None:
        seed = config.seed
        n = created.size
        self.config = config
        self.region = REGIONS[config.default_region]
        self.start_us = start_us
        self.end_us = end_us
        self.n = n
        self.created = created
        self.cumulative_weight: F64 = np.cumsum(weight)
        alive_us = (end_us - created).astype(np.float64)
        self.rate = n * (config.events_per_account - 1.0) / max(float(weight @ alive_us), 1.0)
        self.household_size = household_sizes
        self.household_start: I64 = np.cumsum(household_sizes) - household_sizes
        self.n_households = int(household_sizes.size)
        self.member_at = member_at
        self.household_at: I32 = np.repeat(
            np.arange(self.n_households, dtype=np.int32), household_sizes
        )
        self.position: I32 = np.empty(n, np.int32)
        self.position[member_at] = np.arange(n, dtype=np.int32)
        self.n_big_families = big_families(n)
        self.is_member = is_member
        self.ring_signup: BoolArray = np.zeros(n, np.bool_)
        self.n_nat = max(4, n // config.accounts_per_nat_ip)
        self.n_office = max(3, n // 1_000)
        self.n_wifi = max(3, n // 10_000)
        self.n_vpn = max(6, n // 10_000)
        self.n_merchants = max(50, round(n * config.merchants_per_1k_accounts / 1_000))
        ranks = np.arange(1, self.n_merchants + 1, dtype=np.float64)
        self.merchant_cdf: F64 = np.cumsum(ranks**-1.07)
        self.merchant_cdf /= self.merchant_cdf[-1]
        self.device_ring_base = 4 * n + self.n_households
        self.registry = _Registry()
        self.salts = {p: derive_salt(seed, p) for p in _SALT_PURPOSES}
        self.scramble_account = Scramble.build(10**9, self.salts["account"])
        self.scramble_device = Scramble.build(10**10, self.salts["device"])
        self.scramble_card = Scramble.build(10**12, self.salts["card"])
        self.scramble_merchant = Scramble.build(10**7, self.salts["merchant"])
        self.scramble_gb_phone = Scramble.build(GB_MOBILE_SPACE, self.salts["gb_phone"])
        self.scramble_us_phone = Scramble.build(US_SPACE, self.salts["us_phone"])
        self.scramble_mailbox = Scramble.build(MAILBOX_SPACE, self.salts["mailbox"])
        self.scramble_address = Scramble.build(ADDRESS_SPACE, self.salts["address"])
        self.scramble_home = Scramble.build(HOME_SPACE, self.salts["home_ip"])
        self.scramble_hosting = Scramble.build(65_000, self.salts["hosting_ip"])

    # -- households ------------------------------------------------------------------

    def household(self, account: I64) -> I64:
        """Household number of each account."""
        return self.household_at[self.position[account]].astype(np.int64)

    def other_member(self, account: I64, rng: np.random.Generator) -> I64:
        """A random other member of each account's household (itself if it lives alone)."""
        slot = self.position[account].astype(np.int64)
        household = self.household_at[slot]
        start = self.household_start[household]
        size = self.household_size[household]
        step = 1 + (rng.random(account.size) * np.maximum(size - 1, 1)).astype(np.int64)
        return self.member_at[start + (slot - start + step) % size].astype(np.int64)

    def head(self, household: I64) -> I64:
        """The first member of each household."""
        return self.member_at[self.household_start[household]].astype(np.int64)

    def has_family_device(self, household: I64) -> BoolArray:
        """Whether the household shares a tablet (always, for the big families)."""
        size = self.household_size[household]
        tablet = (size >= 2) & (hashed_unit(household, self.salts["tablet"]) < 0.12)
        return tablet | (household < self.n_big_families)

    # -- devices and cards -----------------------------------------------------------

    # Per-account traits come from two hashes of the account number, 16 bits per trait:
    # habits (devices, developer, office worker, VPN user) and profile (cards, shared
    # phone, foreign phone, email domain).

    def habits(self, account: I64) -> U64:
        """The habit hash of each account."""
        return splitmix(account, self.salts["habits"])

    def profile(self, account: I64) -> U64:
        """The profile hash of each account."""
        return splitmix(account, self.salts["profile"])

    @staticmethod
    def is_developer(habits: U64) -> BoolArray:
        """Developers, who also log in from an Android emulator."""
        return hashed_fraction(habits, 16) < 0.002

    @staticmethod
    def device_count(habits: U64) -> I64:
        """Personal devices per account: 1 (60%), 2 (30%) or 3; developers have 2+."""
        u = hashed_fraction(habits, 0)
        count = 1 + (u < 0.4).astype(np.int64) + (u < 0.1).astype(np.int64)
        return np.where(Population.is_developer(habits), np.maximum(count, 2), count)

    @staticmethod
    def is_office_worker(habits: U64) -> BoolArray:
        """Customers who sometimes log in from their office network."""
        return hashed_fraction(habits, 32) < 0.08

    def is_vpn_user(self, habits: U64) -> BoolArray:
        """Customers who mostly log in through a commercial VPN."""
        return hashed_fraction(habits, 48) < self.config.vpn_user_fraction

    def everyday_device(
        self, account: I64, household: I64, login: BoolArray, rng: np.random.Generator
    ) -> I64:
        """The device of each everyday event: mostly the primary phone."""
        count = self.device_count(self.habits(account))
        secondary = (rng.random(account.size) >= 0.7) & (count > 1)
        slot = np.where(secondary, 1 + (rng.random(account.size) * (count - 1)).astype(np.int64), 0)
        device = account * 4 + slot
        share = np.where(household < self.n_big_families, 0.5, 0.3)
        family = login & self.has_family_device(household) & (rng.random(account.size) < share)
        return np.where(family, 4 * self.n + household, device)

    def card_count(self, account: I64) -> I64:
        """Payment cards per account: 1 or 2."""
        return 1 + (hashed_fraction(self.profile(account), 0) < 0.35).astype(np.int64)

    def everyday_card(self, account: I64, rng: np.random.Generator) -> I64:
        """The card of each payment: mostly the first."""
        second = (rng.random(account.size) < 0.25) & (self.card_count(account) > 1)
        return account * 2 + second

    # -- contact details -------------------------------------------------------------

    def phone(self, account: I64) -> I64:
        """E.164 number (as an integer) of each account; some family members share one."""
        household = self.household(account)
        shares = (self.household_size[household] >= 2) & (
            hashed_fraction(self.profile(account), 16) < 0.05
        )
        owner = np.where(shares, self.head(household), account)
        foreign = hashed_fraction(self.profile(owner), 32) < 0.03
        domestic_gb = self.region.country == "GB"
        gb = foreign != domestic_gb
        return np.where(gb, self._gb_phone(owner), self._us_phone(owner))

    def ring_phone(self, index: I64) -> I64:
        """Domestic numbers reserved for rings (never a background customer's)."""
        owner = self.n + index
        if self.region.country == "GB":
            return self._gb_phone(owner)
        return self._us_phone(owner)

    def _gb_phone(self, owner: I64) -> I64:
        nsn = GB_MOBILE_BASE + self.scramble_gb_phone(owner)
        return 44 * PHONE_TRUNK + nsn

    def _us_phone(self, owner: I64) -> I64:
        q = self.scramble_us_phone(owner)
        area = np.asarray(US_AREA_CODES, np.int64)[q // 8_000_000]
        exchange = 200 + (q // 10_000) % 800
        return 1 * PHONE_TRUNK + area * 10_000_000 + exchange * 10_000 + q % 10_000

    def email(self, account: I64) -> I64:
        """Email code (mailbox * 16 + domain) of each account."""
        u = hashed_fraction(self.profile(account), 48)
        cdf = np.cumsum(MAIL_DOMAIN_WEIGHTS)
        domain = np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), len(cdf) - 1)
        return account * 16 + domain

    # -- IPs -------------------------------------------------------------------------

    def home_ip(self, household: I64) -> I64:
        """Home IP code of each household; 15% of homes are on IPv6."""
        v6 = hashed_unit(household, self.salts["ipv6"]) < 0.15
        return np.where(v6, ip_code(IP_HOME6, household), ip_code(IP_HOME, household))

    def everyday_ip(
        self, account: I64, household: I64, device: I64, rng: np.random.Generator
    ) -> I64:
        """The IP of each login or transfer: home, carrier NAT, office, Wi-Fi or VPN."""
        n = account.size
        ip = self.home_ip(household)
        _, _, os = self.device_attributes(device)
        mobile = (os == ANDROID) | (os == IOS)
        nat = mobile & (rng.random(n) < 0.45)
        ip = np.where(
            nat, ip_code(IP_NAT, hashed_below(account, self.salts["nat"], self.n_nat)), ip
        )
        habits = self.habits(account)
        office = self.is_office_worker(habits) & (rng.random(n) < 0.2)
        office_ip = ip_code(
            IP_OFFICE, hashed_below(account, self.salts["office_id"], self.n_office)
        )
        ip = np.where(office, office_ip, ip)
        wifi = rng.random(n) < 0.02
        ip = np.where(wifi, ip_code(IP_WIFI, rng.integers(0, self.n_wifi, n)), ip)
        vpn = self.is_vpn_user(habits) & (rng.random(n) < 0.6)
        return np.where(vpn, ip_code(IP_VPN, rng.integers(0, self.n_vpn, n)), ip)

    # -- money -----------------------------------------------------------------------

    def popular_merchants(self, rng: np.random.Generator, count: int) -> I64:
        """Merchants drawn by Zipf popularity, in random order."""
        draw = sorted_uniforms(rng, count)
        drawn = np.searchsorted(self.merchant_cdf, draw, side="right").astype(np.int64)
        rng.shuffle(drawn)
        return np.minimum(drawn, self.n_merchants - 1)

    def payee(self, account: I64, ts: I64, rng: np.random.Generator) -> I64:
        """Transfer counterparties, all signed up before ``ts``: a household member half
        the time, else one of three regular payees among older accounts."""
        household = self.household(account)
        at_home = (self.household_size[household] > 1) & (rng.random(account.size) < 0.5)
        relative = self.other_member(account, rng)
        at_home &= self.created[relative] < ts
        regular = hashed_below(
            account * 4 + rng.integers(0, 3, account.size),
            self.salts["payee"],
            2**62,
        ) % np.maximum(account, 1)
        regular = np.where(regular == account, (account + 1) % self.n, regular)
        return np.where(at_home, relative, regular)

    # -- ring identifiers ------------------------------------------------------------

    def new_devices(self, emulator: BoolArray, rooted: BoolArray, os: I64) -> I64:
        """Register ring devices; return their device numbers."""
        reg = self.registry
        first = len(reg.device_os)
        reg.device_emulator.extend(bool(x) for x in emulator)
        reg.device_rooted.extend(bool(x) for x in rooted)
        reg.device_os.extend(int(x) for x in os)
        return self.device_ring_base + np.arange(first, len(reg.device_os), dtype=np.int64)

    def new_ips(
        self, rng: np.random.Generator, count: int, *, proxy: float, residential: bool = False
    ) -> I64:
        """Register ring IPs (hosting/proxy, or residential ones that look like homes)."""
        reg = self.registry
        codes = np.empty(count, np.int64)
        for i in range(count):
            if residential:
                slot = self.scramble_home(np.array([self.n_households + reg.residential_ips]))
                reg.residential_ips += 1
                isp = self.region.isps[int(slot[0]) & 3]
                value = isp.base + (int(slot[0]) >> 2)
                asn, country = isp.asn, COUNTRY_CODE[self.region.country]
            else:
                j = reg.hosting_ips
                reg.hosting_ips += 1
                net = HOSTING_NETWORKS[j % len(HOSTING_NETWORKS)]
                offset = int(self.scramble_hosting(np.array([j // len(HOSTING_NETWORKS)]))[0])
                value = net.base + 256 + offset
                asn = net.asn
                country = COUNTRY_CODE[PROXY_COUNTRIES[int(rng.integers(len(PROXY_COUNTRIES)))]]
            codes[i] = ip_code(IP_RING, len(reg.ip_value))
            reg.ip_value.append(value)
            reg.ip_asn.append(asn)
            reg.ip_country.append(country)
            reg.ip_proxy.append(bool(rng.random() < proxy))
        return codes

    def new_phones(self, count: int) -> I64:
        """Register ring phone numbers."""
        first = self.registry.phones
        self.registry.phones += count
        return self.ring_phone(np.arange(first, first + count, dtype=np.int64))

    def new_mailboxes(self, domains: I64) -> I64:
        """Register ring mailboxes on the given domains; return email codes."""
        first = self.registry.mailboxes
        self.registry.mailboxes += domains.size
        mailbox = self.n + np.arange(first, first + domains.size, dtype=np.int64)
        return mailbox * 16 + domains

    def new_addresses(self, count: int) -> I64:
        """Register ring addresses; return address codes."""
        first = self.registry.addresses
        self.registry.addresses += count
        return self.n_households + np.arange(first, first + count, dtype=np.int64)

    def new_merchants(self, count: int) -> I64:
        """Register ring (colluding) merchants."""
        first = self.registry.merchants
        self.registry.merchants += count
        return self.n_merchants + np.arange(first, first + count, dtype=np.int64)

    def bystanders(self, rng: np.random.Generator, count: int, before_us: int) -> I64:
        """Random non-member accounts created before ``before_us``."""
        alive = max(int(np.searchsorted(self.created, before_us)), 1)
        chosen = np.empty(0, np.int64)
        while chosen.size < count:
            draw = rng.integers(0, alive, 2 * count + 8)
            chosen = np.concatenate([chosen, draw[~self.is_member[draw]]])
        return chosen[:count]

    # -- attributes at render time ---------------------------------------------------

    def device_attributes(self, device: I64) -> tuple[BoolArray, BoolArray, I64]:
        """``(is_emulator, is_rooted, os)`` of each device number."""
        personal = device < 4 * self.n
        ring = device >= self.device_ring_base
        hashed = splitmix(device, self.salts["device_traits"])
        u = hashed_fraction(hashed, 0)
        os = np.select([u < 0.5, u < 0.92, u < 0.97], [ANDROID, IOS, WINDOWS], MACOS).astype(
            np.int64
        )
        os = np.where(~personal, np.where(u < 0.6, IPADOS, ANDROID), os)
        emulator = np.zeros(device.size, np.bool_)
        second = np.flatnonzero(personal & ((device & 3) == 1))
        emulator[second] = self.is_developer(self.habits(device[second] >> 2))
        os = np.where(emulator, ANDROID, os)
        rooted = (
            personal
            & ~emulator
            & (os == ANDROID)
            & (hashed_fraction(hashed, 16) < self.config.rooted_device_fraction)
        )
        if ring.any():
            reg = self.registry
            j = device[ring] - self.device_ring_base
            emulator[ring] = np.asarray(reg.device_emulator, np.bool_)[j]
            rooted[ring] = np.asarray(reg.device_rooted, np.bool_)[j]
            os[ring] = np.asarray(reg.device_os, np.int64)[j]
        return emulator, rooted, os

    def ip_attributes(self, code: I64) -> tuple[I64, BoolArray, I64, I64]:
        """``(ipv4 value or -1 for IPv6, is_proxy, asn, country)`` of each IP code."""
        kind = code >> IP_SHIFT
        index = code & IP_INDEX_MASK
        n = code.size
        value = np.zeros(n, np.int64)
        proxy = np.zeros(n, np.bool_)
        asn = np.zeros(n, np.int64)
        country = np.full(n, COUNTRY_CODE[self.region.country], np.int64)

        home = (kind == IP_HOME) | (kind == IP_HOME6)
        slot = self.scramble_home(index[home])
        isp = slot & 3
        value[home] = np.asarray([x.base for x in self.region.isps], np.int64)[isp] + (slot >> 2)
        asn[home] = np.asarray([x.asn for x in self.region.isps], np.int64)[isp]
        value[kind == IP_HOME6] = -1

        for kind_code, networks, spacing in (
            (IP_NAT, self.region.carriers, 3),
            (IP_VPN, VPN_NETWORKS, 2),
        ):
            rows = kind == kind_code
            which = index[rows] % len(networks)
            bases = np.asarray([x.base for x in networks], np.int64)
            value[rows] = bases[which] + 257 + (index[rows] // len(networks)) * spacing
            asn[rows] = np.asarray([x.asn for x in networks], np.int64)[which]
        vpn = kind == IP_VPN
        proxy[vpn] = True
        vpn_country = hashed_below(index[vpn], self.salts["vpn_country"], len(VPN_COUNTRIES))
        country[vpn] = np.asarray([COUNTRY_CODE[c] for c in VPN_COUNTRIES])[vpn_country]

        for kind_code, net, spacing in (
            (IP_OFFICE, self.region.business, 3),
            (IP_WIFI, self.region.public_wifi, 2),
        ):
            rows = kind == kind_code
            value[rows] = net.base + 257 + index[rows] * spacing
            asn[rows] = net.asn

        ring = kind == IP_RING
        if ring.any():
            reg = self.registry
            j = index[ring]
            value[ring] = np.asarray(reg.ip_value, np.int64)[j]
            asn[ring] = np.asarray(reg.ip_asn, np.int64)[j]
            country[ring] = np.asarray(reg.ip_country, np.int64)[j]
            proxy[ring] = np.asarray(reg.ip_proxy, np.bool_)[j]
        return value, proxy, asn, country


_SALT_PURPOSES: Final = words(
    "account device card merchant gb_phone us_phone mailbox address home_ip hosting_ip "
    "tablet habits profile device_traits ipv6 nat office_id payee vpn_country"
)


def big_families(accounts: int) -> int:
    """Households of six sharing a tablet (benign device sharers): the first few."""
    return max(1, accounts // 10_000)
