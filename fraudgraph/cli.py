"""The ``fraudgraph`` command line: generate, ingest, stats, analyze, evaluate, rings,
super-nodes, query, gnn (train, infer, evaluate, promote), publish, serve, pipeline (run,
submit, resume), jobs (status, show, deliver), worker, beat, demo, and a local Neo4j.

Every command that reports figures takes ``--json`` and then prints exactly one JSON
object on stdout; progress bars and logs go to stderr. On failure the exit code is
non-zero and stderr carries a one-line error.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from graph_service import FraudGraphError, GraphStore, open_store
from graph_service.settings import Settings
from ingestion.loader import Ingestor, IngestReport
from ingestion.readers import FileFormat
from ingestion.schema import FileKind

# torch_geometric scripts a helper with the deprecated torch.jit.script when imported; the
# CLI's stderr is for progress and one-line errors.
warnings.filterwarnings(
    "ignore", message="`torch.jit.script` is deprecated", category=FutureWarning
)

app = typer.Typer(
    name="fraudgraph",
    help=(
        "Fraud-ring detection on an entity graph: generate scenarios, ingest events, find and "
        "score rings, evaluate, serve, and run the batch pipeline (inline or on Celery)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
neo4j_app = typer.Typer(
    help="A local Neo4j + Graph Data Science server for development and tests.",
    no_args_is_help=True,
)
app.add_typer(neo4j_app, name="neo4j")

err = Console(stderr=True)
out = Console()

P = ParamSpec("P")
R = TypeVar("R")

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store", envvar="FRAUDGRAPH_STORE", help="Store directory [default: ./data/store]."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _fail_cleanly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn known errors into a one-line message on stderr and exit code 1 (2 for bad input)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except FraudGraphError as exc:
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2 if exc.http_status < 500 else 1) from None
        except KeyboardInterrupt:
            err.print("error: interrupted; committed batches are kept, re-run to finish")
            raise typer.Exit(130) from None

    return wrapper


def _settings(store: Path | None) -> Settings:
    settings = Settings()
    if store is not None:
        settings = settings.model_copy(update={"store_dir": store})
    return settings


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, default=str) + "\n")


@contextmanager
def _progress() -> Iterator[Progress]:
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        yield progress


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log to stderr.")] = False,
) -> None:
    """Fraud-ring detection on an entity graph."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


class Profile(StrEnum):
    """Synthetic scenario profiles (``fraudgraph generate --profile``)."""

    DEFAULT = "default"
    HARD = "hard"


