"""Inline runs: every step recorded once, unchanged input skipped, the store locked to one
run, a failing step failing the run, re-deliveries harmless, webhook deliveries signed."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from fraudgraph.jobs.ledger import RunLedger, new_run_id
from fraudgraph.jobs.lock import FileLeases, PipelineBusy
from fraudgraph.jobs.pipeline import (
    PIPELINE_LOCK,
    begin_run,
    execute_step,
    finish_run,
    jobs_root,
    run_inline,
)
from fraudgraph.jobs.settings import JobSettings
from fraudgraph.jobs.webhook import WebhookRefused
from graph_service.errors import InvalidInput
from tests.fraudgraph.conftest import SECRET, Receiver
from tests.fraudgraph.jobs.conftest import pipeline_spec, store_state

pytestmark = pytest.mark.slow


def _statuses(run: dict[str, object]) -> dict[str, str]:
    records = run["step_records"]
    assert isinstance(records, dict)
    return {name: record["status"] for name, record in records.items()}


def test_an_inline_run_does_every_step_once_and_records_it(scenario, tmp_path: Path) -> None:
    """Ingest, GNN train + infer, analyse, flag, publish, evaluate: each succeeds once, the
    outputs carry the run's id as version, the lock is freed and the metrics are written."""
    from scoring.feature_cache import latest_snapshot_version

    store = tmp_path / "store"
    spec = pipeline_spec(scenario, store, gnn="train")
    run = run_inline(spec, jobs=JobSettings())
    assert run["status"] == "succeeded" and run["error"] is None
    assert _statuses(run) == {
        "ingest": "succeeded",
        "gnn_train": "succeeded",
        "gnn_infer": "succeeded",
        "analyse": "succeeded",
        "flag": "succeeded",
        "publish": "succeeded",
        "evaluate": "succeeded",
        "deliver": "skipped",
    }
    steps = run["step_records"]
    assert all(record["attempts"] == 1 for record in steps.values())
    assert steps["ingest"]["result"]["reconciled"] is True
    assert steps["flag"]["result"]["version"] == run["run_id"]
    assert Path(steps["flag"]["result"]["json"]).exists()
    assert steps["evaluate"]["result"]["ring_recall"] >= 0.8
    assert steps["gnn_infer"]["result"]["version"] == steps["gnn_train"]["result"]["champion"]
    from graph_service.embedded.store import EmbeddedStore

    with EmbeddedStore(store) as graph:
        assert latest_snapshot_version(graph) == run["run_id"]
        assert graph.read_scores("gnn_score").num_rows == 5_000
    assert FileLeases(jobs_root(spec.settings()) / "locks").holder(PIPELINE_LOCK) is None
    metrics = (store / "jobs" / "metrics.prom").read_text()
    assert 'fraudgraph_job_steps_total{outcome="succeeded",step="analyse"}' in metrics
    assert 'fraudgraph_pipeline_runs_total{outcome="succeeded"}' in metrics


def test_an_unchanged_input_skips_the_work_unless_forced(scenario, tmp_path: Path) -> None:
    """A second run over the same data records the later steps as skipped (naming the run
    it matches); a new label changes the input; --force runs everything."""
    store = tmp_path / "store"
    first = run_inline(pipeline_spec(scenario, store))
    second = run_inline(pipeline_spec(scenario, store))
    statuses = _statuses(second)
    assert statuses["ingest"] == "succeeded"
    assert {statuses[s] for s in statuses if s != "ingest"} == {"skipped"}
    reason = second["step_records"]["analyse"]["result"]["skipped"]
    assert first["run_id"] in reason
    assert second["step_records"]["ingest"]["result"]["files_skipped"] == 2
    forced = run_inline(pipeline_spec(scenario, store, force=True))
    assert _statuses(forced)["analyse"] == "succeeded"

    from graph_service.embedded.store import EmbeddedStore
    from graph_service.model import NodeType

    with EmbeddedStore(store) as graph:
        key = graph.get_entities([0])[0].key
        graph.add_label(
            NodeType.ACCOUNT,
            key,
            label="fraud",
            source="investigation",
            author="ana",
            reason="ring",
        )
    relabelled = run_inline(pipeline_spec(scenario, store))
    assert _statuses(relabelled)["analyse"] == "succeeded"


