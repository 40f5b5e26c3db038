"""What each pipeline step returns: the JSON-ready result the run ledger keeps.

One ``TypedDict`` per step of :data:`fraudgraph.jobs.steps.PIPELINE_STEPS`, so that the
steps that write a result and the CLI that reads it back (``pipeline run``, ``demo``,
``jobs status``) name the same keys and mypy checks them. The results travel as JSON (the
ledger's files, Celery messages), hence dictionaries rather than dataclasses.

:class:`StepResults` reads a run's ``step_records`` back: the result of each step that
succeeded, typed by step, and the reason of each step that was skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, cast

__all__ = [
    "AnalyseResult",
    "DataFingerprint",
    "DecisionRecord",
    "DeliverResult",
    "EvaluateResult",
    "EvaluationFigures",
    "FlagResult",
    "GnnInferResult",
    "GnnTrainResult",
    "IgnoredColumn",
    "IngestResult",
    "PublishResult",
    "StepResult",
    "StepResults",
    "UnrecognisedFileRecord",
]


class DataFingerprint(TypedDict):
    """What the data of a store is (see :func:`fraudgraph.jobs.steps.data_fingerprint`)."""

    sources: str
    n_sources: int
    counts: dict[str, dict[str, int]]
    labels: int
    latest_label: str | None


class UnrecognisedFileRecord(TypedDict):
    """A file of a directory that was not ingested, and why."""

    path: str
    reason: str


class IgnoredColumn(TypedDict):
    """A column of an input file that names no field."""

    path: str
    column: str
    reason: str


class IngestResult(TypedDict):
    """``ingest``: the ingest manifest's totals (when the run had inputs) and the data
    fingerprint behind the run's input key.

    A run without inputs records ``files``, ``rows_read`` and ``rows_loaded`` (all 0) and
    none of the other totals.
    """

    rows_read: int
    rows_loaded: int
    rows_quarantined: NotRequired[int]
    rows_duplicate: NotRequired[int]
    fields_quarantined: NotRequired[int]
    files: int
    files_skipped: NotRequired[int]
    files_unrecognised: NotRequired[list[UnrecognisedFileRecord]]
    columns_ignored: NotRequired[list[IgnoredColumn]]
    quarantine_path: NotRequired[str | None]
    seconds: NotRequired[float]
    reconciled: NotRequired[bool]
    data: DataFingerprint
    input_key: str
    #: The last succeeded run with the same input key (the later steps are skipped).
    unchanged_since: str | None


class DecisionRecord(TypedDict):
    """One champion-challenger decision (:meth:`gnn.champion.Decision.as_dict`)."""

    challenger: str
    champion: str | None
    promoted: bool
    reason: str
    metric: str
    margin: float
    challenger_metrics: dict[str, Any] | None
    champion_metrics: dict[str, Any] | None
    decided_at: str
    manual: bool


class GnnTrainResult(TypedDict):
    """``gnn_train`` (and ``fraudgraph gnn train``): the registered model, its held-out
    metrics, the boosting comparison and the champion-challenger decision."""

    version: str
    model: str
    snapshot: str
    labels: dict[str, Any]
    #: Training figures (``test``, ``label_mode``, ``train_seconds``, ``epochs``...).
    metrics: dict[str, Any]
    #: Test PR-AUC and ROC-AUC per comparator (``None`` when not compared).
    comparison: dict[str, dict[str, float]] | None
    decision: DecisionRecord
    champion: str | None


class GnnInferResult(TypedDict):
    """``gnn_infer`` (and ``fraudgraph gnn infer``):
    :meth:`gnn.inference.InferenceResult.summary`."""

    version: str
    accounts: int
    seconds: dict[str, float]
    accounts_per_second: float
    mean_score: float | None
    psi: float | None
    drift_warning: bool


class AnalyseResult(TypedDict):
    """``analyse`` (and ``fraudgraph analyse``): the analysis run's figures."""

    analysis_version: str
    accounts: int
    ring_candidates: int
    super_nodes: int
    model: str | None
    label_mode: str
    timings_s: dict[str, float]


