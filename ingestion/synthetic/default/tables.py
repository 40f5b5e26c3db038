"""Locale data of the default profile: names, streets, towns, mail domains, networks, phone
layouts, and the vocabularies they are spelled from (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ingestion.schema import EventType
from ingestion.synthetic.text import Vocab


def words(text: str) -> tuple[str, ...]:
    """The whitespace-separated words of ``text``."""
    return tuple(text.split())


FIRST_NAMES: Final = words(
    "james john robert michael william david richard joseph thomas charles christopher "
    "daniel matthew anthony mark paul steven andrew joshua kevin brian george edward ryan "
    "jacob gary nicholas eric jonathan stephen oliver harry jack charlie alfie noah leo "
    "oscar archie henry mary patricia jennifer linda elizabeth barbara susan jessica sarah "
    "karen nancy lisa margaret sandra ashley emily donna michelle carol amanda melissa "
    "deborah stephanie rebecca laura sharon cynthia kathleen amy shirley angela helen anna "
    "brenda emma olivia amelia isla ava mia ivy lily grace sophia freya chloe ella poppy "
    "ruby evie priya aisha fatima mohammed ali omar raj arjun wei chen"
)
LAST_NAMES: Final = words(
    "smith jones williams taylor brown davies evans wilson thomas johnson roberts robinson "
    "thompson wright walker white edwards hughes green hall lewis harris clarke patel "
    "jackson wood turner martin cooper hill ward morris moore clark lee king baker harrison "
    "morgan allen james scott phillips watson davis parker price bennett young griffiths "
    "mitchell kelly cook carter richardson bailey collins bell shaw murphy miller cox "
    "richards khan marshall anderson simpson ellis adams singh begum wilkinson foster "
    "chapman powell webb rogers gray mason ali hunt hussain campbell matthews owen palmer "
    "holmes mills barnes knight lloyd butler russell barker fisher stevens jenkins murray "
    "dixon harvey graham pearson ahmed fletcher walsh kaur gibson howard andrews stewart "
    "elliott reynolds saunders payne fox ford pearce day brooks west"
)
MAIL_DOMAINS: Final = (
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.co.uk",
    "yahoo.co.uk",
    "icloud.com",
    "btinternet.com",
    "live.co.uk",
    "proton.me",
    "aol.com",
)
MAIL_DOMAIN_WEIGHTS: Final = (0.33, 0.03, 0.14, 0.14, 0.1, 0.1, 0.06, 0.04, 0.03, 0.03)
GMAIL: Final = 0
GOOGLEMAIL: Final = 1
#: Email spellings. 0-3 apply to every domain, 4-7 only to Gmail (elsewhere they fall
#: back to ``variant % 4``): lower, Title, UPPER, lower@Title-domain, dots dropped,
#: +tag, a dot inside the first name, gmail.com <-> googlemail.com.
EMAIL_VARIANTS: Final = 8
MAIL_TAGS: Final = ("", "+shop", "+bank", "+promo", "+news", "+2026")

STREETS: Final = words(
    "Acacia Albert Alexandra Alma Arthur Ash Bath Beech Belmont Birch Blenheim Bridge Brook "
    "Cambridge Canal Castle Cedar Chapel Cherry Chester Church Clarence Coronation Cromwell "
    "Dale Devonshire Duke Elm Fairfield Fern Forest Gladstone Glebe Grange Granville Green "
    "Grosvenor Grove Hamilton Hawthorn Hazel Heath High Highfield Hill Holly Jubilee Kent "
    "King Lansdowne Laurel Lime Linden Manor Maple Market Marlborough Meadow Mill Milton "
    "Moor Mount Nelson New Newton North Oak Orchard Osborne Park Peel Pine Portland "
    "Primrose Priory Queen Queens Railway Regent Richmond Rose Rosebery Russell Salisbury "
    "School Spring Springfield Stanley Station Sycamore Talbot Trinity Union Vicarage "
    "Victoria Wellington West Westfield Willow Windmill Windsor Wood York"
)
STREET_TYPES: Final = (
    ("Street", "St"),
    ("Road", "Rd"),
    ("Avenue", "Ave"),
    ("Lane", "Ln"),
    ("Drive", "Dr"),
    ("Court", "Ct"),
    ("Place", "Pl"),
    ("Close", "Close"),
    ("Crescent", "Crescent"),
    ("Gardens", "Gardens"),
)
TOWNS: Final = (
    ("Leeds", "LS"),
    ("Manchester", "M"),
    ("Birmingham", "B"),
    ("Bristol", "BS"),
    ("Sheffield", "S"),
    ("Liverpool", "L"),
    ("Newcastle", "NE"),
    ("Nottingham", "NG"),
    ("Leicester", "LE"),
    ("Cardiff", "CF"),
    ("Glasgow", "G"),
    ("Edinburgh", "EH"),
    ("Brighton", "BN"),
    ("Oxford", "OX"),
    ("Cambridge", "CB"),
    ("York", "YO"),
    ("Bath", "BA"),
    ("Exeter", "EX"),
    ("Norwich", "NR"),
    ("Reading", "RG"),
    ("Coventry", "CV"),
    ("Derby", "DE"),
    ("Plymouth", "PL"),
    ("Southampton", "SO"),
    ("Portsmouth", "PO"),
    ("Hull", "HU"),
    ("Bradford", "BD"),
    ("Swansea", "SA"),
    ("Aberdeen", "AB"),
    ("Dundee", "DD"),
    ("Belfast", "BT"),
    ("Preston", "PR"),
    ("Bolton", "BL"),
    ("Luton", "LU"),
    ("Milton Keynes", "MK"),
    ("Northampton", "NN"),
    ("Ipswich", "IP"),
    ("Lincoln", "LN"),
    ("Chester", "CH"),
    ("Canterbury", "CT"),
    ("Durham", "DH"),
    ("Gloucester", "GL"),
    ("Worcester", "WR"),
    ("Wolverhampton", "WV"),
)
HOUSE_NUMBERS: Final = 399
POSTCODE_LETTERS: Final = "ABDEFGHJLNPQRSTUWXYZ"
#: Address spellings: (case: 0 Title 1 UPPER 2 lower, abbreviated type, extra spaces).
ADDRESS_STYLES: Final = ((0, 0, 0), (0, 1, 0), (1, 0, 0), (2, 1, 0), (0, 0, 1), (1, 1, 1))
ADDRESS_VARIANTS: Final = len(ADDRESS_STYLES)

_OS_NAMES: Final = ("android", "ios", "windows", "macos", "ipados")
ANDROID, IOS, WINDOWS, MACOS, IPADOS = range(5)
_COUNTRIES: Final = ("GB", "US", "NL", "DE", "SE", "CH", "RO", "FR", "NG", "BR")
COUNTRY_CODE: Final = {c: i for i, c in enumerate(_COUNTRIES)}

V_FIRST: Final = Vocab(
    [*FIRST_NAMES, *(n.title() for n in FIRST_NAMES), *(n.upper() for n in FIRST_NAMES)]
    + [f"{n[0]}.{n[1:]}" for n in FIRST_NAMES]
)
V_LAST: Final = Vocab(
    [*LAST_NAMES, *(n.title() for n in LAST_NAMES), *(n.upper() for n in LAST_NAMES)]
)
V_SEPARATORS: Final = Vocab([".", "_", ""])
V_TAGS: Final = Vocab(MAIL_TAGS)
V_DOMAINS: Final = Vocab(
    [*MAIL_DOMAINS, *(d.title() for d in MAIL_DOMAINS), *(d.upper() for d in MAIL_DOMAINS)]
)
V_STREETS: Final = Vocab([*STREETS, *(s.upper() for s in STREETS), *(s.lower() for s in STREETS)])
V_STREET_TYPES: Final = Vocab(
    [f(w[a]) for f in (str, str.upper, str.lower) for a in (0, 1) for w in STREET_TYPES]
)
V_TOWNS: Final = Vocab([f(t[0]) for f in (str, str.upper, str.lower) for t in TOWNS])
V_AREAS: Final = Vocab([t[1] for t in TOWNS] + [t[1].lower() for t in TOWNS])
V_UNITS: Final = Vocab(
    [a + b for a in POSTCODE_LETTERS for b in POSTCODE_LETTERS]
    + [(a + b).lower() for a in POSTCODE_LETTERS for b in POSTCODE_LETTERS]
)
V_SPACES: Final = Vocab(["", " ", "  "])
V_OS: Final = Vocab(_OS_NAMES)
V_COUNTRIES: Final = Vocab(_COUNTRIES)
V_EVENT_TYPES: Final = Vocab([t.value for t in EventType])

N_NAME_COMBOS: Final = len(FIRST_NAMES) * len(LAST_NAMES) * 2
MAILBOX_SPACE: Final = N_NAME_COMBOS * 1_000
ADDRESS_SPACE: Final = HOUSE_NUMBERS * len(STREETS) * len(STREET_TYPES) * len(TOWNS)


def _ipv4(dotted: str) -> int:
    a, b, c, d = (int(x) for x in dotted.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


@dataclass(frozen=True, slots=True)
class _Network:
    """A block of addresses owned by one autonomous system."""

    asn: int
    base: int
    ipv6_prefix: str = ""


def _net(asn: int, dotted: str, ipv6_prefix: str = "") -> _Network:
    return _Network(asn, _ipv4(dotted), ipv6_prefix)


@dataclass(frozen=True, slots=True)
class _Region:
    """Where the bank's customers live: phones, IP networks and currency."""

    country: str
    currency: str
    calling_code: int
    #: Residential ISPs: /10 blocks, one home IP per household.
    isps: tuple[_Network, ...]
    #: Mobile carriers: /16 blocks of carrier-grade NAT addresses.
    carriers: tuple[_Network, ...]
    business: _Network
    public_wifi: _Network


