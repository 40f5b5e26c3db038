"""The fraudgraph gnn commands: train, infer, evaluate, promote; JSON and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fraudgraph.test_cli import fraudgraph


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 10,000-account scenario (enough labels to split) in an embedded store."""
    root = tmp_path_factory.mktemp("gnn-cli")
    scenario, store = root / "scenario", root / "store"
    generated = fraudgraph(
        "generate", "--accounts", "10000", "--seed", "11", "--out", str(scenario)
    )
    assert generated.returncode == 0, generated.stderr
    ingested = fraudgraph(
        "ingest", str(scenario / "events"), str(scenario / "labels.csv"), "--store", str(store)
    )
    assert ingested.returncode == 0, ingested.stderr
    return store


def _one_line_error(result: object, code: int, message: str) -> None:
    assert result.returncode == code  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    assert message in lines[0]


def test_infer_before_training_fails_with_one_line(ingested: Path) -> None:
    """Without a champion, infer exits 2 with one line saying to train first."""
    result = fraudgraph("gnn", "infer", "--store", str(ingested), "--json")
    _one_line_error(result, 2, "no champion")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--model", "gat"], "--model must be one of"),
        (["train", "--device", "tpu"], "device must be cpu or cuda"),
        (["train", "--label-mode", "some"], "--label-mode must be one of"),
        (["train", "--pu-method", "spy"], "--pu-method must be one of"),
        (["promote", "--version", "../x"], "is not a model version"),
        (["promote", "--metric", "accuracy"], "metric must be"),
    ],
)
def test_bad_input_exits_2_with_one_line(ingested: Path, args: list[str], message: str) -> None:
    """Each rejected input gives exit code 2 and one line on stderr."""
    result = fraudgraph("gnn", *args, "--store", str(ingested), "--json")
    _one_line_error(result, 2, message)


def test_train_without_fraud_labels_fails_with_one_line_naming_the_counts(
    ingested: Path,
) -> None:
    """A store with events and no labels: train exits 2 with one line giving the counts."""
    events_only = ingested.parent / "store-events-only"
    loaded = fraudgraph(
        "ingest", str(ingested.parent / "scenario" / "events"), "--store", str(events_only)
    )
    assert loaded.returncode == 0, loaded.stderr
    result = fraudgraph("gnn", "train", "--store", str(events_only), "--json")
    _one_line_error(
        result, 2, "too few fraud labels to train: 0 fraud (train 0, validation 0, test 0)"
    )


def test_train_infer_evaluate_promote(ingested: Path) -> None:
    """train registers and promotes the first model and reports the comparison; infer
    writes gnn_score with the champion; evaluate lists the model, the decision and the
    drift record; promoting the champion again is refused with one line."""
    trained = fraudgraph(
        "gnn",
        "train",
        "--store",
        str(ingested),
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--threads",
        "1",
        "--json",
    )
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)
    assert result["decision"]["promoted"] and result["champion"] == result["version"]
    assert set(result["comparison"]) == {"gnn", "features_gb", "embeddings_gb"}
    assert result["metrics"]["test"]["n"] > 0
    inferred = fraudgraph("gnn", "infer", "--store", str(ingested), "--threads", "1", "--json")
    assert inferred.returncode == 0, inferred.stderr
    summary = json.loads(inferred.stdout)
    assert summary["version"] == result["version"] and summary["accounts"] == 10000
    assert summary["psi"] is None
    evaluated = fraudgraph("gnn", "evaluate", "--store", str(ingested), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["champion"] == result["version"]
    assert [m["version"] for m in report["models"]] == [result["version"]]
    assert report["models"][0]["label_mode"] == "supervised"
    assert len(report["decisions"]) == 1 and len(report["drift"]) == 1
    again = fraudgraph("gnn", "promote", "--store", str(ingested), "--json")
    _one_line_error(again, 2, "already the champion")
