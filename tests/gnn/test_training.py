"""Training: a model learns a planted signal; configurations are checked."""

from __future__ import annotations

import pytest

from gnn.models import ModelKind
from gnn.training import TrainConfig, train_on_tables
from graph_service.errors import InvalidInput
from tests.gnn.graphs import planted_graph


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


@pytest.mark.parametrize(
    "options",
    [{"fanout": (5,)}, {"dropout": 1.0}, {"device": "tpu"}, {"hidden": 0}],
)
def test_bad_configurations_are_refused(options: dict[str, object]) -> None:
    """Each invalid option raises InvalidInput."""
    with pytest.raises(InvalidInput):
        TrainConfig(**options)  # type: ignore[arg-type]
