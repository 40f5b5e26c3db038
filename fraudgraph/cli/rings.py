"""Ring detection: ``fraudgraph analyse`` (alias ``analyze``), ``evaluate``, ``rings`` and
``super-nodes``; and the analysis report that ``demo`` and ``pipeline run`` print too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.table import Table

from fraudgraph.cli.serving import RedisUrlOption, publish_feature_snapshot
from fraudgraph.cli.shared import (
    JsonOption,
    StoreOption,
    emit,
    fail_cleanly,
    open_graph,
    out,
    progress_bars,
    settings_for,
)
from fraudgraph.jobs.results import AnalyseResult, EvaluationFigures, FlagResult, PublishResult
from graph_service import GraphStore, open_store
from graph_service.settings import Settings
from scoring.flagging import FLAG_THRESHOLD

__all__ = [
    "DEMO_THRESHOLD",
    "FlaggedAnalysis",
    "TruthOption",
    "analyse",
    "evaluate",
    "report_analysis",
    "rings",
    "super_nodes",
]

#: Ring score from which ``demo`` flags a ring (``analyse --threshold`` defaults to it too):
#: the alert queue's false-discovery rate of 0.5% (:data:`scoring.flagging.FLAG_THRESHOLD`).
DEMO_THRESHOLD = FLAG_THRESHOLD

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


@dataclass
class FlaggedAnalysis:
    """An analysis run and the rings it flagged, as the CLI reports them.

    Attributes
    ----------
    figures : AnalyseResult
    flagging : FlagResult
    flagged : pa.Table
        The flagged clusters, highest score first.
    feature_snapshot : PublishResult or None
        The snapshot published after the analysis (``analyse --publish``).
    """

    figures: AnalyseResult
    flagging: FlagResult
    flagged: pa.Table
    feature_snapshot: PublishResult | None = None


@fail_cleanly
def analyse(
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
    settings = settings_for(store)
    with open_store(settings) as graph:
        analysis, risk, reasons = _analyse_and_flag(
            graph, settings, threshold=threshold, out_dir=out_dir
        )
        evaluation = _evaluation(graph, truth, analysis.flagged, risk, sharers=sharers)
        if publish_features:
            analysis.feature_snapshot = publish_feature_snapshot(graph, redis_url, reasons)
    report_analysis(analysis, evaluation, top=top, as_json=as_json, store=settings.store_dir)


@fail_cleanly
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
    from fraudgraph.jobs.steps import evaluation_report
    from scoring.flagging import read_flagged_clusters

    with open_graph(store, read_only=True) as graph:
        flagged = read_flagged_clusters(graph)
        risk = graph.read_scores("entity_risk")
        scores = pa.table({"id": risk.column("entity_id"), "risk": risk.column("value")})
        report = evaluation_report(
            graph, truth, flagged, scores, baselines=baselines, sharers=sharers
        )
    if as_json:
        emit({k: v for k, v in report.items() if k != "table"})
        return
    out.print(report["table"])


@fail_cleanly
def rings(
    store: StoreOption = None,
    min_score: Annotated[float, typer.Option("--min-score", min=0.0, max=1.0)] = 0.0,
    typology: Annotated[str | None, typer.Option("--typology", help="Only this typology.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The flagged rings of the latest analysis, highest score first."""
    from scoring.flagging import read_flagged_clusters

    with open_graph(store, read_only=True) as graph:
        flagged = read_flagged_clusters(graph)
    keep = pc.greater_equal(flagged.column("score"), min_score)
    if typology is not None:
        keep = pc.and_(keep, pc.equal(flagged.column("typology"), typology))
    selected = flagged.filter(keep).slice(0, limit)
    if as_json:
        emit({"data": _ring_rows(selected), "count": selected.num_rows})
        return
    _print_rings(selected)


