"""The entity model: training, held-out metrics, versioned files, schema checks, fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from graph_service import InvalidInput
from scoring.model import (
    SchemaMismatch,
    ScoringModel,
    fallback_risk,
    train_model,
)

NAMES = ("signal", "noise")


def _data(n: int = 200, seed: int = 0) -> tuple[pa.Table, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    signal = y * 2.0 + rng.normal(0, 0.5, n)
    return pa.table({"signal": signal, "noise": rng.normal(0, 1, n)}), y


def test_model_learns_and_reports_held_out_metrics() -> None:
    """A separable signal gives a high held-out AUC; predictions are probabilities."""
    table, y = _data()
    model, _ = train_model(table, y, NAMES, seed=1)
    assert model.metrics["auc"] > 0.9
    assert model.metrics["held_out"] == y.shape[0]
    assert model.metrics["positives"] == y.sum()
    p = model.predict(table)
    assert ((p >= 0) & (p <= 1)).all()
    assert p[y == 1].mean() > p[y == 0].mean()
    assert model.version.startswith("hgb-")


def test_training_is_deterministic() -> None:
    """Same data and seed: same version and predictions."""
    table, y = _data()
    (a, _), (b, _) = train_model(table, y, NAMES, seed=1), train_model(table, y, NAMES, seed=1)
    assert a.version == b.version
    assert np.array_equal(a.predict(table), b.predict(table))


def test_save_load_round_trip_and_schema_checks(tmp_path: Path) -> None:
    """A saved model loads with equal predictions; other features raise SchemaMismatch."""
    table, y = _data()
    model, _ = train_model(table, y, NAMES, seed=1)
    path = tmp_path / "model.pkl"
    model.save(path)
    loaded = ScoringModel.load(path, expected_features=NAMES)
    assert loaded.version == model.version
    assert np.array_equal(loaded.predict(table), model.predict(table))
    with pytest.raises(SchemaMismatch):
        ScoringModel.load(path, expected_features=("signal", "other"))
    with pytest.raises(SchemaMismatch):
        loaded.predict(table.drop_columns(["noise"]))


def test_loading_a_foreign_file_is_invalid_input(tmp_path: Path) -> None:
    """A file that is not a saved model is InvalidInput."""
    path = tmp_path / "junk.pkl"
    path.write_bytes(b"not a model")
    with pytest.raises(InvalidInput):
        ScoringModel.load(path)


def test_too_few_labels_is_invalid_input() -> None:
    """Fewer than five rows of a class cannot be trained on."""
    table, _ = _data(20)
    with pytest.raises(InvalidInput):
        train_model(table, np.array([1] * 3 + [0] * 17), NAMES)


def test_out_of_fold_risk_does_not_memorise_labels() -> None:
    """Out-of-fold risk of a row whose label contradicts its features follows the features."""
    table, y = _data(300, seed=2)
    flipped = y.copy()
    odd = int(np.flatnonzero(y == 0)[0])
    flipped[odd] = 1
    _, risk = train_model(table, flipped, NAMES, seed=3)
    assert risk[odd] < 0.5


def test_fallback_risk_is_in_range_and_monotone() -> None:
    """The transparent score is in [0, 1) and grows with the evidence."""
    table = pa.table(
        {
            "emulator_devices": [0.0, 1.0, 1.0],
            "signup_burst": [0.0, 0.0, 10.0],
            "community_fraud_fraction": [0.0, 0.0, 1.0],
        }
    )
    risk = fallback_risk(table)
    assert risk[0] == 0.0
    assert 0 < risk[1] < risk[2] < 1
