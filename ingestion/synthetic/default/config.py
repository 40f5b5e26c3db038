"""What the default profile generates: typologies, ring sizes, the configuration, the summary."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

from ingestion.synthetic.default.tables import REGIONS


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

TYPOLOGY_WEIGHTS: Final[dict[Typology, float]] = {
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
        if self.default_region not in REGIONS:
            problems.append(f"default_region must be one of {sorted(REGIONS)}")
        if self.activity_exponent <= 1.0:
            problems.append("activity_exponent must be > 1 (finite mean)")
        if self.accounts_per_nat_ip < 1:
            problems.append("accounts_per_nat_ip must be >= 1")
        if self.merchants_per_1k_accounts <= 0:
            problems.append("merchants_per_1k_accounts must be > 0")
        if self.rows_per_part < 1_000:
            problems.append("rows_per_part must be >= 1000")
        largest_minimum = max(low for low, _ in RING_SIZES.values())
        if not problems and ring_count(self) * largest_minimum > self.accounts // 2:
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


def ring_count(config: ScenarioConfig) -> int:
    """Rings to plant: ``rings_per_10k`` per 10,000 accounts, at least one per typology."""
    return max(len(Typology), round(config.accounts / 10_000 * config.rings_per_10k))
