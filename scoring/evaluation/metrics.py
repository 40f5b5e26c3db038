"""Ranking figures of account scores: ROC-AUC and average precision."""

from __future__ import annotations

import numpy as np

from graph_service.typing import F64, BoolArray

__all__ = ["average_precision", "ranking_figures", "roc_auc"]


def roc_auc(labels: BoolArray, scores: F64) -> float | None:
    """Area under the ROC curve, ties counted half (Mann-Whitney U).

    Parameters
    ----------
    labels : ndarray of bool, shape (n,)
        True for positives.
    scores : ndarray of float64, shape (n,)
        Higher means more likely positive.

    Returns
    -------
    float or None
        ``P(score of a random positive > score of a random negative)`` plus half the
        probability of a tie; ``None`` when either class is empty.

    Examples
    --------
    >>> roc_auc(np.array([True, False, True]), np.array([0.9, 0.5, 0.5]))
    0.75

    Notes
    -----
    O(n log n): one sort of the negatives, a binary search per positive. Equal to
    ``sklearn.metrics.roc_auc_score``.
    """
    positives, negatives = _split(labels, scores)
    return ranking_figures(positives, np.sort(negatives))[0]


def average_precision(labels: BoolArray, scores: F64) -> float | None:
    """Average precision: the step-wise area under the precision-recall curve.

    Parameters
    ----------
    labels : ndarray of bool, shape (n,)
        True for positives.
    scores : ndarray of float64, shape (n,)
        Higher means more likely positive; equal scores form one threshold.

    Returns
    -------
    float or None
        ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds, highest first;
        ``None`` when there is no positive.

    Examples
    --------
    >>> round(average_precision(np.array([True, False, True]), np.array([0.9, 0.8, 0.1])), 4)
    0.8333

    Notes
    -----
    O(n log n): sorts and binary searches. Equal to
    ``sklearn.metrics.average_precision_score``.
    """
    positives, negatives = _split(labels, scores)
    return ranking_figures(positives, np.sort(negatives))[1]


def _split(labels: BoolArray, scores: F64) -> tuple[F64, F64]:
    labels = np.asarray(labels, np.bool_)
    scores = np.asarray(scores, np.float64)
    return scores[labels], scores[~labels]


def ranking_figures(positives: F64, sorted_negatives: F64) -> tuple[float | None, float | None]:
    """(ROC-AUC, average precision) of positive scores against sorted negative scores.

    Each positive at score s contributes ``#neg < s + #neg == s / 2`` to the Mann-Whitney
    count, and ``1/P`` times the precision at threshold s, ``TP(>= s) / (TP(>= s) + FP(>=
    s))``, to the average precision (thresholds without a positive add no recall).
    """
    n_pos, n_neg = positives.size, sorted_negatives.size
    if n_pos == 0:
        return None, None
    below = np.searchsorted(sorted_negatives, positives, side="left")
    not_above = np.searchsorted(sorted_negatives, positives, side="right")
    roc = None
    if n_neg:
        roc = float((below + 0.5 * (not_above - below)).sum() / (float(n_pos) * n_neg))
    sorted_positives = np.sort(positives)
    true_at_or_above = n_pos - np.searchsorted(sorted_positives, positives, side="left")
    false_at_or_above = n_neg - below
    precision = true_at_or_above / (true_at_or_above + false_at_or_above)
    return roc, float(precision.mean())
