"""The pipeline's steps: one function each, the same for inline runs and Celery tasks.

Order of a pipeline run (:data:`PIPELINE_STEPS`)::

    ingest -> gnn_train -> gnn_infer -> analyse -> flag -> publish -> evaluate -> deliver

Each step opens the store, does one thing, closes it, and returns a JSON-ready dict that
the run ledger keeps (one type per step, in :mod:`fraudgraph.jobs.results`). Everything
a later step needs travels through the store, written under the run's id as version (the
staged analysis, the flagged-cluster run, the feature snapshot, the GNN drift record), so
a step delivered again writes the same versions and the final state is that of one
delivery.

``ingest`` also computes the run's **input key**: a fingerprint of the data (ingested
sources, node and link counts, labels), the GNN champion and the options. When it equals
the key of the last succeeded run, the later steps are recorded as skipped ("unchanged")
unless the run is forced: a scheduled run over an unchanged store does no work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import pyarrow as pa

from fraudgraph.jobs.ledger import RunLedger
from fraudgraph.jobs.results import (
    AnalyseResult,
    DataFingerprint,
    DecisionRecord,
    DeliverResult,
    EvaluateResult,
    EvaluationFigures,
    FlagResult,
    GnnInferResult,
    GnnTrainResult,
    IngestResult,
    PublishResult,
    StepResult,
)
from fraudgraph.jobs.settings import JobSettings
from fraudgraph.jobs.spec import GNN_MODES, PIPELINE_STEPS, TRAINING_STEPS, PipelineSpec
from graph_service import GraphStore, open_store
from graph_service.errors import FraudGraphError, InvalidInput, StoreLocked
from graph_service.settings import Settings

if TYPE_CHECKING:
    from gnn.registry import ModelRegistry
    from gnn.training import TrainConfig
    from scoring.feature_cache import RedisFeatureCache

__all__ = [
    "GNN_MODES",
    "PIPELINE_STEPS",
    "STEP_FUNCTIONS",
    "TRAINING_STEPS",
    "PipelineSpec",
    "StepContext",
    "StepSkipped",
    "evaluation_report",
    "model_registry",
    "redis_feature_cache",
    "train_gnn",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int | None, int | None], None]


class StepSkipped(FraudGraphError):
    """A step had nothing to do; its reason is recorded (not an error)."""

    http_status = 200


@dataclass
class StepContext:
    """What a step gets: the run, its spec and settings, the ledger and a progress hook."""

    run_id: str
    spec: PipelineSpec
    settings: Settings
    jobs: JobSettings
    ledger: RunLedger
    progress: Progress = lambda label, done, total: None

    def result_of(self, step: str) -> dict[str, Any]:
        """The recorded result of an earlier step of this run (empty if it had none)."""
        record = self.ledger.step(self.run_id, step)
        return dict(record.get("result") or {}) if record else {}


# -- steps ---------------------------------------------------------------------------------


def ingest(ctx: StepContext) -> IngestResult:
    """Ingest the spec's inputs, then fingerprint the data (the run's input key)."""
    from ingestion.loader import Ingestor

    paths = [Path(p) for p in ctx.spec.inputs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InvalidInput(f"inputs not found: {missing}")
    with _open(ctx) as graph:
        report: dict[str, Any] = {"files": 0, "rows_read": 0, "rows_loaded": 0}
        if paths:

            def on_progress(path: Path, done: int, total: int | None) -> None:
                ctx.progress(f"ingest {path.name}", done, total)

            ingestor = Ingestor(
                graph,
                quarantine_dir=ctx.settings.store_dir / "quarantine",
                batch_size=ctx.settings.batch_size,
                default_region=ctx.settings.default_region,
                on_progress=on_progress,
            )
            try:
                report = ingestor.run(paths).as_dict()
            finally:
                ingestor.close()
            report.pop("manifests", None)
        data = data_fingerprint(graph)
    champion = model_registry(ctx.settings).champion()
    input_key = _input_key(data, champion, ctx.spec)
    trains = ctx.spec.gnn == "train" or (ctx.spec.gnn == "auto" and champion is None)
    last = ctx.ledger.last_succeeded(before=ctx.run_id)
    unchanged = (
        last is not None
        and last.get("input_key") == input_key
        and not ctx.spec.force
        and not (trains and "gnn_train" in ctx.spec.steps)
    )
    ctx.ledger.update_run(ctx.run_id, input_key=input_key)
    # The ingest report's totals are its JSON form (IngestReport.as_dict, untyped).
    return cast(
        IngestResult,
        {
            **report,
            "data": data,
            "input_key": input_key,
            "unchanged_since": last["run_id"] if unchanged and last else None,
        },
    )


def gnn_train(ctx: StepContext) -> GnnTrainResult:
    """Train a GNN and challenge the champion (when the spec asks for it or none exists).

    Too few labels to train (:class:`gnn.labels.TooFewLabels`, none at all included) is a
    skip with the counts as its reason, not a failure: the run goes on with the champion,
    if there is one, or without ``gnn_score``.
    """
    from gnn.labels import TooFewLabels
    from gnn.training import TrainConfig

    if ctx.spec.gnn == "off":
        raise StepSkipped("the GNN is off for this run")
    champion = model_registry(ctx.settings).champion()
    if ctx.spec.gnn == "auto" and champion is not None:
        raise StepSkipped(f"champion {champion} exists; retraining runs on its own schedule")
    config = TrainConfig(max_epochs=ctx.spec.gnn_epochs)

    def on_epoch(step: str, done: int, total: int) -> None:
        ctx.progress(f"gnn: {step}", done, config.max_epochs)

    with _open(ctx) as graph:
        try:
            result = train_gnn(
                graph,
                ctx.settings,
                config,
                compare=ctx.spec.gnn_compare,
                margin=0.005,
                progress=on_epoch,
            )
        except TooFewLabels as exc:
            keeps = f"; champion {champion} stays" if champion else ""
            raise StepSkipped(f"no GNN trained: {exc}{keeps}") from exc
    ingested = ctx.result_of("ingest")
    if "data" in ingested:
        # The run scores with the champion it leaves behind: a later run over the same
        # data with that champion has nothing new to do.
        ctx.ledger.update_run(
            ctx.run_id, input_key=_input_key(ingested["data"], result["champion"], ctx.spec)
        )
    return result


def gnn_infer(ctx: StepContext) -> GnnInferResult:
    """Score every account with the champion and write ``gnn_score``."""
    from gnn.inference import infer

    if ctx.spec.gnn == "off":
        raise StepSkipped("the GNN is off for this run")
    registry = model_registry(ctx.settings)
    if registry.champion() is None:
        raise StepSkipped("no champion GNN; the analysis runs without gnn_score")
    ctx.progress("gnn: scoring every account", None, None)
    with _open(ctx) as graph:
        summary = infer(graph, registry, run_id=ctx.run_id).summary()
    return cast(GnnInferResult, summary)


def analyse(ctx: StepContext) -> AnalyseResult:
    """Projection, communities, features, scores; stage the run for flag and publish."""
    from scoring.analysis import analyse as run_analysis
    from scoring.staging import stage_analysis

    def on_step(step: str, done: int, total: int) -> None:
        ctx.progress(f"analyse: {step}", done, total)

    with _open(ctx) as graph:
        result = run_analysis(graph, progress=on_step)
        stage_analysis(graph, result, run_version=ctx.run_id)
    return {
        "analysis_version": result.version,
        "accounts": result.entity_risk.num_rows,
        "ring_candidates": result.ring_candidates.num_rows,
        "super_nodes": result.super_nodes.num_rows,
        "model": None if result.model is None else result.model.version,
        "label_mode": result.label_mode.value,
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
    }


def flag(ctx: StepContext) -> FlagResult:
    """Flag the run's rings: versioned Parquet + JSON report and the store's ring tables."""
    from scoring.flagging import flag_clusters
    from scoring.staging import read_staged_analysis

    ctx.progress("flag clusters", None, None)
    with _open(ctx) as graph:
        staged = read_staged_analysis(graph, run_version=ctx.run_id)
        report = flag_clusters(
            graph,
            staged,
            threshold=ctx.spec.threshold,
            out_dir=ctx.settings.store_dir / "flagged",
            run_version=ctx.run_id,
        )
    return cast(FlagResult, report.summary())


def publish(ctx: StepContext) -> PublishResult:
    """Publish the feature snapshot under the run's id (store; Redis when configured)."""
    from scoring.feature_cache import publish_snapshot
    from scoring.staging import read_staged_analysis

    redis_url = ctx.jobs.feature_redis_url if ctx.spec.publish_redis else None
    ctx.progress("publish feature snapshot", None, None)
    with _open(ctx) as graph:
        staged = read_staged_analysis(graph, run_version=ctx.run_id)
        snapshot = publish_snapshot(
            graph,
            reasons=staged.reasons,
            redis_cache=redis_feature_cache(redis_url) if redis_url else None,
            version=ctx.run_id,
        )
    return {"version": snapshot.version, "entities": len(snapshot), "redis": bool(redis_url)}


