"""Helpers of the job tests: pipeline specs, store state to compare, worker processes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudgraph.jobs.steps import PipelineSpec
from graph_service.embedded.store import EmbeddedStore
from tests.graph_service.conftest import _stop_shared_neo4j, neo4j_server

__all__ = ["_stop_shared_neo4j", "neo4j_server"]

if TYPE_CHECKING:
    from ingestion.synthetic import ScenarioSummary


def pipeline_spec(scenario: ScenarioSummary, store: Path, **options: Any) -> PipelineSpec:
    """The pipeline over ``scenario`` into ``store`` (GNN off unless asked: 2 cores)."""
    values: dict[str, Any] = {
        "store_dir": str(store),
        "inputs": (str(scenario.events_path), str(scenario.labels_path)),
        "truth": str(scenario.truth_path),
        "gnn": "off",
        "gnn_epochs": 3,
        "gnn_compare": False,
        **options,
    }
    return PipelineSpec(**values)


def store_state(store_dir: Path) -> dict[str, Any]:
    """What a run leaves in the store: entity keys, scores and flagged rings, by key.

    Versions and timestamps are left out: they name the run, not its result.
    """
    from scoring.feature_cache import snapshot_from_store
    from scoring.flagging import read_flagged_clusters

    store = EmbeddedStore(store_dir)
    try:
        nodes = store.export_nodes()
        key_of = dict(
            zip(nodes.column("id").to_pylist(), nodes.column("key").to_pylist(), strict=True)
        )
        state: dict[str, Any] = {"counts": store.counts().as_dict()}
        for name in ("entity_risk", "ring_score", "pagerank", "community", "gnn_score"):
            table = store.read_scores(name)
            values = np.round(table.column("value").to_numpy(), 9).tolist()
            state[name] = sorted(
                zip((key_of[i] for i in table.column("entity_id").to_pylist()), values, strict=True)
            )
        flagged = read_flagged_clusters(store)
        state["flagged"] = sorted(
            (tuple(sorted(key_of[m] for m in members)), round(score, 9), tuple(reasons))
            for members, score, reasons in zip(
                flagged.column("members").to_pylist(),
                flagged.column("score").to_pylist(),
                flagged.column("reasons").to_pylist(),
                strict=True,
            )
        )
        snapshot = snapshot_from_store(store).table
        state["snapshot"] = sorted(
            (row["key"], round(row["risk"], 9))
            for row in snapshot.select(["key", "risk"]).to_pylist()
        )
        return state
    finally:
        store.close()


class CeleryWorker:
    """A real ``fraudgraph worker`` process group (Celery prefork), with its own log."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        name: str,
        concurrency: int = 1,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        import os
        import subprocess
        import sys

        self.name = f"{name}@fraudgraph-test"
        self.log = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fraudgraph.cli",
                "worker",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "info",
                "--hostname",
                self.name,
                *extra_args,
            ],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, app: Any, timeout_s: float = 90) -> None:
        """Until the worker answers a ping (or fail with its log)."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.log.read_text()}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise RuntimeError(f"worker did not answer within {timeout_s} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool processes at once."""
        import os
        import signal

        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), SIGKILL if it lingers."""
        import os
        import signal
        import subprocess

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._log.close()


def wait_for_run(store: Path, run_id: str, timeout_s: float = 240) -> dict[str, Any]:
    """The run's record once it finished (with ``step_records``)."""
    import time

    from fraudgraph.jobs.ledger import FINISHED, RunLedger

    ledger = RunLedger(store / "jobs")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = ledger.run(run_id)
        if run["status"] in FINISHED:
            run["step_records"] = ledger.steps(run_id)
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} not finished after {timeout_s} s: {ledger.steps(run_id)}")
