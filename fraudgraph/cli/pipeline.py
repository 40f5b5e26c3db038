"""The batch pipeline: ``fraudgraph pipeline`` (run, submit, resume) and ``fraudgraph
demo`` (a scenario, then a pipeline run); and the run reports ``jobs`` prints too."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.progress import TaskID
from rich.table import Table

from fraudgraph.cli.gnn import print_gnn_inference, print_gnn_training
from fraudgraph.cli.ingest import print_counts
from fraudgraph.cli.rings import DEMO_THRESHOLD, FlaggedAnalysis, TruthOption, report_analysis
from fraudgraph.cli.shared import (
    JsonOption,
    StoreOption,
    emit,
    err,
    fail_cleanly,
    out,
    progress_bars,
    settings_for,
    step_bars,
)
from fraudgraph.jobs.results import (
    AnalyseResult,
    DeliverResult,
    EvaluateResult,
    FlagResult,
    GnnInferResult,
    GnnTrainResult,
    IngestResult,
    PublishResult,
    StepResults,
)
from fraudgraph.jobs.steps import PipelineSpec
from graph_service import open_store
from graph_service.settings import Settings

__all__ = ["demo", "pipeline_app", "print_steps"]

pipeline_app = typer.Typer(
    help="The batch pipeline: ingest, GNN, analyse, flag, publish, evaluate, deliver.",
    no_args_is_help=True,
)

#: Most GNN epochs in ``demo`` (keeps the step within a couple of minutes).
DEMO_GNN_EPOCHS = 15

InputsArgument = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Files or directories to ingest first (already ingested ones are skipped)."
    ),
]
GnnOption = Annotated[
    str,
    typer.Option(
        "--gnn",
        help="auto: score with the champion (train one if none); train: retrain first; off.",
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Run every step even if the input is unchanged.")
]
WaitOption = Annotated[
    float,
    typer.Option(
        "--wait", min=0.0, help="Seconds to wait for another run's lock before giving up."
    ),
]
ThresholdOption = Annotated[
    float, typer.Option("--threshold", min=0.0, max=1.0, help="Ring score to flag from.")
]
GnnEpochsOption = Annotated[
    int, typer.Option("--gnn-epochs", min=1, help="Most epochs when the run trains a GNN.")
]
DeliverOption = Annotated[
    bool, typer.Option("--deliver/--no-deliver", help="POST flagged clusters to the webhook.")
]


@fail_cleanly
def demo(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where the demo writes.")] = Path(
        "data/demo"
    ),
    accounts: Annotated[
        int, typer.Option("--accounts", help="Number of accounts (1,000 or more).")
    ] = 20_000,
    seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """The main job end to end on the embedded store: generate a scenario, then run the
    batch pipeline inline (ingest, train the GNN and write gnn_score, analyse, flag, publish
    the feature snapshot, evaluate) and print the top rings and where to look next."""
    import shutil

    from graph_service.errors import InvalidInput
    from ingestion.synthetic import ScenarioConfig, generate_scenario

    try:
        config = ScenarioConfig(accounts=accounts, seed=seed)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    scenario_dir = workdir / "scenario"
    settings = settings_for(workdir / "store")
    if workdir.exists():
        shutil.rmtree(workdir)
    with progress_bars() as progress:
        summary = generate_scenario(
            config, scenario_dir, on_progress=step_bars(progress, prefix="generate: ")
        )
    out.print(
        f"[bold]scenario[/]: {summary.accounts:,} accounts, {summary.events:,} events, "
        f"{summary.rings} planted rings ({summary.ring_accounts:,} ring accounts)"
    )
    spec = PipelineSpec(
        inputs=(str(summary.events_path), str(summary.labels_path)),
        truth=str(summary.truth_path),
        threshold=DEMO_THRESHOLD,
        gnn="train",
        gnn_epochs=DEMO_GNN_EPOCHS,
        publish_redis=False,
        deliver=False,
    )
    run = _run_inline(spec, settings)
    _report_run(run, settings, top=10)
    out.print(f"  ground truth of the planted rings: {summary.truth_path}")
    out.print(
        f"  fraudgraph jobs show {run['run_id']} --store {settings.store_dir}   this run, step by step"
    )


def _run_inline(
    spec: PipelineSpec, settings: Settings, *, run_id: str | None = None
) -> dict[str, Any]:
    """Run a pipeline inline with one progress bar per step; the run record."""
    from fraudgraph.jobs.pipeline import run_inline

    with progress_bars() as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(step: str, label: str, done: int | None, total: int | None) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=None)
            progress.update(tasks[step], description=label, completed=done or 0, total=total)

        run = run_inline(spec, settings=settings, progress=on_progress, run_id=run_id)
        for task in tasks.values():
            progress.update(task, completed=1, total=1)
    return run


def _report_run(run: dict[str, Any], settings: Settings, *, top: int) -> None:
    """Print what a pipeline run found: ingest, GNN, rings, evaluation, snapshot."""
    from scoring.flagging import read_flagged_clusters

    results = StepResults.of(run["step_records"])
    ingest = results.ingest
    if ingest and ingest.get("files"):
        out.print(
            f"[bold]ingest[/]: read {ingest['rows_read']:,}, loaded {ingest['rows_loaded']:,}, "
            f"quarantined {ingest['rows_quarantined']:,}, duplicate {ingest['rows_duplicate']:,} "
            f"(fields quarantined {ingest.get('fields_quarantined', 0):,}) "
            f"in {ingest['seconds']:.1f} s (reconciled: {ingest['reconciled']})"
        )
        if ingest.get("rows_quarantined") or ingest.get("fields_quarantined"):
            out.print(f"  quarantine: {ingest['quarantine_path']}")
        for unrecognised in ingest.get("files_unrecognised", []):
            out.print(
                f"  not ingested: {unrecognised['path']} ({unrecognised['reason']})",
                markup=False,
                highlight=False,
            )
        print_counts(ingest["data"]["counts"])
    for step, name in (("gnn_train", "gnn"), ("gnn_infer", "gnn scoring"), ("analyse", "analysis")):
        if step in results.skipped:
            out.print(f"[bold]{name}[/]: skipped ({results.skipped[step]})")
    if results.gnn_train:
        print_gnn_training(results.gnn_train)
    if results.gnn_infer:
        print_gnn_inference(results.gnn_infer)
    if not results.analyse or not results.flag:
        return
    with open_store(settings) as graph:
        flagged = read_flagged_clusters(graph, version=run["run_id"])
    analysis = FlaggedAnalysis(figures=results.analyse, flagging=results.flag, flagged=flagged)
    report_analysis(analysis, results.evaluate, top=top, as_json=False, store=settings.store_dir)
    snapshot = results.publish
    if snapshot:
        out.print(
            f"  feature snapshot {snapshot['version']} published ({snapshot['entities']:,} "
            f"accounts); serve it with: fraudgraph serve --store {settings.store_dir}"
        )


def _pipeline_spec(
    inputs: list[Path] | None,
    truth: Path | None,
    threshold: float,
    gnn: str,
    gnn_epochs: int,
    force: bool,
    wait_s: float,
    deliver: bool,
) -> PipelineSpec:
    return PipelineSpec(
        inputs=tuple(str(p.resolve()) for p in inputs or []),
        truth=str(truth.resolve()) if truth else None,
        threshold=threshold,
        gnn=gnn,
        gnn_epochs=gnn_epochs,
        force=force,
        wait_s=wait_s,
        deliver=deliver,
    )


@pipeline_app.command("run")
@fail_cleanly
def pipeline_run(
    inputs: InputsArgument = None,
    store: StoreOption = None,
    truth: TruthOption = None,
    threshold: ThresholdOption = DEMO_THRESHOLD,
    gnn: GnnOption = "auto",
    gnn_epochs: GnnEpochsOption = 40,
    force: ForceOption = False,
    wait_s: WaitOption = 0.0,
    deliver: DeliverOption = True,
    as_json: JsonOption = False,
) -> None:
    """Run the pipeline in this process (no broker needed), with progress per step."""
    settings = settings_for(store)
    spec = _pipeline_spec(inputs, truth, threshold, gnn, gnn_epochs, force, wait_s, deliver)
    run = _run_inline(spec, settings)
    if as_json:
        emit(run)
        return
    print_steps(run)
    _report_run(run, settings, top=10)


@pipeline_app.command("submit")
@fail_cleanly
def pipeline_submit(
    inputs: InputsArgument = None,
    store: StoreOption = None,
    truth: TruthOption = None,
    threshold: ThresholdOption = DEMO_THRESHOLD,
    gnn: GnnOption = "auto",
    gnn_epochs: GnnEpochsOption = 40,
    force: ForceOption = False,
    wait_s: WaitOption = 0.0,
    deliver: DeliverOption = True,
    follow: Annotated[
        bool, typer.Option("--follow", help="Wait for the run to finish and print its steps.")
    ] = False,
    timeout_s: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Most seconds --follow waits.")
    ] = 24 * 3600.0,
    as_json: JsonOption = False,
) -> None:
    """Queue the pipeline on the Celery workers (FRAUDGRAPH_JOBS_BROKER_URL)."""
    from fraudgraph.jobs.celery_app import submit

    settings = settings_for(store)
    spec = _pipeline_spec(inputs, truth, threshold, gnn, gnn_epochs, force, wait_s, deliver)
    run_id = submit(spec, settings=settings)
    if not follow:
        if as_json:
            emit({"run_id": run_id, "status": "queued"})
        else:
            out.print(
                f"queued pipeline run [bold]{run_id}[/]; follow it with: fraudgraph jobs show {run_id}"
            )
        return
    run = _follow(settings, run_id, timeout_s)
    if as_json:
        emit(run)
    else:
        print_steps(run)
    if run["status"] != "succeeded":
        err.print(f"error: run {run_id} {run['status']}: {run.get('error')}", markup=False)
        raise typer.Exit(1)


@pipeline_app.command("resume")
@fail_cleanly
def pipeline_resume(
    run_id: Annotated[str, typer.Argument(help="A failed or refused run (see `jobs status`).")],
    store: StoreOption = None,
    on_workers: Annotated[
        bool, typer.Option("--submit", help="Resume on the Celery workers instead of here.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="With --submit: wait for the end.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a failed run's remaining steps: its done steps are kept, the failed one runs again."""
    from fraudgraph.jobs.pipeline import resumable
    from fraudgraph.jobs.settings import JobSettings

    settings = settings_for(store)
    spec = resumable(run_id, settings=settings, jobs=JobSettings())
    if on_workers:
        from fraudgraph.jobs.celery_app import submit

        submit(spec, settings=settings, run_id=run_id)
        if not follow:
            if as_json:
                emit({"run_id": run_id, "status": "queued"})
            else:
                out.print(f"resuming run [bold]{run_id}[/] on the workers")
            return
        run = _follow(settings, run_id, 24 * 3600.0)
    else:
        run = _run_inline(spec, settings, run_id=run_id)
    if as_json:
        emit(run)
        return
    print_steps(run)
    if run["status"] != "succeeded":
        raise typer.Exit(1)


