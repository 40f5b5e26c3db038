"""Calibrated entity risk: a versioned model trained on the store's labels, or a
transparent weighted score when labels are too few.

Training rows are the labelled accounts (``fraud`` = 1, ``legit`` = 0). The model is a
``HistGradientBoostingClassifier`` wrapped in isotonic ``CalibratedClassifierCV``; its
quality is measured out of fold (every labelled row scored by a model that did not see
it) before it is refitted on every label. Labelled accounts keep their out-of-fold risk,
so a label never scores its own account. No
feature is derived from the account's own label (see :mod:`scoring.features`).

With fewer than ``min_labels_per_class`` labels of either class, :func:`fallback_risk`
gives a documented weighted score instead, still in [0, 1].

A :class:`ScoringModel` is saved and loaded as one file (pickle of the fitted estimator
with its version, feature names and metrics); loading refuses a feature schema that does
not match the one the caller scores with.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from graph_service.errors import InvalidInput

log = logging.getLogger(__name__)

#: Format marker of saved model files.
MODEL_FORMAT: Final = "fraudgraph-scoring-model/1"

#: Transparent fallback: feature -> (weight, scale). Each feature contributes
#: ``weight * min(value / scale, 1)``; the risk is ``1 - exp(-sum)``.
FALLBACK_WEIGHTS: Final[dict[str, tuple[float, float]]] = {
    "rare_shared_device": (0.8, 1.0),
    "rare_shared_phone": (0.6, 1.0),
    "rare_shared_email": (0.6, 1.0),
    "rare_shared_card": (0.6, 1.0),
    "rare_shared_address": (0.3, 1.0),
    "rare_shared_merchant": (0.3, 2.0),
    "emulator_devices": (1.0, 1.0),
    "rooted_devices": (0.4, 1.0),
    "proxy_ips": (0.6, 1.0),
    "signup_burst": (1.0, 5.0),
    "in_cycle": (0.8, 1.0),
    "fan_in": (0.4, 5.0),
    "seeded_score": (1.0, 20.0),
    "community_fraud_fraction": (1.5, 0.3),
    "community_density": (0.3, 1.0),
    "gnn_score": (1.0, 1.0),
}


class SchemaMismatch(InvalidInput):
    """A saved model was trained on other features than those being scored."""

    code = "model_schema_mismatch"


@dataclass(frozen=True)
class ScoringModel:
    """A fitted, versioned entity-risk model.

    Attributes
    ----------
    version : str
        ``"<kind>-<hash of features, labels and parameters>"``.
    feature_names : tuple of str
        The input columns, in order.
    metrics : dict
        Held-out figures: ``auc``, ``brier``, ``positives``, ``negatives``, ``held_out``.
    estimator : object
        The fitted calibrated classifier (``predict_proba``).
    """

    version: str
    feature_names: tuple[str, ...]
    metrics: dict[str, float]
    estimator: Any = field(repr=False)

    def predict(self, features: pa.Table) -> np.ndarray:
        """Calibrated fraud probability of every row.

        Parameters
        ----------
        features : pa.Table
            Must hold every column of :attr:`feature_names`.

        Returns
        -------
        ndarray of float64, shape (rows,), values in [0, 1]

        Raises
        ------
        SchemaMismatch
            If a feature column is missing.

        Notes
        -----
        O(rows * trees * depth).
        """
        self.check_schema(features.column_names)
        matrix = feature_matrix(features, self.feature_names)
        with _single_thread():
            predicted = self.estimator.predict_proba(matrix)[:, 1]
        return np.clip(np.asarray(predicted, np.float64), 0, 1)

    def check_schema(self, columns: Sequence[str]) -> None:
        """Raise :class:`SchemaMismatch` unless every model feature is among ``columns``."""
        missing = [name for name in self.feature_names if name not in set(columns)]
        if missing:
            raise SchemaMismatch(
                f"model {self.version} needs features missing here: {', '.join(missing)}"
            )

    def save(self, path: Path) -> None:
        """Write the model to ``path`` (one file)."""
        payload = {
            "format": MODEL_FORMAT,
            "version": self.version,
            "feature_names": list(self.feature_names),
            "metrics": self.metrics,
            "estimator": self.estimator,
        }
        Path(path).write_bytes(pickle.dumps(payload))

    @classmethod
    def load(cls, path: Path, *, expected_features: Sequence[str] | None = None) -> ScoringModel:
        """Read a model saved with :meth:`save`.

        Parameters
        ----------
        path : Path
        expected_features : sequence of str, optional
            The feature names the caller will score with; they must equal the model's.

        Returns
        -------
        ScoringModel

        Raises
        ------
        InvalidInput
            If the file is not a saved scoring model.
        SchemaMismatch
            If ``expected_features`` differs from the model's features.
        """
        try:
            payload = pickle.loads(Path(path).read_bytes())
        except (pickle.UnpicklingError, EOFError) as exc:
            raise InvalidInput(f"{path} is not a scoring model file: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
            raise InvalidInput(f"{path} is not a scoring model file ({MODEL_FORMAT})")
        model = cls(
            version=str(payload["version"]),
            feature_names=tuple(payload["feature_names"]),
            metrics=dict(payload["metrics"]),
            estimator=payload["estimator"],
        )
        if expected_features is not None and tuple(expected_features) != model.feature_names:
            missing = sorted(set(model.feature_names) - set(expected_features))
            extra = sorted(set(expected_features) - set(model.feature_names))
            raise SchemaMismatch(
                f"model {model.version} feature schema differs: missing {missing}, "
                f"unexpected {extra}"
            )
        return model


def feature_matrix(features: pa.Table, names: Sequence[str]) -> np.ndarray:
    """``(rows, len(names))`` float64 matrix of the named columns (nulls as 0)."""
    if not names:
        return np.zeros((features.num_rows, 0))
    return np.column_stack(
        [
            np.asarray(features.column(n).fill_null(0).to_numpy(zero_copy_only=False), np.float64)
            for n in names
        ]
    )


def _single_thread() -> Any:
    """Limit OpenMP/BLAS to one thread: the labelled rows are few, and on a shared machine
    oversubscribed OpenMP threads make gradient boosting an order of magnitude slower."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    return threadpool_limits(limits=1)


