"""Synthetic fraud scenarios: a bank's customer base with planted fraud rings.

``generate_scenario`` writes one folder:

* ``events/part-00000.parquet``, ``part-00001.parquet`` ... -- signup, login, payment and
  transfer events with exactly the columns of :data:`ingestion.schema.EVENT_SCHEMA`,
  time-ordered within and across parts;
* ``labels.csv`` -- what an investigations team knows: ``fraud`` labels for a share of
  the ring members and ``legit`` labels for a small share of everyone else;
* ``truth.csv`` -- ``ring_id,typology,account_id`` for every planted ring member, for
  evaluation only.

The background population is hard in the ways real data is. Households of one to six
accounts share an address and a home IP; carrier-NAT mobile IPs are shared by thousands
of accounts; office and public Wi-Fi IPs, commercial VPN exits (``is_proxy`` true) and a
Zipf-popular merchant list are shared by many; a few families share a tablet, a few
developers own an emulator, a few users root their phones. Those are the benign heavy
sharers. Rings are tied together by *rare* shared identifiers and by money flow, and their
members also have ordinary activity of their own. Typologies are listed in
:class:`Typology`.

The same identifier is spelled differently from event to event, so the normalisers in
:mod:`ingestion.normalise` have work to do: phones as ``+44 7400 123456``,
``07400 123456``, ``+447400123456`` ... (always numbers ``phonenumbers`` accepts as valid
when parsed with ``default_region``); emails with case changes and, for Gmail, dots,
``+tags`` and the ``googlemail.com`` alias; addresses with case, extra whitespace and
``Street``/``St`` style abbreviations. Account, device, card and merchant ids are opaque
(``A000123456``, ``D...``, ``C...``, ``M...``) and never vary.

Everything is a pure function of the configuration: the same ``ScenarioConfig`` gives
byte-identical files. Generation is vectorised with numpy and proceeds in time buckets
of about ``rows_per_part`` events, so memory stays bounded: about 100 bytes per account
plus about 1 GB for the buckets in flight (2.2 GB peak at 10M accounts / 100M events).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ingestion.schema import EVENT_SCHEMA, TIMESTAMP, EventType
from ingestion.synthetic.hashing import (
    Scramble,
    derive_salt,
    hashed_below,
    hashed_fraction,
    hashed_unit,
    splitmix,
)
from ingestion.synthetic.text import (
    Text,
    Vocab,
    blank_unless,
    const_text,
    decimal_text,
    digit_planes,
    hex_text,
    identifier_text,
    optional_array,
    string_array,
)

__all__ = ["RING_SIZES", "ScenarioConfig", "ScenarioSummary", "Typology", "generate_scenario"]

logger = logging.getLogger(__name__)

_I64 = npt.NDArray[np.int64]
_I32 = npt.NDArray[np.int32]
_I8 = npt.NDArray[np.int8]
_U8 = npt.NDArray[np.uint8]
_U64 = npt.NDArray[np.uint64]
_F64 = npt.NDArray[np.float64]
_Bool = npt.NDArray[np.bool_]

ProgressCallback = Callable[[str, int, int], None]

_HOUR: Final = 3_600_000_000
_DAY: Final = 24 * _HOUR
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class Typology(StrEnum):
    """The kinds of planted fraud ring; the value is what ``truth.csv`` says."""

    #: Emulators and rooted phones each driving many sign-ups in a short burst, from
    #: proxy IPs, then small payments and transfers to a collector account.
    DEVICE_FARM = "device_farm"
    #: Accounts built from recombined identity data: one Gmail mailbox in dot/+tag
    #: variants, one or two phones and addresses, each written differently per account.
    SYNTHETIC_IDENTITY = "synthetic_identity"
    #: Money mules: fan-in transfers from many legitimate victims, consolidation into
    #: collectors, fan-out back to mules and transfer cycles; light device/IP sharing.
    MULE_NETWORK = "mule_network"
    #: Long-standing accounts sharing an address or phone that spend big, together, in a
    #: few days at one to three colluding merchants.
    BUST_OUT = "bust_out"
    #: Established accounts suddenly logging in from a few proxy IPs and attacker
    #: devices, then transferring out to drop accounts (which are ring members too).
    ACCOUNT_TAKEOVER = "account_takeover"


#: Inclusive member-count bounds per ring, by typology.
RING_SIZES: Final[dict[Typology, tuple[int, int]]] = {
    Typology.DEVICE_FARM: (10, 40),
    Typology.SYNTHETIC_IDENTITY: (5, 15),
    Typology.MULE_NETWORK: (8, 30),
    Typology.BUST_OUT: (5, 12),
    Typology.ACCOUNT_TAKEOVER: (5, 20),
}

_TYPOLOGY_WEIGHTS: Final[dict[Typology, float]] = {
    Typology.DEVICE_FARM: 0.2,
    Typology.SYNTHETIC_IDENTITY: 0.2,
    Typology.MULE_NETWORK: 0.25,
    Typology.BUST_OUT: 0.15,
    Typology.ACCOUNT_TAKEOVER: 0.2,
}

_MIN_ACCOUNTS: Final = 1_000
_MAX_ACCOUNTS: Final = 20_000_000
_MIN_DAYS: Final = 30


@dataclass(frozen=True)
class ScenarioConfig:
    """What to generate. Every field has a default that gives a realistic scenario.

    Parameters
    ----------
    accounts : int
        Number of customer accounts, ring members included (1,000 to 20,000,000).
    seed : int
        Seed of every random choice; the same config gives byte-identical output.
    rings_per_10k : float
        Planted rings per 10,000 accounts. At least one ring per typology is planted
        whatever the size.
    label_fraction : float
        Share of ring members given a known-fraud label.
    legit_label_fraction : float
        Share of the other accounts given a ``legit`` label.
    start : datetime
        Beginning of the simulated period; must be timezone-aware.
    days : int
        Length of the simulated period (at least 30).
    events_per_account : float
        Mean number of background events per account, signup included. Activity per
        account is power-law distributed.
    default_region : str
        ``"GB"`` or ``"US"``: the home country of most customers, of their phone numbers
        (national formats are valid only when parsed with this region), of the IPs they
        use and of the currency.
    activity_exponent : float
        Pareto tail index of per-account activity (smaller means heavier tail).
    accounts_per_nat_ip : int
        Accounts behind each carrier-NAT mobile IP.
    merchants_per_1k_accounts : float
        Size of the merchant catalogue, whose popularity is Zipf-distributed.
    vpn_user_fraction : float
        Share of legitimate customers who mostly log in through a commercial VPN.
    rooted_device_fraction : float
        Share of legitimate Android devices that are rooted.
    rows_per_part : int
        Target rows per Parquet part; a part never exceeds twice this.
    """

    accounts: int = 10_000
    seed: int = 0
    rings_per_10k: float = 8.0
    label_fraction: float = 0.3
    legit_label_fraction: float = 0.01
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    days: int = 180
    events_per_account: float = 10.0
    default_region: str = "GB"
    activity_exponent: float = 1.7
    accounts_per_nat_ip: int = 4_000
    merchants_per_1k_accounts: float = 20.0
    vpn_user_fraction: float = 0.03
    rooted_device_fraction: float = 0.015
    rows_per_part: int = 1_000_000

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not _MIN_ACCOUNTS <= self.accounts <= _MAX_ACCOUNTS:
            problems.append(f"accounts must be in [{_MIN_ACCOUNTS}, {_MAX_ACCOUNTS}]")
        if self.seed < 0:
            problems.append("seed must be >= 0")
        if self.rings_per_10k < 0:
            problems.append("rings_per_10k must be >= 0")
        for name in ("label_fraction", "legit_label_fraction", "vpn_user_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1]")
        if not 0.0 <= self.rooted_device_fraction <= 1.0:
            problems.append("rooted_device_fraction must be in [0, 1]")
        if self.start.tzinfo is None:
            problems.append("start must be timezone-aware")
        if self.days < _MIN_DAYS:
            problems.append(f"days must be >= {_MIN_DAYS}")
        if self.events_per_account < 1.0:
            problems.append("events_per_account must be >= 1 (the signup)")
        if self.default_region not in _REGIONS:
            problems.append(f"default_region must be one of {sorted(_REGIONS)}")
        if self.activity_exponent <= 1.0:
            problems.append("activity_exponent must be > 1 (finite mean)")
        if self.accounts_per_nat_ip < 1:
            problems.append("accounts_per_nat_ip must be >= 1")
        if self.merchants_per_1k_accounts <= 0:
            problems.append("merchants_per_1k_accounts must be > 0")
        if self.rows_per_part < 1_000:
            problems.append("rows_per_part must be >= 1000")
        largest_minimum = max(low for low, _ in RING_SIZES.values())
        if not problems and _ring_count(self) * largest_minimum > self.accounts // 2:
            problems.append("rings_per_10k plants more rings than the accounts can hold")
        if problems:
            raise ValueError("invalid ScenarioConfig: " + "; ".join(problems))


@dataclass(frozen=True)
class ScenarioSummary:
    """What ``generate_scenario`` wrote.

    Parameters
    ----------
    out_dir : Path
        The output folder.
    events : int
        Event rows written, over all parts.
    accounts : int
        Accounts in the population (each has exactly one signup event).
    rings : int
        Planted rings.
    ring_accounts : int
        Rows of ``truth.csv``: accounts that belong to a ring.
    labels : int
        Rows of ``labels.csv``.
    events_path : Path
        Folder of the Parquet parts.
    labels_path : Path
        ``labels.csv``.
    truth_path : Path
        ``truth.csv``.
    """

    out_dir: Path
    events: int
    accounts: int
    rings: int
    ring_accounts: int
    labels: int
    events_path: Path
    labels_path: Path
    truth_path: Path

    def as_dict(self) -> dict[str, object]:
        """Return the summary as JSON-ready values (paths as strings).

        Returns
        -------
        dict of str to object
            One entry per field.

        Examples
        --------
        >>> s = ScenarioSummary(Path("o"), 1, 1, 0, 0, 0, Path("o/events"),
        ...                     Path("o/labels.csv"), Path("o/truth.csv"))
        >>> s.as_dict()["events_path"]
        'o/events'
        """
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def generate_scenario(
    config: ScenarioConfig,
    out_dir: Path,
    *,
    on_progress: ProgressCallback | None = None,
) -> ScenarioSummary:
    """Generate a population with planted fraud rings and write it to ``out_dir``.

    Parameters
    ----------
    config : ScenarioConfig
        What to generate.
    out_dir : Path
        Folder to write ``events/``, ``labels.csv`` and ``truth.csv`` into; created if
        missing. Existing ``events/part-*.parquet`` files (and leftovers of an
        interrupted run) are deleted first.
    on_progress : callable, optional
        Called as ``on_progress(step, done, total)`` for the steps ``"population"``,
        ``"rings"``, ``"events"`` (``done`` and ``total`` count time buckets) and
        ``"labels"``.

    Returns
    -------
    ScenarioSummary
        Counts and paths of what was written.

    Raises
    ------
    OSError
        If the files cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     summary = generate_scenario(ScenarioConfig(accounts=1_000), Path(tmp))
    >>> summary.accounts, summary.rings >= 5
    (1000, True)

    Notes
    -----
    O(A log A + E log P) time for A accounts, E events and P = ``rows_per_part``,
    vectorised; generation, rendering and writing of consecutive buckets overlap on two
    threads. Memory is O(A) (about 100 bytes per account) plus O(P).
    """
    started = time.perf_counter()
    progress: ProgressCallback = on_progress or _no_progress
    out_dir = Path(out_dir)
    events_dir = out_dir / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    for pattern in ("part-*.parquet", ".part-*.parquet.partial"):
        for stale in sorted(events_dir.glob(pattern)):
            stale.unlink()

    population, plans = _build_population(config)
    progress("population", 1, 1)
    ring_events = _plant_rings(population, plans, config)
    progress("rings", len(plans), len(plans))

    written, parts = _write_events(population, ring_events, config, events_dir, progress)
    truth_path = out_dir / "truth.csv"
    labels_path = out_dir / "labels.csv"
    ring_accounts = _write_truth(population, plans, truth_path)
    labels = _write_labels(population, plans, config, labels_path)
    progress("labels", 1, 1)
    summary = ScenarioSummary(
        out_dir=out_dir,
        events=written,
        accounts=config.accounts,
        rings=len(plans),
        ring_accounts=ring_accounts,
        labels=labels,
        events_path=events_dir,
        labels_path=labels_path,
        truth_path=truth_path,
    )
    logger.info(
        "scenario generated",
        extra={**summary.as_dict(), "parts": parts, "seconds": time.perf_counter() - started},
    )
    return summary


def _no_progress(step: str, done: int, total: int) -> None:
    """Progress sink used when the caller passes none."""


def _write_events(
    population: _Population,
    ring_events: _Batch,
    config: ScenarioConfig,
    events_dir: Path,
    progress: ProgressCallback,
) -> tuple[int, int]:
    """Generate, render and write every time bucket; return (events, parts) written.

    Generation of the next bucket, rendering of the current one and writing of the
    previous one run concurrently on two threads (numpy and pyarrow release the GIL).
    Each bucket draws from its own seed, so the output does not depend on scheduling.
    At most about four buckets are in memory at once.
    """
    edges = _bucket_edges(population, config.rows_per_part)
    n_buckets = edges.size - 1

    def bucket_events(bucket: int) -> _Batch:
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2, bucket]))
        t0, t1 = int(edges[bucket]), int(edges[bucket + 1])
        return _bucket_events(population, ring_events, t0, t1, rng)

    written = 0
    parts = 0
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="scenario") as pool:
        upcoming = pool.submit(bucket_events, 0)
        rendering: deque[tuple[Future[pa.Table], Path]] = deque()
        writing: Future[None] | None = None

        def write_oldest() -> Future[None]:
            table, path = rendering.popleft()
            rendered = table.result()
            if writing is not None:
                writing.result()
            return pool.submit(_write_part, rendered, path)

        for bucket in range(n_buckets):
            batch = upcoming.result()
            if bucket + 1 < n_buckets:
                upcoming = pool.submit(bucket_events, bucket + 1)
            for piece in _split(batch, config.rows_per_part):
                path = events_dir / f"part-{parts:05d}.parquet"
                rendering.append((pool.submit(_render, population, piece, written), path))
                written += len(piece)
                parts += 1
                if len(rendering) > 1:
                    writing = write_oldest()
            progress("events", bucket + 1, n_buckets)
        while rendering:
            writing = write_oldest()
        if writing is not None:
            writing.result()
    return written, parts


# -------------------------------------------------------------------- vocabularies


def _words(text: str) -> tuple[str, ...]:
    """The whitespace-separated words of ``text``."""
    return tuple(text.split())


_FIRST_NAMES: Final = _words(
    "james john robert michael william david richard joseph thomas charles christopher "
    "daniel matthew anthony mark paul steven andrew joshua kevin brian george edward ryan "
    "jacob gary nicholas eric jonathan stephen oliver harry jack charlie alfie noah leo "
    "oscar archie henry mary patricia jennifer linda elizabeth barbara susan jessica sarah "
    "karen nancy lisa margaret sandra ashley emily donna michelle carol amanda melissa "
    "deborah stephanie rebecca laura sharon cynthia kathleen amy shirley angela helen anna "
    "brenda emma olivia amelia isla ava mia ivy lily grace sophia freya chloe ella poppy "
    "ruby evie priya aisha fatima mohammed ali omar raj arjun wei chen"
)
_LAST_NAMES: Final = _words(
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
_MAIL_DOMAINS: Final = (
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
_MAIL_DOMAIN_WEIGHTS: Final = (0.33, 0.03, 0.14, 0.14, 0.1, 0.1, 0.06, 0.04, 0.03, 0.03)
_GMAIL: Final = 0
_GOOGLEMAIL: Final = 1
#: Email spellings. 0-3 apply to every domain, 4-7 only to Gmail (elsewhere they fall
#: back to ``variant % 4``): lower, Title, UPPER, lower@Title-domain, dots dropped,
#: +tag, a dot inside the first name, gmail.com <-> googlemail.com.
_EMAIL_VARIANTS: Final = 8
_MAIL_TAGS: Final = ("", "+shop", "+bank", "+promo", "+news", "+2026")

_STREETS: Final = _words(
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
_STREET_TYPES: Final = (
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
_TOWNS: Final = (
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
_HOUSE_NUMBERS: Final = 399
_POSTCODE_LETTERS: Final = "ABDEFGHJLNPQRSTUWXYZ"
#: Address spellings: (case: 0 Title 1 UPPER 2 lower, abbreviated type, extra spaces).
_ADDRESS_STYLES: Final = ((0, 0, 0), (0, 1, 0), (1, 0, 0), (2, 1, 0), (0, 0, 1), (1, 1, 1))
_ADDRESS_VARIANTS: Final = len(_ADDRESS_STYLES)

_OS_NAMES: Final = ("android", "ios", "windows", "macos", "ipados")
_ANDROID, _IOS, _WINDOWS, _MACOS, _IPADOS = range(5)
_COUNTRIES: Final = ("GB", "US", "NL", "DE", "SE", "CH", "RO", "FR", "NG", "BR")
_COUNTRY_CODE: Final = {c: i for i, c in enumerate(_COUNTRIES)}
_EVENT_CODE: Final = {t: i for i, t in enumerate(EventType)}
_SIGNUP, _LOGIN, _PAYMENT, _TRANSFER = (_EVENT_CODE[t] for t in EventType)

_V_FIRST: Final = Vocab(
    [*_FIRST_NAMES, *(n.title() for n in _FIRST_NAMES), *(n.upper() for n in _FIRST_NAMES)]
    + [f"{n[0]}.{n[1:]}" for n in _FIRST_NAMES]
)
_V_LAST: Final = Vocab(
    [*_LAST_NAMES, *(n.title() for n in _LAST_NAMES), *(n.upper() for n in _LAST_NAMES)]
)
_V_SEPARATORS: Final = Vocab([".", "_", ""])
_V_TAGS: Final = Vocab(_MAIL_TAGS)
_V_DOMAINS: Final = Vocab(
    [*_MAIL_DOMAINS, *(d.title() for d in _MAIL_DOMAINS), *(d.upper() for d in _MAIL_DOMAINS)]
)
_V_STREETS: Final = Vocab(
    [*_STREETS, *(s.upper() for s in _STREETS), *(s.lower() for s in _STREETS)]
)
_V_STREET_TYPES: Final = Vocab(
    [f(w[a]) for f in (str, str.upper, str.lower) for a in (0, 1) for w in _STREET_TYPES]
)
_V_TOWNS: Final = Vocab([f(t[0]) for f in (str, str.upper, str.lower) for t in _TOWNS])
_V_AREAS: Final = Vocab([t[1] for t in _TOWNS] + [t[1].lower() for t in _TOWNS])
_V_UNITS: Final = Vocab(
    [a + b for a in _POSTCODE_LETTERS for b in _POSTCODE_LETTERS]
    + [(a + b).lower() for a in _POSTCODE_LETTERS for b in _POSTCODE_LETTERS]
)
_V_SPACES: Final = Vocab(["", " ", "  "])
_V_OCTETS: Final = Vocab([str(i) for i in range(256)])
_V_OS: Final = Vocab(_OS_NAMES)
_V_COUNTRIES: Final = Vocab(_COUNTRIES)
_V_EVENT_TYPES: Final = Vocab([t.value for t in EventType])

_N_NAME_COMBOS: Final = len(_FIRST_NAMES) * len(_LAST_NAMES) * 2
_MAILBOX_SPACE: Final = _N_NAME_COMBOS * 1_000
_ADDRESS_SPACE: Final = _HOUSE_NUMBERS * len(_STREETS) * len(_STREET_TYPES) * len(_TOWNS)


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


_REGIONS: Final[dict[str, _Region]] = {
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
_VPN_NETWORKS: Final = (
    _net(9009, "185.153.0.0"),
    _net(60068, "89.187.0.0"),
    _net(212238, "146.70.0.0"),
    _net(136787, "103.108.0.0"),
)
_VPN_COUNTRIES: Final = ("NL", "DE", "US", "GB", "SE", "CH")
_HOSTING_NETWORKS: Final = (
    _net(14061, "159.65.0.0"),
    _net(16276, "51.68.0.0"),
    _net(24940, "95.216.0.0"),
    _net(16509, "3.8.0.0"),
)
_PROXY_COUNTRIES: Final = ("NL", "DE", "US", "RO", "FR", "GB", "NG", "BR")

# Phone numbers: national significant numbers that ``phonenumbers`` validates.
# GB mobiles 07400 000000 - 07449 999999; US numbers in a few area codes, exchange
# 200-999 (all checked valid with phonenumbers 9.0).
_GB_MOBILE_BASE: Final = 7_400_000_000
_GB_MOBILE_SPACE: Final = 50_000_000
_US_AREA_CODES: Final = (201, 202, 212, 213, 305, 312, 404, 415, 512, 617, 646, 702, 713, 718)
_US_SPACE: Final = len(_US_AREA_CODES) * 800 * 10_000
_PHONE_TRUNK: Final = 10_000_000_000  # E.164 code = calling code * _PHONE_TRUNK + nsn

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
_PHONE_FORMATS: Final = 6  # per-event format draws are taken modulo the allowed list
_PHONE_ALLOWED: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("GB", "GB"): ("intl", "national", "e164", "national_compact", "idd_00", "trunk"),
    ("US", "GB"): ("intl", "e164", "intl_paren", "idd_00"),
    ("US", "US"): ("intl", "e164", "intl_paren", "national_paren", "national_dash"),
    ("GB", "US"): ("intl", "e164", "idd_011"),
}
_LAYOUT_KEYS: Final = [("GB", k) for k in _GB_LAYOUTS] + [("US", k) for k in _US_LAYOUTS]
_LAYOUT_INDEX: Final = {key: i for i, key in enumerate(_LAYOUT_KEYS)}


def _layout(key: tuple[str, str]) -> tuple[str, dict[int, str]]:
    return (_GB_LAYOUTS if key[0] == "GB" else _US_LAYOUTS)[key[1]]


_V_PHONE_PREFIX: Final = Vocab([_layout(k)[0] for k in _LAYOUT_KEYS])
_V_PHONE_SEPARATORS: Final = Vocab(
    [_layout(k)[1].get(pos, "") for k in _LAYOUT_KEYS for pos in range(10)]
)


# ---------------------------------------------------------------------- identifiers
#
# Internally every identifier is an integer; it becomes text only when a part is
# written. IP codes carry their kind in the high bits.

_IP_HOME, _IP_HOME6, _IP_NAT, _IP_OFFICE, _IP_WIFI, _IP_VPN, _IP_RING = range(1, 8)
_IP_SHIFT: Final = 40
_IP_INDEX_MASK: Final = (1 << _IP_SHIFT) - 1
_HOME_SPACE: Final = 1 << 24  # 4 ISPs x a /10 each


def _ip_code(kind: int, index: npt.NDArray[np.integer] | int) -> _I64:
    return (np.int64(kind) << np.int64(_IP_SHIFT)) | np.asarray(index, np.int64)


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


class _Population:
    """The background customer base, sorted by creation time, and its identifier spaces.

    Per-account state is a handful of arrays; everything else (devices, phones, NAT IP,
    payees ...) is a stateless hash of the account number, so memory stays O(accounts).
    """

    def __init__(
        self,
        config: ScenarioConfig,
        created: _I64,
        weight: _F64,
        household_sizes: _I64,
        member_at: _I32,
        is_member: _Bool,
        start_us: int,
        end_us: int,
    ) -> None:
        seed = config.seed
        n = created.size
        self.config = config
        self.region = _REGIONS[config.default_region]
        self.start_us = start_us
        self.end_us = end_us
        self.n = n
        self.created = created
        self.cumulative_weight: _F64 = np.cumsum(weight)
        alive_us = (end_us - created).astype(np.float64)
        self.rate = n * (config.events_per_account - 1.0) / max(float(weight @ alive_us), 1.0)
        self.household_size = household_sizes
        self.household_start: _I64 = np.cumsum(household_sizes) - household_sizes
        self.n_households = int(household_sizes.size)
        self.member_at = member_at
        self.household_at: _I32 = np.repeat(
            np.arange(self.n_households, dtype=np.int32), household_sizes
        )
        self.position: _I32 = np.empty(n, np.int32)
        self.position[member_at] = np.arange(n, dtype=np.int32)
        self.n_big_families = _big_families(n)
        self.is_member = is_member
        self.ring_signup: _Bool = np.zeros(n, np.bool_)
        self.n_nat = max(4, n // config.accounts_per_nat_ip)
        self.n_office = max(3, n // 1_000)
        self.n_wifi = max(3, n // 10_000)
        self.n_vpn = max(6, n // 10_000)
        self.n_merchants = max(50, round(n * config.merchants_per_1k_accounts / 1_000))
        ranks = np.arange(1, self.n_merchants + 1, dtype=np.float64)
        self.merchant_cdf: _F64 = np.cumsum(ranks**-1.07)
        self.merchant_cdf /= self.merchant_cdf[-1]
        self.device_ring_base = 4 * n + self.n_households
        self.registry = _Registry()
        self.salts = {p: derive_salt(seed, p) for p in _SALT_PURPOSES}
        self.scramble_account = Scramble.build(10**9, self.salts["account"])
        self.scramble_device = Scramble.build(10**10, self.salts["device"])
        self.scramble_card = Scramble.build(10**12, self.salts["card"])
        self.scramble_merchant = Scramble.build(10**7, self.salts["merchant"])
        self.scramble_gb_phone = Scramble.build(_GB_MOBILE_SPACE, self.salts["gb_phone"])
        self.scramble_us_phone = Scramble.build(_US_SPACE, self.salts["us_phone"])
        self.scramble_mailbox = Scramble.build(_MAILBOX_SPACE, self.salts["mailbox"])
        self.scramble_address = Scramble.build(_ADDRESS_SPACE, self.salts["address"])
        self.scramble_home = Scramble.build(_HOME_SPACE, self.salts["home_ip"])
        self.scramble_hosting = Scramble.build(65_000, self.salts["hosting_ip"])

    # -- households ------------------------------------------------------------------

    def household(self, account: _I64) -> _I64:
        """Household number of each account."""
        return self.household_at[self.position[account]].astype(np.int64)

    def other_member(self, account: _I64, rng: np.random.Generator) -> _I64:
        """A random other member of each account's household (itself if it lives alone)."""
        slot = self.position[account].astype(np.int64)
        household = self.household_at[slot]
        start = self.household_start[household]
        size = self.household_size[household]
        step = 1 + (rng.random(account.size) * np.maximum(size - 1, 1)).astype(np.int64)
        return self.member_at[start + (slot - start + step) % size].astype(np.int64)

    def head(self, household: _I64) -> _I64:
        """The first member of each household."""
        return self.member_at[self.household_start[household]].astype(np.int64)

    def has_family_device(self, household: _I64) -> _Bool:
        """Whether the household shares a tablet (always, for the big families)."""
        size = self.household_size[household]
        tablet = (size >= 2) & (hashed_unit(household, self.salts["tablet"]) < 0.12)
        return tablet | (household < self.n_big_families)

    # -- devices and cards -----------------------------------------------------------

    # Per-account traits come from two hashes of the account number, 16 bits per trait:
    # habits (devices, developer, office worker, VPN user) and profile (cards, shared
    # phone, foreign phone, email domain).

    def habits(self, account: _I64) -> _U64:
        """The habit hash of each account."""
        return splitmix(account, self.salts["habits"])

    def profile(self, account: _I64) -> _U64:
        """The profile hash of each account."""
        return splitmix(account, self.salts["profile"])

    @staticmethod
    def is_developer(habits: _U64) -> _Bool:
        """Developers, who also log in from an Android emulator."""
        return hashed_fraction(habits, 16) < 0.002

    @staticmethod
    def device_count(habits: _U64) -> _I64:
        """Personal devices per account: 1 (60%), 2 (30%) or 3; developers have 2+."""
        u = hashed_fraction(habits, 0)
        count = 1 + (u < 0.4).astype(np.int64) + (u < 0.1).astype(np.int64)
        return np.where(_Population.is_developer(habits), np.maximum(count, 2), count)

    @staticmethod
    def is_office_worker(habits: _U64) -> _Bool:
        """Customers who sometimes log in from their office network."""
        return hashed_fraction(habits, 32) < 0.08

    def is_vpn_user(self, habits: _U64) -> _Bool:
        """Customers who mostly log in through a commercial VPN."""
        return hashed_fraction(habits, 48) < self.config.vpn_user_fraction

    def everyday_device(
        self, account: _I64, household: _I64, login: _Bool, rng: np.random.Generator
    ) -> _I64:
        """The device of each everyday event: mostly the primary phone."""
        count = self.device_count(self.habits(account))
        secondary = (rng.random(account.size) >= 0.7) & (count > 1)
        slot = np.where(secondary, 1 + (rng.random(account.size) * (count - 1)).astype(np.int64), 0)
        device = account * 4 + slot
        share = np.where(household < self.n_big_families, 0.5, 0.3)
        family = login & self.has_family_device(household) & (rng.random(account.size) < share)
        return np.where(family, 4 * self.n + household, device)

    def card_count(self, account: _I64) -> _I64:
        """Payment cards per account: 1 or 2."""
        return 1 + (hashed_fraction(self.profile(account), 0) < 0.35).astype(np.int64)

    def everyday_card(self, account: _I64, rng: np.random.Generator) -> _I64:
        """The card of each payment: mostly the first."""
        second = (rng.random(account.size) < 0.25) & (self.card_count(account) > 1)
        return account * 2 + second

    # -- contact details -------------------------------------------------------------

    def phone(self, account: _I64) -> _I64:
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

    def ring_phone(self, index: _I64) -> _I64:
        """Domestic numbers reserved for rings (never a background customer's)."""
        owner = self.n + index
        if self.region.country == "GB":
            return self._gb_phone(owner)
        return self._us_phone(owner)

    def _gb_phone(self, owner: _I64) -> _I64:
        nsn = _GB_MOBILE_BASE + self.scramble_gb_phone(owner)
        return 44 * _PHONE_TRUNK + nsn

    def _us_phone(self, owner: _I64) -> _I64:
        q = self.scramble_us_phone(owner)
        area = np.asarray(_US_AREA_CODES, np.int64)[q // 8_000_000]
        exchange = 200 + (q // 10_000) % 800
        return 1 * _PHONE_TRUNK + area * 10_000_000 + exchange * 10_000 + q % 10_000

    def email(self, account: _I64) -> _I64:
        """Email code (mailbox * 16 + domain) of each account."""
        u = hashed_fraction(self.profile(account), 48)
        cdf = np.cumsum(_MAIL_DOMAIN_WEIGHTS)
        domain = np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), len(cdf) - 1)
        return account * 16 + domain

    # -- IPs -------------------------------------------------------------------------

    def home_ip(self, household: _I64) -> _I64:
        """Home IP code of each household; 15% of homes are on IPv6."""
        v6 = hashed_unit(household, self.salts["ipv6"]) < 0.15
        return np.where(v6, _ip_code(_IP_HOME6, household), _ip_code(_IP_HOME, household))

    def everyday_ip(
        self, account: _I64, household: _I64, device: _I64, rng: np.random.Generator
    ) -> _I64:
        """The IP of each login or transfer: home, carrier NAT, office, Wi-Fi or VPN."""
        n = account.size
        ip = self.home_ip(household)
        _, _, os = self.device_attributes(device)
        mobile = (os == _ANDROID) | (os == _IOS)
        nat = mobile & (rng.random(n) < 0.45)
        ip = np.where(
            nat, _ip_code(_IP_NAT, hashed_below(account, self.salts["nat"], self.n_nat)), ip
        )
        habits = self.habits(account)
        office = self.is_office_worker(habits) & (rng.random(n) < 0.2)
        office_ip = _ip_code(
            _IP_OFFICE, hashed_below(account, self.salts["office_id"], self.n_office)
        )
        ip = np.where(office, office_ip, ip)
        wifi = rng.random(n) < 0.02
        ip = np.where(wifi, _ip_code(_IP_WIFI, rng.integers(0, self.n_wifi, n)), ip)
        vpn = self.is_vpn_user(habits) & (rng.random(n) < 0.6)
        return np.where(vpn, _ip_code(_IP_VPN, rng.integers(0, self.n_vpn, n)), ip)

    # -- money -----------------------------------------------------------------------

    def popular_merchants(self, rng: np.random.Generator, count: int) -> _I64:
        """Merchants drawn by Zipf popularity, in random order."""
        draw = _sorted_uniforms(rng, count)
        drawn = np.searchsorted(self.merchant_cdf, draw, side="right").astype(np.int64)
        rng.shuffle(drawn)
        return np.minimum(drawn, self.n_merchants - 1)

    def payee(self, account: _I64, ts: _I64, rng: np.random.Generator) -> _I64:
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

    def new_devices(self, emulator: _Bool, rooted: _Bool, os: _I64) -> _I64:
        """Register ring devices; return their device numbers."""
        reg = self.registry
        first = len(reg.device_os)
        reg.device_emulator.extend(bool(x) for x in emulator)
        reg.device_rooted.extend(bool(x) for x in rooted)
        reg.device_os.extend(int(x) for x in os)
        return self.device_ring_base + np.arange(first, len(reg.device_os), dtype=np.int64)

    def new_ips(
        self, rng: np.random.Generator, count: int, *, proxy: float, residential: bool = False
    ) -> _I64:
        """Register ring IPs (hosting/proxy, or residential ones that look like homes)."""
        reg = self.registry
        codes = np.empty(count, np.int64)
        for i in range(count):
            if residential:
                slot = self.scramble_home(np.array([self.n_households + reg.residential_ips]))
                reg.residential_ips += 1
                isp = self.region.isps[int(slot[0]) & 3]
                value = isp.base + (int(slot[0]) >> 2)
                asn, country = isp.asn, _COUNTRY_CODE[self.region.country]
            else:
                j = reg.hosting_ips
                reg.hosting_ips += 1
                net = _HOSTING_NETWORKS[j % len(_HOSTING_NETWORKS)]
                offset = int(self.scramble_hosting(np.array([j // len(_HOSTING_NETWORKS)]))[0])
                value = net.base + 256 + offset
                asn = net.asn
                country = _COUNTRY_CODE[_PROXY_COUNTRIES[int(rng.integers(len(_PROXY_COUNTRIES)))]]
            codes[i] = _ip_code(_IP_RING, len(reg.ip_value))
            reg.ip_value.append(value)
            reg.ip_asn.append(asn)
            reg.ip_country.append(country)
            reg.ip_proxy.append(bool(rng.random() < proxy))
        return codes

    def new_phones(self, count: int) -> _I64:
        """Register ring phone numbers."""
        first = self.registry.phones
        self.registry.phones += count
        return self.ring_phone(np.arange(first, first + count, dtype=np.int64))

    def new_mailboxes(self, domains: _I64) -> _I64:
        """Register ring mailboxes on the given domains; return email codes."""
        first = self.registry.mailboxes
        self.registry.mailboxes += domains.size
        mailbox = self.n + np.arange(first, first + domains.size, dtype=np.int64)
        return mailbox * 16 + domains

    def new_addresses(self, count: int) -> _I64:
        """Register ring addresses; return address codes."""
        first = self.registry.addresses
        self.registry.addresses += count
        return self.n_households + np.arange(first, first + count, dtype=np.int64)

    def new_merchants(self, count: int) -> _I64:
        """Register ring (colluding) merchants."""
        first = self.registry.merchants
        self.registry.merchants += count
        return self.n_merchants + np.arange(first, first + count, dtype=np.int64)

    def bystanders(self, rng: np.random.Generator, count: int, before_us: int) -> _I64:
        """Random non-member accounts created before ``before_us``."""
        alive = max(int(np.searchsorted(self.created, before_us)), 1)
        chosen = np.empty(0, np.int64)
        while chosen.size < count:
            draw = rng.integers(0, alive, 2 * count + 8)
            chosen = np.concatenate([chosen, draw[~self.is_member[draw]]])
        return chosen[:count]

    # -- attributes at render time ---------------------------------------------------

    def device_attributes(self, device: _I64) -> tuple[_Bool, _Bool, _I64]:
        """``(is_emulator, is_rooted, os)`` of each device number."""
        personal = device < 4 * self.n
        ring = device >= self.device_ring_base
        hashed = splitmix(device, self.salts["device_traits"])
        u = hashed_fraction(hashed, 0)
        os = np.select([u < 0.5, u < 0.92, u < 0.97], [_ANDROID, _IOS, _WINDOWS], _MACOS).astype(
            np.int64
        )
        os = np.where(~personal, np.where(u < 0.6, _IPADOS, _ANDROID), os)
        emulator = np.zeros(device.size, np.bool_)
        second = np.flatnonzero(personal & ((device & 3) == 1))
        emulator[second] = self.is_developer(self.habits(device[second] >> 2))
        os = np.where(emulator, _ANDROID, os)
        rooted = (
            personal
            & ~emulator
            & (os == _ANDROID)
            & (hashed_fraction(hashed, 16) < self.config.rooted_device_fraction)
        )
        if ring.any():
            reg = self.registry
            j = device[ring] - self.device_ring_base
            emulator[ring] = np.asarray(reg.device_emulator, np.bool_)[j]
            rooted[ring] = np.asarray(reg.device_rooted, np.bool_)[j]
            os[ring] = np.asarray(reg.device_os, np.int64)[j]
        return emulator, rooted, os

    def ip_attributes(self, code: _I64) -> tuple[_I64, _Bool, _I64, _I64]:
        """``(ipv4 value or -1 for IPv6, is_proxy, asn, country)`` of each IP code."""
        kind = code >> _IP_SHIFT
        index = code & _IP_INDEX_MASK
        n = code.size
        value = np.zeros(n, np.int64)
        proxy = np.zeros(n, np.bool_)
        asn = np.zeros(n, np.int64)
        country = np.full(n, _COUNTRY_CODE[self.region.country], np.int64)

        home = (kind == _IP_HOME) | (kind == _IP_HOME6)
        slot = self.scramble_home(index[home])
        isp = slot & 3
        value[home] = np.asarray([x.base for x in self.region.isps], np.int64)[isp] + (slot >> 2)
        asn[home] = np.asarray([x.asn for x in self.region.isps], np.int64)[isp]
        value[kind == _IP_HOME6] = -1

        for kind_code, networks, spacing in (
            (_IP_NAT, self.region.carriers, 3),
            (_IP_VPN, _VPN_NETWORKS, 2),
        ):
            rows = kind == kind_code
            which = index[rows] % len(networks)
            bases = np.asarray([x.base for x in networks], np.int64)
            value[rows] = bases[which] + 257 + (index[rows] // len(networks)) * spacing
            asn[rows] = np.asarray([x.asn for x in networks], np.int64)[which]
        vpn = kind == _IP_VPN
        proxy[vpn] = True
        vpn_country = hashed_below(index[vpn], self.salts["vpn_country"], len(_VPN_COUNTRIES))
        country[vpn] = np.asarray([_COUNTRY_CODE[c] for c in _VPN_COUNTRIES])[vpn_country]

        for kind_code, net, spacing in (
            (_IP_OFFICE, self.region.business, 3),
            (_IP_WIFI, self.region.public_wifi, 2),
        ):
            rows = kind == kind_code
            value[rows] = net.base + 257 + index[rows] * spacing
            asn[rows] = net.asn

        ring = kind == _IP_RING
        if ring.any():
            reg = self.registry
            j = index[ring]
            value[ring] = np.asarray(reg.ip_value, np.int64)[j]
            asn[ring] = np.asarray(reg.ip_asn, np.int64)[j]
            country[ring] = np.asarray(reg.ip_country, np.int64)[j]
            proxy[ring] = np.asarray(reg.ip_proxy, np.bool_)[j]
        return value, proxy, asn, country


_SALT_PURPOSES: Final = _words(
    "account device card merchant gb_phone us_phone mailbox address home_ip hosting_ip "
    "tablet habits profile device_traits ipv6 nat office_id payee vpn_country"
)


# --------------------------------------------------------------------------- events


_BATCH_FIELDS: Final[dict[str, tuple[type, float]]] = {
    "account": (np.int64, -1),
    "ts": (np.int64, 0),
    "etype": (np.int8, 0),
    "device": (np.int64, -1),
    "ip": (np.int64, -1),
    "phone": (np.int64, -1),
    "phone_fmt": (np.int8, 0),
    "email": (np.int64, -1),
    "email_var": (np.int8, 0),
    "card": (np.int64, -1),
    "address": (np.int64, -1),
    "address_var": (np.int8, 0),
    "merchant": (np.int64, -1),
    "counterparty": (np.int64, -1),
    "amount": (np.float64, math.nan),
}


@dataclass(slots=True)
class _Batch:
    """Events as integer codes, one array per column; -1 (NaN for amounts) means absent."""

    account: _I64
    ts: _I64
    etype: _I8
    device: _I64
    ip: _I64
    phone: _I64
    phone_fmt: _I8
    email: _I64
    email_var: _I8
    card: _I64
    address: _I64
    address_var: _I8
    merchant: _I64
    counterparty: _I64
    amount: _F64

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, index: npt.NDArray[np.integer] | slice) -> _Batch:
        """The rows at ``index``."""
        return _Batch(**{name: getattr(self, name)[index] for name in _BATCH_FIELDS})

    @staticmethod
    def concat(batches: Sequence[_Batch]) -> _Batch:
        """Rows of every batch, in order."""
        if not batches:
            return _events(np.empty(0, np.int64), np.empty(0, np.int64), _LOGIN)
        return _Batch(
            **{name: np.concatenate([getattr(b, name) for b in batches]) for name in _BATCH_FIELDS}
        )


def _events(
    account: npt.ArrayLike, ts: npt.ArrayLike, etype: npt.ArrayLike, **columns: npt.ArrayLike
) -> _Batch:
    """A batch from per-row arrays or scalars (broadcast); omitted columns are absent."""
    account = np.asarray(account, np.int64)
    n = account.size
    values: dict[str, Any] = {}
    given = {"account": account, "ts": ts, "etype": etype, **columns}
    unknown = set(given) - set(_BATCH_FIELDS)
    if unknown:
        raise TypeError(f"unknown event columns {sorted(unknown)}")
    for name, (dtype, default) in _BATCH_FIELDS.items():
        if name in given:
            values[name] = np.broadcast_to(np.asarray(given[name], dtype), (n,)).copy()
        else:
            values[name] = np.full(n, default, dtype)
    return _Batch(**values)


def _sorted_uniforms(rng: np.random.Generator, count: int) -> _F64:
    """``count`` uniform draws in [0, 1), in ascending order, in O(count).

    Normalised partial sums of exponential spacings are distributed as the order
    statistics of uniforms, so no sort is needed.
    """
    sums = np.cumsum(rng.standard_exponential(count + 1))
    uniforms: _F64 = sums[:-1] / sums[-1]
    return uniforms


def _money(values: npt.NDArray[np.floating]) -> _F64:
    """Amounts in currency units, rounded to cents, at least 0.50."""
    rounded: _F64 = np.round(np.maximum(values, 0.5), 2).astype(np.float64)
    return rounded


def _uniform_ts(rng: np.random.Generator, low: _I64 | int, high: _I64 | int, n: int) -> _I64:
    """Uniform timestamps in ``[low, high)`` (one each when bounds are arrays)."""
    span = np.maximum(np.asarray(high, np.int64) - np.asarray(low, np.int64), 1)
    return np.asarray(low, np.int64) + (rng.random(n) * span).astype(np.int64)


# ---------------------------------------------------------------------- population


@dataclass(slots=True)
class _RingPlan:
    """One planted ring: who, what, and when it is active."""

    ring_id: str
    typology: Typology
    members: _I64
    start_us: int
    end_us: int
    #: Account takeover: how many of the last members are drop accounts.
    drops: int = 0
    #: Time of the ring's last planted event (set when the ring is planted).
    last_event_us: int = 0


def _microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _build_population(config: ScenarioConfig) -> tuple[_Population, list[_RingPlan]]:
    """Draw the accounts, plan the rings, sort accounts by creation time.

    Notes
    -----
    O(A log A) for A accounts (one sort).
    """
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
    n = config.accounts
    start_us = _microseconds(config.start)
    end_us = start_us + config.days * _DAY
    span = end_us - start_us
    # Creation times lean early: most customers exist well before the period ends.
    created = start_us + (span * rng.random(n) ** 2).astype(np.int64)
    plans = _plan_rings(config, rng, created, start_us, end_us)

    order = np.argsort(created, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    created = created[order]
    is_member = np.zeros(n, np.bool_)
    for plan in plans:
        plan.members = rank[plan.members]
        is_member[plan.members] = True

    weight = rng.pareto(config.activity_exponent, n) + 1.0
    weight = np.minimum(weight, 200.0 * weight.mean())
    for plan in plans:
        if plan.typology is Typology.DEVICE_FARM:
            weight[plan.members] *= 0.3
    weight /= weight.mean()

    sizes = rng.choice(np.arange(1, 6), n, p=[0.38, 0.30, 0.16, 0.11, 0.05]).astype(np.int64)
    sizes[: _big_families(n)] = 6
    cumulative = np.cumsum(sizes)
    n_households = int(np.searchsorted(cumulative, n)) + 1
    sizes = sizes[:n_households]
    sizes[-1] -= int(cumulative[n_households - 1]) - n
    member_at = rng.permutation(n).astype(np.int32)
    population = _Population(config, created, weight, sizes, member_at, is_member, start_us, end_us)
    ring_total = sum(p.members.size for p in plans)
    if n_households + ring_total >= _ADDRESS_SPACE:
        raise ValueError("too many accounts for the address space")
    return population, plans


def _big_families(accounts: int) -> int:
    """Households of six sharing a tablet (benign device sharers): the first few."""
    return max(1, accounts // 10_000)


def _ring_count(config: ScenarioConfig) -> int:
    """Rings to plant: ``rings_per_10k`` per 10,000 accounts, at least one per typology."""
    return max(len(Typology), round(config.accounts / 10_000 * config.rings_per_10k))


def _plan_rings(
    config: ScenarioConfig,
    rng: np.random.Generator,
    created: _I64,
    start_us: int,
    end_us: int,
) -> list[_RingPlan]:
    """Choose ring typologies, sizes, members and windows; move members' creation times.

    ``created`` is indexed by unsorted account number and is updated in place.
    """
    n = config.accounts
    typologies = list(Typology)
    n_rings = _ring_count(config)
    weights = np.array([_TYPOLOGY_WEIGHTS[t] for t in typologies])
    extra = rng.choice(len(typologies), n_rings - len(typologies), p=weights / weights.sum())
    chosen = typologies + [typologies[int(i)] for i in extra]
    sizes = np.array([int(rng.integers(*RING_SIZES[t], endpoint=True)) for t in chosen])
    # Small populations: shrink rings (not below their typology's minimum) to keep
    # members under 12% of accounts.
    floor = np.array([RING_SIZES[t][0] for t in chosen])
    while sizes.sum() > 0.12 * n and (sizes > floor).any():
        sizes = np.where(sizes > floor, sizes - 1, sizes)
    slots = rng.choice(n, int(sizes.sum()), replace=False).astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])

    span = end_us - start_us
    plans: list[_RingPlan] = []
    for i, typology in enumerate(chosen):
        members = slots[bounds[i] : bounds[i + 1]]
        plan = _RingPlan(f"R{i + 1:05d}", typology, members, 0, 0)
        _schedule(plan, rng, created, start_us, end_us, span)
        plans.append(plan)
    return plans


def _schedule(
    plan: _RingPlan,
    rng: np.random.Generator,
    created: _I64,
    start_us: int,
    end_us: int,
    span: int,
) -> None:
    """Set a ring's active window and its members' creation times."""

    def window_start(earliest: float, length: int) -> int:
        low = start_us + int(earliest * span)
        high = max(low + 1, end_us - length - _DAY)
        return int(rng.integers(low, high))

    m = plan.members
    s = m.size
    typology = plan.typology
    if typology is Typology.DEVICE_FARM:
        length = min(21 * _DAY, int(0.3 * span))
        t0 = window_start(0.15, length)
        burst = int(rng.integers(_DAY, 3 * _DAY))
        created[m] = _uniform_ts(rng, t0, t0 + burst, s)
    elif typology is Typology.SYNTHETIC_IDENTITY:
        length = min(60 * _DAY, int(0.4 * span))
        t0 = window_start(0.1, length)
        created[m] = _uniform_ts(rng, t0, t0 + length // 2, s)
    elif typology is Typology.MULE_NETWORK:
        length = min(21 * _DAY, int(0.3 * span))
        t0 = window_start(0.3, length)
        # Mules are often recently opened accounts.
        age = ((t0 - _DAY - start_us) * rng.random(s) ** 2).astype(np.int64)
        created[m] = t0 - _DAY - age
    elif typology is Typology.BUST_OUT:
        created[m] = _uniform_ts(rng, start_us, start_us + int(0.2 * span), s)
        length = int(rng.integers(_DAY, 3 * _DAY))
        t0 = window_start(0.55, length)
    else:
        plan.drops = int(rng.integers(1, 4))
        length = int(rng.integers(_DAY, 5 * _DAY))
        t0 = window_start(0.5, length)
        victims, drops = m[: s - plan.drops], m[s - plan.drops :]
        created[victims] = _uniform_ts(rng, start_us, start_us + int(0.15 * span), victims.size)
        earliest = max(start_us + int(0.2 * span), t0 - 20 * _DAY)
        created[drops] = _uniform_ts(rng, earliest, t0 - _HOUR, drops.size)
    plan.start_us = t0
    plan.end_us = min(t0 + length, end_us - 1)


# ---------------------------------------------------------------------------- rings


def _plant_rings(
    population: _Population, plans: Sequence[_RingPlan], config: ScenarioConfig
) -> _Batch:
    """Generate every ring's events; return them sorted by time.

    Notes
    -----
    One Python iteration per ring, vectorised within; O(ring events log ring events).
    """
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
    planters: dict[Typology, Callable[[_Population, _RingPlan, np.random.Generator], _Batch]]
    planters = {
        Typology.DEVICE_FARM: _device_farm,
        Typology.SYNTHETIC_IDENTITY: _synthetic_identity,
        Typology.MULE_NETWORK: _mule_network,
        Typology.BUST_OUT: _bust_out,
        Typology.ACCOUNT_TAKEOVER: _account_takeover,
    }
    batches = []
    for plan in plans:
        batch = planters[plan.typology](population, plan, rng)
        batch.ts = np.clip(batch.ts, population.start_us, population.end_us - 1)
        plan.last_event_us = int(batch.ts.max())
        batches.append(batch)
    events = _Batch.concat(batches)
    return events.take(np.argsort(events.ts, kind="stable"))


def _per_member(rng: np.random.Generator, size: int, low: int, high: int) -> _I64:
    """Member positions repeated ``low..high`` (inclusive) times each."""
    return np.repeat(np.arange(size), rng.integers(low, high + 1, size))


def _device_farm(population: _Population, plan: _RingPlan, rng: np.random.Generator) -> _Batch:
    """Burst sign-ups on shared emulators behind proxies, small spend, pay a collector."""
    m, s = plan.members, plan.members.size
    created = population.created[m]
    n_devices = max(2, s // 6)
    farm = population.new_devices(
        np.ones(n_devices, np.bool_), rng.random(n_devices) < 0.3, np.full(n_devices, _ANDROID)
    )
    proxies = population.new_ips(rng, int(rng.integers(2, 5)), proxy=1.0)
    # Member i runs on farm device i % n_devices: every device serves >= 5 accounts.
    primary = farm[np.arange(s) % n_devices]
    throwaway = np.asarray([2, 7, 8, 9], np.int64)[rng.integers(0, 4, s)]
    population.ring_signup[m] = True
    signups = _events(
        m,
        created,
        _SIGNUP,
        device=primary,
        ip=rng.choice(proxies, s),
        phone=population.phone(m),
        phone_fmt=rng.integers(0, _PHONE_FORMATS, s),
        email=population.new_mailboxes(throwaway),
    )
    who = _per_member(rng, s, 4, 12)
    k = who.size
    device = np.where(rng.random(k) < 0.3, rng.choice(farm, k), primary[who])
    logins = _events(
        m[who],
        created[who] + _uniform_ts(rng, _HOUR, plan.end_us - plan.start_us, k),
        _LOGIN,
        device=device,
        ip=rng.choice(proxies, k),
    )
    who = _per_member(rng, s, 1, 3)
    k = who.size
    payments = _events(
        m[who],
        created[who] + _uniform_ts(rng, 2 * _HOUR, 10 * _DAY, k),
        _PAYMENT,
        device=primary[who],
        card=m[who] * 2,
        merchant=population.popular_merchants(rng, k),
        amount=_money(rng.uniform(1, 15, k)),
    )
    senders = np.flatnonzero(rng.random(s) < 0.7)
    senders = senders[senders > 0]
    after = int(created.max()) + _HOUR
    transfers = _events(
        m[senders],
        _uniform_ts(rng, after, max(plan.end_us, after + _DAY), senders.size),
        _TRANSFER,
        device=primary[senders],
        ip=rng.choice(proxies, senders.size),
        counterparty=m[0],
        amount=_money(rng.uniform(10, 60, senders.size)),
    )
    return _Batch.concat([signups, logins, payments, transfers])


def _synthetic_identity(
    population: _Population, plan: _RingPlan, rng: np.random.Generator
) -> _Batch:
    """Accounts recombining a few phones, one Gmail mailbox and addresses, each re-spelt."""
    m, s = plan.members, plan.members.size
    created = population.created[m]
    phones = population.new_phones(int(rng.integers(1, 3)))
    mailbox = population.new_mailboxes(np.array([_GMAIL]))[0]
    addresses = population.new_addresses(int(rng.integers(1, 3)))
    shared_device = population.new_devices(
        np.zeros(1, np.bool_), np.zeros(1, np.bool_), rng.integers(0, 2, 1)
    )[0]
    use_phone = rng.random(s) < 0.75
    use_mail = rng.random(s) < 0.7
    use_address = rng.random(s) < 0.8
    # Every shared identifier is shared by at least two members.
    use_phone[[0, 2]] = True
    use_mail[[0, 1]] = True
    use_address[[1, 2]] = True
    home = population.household(m)
    phone = np.where(use_phone, rng.choice(phones, s), population.phone(m))
    email = np.where(use_mail, mailbox, population.email(m))
    address = np.where(use_address, rng.choice(addresses, s), home)
    device = np.where(rng.random(s) < 0.4, shared_device, m * 4)
    # Consecutive members get different spellings of the shared mailbox.
    email_var = (np.arange(s) + int(rng.integers(0, _EMAIL_VARIANTS))) % _EMAIL_VARIANTS
    population.ring_signup[m] = True
    signups = _events(
        m,
        created,
        _SIGNUP,
        device=device,
        ip=population.home_ip(home),
        phone=phone,
        phone_fmt=rng.integers(0, _PHONE_FORMATS, s),
        email=email,
        email_var=np.where(use_mail, email_var, 0),
        address=address,
        address_var=rng.integers(0, _ADDRESS_VARIANTS, s),
    )
    who = _per_member(rng, s, 3, 8)
    k = who.size
    logins = _events(
        m[who],
        _uniform_ts(rng, created[who] + _HOUR, plan.end_us, k),
        _LOGIN,
        device=device[who],
        ip=population.home_ip(home[who]),
    )
    typed = rng.random(k) < 0.3
    logins.email[typed] = email[who][typed]
    logins.email_var[typed] = rng.integers(0, _EMAIL_VARIANTS, int(typed.sum()))
    otp = rng.random(k) < 0.2
    logins.phone[otp] = phone[who][otp]
    logins.phone_fmt[otp] = rng.integers(0, _PHONE_FORMATS, int(otp.sum()))
    who = _per_member(rng, s, 2, 6)
    k = who.size
    ts = _uniform_ts(rng, created[who] + _DAY, plan.end_us, k)
    ramp = 1.0 + 3.0 * (ts - plan.start_us) / max(plan.end_us - plan.start_us, 1)
    payments = _events(
        m[who],
        ts,
        _PAYMENT,
        device=device[who],
        card=m[who] * 2,
        merchant=population.popular_merchants(rng, k),
        amount=_money(rng.uniform(20, 150, k) * ramp),
    )
    billing = rng.random(k) < 0.5
    payments.address[billing] = address[who][billing]
    payments.address_var[billing] = rng.integers(0, _ADDRESS_VARIANTS, int(billing.sum()))
    return _Batch.concat([signups, logins, payments])


def _mule_network(population: _Population, plan: _RingPlan, rng: np.random.Generator) -> _Batch:
    """Victim fan-in, consolidation into collectors, fan-out and cycles among mules."""
    m, s = plan.members, plan.members.size
    t0, t1 = plan.start_us, plan.end_us
    length = t1 - t0
    n_collectors = max(1, s // 8)
    collectors, mules = m[:n_collectors], m[n_collectors:]
    n_devices = max(1, s // 4)
    devices = population.new_devices(
        np.zeros(n_devices, np.bool_), rng.random(n_devices) < 0.2, rng.integers(0, 2, n_devices)
    )
    ring_ips = population.new_ips(rng, int(rng.integers(1, 3)), proxy=0.3, residential=True)
    # Light sharing: about half the members run on a ring phone shared by two or three.
    primary = np.where(rng.random(s) < 0.5, devices[np.arange(s) % n_devices], m * 4)
    home_ip = population.home_ip(population.household(m))
    batches: list[_Batch] = []

    def mule_ip(members: _I64) -> _I64:
        on_ring = rng.random(members.size) < 0.4
        return np.where(on_ring, rng.choice(ring_ips, members.size), home_ip[members])

    # Fan-in: legitimate victims pay mules (authorised push-payment scams).
    n_victims = rng.integers(2, 7, mules.size)
    target = np.repeat(np.arange(n_collectors, s), n_victims)
    victims = population.bystanders(rng, target.size, t0)
    batches.append(
        _events(
            victims,
            _uniform_ts(rng, t0, t0 + int(0.6 * length), victims.size),
            _TRANSFER,
            device=victims * 4,
            ip=population.home_ip(population.household(victims)),
            counterparty=m[target],
            amount=_money(rng.lognormal(math.log(600), 0.5, victims.size)),
        )
    )
    # Consolidation into collectors.
    who = n_collectors + _per_member(rng, mules.size, 1, 3)
    batches.append(
        _events(
            m[who],
            _uniform_ts(rng, t0 + int(0.3 * length), t0 + int(0.9 * length), who.size),
            _TRANSFER,
            device=primary[who],
            ip=mule_ip(who),
            counterparty=rng.choice(collectors, who.size),
            amount=_money(rng.uniform(200, 2_500, who.size)),
        )
    )
    # Fan-out from collectors to mules.
    who = _per_member(rng, n_collectors, 4, 10)
    if mules.size:
        batches.append(
            _events(
                m[who],
                _uniform_ts(rng, t0 + int(0.4 * length), t1, who.size),
                _TRANSFER,
                device=primary[who],
                ip=mule_ip(who),
                counterparty=rng.choice(mules, who.size),
                amount=_money(rng.uniform(100, 1_000, who.size)),
            )
        )
    # Cycles: money goes round a loop of 3-6 mules, once or twice.
    loop = np.arange(n_collectors, n_collectors + min(mules.size, int(rng.integers(3, 7))))
    if loop.size >= 2:
        for round_ in range(int(rng.integers(1, 3))):
            ts = t0 + int((0.2 + 0.3 * round_) * length) + np.arange(loop.size) * 3 * _HOUR
            batches.append(
                _events(
                    m[loop],
                    ts,
                    _TRANSFER,
                    device=primary[loop],
                    ip=mule_ip(loop),
                    counterparty=m[np.roll(loop, -1)],
                    amount=_money(900.0 * 0.97 ** np.arange(loop.size)),
                )
            )
    who = _per_member(rng, s, 3, 8)
    batches.append(
        _events(
            m[who],
            _uniform_ts(rng, t0, t1, who.size),
            _LOGIN,
            device=primary[who],
            ip=mule_ip(who),
        )
    )
    return _Batch.concat(batches)


def _bust_out(population: _Population, plan: _RingPlan, rng: np.random.Generator) -> _Batch:
    """Old accounts sharing an address/phone max out their cards at colluding merchants."""
    m, s = plan.members, plan.members.size
    created = population.created[m]
    t0, t1 = plan.start_us, plan.end_us
    merchants = population.new_merchants(int(rng.integers(1, 4)))
    address = population.new_addresses(1)[0]
    phone = population.new_phones(1)[0]
    use_address = rng.random(s) < 0.8
    use_phone = rng.random(s) < 0.6
    use_address[[0, 1]] = True
    use_phone[[1, 2]] = True
    home = population.household(m)
    home_ip = population.home_ip(home)
    population.ring_signup[m] = True
    batches = [
        _events(
            m,
            created,
            _SIGNUP,
            device=m * 4,
            ip=home_ip,
            phone=np.where(use_phone, phone, population.phone(m)),
            phone_fmt=rng.integers(0, _PHONE_FORMATS, s),
            email=population.email(m),
            address=np.where(use_address, address, home),
            address_var=rng.integers(0, _ADDRESS_VARIANTS, s),
        )
    ]
    # Warm-up: small purchases at the colluding merchants while building history.
    who = _per_member(rng, s, 1, 2)
    batches.append(
        _events(
            m[who],
            _uniform_ts(rng, created[who] + 7 * _DAY, t0 - _DAY, who.size),
            _PAYMENT,
            device=m[who] * 4,
            card=m[who] * 2,
            merchant=rng.choice(merchants, who.size),
            amount=_money(rng.uniform(10, 80, who.size)),
        )
    )
    # The bust: big coordinated spend within a few days, on every card they hold.
    who = _per_member(rng, s, 2, 6)
    k = who.size
    cards = population.card_count(m[who])
    bust = _events(
        m[who],
        _uniform_ts(rng, t0, t1, k),
        _PAYMENT,
        device=m[who] * 4,
        card=m[who] * 2 + (rng.random(k) * cards).astype(np.int64),
        merchant=rng.choice(merchants, k),
        amount=_money(rng.uniform(400, 4_000, k)),
    )
    billing = use_address[who]
    bust.address[billing] = address
    bust.address_var[billing] = rng.integers(0, _ADDRESS_VARIANTS, int(billing.sum()))
    batches.append(bust)
    who = _per_member(rng, s, 1, 3)
    batches.append(
        _events(
            m[who],
            _uniform_ts(rng, t0 - _DAY, t1, who.size),
            _LOGIN,
            device=m[who] * 4,
            ip=home_ip[who],
        )
    )
    # A few ordinary customers also shop at the colluding merchants.
    outsiders = population.bystanders(rng, int(rng.integers(0, 3)), t0)
    batches.append(
        _events(
            outsiders,
            _uniform_ts(
                rng, np.maximum(population.created[outsiders], t0 - 30 * _DAY), t1, outsiders.size
            ),
            _PAYMENT,
            device=outsiders * 4,
            card=outsiders * 2,
            merchant=rng.choice(merchants, outsiders.size),
            amount=_money(rng.uniform(5, 60, outsiders.size)),
        )
    )
    return _Batch.concat(batches)


def _account_takeover(population: _Population, plan: _RingPlan, rng: np.random.Generator) -> _Batch:
    """Attacker logins into old accounts from proxies, then transfers out to drops."""
    m, s = plan.members, plan.members.size
    t0, t1 = plan.start_us, plan.end_us
    victims, drops = m[: s - plan.drops], m[s - plan.drops :]
    n_devices = int(rng.integers(1, 4))
    attacker_devices = population.new_devices(
        rng.random(n_devices) < 0.3,
        np.zeros(n_devices, np.bool_),
        np.where(rng.random(n_devices) < 0.5, _WINDOWS, _ANDROID),
    )
    attacker_ips = population.new_ips(rng, int(rng.integers(2, 5)), proxy=0.9)
    attacker_phone = population.new_phones(1)[0]
    who = _per_member(rng, victims.size, 2, 5)
    k = who.size
    logins = _events(
        victims[who],
        _uniform_ts(rng, t0, t1, k),
        _LOGIN,
        device=rng.choice(attacker_devices, k),
        ip=rng.choice(attacker_ips, k),
    )
    # The attacker registers their own phone for one-time passcodes.
    swap = rng.random(k) < 0.3
    logins.phone[swap] = attacker_phone
    logins.phone_fmt[swap] = rng.integers(0, _PHONE_FORMATS, int(swap.sum()))
    who = _per_member(rng, victims.size, 1, 3)
    k = who.size
    cash_out = _events(
        victims[who],
        _uniform_ts(rng, t0 + 2 * _HOUR, t1 + _DAY, k),
        _TRANSFER,
        device=rng.choice(attacker_devices, k),
        ip=rng.choice(attacker_ips, k),
        counterparty=rng.choice(drops, k),
        amount=_money(rng.uniform(300, 3_000, k)),
    )
    who = _per_member(rng, drops.size, 1, 3)
    drop_logins = _events(
        drops[who],
        _uniform_ts(rng, t0, t1 + _DAY, who.size),
        _LOGIN,
        device=rng.choice(attacker_devices, who.size),
        ip=rng.choice(attacker_ips, who.size),
    )
    who = _per_member(rng, drops.size, 1, 2)
    drop_spend = _events(
        drops[who],
        _uniform_ts(rng, t1, t1 + 2 * _DAY, who.size),
        _PAYMENT,
        device=drops[who] * 4,
        card=drops[who] * 2,
        merchant=population.popular_merchants(rng, who.size),
        amount=_money(rng.uniform(200, 1_500, who.size)),
    )
    return _Batch.concat([logins, cash_out, drop_logins, drop_spend])


# ------------------------------------------------------------------ background events

_P_LOGIN: Final = 0.52
_P_PAYMENT: Final = 0.40


def _bucket_edges(population: _Population, rows_per_part: int) -> _I64:
    """Time bucket boundaries holding about ``rows_per_part`` expected events each.

    Notes
    -----
    O(hours in the period + log accounts per hour).
    """
    start, end = population.start_us, population.end_us
    grid = np.arange(start, end, _HOUR, dtype=np.int64)
    grid = np.append(grid, end)
    alive = np.searchsorted(population.created, grid)
    weight = np.where(alive > 0, population.cumulative_weight[np.maximum(alive - 1, 0)], 0.0)
    steps = np.diff(grid).astype(np.float64)
    activity = np.concatenate([[0.0], np.cumsum((weight[1:] + weight[:-1]) / 2 * steps)])
    expected = alive + population.rate * activity
    total = float(expected[-1])
    n_buckets = max(1, math.ceil(total / rows_per_part))
    targets = total * np.arange(1, n_buckets) / n_buckets
    inner = np.interp(targets, expected, grid.astype(np.float64)).astype(np.int64)
    return np.unique(np.concatenate([[start], inner, [end]]))


def _bucket_events(
    population: _Population, ring_events: _Batch, t0: int, t1: int, rng: np.random.Generator
) -> _Batch:
    """All events with ``t0 <= ts < t1``: signups, everyday activity, ring events."""
    created = population.created
    first, last = np.searchsorted(created, [t0, t1])
    newcomers = np.arange(first, last, dtype=np.int64)
    newcomers = newcomers[~population.ring_signup[newcomers]]
    lo, hi = np.searchsorted(ring_events.ts, [t0, t1])
    batch = _Batch.concat(
        [
            _signups(population, newcomers, rng),
            _everyday(population, t0, t1, rng),
            ring_events.take(slice(int(lo), int(hi))),
        ]
    )
    return batch.take(np.argsort(batch.ts, kind="stable"))


def _signups(population: _Population, account: _I64, rng: np.random.Generator) -> _Batch:
    """Signup events of background accounts, carrying every contact detail."""
    n = account.size
    household = population.household(account)
    # Big families all sign up on the family tablet: a benign device shared by 5-6.
    device = np.where(
        household < population.n_big_families, 4 * population.n + household, account * 4
    )
    _, _, os = population.device_attributes(device)
    mobile = (os == _ANDROID) | (os == _IOS)
    nat = _ip_code(_IP_NAT, hashed_below(account, population.salts["nat"], population.n_nat))
    return _events(
        account,
        population.created[account],
        _SIGNUP,
        device=device,
        ip=np.where(mobile & (rng.random(n) < 0.3), nat, population.home_ip(household)),
        phone=population.phone(account),
        phone_fmt=rng.integers(0, 4, n),
        email=population.email(account),
        email_var=np.where(rng.random(n) < 0.8, 0, 1),
        address=household,
        address_var=np.where(rng.random(n) < 0.7, 0, rng.integers(0, _ADDRESS_VARIANTS, n)),
    )


def _everyday(population: _Population, t0: int, t1: int, rng: np.random.Generator) -> _Batch:
    """Logins, payments and transfers of background activity in ``[t0, t1)``.

    Each alive account emits events as a Poisson process with its own (power-law)
    rate: draw the total, pick accounts by weight, drop events before creation.
    """
    n_alive = int(np.searchsorted(population.created, t1))
    if n_alive == 0:
        return _Batch.concat([])
    total_weight = float(population.cumulative_weight[n_alive - 1])
    k = int(rng.poisson(population.rate * total_weight * (t1 - t0)))
    # Sorted draws make the weighted lookup cache-friendly (20x faster at 10M accounts);
    # shuffling the accounts afterwards pairs them with independent, sorted times.
    draw = _sorted_uniforms(rng, k) * total_weight
    account = np.searchsorted(population.cumulative_weight, draw, side="right").astype(np.int64)
    np.minimum(account, n_alive - 1, out=account)
    rng.shuffle(account)
    ts = t0 + (_sorted_uniforms(rng, k) * (t1 - t0)).astype(np.int64)
    alive = ts > population.created[account]
    account, ts = account[alive], ts[alive]
    k = account.size

    u = rng.random(k)
    etype = np.where(u < _P_LOGIN, _LOGIN, np.where(u < _P_LOGIN + _P_PAYMENT, _PAYMENT, _TRANSFER))
    household = population.household(account)
    device = population.everyday_device(account, household, etype == _LOGIN, rng)
    batch = _events(account, ts, etype, device=device)

    rows = np.flatnonzero(etype != _PAYMENT)
    batch.ip[rows] = population.everyday_ip(account[rows], household[rows], device[rows], rng)

    rows = np.flatnonzero(etype == _PAYMENT)
    batch.card[rows] = population.everyday_card(account[rows], rng)
    batch.merchant[rows] = population.popular_merchants(rng, rows.size)
    batch.amount[rows] = _money(np.minimum(rng.lognormal(math.log(25), 1.0, rows.size), 5_000))
    billing = rows[rng.random(rows.size) < 0.15]
    batch.address[billing] = household[billing]
    batch.address_var[billing] = rng.integers(0, _ADDRESS_VARIANTS, billing.size)

    rows = np.flatnonzero(etype == _TRANSFER)
    batch.counterparty[rows] = population.payee(account[rows], ts[rows], rng)
    batch.amount[rows] = _money(np.minimum(rng.lognormal(math.log(60), 1.1, rows.size), 20_000))

    # Logins sometimes carry what the customer typed: an email or an OTP phone number.
    rows = np.flatnonzero(etype == _LOGIN)
    typed = rows[rng.random(rows.size) < 0.08]
    batch.email[typed] = population.email(account[typed])
    batch.email_var[typed] = rng.integers(0, _EMAIL_VARIANTS, typed.size)
    otp = rows[rng.random(rows.size) < 0.04]
    batch.phone[otp] = population.phone(account[otp])
    batch.phone_fmt[otp] = rng.integers(0, _PHONE_FORMATS, otp.size)
    return batch


def _split(batch: _Batch, rows_per_part: int) -> list[_Batch]:
    """Cut a time-sorted batch into parts of at most twice ``rows_per_part`` rows."""
    n = len(batch)
    if n == 0:
        return []
    if n <= 2 * rows_per_part:
        return [batch]
    pieces = math.ceil(n / rows_per_part)
    cuts = np.linspace(0, n, pieces + 1).astype(np.int64)
    return [batch.take(slice(int(a), int(b))) for a, b in itertools.pairwise(cuts)]


# ------------------------------------------------------------------------- rendering


def _render(population: _Population, batch: _Batch, first_event: int) -> pa.Table:
    """Turn an integer-coded batch into a table of ``EVENT_SCHEMA``."""
    n = len(batch)
    every = np.arange(n, dtype=np.int64)
    columns: dict[str, pa.Array] = {
        "event_id": string_array(n, [(every, [identifier_text("E", first_event + every, 12)])]),
        "ts": pa.Array.from_buffers(TIMESTAMP, n, [None, pa.py_buffer(batch.ts.copy())]),
        "event_type": _V_EVENT_TYPES.arrow.take(pa.array(batch.etype)),
        "account_id": _account_ids(population, every, batch.account),
        "counterparty_account_id": _account_ids(
            population, np.flatnonzero(batch.counterparty >= 0), batch.counterparty
        ),
    }

    at = np.flatnonzero(batch.device >= 0)
    device = batch.device[at]
    columns["device_id"] = string_array(
        n, [(at, [identifier_text("D", population.scramble_device(device), 10)])]
    )
    emulator, rooted, os = population.device_attributes(device)
    columns["is_emulator"] = optional_array(n, at, emulator, np.bool_)
    columns["is_rooted"] = optional_array(n, at, rooted, np.bool_)
    columns["os"] = _V_OS.arrow_take(n, at, os)

    at = np.flatnonzero(batch.ip >= 0)
    columns["ip"], proxy, asn, country = _ips(population, n, at, batch.ip[at])
    columns["is_proxy"] = optional_array(n, at, proxy, np.bool_)
    columns["asn"] = optional_array(n, at, asn, np.int64)
    columns["country"] = _V_COUNTRIES.arrow_take(n, at, country)

    at = np.flatnonzero(batch.phone >= 0)
    columns["phone"] = _phones(population, n, at, batch.phone[at], batch.phone_fmt[at])
    at = np.flatnonzero(batch.email >= 0)
    columns["email"] = _emails(population, n, at, batch.email[at], batch.email_var[at])
    at = np.flatnonzero(batch.address >= 0)
    columns["address"] = _addresses(population, n, at, batch.address[at], batch.address_var[at])

    at = np.flatnonzero(batch.card >= 0)
    columns["card_id"] = string_array(
        n, [(at, [identifier_text("C", population.scramble_card(batch.card[at]), 12)])]
    )
    at = np.flatnonzero(batch.merchant >= 0)
    merchant = population.scramble_merchant(batch.merchant[at])
    columns["merchant_id"] = string_array(n, [(at, [identifier_text("M", merchant, 7)])])
    at = np.flatnonzero(~np.isnan(batch.amount))
    columns["amount"] = optional_array(n, at, batch.amount[at], np.float64)
    currency = Vocab([population.region.currency])
    columns["currency"] = currency.arrow_take(n, at, np.zeros(at.size, np.int64))
    return pa.Table.from_arrays([columns[name] for name in EVENT_SCHEMA.names], schema=EVENT_SCHEMA)


def _account_ids(population: _Population, at: _I64, account: _I64) -> pa.Array:
    rows = account.size
    number = population.scramble_account(account[at])
    return string_array(rows, [(at, [identifier_text("A", number, 9)])])


def _ips(
    population: _Population, rows: int, at: _I64, code: _I64
) -> tuple[pa.Array, _Bool, _I64, _I64]:
    """IP strings (dotted quads, or IPv6 for some homes) and their attributes.

    IPs repeat a lot (NAT, VPN, homes), so each distinct one is rendered once.
    """
    distinct, inverse = np.unique(code, return_inverse=True)
    value, proxy, asn, country = population.ip_attributes(distinct)
    # Render IPv4 first, then IPv6; ``rank`` maps each distinct code to its string.
    v4 = np.flatnonzero(value >= 0)
    v6 = np.flatnonzero(value < 0)
    four = value[v4]
    octets = [_V_OCTETS.take((four >> shift) & 255) for shift in (24, 16, 8, 0)]
    dot = const_text(".", four.size)
    text = string_array(
        four.size,
        [(np.arange(four.size), [octets[0], dot, octets[1], dot, octets[2], dot, octets[3]])],
    )
    if v6.size:
        slot = population.scramble_home(distinct[v6] & _IP_INDEX_MASK)
        prefixes = Vocab([isp.ipv6_prefix for isp in population.region.isps])
        k = slot.size
        six = [
            prefixes.take(slot & 3),
            hex_text(slot >> 12, 4),
            const_text(":", k),
            hex_text(0x1000 | (slot & 0xFFF), 4),  # never 0, so "::" compresses only the tail
            const_text("::1", k),
        ]
        text = pa.concat_arrays([text, string_array(k, [(np.arange(k), six)])])
    rank = np.empty(distinct.size, np.int64)
    rank[np.concatenate([v4, v6])] = np.arange(distinct.size)
    full = np.zeros(rows, np.int64)
    full[at] = rank[inverse]
    valid = np.zeros(rows, np.bool_)
    valid[at] = True
    strings = text.take(pa.array(full, mask=~valid))
    return strings, proxy[inverse], asn[inverse], country[inverse]


def _phones(population: _Population, rows: int, at: _I64, code: _I64, fmt: _I8) -> pa.Array:
    """Phone numbers in one of the layouts valid for the default region."""
    region = population.region.country
    k = code.size
    gb = code // _PHONE_TRUNK == 44
    nsn = code % _PHONE_TRUNK
    layout = np.empty(k, np.int64)
    for country, mask in (("GB", gb), ("US", ~gb)):
        allowed = _PHONE_ALLOWED[(country, region)]
        table = np.asarray([_LAYOUT_INDEX[(country, name)] for name in allowed], np.int64)
        layout[mask] = table[fmt[mask].astype(np.int64) % len(allowed)]
    digits = digit_planes(nsn, 10)
    parts: list[Text] = [_V_PHONE_PREFIX.take(layout)]
    for position in range(10):
        parts.append(Text(digits[position : position + 1], None))
        parts.append(_V_PHONE_SEPARATORS.take(layout * 10 + position))
    return string_array(rows, [(at, parts)])


def _emails(population: _Population, rows: int, at: _I64, code: _I64, variant: _I8) -> pa.Array:
    """Email addresses in one of the spellings of ``_EMAIL_VARIANTS``."""
    k = code.size
    domain = code & 15
    scrambled = population.scramble_mailbox(code >> 4)
    combo, suffix = scrambled % _N_NAME_COMBOS, scrambled // _N_NAME_COMBOS
    n_first, n_last = len(_FIRST_NAMES), len(_LAST_NAMES)
    first = combo % n_first
    last = (combo // n_first) % n_last
    separator = combo // (n_first * n_last)
    gmail = (domain == _GMAIL) | (domain == _GOOGLEMAIL)
    var = np.where(gmail, variant, variant % 4).astype(np.int64)
    case = np.select([var == 1, var == 2], [1, 2], 0)
    first_style = np.where(var == 6, 3, case)
    separator = np.where((var == 4) & (separator == 0), 2, separator)
    domain = np.where(var == 7, np.where(domain == _GMAIL, _GOOGLEMAIL, _GMAIL), domain)
    domain_case = np.select([case == 2, var == 3], [2, 1], 0)
    tag = np.where(var == 5, 1 + np.arange(k) % (len(_MAIL_TAGS) - 1), 0)
    parts = [
        _V_FIRST.take(first_style * n_first + first),
        _V_SEPARATORS.take(separator),
        _V_LAST.take(case * n_last + last),
        blank_unless(decimal_text(suffix), suffix > 0),
        _V_TAGS.take(tag),
        const_text("@", k),
        _V_DOMAINS.take(domain_case * len(_MAIL_DOMAINS) + domain),
    ]
    return string_array(rows, [(at, parts)])


def _addresses(population: _Population, rows: int, at: _I64, code: _I64, variant: _I8) -> pa.Array:
    """Postal addresses (UK style) in one of the spellings of ``_ADDRESS_STYLES``."""
    k = code.size
    scrambled = population.scramble_address(code)
    number = 1 + scrambled % _HOUSE_NUMBERS
    rest = scrambled // _HOUSE_NUMBERS
    street = rest % len(_STREETS)
    rest //= len(_STREETS)
    street_type = rest % len(_STREET_TYPES)
    town = rest // len(_STREET_TYPES)
    postcode = splitmix(scrambled, population.salts["address"])
    district = 1 + (postcode % np.uint64(28)).astype(np.int64)
    sector = ((postcode >> np.uint64(8)) % np.uint64(10)).astype(np.int64)
    unit = ((postcode >> np.uint64(16)) % np.uint64(len(_POSTCODE_LETTERS) ** 2)).astype(np.int64)
    styles = np.asarray(_ADDRESS_STYLES, np.int64)[variant.astype(np.int64)]
    case, abbreviated, spaced = styles[:, 0], styles[:, 1], styles[:, 2]
    lower_postcode = (case == 2).astype(np.int64)
    gap = _V_SPACES.take(1 + spaced)
    n_types = len(_STREET_TYPES)
    parts = [
        _V_SPACES.take(spaced),
        decimal_text(number),
        gap,
        _V_STREETS.take(case * len(_STREETS) + street),
        const_text(" ", k),
        _V_STREET_TYPES.take((case * 2 + abbreviated) * n_types + street_type),
        const_text(",", k),
        gap,
        _V_TOWNS.take(case * len(_TOWNS) + town),
        gap,
        _V_AREAS.take(lower_postcode * len(_TOWNS) + town),
        decimal_text(district),
        const_text(" ", k),
        decimal_text(sector),
        _V_UNITS.take(lower_postcode * len(_POSTCODE_LETTERS) ** 2 + unit),
        _V_SPACES.take(spaced),
    ]
    return string_array(rows, [(at, parts)])


# --------------------------------------------------------------------------- writing


def _partial(path: Path) -> Path:
    """Where ``path`` is written before being renamed into place; dataset readers skip
    names starting with a dot, so an interrupted run never leaves a readable half-part."""
    return path.with_name(f".{path.name}.partial")


def _write_part(table: pa.Table, path: Path) -> None:
    """Write one part atomically (a reader never sees a half-written part)."""
    partial = _partial(path)
    pq.write_table(
        table,
        partial,
        compression="zstd",
        compression_level=1,
        # Dictionaries only where values repeat; statistics only on ts (for time-range
        # pruning): both cost more than they save on the random id columns.
        use_dictionary=["event_type", "os", "country", "currency", "ip", "merchant_id"],
        write_statistics=["ts"],
    )
    partial.replace(path)


def _write_csv(table: pa.Table, path: Path) -> None:
    # Values never contain commas, quotes or newlines, so nothing needs quoting;
    # "none" makes the writer fail loudly if one ever did.
    options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
    partial = _partial(path)
    pacsv.write_csv(table, partial, options)
    partial.replace(path)


def _write_truth(population: _Population, plans: Sequence[_RingPlan], path: Path) -> int:
    """Write ``truth.csv``; return its row count."""
    members = np.concatenate([p.members for p in plans])
    ring_index = np.repeat(np.arange(len(plans)), [p.members.size for p in plans])
    ring_ids = pa.array([p.ring_id for p in plans])
    typologies = pa.array([p.typology.value for p in plans])
    index = pa.array(ring_index)
    every = np.arange(members.size, dtype=np.int64)
    table = pa.table(
        {
            "ring_id": ring_ids.take(index),
            "typology": typologies.take(index),
            "account_id": _account_ids(population, every, members),
        }
    )
    table = table.sort_by([("ring_id", "ascending"), ("account_id", "ascending")])
    _write_csv(table, path)
    return int(table.num_rows)


_FRAUD_LABELS: Final[dict[Typology, tuple[str, str, str]]] = {
    # typology: (source, author, reason)
    Typology.DEVICE_FARM: ("investigation", "analyst", "device farm sign-up"),
    Typology.SYNTHETIC_IDENTITY: ("investigation", "analyst", "synthetic identity"),
    Typology.MULE_NETWORK: ("bank_report", "system", "money mule receiving scam proceeds"),
    Typology.BUST_OUT: ("chargeback", "system", "bust-out: unpaid card balance"),
    Typology.ACCOUNT_TAKEOVER: ("customer_report", "analyst", "account takeover"),
}
#: Label kinds: one per typology (fraud), then the two kinds of legit label.
_LABEL_KINDS: Final = [
    *(_FRAUD_LABELS[t] for t in Typology),
    ("investigation", "analyst", "cleared after review"),
    ("kyc_review", "kyc_service", "identity verified"),
]
_V_LABEL_SOURCES: Final = Vocab([k[0] for k in _LABEL_KINDS])
_V_LABEL_REASONS: Final = Vocab([k[2] for k in _LABEL_KINDS])
_V_LABEL_AUTHORS: Final = Vocab([k[1] for k in _LABEL_KINDS])
_BY_ANALYST: Final = np.asarray([k[1] == "analyst" for k in _LABEL_KINDS])


def _write_labels(
    population: _Population, plans: Sequence[_RingPlan], config: ScenarioConfig, path: Path
) -> int:
    """Write ``labels.csv``: fraud labels for some ring members, legit for some others.

    Notes
    -----
    O(A) for A accounts (choosing legit labels without replacement).
    """
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
    members = np.concatenate([p.members for p in plans])
    ring_index = np.repeat(np.arange(len(plans)), [p.members.size for p in plans])
    n_fraud = round(config.label_fraction * members.size)
    pick = np.sort(rng.choice(members.size, n_fraud, replace=False))
    ring_of = ring_index[pick]
    ring_end = np.asarray([p.last_event_us for p in plans], np.int64)[ring_of]
    typology_of = np.asarray([list(Typology).index(p.typology) for p in plans], np.int64)

    others = np.flatnonzero(~population.is_member)
    n_legit = round(config.legit_label_fraction * others.size)
    legit = np.sort(others[rng.choice(others.size, n_legit, replace=False)])
    n_typologies = len(Typology)
    accounts = np.concatenate([members[pick], legit])
    kind = np.concatenate(
        [typology_of[ring_of], n_typologies + (rng.random(n_legit) >= 0.4).astype(np.int64)]
    )
    ts = np.concatenate(
        [
            ring_end + _uniform_ts(rng, _DAY, 30 * _DAY, n_fraud),
            population.created[legit] + _uniform_ts(rng, 7 * _DAY, 60 * _DAY, n_legit),
        ]
    )
    n = accounts.size
    every = np.arange(n, dtype=np.int64)
    by_analyst = _BY_ANALYST[kind]
    analyst = np.flatnonzero(by_analyst)
    system = np.flatnonzero(~by_analyst)
    authors = string_array(
        n,
        [
            (
                analyst,
                [
                    const_text("analyst_", analyst.size),
                    decimal_text(rng.integers(1, 41, n)[analyst], 3),
                ],
            ),
            (system, [_V_LABEL_AUTHORS.take(kind[system])]),
        ],
    )
    iso = np.datetime_as_string((ts // 1_000_000).astype("datetime64[s]"), unit="s", timezone="UTC")
    table = pa.table(
        {
            "entity_type": pa.repeat("Account", n),
            "entity_key": _account_ids(population, every, accounts),
            "label": pa.array(np.where(kind < n_typologies, "fraud", "legit")),
            "source": _V_LABEL_SOURCES.arrow.take(pa.array(kind)),
            "ts": pa.array(iso),
            "author": authors,
            "reason": _V_LABEL_REASONS.arrow.take(pa.array(kind)),
        }
    )
    table = table.sort_by([("ts", "ascending"), ("entity_key", "ascending")])
    _write_csv(table, path)
    return int(table.num_rows)
