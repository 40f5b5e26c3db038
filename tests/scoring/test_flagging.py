"""Flagged clusters: threshold, new vs continued alerts, files, store tables on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graph_service import EntityNotFound, GraphStore, InvalidInput, NodeType
from graph_service.embedded.store import EmbeddedStore
from ingestion.loader import Ingestor
from scoring.flagging import (
    FLAGGED_COLUMNS,
    RING_TABLES,
    FlagReport,
    flag_clusters,
    read_flagged_clusters,
    read_ring_history,
    read_super_nodes,
)
from scoring.rings import RingEvent
from tests.conftest import write_rows

N_ACCOUNTS = 24
EVIDENCE_TYPE = pa.list_(
    pa.struct(
        [("src", pa.int64()), ("dst", pa.int64()), ("type", pa.string()), ("key", pa.string())]
    )
)


@dataclass(frozen=True)
class Analysis:
    """The part of an analysis result that flagging reads."""

    ring_candidates: pa.Table
    super_nodes: pa.Table
    version: str


def _open(backend: str, tmp_path: Path) -> GraphStore:
    if backend == "embedded":
        return EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    from tests.graph_service.conftest import open_neo4j_store

    store: GraphStore = open_neo4j_store(tmp_path / "store")
    return store


def _load_accounts(store: GraphStore, tmp_path: Path) -> dict[str, int]:
    """Load accounts A00..A23 (each signs up on its own device); return key -> id."""
    rows = [
        {
            "event_id": f"e{i}",
            "ts": "2026-01-01T10:00:00Z",
            "event_type": "signup",
            "account_id": f"A{i:02d}",
            "device_id": f"D{i:02d}",
        }
        for i in range(N_ACCOUNTS)
    ]
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q")
    ingestor.run([write_rows(tmp_path / "events.csv", rows)])
    ingestor.close()
    keys = [f"A{i:02d}" for i in range(N_ACCOUNTS)]
    return {k: store.get_entity(NodeType.ACCOUNT, k).id for k in keys}


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """A store of each backend."""
    graph = _open(request.param, tmp_path)
    yield graph
    graph.close()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[GraphStore]:
    """An embedded store (for the behaviours that do not depend on the backend)."""
    graph = _open("embedded", tmp_path)
    yield graph
    graph.close()


def _analysis(
    ids: dict[str, int],
    rings: Sequence[tuple[Sequence[int], float]],
    *,
    version: str = "model-1+cfg-abc",
) -> Analysis:
    """Candidates from ``(account numbers, score)`` pairs; members are store ids."""
    members = [sorted(ids[f"A{n:02d}"] for n in numbers) for numbers, _ in rings]
    n = len(rings)
    candidates = pa.table(
        {
            "candidate": pa.array(range(n), pa.int64()),
            "members": pa.array(members, pa.list_(pa.int64())),
            "score": pa.array([score for _, score in rings], pa.float64()),
            "reasons": pa.array(
                [[f"SHARED_DEVICE_WITH_{len(m)}_ACCOUNTS"] for m in members],
                pa.list_(pa.string()),
            ),
            "typology": pa.array(["synthetic_identity"] * n, pa.string()),
            "evidence": pa.array(
                [
                    [{"src": m[0], "dst": m[1], "type": "USES_DEVICE", "key": "D00"}]
                    for m in members
                ],
                EVIDENCE_TYPE,
            ),
            "density": pa.array([0.5] * n, pa.float64()),
        }
    )
    super_nodes = pa.table(
        {
            "id": pa.array([900, 901, 902], pa.int64()),
            "type": ["IP", "Merchant", "IP"],
            "key": ["100.64.0.1", "BIGSHOP", "100.64.0.2"],
            "share_count": pa.array([50, 400, 50], pa.int64()),
        }
    )
    return Analysis(candidates, super_nodes, version)


def _flag(
    store: GraphStore, analysis: Analysis, out_dir: Path, run: str, threshold: float = 0.6
) -> FlagReport:
    return flag_clusters(store, analysis, threshold=threshold, out_dir=out_dir, run_version=run)


def _by_first_key(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {row["member_keys"][0]: row for row in table.to_pylist()}


def test_threshold_flags_rings_at_or_above_it(embedded: GraphStore, tmp_path: Path) -> None:
    """Rings scoring >= threshold are flagged (equality included), the others are not."""
    ids = _load_accounts(embedded, tmp_path)
    analysis = _analysis(ids, [([0, 1, 2], 0.9), ([3, 4], 0.6), ([5, 6, 7], 0.59)])
    report = _flag(embedded, analysis, tmp_path / "out", "run-1", threshold=0.6)
    assert report.flagged.column("score").to_pylist() == [0.9, 0.6]
    assert report.flagged.column_names == list(FLAGGED_COLUMNS)
    assert report.flagged.column("member_keys").to_pylist() == [
        ["A00", "A01", "A02"],
        ["A03", "A04"],
    ]
    assert len(report.new_alerts) == 2 and report.continued_alerts == []
    rings = embedded.read_table("rings")
    assert rings.num_rows == 3
    assert rings.column("flagged").to_pylist() == [True, True, False]
    assert rings.column("first_flagged").to_pylist() == ["run-1", "run-1", None]
    assert set(rings.column("analysis_version").to_pylist()) == {"model-1+cfg-abc"}


def test_files_are_versioned_and_readable(embedded: GraphStore, tmp_path: Path) -> None:
    """The Parquet file holds the flagged table; the JSON has members with keys and lineage."""
    ids = _load_accounts(embedded, tmp_path)
    report = _flag(
        embedded,
        _analysis(ids, [([0, 1, 2], 0.9), ([5, 6], 0.1)]),
        tmp_path / "out",
        "2026-11-29T20:00:00Z",
    )
    assert report.parquet_path.name == "flagged_clusters-2026-11-29T20_00_00Z.parquet"
    assert pq.read_table(report.parquet_path).equals(report.flagged)
    document = json.loads(report.json_path.read_text())
    assert document["version"] == "2026-11-29T20:00:00Z"
    assert document["analysis_version"] == "model-1+cfg-abc"
    assert document["counts"]["flagged"] == 1 and document["counts"]["rings"] == 2
    (cluster,) = document["clusters"]
    assert cluster["members"] == [{"id": ids[f"A0{i}"], "key": f"A0{i}"} for i in range(3)]
    assert cluster["lineage"] == {"event": "new", "parents": []}
    assert cluster["alert_status"] == "new" and cluster["new_alert"] is True
    assert cluster["evidence"][0]["type"] == "USES_DEVICE"
    assert cluster["reasons"] == ["SHARED_DEVICE_WITH_3_ACCOUNTS"]
    assert (cluster["first_flagged"], cluster["last_seen"]) == ("2026-11-29T20:00:00Z",) * 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        report.json_path.name,
        report.parquet_path.name,
    ]


def test_rerun_on_unchanged_data_raises_no_new_alert(embedded: GraphStore, tmp_path: Path) -> None:
    """The same rings in the next run keep their ids and are continued alerts, not new ones."""
    ids = _load_accounts(embedded, tmp_path)
    analysis = _analysis(ids, [([0, 1, 2], 0.9), ([3, 4], 0.8)])
    first = _flag(embedded, analysis, tmp_path / "out", "run-1")
    second = _flag(embedded, analysis, tmp_path / "out", "run-2")
    assert second.new_alerts == []
    assert second.continued_alerts == first.new_alerts
    assert set(second.flagged.column("alert_status").to_pylist()) == {"continued"}
    assert second.flagged.column("first_flagged").to_pylist() == ["run-1", "run-1"]
    assert second.flagged.column("last_seen").to_pylist() == ["run-2", "run-2"]
    assert second.assignment.event_counts()["continued"] == 2
    assert len(list((tmp_path / "out").glob("*.parquet"))) == 2


def test_ring_flagged_before_stays_continued_after_dipping_below(
    embedded: GraphStore, tmp_path: Path
) -> None:
    """A ring flagged in run 1, below threshold in run 2, flagged in run 3 is not new again."""
    ids = _load_accounts(embedded, tmp_path)
    out = tmp_path / "out"
    first = _flag(embedded, _analysis(ids, [([0, 1, 2], 0.9)]), out, "run-1")
    dipped = _flag(embedded, _analysis(ids, [([0, 1, 2], 0.3)]), out, "run-2")
    assert dipped.flagged.num_rows == 0
    back = _flag(embedded, _analysis(ids, [([0, 1, 2, 3], 0.95)]), out, "run-3")
    assert back.new_alerts == [] and back.continued_alerts == first.new_alerts
    assert back.flagged.column("first_flagged").to_pylist() == ["run-1"]
    assert back.flagged.column("first_seen").to_pylist() == ["run-1"]


def test_a_split_off_piece_is_a_new_alert_with_its_parent(
    embedded: GraphStore, tmp_path: Path
) -> None:
    """A piece split from a flagged ring gets a new id, is a new alert and names its parent."""
    ids = _load_accounts(embedded, tmp_path)
    out = tmp_path / "out"
    first = _flag(embedded, _analysis(ids, [(list(range(8)), 0.9)]), out, "run-1")
    (parent,) = first.new_alerts
    split = _flag(
        embedded, _analysis(ids, [([0, 1, 2, 3, 4], 0.9), ([5, 6, 7], 0.7)]), out, "run-2"
    )
    rows = _by_first_key(split.flagged)
    assert rows["A00"]["ring_id"] == parent and rows["A00"]["alert_status"] == "continued"
    assert rows["A05"]["alert_status"] == "new"
    assert (rows["A05"]["event"], rows["A05"]["parents"]) == ("split", [parent])
    assert split.new_alerts == [rows["A05"]["ring_id"]]


def test_store_round_trip_of_every_ring_table(store: GraphStore, tmp_path: Path) -> None:
    """Both backends keep rings, members, lineage, history, super nodes and flagged clusters."""
    ids = _load_accounts(store, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(EntityNotFound, match="no ring-detection run"):
        read_flagged_clusters(store)
    first = _flag(
        store, _analysis(ids, [([0, 1, 2], 0.9), ([3, 4], 0.2), ([5, 6], 0.7)]), out, "r1"
    )
    second = _flag(store, _analysis(ids, [([0, 1, 2, 8], 0.95), ([3, 4], 0.65)]), out, "r2")
    for name in RING_TABLES:
        assert store.table_versions(name) == ["r1", "r2"], name
    flagged = read_flagged_clusters(store)
    assert flagged.equals(second.flagged)
    assert read_flagged_clusters(store, version="r1").equals(first.flagged)
    by_key = _by_first_key(flagged)
    assert by_key["A00"]["alert_status"] == "continued" and by_key["A03"]["alert_status"] == "new"
    assert by_key["A00"]["evidence"][0]["type"] == "USES_DEVICE"

    supers = read_super_nodes(store)
    assert supers.column("key").to_pylist() == ["BIGSHOP", "100.64.0.1", "100.64.0.2"]
    assert supers.column("share_count").to_pylist() == [400, 50, 50]

    members = store.read_table("ring_members")
    ring_a = by_key["A00"]["ring_id"]
    assert members.column("account_id").to_pylist() == sorted(
        ids[f"A0{i}"] for i in (0, 1, 2, 8, 3, 4)
    )
    assert members.filter(pa.compute.equal(members.column("ring_id"), ring_a)).num_rows == 4

    lineage = store.read_table("ring_lineage").to_pylist()
    assert [(r["run_version"], r["event"]) for r in lineage] == [
        ("r1", "new"),
        ("r1", "new"),
        ("r1", "new"),
        ("r2", "continued"),
        ("r2", "continued"),
        ("r2", "dissolved"),
    ]
    history = read_ring_history(store, ring_a).to_pylist()
    assert [(h["version"], h["score"], h["size"]) for h in history] == [
        ("r1", 0.9, 3),
        ("r2", 0.95, 4),
    ]
    with pytest.raises(EntityNotFound, match="no ring 'R0'"):
        read_ring_history(store, "R0")


def test_rerun_with_the_same_version_replaces_it(embedded: GraphStore, tmp_path: Path) -> None:
    """Flagging again under a run's version replaces it: history and lineage do not repeat."""
    ids = _load_accounts(embedded, tmp_path)
    out = tmp_path / "out"
    _flag(embedded, _analysis(ids, [([0, 1, 2], 0.9)]), out, "r1")
    _flag(embedded, _analysis(ids, [([0, 1, 2], 0.9)]), out, "r2")
    again = _flag(embedded, _analysis(ids, [([0, 1, 2], 0.8)]), out, "r2")
    assert again.continued_alerts and not again.new_alerts
    history = embedded.read_table("ring_history")
    assert [(h["version"], h["score"]) for h in history.to_pylist()] == [("r1", 0.9), ("r2", 0.8)]
    assert embedded.read_table("ring_lineage").num_rows == 2
    assert embedded.table_versions("rings") == ["r1", "r2"]


