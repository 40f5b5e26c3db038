"""The ``hard`` synthetic profile: a US bank's customer book where benign sharing is
the norm (households, offices, campuses, carrier NAT, hotspots, VPNs, call-centre and
branch devices, payroll, small sellers, landlords) and fraud rings are camouflaged,
written as mixed-format CSV feeds with labels as banks have them.

See :class:`HardScenarioConfig` for the model's rates, :class:`BenignKind` for the
sharing groups and :func:`generate_hard_scenario` for the files written.
"""

from ingestion.synthetic.hard.config import BenignKind, FormatMix, HardScenarioConfig
from ingestion.synthetic.hard.generate import HardScenarioSummary, generate_hard_scenario

__all__ = [
    "BenignKind",
    "FormatMix",
    "HardScenarioConfig",
    "HardScenarioSummary",
    "generate_hard_scenario",
]
