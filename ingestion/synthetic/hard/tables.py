"""Reference data of the hard profile's world: countries, networks, US places and names.

Numbers and networks are chosen to look like the real thing: phone numbers are valid
for ``phonenumbers`` in their country, IP blocks and ASNs are those of real US and
foreign ISPs, carriers, universities, hosting and VPN providers (the bank's own network
uses a documentation ASN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CITIES",
    "COUNTRIES",
    "COUNTRY_INDEX",
    "FIRST_NAMES",
    "LAST_NAMES",
    "MAIL_DOMAINS",
    "STREETS",
    "STREET_SUFFIXES",
    "City",
    "Country",
    "Network",
]


def _ipv4(dotted: str) -> int:
    a, b, c, d = (int(x) for x in dotted.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


@dataclass(frozen=True, slots=True)
class Network:
    """A block of addresses of one autonomous system.

    ``span`` is how many IPv4 addresses from ``base`` the world may use.
    """

    asn: int
    base: int
    span: int
    ipv6_prefix: str = ""


def _net(asn: int, dotted: str, span_bits: int, ipv6_prefix: str = "") -> Network:
    return Network(asn, _ipv4(dotted), 1 << span_bits, ipv6_prefix)


@dataclass(frozen=True, slots=True)
class Country:
    """A country the bank's customers live in, or an IP can be located in."""

    alpha2: str
    alpha3: str
    name: str
    calling_code: int
    #: Leading digits of the national significant numbers handed out, and how many
    #: digits follow them (``rest_min`` is the smallest allowed rest).
    phone_prefixes: tuple[int, ...] = ()
    phone_rest_digits: int = 0
    phone_rest_min: int = 0
    #: National format: trunk prefix, then groups of digits separated by spaces.
    national_trunk: str = ""
    national_groups: tuple[int, ...] = ()
    #: Standard-time UTC offset in minutes and daylight-saving rule ("us", "eu", "").
    utc_offset: int = 0
    dst: str = ""
    isps: tuple[Network, ...] = ()
    carriers: tuple[Network, ...] = ()


#: Index order matters: codes store the index. Residence countries first.
COUNTRIES: Final[tuple[Country, ...]] = (
    Country(
        "US",
        "USA",
        "United States",
        1,
        (201, 202, 212, 213, 305, 312, 404, 415, 512, 617, 646, 702, 713, 718),
        7,
        2_000_000,
        utc_offset=-300,
        dst="us",
        isps=(
            _net(7922, "73.0.0.0", 23, "2601:1c0:"),
            _net(20115, "24.128.0.0", 23, "2603:6000:"),
            _net(7018, "99.0.0.0", 23, "2600:1700:"),
            _net(701, "71.128.0.0", 23, "2600:4040:"),
            _net(22773, "68.0.0.0", 23, "2600:8800:"),
            _net(209, "75.128.0.0", 23, "2602:4c:"),
        ),
        carriers=(
            _net(21928, "172.56.0.0", 18, "2607:fb90:"),
            _net(6167, "174.192.0.0", 18, "2600:1000:"),
            _net(20057, "166.137.0.0", 16, "2600:380:"),
        ),
    ),
    Country(
        "CA",
        "CAN",
        "Canada",
        1,
        (416, 647, 604, 778, 514, 403, 613),
        7,
        2_000_000,
        utc_offset=-300,
        dst="us",
        isps=(_net(812, "99.224.0.0", 20, "2607:fea8:"), _net(577, "70.48.0.0", 20, "2607:fa48:")),
        carriers=(_net(812, "72.136.0.0", 16, "2605:8d80:"),),
    ),
    Country(
        "MX",
        "MEX",
        "Mexico",
        52,
        (55, 33, 81),
        8,
        0,
        national_groups=(2, 4, 4),
        utc_offset=-360,
        isps=(_net(8151, "187.128.0.0", 20, "2806:2f0:"),),
        carriers=(_net(28403, "189.203.0.0", 16, "2806:102e:"),),
    ),
    Country(
        "GB",
        "GBR",
        "United Kingdom",
        44,
        tuple(range(7400, 7450)),
        6,
        0,
        national_trunk="0",
        national_groups=(4, 6),
        utc_offset=0,
        dst="eu",
        isps=(_net(2856, "86.128.0.0", 20, "2a00:23c4:"), _net(5089, "82.0.0.0", 20, "2a02:c7f:")),
        carriers=(_net(25135, "85.255.0.0", 16, "2a01:4c8:"),),
    ),
    Country(
        "IN",
        "IND",
        "India",
        91,
        (9, 8, 7),
        9,
        0,
        national_trunk="0",
        national_groups=(5, 5),
        utc_offset=330,
        isps=(_net(24560, "122.160.0.0", 20, "2401:4900:"),),
        carriers=(_net(55836, "49.32.0.0", 16, "2409:4040:"),),
    ),
    Country(
        "DE",
        "DEU",
        "Germany",
        49,
        (160, 170, 171, 151, 152, 157, 176),
        8,
        0,
        national_trunk="0",
        national_groups=(3, 8),
        utc_offset=60,
        dst="eu",
        isps=(_net(3320, "79.192.0.0", 20, "2003:e6:"),),
        carriers=(_net(3209, "88.64.0.0", 16, "2a02:3030:"),),
    ),
    Country("NL", "NLD", "Netherlands", 31),
    Country("SE", "SWE", "Sweden", 46),
    Country("CH", "CHE", "Switzerland", 41),
    Country("RO", "ROU", "Romania", 40),
    Country("FR", "FRA", "France", 33),
    Country("SG", "SGP", "Singapore", 65),
)
COUNTRY_INDEX: Final = {c.alpha2: i for i, c in enumerate(COUNTRIES)}
US: Final = COUNTRY_INDEX["US"]

