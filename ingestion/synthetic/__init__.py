"""Synthetic fraud scenarios: a bank's customer base with planted fraud rings.

Profiles
--------
``default`` (:mod:`ingestion.synthetic.default`)
    A customer base whose rings are tied by rare shared identifiers and money flow,
    written as Parquet parts in the canonical event schema.
``hard`` (:mod:`ingestion.synthetic.hard`)
    A US bank's book where benign sharing is the norm and rings are camouflaged,
    written as CSV feeds in mixed formats, with labels as banks have them and the
    benign sharing groups listed for evaluation.
"""

from ingestion.synthetic.default import (
    RING_SIZES,
    ScenarioConfig,
    ScenarioSummary,
    Typology,
    generate_scenario,
)
from ingestion.synthetic.hard import (
    BenignKind,
    FormatMix,
    HardScenarioConfig,
    HardScenarioSummary,
    generate_hard_scenario,
)

__all__ = [
    "RING_SIZES",
    "BenignKind",
    "FormatMix",
    "HardScenarioConfig",
    "HardScenarioSummary",
    "ScenarioConfig",
    "ScenarioSummary",
    "Typology",
    "generate_hard_scenario",
    "generate_scenario",
]
