"""Synthetic fraud scenarios: a bank's customer base with planted fraud rings.

Profiles
--------
``default`` (:mod:`ingestion.synthetic.default`)
    A customer base whose rings are tied by rare shared identifiers and money flow,
    written as Parquet parts in the canonical event schema.
"""

from ingestion.synthetic.default import (
    RING_SIZES,
    ScenarioConfig,
    ScenarioSummary,
    Typology,
    generate_scenario,
)

__all__ = ["RING_SIZES", "ScenarioConfig", "ScenarioSummary", "Typology", "generate_scenario"]
