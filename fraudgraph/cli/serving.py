"""Serving: ``fraudgraph publish`` (the feature snapshot) and ``fraudgraph serve`` (the API)."""

from __future__ import annotations

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

__all__ = ["RedisUrlOption", "publish", "publish_feature_snapshot", "serve"]

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
    with open_graph(store) as graph:
        result = publish_feature_snapshot(graph, redis_url, reasons=None)
    if as_json:
        emit(result)
        return
    out.print(
        f"published feature snapshot [bold]{result['version']}[/]: {result['entities']:,} "
        f"entities in {result['seconds']:.1f} s" + (" (also to redis)" if result["redis"] else "")
    )


@fail_cleanly
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
