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
``aml`` (:mod:`ingestion.synthetic.aml`)
    The hard profile's book with benign money structures that look like laundering and
    rings of IBM AMLSim's eight patterns among unrelated customers; the patterns can also
    be planted one at a time (:func:`plant_pattern`).
"""

from ingestion.synthetic.aml import (
    AmlPattern,
    AmlPatternParams,
    AmlScenarioConfig,
    AmlScenarioSummary,
    MoneyFlowKind,
    generate_aml_scenario,
    plant_pattern,
)
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
    "AmlPattern",
    "AmlPatternParams",
    "AmlScenarioConfig",
    "AmlScenarioSummary",
    "BenignKind",
    "FormatMix",
    "HardScenarioConfig",
    "HardScenarioSummary",
    "MoneyFlowKind",
    "ScenarioConfig",
    "ScenarioSummary",
    "Typology",
    "generate_aml_scenario",
    "generate_hard_scenario",
    "generate_scenario",
    "plant_pattern",
]