REGIONS: Final[dict[str, _Region]] = {
    "GB": _Region(
        country="GB",
        currency="GBP",
        calling_code=44,
        isps=(
            _net(2856, "86.128.0.0", "2a00:23c4:"),
            _net(5089, "82.0.0.0", "2a02:c7f:"),
            _net(5607, "90.192.0.0", "2a02:c7c:"),
            _net(13285, "92.0.0.0", "2a01:4b00:"),
        ),
        carriers=(
            _net(12576, "31.94.0.0"),
            _net(25135, "85.255.0.0"),
            _net(35228, "82.132.0.0"),
            _net(206067, "92.40.0.0"),
        ),
        business=_net(8220, "212.36.0.0"),
        public_wifi=_net(35575, "185.13.0.0"),
    ),
    "US": _Region(
        country="US",
        currency="USD",
        calling_code=1,
        isps=(
            _net(7922, "73.0.0.0", "2601:1c0:"),
            _net(20115, "24.128.0.0", "2603:6000:"),
            _net(7018, "99.0.0.0", "2600:1700:"),
            _net(701, "71.128.0.0", "2600:4040:"),
        ),
        carriers=(
            _net(21928, "172.56.0.0"),
            _net(22394, "174.192.0.0"),
            _net(20057, "166.137.0.0"),
            _net(6167, "97.128.0.0"),
        ),
        business=_net(174, "38.100.0.0"),
        public_wifi=_net(11427, "66.68.0.0"),
    ),
}
VPN_NETWORKS: Final = (
    _net(9009, "185.153.0.0"),
    _net(60068, "89.187.0.0"),
    _net(212238, "146.70.0.0"),
    _net(136787, "103.108.0.0"),
)
VPN_COUNTRIES: Final = ("NL", "DE", "US", "GB", "SE", "CH")
HOSTING_NETWORKS: Final = (
    _net(14061, "159.65.0.0"),
    _net(16276, "51.68.0.0"),
    _net(24940, "95.216.0.0"),
    _net(16509, "3.8.0.0"),
)
PROXY_COUNTRIES: Final = ("NL", "DE", "US", "RO", "FR", "GB", "NG", "BR")