def evaluate(ctx: StepContext) -> EvaluateResult:
    """Judge the run's flagged clusters and scores against the ground truth, if given."""
    from scoring.flagging import read_flagged_clusters

    if not ctx.spec.truth:
        raise StepSkipped("no ground truth given")
    ctx.progress("evaluate", None, None)
    with _open(ctx) as graph:
        flagged = read_flagged_clusters(graph, version=ctx.run_id)
        risk = graph.read_scores("entity_risk")
        scores = pa.table({"id": risk.column("entity_id"), "risk": risk.column("value")})
        report = evaluation_report(graph, Path(ctx.spec.truth), flagged, scores)
    path = ctx.ledger.run_dir(ctx.run_id) / "evaluation.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    return {**report, "path": str(path)}


def deliver(ctx: StepContext) -> DeliverResult:
    """POST the run's flagged-cluster report to the case-management webhook, if set."""
    from fraudgraph.jobs.webhook import WebhookRefused
    from fraudgraph.jobs.webhook import deliver as post

    url = ctx.jobs.webhook_url
    if not ctx.spec.deliver or not url:
        raise StepSkipped("no webhook configured (FRAUDGRAPH_JOBS_WEBHOOK_URL)")
    assert ctx.jobs.webhook_secret is not None  # JobSettings refuses a URL without one
    flagged = ctx.result_of("flag")
    if not flagged.get("json"):
        raise StepSkipped("the run flagged no clusters report")
    document = json.loads(Path(flagged["json"]).read_text(encoding="utf-8"))
    document["run_id"] = ctx.run_id
    ctx.progress("deliver flagged clusters", None, None)
    result = post(
        url,
        document,
        secret=ctx.jobs.webhook_secret.get_secret_value(),
        delivery_id=f"flagged-{ctx.run_id}",
        outbox=ctx.ledger.root / "outbox",
        attempts=ctx.jobs.webhook_attempts,
        backoff_s=ctx.jobs.webhook_backoff_s,
        timeout_s=ctx.jobs.webhook_timeout_s,
    )
    if not result.delivered:
        raise WebhookRefused(
            f"flagged clusters not delivered to {url} after {len(result.attempts)} attempt(s) "
            f"(last status {result.status}); kept in {result.outbox}; send again with "
            f"`fraudgraph jobs deliver {ctx.run_id}`"
        )
    return cast(DeliverResult, result.as_dict())