#: Office networks (business fibre), campus networks, public and hotel hotspots.
OFFICE_NETWORKS: Final = (
    _net(174, "38.100.0.0", 16),
    _net(3356, "4.14.0.0", 16),
    _net(6461, "64.125.0.0", 16),
    _net(7922, "50.192.0.0", 16),
)
CAMPUS_NETWORKS: Final = (
    _net(3, "18.10.0.0", 16),
    _net(32, "171.64.0.0", 16),
    _net(7377, "132.239.0.0", 16),
    _net(87, "129.79.0.0", 16),
    _net(25, "128.32.0.0", 16),
)
PUBLIC_WIFI_NETWORKS: Final = (
    _net(7922, "96.112.0.0", 16),
    _net(20115, "71.80.0.0", 16),
    _net(10507, "68.24.0.0", 16),
)
HOTEL_NETWORKS: Final = (_net(11404, "65.49.0.0", 16), _net(46690, "216.37.0.0", 16))
#: Commercial VPN exits (hosting ASNs of VPN providers), and where exits are located.
VPN_NETWORKS: Final = (
    _net(9009, "37.120.128.0", 14),
    _net(60068, "89.187.160.0", 14),
    _net(147049, "37.19.192.0", 14),
    _net(20473, "45.76.0.0", 14),
)
VPN_EXIT_COUNTRIES: Final = ("US", "US", "US", "US", "US", "NL", "DE", "GB", "CH", "SE")
#: Hosting networks fraudsters rent proxies in, and where those are located.
HOSTING_NETWORKS: Final = (
    _net(14061, "159.65.0.0", 14),
    _net(16276, "51.68.0.0", 14),
    _net(24940, "95.216.0.0", 14),
    _net(16509, "3.8.0.0", 14),
    _net(20473, "149.28.0.0", 14),
)
PROXY_COUNTRIES: Final = ("US", "US", "US", "NL", "DE", "RO", "FR", "GB", "SG")
#: The bank's own network: branches and the call centre (documentation ASN).
BANK_NETWORK: Final = _net(64500, "147.154.0.0", 16)


@dataclass(frozen=True, slots=True)
class City:
    """A US city: state code and name, first three ZIP digits, time zone."""

    name: str
    state: str
    state_name: str
    zip3: int
    utc_offset: int
    dst: str = "us"


def _city(name: str, state: str, state_name: str, zip3: int, hours: int, dst: str = "us") -> City:
    return City(name, state, state_name, zip3, hours * 60, dst)


