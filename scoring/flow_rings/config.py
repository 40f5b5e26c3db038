"""The AML patterns a money-flow candidate can have, and the settings that find them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import pyarrow as pa

from graph_service.errors import InvalidInput

__all__ = ["BURST_DAYS", "DAY_US", "FLOW_CANDIDATE_SCHEMA", "FlowPattern", "FlowRingConfig"]


class FlowPattern(StrEnum):
    """The AML typologies a money-flow candidate can have (IBM AMLSim's eight)."""

    FAN_IN = "fan_in"
    FAN_OUT = "fan_out"
    CYCLE = "cycle"
    SCATTER_GATHER = "scatter_gather"
    GATHER_SCATTER = "gather_scatter"
    BIPARTITE = "bipartite"
    STACK = "stack"
    RANDOM = "random"


#: One row per candidate: its pattern, members (store ids, ascending), the account at its
#: centre (-1 for none), the transfer links inside it, how many hops money takes across
#: it, the days its links span and whether money could have moved through it in time
#: order (null where the pattern has no order).
FLOW_CANDIDATE_SCHEMA: Final = pa.schema(
    [
        pa.field("pattern", pa.string(), nullable=False),
        pa.field("members", pa.list_(pa.int64()), nullable=False),
        pa.field("centre", pa.int64(), nullable=False),
        pa.field("links", pa.int64(), nullable=False),
        pa.field("hops", pa.int64(), nullable=False),
        pa.field("span_days", pa.float64(), nullable=False),
        pa.field("in_time_order", pa.bool_()),
    ]
)

DAY_US: Final = 86_400e6

#: A shape whose transfers all fall within this many days is a burst (a ring moving
#: money within its active period), tested apart from the shapes drawn out over months
#: (a landlord's tenants, a payroll), and a fan's busiest stretch of this many days is a
#: candidate of its own: 30.
BURST_DAYS: Final = 30.0


@dataclass(frozen=True, slots=True)
class FlowRingConfig:
    """Which transfer links are between strangers and which shapes are candidates.

    Parameters
    ----------
    stranger_max_shared : float
        Two accounts are strangers when the counterparties they share weigh less than
        this, each counting one over its own number of counterparties (the
        resource-allocation index; 0.01: they share no counterparty with fewer than
        100 counterparties, only the busiest, such as a supermarket or an employer).
    min_fan : int
        Fewest strangers paying (paid by) one account for a fan (4).
    max_members : int
        Largest candidate (60): a fan of hundreds is a business, and a ring that large is
        not one investigators can read as one; its evidence still shows on the accounts.
    hub_links : int
        Links to strangers beyond which an account is a hub (12). A cycle may pass
        through one hub at most, and scatter legs and bipartite payers never run through
        one: hubs join everything to everything.
    max_cycle_length : int
        Longest cycle searched, in accounts (10).
    max_cycles : int
        Most cycles kept (100,000); the search stops there and logs it.
    min_island : int
        Fewest accounts of a ``random`` island (5); the largest is ``max_members``.
    pass_on_low, pass_on_high : float
        Share of the money in that a gather-scatter centre passes on (0.5 to 1.02: the
        money, less a margin, give or take rounding).
    """

    stranger_max_shared: float = 0.01
    min_fan: int = 4
    max_members: int = 60
    hub_links: int = 12
    max_cycle_length: int = 10
    max_cycles: int = 100_000
    min_island: int = 5
    pass_on_low: float = 0.5
    pass_on_high: float = 1.02

    def __post_init__(self) -> None:
        if self.stranger_max_shared <= 0:
            raise InvalidInput("stranger_max_shared must be > 0")
        if self.min_fan < 2:
            raise InvalidInput("min_fan must be >= 2")
        if self.max_members < max(self.min_fan + 1, self.min_island):
            raise InvalidInput("max_members must hold the smallest fan and island")
        if self.hub_links < 2:
            raise InvalidInput("hub_links must be >= 2")
        if not 3 <= self.max_cycle_length <= 20:
            raise InvalidInput("max_cycle_length must be in [3, 20]")
        if self.max_cycles < 1:
            raise InvalidInput("max_cycles must be >= 1")
        if self.min_island < 3:
            raise InvalidInput("min_island must be >= 3")
        if not 0 < self.pass_on_low <= self.pass_on_high:
            raise InvalidInput("need 0 < pass_on_low <= pass_on_high")
