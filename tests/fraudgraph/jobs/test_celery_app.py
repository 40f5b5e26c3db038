"""The pipeline on real Celery workers over a real Redis: end to end, a worker SIGKILLed
mid-step, duplicate deliveries, two pipelines on one store, a failing task, metrics."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fraudgraph.jobs import celery_app
from fraudgraph.jobs.ledger import RunLedger, new_run_id
from fraudgraph.jobs.pipeline import run_inline
from fraudgraph.jobs.settings import JobSettings
from tests.conftest import RedisServer, _free_port
from tests.fraudgraph.conftest import SECRET, Receiver
from tests.fraudgraph.jobs.conftest import (
    CeleryWorker,
    pipeline_spec,
    store_state,
    wait_for_run,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: Short timeouts so a dead worker's task comes back within seconds, not hours.
JOB_ENV = {
    "FRAUDGRAPH_JOBS_VISIBILITY_TIMEOUT_S": "4",
    "FRAUDGRAPH_JOBS_RESTORE_INTERVAL_S": "1",
    "FRAUDGRAPH_JOBS_STEP_LOCK_TTL_S": "3",
    "FRAUDGRAPH_JOBS_LOCK_TTL_S": "60",
    "FRAUDGRAPH_JOBS_PIPELINE_EVERY_S": "0",
    "FRAUDGRAPH_JOBS_GNN_TRAIN_EVERY_S": "0",
    "FRAUDGRAPH_BATCH_SIZE": "5000",
}


@pytest.fixture
def broker(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty Redis database as broker; the test process's Celery app pointed at it."""
    import redis

    url = redis_server.url.rsplit("/", 1)[0] + "/5"
    client = redis.Redis.from_url(url)
    client.flushdb()
    for key, value in {**JOB_ENV, "FRAUDGRAPH_JOBS_BROKER_URL": url}.items():
        monkeypatch.setenv(key, value)
    celery_app.configure(celery_app.app, JobSettings())
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def start_worker(tmp_path: Path, broker: str) -> Iterator[Callable[..., CeleryWorker]]:
    """Start workers (stopped at the end): ``start_worker(name, concurrency=1, extra_args=(),
    **env)``."""
    workers: list[CeleryWorker] = []

    def start(
        name: str, *, concurrency: int = 1, extra_args: tuple[str, ...] = (), **env: str
    ) -> CeleryWorker:
        worker = CeleryWorker(
            {**JOB_ENV, "FRAUDGRAPH_JOBS_BROKER_URL": broker, **env},
            tmp_path / f"{name}.log",
            name=name,
            concurrency=concurrency,
            extra_args=extra_args,
        )
        workers.append(worker)
        worker.wait_ready(celery_app.app)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="module")
