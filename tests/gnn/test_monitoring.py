"""PSI and the drift record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gnn.monitoring import ScoreDistribution, psi, record_drift
from gnn.registry import ModelRegistry
from graph_service.errors import InvalidInput

VERSION = "gnn-h2sage-20260101T000000-0123abcd"


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift() -> None:
    """Identical samples give 0; a shifted sample gives more than the 0.2 warning line,
    a slightly shifted one less."""
    rng = np.random.default_rng(0)
    base = rng.beta(2, 5, 20_000)
    reference = ScoreDistribution.of(base)
    assert psi(reference, base) == pytest.approx(0.0, abs=1e-9)
    assert psi(reference, np.clip(base + 0.01, 0, 1)) < 0.05
    assert psi(reference, rng.beta(5, 2, 20_000)) > 0.2


def test_empty_scores_are_refused() -> None:
    """PSI of nothing raises InvalidInput."""
    with pytest.raises(InvalidInput):
        ScoreDistribution.of(np.array([]))
    with pytest.raises(InvalidInput):
        psi(ScoreDistribution.of(np.array([0.1, 0.2])), np.array([]))


def test_drift_is_recorded_per_run_with_a_warning_above_the_threshold(tmp_path: Path) -> None:
    """The first run has no PSI; a similar run is below the threshold; a shifted run is
    recorded with a warning; all three are in the registry's drift log."""
    registry = ModelRegistry(tmp_path)
    rng = np.random.default_rng(1)
    first = record_drift(registry, VERSION, rng.beta(2, 5, 5_000))
    assert first.psi is None and not first.warning
    second = record_drift(registry, VERSION, rng.beta(2, 5, 5_000))
    assert second.psi is not None and second.psi < 0.2 and not second.warning
    third = record_drift(registry, VERSION, rng.beta(5, 2, 5_000))
    assert third.warning and third.psi is not None and third.psi > 0.2
    assert third.previous_version == VERSION
    records = registry.records("drift")
    assert [r["warning"] for r in records] == [False, False, True]


def test_a_redelivered_run_replaces_its_drift_record(tmp_path: Path) -> None:
    """Scoring twice under one run id leaves one record for it, compared with the run before
    (not with its own first delivery)."""
    registry = ModelRegistry(tmp_path)
    rng = np.random.default_rng(2)
    record_drift(registry, VERSION, rng.beta(2, 5, 5_000), run_id="run-1")
    shifted = rng.beta(5, 2, 5_000)
    once = record_drift(registry, VERSION, shifted, run_id="run-2")
    again = record_drift(registry, VERSION, shifted, run_id="run-2")
    assert again.psi == once.psi and again.warning
    assert [r["run_id"] for r in registry.records("drift")] == ["run-1", "run-2"]
