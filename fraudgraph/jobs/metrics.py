"""Prometheus metrics of the batch jobs.

One set per process (:data:`METRICS`). A Celery worker forks its pool processes, so
``fraudgraph worker --metrics-port`` sets ``PROMETHEUS_MULTIPROC_DIR`` before anything
imports ``prometheus_client``; every process then writes its samples there and the
worker's main process serves their sum (:func:`serve`). An inline run writes its figures
to ``STORE/jobs/metrics.prom`` for a node_exporter textfile collector
(:func:`write_textfile`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client import write_to_textfile as _write_to_textfile

__all__ = ["METRICS", "JobMetrics", "serve", "write_textfile"]

#: Step durations, from a second to hours.
STEP_BUCKETS: Final = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


class JobMetrics:
    """The jobs' metrics.

    Attributes
    ----------
    step_seconds : Histogram
        ``fraudgraph_job_step_seconds{step, outcome}``: wall time of steps that ran.
    steps : Counter
        ``fraudgraph_job_steps_total{step, outcome}``; outcome is ``succeeded``,
        ``failed``, ``skipped`` (input unchanged) or ``duplicate`` (a re-delivery of a
        step already done).
    runs : Counter
        ``fraudgraph_pipeline_runs_total{outcome}``: succeeded, failed, refused.
    last_success : Gauge
        ``fraudgraph_job_last_success_timestamp_seconds{step}``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.step_seconds = Histogram(
            "fraudgraph_job_step_seconds",
            "Wall time of a pipeline step.",
            ["step", "outcome"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.steps = Counter(
            "fraudgraph_job_steps",
            "Pipeline steps by outcome.",
            ["step", "outcome"],
            registry=self.registry,
        )
        self.runs = Counter(
            "fraudgraph_pipeline_runs",
            "Pipeline runs by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "fraudgraph_job_last_success_timestamp_seconds",
            "When a step last succeeded (UNIX time).",
            ["step"],
            registry=self.registry,
            multiprocess_mode="max",
        )

    def step_done(self, step: str, outcome: str, seconds: float | None, finished: float) -> None:
        """Count one step outcome (and its time, when it ran)."""
        self.steps.labels(step=step, outcome=outcome).inc()
        if seconds is not None:
            self.step_seconds.labels(step=step, outcome=outcome).observe(seconds)
        if outcome == "succeeded":
            self.last_success.labels(step=step).set(finished)


METRICS: Final = JobMetrics()


def serve(port: int, *, addr: str = "0.0.0.0") -> None:
    """Serve the metrics on ``port`` (all pool processes' in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        start_http_server(port, addr=addr, registry=registry)
    else:
        start_http_server(port, addr=addr, registry=METRICS.registry)


def write_textfile(path: Path) -> None:
    """Write this process's figures for a textfile collector (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_to_textfile(str(path), METRICS.registry)
