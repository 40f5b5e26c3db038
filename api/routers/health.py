"""Liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

import os
from typing import Any

import anyio
import orjson
from fastapi import APIRouter
from starlette.responses import Response

from api.deps import FeaturesDep, GatewayDep, MetricsDep, ReloadWatcherDep
from api.metrics import CONTENT_TYPE_LATEST

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process runs."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: store and caches, with details",
    responses={503: {"description": "Features cannot be served"}},
)
async def readyz(features: FeaturesDep, gateway: GatewayDep, watcher: ReloadWatcherDep) -> Response:
    """``ready`` (200) when the store, the snapshot and Redis (if configured) all answer;
    ``degraded`` (200) when features are still served but something is down;
    ``unavailable`` (503) when features cannot be served. ``worker`` says which process
    answered (``pid``) and the last reload signal it applied (``reload_generation``)."""
    try:
        with anyio.fail_after(gateway.timeout_s):
            store_ok, store_detail = await anyio.to_thread.run_sync(
                gateway.ping, abandon_on_cancel=True
            )
    except TimeoutError:
        store_ok, store_detail = False, f"no answer within {gateway.timeout_s:g} s"
    cache = await anyio.to_thread.run_sync(features.status)
    redis = cache.get("redis")
    redis_ok = redis is None or bool(redis["reachable"] and redis["snapshot_version"])
    serving = bool(cache["snapshot_loaded"]) or (redis is not None and redis_ok)
    if store_ok and cache["snapshot_loaded"] and redis_ok:
        status, code = "ready", 200
    elif serving:
        status, code = "degraded", 200
    else:
        status, code = "unavailable", 503
    body: dict[str, Any] = {
        "status": status,
        "store": {"backend": gateway.backend, "reachable": store_ok, "detail": store_detail},
        "features": cache,
        "worker": {
            "pid": os.getpid(),
            "reload_generation": None if watcher is None else watcher.generation,
        },
    }
    return Response(orjson.dumps(body), status_code=code, media_type="application/json")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    """Request latency per route, cache hits and misses, snapshot version, fallbacks; with
    several workers, every worker's samples merged (whichever worker answers)."""
    metrics.fold()  # here, on the loop the tallies are counted on
    if metrics.multiprocess_dir is None:
        body = metrics.render()
    else:  # reads one file per worker process: off the event loop
        body = await anyio.to_thread.run_sync(metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
