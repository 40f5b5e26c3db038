"""Champion-challenger: the decision rule and the recorded decisions."""

from __future__ import annotations

import pytest

from gnn.champion import ChampionPolicy, Decision, challenge, decide
from gnn.inference import GNN_SCORE, infer
from gnn.registry import ModelRegistry
from gnn.training import TrainConfig, train
from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import EntityNotFound, InvalidInput
from graph_service.model import NodeType

POLICY = ChampionPolicy(metric="pr_auc", margin=0.01)


def test_without_a_champion_the_challenger_wins() -> None:
    """No champion: promote."""
    assert decide({"pr_auc": 0.5}, None, POLICY) == (True, "no champion yet")


def test_the_challenger_must_beat_the_margin() -> None:
    """Better by at least the margin: promote; better by less, or worse: keep."""
    assert decide({"pr_auc": 0.92}, {"pr_auc": 0.90}, POLICY)[0]
    assert not decide({"pr_auc": 0.905}, {"pr_auc": 0.90}, POLICY)[0]
    assert not decide({"pr_auc": 0.80}, {"pr_auc": 0.90}, POLICY)[0]
    roc = ChampionPolicy(metric="roc_auc", margin=0.0)
    assert decide({"roc_auc": 0.9, "pr_auc": 0.1}, {"roc_auc": 0.9, "pr_auc": 0.9}, roc)[0]


def test_bad_policies_and_metrics_are_refused() -> None:
    """An unknown metric, a margin out of range, or a challenger without the metric."""
    with pytest.raises(InvalidInput):
        ChampionPolicy(metric="accuracy")
    with pytest.raises(InvalidInput):
        ChampionPolicy(margin=1.5)
    with pytest.raises(InvalidInput):
        decide({"roc_auc": 0.9}, None, POLICY)


def test_train_challenge_promote_and_infer(
    store: EmbeddedStore, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """On a generated scenario: the first model is promoted (no champion); a second one
    is scored in shadow on the same held-out labels and, with a margin it cannot reach,
    kept; both decisions are recorded; inference writes gnn_score for every account with
    the champion's version; a forced promotion is recorded as manual."""
    registry = ModelRegistry(tmp_path_factory.mktemp("registry"))
    with pytest.raises(EntityNotFound):
        infer(store, registry)
    config = TrainConfig(hidden=16, max_epochs=3, batch_size=64, threads=1)
    first_run = train(store, config)
    first = registry.register(first_run).version
    decision = challenge(store, registry, first, run=first_run)
    assert decision.promoted and decision.champion is None
    assert registry.champion() == first
    second = registry.register(
        train(store, TrainConfig(hidden=16, max_epochs=2, batch_size=64, threads=1, seed=7))
    ).version
    kept = challenge(store, registry, second, policy=ChampionPolicy(margin=0.99))
    assert not kept.promoted and kept.champion == first
    assert kept.challenger_metrics is not None and kept.champion_metrics is not None
    assert kept.challenger_metrics["n"] == kept.champion_metrics["n"] > 0
    assert registry.champion() == first
    result = infer(store, registry)
    accounts = store.counts().nodes
    scores = store.read_scores(GNN_SCORE)
    assert scores.num_rows == accounts[NodeType.ACCOUNT] == result.ids.shape[0]
    assert set(scores.column("version").to_pylist()) == {first}
    assert (
        0.0
        <= min(scores.column("value").to_pylist())
        <= max(scores.column("value").to_pylist())
        <= 1.0
    )
    forced = challenge(store, registry, second, force=True)
    assert forced.promoted and forced.manual
    log = registry.records("decisions")
    assert [d["promoted"] for d in log] == [True, False, True]
    assert Decision(**log[1]).champion == first
    with pytest.raises(InvalidInput):
        challenge(store, registry, second)


def test_fraud_only_labels_train_challenge_and_infer(
    fraud_only_store: EmbeddedStore, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A store with fraud labels only: training is positive-unlabelled and says so in the
    manifest; champion-challenger rebuilds the same split from the store and scores both
    models on the same held-out fraud labels and unlabelled accounts (lower bounds);
    inference writes gnn_score with the champion."""
    registry = ModelRegistry(tmp_path_factory.mktemp("registry-pu"))
    config = TrainConfig(hidden=16, max_epochs=3, batch_size=64, threads=1)
    first = registry.register(train(fraud_only_store, config))
    assert first.label_mode == "positive_unlabelled"
    assert first.metrics["test"]["lower_bound"] and first.metrics["test"]["unlabelled"] > 0
    assert challenge(fraud_only_store, registry, first.version).promoted
    second = registry.register(
        train(fraud_only_store, TrainConfig(hidden=16, max_epochs=2, batch_size=64, seed=7))
    ).version
    kept = challenge(fraud_only_store, registry, second, policy=ChampionPolicy(margin=0.99))
    assert kept.challenger_metrics is not None and kept.champion_metrics is not None
    assert kept.challenger_metrics["lower_bound"] and kept.champion_metrics["lower_bound"]
    for figure in ("n", "fraud", "unlabelled"):
        assert kept.challenger_metrics[figure] == kept.champion_metrics[figure] > 0
    result = infer(fraud_only_store, registry)
    assert result.version == first.version
    assert fraud_only_store.read_scores(GNN_SCORE).num_rows == result.ids.shape[0]
