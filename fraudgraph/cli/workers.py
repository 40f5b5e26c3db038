"""The Celery processes: ``fraudgraph worker`` (the pipeline's tasks) and ``fraudgraph
beat`` (the schedule)."""

from __future__ import annotations

from typing import Annotated

import typer

from fraudgraph.cli.shared import StoreOption, fail_cleanly, settings_for

__all__ = ["beat", "worker"]


@fail_cleanly
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


@fail_cleanly
def beat(
    store: StoreOption = None,
    loglevel: Annotated[str, typer.Option("--loglevel")] = "info",
) -> None:
    """Start Celery beat: the scheduled pipeline and GNN retraining (see FRAUDGRAPH_JOBS_*)."""
    from fraudgraph.jobs.celery_app import app as celery
    from fraudgraph.jobs.pipeline import jobs_root

    schedule = jobs_root(settings_for(store)) / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    celery.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])