def test_a_second_pipeline_is_refused_while_one_holds_the_store(scenario, tmp_path: Path) -> None:
    """While run A holds the store, run B is refused at once with a message naming A and
    is recorded as refused; run C, willing to wait, runs once A is done."""
    store = tmp_path / "store"
    spec = pipeline_spec(scenario, store)
    settings, jobs = spec.settings(), JobSettings()
    holder = new_run_id()
    begin_run(holder, spec.with_store(settings), settings=settings, jobs=jobs, trigger="inline")
    with pytest.raises(PipelineBusy, match=holder) as refused:
        run_inline(spec)
    assert "--wait" in str(refused.value)
    ledger = RunLedger(jobs_root(settings))
    refused_run = ledger.runs(limit=1)[0]
    assert refused_run["status"] == "refused" and holder in refused_run["error"]

    timer = threading.Timer(1.0, lambda: finish_run(holder, settings=settings, jobs=jobs))
    timer.start()
    waited = run_inline(pipeline_spec(scenario, store, wait_s=60))
    timer.join()
    assert waited["status"] == "succeeded"
    assert ledger.run(holder)["status"] == "succeeded"


def test_a_failing_step_fails_the_run_and_frees_the_store(scenario, tmp_path: Path) -> None:
    """A missing input fails ingest: the run is failed with the error, later steps never
    ran, and the next run gets the lock."""
    store = tmp_path / "store"
    spec = pipeline_spec(scenario, store, inputs=(str(tmp_path / "nowhere.parquet"),))
    with pytest.raises(InvalidInput, match="inputs not found"):
        run_inline(spec)
    ledger = RunLedger(store / "jobs")
    failed = ledger.runs(limit=1)[0]
    assert failed["status"] == "failed" and "inputs not found" in failed["error"]
    assert _statuses(failed) == {"ingest": "failed"}
    assert run_inline(pipeline_spec(scenario, store))["status"] == "succeeded"


