"""Serving: ``fraudgraph publish`` (the feature snapshot) and ``fraudgraph serve`` (the API)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer

from fraudgraph.cli.shared import (
    JsonOption,
    StoreOption,
    emit,
    err,
    fail_cleanly,
    open_graph,
    out,
    progress_bars,
)
from fraudgraph.jobs.results import PublishResult
from graph_service import GraphStore

__all__ = ["RedisUrlOption", "publish", "publish_feature_snapshot", "serve", "uvicorn_options"]

RedisUrlOption = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        envvar="FRAUDGRAPH_API_REDIS_URL",
        help="Also publish the snapshot to this Redis (e.g. redis://127.0.0.1:6379/0).",
    ),
]


def publish_feature_snapshot(
    graph: GraphStore, redis_url: str | None, reasons: pa.Table | None
) -> PublishResult:
    """Build and publish the feature snapshot with a progress bar; its summary."""
    import time

    from fraudgraph.jobs.steps import redis_feature_cache
    from scoring.feature_cache import publish_snapshot

    redis_cache = redis_feature_cache(redis_url) if redis_url else None
    started = time.perf_counter()
    with progress_bars() as progress:
        task = progress.add_task("publish feature snapshot", total=1)
        snapshot = publish_snapshot(graph, reasons=reasons, redis_cache=redis_cache)
        progress.update(task, completed=1)
    return {
        "version": snapshot.version,
        "entities": len(snapshot),
        "redis": bool(redis_url),
        "seconds": round(time.perf_counter() - started, 3),
    }


@fail_cleanly
def publish(
    store: StoreOption = None,
    redis_url: RedisUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build the feature snapshot from the latest analysis and publish it (store, Redis)."""
    with open_graph(store, read_only=False) as graph:
        result = publish_feature_snapshot(graph, redis_url, reasons=None)
    if as_json:
        emit(result)
        return
    out.print(
        f"published feature snapshot [bold]{result['version']}[/]: {result['entities']:,} "
        f"entities in {result['seconds']:.1f} s" + (" (also to redis)" if result["redis"] else "")
    )


@contextmanager
def worker_group_environment(workers: int, run_dir: Path | None) -> Iterator[dict[str, str]]:
    """The directories the workers of one server share, set in ``os.environ`` meanwhile.

    With one worker nothing is set. With several: ``FRAUDGRAPH_API_RUN_DIR`` (the reload
    signal, :mod:`api.reload_signal`) is ``run_dir``, else a private directory, and
    ``PROMETHEUS_MULTIPROC_DIR`` (metrics merged over the workers) is the operator's, else
    a private directory. Private directories are removed, and the environment restored, on
    exit.

    Parameters
    ----------
    workers : int
        Worker processes of the server.
    run_dir : Path, optional
        The operator's run directory (``FRAUDGRAPH_API_RUN_DIR``); created if missing.

    Yields
    ------
    dict
        The variables set (empty with one worker).
    """
    import os
    import shutil
    import tempfile

    from api.metrics import MULTIPROC_DIR_ENV

    if workers <= 1:
        yield {}
        return
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    shared: dict[str, str] = {}
    private: Path | None = None
    if run_dir is None or not os.environ.get(MULTIPROC_DIR_ENV):
        private = Path(tempfile.mkdtemp(prefix="fraudgraph-serve-"))
        if run_dir is None:
            shared["FRAUDGRAPH_API_RUN_DIR"] = str(private)
        if not os.environ.get(MULTIPROC_DIR_ENV):
            (private / "metrics").mkdir()
            shared[MULTIPROC_DIR_ENV] = str(private / "metrics")
    saved = {name: os.environ.get(name) for name in shared}
    os.environ.update(shared)
    try:
        yield shared
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


def uvicorn_options(log_level: str = "warning") -> dict[str, Any]:
    """The uvicorn options ``fraudgraph serve`` runs with (host, port and workers aside):
    no access log, uvloop and httptools when importable (the benchmarks' bare app uses the
    same, so it is measured on the same server settings)."""
    options: dict[str, Any] = {"log_level": log_level, "access_log": False}
    for module, key, value in (("uvloop", "loop", "uvloop"), ("httptools", "http", "httptools")):
        try:
            __import__(module)
            options[key] = value
        except ImportError:
            pass
    return options


@fail_cleanly
def serve(
    store: StoreOption = None,
    host: Annotated[
        str, typer.Option("--host", envvar="FRAUDGRAPH_API_HOST", help="Interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="FRAUDGRAPH_API_PORT", min=1, max=65535)
    ] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Worker processes. Each holds its own snapshot; a reload on any worker "
            "reaches all within about a second (through FRAUDGRAPH_API_RUN_DIR, default a "
            "private directory) and /metrics on any worker counts all of them (through "
            "PROMETHEUS_MULTIPROC_DIR, default a private directory).",
        ),
    ] = 1,
    log_level: Annotated[str, typer.Option("--log-level")] = "warning",
) -> None:
    """Run the API (GraphQL at /graphql, features at /v1/features) with uvicorn.

    With several workers, POST /v1/admin/snapshot/reload on any worker makes every worker
    reload, and /metrics on any worker reports the sum over all of them.
    """
    import os

    import uvicorn

    from api.app import create_app

    if store is not None:
        os.environ["FRAUDGRAPH_STORE"] = str(store)
    # Refuses a bad configuration (no keys in production) before listening. It runs before
    # the worker group's variables are set, so this process stays out of the merged metrics.
    checked = create_app()
    options = {"host": host, "port": port, **uvicorn_options(log_level)}
    err.print(f"serving on http://{host}:{port} (GraphQL at /graphql, docs at /docs)")
    run_dir = checked.state.settings.run_dir
    with worker_group_environment(workers, run_dir) as shared:
        if workers > 1:
            # With an operator's PROMETHEUS_MULTIPROC_DIR the check wrote gauges there;
            # withdraw them: this process serves nothing.
            checked.state.metrics.close()
            err.print(
                f"{workers} workers: reloads signalled through "
                f"{shared.get('FRAUDGRAPH_API_RUN_DIR', run_dir)}, metrics merged in "
                f"{os.environ['PROMETHEUS_MULTIPROC_DIR']}"
            )
        uvicorn.run("api.app:create_app", factory=True, workers=workers, **options)