def _estimator(seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    base = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        l2_regularization=1.0,
        random_state=seed,
    )
    return CalibratedClassifierCV(base, method="isotonic", cv=3)


def train_model(
    features: pa.Table,
    labels: np.ndarray,
    feature_names: Sequence[str],
    *,
    seed: int = 42,
    folds: int = 3,
) -> tuple[ScoringModel, np.ndarray]:
    """Fit and version a calibrated model on labelled rows, with out-of-fold risks.

    Every labelled row is scored once by a model fitted on the other folds; those
    out-of-fold risks give the held-out metrics and are returned, so a caller can score
    labelled accounts without their own label. The final model is then fitted on every
    row.

    Parameters
    ----------
    features : pa.Table
        The labelled rows only.
    labels : ndarray of int, shape (rows,)
        1 = fraud, 0 = legit.
    feature_names : sequence of str
    seed : int
        Seeds the folds and the trees (same data, same model).
    folds : int
        Stratified folds of the out-of-fold scoring (at most the rows of the rarer class).

    Returns
    -------
    model : ScoringModel
        ``metrics``: out-of-fold ``auc`` and ``brier``, ``positives``, ``negatives``,
        ``held_out`` (rows scored out of fold: all of them).
    out_of_fold : ndarray of float64, shape (rows,)

    Raises
    ------
    InvalidInput
        If either class has fewer than 5 rows.

    Notes
    -----
    ``(folds + 1) * 3`` gradient-boosting fits (three calibration folds each) on the
    labelled rows only: O(rows * features * iterations) each.
    """
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(labels, np.int64)
    positives, negatives = int(y.sum()), int((1 - y).sum())
    if min(positives, negatives) < 5:
        raise InvalidInput(f"need 5 labels per class, got {positives} fraud / {negatives} legit")
    x = feature_matrix(features, feature_names)
    splits = max(2, min(folds, positives, negatives))
    cv = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
    with _single_thread():
        predicted = cross_val_predict(_estimator(seed), x, y, cv=cv, method="predict_proba")
        estimator = _estimator(seed).fit(x, y)
    out_of_fold = np.clip(np.asarray(predicted[:, 1], np.float64), 0.0, 1.0)
    metrics = {
        "auc": float(roc_auc_score(y, out_of_fold)),
        "brier": float(brier_score_loss(y, out_of_fold)),
        "positives": float(positives),
        "negatives": float(negatives),
        "held_out": float(y.shape[0]),
    }
    digest = hashlib.sha256()
    digest.update(",".join(feature_names).encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(y.tobytes())
    digest.update(str(seed).encode())
    version = f"hgb-{digest.hexdigest()[:12]}"
    log.info("entity model trained", extra={"version": version, **metrics})
    model = ScoringModel(
        version=version, feature_names=tuple(feature_names), metrics=metrics, estimator=estimator
    )
    return model, out_of_fold


def fallback_risk(features: pa.Table) -> np.ndarray:
    """The transparent score used without enough labels.

    ``risk = 1 - exp(-sum_f w_f * min(x_f / s_f, 1))`` over :data:`FALLBACK_WEIGHTS`
    (rare shared identifiers, device and IP flags, sign-up bursts, money cycles and
    fan-in, fraud-seeded score and community fraud fraction, community density).

    Parameters
    ----------
    features : pa.Table
        :func:`scoring.features.account_features` output (missing columns count as 0).

    Returns
    -------
    ndarray of float64, values in [0, 1)

    Notes
    -----
    O(rows * len(FALLBACK_WEIGHTS)).
    """
    total = np.zeros(features.num_rows)
    for name, (weight, scale) in FALLBACK_WEIGHTS.items():
        if name not in features.column_names:
            continue
        values = feature_matrix(features, [name])[:, 0]
        total += weight * np.minimum(np.maximum(values, 0.0) / scale, 1.0)
    return 1.0 - np.exp(-total)


class LabelMode(StrEnum):
    """How the entity model learned from the store's labels."""

    #: No fraud label at all: risk is the population-relative evidence score.
    UNSUPERVISED = "unsupervised"
    #: Some fraud labels, too few to learn from: the evidence score, with propagation
    #: from the labelled fraud as one of its channels.
    FEW_LABELS = "few_labels"
    #: Confirmed fraud against unlabelled accounts (and the few legit labels there are).
    POSITIVE_UNLABELLED = "positive_unlabelled"
    #: Enough fraud and legit labels; unlabelled accounts still serve as weighted
    #: negatives.
    SUPERVISED = "supervised"


def label_mode(fraud: int, legit: int, *, min_fraud: int, min_legit: int) -> LabelMode:
    """The label mode for ``fraud`` fraud and ``legit`` legit labelled accounts.

    Examples
    --------
    >>> label_mode(0, 50, min_fraud=15, min_legit=20).value
    'unsupervised'
    >>> label_mode(40, 0, min_fraud=15, min_legit=20).value
    'positive_unlabelled'
    """
    if fraud == 0:
        return LabelMode.UNSUPERVISED
    if fraud < min_fraud:
        return LabelMode.FEW_LABELS
    if legit < min_legit:
        return LabelMode.POSITIVE_UNLABELLED
    return LabelMode.SUPERVISED


class PUCalibrated:
    """A classifier of labelled fraud against unlabelled accounts, turned into a fraud
    probability: isotonic calibration of ``P(labelled | x)``, divided by the label
    frequency ``c = P(labelled | fraud)`` (Elkan & Noto, 2008), clipped to [0, 1].

    Parameters
    ----------
    base : object
        Fitted classifier with ``predict_proba``.
    calibration : object
        Fitted ``IsotonicRegression`` from base scores to ``P(labelled | x)``.
    label_frequency : float
        Estimated ``c``: the mean calibrated score of held-out labelled fraud.
    """

    def __init__(self, base: Any, calibration: Any, label_frequency: float) -> None:
        self.base = base
        self.calibration = calibration
        self.label_frequency = label_frequency

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``(rows, 2)`` probabilities of legit and fraud."""
        raw = self.base.predict_proba(x)[:, 1]
        fraud = self.to_probability(raw)
        return np.column_stack([1.0 - fraud, fraud])

    def to_probability(self, raw: np.ndarray) -> np.ndarray:
        """Fraud probability of base-classifier scores."""
        labelled = np.asarray(self.calibration.predict(raw), np.float64)
        return np.asarray(np.clip(labelled / max(self.label_frequency, 1e-9), 0.0, 1.0))


def train_pu_model(
    features: pa.Table,
    fraud: np.ndarray,
    legit: np.ndarray,
    feature_names: Sequence[str],
    *,
    seed: int = 42,
    folds: int = 3,
    max_unlabelled: int = 50_000,
    legit_weight: float = 5.0,
) -> tuple[ScoringModel, np.ndarray]:
    """Learn fraud from positive and unlabelled accounts; score every account out of fold.

    Every account is given a fold by a seeded hash of its row. For each fold, a gradient-
    boosting classifier is trained on the labelled fraud of the other folds (positives)
    against the legit labels of the other folds and a sample of at most
    ``max_unlabelled`` of their unlabelled accounts (negatives: a few fraudsters hide
    among them, which only costs the classifier a little sharpness), with the classes
    balanced by weight and legit labels weighing ``legit_weight`` times an unlabelled
    account; it then scores the fold's accounts. So every account, labelled or not, is
    scored by a model that never saw it. The out-of-fold scores are calibrated to
    ``P(labelled | x)`` by isotonic regression and divided by the label frequency ``c``
    (Elkan & Noto, 2008): a probability of fraud whatever share of the fraud is labelled.
    A final model fitted on every fold is kept for scoring other data.

    Parameters
    ----------
    features : pa.Table
        Every account's features.
    fraud, legit : ndarray of bool, shape (rows,)
        Labelled fraud and labelled legit rows (disjoint).
    feature_names : sequence of str
    seed : int
    folds : int
        Out-of-fold partitions (>= 2).
    max_unlabelled : int
        Unlabelled accounts sampled as negatives per fit.
    legit_weight : float

    Returns
    -------
    model : ScoringModel
        ``metrics``: out-of-fold ``auc`` and ``pr_auc`` of labelled fraud against every
        other account (a lower bound: unlabelled fraud counts as negative there),
        ``recall_top_1pct`` (labelled fraud among the top 1% of scores), ``label_frequency``,
        ``positives``, ``negatives`` (legit labels), ``unlabelled``.
    risk : ndarray of float64, shape (rows,)
        Out-of-fold fraud probability of every row.

    Raises
    ------
    InvalidInput
        With fewer than 2 * folds fraud labels, or ``folds < 2``.

    Notes
    -----
    ``folds + 1`` gradient-boosting fits on at most ``|fraud| + |legit| + max_unlabelled``
    rows each, and one prediction of every row: O(rows * features * iterations).
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import average_precision_score, roc_auc_score

    fraud = np.asarray(fraud, np.bool_)
    legit = np.asarray(legit, np.bool_) & ~fraud
    rows = fraud.shape[0]
    if folds < 2:
        raise InvalidInput(f"folds must be >= 2, got {folds}")
    if int(fraud.sum()) < 2 * folds:
        raise InvalidInput(f"need {2 * folds} fraud labels to learn from, got {int(fraud.sum())}")
    x = feature_matrix(features, feature_names)
    mixed = (np.arange(rows, dtype=np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    fold = ((mixed >> np.uint64(17)) % np.uint64(folds)).astype(np.int64)
    rng = np.random.default_rng(seed)
    raw = np.zeros(rows)
    with _single_thread():
        for f in range(folds):
            train = _pu_training_rows(fold != f, fraud, legit, max_unlabelled, rng)
            estimator = _pu_fit(x, train, fraud, legit, legit_weight, seed)
            held = np.flatnonzero(fold == f)
            raw[held] = estimator.predict_proba(x[held])[:, 1]
        final = _pu_fit(
            x,
            _pu_training_rows(np.ones(rows, np.bool_), fraud, legit, max_unlabelled, rng),
            fraud,
            legit,
            legit_weight,
            seed,
        )
    calibration = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    calibration.fit(raw, fraud.astype(np.float64))
    label_frequency = float(np.mean(calibration.predict(raw[fraud])))
    estimator = PUCalibrated(final, calibration, label_frequency)
    # The final model's raw scores differ from the out-of-fold ones only by its training
    # sample; its calibration is the out-of-fold one.
    risk = np.asarray(np.clip(calibration.predict(raw) / max(label_frequency, 1e-9), 0, 1))
    top = raw >= np.quantile(raw, 0.99) if rows else np.zeros(0, np.bool_)
    metrics = {
        "auc": float(roc_auc_score(fraud, raw)),
        "pr_auc": float(average_precision_score(fraud, raw)),
        "recall_top_1pct": float(fraud[top].sum() / max(int(fraud.sum()), 1)),
        "label_frequency": label_frequency,
        "positives": float(fraud.sum()),
        "negatives": float(legit.sum()),
        "unlabelled": float(rows - fraud.sum() - legit.sum()),
    }
    digest = hashlib.sha256()
    digest.update(",".join(feature_names).encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(fraud.tobytes())
    digest.update(legit.tobytes())
    digest.update(f"{seed}/{folds}/{max_unlabelled}/{legit_weight}".encode())
    version = f"pu-hgb-{digest.hexdigest()[:12]}"
    log.info("positive-unlabelled entity model trained", extra={"version": version, **metrics})
    model = ScoringModel(
        version=version, feature_names=tuple(feature_names), metrics=metrics, estimator=estimator
    )
    return model, risk


def _pu_training_rows(
    allowed: np.ndarray,
    fraud: np.ndarray,
    legit: np.ndarray,
    max_unlabelled: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Training rows: every allowed labelled row and a sample of allowed unlabelled ones."""
    labelled = np.flatnonzero(allowed & (fraud | legit))
    unlabelled = np.flatnonzero(allowed & ~fraud & ~legit)
    if unlabelled.shape[0] > max_unlabelled:
        unlabelled = np.sort(rng.choice(unlabelled, max_unlabelled, replace=False))
    return np.concatenate([labelled, unlabelled])


def _pu_fit(
    x: np.ndarray,
    rows: np.ndarray,
    fraud: np.ndarray,
    legit: np.ndarray,
    legit_weight: float,
    seed: int,
) -> Any:
    """One class-balanced gradient-boosting fit on ``rows``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = fraud[rows].astype(np.int64)
    weight = np.where(legit[rows], legit_weight, 1.0)
    negatives = weight[y == 0].sum()
    positives = max(float(y.sum()), 1.0)
    weight = np.where(y == 1, negatives / positives, weight)
    estimator = HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.08,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        random_state=seed,
    )
    return estimator.fit(x[rows], y, sample_weight=weight)
