r"""Positive-unlabelled (PU) learning: losses and the figures that mean something without
negatives.

With fraud labels only, the negatives of training are unlabelled accounts
(:mod:`gnn.labels` draws them, each part its own, each read at a reference time drawn from
its part's fraud label times). Among them hide the frauds nobody has confirmed yet, so
"unlabelled" is not "legit". Two ways to learn from that are offered
(:class:`PUMethod`, ``TrainConfig.pu_method``); ``unlabelled_negative`` is the default.

``unlabelled_negative`` (default)
    The "non-traditional classifier" of Elkan & Noto, "Learning Classifiers from Only
    Positive and Unlabeled Data" (KDD 2008): fraud against unlabelled accounts as if they
    were legit, with the architecture's own class-imbalance loss (focal for ``h2sage``,
    class-weighted cross-entropy for ``sage``); legit labels, when there are any, are
    negatives weighing ``legit_weight`` unlabelled ones. When the labelled frauds are a
    random sample of all frauds, this learns
    :math:`P(\text{labelled} \mid x) = c \, P(\text{fraud} \mid x)` with the label
    frequency :math:`c = P(\text{labelled} \mid \text{fraud})` a constant, so it ranks
    accounts exactly as a fraud classifier would.

    Why this one: it needs no class prior (the share of *undetected* fraud is precisely
    what a bank does not know), it keeps the loss the architecture was tuned with, and the
    bias it leaves is small here: hidden frauds are about 1 % of the unlabelled sample
    (:math:`\pi (1 - c) / (1 - \pi c)` for a fraud rate :math:`\pi` near 1 % and
    :math:`c` near 0.3). On four development scenarios (20k accounts, fraud labels only,
    ``benchmarks/gnn.py --fraud-only``; ``benchmarks/results/gnn-pu-20k-dev-seeds.json``)
    it gave the better account ranking against the planted rings on three, and the
    better mean (ROC-AUC 0.935 against 0.915, PR-AUC 0.825 against 0.785) than ``nnpu``.

    Elkan & Noto then divide by an estimate of :math:`c` (the mean score of held-out
    positives) to turn the score into :math:`P(\text{fraud} \mid x)`. That is not done:
    the division changes no ranking, which is all ``gnn_score`` is used for, and trained
    with a class-balanced loss on a sample of the unlabelled accounts the score is not a
    calibrated :math:`P(\text{labelled} \mid x)`, so its mean over positives would not
    estimate :math:`c`.

``nnpu``
    The non-negative PU risk of Kiryo, Niu, du Plessis & Sugiyama, "Positive-Unlabeled
    Learning with Non-Negative Risk Estimator" (NeurIPS 2017), for when the class prior
    :math:`\pi = P(\text{fraud})` is known (``TrainConfig.class_prior``, 0.01). The
    negative-class risk is estimated from the unlabelled sample with the hidden positives'
    share taken out, and clipped at zero:

    .. math:: \hat R_n = \max\big(0,\ \hat E_U[\ell(g, -)] - \pi \hat E_P[\ell(g, -)]\big)
              / (1 - \pi)

    When a mini-batch drives the inner term below zero (the model has started to memorise
    unlabelled accounts as negatives) the step climbs that term back up instead (Kiryo's
    algorithm, :math:`\beta = 0`, :math:`\gamma = 1`). The two class risks weigh the
    same, :math:`\tfrac12 \hat E_P[\ell(g, +)] + \tfrac12 \hat R_n` (the class-balanced
    form of Su, Chen & Xu, "Positive-Unlabeled Learning from Imbalanced Data", IJCAI
    2021); :math:`\ell` is the logistic loss. Legit labels join the negative risk as true
    negatives, each weighing ``legit_weight`` unlabelled ones.

Evaluation without negatives (:func:`pu_metrics`): ROC-AUC and PR-AUC of the held-out
fraud labels against the held-out unlabelled accounts (and legit labels, if any). The
unlabelled accounts include unconfirmed frauds counted as mistakes, so when the labelled
frauds are a random sample of all frauds both are **lower bounds** of the true figures
(ROC-AUC is pulled towards 0.5 by the hidden-fraud share, precision is under-counted).
Recall of the held-out fraud labels at the top 1 % of accounts (the unlabelled sample
stands in for the population: the cut is its 99th score percentile) and at the top ``k``
of the scored examples (``k`` = the number of held-out fraud labels) say what an
investigator working down the list would find. Early stopping and champion-challenger use
the PR-AUC of this kind when the split is positive-unlabelled.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final

import numpy as np
import torch
from torch import Tensor

from gnn.labels import ExampleKind

#: Share of accounts an investigator is assumed to review for ``recall_top_1pct``.
TOP_SHARE: Final = 0.01

Loss = Callable[[Tensor, Tensor], Tensor]


class PUMethod(StrEnum):
    """How a model learns from fraud labels and unlabelled accounts."""

    UNLABELLED_NEGATIVE = "unlabelled_negative"
    NNPU = "nnpu"


def nnpu_loss(
    class_prior: float, legit_weight: float, *, beta: float = 0.0, gamma: float = 1.0
) -> Loss:
    """The class-balanced non-negative PU risk of a mini-batch.

    Parameters
    ----------
    class_prior : float
        :math:`\\pi`, the share of fraud among all accounts, in (0, 1).
    legit_weight : float
        Weight of a legit example relative to an unlabelled one in the negative risk.
    beta, gamma : float
        Kiryo et al.'s tolerance and step scale of the non-negativity correction.

    Returns
    -------
    callable
        ``loss(logits, kind)`` with ``logits`` (float, ``(b,)``) and ``kind``
        (:class:`~gnn.labels.ExampleKind` codes, ``(b,)``) -> scalar.

    Notes
    -----
    O(b) per batch. A batch without fraud labels contributes its negative risk only.
    """
    prior = float(class_prior)
    softplus = torch.nn.functional.softplus

    def risk(logits: Tensor, kind: Tensor) -> Tensor:
        positive = kind == ExampleKind.FRAUD
        unlabelled = kind == ExampleKind.UNLABELLED
        legit = kind == ExampleKind.LEGIT
        n_p, n_u, n_l = int(positive.sum()), int(unlabelled.sum()), int(legit.sum())
        positive_risk = softplus(-logits[positive]).sum() / max(n_p, 1)
        positive_as_negative = softplus(logits[positive]).sum() / max(n_p, 1)
        negative_pu = softplus(logits[unlabelled]).sum() / max(n_u, 1) - prior * (
            positive_as_negative if n_u else 0.0
        )
        if n_u and float(negative_pu.detach()) < -beta:
            return -gamma * negative_pu
        weight = n_u + legit_weight * n_l
        negative = (
            n_u * negative_pu / (1.0 - prior) + legit_weight * softplus(logits[legit]).sum()
        ) / max(weight, 1e-12)
        return 0.5 * positive_risk + 0.5 * negative

    return risk


def weighted_example_loss(
    base: Callable[[Tensor, Tensor, Tensor], Tensor], legit_weight: float
) -> Loss:
    """``base(logits, y, weight)`` with fraud = 1 and legit / unlabelled = 0, legit
    examples weighing ``legit_weight`` (Elkan & Noto's unlabelled-as-negative step)."""

    def loss(logits: Tensor, kind: Tensor) -> Tensor:
        y = (kind == ExampleKind.FRAUD).to(logits.dtype)
        weight = torch.where(
            kind == ExampleKind.LEGIT,
            torch.full_like(logits, legit_weight),
            torch.ones_like(logits),
        )
        return base(logits, y, weight)

    return loss


def pu_metrics(kind: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Held-out figures of fraud labels against unlabelled accounts (lower bounds).

    Parameters
    ----------
    kind : ndarray of int
        :class:`~gnn.labels.ExampleKind` of every example of the part.
    scores : ndarray of float
        Fraud score of every example, same order.

    Returns
    -------
    dict
        ``roc_auc``, ``pr_auc`` (fraud against every other example: lower bounds),
        ``recall_top_1pct`` (share of fraud labels scoring above the 99th percentile of
        the unlabelled accounts' scores; NaN without unlabelled examples),
        ``recall_at_k`` (share of fraud labels among the ``k`` best-scored examples,
        ``k`` = fraud labels), ``n``, ``fraud``, ``legit``, ``unlabelled`` and
        ``lower_bound`` (True).

    Notes
    -----
    O(n log n).

    Examples
    --------
    >>> kind = np.array([1, 1, 2, 2, 2, 2])
    >>> pu_metrics(kind, np.array([0.9, 0.2, 0.8, 0.1, 0.1, 0.1]))["recall_at_k"]
    0.5
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    kind = np.asarray(kind)
    scores = np.asarray(scores, np.float64)
    positive = kind == ExampleKind.FRAUD
    unlabelled = kind == ExampleKind.UNLABELLED
    n_p = int(positive.sum())
    both = 0 < n_p < kind.shape[0]
    recall_top = float("nan")
    if unlabelled.any() and n_p:
        cut = float(np.quantile(scores[unlabelled], 1.0 - TOP_SHARE))
        recall_top = round(float(np.mean(scores[positive] > cut)), 5)
    recall_k = float("nan")
    if n_p:
        best = np.argsort(-scores, kind="stable")[:n_p]
        recall_k = round(float(positive[best].mean()), 5)
    return {
        "roc_auc": round(float(roc_auc_score(positive, scores)), 5) if both else float("nan"),
        "pr_auc": round(float(average_precision_score(positive, scores)), 5)
        if both
        else float("nan"),
        "recall_top_1pct": recall_top,
        "recall_at_k": recall_k,
        "n": int(kind.shape[0]),
        "fraud": n_p,
        "legit": int(np.sum(kind == ExampleKind.LEGIT)),
        "unlabelled": int(unlabelled.sum()),
        "lower_bound": True,
    }
