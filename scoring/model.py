"""Entity risk learned from the store's labels, however few and one-sided they are.

Banks know confirmed fraud (chargebacks, SARs, investigators' verdicts) and rarely
confirm anyone legitimate: everyone else is simply unlabelled. :func:`train_pu_model`
learns from exactly that (positive-unlabelled learning): confirmed fraud against
unlabelled accounts as weighted negatives, the legit labels there are as stronger
negatives, every account scored out of fold so that no label scores its own account, the
scores calibrated to a fraud probability through the label frequency (Elkan & Noto,
2008). :func:`label_mode` says which regime a store is in; with too few fraud labels the
analysis scores accounts by their population-relative evidence instead
(:mod:`scoring.surprise`).

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
    """``(rows, len(names))`` float64 matrix of the named columns (nulls as 0).

    Filled one column at a time into a matrix allocated once: the peak is the matrix plus
    one column, not twice the matrix (``np.column_stack`` of converted columns holds both).
    """
    matrix = np.empty((features.num_rows, len(names)), np.float64)
    for j, name in enumerate(names):
        matrix[:, j] = features.column(name).fill_null(0).to_numpy(zero_copy_only=False)
    return matrix


def _single_thread() -> Any:
    """Limit OpenMP/BLAS to one thread: the labelled rows are few, and on a shared machine
    oversubscribed OpenMP threads make gradient boosting an order of magnitude slower."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    return threadpool_limits(limits=1)


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
    bags: int = 2,
    unlabelled_per_positive: float = 10.0,
    max_unlabelled: int = 50_000,
    legit_copies: int = 5,
) -> tuple[ScoringModel, np.ndarray]:
    """Learn fraud from positive and unlabelled accounts; score every account out of fold.

    Bagging positive-unlabelled learning (Mordelet & Vert, 2014): every account is given
    one of ``folds`` folds by a seeded hash of its row. For each fold, ``bags``
    gradient-boosting classifiers are trained, each on the labelled fraud of the other
    folds (positives) against the legit labels of the other folds and its own random
    sample of the other folds' unlabelled accounts (``unlabelled_per_positive`` per
    positive, at most ``max_unlabelled``). A sample holds few of the fraudsters hiding
    among the unlabelled, so no model learns them as legitimate, and the bags' average is
    smooth. The fold's accounts, labelled or not, are scored by the mean of its bags, so
    every account is scored by models that never saw it. A legit label counts
    ``legit_copies`` times (its row repeated) against an unlabelled account's once. The out-of-fold
    scores are calibrated to ``P(labelled | x)`` by isotonic regression and divided by
    the label frequency ``c = P(labelled | fraud)``, the mean calibrated score of the
    labelled fraud (Elkan & Noto, 2008): a probability of fraud whatever share of the
    fraud is labelled. The first fold's bags are kept as the model that scores other
    data.

    Parameters
    ----------
    features : pa.Table
        Every account's features.
    fraud, legit : ndarray of bool, shape (rows,)
        Labelled fraud and labelled legit rows (a row in both counts as fraud).
    feature_names : sequence of str
    seed : int
    folds : int
        Out-of-fold partitions (>= 2).
    bags : int
        Classifiers per fold (>= 1).
    unlabelled_per_positive : float
        Unlabelled accounts sampled per positive in each bag.
    max_unlabelled : int
        At most this many unlabelled accounts per bag.
    legit_copies : int
        Times a legit label's row enters each bag (>= 1).

    Returns
    -------
    model : ScoringModel
        ``metrics``: out-of-fold ``auc`` and ``pr_auc`` of labelled fraud against every
        other account (a lower bound: unlabelled fraud counts as negative there),
        ``recall_top_1pct`` (labelled fraud among the top 1% of scores),
        ``label_frequency``, ``positives``, ``negatives`` (legit labels), ``unlabelled``.
    risk : ndarray of float64, shape (rows,)
        Out-of-fold fraud probability of every row.

    Raises
    ------
    InvalidInput
        With fewer than 2 * folds fraud labels, ``folds < 2`` or ``bags < 1``.

    Notes
    -----
    ``folds * bags`` gradient-boosting fits on ``|fraud| + |legit| + sample`` rows each,
    and ``bags`` predictions of every row: O(rows * bags * trees).
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import average_precision_score, roc_auc_score

    fraud = np.asarray(fraud, np.bool_)
    legit = np.asarray(legit, np.bool_) & ~fraud
    rows = fraud.shape[0]
    if folds < 2 or bags < 1 or legit_copies < 1:
        raise InvalidInput(
            f"folds must be >= 2, bags and legit_copies >= 1; got {folds}, {bags}, {legit_copies}"
        )
    if int(fraud.sum()) < 2 * folds:
        raise InvalidInput(f"need {2 * folds} fraud labels to learn from, got {int(fraud.sum())}")
    x = feature_matrix(features, feature_names)
    mixed = (np.arange(rows, dtype=np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    fold = ((mixed >> np.uint64(17)) % np.uint64(folds)).astype(np.int64)
    rng = np.random.default_rng(seed)
    raw = np.zeros(rows)
    kept: list[Any] = []
    for f in range(folds):
        allowed = fold != f
        positives = int((allowed & fraud).sum())
        sample = int(min(max_unlabelled, unlabelled_per_positive * positives))
        held = np.flatnonzero(fold == f)
        with _single_thread():
            ensemble = [
                _pu_fit(
                    x,
                    _pu_training_rows(allowed, fraud, legit, sample, legit_copies, rng),
                    fraud,
                    seed + b,
                )
                for b in range(bags)
            ]
        # Scoring the fold's rows (a third of the book) is worth every core there is.
        raw[held] = np.mean([m.predict_proba(x[held])[:, 1] for m in ensemble], axis=0)
        if f == 0:
            kept = ensemble
    calibration = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    calibration.fit(raw, fraud.astype(np.float64))
    label_frequency = float(np.mean(calibration.predict(raw[fraud])))
    estimator = PUCalibrated(_BaggedClassifier(kept), calibration, label_frequency)
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
    digest.update(f"{seed}/{folds}/{bags}/{unlabelled_per_positive}/{max_unlabelled}".encode())
    digest.update(f"{legit_copies}".encode())
    version = f"pu-hgb-{digest.hexdigest()[:12]}"
    log.info("positive-unlabelled entity model trained", extra={"version": version, **metrics})
    model = ScoringModel(
        version=version, feature_names=tuple(feature_names), metrics=metrics, estimator=estimator
    )
    return model, risk


class _BaggedClassifier:
    """The mean of several fitted classifiers' ``predict_proba``."""

    def __init__(self, members: Sequence[Any]) -> None:
        self.members = list(members)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Mean class probabilities of the members."""
        return np.asarray(np.mean([m.predict_proba(x) for m in self.members], axis=0))


def _pu_training_rows(
    allowed: np.ndarray,
    fraud: np.ndarray,
    legit: np.ndarray,
    sample: int,
    legit_copies: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Training rows: every allowed fraud row, every allowed legit row ``legit_copies``
    times, and a sample of the allowed unlabelled ones."""
    positives = np.flatnonzero(allowed & fraud)
    negatives = np.repeat(np.flatnonzero(allowed & legit), legit_copies)
    unlabelled = np.flatnonzero(allowed & ~fraud & ~legit)
    if unlabelled.shape[0] > sample:
        unlabelled = np.sort(rng.choice(unlabelled, sample, replace=False))
    return np.concatenate([positives, negatives, unlabelled])


def _pu_fit(x: np.ndarray, rows: np.ndarray, fraud: np.ndarray, seed: int) -> Any:
    """One gradient-boosting fit on ``rows``.

    Unweighted: the bag's sample already sets the class balance (and the calibration
    undoes it), and per-row weights would send the feature binning down a far slower
    weighted-quantile path.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    estimator = HistGradientBoostingClassifier(
        max_iter=60,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        random_state=seed,
    )
    return estimator.fit(x[rows], fraud[rows].astype(np.int64))