@fail_cleanly
def super_nodes(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Identifiers discounted as too common (carrier-NAT IPs, popular merchants...)."""
    from scoring.flagging import read_super_nodes

    with open_graph(store, read_only=True) as graph:
        table = read_super_nodes(graph).slice(0, limit)
    rows = table.select(["type", "key", "share_count"]).to_pylist()
    if as_json:
        emit({"data": rows, "count": len(rows)})
        return
    view = Table(title="super nodes (left out of the ring projection)")
    for column in ("type", "key", "accounts sharing it"):
        view.add_column(column)
    for row in rows:
        view.add_row(row["type"], row["key"], f"{row['share_count']:,}")
    out.print(view)


def _analyse_and_flag(
    graph: GraphStore, settings: Settings, *, threshold: float, out_dir: Path | None
) -> tuple[FlaggedAnalysis, pa.Table, pa.Table]:
    """Run the analysis with a progress bar, then flag and record the rings.

    Returns
    -------
    analysis : FlaggedAnalysis
    risk : pa.Table
        ``id, risk`` per account.
    reasons : pa.Table
        ``id, reasons`` per account (for the feature snapshot).
    """
    from scoring.analysis import analyse as run_analysis
    from scoring.flagging import flag_clusters

    with progress_bars() as progress:
        task = progress.add_task("analyse", total=None)

        def on_step(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"analyse: {step}", completed=done, total=total)

        result = run_analysis(graph, progress=on_step)
        flag_task = progress.add_task("flag clusters", total=1)
        report = flag_clusters(
            graph,
            result,
            threshold=threshold,
            out_dir=out_dir or settings.store_dir / "flagged",
        )
        progress.update(flag_task, completed=1)
    # The order of the keys is that of `analyse --json`.
    figures: AnalyseResult = {
        "analysis_version": result.version,
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "accounts": result.entity_risk.num_rows,
        "ring_candidates": result.ring_candidates.num_rows,
        "super_nodes": result.super_nodes.num_rows,
        "model": None if result.model is None else result.model.version,
        "label_mode": result.label_mode.value,
    }
    analysis = FlaggedAnalysis(
        figures=figures,
        # The flag report's summary is its JSON form (untyped); FlagResult names its keys.
        flagging=cast(FlagResult, report.summary()),
        flagged=report.flagged,
    )
    return (
        analysis,
        result.entity_risk.select(["id", "risk"]),
        result.entity_risk.select(["id", "reasons"]),
    )


def _evaluation(
    graph: GraphStore,
    truth: Path | None,
    flagged: pa.Table,
    scores: pa.Table,
    *,
    sharers: Path | None = None,
) -> EvaluationFigures | None:
    """Evaluate flagged clusters and account scores when a ground truth is given."""
    if truth is None:
        return None
    from fraudgraph.jobs.steps import evaluation_report

    return evaluation_report(graph, truth, flagged, scores, sharers=sharers)


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


def report_analysis(
    analysis: FlaggedAnalysis,
    evaluation: EvaluationFigures | None,
    *,
    top: int,
    as_json: bool,
    store: Path,
) -> None:
    """Print an analysis: its figures, the top rings, the evaluation, where to look next
    (with ``as_json``: all of it as one JSON object)."""
    figures, flagging, flagged = analysis.figures, analysis.flagging, analysis.flagged
    if as_json:
        payload: dict[str, Any] = {**figures, "flagging": flagging}
        if analysis.feature_snapshot is not None:
            payload["feature_snapshot"] = analysis.feature_snapshot
        payload["top_rings"] = _ring_rows(flagged.slice(0, top))
        if evaluation is not None:
            payload["evaluation"] = {k: v for k, v in evaluation.items() if k != "table"}
        emit(payload)
        return
    out.print(
        f"[bold]analysis[/]: {figures['accounts']:,} accounts, "
        f"{figures['ring_candidates']:,} ring candidates, {figures['super_nodes']:,} super "
        f"nodes discounted; {flagging['flagged']:,} rings flagged at score >= "
        f"{flagging['threshold']} ({flagging['new_alerts']} new, "
        f"{flagging['continued_alerts']} continued) in "
        f"{sum(figures['timings_s'].values()):.1f} s; labels used as "
        f"[bold]{figures['label_mode']}[/]"
    )
    if top:
        _print_rings(flagged.slice(0, top), title=f"top {min(top, flagged.num_rows)} rings")
    if evaluation is not None:
        out.print(evaluation["table"])
    out.print("[bold]where to look next[/]:")
    out.print(f"  fraudgraph rings --store {store}            all flagged rings")
    out.print(f"  fraudgraph super-nodes --store {store}      identifiers discounted as common")
    out.print(f"  flagged clusters: {flagging['json']}")