def reference(scenario: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The state an uninterrupted inline run leaves (GNN trained, 3 epochs)."""
    store = tmp_path_factory.mktemp("reference") / "store"
    spec = pipeline_spec(scenario, store, gnn="train")
    # The workers' batch size: ids are given batch by batch, and the GNN samples by id.
    settings = spec.settings().model_copy(
        update={"batch_size": int(JOB_ENV["FRAUDGRAPH_BATCH_SIZE"])}
    )
    run_inline(spec, settings=settings, jobs=JobSettings())
    return store_state(store)


def test_a_submitted_pipeline_runs_end_to_end_on_a_worker(
    scenario: Any,
    tmp_path: Path,
    start_worker: Callable[..., CeleryWorker],
    reference: dict[str, Any],
    receiver: Receiver,
) -> None:
    """Every step runs on the worker, the webhook gets the signed report after a transient
    failure, the state equals the inline run's, and the worker's metrics count the steps."""
    port = _free_port()
    receiver.statuses = [503]
    start_worker(
        "w1",
        FRAUDGRAPH_JOBS_WEBHOOK_URL=receiver.url,
        FRAUDGRAPH_JOBS_WEBHOOK_SECRET=SECRET,
        FRAUDGRAPH_JOBS_WEBHOOK_BACKOFF_S="0.05",
        extra_args=("--metrics-port", str(port)),
    )
    store = tmp_path / "store"
    run_id = celery_app.submit(pipeline_spec(scenario, store, gnn="train"))
    run = wait_for_run(store, run_id)
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "celery"
    statuses = {name: r["status"] for name, r in run["step_records"].items()}
    assert set(statuses.values()) == {"succeeded"}
    assert all(
        r["worker"].startswith("fraudgraph-test") or r["worker"]
        for r in run["step_records"].values()
    )
    assert store_state(store) == reference
    assert [r["valid"] for r in receiver.received] == [True, True]
    assert json.loads(receiver.received[-1]["body"])["run_id"] == run_id  # type: ignore[arg-type]
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'fraudgraph_job_steps_total{outcome="succeeded",step="analyse"} 1.0' in metrics
    assert 'fraudgraph_pipeline_runs_total{outcome="succeeded"} 1.0' in metrics
    assert "fraudgraph_job_step_seconds_bucket" in metrics


@pytest.mark.parametrize("victim", ["ingest", "gnn_train"])
def test_a_worker_killed_mid_step_is_replaced_and_the_run_ends_as_if_uninterrupted(
    scenario: Any,
    tmp_path: Path,
    start_worker: Callable[..., CeleryWorker],
    reference: dict[str, Any],
    victim: str,
) -> None:
    """SIGKILL the whole worker while ``victim`` runs: the step is delivered again to a new
    worker, runs a second time there, and the final state equals an uninterrupted run."""
    first = start_worker("doomed")
    store = tmp_path / "store"
    run_id = celery_app.submit(pipeline_spec(scenario, store, gnn="train"))
    ledger = RunLedger(store / "jobs")
    deadline = time.monotonic() + 120
    while True:
        record = ledger.step(run_id, victim)
        if record is not None and record["status"] == "running":
            first.kill()
            break
        assert time.monotonic() < deadline, ledger.steps(run_id)
        time.sleep(0.01)
    cut = ledger.step(run_id, victim)
    assert cut is not None and cut["status"] == "running", "the kill came after the step ended"
    start_worker("replacement")
    run = wait_for_run(store, run_id)
    assert run["status"] == "succeeded", run
    redone = run["step_records"][victim]
    assert redone["attempts"] == 2 and redone["worker"] != cut["worker"]
    assert all(r["attempts"] == 1 for name, r in run["step_records"].items() if name != victim)
    assert store_state(store) == reference


def test_duplicate_deliveries_are_harmless(
    scenario: Any,
    tmp_path: Path,
    start_worker: Callable[..., CeleryWorker],
    reference: dict[str, Any],
) -> None:
    """Every step delivered twice (two at the same time for the slowest ones, on two
    worker processes): each step runs once and the state equals a single delivery's."""
    from celery import chain

    start_worker("pair", concurrency=2)
    store = tmp_path / "store"
    spec = pipeline_spec(scenario, store, gnn="train")
    spec = spec.with_store(spec.settings())
    data = spec.as_dict()
    run_id = new_run_id()
    RunLedger(store / "jobs").create_run(
        run_id, trigger="celery", spec=data, steps=list(spec.steps)
    )
    tasks = celery_app.STEP_TASKS
    chain(
        celery_app.begin.si(run_id, data),
        tasks["ingest"].si(run_id, data),
        tasks["ingest"].si(run_id, data),
    ).apply_async().get(timeout=120)
    for step in ("gnn_train", "gnn_infer", "analyse"):  # two deliveries at once
        pending = [tasks[step].si(run_id, data).apply_async() for _ in range(2)]
        records = [p.get(timeout=120) for p in pending]
        assert records[0]["attempts"] == records[1]["attempts"] == 1
    rest = [
        tasks[s].si(run_id, data)
        for s in ("flag", "flag", "publish", "publish", "evaluate", "evaluate", "deliver")
    ]
    chain(*rest, celery_app.finish.si(run_id, data)).apply_async().get(timeout=120)
    run = wait_for_run(store, run_id)
    assert run["status"] == "succeeded"
    assert all(r["attempts"] == 1 for r in run["step_records"].values())
    assert store_state(store) == reference


def test_a_second_pipeline_is_refused_and_a_patient_one_waits(
    scenario: Any, tmp_path: Path, start_worker: Callable[..., CeleryWorker]
) -> None:
    """Run B, submitted while run A holds the store, is refused with A named; run C, with
    a wait, starts only after A finished."""
    start_worker("busy", concurrency=2)
    store = tmp_path / "store"
    first = celery_app.submit(pipeline_spec(scenario, store))
    ledger = RunLedger(store / "jobs")
    deadline = time.monotonic() + 60
    while ledger.run(first)["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    refused = celery_app.submit(pipeline_spec(scenario, store))
    patient = celery_app.submit(pipeline_spec(scenario, store, wait_s=180, threshold=0.6))
    refused_run = wait_for_run(store, refused)
    assert refused_run["status"] == "refused"
    assert first in refused_run["error"] and "locked by pipeline run" in refused_run["error"]
    assert refused_run["step_records"] == {}
    first_run = wait_for_run(store, first)
    patient_run = wait_for_run(store, patient)
    assert first_run["status"] == patient_run["status"] == "succeeded"
    assert patient_run["started_at"] >= first_run["finished_at"]


def test_a_failing_task_fails_the_run_and_frees_the_store(
    scenario: Any, tmp_path: Path, start_worker: Callable[..., CeleryWorker]
) -> None:
    """A step failing for good marks the run failed with its error (the chain's errback)
    and releases the lock: the next run on the store goes through."""
    start_worker("strict")
    store = tmp_path / "store"
    bad = pipeline_spec(scenario, store, inputs=(str(tmp_path / "missing.parquet"),))
    failed = wait_for_run(store, celery_app.submit(bad))
    assert failed["status"] == "failed" and "inputs not found" in failed["error"]
    assert {n: r["status"] for n, r in failed["step_records"].items()} == {"ingest": "failed"}
    assert wait_for_run(store, celery_app.submit(pipeline_spec(scenario, store)))["status"] == (
        "succeeded"
    )


def test_beat_schedules_pipeline_runs_over_the_inbox(
    scenario: Any, tmp_path: Path, start_worker: Callable[..., CeleryWorker], broker: str
) -> None:
    """A real beat process with a 2-second schedule queues pipeline runs over the inbox: the
    first ingests and analyses it; later ones are refused while it runs, or find the input
    unchanged and skip the work."""
    import os
    import shutil
    import subprocess
    import sys

    store, inbox = tmp_path / "store", tmp_path / "inbox"
    inbox.mkdir()
    shutil.copytree(scenario.events_path, inbox / "events")
    shutil.copy(scenario.labels_path, inbox / "labels.csv")
    env = {
        **JOB_ENV,
        "FRAUDGRAPH_JOBS_BROKER_URL": broker,
        "FRAUDGRAPH_STORE_DIR": str(store),
        "FRAUDGRAPH_JOBS_INBOX": str(inbox),
        "FRAUDGRAPH_JOBS_PIPELINE_EVERY_S": "2",
    }
    start_worker("scheduled", **env)
    log = (tmp_path / "beat.log").open("w")
    beat = subprocess.Popen(
        [sys.executable, "-m", "fraudgraph.cli", "beat", "--store", str(store)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ledger = RunLedger(store / "jobs")
    try:
        deadline = time.monotonic() + 180
        while True:
            runs = ledger.runs()
            done = [r for r in runs if r["status"] == "succeeded"]
            if len(done) >= 2:
                break
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, [(r["run_id"], r["status"]) for r in runs]
            time.sleep(0.5)
    finally:
        beat.terminate()
        beat.wait(timeout=30)
        log.close()
    runs = ledger.runs()
    assert {r["trigger"] for r in runs} == {"beat"}
    assert {r["status"] for r in runs} <= {"succeeded", "refused", "running", "queued"}
    first, second = sorted(
        (r for r in runs if r["status"] == "succeeded"), key=lambda r: r["run_id"]
    )[:2]
    assert first["step_records"]["analyse"]["status"] == "succeeded"
    assert first["step_records"]["ingest"]["result"]["files"] == 2
    assert second["step_records"]["analyse"]["status"] == "skipped"