# Phone numbers: national significant numbers that ``phonenumbers`` validates.
# GB mobiles 07400 000000 - 07449 999999; US numbers in a few area codes, exchange
# 200-999 (all checked valid with phonenumbers 9.0).
GB_MOBILE_BASE: Final = 7_400_000_000
GB_MOBILE_SPACE: Final = 50_000_000
US_AREA_CODES: Final = (201, 202, 212, 213, 305, 312, 404, 415, 512, 617, 646, 702, 713, 718)
US_SPACE: Final = len(US_AREA_CODES) * 800 * 10_000
PHONE_TRUNK: Final = 10_000_000_000  # E.164 code = calling code * PHONE_TRUNK + nsn

# Phone layouts: (prefix, {digit index: separator after it}); digits are the 10-digit
# national significant number. Which layouts are allowed depends on whether the number
# is domestic for the default region (national forms parse only then).
_GB_LAYOUTS: Final = {
    "intl": ("+44 ", {3: " "}),
    "national": ("0", {3: " "}),
    "e164": ("+44", {}),
    "national_compact": ("0", {}),
    "idd_00": ("0044 ", {3: " "}),
    "trunk": ("+44 (0)", {3: " "}),
    "idd_011": ("011 44 ", {3: " "}),
}
_US_LAYOUTS: Final = {
    "intl": ("+1 ", {2: " ", 5: " "}),
    "e164": ("+1", {}),
    "intl_paren": ("+1 (", {2: ") ", 5: "-"}),
    "national_paren": ("(", {2: ") ", 5: "-"}),
    "national_dash": ("", {2: "-", 5: "-"}),
    "idd_00": ("001 ", {2: " ", 5: " "}),
}
PHONE_FORMATS: Final = 6  # per-event format draws are taken modulo the allowed list
PHONE_ALLOWED: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("GB", "GB"): ("intl", "national", "e164", "national_compact", "idd_00", "trunk"),
    ("US", "GB"): ("intl", "e164", "intl_paren", "idd_00"),
    ("US", "US"): ("intl", "e164", "intl_paren", "national_paren", "national_dash"),
    ("GB", "US"): ("intl", "e164", "idd_011"),
}
_LAYOUT_KEYS: Final = [("GB", k) for k in _GB_LAYOUTS] + [("US", k) for k in _US_LAYOUTS]
LAYOUT_INDEX: Final = {key: i for i, key in enumerate(_LAYOUT_KEYS)}


def _layout(key: tuple[str, str]) -> tuple[str, dict[int, str]]:
    return (_GB_LAYOUTS if key[0] == "GB" else _US_LAYOUTS)[key[1]]


V_PHONE_PREFIX: Final = Vocab([_layout(k)[0] for k in _LAYOUT_KEYS])
V_PHONE_SEPARATORS: Final = Vocab(
    [_layout(k)[1].get(pos, "") for k in _LAYOUT_KEYS for pos in range(10)]
)
