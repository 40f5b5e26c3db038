"""The jobs' CLI: pipeline run/submit, jobs status/show/deliver, worker and beat options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fraudgraph.jobs.ledger import new_run_id
from fraudgraph.jobs.pipeline import begin_run
from fraudgraph.jobs.settings import JobSettings
from tests.fraudgraph.conftest import SECRET, Receiver
from tests.fraudgraph.jobs.conftest import pipeline_spec
from tests.fraudgraph.test_cli import fraudgraph

pytestmark = pytest.mark.slow


def _inputs(scenario: Any) -> list[str]:
    return [str(scenario.events_path), str(scenario.labels_path)]


def test_pipeline_run_then_jobs_status_and_show(scenario: Any, tmp_path: Path) -> None:
    """pipeline run --json prints one run record; a second run skips the unchanged work;
    jobs status lists both newest first with their versions; jobs show gives the steps."""
    store = str(tmp_path / "store")
    common = ["--store", store, "--gnn", "off", "--truth", str(scenario.truth_path), "--json"]
    first = fraudgraph("pipeline", "run", *_inputs(scenario), *common)
    assert first.returncode == 0, first.stderr
    run = json.loads(first.stdout)
    assert run["status"] == "succeeded" and run["step_records"]["flag"]["status"] == "succeeded"
    second = json.loads(fraudgraph("pipeline", "run", *_inputs(scenario), *common).stdout)
    assert second["step_records"]["analyse"]["status"] == "skipped"

    status = fraudgraph("jobs", "status", "--store", store, "--json")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)
    assert rows["count"] == 2
    newest, oldest = rows["data"]
    assert (newest["run_id"], oldest["run_id"]) == (second["run_id"], run["run_id"])
    assert oldest["snapshot"] == run["run_id"] and oldest["flagged"] > 0
    assert oldest["steps"]["analyse"] == "succeeded" and newest["steps"]["analyse"] == "skipped"
    assert oldest["seconds"] > 0 and oldest["trigger"] == "inline"

    shown = fraudgraph("jobs", "show", run["run_id"], "--store", store)
    assert shown.returncode == 0, shown.stderr
    assert "analyse" in shown.stdout and "succeeded" in shown.stdout
    table = fraudgraph("jobs", "status", "--store", store)
    assert table.returncode == 0 and "inline" in table.stdout


def test_a_locked_store_refuses_a_run_in_one_line(scenario: Any, tmp_path: Path) -> None:
    """While another run holds the store, pipeline run exits 2 naming that run."""
    store = tmp_path / "store"
    spec = pipeline_spec(scenario, store)
    settings = spec.settings()
    holder = new_run_id()
    begin_run(holder, spec.with_store(settings), settings=settings, jobs=JobSettings(), trigger="x")
    result = fraudgraph("pipeline", "run", *_inputs(scenario), "--store", str(store))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: the store is locked by pipeline run " + holder)


def test_bad_pipeline_input_is_a_one_line_error(tmp_path: Path) -> None:
    """A missing input or an unknown --gnn mode exits 2 with one line saying what is wrong."""
    missing = fraudgraph(
        "pipeline", "run", str(tmp_path / "nope.csv"), "--store", str(tmp_path / "s")
    )
    assert missing.returncode == 2 and "inputs not found" in missing.stderr
    mode = fraudgraph("pipeline", "run", "--gnn", "maybe", "--store", str(tmp_path / "s"))
    assert mode.returncode == 2 and "gnn must be one of" in mode.stderr


def test_submit_without_a_broker_fails_fast(tmp_path: Path) -> None:
    """pipeline submit with no Redis at the broker URL exits 1 at once, queuing nothing."""
    result = fraudgraph(
        "pipeline",
        "submit",
        "--store",
        str(tmp_path / "store"),
        env={"FRAUDGRAPH_JOBS_BROKER_URL": "redis://127.0.0.1:1/0"},
    )
    assert result.returncode == 1 and "does not answer" in result.stderr
    assert not (tmp_path / "store" / "jobs" / "runs").exists()


def test_an_undelivered_report_is_sent_again_with_jobs_deliver(
    scenario: Any, tmp_path: Path, receiver: Receiver
) -> None:
    """A refused webhook fails the run (exit 1, report in the outbox); once the receiver
    accepts, jobs deliver sends it and empties the outbox."""
    store = tmp_path / "store"
    env = {
        "FRAUDGRAPH_JOBS_WEBHOOK_URL": receiver.url,
        "FRAUDGRAPH_JOBS_WEBHOOK_SECRET": SECRET,
        "FRAUDGRAPH_JOBS_WEBHOOK_ATTEMPTS": "2",
        "FRAUDGRAPH_JOBS_WEBHOOK_BACKOFF_S": "0.01",
    }
    receiver.statuses = [500, 500]
    failed = fraudgraph(
        "pipeline", "run", *_inputs(scenario), "--store", str(store), "--gnn", "off", env=env
    )
    assert failed.returncode == 1 and "jobs deliver" in failed.stderr
    run_id = sorted(p.name for p in (store / "jobs" / "runs").iterdir())[-1]
    outbox = store / "jobs" / "outbox" / f"flagged-{run_id}.json"
    assert outbox.exists()
    sent = fraudgraph("jobs", "deliver", run_id, "--store", str(store), "--json", env=env)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["delivered"] is True
    assert not outbox.exists()
    assert all(r["valid"] for r in receiver.received) and len(receiver.received) == 3


def test_worker_and_beat_are_documented_commands() -> None:
    """worker and beat start Celery processes; their help names the broker setting."""
    for command in ("worker", "beat"):
        result = fraudgraph(command, "--help")
        assert result.returncode == 0, result.stderr
        assert "FRAUDGRAPH_JOBS" in result.stdout


def test_pipeline_resume_finishes_a_failed_run(
    scenario: Any, tmp_path: Path, receiver: Receiver
) -> None:
    """pipeline resume RUN runs what is left of a failed run and exits 0 once it succeeds."""
    store = tmp_path / "store"
    env = {
        "FRAUDGRAPH_JOBS_WEBHOOK_URL": receiver.url,
        "FRAUDGRAPH_JOBS_WEBHOOK_SECRET": SECRET,
        "FRAUDGRAPH_JOBS_WEBHOOK_ATTEMPTS": "1",
    }
    receiver.statuses = [503]
    failed = fraudgraph(
        "pipeline", "run", *_inputs(scenario), "--store", str(store), "--gnn", "off", env=env
    )
    assert failed.returncode == 1
    run_id = sorted(p.name for p in (store / "jobs" / "runs").iterdir())[-1]
    resumed = fraudgraph("pipeline", "resume", run_id, "--store", str(store), "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    run = json.loads(resumed.stdout)
    assert run["status"] == "succeeded" and run["step_records"]["deliver"]["attempts"] == 2
    again = fraudgraph("pipeline", "resume", run_id, "--store", str(store), env=env)
    assert again.returncode == 2 and "nothing to resume" in again.stderr


def _start_run(scenario: Any, store: Path, env: dict[str, str]) -> Any:
    import os
    import signal
    import subprocess
    import sys

    def default_sigint() -> None:
        # The run gets Ctrl-C as a terminal would deliver it, whatever this process
        # inherited: a test runner started in the background by a shell without job
        # control ignores SIGINT, and an ignored signal stays ignored across exec.
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(
        [
            *(sys.executable, "-m", "fraudgraph.cli", "pipeline", "run"),
            *_inputs(scenario),
            *("--store", str(store), "--gnn", "off"),
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def _when_running(store: Path, step: str, process: Any) -> str:
    """The run id once ``step`` is recorded as running."""
    import time

    from fraudgraph.jobs.ledger import RunLedger

    ledger = RunLedger(store / "jobs")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before the step started"
        runs = ledger.runs(limit=1)
        if runs and (runs[0]["step_records"].get(step) or {}).get("status") == "running":
            return str(runs[0]["run_id"])
        time.sleep(0.01)
    raise AssertionError(f"{step} never ran")


def test_ctrl_c_fails_the_run_and_frees_the_store(scenario: Any, tmp_path: Path) -> None:
    """SIGINT during a run: exit 130, the run recorded as failed (interrupted), the lock
    freed so the next run goes through at once, and the interrupted run resumable."""
    import signal

    store = tmp_path / "store"
    with _start_run(scenario, store, {"FRAUDGRAPH_BATCH_SIZE": "5000"}) as process:
        run_id = _when_running(store, "ingest", process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    status = json.loads(fraudgraph("jobs", "status", "--store", str(store), "--json").stdout)
    assert status["data"][0]["status"] == "failed"
    assert "KeyboardInterrupt" in status["data"][0]["error"]
    resumed = fraudgraph("pipeline", "resume", run_id, "--store", str(store), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["step_records"]["ingest"]["attempts"] == 2


def test_a_killed_inline_run_is_resumed_once_its_lease_lapses(
    scenario: Any, tmp_path: Path
) -> None:
    """SIGKILL leaves the run "running" and its lock held; resume is refused until the
    lease lapses, then finishes the run to the state of an uninterrupted one."""
    import time

    from tests.fraudgraph.jobs.conftest import store_state

    env = {"FRAUDGRAPH_BATCH_SIZE": "5000", "FRAUDGRAPH_JOBS_LOCK_TTL_S": "10"}
    reference = tmp_path / "reference"
    done = fraudgraph(
        "pipeline", "run", *_inputs(scenario), "--store", str(reference), "--gnn", "off", env=env
    )
    assert done.returncode == 0, done.stderr
    store = tmp_path / "store"
    with _start_run(scenario, store, env) as process:
        run_id = _when_running(store, "ingest", process)
        process.kill()
        process.communicate(timeout=60)
    early = fraudgraph("pipeline", "resume", run_id, "--store", str(store), env=env)
    assert early.returncode == 2 and "still running" in early.stderr
    time.sleep(10.5)
    status = json.loads(fraudgraph("jobs", "status", "--store", str(store), "--json").stdout)
    assert status["data"][0]["status"] == "stalled" and "resume" in status["data"][0]["error"]
    resumed = fraudgraph("pipeline", "resume", run_id, "--store", str(store), "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    run = json.loads(resumed.stdout)
    assert run["status"] == "succeeded" and run["step_records"]["ingest"]["attempts"] == 2
    assert store_state(store) == store_state(reference)
