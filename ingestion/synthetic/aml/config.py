"""What the ``aml`` profile generates: the hard profile's benign book, benign money
structures that look like laundering patterns, and planted rings of AMLSim's patterns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from graph_service.errors import InvalidInput
from ingestion.synthetic.aml.patterns import MIN_MEMBERS, AmlPattern, AmlPatternParams
from ingestion.synthetic.hard.config import MAX_ACCOUNTS, MIN_ACCOUNTS, HardScenarioConfig

__all__ = [
    "DEFAULT_PATTERN_PARAMS",
    "DEFAULT_PATTERN_SIZES",
    "AmlScenarioConfig",
    "MoneyFlowKind",
]


class MoneyFlowKind(StrEnum):
    """Benign money structures the ``aml`` profile adds to the hard profile's book; the
    value is what ``flows.csv`` says.

    The hard book already has payroll (one employer paying many employees: fan-out),
    landlords and small sellers paid by many unrelated payers (fan-in), sellers sweeping
    their takings to their own savings (pass-through) and household allowances.
    """

    #: Friends taking turns paying a shared bill, the others paying their share back
    #: within days: fan-in to a rotating payer, reciprocal pairs and small cycles.
    FRIEND_GROUP = "friend_group"
    #: A rotating savings club (tanda, susu, ROSCA): every month each member pays a
    #: round sum to that month's recipient, who rotates: cycles and dense reciprocity.
    SAVINGS_CLUB = "savings_club"
    #: One or two parents sending a student money each month, which the student passes
    #: on days later as rent to a landlord of several students: forwarding minus a bit.
    STUDENT_SUPPORT = "student_support"
    #: Clients paying a contractor who pays its crew part of each job within days:
    #: gather then scatter, minus the contractor's margin.
    CONTRACTOR = "contractor"
    #: One relative sending gifts to many others at the holidays and on birthdays:
    #: seasonal fan-out.
    FAMILY_GIFTS = "family_gifts"


#: Members per planted ring, by pattern: small groups, as mule rings are.
DEFAULT_PATTERN_SIZES: Final[Mapping[AmlPattern, tuple[int, int]]] = MappingProxyType(
    {
        AmlPattern.FAN_OUT: (5, 15),
        AmlPattern.FAN_IN: (5, 15),
        AmlPattern.CYCLE: (3, 8),
        AmlPattern.BIPARTITE: (4, 10),
        AmlPattern.STACK: (6, 12),
        AmlPattern.RANDOM: (4, 10),
        AmlPattern.SCATTER_GATHER: (5, 12),
        AmlPattern.GATHER_SCATTER: (5, 12),
    }
)

#: Amounts, margins and periods by pattern: mules pass on a few hundred to several
#: thousand dollars within weeks, keeping 5-8% (each leg's margin varied by up to 30%).
DEFAULT_PATTERN_PARAMS: Final[Mapping[AmlPattern, AmlPatternParams]] = MappingProxyType(
    {
        AmlPattern.FAN_OUT: AmlPatternParams((300.0, 4_000.0), 0.0, 14.0, 0.0),
        AmlPattern.FAN_IN: AmlPatternParams((300.0, 4_000.0), 0.0, 14.0, 0.0),
        AmlPattern.CYCLE: AmlPatternParams((2_000.0, 9_000.0), 0.05, 30.0, 0.3),
        AmlPattern.BIPARTITE: AmlPatternParams((200.0, 3_000.0), 0.0, 21.0, 0.0),
        AmlPattern.STACK: AmlPatternParams((500.0, 4_000.0), 0.07, 30.0, 0.3),
        AmlPattern.RANDOM: AmlPatternParams((1_000.0, 8_000.0), 0.06, 45.0, 0.3),
        AmlPattern.SCATTER_GATHER: AmlPatternParams((500.0, 4_500.0), 0.08, 21.0, 0.3),
        AmlPattern.GATHER_SCATTER: AmlPatternParams((500.0, 4_500.0), 0.08, 21.0, 0.3),
    }
)


@dataclass(frozen=True)
class AmlScenarioConfig:
    """The hard profile's book with benign look-alike money flows and AML rings.

    Parameters
    ----------
    accounts : int
        Customer accounts (1,000 to 2,000,000).
    seed : int
        Seed of every random choice; the same config gives byte-identical files.
    rings_per_10k : float
        Planted rings per 10,000 accounts, spread evenly over the eight patterns; at
        least one ring of each pattern (16 by default: two of each per 10,000).
    pattern_sizes : mapping of AmlPattern to (int, int)
        Inclusive member-count bounds per pattern (patterns left out keep the defaults).
    pattern_params : mapping of AmlPattern to AmlPatternParams
        Amounts, margin, period and shape per pattern (left out: the defaults).
    label_fraction : float
        Share of ring members with a ``fraud`` label (a SAR, weeks after the activity).
    legit_label_fraction : float
        Share of other accounts with a ``legit`` label.
    mixed_formats : bool
        Spell values as bank feeds do (see the hard profile), or canonically.
    friend_group_fraction : float
        Accounts in a group of friends who split bills and pay each other back.
    friend_group_sizes : tuple of 2 int
    savings_club_fraction : float
        Accounts in a rotating savings club.
    savings_club_sizes : tuple of 2 int
    student_support_fraction : float
        Students whose parents send them money each month that they pass on as rent.
    students_per_landlord : tuple of 2 int
    contractor_fraction : float
        Accounts of contractors paying a crew out of their clients' payments.
    contractor_crews : tuple of 2 int
        Crew members per contractor.
    gift_giver_fraction : float
        Accounts sending holiday and birthday gifts to several relatives.
    gift_recipients : tuple of 2 int

    Raises
    ------
    InvalidInput
        If a value is out of range, or the rings cannot be planted in the accounts.
    """

    accounts: int = 10_000
    seed: int = 0
    rings_per_10k: float = 16.0
    pattern_sizes: Mapping[AmlPattern, tuple[int, int]] = field(
        default_factory=lambda: dict(DEFAULT_PATTERN_SIZES)
    )
    pattern_params: Mapping[AmlPattern, AmlPatternParams] = field(
        default_factory=lambda: dict(DEFAULT_PATTERN_PARAMS)
    )
    label_fraction: float = 0.3
    legit_label_fraction: float = 0.0
    mixed_formats: bool = True
    friend_group_fraction: float = 0.03
    friend_group_sizes: tuple[int, int] = (3, 6)
    savings_club_fraction: float = 0.005
    savings_club_sizes: tuple[int, int] = (4, 10)
    student_support_fraction: float = 0.5
    students_per_landlord: tuple[int, int] = (3, 12)
    contractor_fraction: float = 0.002
    contractor_crews: tuple[int, int] = (2, 6)
    gift_giver_fraction: float = 0.01
    gift_recipients: tuple[int, int] = (3, 10)

    def __post_init__(self) -> None:
        sizes = {**DEFAULT_PATTERN_SIZES, **{_pattern(k): v for k, v in self.pattern_sizes.items()}}
        params = {
            **DEFAULT_PATTERN_PARAMS,
            **{_pattern(k): v for k, v in self.pattern_params.items()},
        }
        object.__setattr__(self, "pattern_sizes", MappingProxyType(sizes))
        object.__setattr__(self, "pattern_params", MappingProxyType(params))
        problems = _problems(self)
        if problems:
            raise InvalidInput("invalid AmlScenarioConfig: " + "; ".join(problems))

    def rings_per_pattern(self) -> int:
        """Rings planted of each pattern.

        Examples
        --------
        >>> AmlScenarioConfig(accounts=50_000).rings_per_pattern()
        10
        """
        return max(1, round(self.accounts / 10_000 * self.rings_per_10k / len(AmlPattern)))

    def world(self) -> HardScenarioConfig:
        """The hard profile's config of the benign book (its own rings are not planted)."""
        return HardScenarioConfig(
            accounts=self.accounts,
            seed=self.seed,
            label_fraction=self.label_fraction,
            legit_label_fraction=self.legit_label_fraction,
            mixed_formats=self.mixed_formats,
        )

    def as_dict(self) -> dict[str, object]:
        """The config as JSON-ready values (patterns by name)."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "pattern_sizes":
                value = {p.value: list(v) for p, v in value.items()}
            elif f.name == "pattern_params":
                value = {
                    p.value: {g.name: getattr(v, g.name) for g in fields(v)}
                    for p, v in value.items()
                }
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def _pattern(name: object) -> AmlPattern:
    try:
        return AmlPattern(str(name))
    except ValueError:
        names = ", ".join(p.value for p in AmlPattern)
        raise InvalidInput(f"unknown AML pattern {name!r}: one of {names}") from None


#: The longest period a pattern may span (the book covers 540 days).
MAX_PERIOD_DAYS: Final = 180.0

_FRACTIONS: Final = (
    "label_fraction",
    "legit_label_fraction",
    "friend_group_fraction",
    "savings_club_fraction",
    "student_support_fraction",
    "contractor_fraction",
    "gift_giver_fraction",
)


def _problems(config: AmlScenarioConfig) -> list[str]:
    problems: list[str] = []
    if not MIN_ACCOUNTS <= config.accounts <= MAX_ACCOUNTS:
        problems.append(f"accounts must be in [{MIN_ACCOUNTS}, {MAX_ACCOUNTS}]")
    if config.seed < 0:
        problems.append("seed must be >= 0")
    if not (math.isfinite(config.rings_per_10k) and config.rings_per_10k >= 0):
        problems.append("rings_per_10k must be >= 0")
    for name in _FRACTIONS:
        if not 0.0 <= getattr(config, name) <= 1.0:
            problems.append(f"{name} must be in [0, 1]")
    for pattern, (low, high) in config.pattern_sizes.items():
        least = MIN_MEMBERS[pattern]
        if pattern is AmlPattern.STACK:
            least = max(least, config.pattern_params[pattern].layers)
        if not least <= low <= high:
            problems.append(
                f"pattern_sizes[{pattern.value}] must be (low, high) with {least} <= low <= high"
            )
    for pattern, params in config.pattern_params.items():
        if not isinstance(params, AmlPatternParams):
            problems.append(f"pattern_params[{pattern.value}] must be an AmlPatternParams")
        elif params.period_days > MAX_PERIOD_DAYS:
            problems.append(
                f"pattern_params[{pattern.value}].period_days must be <= {MAX_PERIOD_DAYS}"
            )
    for name in (
        "friend_group_sizes",
        "savings_club_sizes",
        "students_per_landlord",
        "contractor_crews",
        "gift_recipients",
    ):
        least = 1 if name == "contractor_crews" else 2
        low, high = getattr(config, name)
        if not least <= low <= high:
            problems.append(f"{name} must be (low, high) with {least} <= low <= high")
    if not problems:
        largest = sum(high for _, high in config.pattern_sizes.values())
        if config.rings_per_pattern() * largest > config.accounts // 5:
            problems.append("rings_per_10k plants more rings than the accounts can hold")
    return problems