def test_ctrl_c_that_stops_a_query_is_recorded_as_an_interruption(
    scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C that reaches ingest inside a DuckDB query (which reports it as its own
    RuntimeError) fails the run as interrupted: the step and run record a
    KeyboardInterrupt, KeyboardInterrupt is raised, and the next run gets the lock."""
    from fraudgraph.jobs import steps
    from tests.interrupts import ctrl_c_during_query

    def interrupted_ingest(ctx: object) -> dict[str, object]:
        ctrl_c_during_query()
        return {}

    store = tmp_path / "store"
    with monkeypatch.context() as patch:
        patch.setitem(steps.STEP_FUNCTIONS, "ingest", interrupted_ingest)
        with pytest.raises(KeyboardInterrupt, match="Query interrupted"):
            run_inline(pipeline_spec(scenario, store))
    failed = RunLedger(store / "jobs").runs(limit=1)[0]
    assert failed["status"] == "failed" and failed["error"].startswith("KeyboardInterrupt")
    assert failed["step_records"]["ingest"]["error"] == "KeyboardInterrupt: Query interrupted"
    assert run_inline(pipeline_spec(scenario, store))["status"] == "succeeded"


def test_gnn_steps_skip_cleanly_without_fraud_labels(scenario, tmp_path: Path) -> None:
    """Labels without a single fraud label: gnn_train is skipped with the counts as its
    reason, gnn_infer for want of a champion, and the rest of the run succeeds. With a
    champion in place, a run asked to retrain on too few labels keeps it and scores with
    it."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    from gnn.registry import ModelRegistry, default_registry_root
    from gnn.training import TrainConfig, train_on_tables
    from tests.gnn.graphs import planted_graph

    labels = pacsv.read_csv(scenario.labels_path)
    legit_only = tmp_path / "legit-labels.csv"
    pacsv.write_csv(labels.filter(pc.equal(labels.column("label"), "legit")), legit_only)
    store = tmp_path / "store"
    inputs = (str(scenario.events_path), str(legit_only))
    run = run_inline(pipeline_spec(scenario, store, gnn="auto", inputs=inputs))
    assert run["status"] == "succeeded" and run["error"] is None
    statuses = _statuses(run)
    assert statuses["gnn_train"] == statuses["gnn_infer"] == "skipped"
    assert {statuses[s] for s in ("analyse", "flag", "publish", "evaluate")} == {"succeeded"}
    steps = run["step_records"]
    reason = steps["gnn_train"]["result"]["skipped"]
    assert "too few fraud labels to train: 0 fraud (train 0, validation 0, test 0)" in reason
    assert "no champion" in steps["gnn_infer"]["result"]["skipped"]

    g = planted_graph(legit=80, rings=6)
    config = TrainConfig(hidden=8, max_epochs=2, batch_size=16)
    registry = ModelRegistry(default_registry_root(store))
    version = registry.register(train_on_tables(g.nodes, g.links, g.labels, config)).version
    registry.set_champion(version)
    retrain = pipeline_spec(
        scenario, store, gnn="train", inputs=inputs, steps=("ingest", "gnn_train", "gnn_infer")
    )
    again = run_inline(retrain)
    assert again["status"] == "succeeded"
    assert _statuses(again) == {
        "ingest": "succeeded",
        "gnn_train": "skipped",
        "gnn_infer": "succeeded",
    }
    assert f"champion {version} stays" in again["step_records"]["gnn_train"]["result"]["skipped"]
    assert again["step_records"]["gnn_infer"]["result"]["version"] == version


def test_redelivered_steps_are_harmless(scenario, tmp_path: Path) -> None:
    """A step delivered again after it finished returns its record and changes nothing; a
    step left "running" by a dead worker runs again (attempt 2) to the same final state."""
    reference = tmp_path / "reference"
    run_inline(pipeline_spec(scenario, reference))

    store = tmp_path / "store"
    spec = pipeline_spec(scenario, store).with_store(pipeline_spec(scenario, store).settings())
    settings, jobs = spec.settings(), JobSettings()
    run_id = new_run_id()
    begin_run(run_id, spec, settings=settings, jobs=jobs, trigger="inline")
    ledger = RunLedger(jobs_root(settings))
    for step in spec.steps:
        first = execute_step(run_id, step, spec, settings=settings, jobs=jobs)
        again = execute_step(run_id, step, spec, settings=settings, jobs=jobs)
        assert again == first
    # What a worker killed inside "flag" leaves: the record says running, attempt 1.
    cut = dict(ledger.step(run_id, "flag") or {})
    ledger.write_step(run_id, "flag", {**cut, "status": "running", "result": None})
    rerun = execute_step(run_id, "flag", spec, settings=settings, jobs=jobs)
    assert rerun["status"] == "succeeded" and rerun["attempts"] == 2
    finish_run(run_id, settings=settings, jobs=jobs)
    assert execute_step(run_id, "analyse", spec, settings=settings, jobs=jobs)["status"] == (
        "ignored"
    )
    assert store_state(store) == store_state(reference)


def test_flagged_clusters_are_posted_signed_with_retries(
    scenario, tmp_path: Path, receiver: Receiver
) -> None:
    """With a webhook set, the run's flagged-cluster report is POSTed, signed, after two
    transient failures; the receiver gets the run id and every flagged cluster."""
    receiver.statuses = [503, 502]
    jobs = JobSettings(webhook_url=receiver.url, webhook_secret=SECRET, webhook_backoff_s=0.01)
    run = run_inline(pipeline_spec(scenario, tmp_path / "store"), jobs=jobs)
    deliver = run["step_records"]["deliver"]
    assert deliver["status"] == "succeeded"
    assert [a["status"] for a in deliver["result"]["attempts"]] == [503, 502, 200]
    assert all(r["valid"] for r in receiver.received)
    document = json.loads(receiver.received[-1]["body"])  # type: ignore[arg-type]
    assert document["run_id"] == run["run_id"]
    assert len(document["clusters"]) == run["step_records"]["flag"]["result"]["flagged"] > 0
    assert {r["delivery"] for r in receiver.received} == {f"flagged-{run['run_id']}"}


def test_an_undelivered_report_fails_the_run_and_stays_in_the_outbox(
    scenario, tmp_path: Path, receiver: Receiver
) -> None:
    """A receiver refusing (400) fails the deliver step and the run; the document is kept."""
    receiver.statuses = [400]
    jobs = JobSettings(webhook_url=receiver.url, webhook_secret=SECRET, webhook_backoff_s=0.01)
    store = tmp_path / "store"
    with pytest.raises(WebhookRefused, match="kept in"):
        run_inline(pipeline_spec(scenario, store), jobs=jobs)
    run = RunLedger(store / "jobs").runs(limit=1)[0]
    assert run["status"] == "failed"
    assert _statuses(run)["publish"] == "succeeded"
    kept = json.loads((store / "jobs" / "outbox" / f"flagged-{run['run_id']}.json").read_text())
    assert kept["document"]["run_id"] == run["run_id"]


def test_a_webhook_without_a_secret_is_refused() -> None:
    """Deliveries must be signed: a webhook URL without a secret is a settings error."""
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        JobSettings(webhook_url="http://127.0.0.1:9/alerts")


@pytest.mark.neo4j
def test_the_pipeline_runs_on_the_neo4j_backend(
    scenario, tmp_path: Path, neo4j_server: Any
) -> None:
    """The same steps on Neo4j + GDS: every step succeeds, the staged analysis, flagged
    clusters and snapshot live in Neo4j under the run's id, and the planted rings are found."""
    from graph_service.neo4j.store import Neo4jStore
    from graph_service.settings import Neo4jSettings, Settings
    from scoring.feature_cache import latest_snapshot_version
    from tests.graph_service.conftest import PASSWORD, wipe

    wipe(neo4j_server)
    store = tmp_path / "store"
    settings = Settings(
        backend="neo4j",
        store_dir=store,
        neo4j=Neo4jSettings(uri=neo4j_server.uri, password=PASSWORD),
    )
    run = run_inline(pipeline_spec(scenario, store), settings=settings)
    statuses = _statuses(run)
    assert statuses.pop("deliver") == "skipped"
    assert set(statuses.values()) <= {"succeeded", "skipped"}
    assert statuses["analyse"] == statuses["flag"] == statuses["publish"] == "succeeded"
    assert run["step_records"]["evaluate"]["result"]["ring_recall"] >= 0.8
    with Neo4jStore(uri=neo4j_server.uri, password=PASSWORD, store_dir=store) as graph:
        assert latest_snapshot_version(graph) == run["run_id"]
        assert graph.table_versions("analysis_runs") == [run["run_id"]]


def test_a_step_waits_while_another_process_has_the_store_open(scenario, tmp_path: Path) -> None:
    """An API server or CLI query holding the embedded store for a moment delays a step; it
    does not fail it. Past the wait, the step fails with the lock named."""
    import subprocess
    import sys
    import time

    store = tmp_path / "store"
    run_inline(pipeline_spec(scenario, store))
    hold = (
        "import sys, time; from graph_service.embedded.store import EmbeddedStore; "
        "s = EmbeddedStore(sys.argv[1]); print('held', flush=True); time.sleep(float(sys.argv[2]))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", hold, str(store), "3"], stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        spec = pipeline_spec(scenario, store, force=True)
        run = run_inline(spec, jobs=JobSettings(store_wait_s=30))
        assert run["status"] == "succeeded" and time.monotonic() - started > 1

    from graph_service.errors import StoreLocked

    with subprocess.Popen(
        [sys.executable, "-c", hold, str(store), "20"], stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLocked, match="in use by another process"):
            run_inline(pipeline_spec(scenario, store, force=True), jobs=JobSettings(store_wait_s=1))
        holder.kill()


def test_a_failed_run_resumes_from_its_failed_step(
    scenario, tmp_path: Path, receiver: Receiver
) -> None:
    """Once the cause is fixed, resuming a run keeps its done steps (analysis not redone)
    and runs the failed one again; a succeeded run cannot be resumed."""
    from fraudgraph.jobs.pipeline import resumable

    receiver.statuses = [400]
    jobs = JobSettings(webhook_url=receiver.url, webhook_secret=SECRET, webhook_attempts=1)
    store = tmp_path / "store"
    spec = pipeline_spec(scenario, store)
    with pytest.raises(WebhookRefused):
        run_inline(spec, jobs=jobs)
    settings = spec.settings()
    run_id = RunLedger(store / "jobs").runs(limit=1)[0]["run_id"]
    resumed = run_inline(resumable(run_id, settings=settings, jobs=jobs), jobs=jobs, run_id=run_id)
    assert resumed["run_id"] == run_id and resumed["status"] == "succeeded"
    steps = resumed["step_records"]
    assert steps["analyse"]["attempts"] == 1 and steps["deliver"]["attempts"] == 2
    assert steps["deliver"]["status"] == "succeeded" and len(resumed["resumed_at"]) == 1
    with pytest.raises(InvalidInput, match="nothing to resume"):
        resumable(run_id, settings=settings, jobs=jobs)