def _follow(settings: Settings, run_id: str, timeout_s: float) -> dict[str, Any]:
    """Wait for a queued run to finish (progress from its ledger); its record."""
    import time

    from fraudgraph.jobs.ledger import FINISHED
    from fraudgraph.jobs.pipeline import run_ledger
    from graph_service.errors import QueryTimeout

    ledger = run_ledger(settings)
    deadline = time.monotonic() + timeout_s
    with err.status(f"run {run_id}") as status:
        while True:
            run = ledger.run(run_id)
            steps = ledger.steps(run_id)
            if run["status"] in FINISHED:
                run["step_records"] = steps
                return run
            running = [r for r in steps.values() if r["status"] == "running"]
            if running:
                progress = running[-1].get("progress") or {}
                status.update(f"run {run_id}: {running[-1]['step']} {progress.get('label') or ''}")
            if time.monotonic() > deadline:
                raise QueryTimeout(
                    f"run {run_id} did not finish within {timeout_s:.0f} s; it goes on"
                )
            time.sleep(0.5)


def print_steps(run: dict[str, Any]) -> None:
    """A run, step by step: status, seconds, attempts and a note on each step's result."""
    view = Table(title=f"pipeline run {run['run_id']} ({run['trigger']}): {run['status']}")
    for column in ("step", "status", "seconds", "attempts", "note"):
        view.add_column(column)
    for step in run["steps"]:
        record = run["step_records"].get(step)
        if record is None:
            view.add_row(step, "-", "", "", "")
            continue
        view.add_row(
            step,
            record["status"],
            "" if record["seconds"] is None else f"{record['seconds']:.1f}",
            str(record["attempts"]),
            _step_note(record),
        )
    out.print(view)
    if run.get("error"):
        out.print(f"  error: {run['error']}", markup=False)


