"""Reference tables of the modelled world: metros, streets, names, networks and merchants.

Everything here is static data. The numbers are plausible for a US retail bank, not
measured: area codes and ZIP prefixes belong to the metros they are listed with, the
autonomous systems are the ones the named networks really announce, and the IPv4 ranges
are disjoint per network so that two networks never hand out the same address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Metro:
    """A metro area the bank serves."""

    city: str
    state: str
    state_name: str
    zip3: int
    area_codes: tuple[int, ...]
    utc_offset: int
    weight: float


METROS: Final[tuple[Metro, ...]] = (
    Metro("New York", "NY", "New York", 100, (212, 646, 917, 718, 347), -4, 0.16),
    Metro("Los Angeles", "CA", "California", 900, (213, 310, 323, 424, 818), -7, 0.13),
    Metro("Chicago", "IL", "Illinois", 606, (312, 773, 872), -5, 0.10),
    Metro("Houston", "TX", "Texas", 770, (713, 832, 281), -5, 0.09),
    Metro("Phoenix", "AZ", "Arizona", 850, (602, 480, 623), -7, 0.06),
    Metro("Philadelphia", "PA", "Pennsylvania", 191, (215, 267), -4, 0.07),
    Metro("Atlanta", "GA", "Georgia", 303, (404, 678, 470), -4, 0.08),
    Metro("Seattle", "WA", "Washington", 981, (206, 425, 253), -7, 0.06),
    Metro("Denver", "CO", "Colorado", 802, (303, 720), -6, 0.05),
    Metro("Columbus", "OH", "Ohio", 432, (614, 380), -4, 0.05),
    Metro("Miami", "FL", "Florida", 331, (305, 786), -4, 0.09),
    Metro("Boston", "MA", "Massachusetts", 21, (617, 857), -4, 0.06),
)

STREETS: Final[tuple[str, ...]] = (
    "Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine",
    "Lincoln", "Jefferson", "Madison", "Franklin", "Highland", "Sunset", "Ridge", "River",
    "Church", "Spring", "Walnut", "Chestnut", "Jackson", "Adams", "Center", "Mill", "Forest",
    "Meadow", "Cherry", "Willow", "Hickory", "Birch", "Lakeview", "Grant", "Prospect",
    "Summit", "Valley", "Broad", "Market", "Union", "Liberty", "Harbor", "Orchard", "Sycamore",
    "Magnolia", "Dogwood", "Poplar", "Laurel", "Fairview", "Greenwood",
)  # fmt: skip

#: (full, abbreviation) street suffixes.
SUFFIXES: Final[tuple[tuple[str, str], ...]] = (
    ("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Boulevard", "Blvd"),
    ("Drive", "Dr"), ("Lane", "Ln"), ("Court", "Ct"), ("Place", "Pl"), ("Terrace", "Ter"),
    ("Parkway", "Pkwy"),
)  # fmt: skip

FIRST_NAMES: Final[tuple[str, ...]] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty",
    "Anthony", "Sandra", "Mark", "Margaret", "Donald", "Ashley", "Steven", "Kimberly", "Andrew",
    "Emily", "Paul", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
    "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Jose", "Maria", "Luis",
    "Ana", "Carlos", "Sofia", "Wei", "Mei", "Raj", "Priya", "Ahmed", "Fatima", "Kwame", "Aisha",
    "Tyler", "Madison", "Brandon", "Hannah", "Jordan", "Olivia", "Ethan", "Chloe", "Noah",
    "Grace", "Liam", "Zoe", "Mateo", "Camila", "Dmitri", "Elena",
)  # fmt: skip

LAST_NAMES: Final[tuple[str, ...]] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Chen", "Wang", "Patel", "Kim",
    "Singh", "Cohen", "Murphy", "O'Brien", "Sullivan", "Kowalski", "Novak", "Okafor", "Mensah",
    "Haddad", "Yamamoto", "Schmidt", "Rossi", "Dubois", "Ivanov", "Silva",
)  # fmt: skip

#: (domain, weight) of personal email providers.
EMAIL_DOMAINS: Final[tuple[tuple[str, float], ...]] = (
    ("gmail.com", 0.46), ("yahoo.com", 0.12), ("icloud.com", 0.10), ("outlook.com", 0.08),
    ("hotmail.com", 0.08), ("aol.com", 0.04), ("comcast.net", 0.04), ("att.net", 0.03),
    ("proton.me", 0.02), ("msn.com", 0.03),
)  # fmt: skip

#: Phone countries: ISO code, calling code, share of customers' phones.
PHONE_COUNTRIES: Final[tuple[tuple[str, int, float], ...]] = (
    ("US", 1, 0.955),
    ("CA", 1, 0.01),
    ("MX", 52, 0.02),
    ("GB", 44, 0.015),
)

#: Mexican and Canadian area codes used for customers' foreign phones.
MX_AREAS: Final[tuple[int, ...]] = (55, 33, 81)
CA_AREAS: Final[tuple[int, ...]] = (416, 647, 604, 514)


@dataclass(frozen=True)
class Network:
    """An IPv4 network operator: its ASN, country and disjoint (a, b_lo, b_hi) /16 ranges."""

    name: str
    asn: int
    country: str
    ranges: tuple[tuple[int, int, int], ...]


RESIDENTIAL: Final[tuple[Network, ...]] = (
    Network("Comcast", 7922, "US", ((73, 0, 255), (98, 192, 255), (24, 0, 63))),
    Network("Charter", 20115, "US", ((66, 0, 127), (97, 64, 127))),
    Network("AT&T", 7018, "US", ((99, 0, 127), (108, 192, 255))),
    Network("Verizon", 701, "US", ((71, 160, 191), (100, 0, 63))),
    Network("Cox", 22773, "US", ((68, 0, 127), (70, 160, 191))),
    Network("CenturyLink", 209, "US", ((75, 160, 175), (67, 0, 63))),
    Network("Frontier", 5650, "US", ((47, 128, 191), (50, 0, 63))),
)

#: Mobile carriers: CGNAT IPv4 egress ranges and the carrier's IPv6 /32.
CARRIERS: Final[tuple[tuple[Network, str], ...]] = (
    (Network("T-Mobile", 21928, "US", ((172, 56, 63),)), "2607:fb90"),
    (Network("Verizon Wireless", 6167, "US", ((174, 192, 255),)), "2600:1010"),
    (Network("AT&T Mobility", 20057, "US", ((166, 128, 191), (107, 64, 127))), "2600:387"),
)

BUSINESS: Final[tuple[Network, ...]] = (
    Network("Lumen", 3356, "US", ((4, 0, 255),)),
    Network("Zayo", 6461, "US", ((64, 124, 127),)),
    Network("Cogent", 174, "US", ((38, 0, 255),)),
    Network("Comcast Business", 7922, "US", ((96, 64, 127),)),
)

#: Universities announce their own AS; one range shared, the ASN set per campus.
CAMPUS_RANGES: Final[tuple[tuple[int, int, int], ...]] = ((128, 0, 255), (129, 0, 255))
CAMPUS_ASNS: Final[tuple[int, ...]] = (3, 87, 59, 1312, 2572, 7896, 25, 111)

HOTEL_US: Final[Network] = Network("Hospitality ISP", 11404, "US", ((45, 64, 127),))
ABROAD: Final[tuple[tuple[Network, str], ...]] = (
    (Network("BT", 2856, "GB", ((81, 0, 255),)), "GBP"),
    (Network("Orange", 3215, "FR", ((90, 0, 255),)), "EUR"),
    (Network("Telekom", 3320, "DE", ((84, 128, 191),)), "EUR"),
    (Network("Telmex", 8151, "MX", ((187, 128, 191),)), "MXN"),
    (Network("Bell", 577, "CA", ((142, 112, 127),)), "CAD"),
    (Network("Telecom Italia", 3269, "IT", ((79, 0, 63),)), "EUR"),
    (Network("Telefonica", 3352, "ES", ((88, 0, 31),)), "EUR"),
)

#: Hosting networks: commercial VPN exits and datacenter proxies live here.
HOSTING: Final[tuple[Network, ...]] = (
    Network("M247", 9009, "", ((185, 0, 127),)),
    Network("Datacamp", 60068, "", ((185, 128, 255),)),
    Network("Vultr", 20473, "", ((45, 32, 63),)),
    Network("DigitalOcean", 14061, "", ((159, 64, 95),)),
    Network("OVH", 16276, "", ((51, 68, 95),)),
    Network("Leaseweb", 60781, "", ((212, 32, 63),)),
)
VPN_COUNTRIES: Final[tuple[tuple[str, float], ...]] = (
    ("US", 0.55), ("NL", 0.1), ("DE", 0.08), ("GB", 0.08), ("CA", 0.07), ("SE", 0.06),
    ("CH", 0.06),
)  # fmt: skip

#: The bank's own network: branches and the phone-banking centre.
BANK: Final[Network] = Network("Bank", 53813, "US", ((199, 16, 31),))

COUNTRIES: Final[tuple[str, ...]] = (
    "US", "CA", "GB", "MX", "DE", "FR", "IT", "ES", "NL", "SE", "CH",
)  # fmt: skip
CURRENCIES: Final[tuple[str, ...]] = ("USD", "CAD", "GBP", "EUR", "MXN")


@dataclass(frozen=True)
class MerchantCategory:
    """A merchant category: share of merchants, whether local, and a log-normal ticket."""

    name: str
    share: float
    local: bool
    median_usd: float
    sigma: float
    spend_weight: float


MERCHANT_CATEGORIES: Final[tuple[MerchantCategory, ...]] = (
    MerchantCategory("grocery", 0.18, True, 48.0, 0.6, 0.24),
    MerchantCategory("restaurant", 0.24, True, 27.0, 0.55, 0.20),
    MerchantCategory("fuel", 0.08, True, 42.0, 0.35, 0.10),
    MerchantCategory("pharmacy", 0.05, True, 22.0, 0.7, 0.06),
    MerchantCategory("online_retail", 0.12, False, 55.0, 0.9, 0.16),
    MerchantCategory("subscription", 0.05, False, 14.0, 0.4, 0.07),
    MerchantCategory("utilities", 0.04, True, 115.0, 0.4, 0.05),
    MerchantCategory("electronics", 0.06, False, 240.0, 0.8, 0.04),
    MerchantCategory("travel", 0.05, False, 320.0, 0.7, 0.03),
    MerchantCategory("gift_cards", 0.03, False, 90.0, 0.6, 0.02),
    MerchantCategory("jewelry", 0.04, True, 380.0, 0.8, 0.01),
    MerchantCategory("money_transfer", 0.03, False, 260.0, 0.8, 0.01),
    MerchantCategory("crypto_exchange", 0.03, False, 450.0, 1.0, 0.01),
)

#: Categories fraudsters turn stolen or borrowed credit into resaleable value with.
CASHOUT_CATEGORIES: Final[tuple[str, ...]] = (
    "electronics", "gift_cards", "jewelry", "money_transfer", "crypto_exchange",
)  # fmt: skip

#: US bank routing numbers for counterparties held at other banks.
ROUTING_NUMBERS: Final[tuple[str, ...]] = (
    "021000021", "026009593", "121000248", "111000025", "061000104", "031101279",
    "124303120", "071000013", "322271627", "053000219",
)  # fmt: skip

#: Diurnal activity of retail customers by local hour (relative weights).
DIURNAL: Final[tuple[float, ...]] = (
    0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.4, 2.2, 2.6, 2.8, 3.0,
    3.2, 3.0, 2.8, 2.8, 3.0, 3.4, 3.8, 4.0, 3.8, 3.2, 2.2, 1.2,
)  # fmt: skip