STEP_FUNCTIONS: Final[dict[str, Callable[[StepContext], StepResult]]] = {
    "ingest": ingest,
    "gnn_train": gnn_train,
    "gnn_infer": gnn_infer,
    "analyse": analyse,
    "flag": flag,
    "publish": publish,
    "evaluate": evaluate,
    "deliver": deliver,
}


def _open(ctx: StepContext) -> GraphStore:
    """The store, opened for writing; waits up to ``jobs.store_wait_s`` while another
    process (an API server between reads, a CLI query) has the embedded store open."""
    deadline = time.monotonic() + ctx.jobs.store_wait_s
    while True:
        try:
            return open_store(ctx.settings)
        except StoreLocked as exc:
            if time.monotonic() >= deadline:
                raise
            ctx.progress(f"waiting for the store: {exc}", None, None)
            time.sleep(0.5)


# -- shared with the CLI -------------------------------------------------------------------


def data_fingerprint(graph: GraphStore) -> DataFingerprint:
    """What the data of ``graph`` is: ingested sources, counts and labels.

    Notes
    -----
    O(sources + labels): the manifests and the labels table are read, the graph is not.
    """
    sources = sorted(str(m.get("source", "")) for m in graph.manifests())
    labels = graph.labels()
    latest_label = None
    if labels.num_rows and "ts" in labels.column_names:
        import pyarrow.compute as pc

        latest_label = str(pc.max(labels.column("ts")).as_py())
    return {
        "sources": hashlib.sha256("\n".join(sources).encode()).hexdigest()[:16],
        "n_sources": len(sources),
        "counts": graph.counts().as_dict(),
        "labels": labels.num_rows,
        "latest_label": latest_label,
    }


