"""GNN test fixtures: a small generated scenario in an embedded store, and Neo4j."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph_service.embedded.store import EmbeddedStore
from ingestion.loader import Ingestor
from ingestion.synthetic import ScenarioConfig, ScenarioSummary, generate_scenario
from tests.graph_service.conftest import _stop_shared_neo4j, neo4j_server, neo4j_store

__all__ = ["_stop_shared_neo4j", "neo4j_server", "neo4j_store"]


def ingest(store: Any, scenario: ScenarioSummary, work: Path) -> None:
    """Load the scenario's events and labels into ``store``."""
    ingestor = Ingestor(store, quarantine_dir=work / "quarantine")
    try:
        ingestor.run([scenario.events_path, scenario.labels_path])
    finally:
        ingestor.close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioSummary:
    """A 1,500-account scenario with enough labels of both classes for a time split."""
    out = tmp_path_factory.mktemp("gnn-scenario")
    config = ScenarioConfig(accounts=1_500, seed=23, label_fraction=0.6, legit_label_fraction=0.05)
    return generate_scenario(config, out)


@pytest.fixture(scope="module")
def fraud_only_store(
    scenario: ScenarioSummary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedStore]:
    """The scenario's events and only its fraud labels, as a bank has them."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    work = tmp_path_factory.mktemp("gnn-fraud-only")
    labels = pacsv.read_csv(scenario.labels_path)
    fraud_labels = work / "fraud-labels.csv"
    pacsv.write_csv(labels.filter(pc.equal(labels.column("label"), "fraud")), fraud_labels)
    embedded = EmbeddedStore(work / "store", memory_limit="1GB", threads=2)
    ingestor = Ingestor(embedded, quarantine_dir=work / "quarantine")
    try:
        ingestor.run([scenario.events_path, fraud_labels])
    finally:
        ingestor.close()
    yield embedded
    embedded.close()


@pytest.fixture(scope="module")
def store(
    scenario: ScenarioSummary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedStore]:
    """The scenario ingested into an embedded store."""
    work = tmp_path_factory.mktemp("gnn-store")
    embedded = EmbeddedStore(work / "store", memory_limit="1GB", threads=2)
    ingest(embedded, scenario, work)
    yield embedded
    embedded.close()
