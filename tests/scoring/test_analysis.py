"""``analyse`` end to end on a small generated scenario, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from graph_service.embedded.store import EmbeddedStore
from graph_service.model import NodeType
from ingestion.loader import Ingestor
from ingestion.synthetic import ScenarioConfig, ScenarioSummary, generate_scenario
from scoring.analysis import ENTITY_RISK_SCHEMA, TYPOLOGIES, AnalysisConfig, analyse
from scoring.model import LabelMode
from tests.conftest import GOOD_EVENTS, FileWriter

CONFIG = AnalysisConfig(write_scores=False)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioSummary:
    """A 3,000-account scenario with planted rings and enough labels to train on."""
    out = tmp_path_factory.mktemp("scenario")
    config = ScenarioConfig(accounts=3_000, seed=11, label_fraction=0.5, legit_label_fraction=0.03)
    return generate_scenario(config, out)


def _ingest(store: Any, scenario: ScenarioSummary, work: Path) -> None:
    ingestor = Ingestor(store, quarantine_dir=work / "quarantine")
    try:
        ingestor.run([scenario.events_path, scenario.labels_path])
    finally:
        ingestor.close()


@pytest.fixture(scope="module")
def store(
    scenario: ScenarioSummary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedStore]:
    """The scenario ingested into an embedded store."""
    work = tmp_path_factory.mktemp("store")
    embedded = EmbeddedStore(work / "store", memory_limit="1GB", threads=2)
    _ingest(embedded, scenario, work)
    yield embedded
    embedded.close()


def _truth(store: Any, scenario: ScenarioSummary) -> dict[str, set[int]]:
    rows = pacsv.read_csv(scenario.truth_path).to_pylist()
    nodes = store.export_nodes()
    ids = dict(zip(nodes.column("key").to_pylist(), nodes.column("id").to_pylist(), strict=True))
    rings: dict[str, set[int]] = {}
    for row in rows:
        rings.setdefault(row["ring_id"], set()).add(ids[row["account_id"]])
    return rings


def test_result_tables_have_the_documented_columns(store: EmbeddedStore) -> None:
    """entity_risk, ring_candidates and super_nodes carry the columns consumers rely on."""
    result = analyse(store, CONFIG)
    assert result.entity_risk.schema == ENTITY_RISK_SCHEMA
    assert result.entity_risk.num_rows == store.counts().nodes[NodeType.ACCOUNT]
    risk = result.entity_risk.column("risk").to_numpy()
    assert ((risk >= 0) & (risk <= 1)).all()
    rings = result.ring_candidates
    for name in (
        "candidate",
        "members",
        "score",
        "reasons",
        "typology",
        "evidence",
        "size",
        "density",
        "known_fraud_fraction",
        "mean_member_risk",
    ):
        assert name in rings.column_names, name
    assert rings.schema.field("members").type == pa.list_(pa.int64())
    scores = rings.column("score").to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert (np.diff(scores) <= 0).all()
    for members in rings.column("members").to_pylist():
        assert len(members) >= 2 and members == sorted(members)
    assert set(rings.column("typology").to_pylist()) <= set(TYPOLOGIES)
    assert result.super_nodes.column_names == ["id", "type", "key", "share_count"]
    assert set(result.timings) == {"projection", "signals", "features", "model", "rings", "write"}
    assert result.model is not None and result.version.startswith(result.model.version)


def test_planted_rings_are_found_and_ranked_first(
    store: EmbeddedStore, scenario: ScenarioSummary
) -> None:
    """Most planted rings match a top candidate with Jaccard >= 0.5; their members outrank others."""
    result = analyse(store, CONFIG)
    rings = _truth(store, scenario)
    top = [
        set(m)
        for m, s in zip(
            result.ring_candidates.column("members").to_pylist(),
            result.ring_candidates.column("score").to_pylist(),
            strict=True,
        )
        if s >= 0.5
    ]
    found = sum(any(len(r & c) / len(r | c) >= 0.5 for c in top) for r in rings.values())
    assert found >= 0.75 * len(rings)
    ids = result.entity_risk.column("id").to_numpy()
    risk = result.entity_risk.column("risk").to_numpy()
    members = np.isin(ids, list(set().union(*rings.values())))
    assert np.median(risk[members]) > np.quantile(risk[~members], 0.95)


def test_reruns_give_the_same_communities_and_scores(store: EmbeddedStore) -> None:
    """Same store, same config: identical candidates and risks."""
    first, second = analyse(store, CONFIG), analyse(store, CONFIG)
    assert first.ring_candidates.select(["candidate", "members", "score"]).equals(
        second.ring_candidates.select(["candidate", "members", "score"])
    )
    assert first.entity_risk.equals(second.entity_risk)
    assert first.version == second.version


def test_scores_are_written_back(store: EmbeddedStore) -> None:
    """entity_risk, ring_score, pagerank, seeded_pagerank and community land in the store."""
    result = analyse(store, AnalysisConfig())
    for name in ("entity_risk", "ring_score", "pagerank", "seeded_pagerank", "community"):
        table = store.read_scores(name)
        assert table.num_rows == result.entity_risk.num_rows, name
        assert set(table.column("version").to_pylist()) == {result.version}
    written = store.read_scores("entity_risk").sort_by("entity_id").column("value").to_numpy()
    assert written == pytest.approx(result.entity_risk.column("risk").to_numpy())


def test_with_a_handful_of_fraud_labels_accounts_are_scored_by_evidence(
    store: EmbeddedStore,
) -> None:
    """Fewer fraud labels than the model needs: no model, the label mode says so, and the
    risks (in [0, 1], with reasons) come from the evidence channels."""
    result = analyse(store, AnalysisConfig(write_scores=False, min_fraud_labels=10_000))
    assert result.model is None and result.label_mode is LabelMode.FEW_LABELS
    assert result.version.startswith("few_labels")
    risk = result.entity_risk.column("risk").to_numpy()
    assert ((risk >= 0) & (risk <= 1)).all()
    assert any(result.entity_risk.column("reasons").to_pylist())
    assert "evidence" in result.account_features.column_names


def test_labels_decide_the_mode(store: EmbeddedStore) -> None:
    """Fraud and legit labels above the minimums: supervised; without enough legit
    labels: positive-unlabelled. Both train a model."""
    supervised = analyse(store, CONFIG)
    assert supervised.label_mode is LabelMode.SUPERVISED and supervised.model is not None
    pu = analyse(store, AnalysisConfig(write_scores=False, min_labels_per_class=10_000))
    assert pu.label_mode is LabelMode.POSITIVE_UNLABELLED and pu.model is not None
    assert pu.model.metrics["negatives"] > 0


def test_a_model_that_calls_too_much_of_the_book_fraud_is_not_used(
    store: EmbeddedStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A positive-unlabelled model whose label frequency implies more fraud than
    ``max_implied_prevalence`` is dropped: the analysis runs as with too few labels and
    logs why. On the planted scenario the model is sane and kept at the default cap."""
    from scoring.analysis import implied_prevalence

    pu_config = AnalysisConfig(write_scores=False, min_labels_per_class=10_000)
    pu = analyse(store, pu_config)
    assert pu.label_mode is LabelMode.POSITIVE_UNLABELLED and pu.model is not None
    fraud = int(pu.account_features.column("known_fraud").to_numpy(zero_copy_only=False).sum())
    implied = implied_prevalence(fraud, pu.model, pu.entity_risk.num_rows)
    assert 0 < implied <= pu_config.max_implied_prevalence
    capped = AnalysisConfig(
        write_scores=False, min_labels_per_class=10_000, max_implied_prevalence=implied / 2
    )
    with caplog.at_level("WARNING", logger="scoring.analysis"):
        fallen = analyse(store, capped)
    assert fallen.label_mode is LabelMode.FEW_LABELS
    assert fallen.version != pu.version
    assert any("implies too much fraud" in r.getMessage() for r in caplog.records)


