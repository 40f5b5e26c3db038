"""The run ledger: runs and step records as atomically replaced JSON files."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudgraph.jobs.ledger import RunLedger, RunStatus, new_run_id
from graph_service.errors import EntityNotFound, InvalidInput


def test_a_run_and_its_steps_round_trip(tmp_path: Path) -> None:
    """A created run is queued; updates and step records read back; runs list newest first."""
    ledger = RunLedger(tmp_path)
    first = ledger.create_run("20260101T000000.000001Z", trigger="inline", spec={}, steps=["a"])
    assert first["status"] == "queued"
    ledger.create_run("20260101T000000.000002Z", trigger="celery", spec={}, steps=["a"])
    ledger.update_run("20260101T000000.000001Z", status=RunStatus.SUCCEEDED)
    ledger.write_step("20260101T000000.000001Z", "a", {"step": "a", "status": "succeeded"})
    runs = ledger.runs()
    assert [r["run_id"] for r in runs] == ["20260101T000000.000002Z", "20260101T000000.000001Z"]
    assert runs[1]["status"] == "succeeded"
    assert runs[1]["step_records"] == {"a": {"step": "a", "status": "succeeded"}}
    assert ledger.last_succeeded()["run_id"] == "20260101T000000.000001Z"  # type: ignore[index]
    assert ledger.last_succeeded(before="20260101T000000.000001Z") is None


def test_creating_an_existing_run_keeps_it(tmp_path: Path) -> None:
    """A re-delivered submit does not reset a run that already started."""
    ledger = RunLedger(tmp_path)
    run_id = new_run_id()
    ledger.create_run(run_id, trigger="celery", spec={}, steps=["a"])
    ledger.update_run(run_id, status=RunStatus.RUNNING)
    again = ledger.create_run(run_id, trigger="celery", spec={"x": 1}, steps=["a"])
    assert again["status"] == "running" and again["spec"] == {}


def test_files_written_beside_step_records_are_not_steps(tmp_path: Path) -> None:
    """A step's own output file in the run folder is not read back as a step record."""
    ledger = RunLedger(tmp_path)
    run_id = new_run_id()
    ledger.create_run(run_id, trigger="inline", spec={}, steps=["evaluate"])
    (ledger.run_dir(run_id) / "evaluation.json").write_text("{}")
    assert ledger.steps(run_id) == {}


def test_unknown_runs_and_unsafe_names_are_refused(tmp_path: Path) -> None:
    """An unknown run is EntityNotFound; a path-like run id or step name is InvalidInput."""
    ledger = RunLedger(tmp_path)
    with pytest.raises(EntityNotFound, match="no pipeline run"):
        ledger.run("20260101T000000.000001Z")
    with pytest.raises(InvalidInput):
        ledger.run("../../etc")
    with pytest.raises(InvalidInput):
        ledger.step("20260101T000000.000001Z", "a/b")


def test_prune_keeps_the_newest_and_unfinished_runs(tmp_path: Path) -> None:
    """Finished runs beyond the newest ``keep`` are removed; a running one never is."""
    ledger = RunLedger(tmp_path)
    ids = [f"20260101T00000{i}.000000Z" for i in range(5)]
    for i, run_id in enumerate(ids):
        ledger.create_run(run_id, trigger="inline", spec={}, steps=[])
        status = RunStatus.RUNNING if i == 0 else RunStatus.SUCCEEDED
        ledger.update_run(run_id, status=status)
    removed = ledger.prune(2)
    assert removed == [ids[2], ids[1]]
    assert [r["run_id"] for r in ledger.runs()] == [ids[4], ids[3], ids[0]]


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    """Records are replaced through a temporary file that is renamed, never left behind."""
    ledger = RunLedger(tmp_path)
    run_id = new_run_id()
    ledger.create_run(run_id, trigger="inline", spec={}, steps=["a"])
    for i in range(5):
        ledger.write_step(run_id, "a", {"step": "a", "status": "running", "i": i})
    names = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert names == ["a.json", "run.json"]
