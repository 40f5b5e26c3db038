"""What the hard profile generates: every rate of the simulated bank, with its source.

The defaults describe a mid-sized US retail bank's customer book over eighteen months.
They are estimates from public figures on US retail banking (household sizes, payroll
and rent habits, mobile-only banking, VPN use, fraud typologies), rounded; each is a
field so that a study can vary it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from ingestion.synthetic.default import Typology

__all__ = ["BenignKind", "FormatMix", "HardScenarioConfig"]

MIN_ACCOUNTS: Final = 1_000
MAX_ACCOUNTS: Final = 2_000_000
MIN_DAYS: Final = 120


class BenignKind(StrEnum):
    """Kinds of legitimate sharing group; the value is what ``sharers.csv`` says.

    Each member row of ``sharers.csv`` is a legitimate account that really used the
    group's shared resource; a group is listed only if at least two accounts did.
    """

    #: People at one home address with a home IP that changes every few months.
    HOUSEHOLD = "household"
    #: A household tablet or computer that several members log in from.
    FAMILY_DEVICE = "family_device"
    #: A household card (joint or authorised-user card) used by several members.
    FAMILY_CARD = "family_card"
    #: A household landline/phone number or a family mailbox given by several members.
    FAMILY_PHONE = "family_phone"
    #: Staff logging in from their employer's one to three office IPs on working days.
    OFFICE = "office"
    #: Students on a campus network; they also sign up there in waves at term start.
    CAMPUS = "campus"
    #: Customers on one mobile carrier, whose carrier-grade NAT addresses they share.
    CARRIER_NAT = "carrier_nat"
    #: Transient users of one cafe, airport or station Wi-Fi (one or two logins each).
    PUBLIC_WIFI = "public_wifi"
    #: Guests of one hotel logging in from its Wi-Fi during a trip.
    HOTEL_WIFI = "hotel_wifi"
    #: Customers of one commercial VPN provider, whose exits they share.
    VPN = "vpn"
    #: Customers an agent logged in for, on one call-centre workstation.
    CALL_CENTRE = "call_centre"
    #: Customers who opened their account on one branch tablet.
    SHOP_DEVICE = "shop_device"
    #: An employer account and the employees it pays.
    PAYROLL = "payroll"
    #: A small seller, the buyers who pay it, and the seller's own savings account.
    P2P_SELLER = "p2p_seller"
    #: A landlord and the tenants who pay it rent.
    LANDLORD = "landlord"


@dataclass(frozen=True)
class FormatMix:
    """How the hard profile's feed spells values when ``mixed_formats`` is on.

    The feed merges several source systems (onboarding, authentication, card
    processing, core banking), so formats vary from row to row. Weights are relative.

    Parameters
    ----------
    timestamp_weights : tuple of 5 float
        ISO 8601 with ``Z``, ISO 8601 with the customer's ``+hh:mm`` offset, naive
        ``YYYY-MM-DD HH:MM:SS`` (UTC), epoch seconds, epoch milliseconds.
    national_phone_share : float
        Share of phone numbers written in national format when the number belongs to
        the row's ``country``; the rest, and every foreign number, are E.164-like.
    country_weights : tuple of 4 float
        ``US``, ``us``, ``USA`` (alpha-3), ``United States`` (name).
    asn_weights : tuple of 3 float
        ``AS209``, ``as209``, ``209``.
    boolean_weights : tuple of 5 float
        ``true/false``, ``yes/no``, ``Y/N``, ``1/0``, ``t/f``; letters are upper-case in
        ``boolean_upper_share`` of the rows.
    boolean_upper_share : float
    address_respelled_share : float
        Share of address rows written in another spelling than the customer's usual
        one (USPS Publication 28 variants of suffix, unit, state, ZIP and case).
    email_respelled_share : float
        Share of email rows in another spelling (case, Gmail dots and ``+tags``).
    malformed_fraction : float
        Share of rows with one malformed optional field (``asn=ASX``, a 4-digit phone,
        a garbled boolean): about 0.3% in bank feeds with manual or legacy sources.
    """

    timestamp_weights: tuple[float, float, float, float, float] = (0.45, 0.2, 0.15, 0.12, 0.08)
    national_phone_share: float = 0.75
    country_weights: tuple[float, float, float, float] = (0.7, 0.1, 0.12, 0.08)
    asn_weights: tuple[float, float, float] = (0.5, 0.15, 0.35)
    boolean_weights: tuple[float, float, float, float, float] = (0.4, 0.15, 0.15, 0.2, 0.1)
    boolean_upper_share: float = 0.3
    address_respelled_share: float = 0.3
    email_respelled_share: float = 0.2
    malformed_fraction: float = 0.003


@dataclass(frozen=True)
class HardScenarioConfig:
    """A US bank's customer book where benign sharing is the norm and rings hide in it.

    Parameters
    ----------
    accounts : int
        Customer accounts, ring members and business accounts included (1,000 to
        2,000,000).
    seed : int
        Seed of every random choice; the same config gives byte-identical files.
    start : datetime
        First day of the period (timezone-aware).
    days : int
        Length of the period: 540 days, eighteen months of history.
    rings_per_10k : float
        Planted rings per 10,000 accounts (25: about 1-2% of accounts in rings, the
        share of confirmed-fraud accounts a retail bank sees over eighteen months).
    typology_weights : tuple of 5 float
        Relative frequency of device_farm, synthetic_identity, mule_network, bust_out
        and account_takeover rings. Mule and ATO cases dominate bank SAR filings.
    device_farm_sizes, synthetic_identity_sizes, mule_network_sizes, bust_out_sizes, account_takeover_sizes : tuple of 2 int
        Inclusive member-count bounds per ring; sizes lean to the low end.
    label_fraction : float
        Share of ring members with a confirmed-fraud label (chargebacks, SARs and
        investigations catch a minority).
    legit_label_fraction : float
        Share of other accounts with a ``legit`` label (banks rarely record these).
    country_weights : tuple of (str, float)
        Country of residence of customers: mostly US, with cross-border customers.
    foreign_phone_fraction : float
        US residents who keep a foreign mobile number (recent immigrants).
    events_per_account : float
        Mean everyday events (logins, card payments, transfers) per account over the
        period, on top of the signup and scheduled payments; a thin feed of the
        security-relevant events. Per-account activity is Pareto distributed with
        ``activity_exponent``.
    activity_exponent : float
    initial_book_fraction : float
        Accounts that sign up in the first four weeks: the standing book, opened
        before the period and first seen then.
    closure_rate_per_year : float
        Share of accounts closed or gone dormant per year (about 5% attrition).
    household_size_weights : tuple of 6 float
        Accounts per household at the bank, 1 to 6: US households average 2.5 people,
        but not every member banks with us, so about 60% of accounts share a home with
        another account.
    household_transfer_fraction : float
        Multi-account households with a monthly allowance or rent share.
    family_device_fraction, family_card_fraction, family_phone_fraction : float
        Multi-account households sharing a tablet/computer, a card (joint or
        authorised user), or a phone number or mailbox.
    home_ip_lease_days : tuple of 2 int
        Range of days a residential IP lasts before the ISP renumbers the home.
    ipv6_home_fraction : float
        Homes seen on IPv6 (about half of US traffic is IPv6; banks often see IPv4).
    mobile_only_fraction : float
        Customers who bank only on their phone's data plan, never on a home network.
    cellular_fraction : float
        Other smartphone customers who sometimes log in on mobile data.
    accounts_per_nat_ip : int
        Customers behind each carrier-grade NAT address (thousands at scale).
    office_worker_fraction : float
        Customers who log in from their office network on working days.
    office_sizes : tuple of 2 int
        Customers per office (10 to 300 staff).
    student_fraction : float
        University students, who sign up in waves at term start from the campus.
    campus_sizes : tuple of 2 int
        Students per campus at the bank (hundreds).
    public_wifi_fraction : float
        Customers with one or two logins from a cafe, airport or station hotspot.
    public_wifi_users_per_venue : int
    hotel_wifi_fraction : float
        Customers who log in from a hotel during a trip.
    hotel_wifi_users_per_hotel : int
    vpn_user_fraction : float
        Customers who log in through a commercial VPN most of the time.
    vpn_users_per_exit : int
        Customers sharing each VPN exit address.
    vpn_proxy_flag_weights : tuple of 3 float
        VPN exits flagged ``is_proxy`` true, unknown (blank), false by the IP feed.
    call_centre_fraction : float
        Customers served by phone banking, where an agent logs in for them.
    call_centre_customers_per_device : int
    branch_signup_fraction : float
        Accounts opened in a branch on a staff tablet.
    branch_signups_per_device : int
    payroll_fraction : float
        Customers paid by an employer that also banks with us.
    employer_sizes : tuple of 2 int
        Employees per employer at the bank.
    p2p_seller_fraction : float
        Small sellers (crafts, tutoring, resale) paid by many buyers by P2P transfer.
    p2p_buyers : tuple of 2 int
        Buyers per seller.
    landlord_fraction : float
        Individual landlords collecting rent from tenants at the bank.
    landlord_tenants : tuple of 2 int
    developer_fraction : float
        Developers who also log in from an Android emulator.
    rooted_device_fraction : float
        Android phones that are rooted.
    phone_lifetime_days : tuple of 2 int
        Days a customer keeps a phone before replacing it (two to three years).
    mixed_formats : bool
        Spell values as the bank's source systems do (see ``FormatMix``); off, every
        value is canonical (E.164 phones, integer ASNs, ``true/false``, ISO-8601 UTC),
        and the feed ingests with the standard normalisers.
    formats : FormatMix
    duplicate_fraction : float
        Rows re-sent verbatim by the feed (about 0.2%).
    rows_per_part : int
        Target rows per CSV part (about 35 MB at 250,000); a part never exceeds twice
        this. It also bounds memory: generation holds a few parts' worth of events.
    """

    accounts: int = 10_000
    seed: int = 0
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    days: int = 540
    rings_per_10k: float = 25.0
    typology_weights: tuple[float, float, float, float, float] = (0.15, 0.2, 0.3, 0.1, 0.25)
    device_farm_sizes: tuple[int, int] = (5, 15)
    synthetic_identity_sizes: tuple[int, int] = (4, 12)
    mule_network_sizes: tuple[int, int] = (5, 15)
    bust_out_sizes: tuple[int, int] = (4, 10)
    account_takeover_sizes: tuple[int, int] = (4, 12)
    label_fraction: float = 0.3
    legit_label_fraction: float = 0.0
    country_weights: tuple[tuple[str, float], ...] = (
        ("US", 0.94),
        ("CA", 0.015),
        ("MX", 0.015),
        ("GB", 0.01),
        ("IN", 0.01),
        ("DE", 0.01),
    )
    foreign_phone_fraction: float = 0.03
    events_per_account: float = 30.0
    activity_exponent: float = 1.8
    initial_book_fraction: float = 0.4
    closure_rate_per_year: float = 0.05
    household_size_weights: tuple[float, float, float, float, float, float] = (
        0.65,
        0.2,
        0.08,
        0.045,
        0.018,
        0.007,
    )
    household_transfer_fraction: float = 0.35
    family_device_fraction: float = 0.15
    family_card_fraction: float = 0.08
    family_phone_fraction: float = 0.06
    home_ip_lease_days: tuple[int, int] = (45, 240)
    ipv6_home_fraction: float = 0.2
    mobile_only_fraction: float = 0.12
    cellular_fraction: float = 0.45
    accounts_per_nat_ip: int = 1_500
    office_worker_fraction: float = 0.15
    office_sizes: tuple[int, int] = (10, 300)
    student_fraction: float = 0.04
    campus_sizes: tuple[int, int] = (150, 800)
    public_wifi_fraction: float = 0.08
    public_wifi_users_per_venue: int = 25
    hotel_wifi_fraction: float = 0.04
    hotel_wifi_users_per_hotel: int = 20
    vpn_user_fraction: float = 0.03
    vpn_users_per_exit: int = 40
    vpn_proxy_flag_weights: tuple[float, float, float] = (0.6, 0.25, 0.15)
    call_centre_fraction: float = 0.06
    call_centre_customers_per_device: int = 300
    branch_signup_fraction: float = 0.12
    branch_signups_per_device: int = 150
    payroll_fraction: float = 0.2
    employer_sizes: tuple[int, int] = (5, 300)
    p2p_seller_fraction: float = 0.003
    p2p_buyers: tuple[int, int] = (15, 150)
    landlord_fraction: float = 0.004
    landlord_tenants: tuple[int, int] = (2, 25)
    developer_fraction: float = 0.003
    rooted_device_fraction: float = 0.015
    phone_lifetime_days: tuple[int, int] = (540, 1_100)
    mixed_formats: bool = True
    formats: FormatMix = field(default_factory=FormatMix)
    duplicate_fraction: float = 0.002
    rows_per_part: int = 250_000

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ValueError("invalid HardScenarioConfig: " + "; ".join(problems))

    def ring_sizes(self, typology: Typology) -> tuple[int, int]:
        """Inclusive member-count bounds of ``typology``'s rings.

        Examples
        --------
        >>> HardScenarioConfig().ring_sizes(Typology.BUST_OUT)
        (4, 10)
        """
        sizes: tuple[int, int] = getattr(self, f"{typology.value}_sizes")
        return sizes

    def as_dict(self) -> dict[str, object]:
        """The config as JSON-ready values (``start`` in ISO 8601).

        Examples
        --------
        >>> HardScenarioConfig().as_dict()["start"]
        '2025-01-01T00:00:00+00:00'
        """
        out = asdict(self)
        out["start"] = self.start.isoformat()
        return out


_FRACTIONS: Final = (
    "label_fraction",
    "legit_label_fraction",
    "foreign_phone_fraction",
    "initial_book_fraction",
    "closure_rate_per_year",
    "household_transfer_fraction",
    "family_device_fraction",
    "family_card_fraction",
    "family_phone_fraction",
    "ipv6_home_fraction",
    "mobile_only_fraction",
    "cellular_fraction",
    "office_worker_fraction",
    "student_fraction",
    "public_wifi_fraction",
    "hotel_wifi_fraction",
    "vpn_user_fraction",
    "call_centre_fraction",
    "branch_signup_fraction",
    "payroll_fraction",
    "p2p_seller_fraction",
    "landlord_fraction",
    "developer_fraction",
    "rooted_device_fraction",
    "duplicate_fraction",
)


def _problems(config: HardScenarioConfig) -> list[str]:
    """Every reason ``config`` is invalid (none when it is valid)."""
    problems: list[str] = []
    if not MIN_ACCOUNTS <= config.accounts <= MAX_ACCOUNTS:
        problems.append(f"accounts must be in [{MIN_ACCOUNTS}, {MAX_ACCOUNTS}]")
    if config.seed < 0:
        problems.append("seed must be >= 0")
    if config.start.tzinfo is None:
        problems.append("start must be timezone-aware")
    if config.days < MIN_DAYS:
        problems.append(f"days must be >= {MIN_DAYS}")
    if config.rings_per_10k < 0:
        problems.append("rings_per_10k must be >= 0")
    for name in _FRACTIONS:
        if not 0.0 <= getattr(config, name) <= 1.0:
            problems.append(f"{name} must be in [0, 1]")
    formats = config.formats
    for f in fields(formats):
        value = getattr(formats, f.name)
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            problems.append(f"formats.{f.name} must be in [0, 1]")
        if isinstance(value, tuple) and (min(value) < 0 or sum(value) <= 0):
            problems.append(f"formats.{f.name} must be non-negative with a positive sum")
    for name in ("typology_weights", "household_size_weights", "vpn_proxy_flag_weights"):
        weights = getattr(config, name)
        if min(weights) < 0 or sum(weights) <= 0:
            problems.append(f"{name} must be non-negative with a positive sum")
    if not config.country_weights or min(w for _, w in config.country_weights) < 0:
        problems.append("country_weights must be non-empty and non-negative")
    elif config.country_weights[0][0] != "US":
        problems.append("country_weights must list US first (the bank's home country)")
    for code, _ in config.country_weights:
        if code not in _RESIDENCE_COUNTRIES:
            problems.append(f"country {code!r} must be one of {sorted(_RESIDENCE_COUNTRIES)}")
    for name in (
        *(f"{t.value}_sizes" for t in Typology),
        "office_sizes",
        "campus_sizes",
        "employer_sizes",
        "p2p_buyers",
        "landlord_tenants",
        "home_ip_lease_days",
        "phone_lifetime_days",
    ):
        low, high = getattr(config, name)
        if not 1 <= low <= high:
            problems.append(f"{name} must be (low, high) with 1 <= low <= high")
    for name in (f"{t.value}_sizes" for t in Typology):
        if getattr(config, name)[0] < 3:
            problems.append(f"{name} must start at 3 or more (a ring has several members)")
    for name in (
        "accounts_per_nat_ip",
        "public_wifi_users_per_venue",
        "hotel_wifi_users_per_hotel",
        "vpn_users_per_exit",
        "call_centre_customers_per_device",
        "branch_signups_per_device",
    ):
        if getattr(config, name) < 2:
            problems.append(f"{name} must be >= 2")
    if config.events_per_account < 1.0:
        problems.append("events_per_account must be >= 1")
    if config.activity_exponent <= 1.0:
        problems.append("activity_exponent must be > 1 (finite mean)")
    if config.rows_per_part < 1_000:
        problems.append("rows_per_part must be >= 1000")
    if not problems:
        largest = max(config.ring_sizes(t)[1] for t in Typology)
        rings = max(len(Typology), round(config.accounts / 10_000 * config.rings_per_10k))
        if rings * largest > config.accounts // 5:
            problems.append("rings_per_10k plants more rings than the accounts can hold")
    return problems


#: Countries a customer may live in (the ones the world knows phones and ISPs for).
_RESIDENCE_COUNTRIES: Final = frozenset({"US", "CA", "MX", "GB", "IN", "DE"})
