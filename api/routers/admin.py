"""``/v1/admin``: jobs an operator (role ``admin``) may trigger."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import APIRouter

from api.deps import AdminKey, FeaturesDep, GatewayDep, ReloadWatcherDep
from graph_service.errors import BackendUnavailable

router = APIRouter(prefix="/v1/admin", tags=["admin"])

log = logging.getLogger(__name__)


@router.post("/snapshot/reload", summary="Load the latest published feature snapshot now")
async def reload_snapshot(
    features: FeaturesDep, gateway: GatewayDep, watcher: ReloadWatcherDep, _key: AdminKey
) -> dict[str, Any]:
    """Swaps to the latest snapshot recorded in the store (if newer) and reloads the rings.

    The answer describes the worker that received the request. With a run directory
    (every ``fraudgraph serve --workers N``), the reload is then signalled to every other
    worker, which follows within about a second: ``broadcast`` is ``true`` and
    ``reload_generation`` names the signal (each worker's ``/readyz`` shows the last one it
    applied). A failure to write the signal is a 503 (retrying is safe).
    """
    with anyio.fail_after(gateway.timeout_s):
        result: dict[str, Any] = await anyio.to_thread.run_sync(
            lambda: features.reload(gateway), abandon_on_cancel=True
        )
    generation = None
    if watcher is not None:
        try:
            generation = await anyio.to_thread.run_sync(watcher.broadcast)
        except OSError as exc:
            log.warning("snapshot reload not signalled to the other workers: %s", exc)
            raise BackendUnavailable(
                f"this worker reloaded, but the other workers could not be told: {exc}"
            ) from exc
    return {**result, "broadcast": generation is not None, "reload_generation": generation}