def test_without_labels_rings_are_still_found(
    scenario: ScenarioSummary, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No label at all: the analysis runs unsupervised, the members of the rings beyond
    doubt train the model (without that, there is no model), and it still flags planted
    rings, every flagged ring carrying evidence reasons."""
    work = tmp_path_factory.mktemp("unlabelled")
    embedded = EmbeddedStore(work / "store", memory_limit="1GB", threads=2)
    try:
        ingestor = Ingestor(embedded, quarantine_dir=work / "quarantine")
        try:
            ingestor.run([scenario.events_path])
        finally:
            ingestor.close()
        plain = analyse(embedded, AnalysisConfig(write_scores=False, self_training=False))
        assert plain.model is None and plain.label_mode is LabelMode.UNSUPERVISED
        result = analyse(embedded, CONFIG)
        assert result.label_mode is LabelMode.UNSUPERVISED
        assert result.model is not None and result.model.metrics["negatives"] == 0
        rings = _truth(embedded, scenario)
        flagged = [
            (set(m), reasons)
            for m, s, reasons in zip(
                result.ring_candidates.column("members").to_pylist(),
                result.ring_candidates.column("score").to_pylist(),
                result.ring_candidates.column("reasons").to_pylist(),
                strict=True,
            )
            if s >= 0.5
        ]
        found = sum(any(len(r & c) / len(r | c) >= 0.5 for c, _ in flagged) for r in rings.values())
        assert found >= 0.6 * len(rings)
        assert all(any("_OF_" in reason for reason in reasons) for _, reasons in flagged)
    finally:
        embedded.close()


def test_a_saved_model_scores_a_later_run(store: EmbeddedStore, tmp_path: Path) -> None:
    """analyse with model_path uses the saved model and reports its version."""
    first = analyse(store, CONFIG)
    assert first.model is not None
    path = tmp_path / "model.pkl"
    first.model.save(path)
    again = analyse(store, AnalysisConfig(write_scores=False, model_path=path))
    assert again.model is not None and again.model.version == first.model.version


@pytest.mark.neo4j
def test_both_backends_give_the_same_candidates(
    store: EmbeddedStore, scenario: ScenarioSummary, neo4j_store: Any, tmp_path: Path
) -> None:
    """The same scenario in Neo4j (GDS engine) gives equal projections and close scores."""
    _ingest(neo4j_store, scenario, tmp_path)
    embedded = analyse(store, CONFIG)
    neo4j = analyse(neo4j_store, CONFIG)
    assert neo4j.super_nodes.equals(embedded.super_nodes)
    rings = _truth(store, scenario)

    def matched(result: Any) -> set[str]:
        cands = [
            set(m)
            for m, s in zip(
                result.ring_candidates.column("members").to_pylist(),
                result.ring_candidates.column("score").to_pylist(),
                strict=True,
            )
            if s >= 0.5
        ]
        return {r for r, m in rings.items() if any(len(m & c) / len(m | c) >= 0.5 for c in cands)}

    assert matched(neo4j) == matched(embedded)
    a = embedded.entity_risk.column("risk").to_numpy()
    b = neo4j.entity_risk.column("risk").to_numpy()
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_a_tiny_store_still_gives_a_candidate_with_evidence(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """A1 and A2 share every identifier (A2 pays A3): one candidate, evidence names device D1."""
    ingestor = Ingestor(embedded_store, quarantine_dir=tmp_path / "q")
    try:
        ingestor.run([write_events(GOOD_EVENTS)])
    finally:
        ingestor.close()
    result = analyse(embedded_store, CONFIG)
    assert result.model is None
    a1 = embedded_store.get_entity(NodeType.ACCOUNT, "A1").id
    a2 = embedded_store.get_entity(NodeType.ACCOUNT, "A2").id
    rows = result.ring_candidates.to_pylist()
    assert len(rows) == 1
    assert {a1, a2} <= set(rows[0]["members"])
    assert rows[0]["evidence"][0] == {
        "src": min(a1, a2),
        "dst": max(a1, a2),
        "type": "USES_DEVICE",
        "key": "D1",
    }
    reasons = dict(
        zip(
            result.entity_risk.column("id").to_pylist(),
            result.entity_risk.column("reasons").to_pylist(),
            strict=True,
        )
    )
    assert "EMULATOR_DEVICE" in reasons[a2]
    assert "SHARED_DEVICE_WITH_2_ACCOUNTS" in reasons[a1]


def test_rings_keep_their_members_with_evidence_not_the_hangers_on() -> None:
    """A ring keeps the members marked to keep; a ring that would shrink below
    ``min_ring_size`` keeps everyone."""
    from scoring.candidates import kept_members

    # ring 0: three members with evidence and two hangers-on; ring 1: only one would be
    # kept, so the ring stays whole.
    flat = np.array([1, 2, 3, 4, 5, 6, 7, 8], np.int64)
    group = np.array([0, 0, 0, 0, 0, 1, 1, 1], np.int64)
    keep = np.array([True, True, True, False, False, True, False, False])
    members, kept, kept_group = kept_members(flat, group, keep, 2, 2)
    assert members.to_pylist() == [[1, 2, 3], [6, 7, 8]]
    assert kept.tolist() == [1, 2, 3, 6, 7, 8]
    assert kept_group.tolist() == [0, 0, 0, 1, 1, 1]


def test_a_stored_gnn_score_is_an_entity_model_input(
    tmp_path: Path, scenario: ScenarioSummary
) -> None:
    """When the store holds ``gnn_score``, the entity model is trained with it as a
    feature and the account features carry it; without it, they do not."""
    work = tmp_path / "gnn"
    embedded = EmbeddedStore(work / "store", memory_limit="1GB", threads=2)
    try:
        _ingest(embedded, scenario, work)
        without = analyse(embedded, CONFIG)
        assert "gnn_score" not in without.account_features.column_names
        ids = without.entity_risk.column("id").to_numpy()
        embedded.write_scores("gnn_score", ids, np.linspace(0, 1, ids.shape[0]), version="g1")
        with_gnn = analyse(embedded, CONFIG)
        assert "gnn_score" in with_gnn.account_features.column_names
        assert with_gnn.model is not None and "gnn_score" in with_gnn.model.feature_names
    finally:
        embedded.close()


@pytest.mark.parametrize("backend", ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_a_staged_analysis_reads_back_whole(
    store: EmbeddedStore, backend: str, request: pytest.FixtureRequest
) -> None:
    """What a later job needs (candidates with evidence, super nodes, reasons, version)
    comes back from the store as it went in; only the newest runs are kept."""
    from graph_service.errors import EntityNotFound
    from scoring.staging import read_staged_analysis, stage_analysis

    result = analyse(store, CONFIG)
    target: Any = store if backend == "embedded" else request.getfixturevalue("neo4j_store")
    stage_analysis(target, result, run_version="run-1")
    staged = read_staged_analysis(target)
    assert (staged.run_version, staged.version) == ("run-1", result.version)
    assert staged.ring_candidates.to_pylist() == result.ring_candidates.to_pylist()
    assert staged.super_nodes.to_pylist() == result.super_nodes.to_pylist()
    assert staged.reasons.to_pylist() == result.entity_risk.select(["id", "reasons"]).to_pylist()
    for run in range(2, 5):
        stage_analysis(target, result, run_version=f"run-{run}", keep_runs=2)
    assert target.table_versions("analysis_runs") == ["run-3", "run-4"]
    assert read_staged_analysis(target).run_version == "run-4"
    with pytest.raises(EntityNotFound, match="run-1"):
        read_staged_analysis(target, run_version="run-1")
