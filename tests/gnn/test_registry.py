"""The model registry: round trip, manifest contents, schema mismatch, bad versions."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pytest
import torch

from gnn.dataset import build_graph, feature_schema
from gnn.registry import ModelRegistry, ModelSchemaMismatch
from gnn.training import TrainConfig, TrainingRun, full_graph_scores, train_on_tables
from graph_service.errors import EntityNotFound, InvalidInput
from tests.gnn.graphs import fraud_only, planted_graph

CONFIG = TrainConfig(hidden=8, max_epochs=2, batch_size=16, threads=1)


@pytest.fixture(scope="module")
def run() -> TrainingRun:
    """A small trained model."""
    g = planted_graph(legit=80, rings=6)
    return train_on_tables(g.nodes, g.links, g.labels, CONFIG)


def test_a_registered_model_loads_and_scores_the_same(run: TrainingRun, tmp_path: Path) -> None:
    """Saving and loading keeps the weights: the loaded model gives the same scores; the
    manifest holds version, snapshot, schema, metrics, creation time and label counts."""
    registry = ModelRegistry(tmp_path)
    manifest = registry.register(run, extra_metrics={"comparison": {"x": 1}})
    assert registry.versions() == [manifest.version]
    loaded = registry.load(manifest.version)
    g = planted_graph(legit=80, rings=6)
    snapshot = build_graph(g.nodes, g.links)
    assert torch.allclose(
        torch.from_numpy(full_graph_scores(loaded, snapshot)),
        torch.from_numpy(full_graph_scores(run.model, snapshot)),
    )
    again = registry.manifest(manifest.version)
    assert again.snapshot == run.snapshot
    assert again.feature_schema == feature_schema()
    assert again.metrics["comparison"] == {"x": 1}
    assert again.labels["counts"] == run.split.counts()
    assert again.created_at.endswith("+00:00")
    seen = registry.labels_seen(manifest.version)
    assert seen.num_rows == run.split.labels.num_rows
    assert set(seen.column("split").to_pylist()) == {"train", "val", "test"}


def test_the_manifest_says_which_labels_trained_the_model(run: TrainingRun, tmp_path: Path) -> None:
    """A model trained with legit labels is ``supervised``; one trained on fraud labels
    only is ``positive_unlabelled``, counts its unlabelled negatives per part and keeps
    them, with their reference times, among the labels it saw; a manifest written before
    the label mode existed reads as supervised."""
    registry = ModelRegistry(tmp_path)
    supervised = registry.register(run)
    assert supervised.label_mode == "supervised"
    g = planted_graph(legit=80, rings=6)
    pu_run = train_on_tables(g.nodes, g.links, fraud_only(g.labels), CONFIG)
    pu = registry.register(pu_run)
    assert registry.manifest(pu.version).label_mode == "positive_unlabelled"
    counts = registry.manifest(pu.version).labels["counts"]
    assert all(counts[p]["unlabelled"] > 0 and counts[p]["legit"] == 0 for p in counts)
    assert registry.manifest(pu.version).labels["total"] == len(g.fraud)
    seen = registry.labels_seen(pu.version)
    unlabelled = seen.filter(pc.equal(seen.column("label"), "unlabelled"))
    assert unlabelled.num_rows == sum(counts[p]["unlabelled"] for p in counts)
    assert unlabelled.column("ts").null_count == 0
    path = tmp_path / supervised.version / "manifest.json"
    payload = json.loads(path.read_text())
    payload.pop("label_mode")
    path.write_text(json.dumps(payload))
    assert registry.manifest(supervised.version).label_mode == "supervised"


def test_a_schema_mismatch_is_a_clear_error(run: TrainingRun, tmp_path: Path) -> None:
    """Loading against a different feature schema raises ModelSchemaMismatch naming the
    node type."""
    registry = ModelRegistry(tmp_path)
    version = registry.register(run).version
    schema = feature_schema()
    schema["Account"] = [*schema["Account"], "new_feature"]
    with pytest.raises(ModelSchemaMismatch, match="Account"):
        registry.load(version, expected_schema=schema)


def test_unknown_and_malformed_versions(tmp_path: Path) -> None:
    """A well-formed unknown version is EntityNotFound; a malformed one InvalidInput."""
    registry = ModelRegistry(tmp_path)
    with pytest.raises(EntityNotFound):
        registry.load("gnn-sage-20260101T000000-00000000")
    with pytest.raises(InvalidInput):
        registry.manifest("../../etc")
    assert registry.champion() is None
    assert registry.versions() == []