CITIES: Final = (
    _city("New York", "NY", "New York", 100, -5),
    _city("Brooklyn", "NY", "New York", 112, -5),
    _city("Los Angeles", "CA", "California", 900, -8),
    _city("Chicago", "IL", "Illinois", 606, -6),
    _city("Houston", "TX", "Texas", 770, -6),
    _city("Phoenix", "AZ", "Arizona", 850, -7, ""),
    _city("Philadelphia", "PA", "Pennsylvania", 191, -5),
    _city("San Antonio", "TX", "Texas", 782, -6),
    _city("San Diego", "CA", "California", 921, -8),
    _city("Dallas", "TX", "Texas", 752, -6),
    _city("Austin", "TX", "Texas", 787, -6),
    _city("Jacksonville", "FL", "Florida", 322, -5),
    _city("Columbus", "OH", "Ohio", 432, -5),
    _city("Charlotte", "NC", "North Carolina", 282, -5),
    _city("Indianapolis", "IN", "Indiana", 462, -5),
    _city("San Francisco", "CA", "California", 941, -8),
    _city("Seattle", "WA", "Washington", 981, -8),
    _city("Denver", "CO", "Colorado", 802, -7),
    _city("Nashville", "TN", "Tennessee", 372, -6),
    _city("Boston", "MA", "Massachusetts", 21, -5),
    _city("Portland", "OR", "Oregon", 972, -8),
    _city("Las Vegas", "NV", "Nevada", 891, -8),
    _city("Detroit", "MI", "Michigan", 482, -5),
    _city("Baltimore", "MD", "Maryland", 212, -5),
    _city("Milwaukee", "WI", "Wisconsin", 532, -6),
    _city("Albuquerque", "NM", "New Mexico", 871, -7),
    _city("Santa Fe", "NM", "New Mexico", 875, -7),
    _city("Atlanta", "GA", "Georgia", 303, -5),
    _city("Miami", "FL", "Florida", 331, -5),
    _city("Minneapolis", "MN", "Minnesota", 554, -6),
    _city("Saint Paul", "MN", "Minnesota", 551, -6),
    _city("Kansas City", "MO", "Missouri", 641, -6),
    _city("Salt Lake City", "UT", "Utah", 841, -7),
    _city("Newark", "NJ", "New Jersey", 71, -5),
    _city("Raleigh", "NC", "North Carolina", 276, -5),
    _city("Omaha", "NE", "Nebraska", 681, -6),
    _city("Tucson", "AZ", "Arizona", 857, -7, ""),
    _city("New Orleans", "LA", "Louisiana", 701, -6),
    _city("Richmond", "VA", "Virginia", 232, -5),
    _city("Hartford", "CT", "Connecticut", 61, -5),
    _city("Honolulu", "HI", "Hawaii", 968, -10, ""),
    _city("Anchorage", "AK", "Alaska", 995, -9),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Street names (title case); numbered streets are common in US grids.
STREETS: Final = (
    *_words(
        "Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Walnut Sunset Lincoln Jackson "
        "Franklin Highland Jefferson Madison Ridge Church River Spring Willow Meadow Forest "
        "Adams Center Chestnut Dogwood Hickory Magnolia Laurel Cherry Birch Sycamore Holly "
        "Lakeview Mill Valley Sunrise Prospect Fairview Woodland Cypress Orchard Grant Monroe "
        "Wilson Hillcrest Greenwood Riverside College Union Market Bridge Summit Evergreen "
        "Heritage Aspen Juniper Poplar Redwood Spruce Harbor Bay Canyon Mesa Vista Liberty "
        "Pleasant Cottonwood Mulberry Peachtree Pecan Rosewood Shady Briarwood Kingston "
        "Hamilton Clinton Cleveland Garfield Roosevelt Kennedy Colonial Meadowbrook Brookside"
    ),
    *(
        f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
        for n in range(1, 41)
    ),
)

#: USPS Publication 28 suffixes: (primary name, standard abbreviation, common variants).
STREET_SUFFIXES: Final = (
    ("STREET", "ST", ("STR", "STRT")),
    ("AVENUE", "AVE", ("AV", "AVEN", "AVN")),
    ("DRIVE", "DR", ("DRV", "DRIV")),
    ("ROAD", "RD", ()),
    ("LANE", "LN", ()),
    ("BOULEVARD", "BLVD", ("BOUL", "BOULV")),
    ("COURT", "CT", ("CRT",)),
    ("PLACE", "PL", ()),
    ("CIRCLE", "CIR", ("CIRC", "CRCL")),
    ("TERRACE", "TER", ("TERR",)),
    ("PARKWAY", "PKWY", ("PARKWY", "PKY")),
    ("WAY", "WAY", ("WY",)),
    ("TRAIL", "TRL", ("TR",)),
    ("HIGHWAY", "HWY", ("HIWAY", "HIWY")),
)
#: Pre-directionals: (standard abbreviation, spelled out).
DIRECTIONALS: Final = (("N", "NORTH"), ("S", "SOUTH"), ("E", "EAST"), ("W", "WEST"))

FIRST_NAMES: Final = _words(
    "james mary robert patricia john jennifer michael linda david elizabeth william barbara "
    "richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy "
    "matthew betty anthony sandra mark margaret donald ashley steven kimberly andrew emily "
    "paul donna joshua michelle kenneth carol kevin amanda brian melissa george deborah "
    "timothy stephanie ronald rebecca jason sharon edward laura jeffrey cynthia ryan amy "
    "jacob kathleen gary angela nicholas shirley eric brenda jonathan emma stephen anna "
    "jose maria juan carmen luis rosa carlos ana miguel sofia wei li priya raj arjun aisha "
    "omar fatima tyrone keisha darnell latoya"
)
LAST_NAMES: Final = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
    "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter "
    "roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart "
    "morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed "
    "kelly howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray "
    "mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez "
    "singh chen wang khan"
)
#: Mail domains and their shares among US customers.
MAIL_DOMAINS: Final = (
    ("gmail.com", 0.36),
    ("yahoo.com", 0.14),
    ("outlook.com", 0.08),
    ("hotmail.com", 0.07),
    ("icloud.com", 0.1),
    ("aol.com", 0.04),
    ("comcast.net", 0.04),
    ("att.net", 0.03),
    ("msn.com", 0.02),
    ("live.com", 0.02),
    ("protonmail.com", 0.02),
    ("sbcglobal.net", 0.02),
    ("verizon.net", 0.02),
    ("ymail.com", 0.02),
    ("googlemail.com", 0.0),
)
GMAIL: Final = 0
GOOGLEMAIL: Final = len(MAIL_DOMAINS) - 1
#: Domains whose mailboxes deliver ``user+tag`` to ``user``.
SUBADDRESS_DOMAINS: Final = frozenset({0, 2, 3, 4, 9})
MAIL_TAGS: Final = ("+1", "+2", "+bank", "+shop", "+news", "+promo", "+2025", "+alt", "+x")
