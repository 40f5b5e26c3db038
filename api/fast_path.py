"""The single-entity feature read as a lean ASGI handler in front of the router.

``GET /v1/features/{type}/{key}`` is the real-time scorer's call, tens of thousands per
second, so it skips the framework's routing and dependency injection: this middleware
answers it directly (same key check, same lookup, same JSON and error bodies as the
documented FastAPI route, which still serves the OpenAPI schema and any request this
handler passes on, e.g. malformed paths that need the route's validation errors).
"""

from __future__ import annotations

from typing import Final

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import API_KEY_HEADER, KeyRing, Role, authorise
from api.feature_service import FeatureService, entity_missing
from api.routers.features import MAX_KEY_LENGTH, node_type_name
from graph_service.errors import FraudGraphError

#: The route template recorded in metrics for requests answered here.
ROUTE: Final = "/v1/features/{entity_type}/{key}"
_PREFIX: Final = "/v1/features/"
_HEADER: Final = API_KEY_HEADER.lower().encode()
_JSON: Final = [(b"content-type", b"application/json")]
_ALLOWED: Final = frozenset({Role.SCORER})


class FeatureFastPath:
    """Answers ``GET /v1/features/{type}/{key}``; passes everything else on.

    Parameters
    ----------
    app : ASGIApp
        The rest of the application.
    features : FeatureService
    keys : KeyRing
    on_demand : bool
        Misses go on to the route, which computes them from the graph.
    """

    def __init__(
        self, app: ASGIApp, *, features: FeatureService, keys: KeyRing, on_demand: bool = False
    ) -> None:
        self.app = app
        self.features = features
        self.keys = keys
        self.on_demand = on_demand

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not path.startswith(_PREFIX):
            await self.app(scope, receive, send)
            return
        parts = path[len(_PREFIX) :].split("/")
        if (
            len(parts) != 2
            or not 0 < len(parts[0]) <= 32
            or not 0 < len(parts[1]) <= MAX_KEY_LENGTH
        ):
            await self.app(scope, receive, send)
            return
        scope["fraudgraph.route"] = ROUTE
        secret = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                secret = value.decode("latin-1")
                break
        status, extra = 200, []
        try:
            authorise(self.keys.authenticate(secret), _ALLOWED)
            node_type = node_type_name(parts[0])
            found = self.features.payloads(node_type, [parts[1]])[0]
            if found is None:
                if self.on_demand:
                    del scope["fraudgraph.route"]
                    await self.app(scope, receive, send)
                    return
                raise entity_missing(node_type, parts[1])
            body = orjson.dumps(found)
        except FraudGraphError as exc:
            status = exc.http_status
            body = orjson.dumps({"error": {"code": exc.code, "message": str(exc)}})
            if status == 401:
                extra = [(b"www-authenticate", b"ApiKey")]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_JSON, (b"content-length", str(len(body)).encode()), *extra],
            }
        )
        await send({"type": "http.response.body", "body": body})