@app.command()
@_fail_cleanly
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path(
        "data/scenario"
    ),
    accounts: Annotated[
        int,
        typer.Option(
            "--accounts", help="Number of accounts: 1,000 to 20,000,000 (hard: to 2,000,000)."
        ),
    ] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    profile: Annotated[
        Profile,
        typer.Option(
            "--profile",
            help=(
                "default: rings tied by rare identifiers, Parquet events. hard: a US bank's "
                "book where benign sharing is the norm and rings are camouflaged, CSV feeds "
                "in mixed formats, sharers.csv and scenario.json."
            ),
        ),
    ] = Profile.DEFAULT,
    rings_per_10k: Annotated[
        float | None,
        typer.Option(
            "--rings-per-10k", min=0.0, help="Rings per 10,000 accounts (default 8; hard 25)."
        ),
    ] = None,
    label_fraction: Annotated[
        float | None,
        typer.Option(
            "--label-fraction",
            min=0.0,
            max=1.0,
            help="Share of ring members labelled fraud (default 0.3).",
        ),
    ] = None,
    legit_label_fraction: Annotated[
        float | None,
        typer.Option(
            "--legit-label-fraction",
            min=0.0,
            max=1.0,
            help="Share of other accounts labelled legit (default 0.01; hard 0).",
        ),
    ] = None,
    mixed_formats: Annotated[
        bool | None,
        typer.Option(
            "--mixed-formats/--canonical-formats",
            help="hard only: spell values as bank feeds do (the default), or canonically.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Generate a synthetic scenario: events, labels.csv and truth.csv (the hard profile
    also writes sharers.csv and scenario.json)."""
    from graph_service.errors import InvalidInput
    from ingestion.synthetic import (
        HardScenarioConfig,
        HardScenarioSummary,
        ScenarioConfig,
        ScenarioSummary,
        generate_hard_scenario,
        generate_scenario,
    )

    overrides: dict[str, Any] = {
        name: value
        for name, value in (
            ("rings_per_10k", rings_per_10k),
            ("label_fraction", label_fraction),
            ("legit_label_fraction", legit_label_fraction),
        )
        if value is not None
    }
    if mixed_formats is not None:
        if profile is not Profile.HARD:
            raise InvalidInput("--mixed-formats/--canonical-formats apply to --profile hard only")
        overrides["mixed_formats"] = mixed_formats
    try:
        config: ScenarioConfig | HardScenarioConfig
        if profile is Profile.HARD:
            config = HardScenarioConfig(accounts=accounts, seed=seed, **overrides)
        else:
            config = ScenarioConfig(accounts=accounts, seed=seed, **overrides)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc

    with _progress() as progress:
        tasks: dict[str, Any] = {}

        def on_progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total)
            progress.update(tasks[step], completed=done, total=total)

        summary: ScenarioSummary | HardScenarioSummary
        if isinstance(config, HardScenarioConfig):
            summary = generate_hard_scenario(config, out_dir, on_progress=on_progress)
        else:
            summary = generate_scenario(config, out_dir, on_progress=on_progress)
    if as_json:
        _emit(summary.as_dict())
    else:
        err.print(
            f"wrote {summary.events:,} events for {summary.accounts:,} accounts "
            f"({summary.rings} planted rings, {summary.ring_accounts:,} ring accounts) to {out_dir}"
        )


@app.command()
@_fail_cleanly
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or directories of events, labels or entity attributes."),
    ],
    store: StoreOption = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Force the file kind: events|labels|entities.")
    ] = None,
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="Force the format: parquet|csv|jsonl|json (an array)."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Rows per transaction.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Load files into the store; bad rows and bad optional fields go to quarantine,
    files of a directory that are not inputs are skipped and listed, re-ingesting is a
    no-op."""
    from graph_service.errors import InvalidInput

    settings = _settings(store)
    try:
        forced_kind = FileKind(kind) if kind else None
        forced_format = FileFormat(file_format) if file_format else None
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    with open_store(settings) as graph, _progress() as progress:
        report = _ingest_with_progress(
            graph,
            settings,
            paths,
            progress,
            batch_size=batch_size,
            kind=forced_kind,
            file_format=forced_format,
        )
    result = report.as_dict()
    if as_json:
        _emit(result)
        return
    out.print(_ingest_table(report))
    for unrecognised in report.unrecognised:
        out.print(
            f"not ingested (not events, labels or entity attributes): {unrecognised.path}: "
            f"{unrecognised.reason}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for ignored in result["columns_ignored"]:
        out.print(
            f"column {ignored['column']!r} of {Path(ignored['path']).name} not loaded: "
            f"{ignored['reason']}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"fields quarantined: {result['fields_quarantined']:,} "
        f"(rows quarantined: {result['rows_quarantined']:,})"
    )
    if result["quarantine_path"]:
        out.print(f"quarantine: {result['quarantine_path']}")


def _ingest_table(report: IngestReport) -> Table:
    """One row per file (rows read, loaded, quarantined, duplicate, and the fields
    quarantined from loaded rows) and, with several files, a total row."""
    table = Table(title="ingest manifest")
    table.add_column("file", overflow="fold")
    table.add_column("kind", no_wrap=True)
    for column in ("read", "loaded", "quarantined", "duplicate", "fields q."):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("note")
    for m in report.files:
        note = "already ingested" if m.skipped else ("resumed" if m.batches_resumed else "")
        table.add_row(
            Path(m.path).name,
            m.kind,
            f"{m.rows_read:,}",
            f"{m.rows_loaded:,}",
            f"{m.rows_quarantined:,}",
            f"{m.rows_duplicate:,}",
            f"{m.fields_quarantined:,}",
            note,
        )
    if len(report.files) > 1:
        totals = ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")
        table.add_row(
            "total",
            "",
            *(f"{report.total(name):,}" for name in (*totals, "fields_quarantined")),
            "",
        )
    table.caption = "fields q.: bad optional fields left out of loaded rows"
    return table


def _ingest_with_progress(
    graph: GraphStore,
    settings: Settings,
    paths: list[Path],
    progress: Progress,
    *,
    batch_size: int | None = None,
    kind: FileKind | None = None,
    file_format: FileFormat | None = None,
) -> IngestReport:
    """Run an ingest with one progress bar per file."""
    tasks: dict[Path, Any] = {}

    def on_progress(path: Path, done: int, total: int | None) -> None:
        if path not in tasks:
            tasks[path] = progress.add_task(f"ingest {path.name}", total=total)
        progress.update(tasks[path], completed=done, total=total)

    ingestor = Ingestor(
        graph,
        quarantine_dir=settings.store_dir / "quarantine",
        batch_size=batch_size or settings.batch_size,
        default_region=settings.default_region,
        kind=kind,
        file_format=file_format,
        on_progress=on_progress,
    )
    try:
        return ingestor.run(paths)
    finally:
        ingestor.close()


@app.command()
@_fail_cleanly
def stats(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Entity counts per node type and link counts per link type."""
    with open_store(_settings(store)) as graph:
        counts = graph.counts().as_dict()
    if as_json:
        _emit(counts)
        return
    _print_counts(counts)


def _print_counts(counts: dict[str, dict[str, int]]) -> None:
    for section in ("nodes", "links"):
        table = Table(title=section)
        table.add_column("type")
        table.add_column("count", justify="right")
        for name, n in counts[section].items():
            table.add_row(name, f"{n:,}")
        out.print(table)


@app.command()
@_fail_cleanly
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

    from fraudgraph.jobs.steps import PipelineSpec
    from graph_service.errors import InvalidInput
    from ingestion.synthetic import ScenarioConfig, generate_scenario

    try:
        config = ScenarioConfig(accounts=accounts, seed=seed)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    scenario_dir = workdir / "scenario"
    settings = _settings(workdir / "store")
    if workdir.exists():
        shutil.rmtree(workdir)
    with _progress() as progress:
        tasks: dict[str, Any] = {}

        def on_generate(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(f"generate: {step}", total=total)
            progress.update(tasks[step], completed=done, total=total)

        summary = generate_scenario(config, scenario_dir, on_progress=on_generate)
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


#: Most GNN epochs in ``demo`` (keeps the step within a couple of minutes).
DEMO_GNN_EPOCHS = 15


def _run_inline(spec: Any, settings: Settings, *, run_id: str | None = None) -> dict[str, Any]:
    """Run a pipeline inline with one progress bar per step; the run record."""
    from fraudgraph.jobs.pipeline import run_inline

    with _progress() as progress:
        tasks: dict[str, Any] = {}

        def on_progress(step: str, label: str, done: int | None, total: int | None) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=None)
            progress.update(tasks[step], description=label, completed=done or 0, total=total)

        run = run_inline(spec, settings=settings, progress=on_progress, run_id=run_id)
        for task in tasks.values():
            progress.update(task, completed=1, total=1)
    return run


def _succeeded_result(steps: dict[str, Any], step: str) -> dict[str, Any]:
    """The result a step recorded if it succeeded (empty when skipped, failed or not run)."""
    record = steps.get(step) or {}
    return dict(record.get("result") or {}) if record.get("status") == "succeeded" else {}


def _report_run(run: dict[str, Any], settings: Settings, *, top: int) -> None:
    """Print what a pipeline run found: ingest, GNN, rings, evaluation, snapshot."""
    from scoring.flagging import read_flagged_clusters

    steps = run["step_records"]

    def result(step: str) -> dict[str, Any]:
        return _succeeded_result(steps, step)

    ingest = result("ingest")
    if ingest.get("files"):
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
        _print_counts(ingest["data"]["counts"])
    for step, name in (("gnn_train", "gnn"), ("gnn_infer", "gnn scoring"), ("analyse", "analysis")):
        skipped = (steps.get(step) or {}).get("result") or {}
        if "skipped" in skipped:
            out.print(f"[bold]{name}[/]: skipped ({skipped['skipped']})")
    if result("gnn_train"):
        _print_gnn_training(result("gnn_train"))
    if result("gnn_infer"):
        _print_gnn_inference(result("gnn_infer"))
    analysis = result("analyse")
    if not analysis or not result("flag"):
        return
    with open_store(settings) as graph:
        flagged = read_flagged_clusters(graph, version=run["run_id"])
    summary = {**analysis, "flagging": result("flag"), "flagged_table": flagged, "risk": None}
    evaluation = result("evaluate") or None
    _report_analysis(summary, evaluation, top=top, as_json=False, store=settings.store_dir)
    snapshot = result("publish")
    if snapshot:
        out.print(
            f"  feature snapshot {snapshot['version']} published ({snapshot['entities']:,} "
            f"accounts); serve it with: fraudgraph serve --store {settings.store_dir}"
        )


# -- ring detection ------------------------------------------------------------------------

#: Ring score from which ``demo`` flags a ring (``analyze --threshold`` defaults to it too).
DEMO_THRESHOLD = 0.5

TruthOption = Annotated[
    Path | None,
    typer.Option(
        "--truth",
        help="Ground truth (CSV/Parquet with ring_id, typology, account_id) to evaluate against.",
    ),
]

SharersOption = Annotated[
    Path | None,
    typer.Option(
        "--sharers",
        help="Legitimate accounts in benign sharing groups (CSV/Parquet with account_id, kind, "
        "group_id), for the false-positive rate per benign kind [default: sharers.csv beside "
        "the truth file, if any].",
    ),
]


@app.command()
@_fail_cleanly
def analyze(
    store: StoreOption = None,
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=1.0, help="Ring score to flag from.")
    ] = DEMO_THRESHOLD,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Flagged-cluster files [default: STORE/flagged]."),
    ] = None,
    truth: TruthOption = None,
    sharers: SharersOption = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Rings to print.")] = 10,
    publish_features: Annotated[
        bool,
        typer.Option("--publish", help="Then publish the feature snapshot (see `publish`)."),
    ] = False,
    redis_url: RedisUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find and score rings: projection, communities, evidence, ring tests, flagged clusters.

    Says how the labels were used: supervised, positive_unlabelled (fraud labels only),
    few_labels or unsupervised.
    """
    settings = _settings(store)
    with open_store(settings) as graph:
        summary = _analyse_and_flag(graph, settings, threshold=threshold, out_dir=out_dir)
        evaluation = _evaluation(
            graph, truth, summary["flagged_table"], summary["risk"], sharers=sharers
        )
        if publish_features:
            summary["feature_snapshot"] = _publish(graph, redis_url, summary["reasons"])
    summary.pop("reasons")
    _report_analysis(summary, evaluation, top=top, as_json=as_json, store=settings.store_dir)


@app.command()
@_fail_cleanly
def evaluate(
    truth: Annotated[
        Path,
        typer.Option(
            "--truth", help="Ground truth: CSV/Parquet with ring_id, typology, account_id."
        ),
    ],
    store: StoreOption = None,
    sharers: SharersOption = None,
    baselines: Annotated[
        bool, typer.Option("--baselines", help="Also evaluate plain WCC and the rules baseline.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Judge the latest analysis against ground truth: ring recall, precision, AUCs per typology."""
    from scoring.flagging import read_flagged_clusters

    with open_store(_settings(store)) as graph:
        flagged = read_flagged_clusters(graph)
        risk = graph.read_scores("entity_risk")
        scores = pa.table({"id": risk.column("entity_id"), "risk": risk.column("value")})
        report = _evaluation(graph, truth, flagged, scores, baselines=baselines, sharers=sharers)
    assert report is not None
    table = report.pop("table")
    if as_json:
        _emit(report)
        return
    out.print(table)


@app.command()
@_fail_cleanly
def rings(
    store: StoreOption = None,
    min_score: Annotated[float, typer.Option("--min-score", min=0.0, max=1.0)] = 0.0,
    typology: Annotated[str | None, typer.Option("--typology", help="Only this typology.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The flagged rings of the latest analysis, highest score first."""
    from scoring.flagging import read_flagged_clusters

    with open_store(_settings(store)) as graph:
        flagged = read_flagged_clusters(graph)
    keep = pc.greater_equal(flagged.column("score"), min_score)
    if typology is not None:
        keep = pc.and_(keep, pc.equal(flagged.column("typology"), typology))
    selected = flagged.filter(keep).slice(0, limit)
    if as_json:
        _emit({"data": _ring_rows(selected), "count": selected.num_rows})
        return
    _print_rings(selected)


@app.command("super-nodes")
@_fail_cleanly
def super_nodes(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Identifiers discounted as too common (carrier-NAT IPs, popular merchants...)."""
    from scoring.flagging import read_super_nodes

    with open_store(_settings(store)) as graph:
        table = read_super_nodes(graph).slice(0, limit)
    rows = table.select(["type", "key", "share_count"]).to_pylist()
    if as_json:
        _emit({"data": rows, "count": len(rows)})
        return
    view = Table(title="super nodes (left out of the ring projection)")
    for column in ("type", "key", "accounts sharing it"):
        view.add_column(column)
    for row in rows:
        view.add_row(row["type"], row["key"], f"{row['share_count']:,}")
    out.print(view)


def _analyse_and_flag(
    graph: GraphStore, settings: Settings, *, threshold: float, out_dir: Path | None
) -> dict[str, Any]:
    """Run the analysis with a progress bar, then flag and record the rings."""
    from scoring.analysis import analyse
    from scoring.flagging import flag_clusters

    with _progress() as progress:
        task = progress.add_task("analyse", total=None)

        def on_step(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"analyse: {step}", completed=done, total=total)

        result = analyse(graph, progress=on_step)
        flag_task = progress.add_task("flag clusters", total=1)
        report = flag_clusters(
            graph,
            result,
            threshold=threshold,
            out_dir=out_dir or settings.store_dir / "flagged",
        )
        progress.update(flag_task, completed=1)
    risk = result.entity_risk.select(["id", "risk"])
    return {
        "reasons": result.entity_risk.select(["id", "reasons"]),
        "analysis_version": result.version,
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "accounts": result.entity_risk.num_rows,
        "ring_candidates": result.ring_candidates.num_rows,
        "super_nodes": result.super_nodes.num_rows,
        "model": None if result.model is None else result.model.version,
        "label_mode": result.label_mode.value,
        "flagging": report.summary(),
        "flagged_table": report.flagged,
        "risk": risk,
    }


def _evaluation(
    graph: GraphStore,
    truth: Path | None,
    flagged: pa.Table,
    scores: pa.Table,
    *,
    baselines: bool = False,
    sharers: Path | None = None,
) -> dict[str, Any] | None:
    """Evaluate flagged clusters and account scores (and optionally the baselines)."""
    if truth is None:
        return None
    from fraudgraph.jobs.steps import evaluation_report

    return evaluation_report(graph, truth, flagged, scores, baselines=baselines, sharers=sharers)


def _ring_rows(flagged: pa.Table) -> list[dict[str, Any]]:
    columns = ["ring_id", "score", "size", "typology", "reasons", "alert_status", "member_keys"]
    rows: list[dict[str, Any]] = flagged.select(
        [c for c in columns if c in flagged.column_names]
    ).to_pylist()
    return rows


def _print_rings(flagged: pa.Table, title: str = "flagged rings") -> None:
    view = Table(title=title)
    for column in ("ring", "score", "size", "typology", "alert", "top reasons"):
        view.add_column(column)
    for row in _ring_rows(flagged):
        view.add_row(
            row["ring_id"],
            f"{row['score']:.3f}",
            str(row["size"]),
            row["typology"],
            row["alert_status"],
            ", ".join(row["reasons"][:3]),
        )
    out.print(view)


def _report_analysis(
    summary: dict[str, Any],
    evaluation: dict[str, Any] | None,
    *,
    top: int,
    as_json: bool,
    store: Path,
) -> None:
    flagged: pa.Table = summary.pop("flagged_table")
    summary.pop("risk")
    if as_json:
        payload = {**summary, "top_rings": _ring_rows(flagged.slice(0, top))}
        if evaluation is not None:
            payload["evaluation"] = {k: v for k, v in evaluation.items() if k != "table"}
        _emit(payload)
        return
    flagging = summary["flagging"]
    out.print(
        f"[bold]analysis[/]: {summary['accounts']:,} accounts, "
        f"{summary['ring_candidates']:,} ring candidates, {summary['super_nodes']:,} super "
        f"nodes discounted; {flagging['flagged']:,} rings flagged at score >= "
        f"{flagging['threshold']} ({flagging['new_alerts']} new, "
        f"{flagging['continued_alerts']} continued) in "
        f"{sum(summary['timings_s'].values()):.1f} s; labels used as "
        f"[bold]{summary['label_mode']}[/]"
    )
    if top:
        _print_rings(flagged.slice(0, top), title=f"top {min(top, flagged.num_rows)} rings")
    if evaluation is not None:
        out.print(evaluation["table"])
    out.print("[bold]where to look next[/]:")
    out.print(f"  fraudgraph rings --store {store}            all flagged rings")
    out.print(f"  fraudgraph super-nodes --store {store}      identifiers discounted as common")
    out.print(f"  flagged clusters: {flagging['json']}")


# -- relationship queries --------------------------------------------------------------

query_app = typer.Typer(
    help="Relationship queries for investigators (one JSON object each, capped).",
    no_args_is_help=True,
)
app.add_typer(query_app, name="query")

EntityTypeArgument = Annotated[
    str,
    typer.Argument(help="Entity type: Account, Device, IP, Phone, Email, Card, Address, Merchant."),
]
LinkTypesOption = Annotated[
    list[str] | None,
    typer.Option("--link-type", help="Only these link types (repeatable), e.g. USES_DEVICE."),
]


def _print_result(result: Any, as_json: bool) -> None:
    from queries import to_json_ready

    payload = to_json_ready(result)
    if as_json:
        _emit(payload if isinstance(payload, dict) else {"result": payload})
    else:
        out.print_json(data=payload, default=str)


def _entity_name(text: str) -> tuple[str, str]:
    from graph_service.errors import InvalidInput

    node_type, sep, key = text.partition(":")
    if not sep or not key:
        raise InvalidInput(f"expected TYPE:KEY (e.g. Account:A000123), got {text!r}")
    return node_type, key


@query_app.command("neighbours")
@_fail_cleanly
def query_neighbours(
    node_type: EntityTypeArgument,
    key: Annotated[str, typer.Argument(help="The entity's key.")],
    store: StoreOption = None,
    link_type: LinkTypesOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    after: Annotated[str | None, typer.Option("--after", help="Cursor of the last row.")] = None,
    as_json: JsonOption = False,
) -> None:
    """An entity's neighbours by link type, with the aggregated links; paged."""
    from queries import neighbourhood

    with open_store(_settings(store)) as graph:
        page = neighbourhood(graph, node_type, key, link_types=link_type, limit=limit, after=after)
    _print_result(page, as_json)


@query_app.command("shared")
@_fail_cleanly
def query_shared(
    account: Annotated[str, typer.Argument(help="Account key.")],
    store: StoreOption = None,
    link_type: LinkTypesOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Accounts sharing a device, IP, phone, email, card or address with an account."""
    from queries import shared_identifiers

    with open_store(_settings(store)) as graph:
        result = shared_identifiers(graph, account, link_types=link_type, limit=limit)
    _print_result(result, as_json)


@query_app.command("path")
@_fail_cleanly
def query_path(
    source: Annotated[str, typer.Argument(help="TYPE:KEY of one end.")],
    target: Annotated[str, typer.Argument(help="TYPE:KEY of the other end.")],
    store: StoreOption = None,
    max_hops: Annotated[int, typer.Option("--max-hops", min=1)] = 4,
    link_type: LinkTypesOption = None,
    as_json: JsonOption = False,
) -> None:
    """A shortest path between two entities (the same one on every backend)."""
    from queries import shortest_path

    with open_store(_settings(store)) as graph:
        path = shortest_path(
            graph,
            _entity_name(source),
            _entity_name(target),
            max_hops=max_hops,
            link_types=link_type,
        )
    _print_result({"path": path, "found": path is not None}, as_json)


@query_app.command("ring")
@_fail_cleanly
def query_ring(
    ring_id: Annotated[str, typer.Argument(help="Ring id from `fraudgraph rings`.")],
    store: StoreOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 10_000,
    as_json: JsonOption = False,
) -> None:
    """A flagged ring's members, the identifiers they share and the links among them."""
    from queries import ring_member_ids, ring_subgraph

    with open_store(_settings(store)) as graph:
        result = ring_subgraph(graph, ring_member_ids(graph, ring_id), limit=limit)
    _print_result(result, as_json)


@query_app.command("flow")
@_fail_cleanly
def query_flow(
    account: Annotated[str, typer.Argument(help="Account key.")],
    store: StoreOption = None,
    depth: Annotated[int, typer.Option("--depth", min=1)] = 2,
    direction: Annotated[str, typer.Option("--direction", help="in, out or both.")] = "both",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Money flow (TRANSFERS_TO) around an account, hop by hop."""
    from graph_service.errors import InvalidInput
    from queries import money_flow

    if direction not in ("in", "out", "both"):
        raise InvalidInput(f"direction must be in, out or both, got {direction!r}")
    with open_store(_settings(store)) as graph:
        result = money_flow(graph, account, depth=depth, direction=direction, limit=limit)  # type: ignore[arg-type]
    _print_result(result, as_json)


# -- serving ----------------------------------------------------------------------------


RedisUrlOption = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        envvar="FRAUDGRAPH_API_REDIS_URL",
        help="Also publish the snapshot to this Redis (e.g. redis://127.0.0.1:6379/0).",
    ),
]


def _publish(graph: GraphStore, redis_url: str | None, reasons: pa.Table | None) -> dict[str, Any]:
    """Build and publish the feature snapshot; its summary."""
    import time

    from fraudgraph.jobs.steps import redis_feature_cache
    from scoring.feature_cache import publish_snapshot

    redis_cache = redis_feature_cache(redis_url) if redis_url else None
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("publish feature snapshot", total=1)
        snapshot = publish_snapshot(graph, reasons=reasons, redis_cache=redis_cache)
        progress.update(task, completed=1)
    return {
        "version": snapshot.version,
        "entities": len(snapshot),
        "redis": bool(redis_url),
        "seconds": round(time.perf_counter() - started, 3),
    }


@app.command()
@_fail_cleanly
def publish(
    store: StoreOption = None,
    redis_url: RedisUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build the feature snapshot from the latest analysis and publish it (store, Redis)."""
    with open_store(_settings(store)) as graph:
        result = _publish(graph, redis_url, reasons=None)
    if as_json:
        _emit(result)
        return
    out.print(
        f"published feature snapshot [bold]{result['version']}[/]: {result['entities']:,} "
        f"entities in {result['seconds']:.1f} s" + (" (also to redis)" if result["redis"] else "")
    )


@app.command()
@_fail_cleanly
def serve(
    store: StoreOption = None,
    host: Annotated[
        str, typer.Option("--host", envvar="FRAUDGRAPH_API_HOST", help="Interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="FRAUDGRAPH_API_PORT", min=1, max=65535)
    ] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64)] = 1,
    log_level: Annotated[str, typer.Option("--log-level")] = "warning",
) -> None:
    """Run the API (GraphQL at /graphql, features at /v1/features) with uvicorn."""
    import os

    import uvicorn

    from api.app import create_app

    if store is not None:
        os.environ["FRAUDGRAPH_STORE"] = str(store)
    create_app()  # refuses a bad configuration (no keys in production) before listening
    options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level}
    options["access_log"] = False
    for module, key, value in (("uvloop", "loop", "uvloop"), ("httptools", "http", "httptools")):
        try:
            __import__(module)
            options[key] = value
        except ImportError:
            pass
    err.print(f"serving on http://{host}:{port} (GraphQL at /graphql, docs at /docs)")
    uvicorn.run("api.app:create_app", factory=True, workers=workers, **options)


# -- GNN jobs ----------------------------------------------------------------------------

gnn_app = typer.Typer(
    help="Graph neural network jobs: train, infer (writes gnn_score), evaluate, promote.",
    no_args_is_help=True,
)
app.add_typer(gnn_app, name="gnn")

DeviceOption = Annotated[
    str, typer.Option("--device", help="cpu, or cuda where a GPU is available.")
]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, help="CPU threads for torch.")]


def _gnn_registry(settings: Settings) -> Any:
    from gnn.registry import ModelRegistry, default_registry_root

    return ModelRegistry(default_registry_root(settings.store_dir))


def _gnn_train(
    graph: GraphStore,
    settings: Settings,
    config: Any,
    *,
    compare: bool,
    margin: float,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train, compare with boosting, register and run champion-challenger."""
    from fraudgraph.jobs.steps import train_gnn

    tasks: list[Any] = []

    def on_epoch(step: str, done: int, total: int) -> None:
        # The bar appears with the first epoch: a refusal before it (too few labels)
        # leaves the error as the only line.
        if progress is None:
            return
        if not tasks:
            tasks.append(progress.add_task("gnn: train", total=config.max_epochs))
        progress.update(tasks[0], description=f"gnn: {step} {done}", completed=done)

    result = train_gnn(graph, settings, config, compare=compare, margin=margin, progress=on_epoch)
    if progress is not None and tasks:
        progress.update(tasks[0], completed=config.max_epochs)
    return result


@gnn_app.command("train")
@_fail_cleanly
def gnn_train(
    store: StoreOption = None,
    model: Annotated[
        str, typer.Option("--model", help="h2sage (heterophily-aware) or sage (baseline).")
    ] = "h2sage",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Most epochs.")] = 40,
    hidden: Annotated[int, typer.Option("--hidden", min=1)] = 32,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    margin: Annotated[
        float,
        typer.Option("--margin", min=0.0, max=1.0, help="PR-AUC gain needed to be promoted."),
    ] = 0.005,
    compare: Annotated[
        bool, typer.Option("--compare/--no-compare", help="Also fit the boosting comparators.")
    ] = True,
    label_mode: Annotated[
        str,
        typer.Option(
            "--label-mode",
            help="auto (supervised with enough legit labels, else positive_unlabelled), "
            "supervised or positive_unlabelled.",
        ),
    ] = "auto",
    pu_method: Annotated[
        str,
        typer.Option("--pu-method", help="Positive-unlabelled loss: unlabelled_negative or nnpu."),
    ] = "unlabelled_negative",
    class_prior: Annotated[
        float,
        typer.Option(
            "--class-prior", min=0.0, max=1.0, help="Share of fraud among accounts (nnpu only)."
        ),
    ] = 0.01,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = 1,
    as_json: JsonOption = False,
) -> None:
    """Train a GNN on the store's labels (time split), register it, challenge the champion.

    With fraud labels only (or too few legit ones) it trains positive-unlabelled: fraud
    against unlabelled accounts, judged by lower-bound figures."""
    from gnn.labels import LabelMode, SplitConfig
    from gnn.models import ModelKind
    from gnn.pu import PUMethod
    from gnn.training import TrainConfig
    from graph_service.errors import InvalidInput

    def choice(enum: Any, value: str, option: str) -> Any:
        try:
            return enum(value)
        except ValueError:
            raise InvalidInput(f"{option} must be one of {[k.value for k in enum]}") from None

    kind = choice(ModelKind, model, "--model")
    split = SplitConfig(label_mode=choice(LabelMode, label_mode, "--label-mode"))
    config = TrainConfig(
        model=kind,
        max_epochs=epochs,
        hidden=hidden,
        seed=seed,
        device=device,
        threads=threads,
        split=split,
        pu_method=choice(PUMethod, pu_method, "--pu-method"),
        class_prior=class_prior,
    )
    settings = _settings(store)
    with open_store(settings) as graph, _progress() as progress:
        result = _gnn_train(
            graph, settings, config, compare=compare, margin=margin, progress=progress
        )
    if as_json:
        _emit(result)
        return
    _print_gnn_training(result)


def _print_gnn_training(result: dict[str, Any]) -> None:
    test = result["metrics"]["test"]
    mode = result["metrics"].get("label_mode", "supervised")
    if mode == "positive_unlabelled":
        held_out = (
            f"on {test['fraud']} newest fraud labels against {test['unlabelled']} unlabelled "
            f"accounts (lower bounds); recall at the top 1 % {test['recall_top_1pct']:.4f}"
        )
    else:
        held_out = f"on {test['n']} newest labels"
    out.print(
        f"[bold]gnn[/]: trained {result['version']} ({mode}) in "
        f"{result['metrics']['train_seconds']:.1f} s ({result['metrics']['epochs']} epochs); "
        f"test ROC-AUC {test['roc_auc']:.4f}, PR-AUC {test['pr_auc']:.4f} {held_out}"
    )
    if result["comparison"]:
        view = Table(title="test split (newest labels), same snapshots")
        for column in ("model", "ROC-AUC", "PR-AUC"):
            view.add_column(column)
        for name, figures in result["comparison"].items():
            view.add_row(name, f"{figures['roc_auc']:.4f}", f"{figures['pr_auc']:.4f}")
        out.print(view)
    decision = result["decision"]
    verdict = "promoted" if decision["promoted"] else "kept in shadow"
    out.print(f"  champion-challenger: {verdict} ({decision['reason']})")


@gnn_app.command("infer")
@_fail_cleanly
def gnn_infer(
    store: StoreOption = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Model version [default: the champion].")
    ] = None,
    embeddings: Annotated[
        bool, typer.Option("--embeddings", help="Also write the gnn_embeddings table.")
    ] = False,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = 1,
    as_json: JsonOption = False,
) -> None:
    """Score every account with the champion and write gnn_score back to the store."""
    from gnn.inference import infer

    settings = _settings(store)
    with open_store(settings) as graph, err.status("gnn: scoring every account"):
        result = infer(
            graph,
            _gnn_registry(settings),
            version=version,
            device=device,
            threads=threads,
            embeddings=embeddings,
        )
    summary = result.summary()
    if as_json:
        _emit(summary)
        return
    _print_gnn_inference(summary)


def _print_gnn_inference(summary: dict[str, Any]) -> None:
    drift = "first run" if summary["psi"] is None else f"PSI {summary['psi']:.4f}"
    if summary["drift_warning"]:
        drift += " [bold red]drift warning[/]"
    out.print(
        f"[bold]gnn[/]: scored {summary['accounts']:,} accounts with {summary['version']} "
        f"({summary['accounts_per_second']:,.0f} accounts/s); gnn_score written; {drift}"
    )


@gnn_app.command("evaluate")
@_fail_cleanly
def gnn_evaluate(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Records per log.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Registered models with their held-out metrics, the champion, decisions and drift."""
    registry = _gnn_registry(_settings(store))
    models = []
    for version in registry.versions():
        manifest = registry.manifest(version)
        models.append(
            {
                "version": version,
                "model": manifest.model,
                "label_mode": manifest.label_mode,
                "created_at": manifest.created_at,
                "snapshot": manifest.snapshot,
                "labels": manifest.labels["counts"],
                "test": manifest.metrics.get("test"),
                "comparison": manifest.metrics.get("comparison"),
            }
        )
    result = {
        "champion": registry.champion(),
        "models": models,
        "decisions": registry.records("decisions")[-limit:],
        "drift": [
            {k: v for k, v in record.items() if k != "distribution"}
            for record in registry.records("drift")[-limit:]
        ],
    }
    if as_json:
        _emit(result)
        return
    view = Table(title=f"GNN models (champion: {result['champion']})")
    for column in (
        "version",
        "labels",
        "test ROC-AUC",
        "test PR-AUC",
        "features GB PR-AUC",
        "emb+GB PR-AUC",
    ):
        view.add_column(column)
    for row in models:
        test = row["test"] or {}
        comparison = row["comparison"] or {}

        def pr(name: str, figures: dict[str, Any] = comparison) -> str:
            value = figures.get(name, {}).get("pr_auc")
            return "-" if value is None else f"{value:.4f}"

        view.add_row(
            row["version"],
            row["label_mode"],
            f"{test.get('roc_auc', float('nan')):.4f}",
            f"{test.get('pr_auc', float('nan')):.4f}",
            pr("features_gb"),
            pr("embeddings_gb"),
        )
    out.print(view)
    for decision in result["decisions"]:
        verdict = "promoted" if decision["promoted"] else "not promoted"
        out.print(
            f"  {decision['decided_at']}: {decision['challenger']} {verdict}: {decision['reason']}"
        )
    for record in result["drift"]:
        psi = "-" if record["psi"] is None else f"{record['psi']:.4f}"
        flag = " DRIFT" if record["warning"] else ""
        out.print(f"  {record['run_at']}: {record['version']} PSI {psi}{flag}")


@gnn_app.command("promote")
@_fail_cleanly
def gnn_promote(
    store: StoreOption = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Challenger [default: the newest model].")
    ] = None,
    margin: Annotated[float, typer.Option("--margin", min=0.0, max=1.0)] = 0.005,
    metric: Annotated[str, typer.Option("--metric", help="pr_auc or roc_auc.")] = "pr_auc",
    force: Annotated[
        bool, typer.Option("--force", help="Promote regardless of the metrics (recorded).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Score a challenger against the champion in shadow; promote it if better by the margin."""
    from gnn.champion import ChampionPolicy, challenge
    from graph_service.errors import EntityNotFound

    settings = _settings(store)
    registry = _gnn_registry(settings)
    policy = ChampionPolicy(metric=metric, margin=margin)
    if version is None:
        versions = registry.versions()
        if not versions:
            raise EntityNotFound("no GNN model registered yet: run fraudgraph gnn train")
        version = versions[-1]
    with open_store(settings) as graph, err.status("gnn: shadow scoring"):
        decision = challenge(graph, registry, version, policy=policy, force=force)
    if as_json:
        _emit(decision.as_dict())
        return
    verdict = "promoted" if decision.promoted else "not promoted"
    out.print(f"[bold]gnn[/]: {decision.challenger} {verdict}: {decision.reason}")


# -- batch jobs ---------------------------------------------------------------------------

pipeline_app = typer.Typer(
    help="The batch pipeline: ingest, GNN, analyse, flag, publish, evaluate, deliver.",
    no_args_is_help=True,
)
app.add_typer(pipeline_app, name="pipeline")
jobs_app = typer.Typer(
    help="Pipeline runs: status, one run's steps, webhook re-delivery.", no_args_is_help=True
)
app.add_typer(jobs_app, name="jobs")

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


def _pipeline_spec(
    inputs: list[Path] | None,
    truth: Path | None,
    threshold: float,
    gnn: str,
    gnn_epochs: int,
    force: bool,
    wait_s: float,
    deliver: bool,
) -> Any:
    from fraudgraph.jobs.steps import PipelineSpec

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
@_fail_cleanly
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
    settings = _settings(store)
    spec = _pipeline_spec(inputs, truth, threshold, gnn, gnn_epochs, force, wait_s, deliver)
    run = _run_inline(spec, settings)
    if as_json:
        _emit(run)
        return
    _print_steps(run)
    _report_run(run, settings, top=10)


@pipeline_app.command("submit")
@_fail_cleanly
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

    settings = _settings(store)
    spec = _pipeline_spec(inputs, truth, threshold, gnn, gnn_epochs, force, wait_s, deliver)
    run_id = submit(spec, settings=settings)
    if not follow:
        if as_json:
            _emit({"run_id": run_id, "status": "queued"})
        else:
            out.print(
                f"queued pipeline run [bold]{run_id}[/]; follow it with: fraudgraph jobs show {run_id}"
            )
        return
    run = _follow(settings, run_id, timeout_s)
    if as_json:
        _emit(run)
    else:
        _print_steps(run)
    if run["status"] != "succeeded":
        err.print(f"error: run {run_id} {run['status']}: {run.get('error')}", markup=False)
        raise typer.Exit(1)


@pipeline_app.command("resume")
@_fail_cleanly
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

    settings = _settings(store)
    spec = resumable(run_id, settings=settings, jobs=JobSettings())
    if on_workers:
        from fraudgraph.jobs.celery_app import submit

        submit(spec, settings=settings, run_id=run_id)
        if not follow:
            if as_json:
                _emit({"run_id": run_id, "status": "queued"})
            else:
                out.print(f"resuming run [bold]{run_id}[/] on the workers")
            return
        run = _follow(settings, run_id, 24 * 3600.0)
    else:
        run = _run_inline(spec, settings, run_id=run_id)
    if as_json:
        _emit(run)
        return
    _print_steps(run)
    if run["status"] != "succeeded":
        raise typer.Exit(1)


def _follow(settings: Settings, run_id: str, timeout_s: float) -> dict[str, Any]:
    """Wait for a queued run to finish (progress from its ledger); its record."""
    import time

    from fraudgraph.jobs.ledger import FINISHED, RunLedger
    from fraudgraph.jobs.pipeline import jobs_root
    from graph_service.errors import QueryTimeout

    ledger = RunLedger(jobs_root(settings))
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


def _print_steps(run: dict[str, Any]) -> None:
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
    result = record.get("result") or {}
    if record.get("error"):
        return str(record["error"])[:120]
    if "skipped" in result:
        return str(result["skipped"])[:120]
    step = record["step"]
    if step == "ingest":
        return f"{result.get('rows_loaded', 0):,} rows loaded, {result.get('rows_quarantined', 0):,} quarantined"
    if step == "gnn_train":
        return f"{result.get('version')} ({'promoted' if result.get('decision', {}).get('promoted') else 'shadow'})"
    if step == "gnn_infer":
        return f"{result.get('accounts', 0):,} accounts scored with {result.get('version')}"
    if step == "analyse":
        return f"{result.get('ring_candidates', 0):,} ring candidates"
    if step == "flag":
        return f"{result.get('flagged', 0):,} flagged ({result.get('new_alerts', 0)} new)"
    if step == "publish":
        return f"snapshot {result.get('version')} ({result.get('entities', 0):,} entities)"
    if step == "evaluate":
        return f"ring recall {result.get('ring_recall')}, account ROC-AUC {result.get('roc_auc')}"
    if step == "deliver":
        return f"delivered in {len(result.get('attempts', []))} attempt(s)"
    return ""


@jobs_app.command("status")
@_fail_cleanly
def jobs_status(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Runs to list.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Recent pipeline runs, newest first: outcome, duration, versions, flagged clusters."""
    from fraudgraph.jobs.ledger import RunLedger
    from fraudgraph.jobs.pipeline import PIPELINE_LOCK, jobs_root, lease_backend
    from fraudgraph.jobs.settings import JobSettings

    settings = _settings(store)
    runs = RunLedger(jobs_root(settings)).runs(limit=limit)
    rows = [_run_row(run) for run in runs]
    if any(row["status"] == "running" for row in rows):
        # A running run whose lock lapsed has no live process: say so (resume it).
        holder = lease_backend(settings, JobSettings()).holder(PIPELINE_LOCK)
        for row in rows:
            if row["status"] == "running" and (holder is None or holder.owner != row["run_id"]):
                row["status"] = "stalled"
                row["error"] = "no live process holds the run's lock; `fraudgraph pipeline resume`"
    if as_json:
        _emit({"data": rows, "count": len(rows)})
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

    def result(step: str) -> dict[str, Any]:
        return _succeeded_result(steps, step)

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
    flag = result("flag")
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
        "analysis_version": result("analyse").get("analysis_version"),
        "flagged": flag.get("flagged"),
        "new_alerts": flag.get("new_alerts"),
        "flagged_report": flag.get("json"),
        "snapshot": result("publish").get("version"),
        "gnn_model": result("gnn_infer").get("version"),
        "error": run.get("error"),
    }


@jobs_app.command("show")
@_fail_cleanly
def jobs_show(
    run_id: Annotated[str, typer.Argument(help="The run id (see `jobs status`).")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """One run, step by step: status, attempts, time, worker, result or error."""
    from fraudgraph.jobs.ledger import RunLedger
    from fraudgraph.jobs.pipeline import jobs_root

    ledger = RunLedger(jobs_root(_settings(store)))
    run = ledger.run(run_id)
    run["step_records"] = ledger.steps(run_id)
    if as_json:
        _emit(run)
        return
    _print_steps(run)


@jobs_app.command("deliver")
@_fail_cleanly
def jobs_deliver(
    run_id: Annotated[str, typer.Argument(help="The run whose flagged clusters to send again.")],
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a run's flagged clusters to the webhook again (e.g. from the outbox)."""
    from fraudgraph.jobs.ledger import RunLedger
    from fraudgraph.jobs.pipeline import jobs_root
    from fraudgraph.jobs.settings import JobSettings
    from fraudgraph.jobs.steps import PipelineSpec, StepContext, deliver

    settings = _settings(store)
    ledger = RunLedger(jobs_root(settings))
    run = ledger.run(run_id)
    ctx = StepContext(run_id, PipelineSpec.from_dict(run["spec"]), settings, JobSettings(), ledger)
    result = deliver(ctx)
    if as_json:
        _emit(result)
        return
    out.print(
        f"delivered the flagged clusters of run {run_id} in {len(result['attempts'])} attempt(s)"
    )


@app.command()
@_fail_cleanly
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            envvar="FRAUDGRAPH_JOBS_WORKER_CONCURRENCY",
            help="Worker processes.",
        ),
    ] = 2,
    loglevel: Annotated[str, typer.Option("--loglevel", help="debug, info, warning...")] = "info",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="FRAUDGRAPH_JOBS_METRICS_PORT",
            help="Serve Prometheus metrics on this port.",
        ),
    ] = None,
    hostname: Annotated[
        str | None, typer.Option("--hostname", "-n", help="Worker node name.")
    ] = None,
) -> None:
    """Start a Celery worker for the pipeline's tasks (broker: FRAUDGRAPH_JOBS_BROKER_URL)."""
    import os
    import tempfile

    if metrics_port is not None and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Before prometheus_client is imported: the pool processes share these files.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fraudgraph-metrics-")
    from fraudgraph.jobs.celery_app import app as celery

    if metrics_port is not None:
        from fraudgraph.jobs.metrics import serve

        serve(metrics_port)
    # -O fair: a task goes to a free pool process, never queued behind a busy one.
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        "--pool=prefork",
        "-O",
        "fair",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery.worker_main(argv)


@app.command()
@_fail_cleanly
def beat(
    store: StoreOption = None,
    loglevel: Annotated[str, typer.Option("--loglevel")] = "info",
) -> None:
    """Start Celery beat: the scheduled pipeline and GNN retraining (see FRAUDGRAPH_JOBS_*)."""
    from fraudgraph.jobs.celery_app import app as celery
    from fraudgraph.jobs.pipeline import jobs_root

    schedule = jobs_root(_settings(store)) / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    celery.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])


Neo4jDataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="FRAUDGRAPH_NEO4J_DATA_DIR", help="Server data directory."),
]


@neo4j_app.command("start")
@_fail_cleanly
def neo4j_start(
    data_dir: Neo4jDataDir = Path("data/neo4j"),
    port: Annotated[int, typer.Option("--port", help="Bolt port on 127.0.0.1.")] = 7687,
    heap: Annotated[str, typer.Option("--heap", help="JVM heap, e.g. 1g.")] = "1g",
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="NEO4J_PASSWORD", help="Enable auth with this password."),
    ] = None,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds to wait for Bolt.")] = 180,
    as_json: JsonOption = False,
) -> None:
    """Build (once, with Maven) and start the local server; wait until Bolt answers."""
    from graph_service.neo4j import launcher

    with err.status("building and starting Neo4j + GDS (first build downloads from Maven)"):
        server = launcher.start(
            port=port, data_dir=data_dir, password=password or None, heap=heap, timeout_s=timeout_s
        )
    result = {
        "uri": server.uri,
        "pid": server.pid,
        "gds_version": server.gds_version,
        "data_dir": str(server.data_dir),
    }
    if as_json:
        _emit(result)
    else:
        out.print(f"Neo4j + GDS {server.gds_version} ready at {server.uri} (pid {server.pid})")


@neo4j_app.command("stop")
@_fail_cleanly
def neo4j_stop(data_dir: Neo4jDataDir = Path("data/neo4j"), as_json: JsonOption = False) -> None:
    """Stop the local server (SIGTERM, then SIGKILL after a timeout)."""
    from graph_service.neo4j import launcher

    stopped = launcher.stop(data_dir)
    if as_json:
        _emit({"stopped": stopped})
    else:
        out.print("stopped" if stopped else "not running")


@neo4j_app.command("status")
@_fail_cleanly
def neo4j_status(data_dir: Neo4jDataDir = Path("data/neo4j"), as_json: JsonOption = False) -> None:
    """Whether the local server runs, its pid, URI and GDS version."""
    from graph_service.neo4j import launcher

    state = launcher.status(data_dir)
    result = {
        "running": state.running,
        "pid": state.pid,
        "uri": state.uri,
        "gds_version": state.gds_version,
        "accepting": state.accepting,
    }
    if as_json:
        _emit(result)
    else:
        out.print(result)


if __name__ == "__main__":  # pragma: no cover
    app()
