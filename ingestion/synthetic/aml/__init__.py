"""The ``aml`` synthetic profile: IBM AMLSim's eight laundering patterns planted among
unrelated customers of the hard profile's book, beside benign money structures that
look like them (payroll, rent, small sellers, friends paying each other back, savings
clubs, parents' support passed on as rent, contractors paying crews, family gifts).

:func:`plant_pattern` plants one pattern on given accounts (for tests and studies);
:func:`generate_aml_scenario` writes a whole scenario (see :class:`AmlScenarioConfig`).
"""

from ingestion.synthetic.aml.config import (
    DEFAULT_PATTERN_PARAMS,
    DEFAULT_PATTERN_SIZES,
    AmlScenarioConfig,
    MoneyFlowKind,
)
from ingestion.synthetic.aml.generate import AmlScenarioSummary, generate_aml_scenario
from ingestion.synthetic.aml.patterns import (
    MIN_MEMBERS,
    AmlPattern,
    AmlPatternParams,
    plant_pattern,
)

__all__ = [
    "DEFAULT_PATTERN_PARAMS",
    "DEFAULT_PATTERN_SIZES",
    "MIN_MEMBERS",
    "AmlPattern",
    "AmlPatternParams",
    "AmlScenarioConfig",
    "AmlScenarioSummary",
    "MoneyFlowKind",
    "generate_aml_scenario",
    "plant_pattern",
]
