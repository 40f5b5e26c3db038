"""``/v1/admin``: jobs an operator (role ``admin``) may trigger."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter

from api.deps import AdminKey, FeaturesDep, GatewayDep

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/snapshot/reload", summary="Load the latest published feature snapshot now")
async def reload_snapshot(
    features: FeaturesDep, gateway: GatewayDep, _key: AdminKey
) -> dict[str, Any]:
    """Swaps to the latest snapshot recorded in the store (if newer) and reloads the rings."""
    with anyio.fail_after(gateway.timeout_s):
        result: dict[str, Any] = await anyio.to_thread.run_sync(
            lambda: features.reload(gateway), abandon_on_cancel=True
        )
    return result