def test_default_run_version_is_a_utc_timestamp(embedded: GraphStore, tmp_path: Path) -> None:
    """Without run_version each run gets its own time-based version."""
    ids = _load_accounts(embedded, tmp_path)
    report = flag_clusters(
        embedded, _analysis(ids, [([0, 1], 0.9)]), threshold=0.5, out_dir=tmp_path / "out"
    )
    assert report.version.endswith("Z") and report.version[8] == "T"
    assert embedded.table_versions("rings") == [report.version]


def test_bad_inputs_are_invalid_input(embedded: GraphStore, tmp_path: Path) -> None:
    """Bad threshold, version, candidate or super-node columns raise InvalidInput, write nothing."""
    ids = _load_accounts(embedded, tmp_path)
    good = _analysis(ids, [([0, 1], 0.9)])
    out = tmp_path / "out"
    with pytest.raises(InvalidInput, match="threshold"):
        _flag(embedded, good, out, "r1", threshold=1.5)
    with pytest.raises(InvalidInput, match="version"):
        _flag(embedded, good, out, "bad version")
    no_reasons = Analysis(good.ring_candidates.drop_columns(["reasons"]), good.super_nodes, "m")
    with pytest.raises(InvalidInput, match=r"ring candidates: missing column\(s\) \[.reasons.\]"):
        _flag(embedded, no_reasons, out, "r1")
    no_count = Analysis(good.ring_candidates, good.super_nodes.drop_columns(["share_count"]), "m")
    with pytest.raises(InvalidInput, match=r"super nodes: missing column\(s\) \['share_count'\]"):
        _flag(embedded, no_count, out, "r1")
    assert embedded.table_versions("rings") == []
    assert not out.exists()


