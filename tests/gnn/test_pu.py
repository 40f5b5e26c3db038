"""Positive-unlabelled losses and figures: known answers, the non-negative correction,
the lower-bound property."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from gnn.labels import ExampleKind
from gnn.pu import nnpu_loss, pu_metrics, weighted_example_loss

P, U, L = ExampleKind.FRAUD, ExampleKind.UNLABELLED, ExampleKind.LEGIT


def test_nnpu_risk_at_zero_logits_is_log_two() -> None:
    """With every logit 0 each loss term is log 2, and so is the balanced risk."""
    loss = nnpu_loss(0.1, 2.0)
    kind = torch.tensor([P, P, U, U, U])
    assert float(loss(torch.zeros(5), kind)) == pytest.approx(math.log(2))


def test_nnpu_climbs_back_when_the_negative_risk_goes_below_zero() -> None:
    """Fraud labels scored as confident fraud and unlabelled accounts as confident legit
    drive the unlabelled-minus-prior-times-positive term below zero (the model has
    memorised its negatives); the loss is then minus that term, so a descent step raises
    the unlabelled logits (Kiryo et al.'s correction)."""
    prior = 0.4
    loss = nnpu_loss(prior, 2.0)
    logits = torch.tensor([8.0, 8.0, -8.0, -8.0], requires_grad=True)
    kind = torch.tensor([P, P, U, U])
    value = loss(logits, kind)
    softplus = torch.nn.functional.softplus
    with torch.no_grad():
        negative_pu = float(softplus(logits[2:]).mean() - prior * softplus(logits[:2]).mean())
    assert negative_pu < 0
    assert float(value.detach()) == pytest.approx(-negative_pu)
    value.backward()  # type: ignore[no-untyped-call]
    assert logits.grad is not None
    assert bool(torch.all(logits.grad[:2] > 0)) and bool(torch.all(logits.grad[2:] < 0))


def test_legit_labels_are_weighted_negatives() -> None:
    """Without unlabelled examples the negative risk is the legit examples' mean loss;
    beside unlabelled ones, a legit example weighs ``legit_weight`` of them."""
    softplus = torch.nn.functional.softplus
    logits = torch.tensor([1.0, -1.0, 0.5, 2.0])
    only_legit = nnpu_loss(0.01, 3.0)(logits[:3], torch.tensor([P, L, L]))
    expected = 0.5 * float(softplus(-logits[0])) + 0.5 * float(softplus(logits[1:3]).mean())
    assert float(only_legit) == pytest.approx(expected)
    seen: list[torch.Tensor] = []

    def base(z: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        seen.extend([y, weight])
        return (weight * z).sum()

    weighted_example_loss(base, 3.0)(logits, torch.tensor([P, L, U, U]))
    assert seen[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert seen[1].tolist() == [1.0, 3.0, 1.0, 1.0]


def test_pu_metrics_known_answers() -> None:
    """Two fraud labels against four unlabelled accounts: 7 of 8 pairs ordered right,
    one fraud label in the top 2, one above the unlabelled 99th percentile."""
    kind = np.array([P, P, U, U, U, U])
    figures = pu_metrics(kind, np.array([0.9, 0.2, 0.8, 0.1, 0.1, 0.1]))
    assert figures["roc_auc"] == pytest.approx(7 / 8)
    assert figures["recall_at_k"] == 0.5
    assert figures["recall_top_1pct"] == 0.5
    assert (figures["n"], figures["fraud"], figures["unlabelled"], figures["legit"]) == (6, 2, 4, 0)
    assert figures["lower_bound"] is True
    empty = pu_metrics(np.array([U, U]), np.array([0.1, 0.2]))
    assert math.isnan(empty["roc_auc"]) and math.isnan(empty["recall_at_k"])


def test_pu_figures_are_lower_bounds_of_the_true_ones() -> None:
    """Hidden frauds among the unlabelled accounts only lower ROC-AUC and PR-AUC: the
    figures against unlabelled accounts stay below those against the true negatives."""
    rng = np.random.default_rng(0)
    frauds, legit = rng.normal(2.0, 1.0, 600), rng.normal(0.0, 1.0, 20_000)
    labelled = rng.random(600) < 0.3
    scores = np.concatenate([frauds[labelled], frauds[~labelled], legit])
    kind = np.concatenate(
        [np.full(labelled.sum(), P), np.full((~labelled).sum(), U), np.full(legit.size, U)]
    )
    pu = pu_metrics(kind, scores)
    n_p = int(labelled.sum())
    true_y = np.r_[np.ones(n_p), np.zeros(legit.size)]
    true_scores = np.r_[frauds[labelled], legit]
    assert pu["roc_auc"] < roc_auc_score(true_y, true_scores)
    assert pu["pr_auc"] < average_precision_score(true_y, true_scores)