class FlagResult(TypedDict):
    """``flag``: :meth:`scoring.flagging.FlagReport.summary`."""

    version: str
    threshold: float
    rings: int
    flagged: int
    new_alerts: int
    continued_alerts: int
    events: dict[str, int]
    parquet: str
    json: str


class PublishResult(TypedDict):
    """``publish`` (and ``fraudgraph publish``): the feature snapshot published."""

    version: str
    entities: int
    redis: bool
    #: Wall time of the publication (the CLI's commands only).
    seconds: NotRequired[float]


class EvaluationFigures(TypedDict):
    """:func:`fraudgraph.jobs.steps.evaluation_report`: the pipeline's figures
    (:meth:`scoring.evaluation.EvaluationReport.as_dict`), the baselines' when asked, and
    the reports as an aligned text ``table``."""

    ring_recall: float | None
    cluster_precision: float | None
    roc_auc: float | None
    pr_auc: float | None
    n_flagged: int
    n_rings: int
    n_found: int
    n_accounts: int
    n_ring_accounts: int
    flagged_accounts: int
    mean_best_jaccard: float | None
    min_jaccard: float
    truth_accounts_missing: int
    rings_missing: int
    n_heavy_sharers: int | None
    heavy_sharer_fpr: float | None
    heavy_sharer_clusters: int | None
    precision_at: dict[str, float | None]
    clusters_without_ring_members: int
    n_sharers: int | None
    sharer_fpr: float | None
    sharer_only_clusters: int | None
    per_sharer_kind: dict[str, dict[str, Any]]
    per_typology: dict[str, dict[str, Any]]
    typology_agreement: float | None
    baselines: NotRequired[dict[str, dict[str, Any]]]
    table: str


class EvaluateResult(EvaluationFigures):
    """``evaluate``: the evaluation figures and the file they were written to."""

    path: str


class DeliverResult(TypedDict):
    """``deliver`` (and ``fraudgraph jobs deliver``):
    :meth:`fraudgraph.jobs.webhook.DeliveryResult.as_dict`."""

    delivery_id: str
    delivered: bool
    status: int | None
    attempts: list[dict[str, Any]]
    outbox: str | None


#: What a step function returns.
StepResult = (
    IngestResult
    | GnnTrainResult
    | GnnInferResult
    | AnalyseResult
    | FlagResult
    | PublishResult
    | EvaluateResult
    | DeliverResult
)


@dataclass(frozen=True)
class StepResults:
    """A run's step results, typed by step.

    Attributes
    ----------
    ingest, gnn_train, gnn_infer, analyse, flag, publish, evaluate, deliver
        The result the step recorded if it succeeded; ``None`` when it was skipped,
        failed, is still running or did not run.
    skipped : dict of str to str
        The reason of each step recorded as skipped.
    """

    ingest: IngestResult | None = None
    gnn_train: GnnTrainResult | None = None
    gnn_infer: GnnInferResult | None = None
    analyse: AnalyseResult | None = None
    flag: FlagResult | None = None
    publish: PublishResult | None = None
    evaluate: EvaluateResult | None = None
    deliver: DeliverResult | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, step_records: Mapping[str, Mapping[str, Any] | None]) -> StepResults:
        """The results in a run's ``step_records`` (the run ledger's step records by step).

        The ledger keeps what the step functions returned, so each result has its step's
        type; the casts only say which.
        """

        def succeeded(step: str) -> Any:
            record = step_records.get(step) or {}
            if record.get("status") != "succeeded":
                return None
            return dict(record.get("result") or {}) or None

        skipped = {}
        for step, record in step_records.items():
            result = (record or {}).get("result") or {}
            if "skipped" in result:
                skipped[step] = str(result["skipped"])
        return cls(
            ingest=cast(IngestResult | None, succeeded("ingest")),
            gnn_train=cast(GnnTrainResult | None, succeeded("gnn_train")),
            gnn_infer=cast(GnnInferResult | None, succeeded("gnn_infer")),
            analyse=cast(AnalyseResult | None, succeeded("analyse")),
            flag=cast(FlagResult | None, succeeded("flag")),
            publish=cast(PublishResult | None, succeeded("publish")),
            evaluate=cast(EvaluateResult | None, succeeded("evaluate")),
            deliver=cast(DeliverResult | None, succeeded("deliver")),
            skipped=skipped,
        )