def test_flags_a_real_analysis_and_a_rerun_raises_no_new_alert(
    embedded: GraphStore, tmp_path: Path
) -> None:
    """analyse() output on a generated scenario is flagged; rerunning it only continues rings."""
    from ingestion.synthetic import ScenarioConfig, generate_scenario
    from scoring.analysis import analyse

    generate_scenario(ScenarioConfig(accounts=1_000, seed=5), tmp_path / "scenario")
    ingestor = Ingestor(embedded, quarantine_dir=tmp_path / "q")
    ingestor.run([tmp_path / "scenario" / "events"])
    ingestor.close()
    result = analyse(embedded)
    out = tmp_path / "out"
    first = flag_clusters(embedded, result, threshold=0.5, out_dir=out, run_version="day-1")
    assert first.flagged.num_rows > 0 and len(first.new_alerts) == first.flagged.num_rows
    assert first.flagged.column("member_keys").null_count == 0
    assert all(
        k.startswith("A") for keys in first.flagged.column("member_keys").to_pylist() for k in keys
    )
    second = flag_clusters(embedded, result, threshold=0.5, out_dir=out, run_version="day-2")
    assert second.new_alerts == []
    assert sorted(second.continued_alerts) == sorted(first.new_alerts)
    assert second.assignment.event_counts()["continued"] == result.ring_candidates.num_rows
    assert read_super_nodes(embedded).num_rows == result.super_nodes.num_rows