def _input_key(data: DataFingerprint, champion: str | None, spec: PipelineSpec) -> str:
    """The run's input key: data fingerprint, GNN champion and options (wait/force aside)."""
    material = {
        "data": data,
        "champion": champion,
        "options": {k: v for k, v in spec.as_dict().items() if k not in ("wait_s", "force")},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]


def redis_feature_cache(url: str) -> RedisFeatureCache:
    """The API's Redis feature cache at ``url`` (with the API's key prefix)."""
    import redis

    from api.settings import ApiSettings
    from scoring.feature_cache import RedisFeatureCache

    return RedisFeatureCache(
        redis.Redis.from_url(url, socket_connect_timeout=2.0), prefix=ApiSettings().redis_prefix
    )


def model_registry(settings: Settings) -> ModelRegistry:
    """The GNN model registry of the store of ``settings`` (``STORE/models``).

    The one place the registry is built: the pipeline's steps and the CLI's ``gnn``
    commands use this.
    """
    from gnn.registry import ModelRegistry, default_registry_root

    return ModelRegistry(default_registry_root(settings.store_dir))


def train_gnn(
    graph: GraphStore,
    settings: Settings,
    config: TrainConfig,
    *,
    compare: bool,
    margin: float,
    progress: Callable[[str, int, int], None] | None = None,
) -> GnnTrainResult:
    """Train, compare with boosting, register and run champion-challenger; a summary."""
    from gnn.champion import ChampionPolicy, challenge
    from gnn.comparison import compare_with_boosting
    from gnn.training import train

    run = train(graph, config, progress=progress)
    comparison = compare_with_boosting(run) if compare else None
    registry = model_registry(settings)
    manifest = registry.register(
        run, extra_metrics={"comparison": comparison} if comparison else None
    )
    decision = challenge(
        graph, registry, manifest.version, policy=ChampionPolicy(margin=margin), run=run
    )
    return {
        "version": manifest.version,
        "model": manifest.model,
        "snapshot": manifest.snapshot,
        "labels": manifest.labels,
        "metrics": {k: v for k, v in run.metrics.items() if k != "history"},
        "comparison": comparison,
        "decision": cast(DecisionRecord, decision.as_dict()),
        "champion": registry.champion(),
    }


def evaluation_report(
    graph: GraphStore,
    truth: Path,
    flagged: pa.Table,
    scores: pa.Table,
    *,
    baselines: bool = False,
    sharers: Path | None = None,
) -> EvaluationFigures:
    """Evaluate flagged clusters and account scores (and optionally the baselines).

    ``sharers`` lists the legitimate accounts of benign sharing groups (``account_id,
    kind, group_id``); without it, a ``sharers.csv`` beside the truth file is used when
    there is one. Returns the pipeline's figures, ``baselines`` when asked, and
    ``table``: the reports as aligned text.
    """
    from scoring.baselines import rules_baseline, wcc_baseline
    from scoring.evaluation import (
        account_ids,
        format_table,
        legit_heavy_sharers,
        load_sharers,
        load_truth,
        resolve_sharers,
        resolve_truth,
    )
    from scoring.evaluation import evaluate as evaluate_detector

    resolved = resolve_truth(load_truth(truth), graph)
    accounts = account_ids(graph)
    heavy = legit_heavy_sharers(graph, resolved)
    if sharers is None and (truth.parent / "sharers.csv").is_file():
        sharers = truth.parent / "sharers.csv"
    benign = resolve_sharers(load_sharers(sharers), graph) if sharers is not None else None
    reports = {
        "pipeline": evaluate_detector(
            flagged, scores, resolved, accounts=accounts, heavy_sharers=heavy, sharers=benign
        )
    }
    if baselines:
        for name, detector in (("wcc", wcc_baseline(graph)), ("rules", rules_baseline(graph))):
            reports[name] = evaluate_detector(
                detector.flagged,
                detector.account_scores,
                resolved,
                accounts=accounts,
                heavy_sharers=heavy,
                sharers=benign,
            )
    result: dict[str, Any] = reports["pipeline"].as_dict()
    if baselines:
        result["baselines"] = {name: reports[name].as_dict() for name in ("wcc", "rules")}
    result["table"] = format_table(reports)
    return cast(EvaluationFigures, result)