def _step_note(record: dict[str, Any]) -> str:
    """What a step's result says, in a few words.

    The result is the step's (see :mod:`fraudgraph.jobs.results`), or empty while the
    step runs: every key is read with a default.
    """
    result = record.get("result") or {}
    if record.get("error"):
        return str(record["error"])[:120]
    if "skipped" in result:
        return str(result["skipped"])[:120]
    step = record["step"]
    if step == "ingest":
        ingest = cast(IngestResult, result)
        return f"{ingest.get('rows_loaded', 0):,} rows loaded, {ingest.get('rows_quarantined', 0):,} quarantined"
    if step == "gnn_train":
        trained = cast(GnnTrainResult, result)
        decision = trained.get("decision")
        promoted = decision is not None and decision.get("promoted")
        return f"{trained.get('version')} ({'promoted' if promoted else 'shadow'})"
    if step == "gnn_infer":
        inferred = cast(GnnInferResult, result)
        return f"{inferred.get('accounts', 0):,} accounts scored with {inferred.get('version')}"
    if step == "analyse":
        analysed = cast(AnalyseResult, result)
        return f"{analysed.get('ring_candidates', 0):,} ring candidates"
    if step == "flag":
        flagged = cast(FlagResult, result)
        return f"{flagged.get('flagged', 0):,} flagged ({flagged.get('new_alerts', 0)} new)"
    if step == "publish":
        published = cast(PublishResult, result)
        return f"snapshot {published.get('version')} ({published.get('entities', 0):,} entities)"
    if step == "evaluate":
        evaluation = cast(EvaluateResult, result)
        return (
            f"ring recall {evaluation.get('ring_recall')}, "
            f"account ROC-AUC {evaluation.get('roc_auc')}"
        )
    if step == "deliver":
        delivered = cast(DeliverResult, result)
        return f"delivered in {len(delivered.get('attempts', []))} attempt(s)"
    return ""