def test_a_run_without_candidates_dissolves_every_ring(
    embedded: GraphStore, tmp_path: Path
) -> None:
    """No candidates: nothing flagged, empty files and tables written, old rings dissolved."""
    ids = _load_accounts(embedded, tmp_path)
    out = tmp_path / "out"
    first = _flag(embedded, _analysis(ids, [([0, 1, 2], 0.9)]), out, "r1")
    nothing = _analysis(ids, [([0, 1], 0.9)])
    nothing = Analysis(nothing.ring_candidates.slice(0, 0), nothing.super_nodes.slice(0, 0), "m")
    empty = _flag(embedded, nothing, out, "r2")
    assert empty.flagged.num_rows == 0 and pq.read_table(empty.parquet_path).num_rows == 0
    assert json.loads(empty.json_path.read_text())["clusters"] == []
    assert empty.assignment.ids_by_event(RingEvent.DISSOLVED) == first.new_alerts
    assert embedded.read_table("rings").num_rows == 0
    assert read_super_nodes(embedded).num_rows == 0


def test_old_runs_are_dropped_beyond_keep_runs(embedded: GraphStore, tmp_path: Path) -> None:
    """Only the latest keep_runs runs stay; cumulative tables keep two versions and all rows."""
    ids = _load_accounts(embedded, tmp_path)
    out = tmp_path / "out"
    for run in ("r1", "r2", "r3", "r4"):
        report = flag_clusters(
            embedded,
            _analysis(ids, [([0, 1, 2], 0.9)]),
            threshold=0.5,
            out_dir=out,
            run_version=run,
            keep_runs=2,
        )
    assert report.continued_alerts and not report.new_alerts
    for name in ("rings", "ring_members", "super_nodes", "flagged_clusters"):
        assert embedded.table_versions(name) == ["r3", "r4"], name
    assert embedded.table_versions("ring_history") == ["r3", "r4"]
    history = read_ring_history(embedded, report.continued_alerts[0])
    assert history.column("version").to_pylist() == ["r1", "r2", "r3", "r4"]
    assert read_flagged_clusters(embedded).column("first_flagged").to_pylist() == ["r1"]
    assert len(list(out.glob("*.parquet"))) == 4
    with pytest.raises(InvalidInput, match="keep_runs"):
        flag_clusters(embedded, _analysis(ids, []), threshold=0.5, out_dir=out, keep_runs=0)


def test_the_default_threshold_is_the_alert_false_discovery_rate() -> None:
    """The default flag threshold is the score of a ring at the alert queue's q-value
    (0.5%) under the default score mapping, and every entry point defaults to it: the
    jobs' settings (which cannot import scoring), a job spec and the CLI."""
    import math

    from fraudgraph.cli.rings import DEMO_THRESHOLD
    from fraudgraph.jobs.spec import PipelineSpec
    from graph_service.settings import JobSettings
    from scoring.analysis import AnalysisConfig
    from scoring.flagging import ALERT_Q, FLAG_THRESHOLD

    significance = -math.log10(ALERT_Q)
    half = AnalysisConfig().significance_half
    assert round(significance / (significance + half), 2) == FLAG_THRESHOLD
    assert JobSettings().threshold == FLAG_THRESHOLD
    assert PipelineSpec().threshold == FLAG_THRESHOLD
    assert DEMO_THRESHOLD == FLAG_THRESHOLD
