"""The entity model: positive-unlabelled training, out-of-fold risk, label modes, versioned
files and schema checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from graph_service import InvalidInput
from scoring.model import (
    LabelMode,
    SchemaMismatch,
    ScoringModel,
    label_mode,
    train_pu_model,
)

NAMES = ("signal", "noise")


def _data(
    n: int = 2_000, seed: int = 0, fraud_rate: float = 0.05, labelled: float = 0.3
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Features where ``signal`` separates fraud; ``labelled`` of the fraud is labelled."""
    rng = np.random.default_rng(seed)
    fraud = rng.random(n) < fraud_rate
    signal = fraud * 3.0 + rng.normal(0, 0.7, n)
    table = pa.table({"signal": signal, "noise": rng.normal(0, 1, n)})
    known = fraud & (rng.random(n) < labelled)
    return table, fraud, known


def test_fraud_against_unlabelled_learns_the_signal() -> None:
    """With fraud labels only, unlabelled fraud outranks unlabelled legitimate accounts and
    the risk is a probability; the metrics say how the model was trained."""
    table, fraud, known = _data()
    model, risk = train_pu_model(table, known, np.zeros_like(known), NAMES, seed=1)
    assert ((risk >= 0) & (risk <= 1)).all()
    hidden = fraud & ~known
    assert np.median(risk[hidden]) > np.quantile(risk[~fraud], 0.95)
    assert model.metrics["positives"] == known.sum()
    assert model.metrics["negatives"] == 0
    assert model.metrics["auc"] > 0.9
    assert 0 < model.metrics["label_frequency"] <= 1
    assert model.version.startswith("pu-hgb-")


def test_risk_is_about_fraud_whatever_share_of_it_is_labelled() -> None:
    """Dividing by the label frequency puts unlabelled fraud near the top of the scale
    both when 30% and when 10% of the fraud is labelled."""
    for share, n in ((0.3, 2_000), (0.1, 6_000)):
        table, fraud, known = _data(n, seed=4, labelled=share)
        _, risk = train_pu_model(table, known, np.zeros_like(known), NAMES, seed=1)
        assert np.median(risk[fraud & ~known]) > 0.5
        assert np.median(risk[~fraud]) < 0.1


def test_every_account_is_scored_out_of_fold() -> None:
    """A labelled account whose features look legitimate is not rescued by its own label:
    its risk follows its features."""
    table, fraud, known = _data(seed=2)
    odd = int(np.flatnonzero(~fraud)[0])
    labels = known.copy()
    labels[odd] = True
    _, risk = train_pu_model(table, labels, np.zeros_like(labels), NAMES, seed=3)
    assert risk[odd] < 0.5


def test_legit_labels_are_used_when_there_are_some() -> None:
    """Legit labels enter as negatives and are counted."""
    table, fraud, known = _data(seed=5)
    legit = ~fraud & (np.arange(fraud.shape[0]) % 50 == 0)
    model, _ = train_pu_model(table, known, legit, NAMES, seed=1)
    assert model.metrics["negatives"] == legit.sum()


def test_training_is_deterministic() -> None:
    """Same data and seed: same version and risks."""
    table, _, known = _data()
    none = np.zeros_like(known)
    (a, ra), (b, rb) = (
        train_pu_model(table, known, none, NAMES, seed=1),
        train_pu_model(table, known, none, NAMES, seed=1),
    )
    assert a.version == b.version
    assert np.array_equal(ra, rb)


def test_too_few_fraud_labels_is_invalid_input() -> None:
    """Fewer fraud labels than two per fold cannot be trained on; the message says so."""
    table, _, _ = _data(200)
    known = np.zeros(200, np.bool_)
    known[:5] = True
    with pytest.raises(InvalidInput, match="need 6 fraud labels to learn from, got 5"):
        train_pu_model(table, known, np.zeros_like(known), NAMES, folds=3)


def test_save_load_round_trip_and_schema_checks(tmp_path: Path) -> None:
    """A saved model loads with equal predictions; other features raise SchemaMismatch."""
    table, _, known = _data()
    model, _ = train_pu_model(table, known, np.zeros_like(known), NAMES, seed=1)
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


@pytest.mark.parametrize(
    ("fraud", "legit", "mode"),
    [
        (0, 0, LabelMode.UNSUPERVISED),
        (0, 500, LabelMode.UNSUPERVISED),
        (14, 0, LabelMode.FEW_LABELS),
        (15, 0, LabelMode.POSITIVE_UNLABELLED),
        (200, 19, LabelMode.POSITIVE_UNLABELLED),
        (200, 20, LabelMode.SUPERVISED),
    ],
)
def test_label_mode_follows_the_counts(fraud: int, legit: int, mode: LabelMode) -> None:
    """No fraud label: unsupervised; a handful: few labels; enough fraud: positive-
    unlabelled, or supervised once there are enough legit labels too."""
    assert label_mode(fraud, legit, min_fraud=15, min_legit=20) is mode
