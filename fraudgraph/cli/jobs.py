"""``fraudgraph jobs``: pipeline runs: status, one run's steps, webhook re-delivery."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from fraudgraph.cli.pipeline import print_steps
from fraudgraph.cli.shared import JsonOption, StoreOption, emit, fail_cleanly, out, settings_for
from fraudgraph.jobs.results import StepResults

__all__ = ["jobs_app"]

jobs_app = typer.Typer(
    help="Pipeline runs: status, one run's steps, webhook re-delivery.", no_args_is_help=True
)


@jobs_app.command("status")
@fail_cleanly
def jobs_status(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Runs to list.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Recent pipeline runs, newest first: outcome, duration, versions, flagged clusters."""
    from fraudgraph.jobs.pipeline import PIPELINE_LOCK, lease_backend, run_ledger
    from fraudgraph.jobs.settings import JobSettings

    settings = settings_for(store)
    runs = run_ledger(settings).runs(limit=limit)
    rows = [_run_row(run) for run in runs]
    if any(row["status"] == "running" for row in rows):
        # A running run whose lock lapsed has no live process: say so (resume it).
        holder = lease_backend(settings, JobSettings()).holder(PIPELINE_LOCK)
        for row in rows:
            if row["status"] == "running" and (holder is None or holder.owner != row["run_id"]):
                row["status"] = "stalled"
                row["error"] = "no live process holds the run's lock; `fraudgraph pipeline resume`"
    if as_json:
        emit({"data": rows, "count": len(rows)})
        return
    view = Table(title="pipeline runs")
    for column in (
        "run",
        "trigger",
        "status",
        "seconds",
        "step",
        "flagged (new)",
        "snapshot",
        "gnn",
    ):
        view.add_column(column)
    for row in rows:
        flagged = "" if row["flagged"] is None else f"{row['flagged']} ({row['new_alerts']})"
        view.add_row(
            row["run_id"],
            row["trigger"],
            row["status"],
            "" if row["seconds"] is None else f"{row['seconds']:.1f}",
            row["current_step"] or "",
            flagged,
            row["snapshot"] or "",
            row["gnn_model"] or "",
        )
    out.print(view)


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    """One run as a status row: outcome, times, the versions it wrote, its figures."""
    from datetime import datetime

    steps = run.get("step_records", {})
    results = StepResults.of(steps)
    seconds = None
    if run.get("started_at") and run.get("finished_at"):
        seconds = round(
            (
                datetime.fromisoformat(run["finished_at"])
                - datetime.fromisoformat(run["started_at"])
            ).total_seconds(),
            3,
        )
    current = next(
        (
            name
            for name in run["steps"]
            if (steps.get(name) or {}).get("status") in ("running", "failed")
        ),
        None,
    )
    analysis, flag, snapshot, gnn = (
        results.analyse,
        results.flag,
        results.publish,
        results.gnn_infer,
    )
    return {
        "run_id": run["run_id"],
        "trigger": run["trigger"],
        "status": run["status"],
        "created_at": run["created_at"],
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
        "seconds": seconds,
        "current_step": current,
        "input_key": run.get("input_key"),
        "steps": {name: (steps.get(name) or {}).get("status") for name in run["steps"]},
        "analysis_version": analysis.get("analysis_version") if analysis else None,
        "flagged": flag.get("flagged") if flag else None,
        "new_alerts": flag.get("new_alerts") if flag else None,
        "flagged_report": flag.get("json") if flag else None,
        "snapshot": snapshot.get("version") if snapshot else None,
        "gnn_model": gnn.get("version") if gnn else None,
        "error": run.get("error"),
    }


@jobs_app.command("show")
@fail_cleanly
def jobs_show(
    run_id: Annotated[str, typer.Argument(help="The run id (see `jobs status`).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """One run, step by step: status, attempts, time, worker, result or error."""
    from fraudgraph.jobs.pipeline import run_ledger

    ledger = run_ledger(settings_for(store))
    run = ledger.run(run_id)
    run["step_records"] = ledger.steps(run_id)
    if as_json:
        emit(run)
        return
    print_steps(run)


@jobs_app.command("deliver")
@fail_cleanly
def jobs_deliver(
    run_id: Annotated[str, typer.Argument(help="The run whose flagged clusters to send again.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a run's flagged clusters to the webhook again (e.g. from the outbox)."""
    from fraudgraph.jobs.pipeline import run_ledger
    from fraudgraph.jobs.settings import JobSettings
    from fraudgraph.jobs.steps import PipelineSpec, StepContext, deliver

    settings = settings_for(store)
    ledger = run_ledger(settings)
    run = ledger.run(run_id)
    ctx = StepContext(run_id, PipelineSpec.from_dict(run["spec"]), settings, JobSettings(), ledger)
    result = deliver(ctx)
    if as_json:
        emit(result)
        return
    out.print(
        f"delivered the flagged clusters of run {run_id} in {len(result['attempts'])} attempt(s)"
    )
