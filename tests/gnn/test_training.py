"""Training: a model learns a planted signal; configurations are checked."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from gnn.dataset import build_graph
from gnn.labels import ExampleKind, LabelMode, SplitConfig
from gnn.models import ModelKind
from gnn.pu import PUMethod
from gnn.training import TrainConfig, full_graph_scores, train_on_tables
from graph_service.errors import InvalidInput
from tests.gnn.graphs import fraud_only, planted_graph


@pytest.mark.parametrize("kind", list(ModelKind))
def test_a_model_learns_the_planted_rings(kind: ModelKind) -> None:
    """On a tiny graph whose fraud rings share an emulator and a phone, both models rank
    the held-out (newest) fraud labels above the legit ones."""
    g = planted_graph()
    config = TrainConfig(
        model=kind,
        hidden=16,
        max_epochs=20,
        patience=20,
        batch_size=16,
        threads=1,
        learning_rate=0.01,
    )
    run = train_on_tables(g.nodes, g.links, g.labels, config)
    assert run.metrics["test"]["roc_auc"] >= 0.9
    assert run.metrics["test"]["fraud"] > 0
    assert 1 <= run.metrics["epochs"] <= 20
    assert run.snapshot.startswith("snap-")


def test_training_is_deterministic() -> None:
    """The same tables and configuration give the same validation history."""
    g = planted_graph(legit=80, rings=6)
    config = TrainConfig(hidden=8, max_epochs=3, batch_size=16, threads=1)
    first = train_on_tables(g.nodes, g.links, g.labels, config)
    again = train_on_tables(g.nodes, g.links, g.labels, config)
    assert first.metrics["history"] == again.metrics["history"]


@pytest.mark.parametrize("method", list(PUMethod))
def test_fraud_only_labels_train_positive_unlabelled(method: PUMethod) -> None:
    """With fraud labels only, training draws unlabelled negatives and ranks the held-out
    (newest) fraud labels above the held-out unlabelled accounts, and above the accounts
    no part used, on the present graph; the figures say they are lower bounds."""
    g = planted_graph()
    config = TrainConfig(
        hidden=16,
        max_epochs=20,
        patience=20,
        batch_size=16,
        threads=1,
        learning_rate=0.01,
        pu_method=method,
    )
    run = train_on_tables(g.nodes, g.links, fraud_only(g.labels), config)
    assert run.split.mode == LabelMode.POSITIVE_UNLABELLED
    assert run.metrics["label_mode"] == "positive_unlabelled"
    test = run.metrics["test"]
    assert test["lower_bound"] and test["legit"] == 0 and test["unlabelled"] > 0
    assert test["roc_auc"] >= 0.9 and test["recall_at_k"] >= 0.5
    assert set(run.metrics["val"]) == set(test)
    scores = full_graph_scores(run.model, build_graph(g.nodes, g.links))
    ids = build_graph(g.nodes, g.links).store_ids["Account"]
    held_out = run.split.test_ids[run.split.test_kind == ExampleKind.FRAUD]
    used = np.concatenate([run.split.train_ids, run.split.val_ids, run.split.test_ids])
    never = ~np.isin(ids, used) & ~np.isin(ids, g.fraud)
    positive = np.isin(ids, held_out)
    assert never.sum() > 0
    assert roc_auc_score(positive[positive | never], scores[positive | never]) >= 0.9


@pytest.mark.parametrize(
    "options",
    [
        {"fanout": (5,)},
        {"dropout": 1.0},
        {"device": "tpu"},
        {"hidden": 0},
        {"class_prior": 0.0},
        {"class_prior": 1.0},
        {"legit_weight": 0.0},
    ],
)
def test_bad_configurations_are_refused(options: dict[str, object]) -> None:
    """Each invalid option raises InvalidInput."""
    with pytest.raises(InvalidInput):
        TrainConfig(**options)  # type: ignore[arg-type]


def test_a_configuration_survives_its_manifest_form() -> None:
    """as_dict -> from_dict gives the same configuration, enums included; a manifest saved
    before the positive-unlabelled options existed loads with their defaults."""
    config = TrainConfig(
        model=ModelKind.SAGE,
        pu_method=PUMethod.NNPU,
        class_prior=0.02,
        split=SplitConfig(label_mode=LabelMode.POSITIVE_UNLABELLED, min_fraud=9),
    )
    assert TrainConfig.from_dict(config.as_dict()) == config
    old = TrainConfig().as_dict()
    for name in ("pu_method", "class_prior", "legit_weight"):
        old.pop(name)
    for name in ("label_mode", "min_fraud", "unlabelled_per_positive", "seed"):
        old["split"].pop(name)
    assert TrainConfig.from_dict(old) == TrainConfig()
