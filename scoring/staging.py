"""Staging one analysis run in the store, for the jobs that consume it in another process.

Flagging and publishing may run in another worker than the analysis; the analysis stages
what they need (:func:`stage_analysis`) and they read it back (:func:`read_staged_analysis`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pyarrow as pa

from graph_service.errors import EntityNotFound, InvalidInput
from graph_service.store import AnalyticsStore

if TYPE_CHECKING:
    from scoring.analysis import AnalysisResult

#: Analytics tables one staged analysis run is kept in (see :func:`stage_analysis`).
STAGED_TABLES: Final[tuple[str, ...]] = (
    "analysis_candidates",
    "analysis_super_nodes",
    "analysis_reasons",
    "analysis_runs",
)


@dataclass(frozen=True)
class StagedAnalysis:
    """One analysis run read back from the store: what flagging and publishing need.

    Attributes
    ----------
    run_version : str
        The version the run was staged under.
    version : str
        The analysis version (model and configuration), as ``AnalysisResult.version``.
    ring_candidates, super_nodes : pa.Table
        As in :class:`AnalysisResult`.
    reasons : pa.Table
        ``(id, reasons)`` per account.
    """

    run_version: str
    version: str
    ring_candidates: pa.Table
    super_nodes: pa.Table
    reasons: pa.Table


def stage_analysis(
    store: AnalyticsStore, result: AnalysisResult, *, run_version: str, keep_runs: int = 3
) -> None:
    """Record the tables of ``result`` that later jobs consume, under ``run_version``.

    Flagging and publishing may run in another process (a batch worker) than the analysis;
    they read the run back with :func:`read_staged_analysis`. ``analysis_runs`` is written
    last, so a version listed there has all its tables. Writing a version again replaces
    it (a re-delivered job).

    Parameters
    ----------
    store : AnalyticsStore
    result : AnalysisResult
    run_version : str
        A valid analytics table version (the pipeline run's).
    keep_runs : int
        Staged runs kept (the latest, this one included).

    Raises
    ------
    InvalidInput
        For an invalid version or ``keep_runs`` below 1.
    """
    if keep_runs < 1:
        raise InvalidInput(f"keep_runs must be >= 1, got {keep_runs}")
    meta = pa.table(
        {
            "run_version": [run_version],
            "analysis_version": [result.version],
            "accounts": pa.array([result.entity_risk.num_rows], pa.int64()),
            "ring_candidates": pa.array([result.ring_candidates.num_rows], pa.int64()),
        }
    )
    tables = (
        result.ring_candidates,
        result.super_nodes,
        result.entity_risk.select(["id", "reasons"]),
        meta,
    )
    for name, table in zip(STAGED_TABLES, tables, strict=True):
        store.write_table(name, table, version=run_version)
    for name in STAGED_TABLES:
        for old in store.table_versions(name)[:-keep_runs]:
            store.drop_table_version(name, old)


def read_staged_analysis(
    store: AnalyticsStore, *, run_version: str | None = None
) -> StagedAnalysis:
    """The analysis staged under ``run_version`` (default: the latest complete one).

    Raises
    ------
    EntityNotFound
        If no analysis was staged, or not under ``run_version``.
    """
    versions = store.table_versions("analysis_runs")
    if run_version is None:
        if not versions:
            raise EntityNotFound("no analysis staged in the store; run the analyse job first")
        run_version = versions[-1]
    elif run_version not in versions:
        raise EntityNotFound(f"no analysis staged under version {run_version!r}")
    meta = store.read_table("analysis_runs", version=run_version).to_pylist()[0]
    return StagedAnalysis(
        run_version=run_version,
        version=str(meta["analysis_version"]),
        ring_candidates=store.read_table("analysis_candidates", version=run_version),
        super_nodes=store.read_table("analysis_super_nodes", version=run_version),
        reasons=store.read_table("analysis_reasons", version=run_version),
    )
