"""The scorer's feature reads, answered before the framework sees them.

``GET /v1/features/{type}/{key}`` and ``POST /v1/features/batch`` are the real-time
scorer's calls, tens of thousands per second, so :class:`FeatureFastPath` answers them
ahead of FastAPI's middleware, routing, dependency injection and validation
(:class:`ApiApp` asks it first). It answers only the requests it can answer exactly as the
documented routes would -- a known scorer key, a well-formed type and key, a batch body
that the route's model would accept as it is -- with the same bodies, built by the same
:class:`~api.feature_service.FeatureService` calls. Anything else (a missing or wrong
key, a malformed path or body, a batch over the cap, an on-demand miss) goes on to the
routes untouched, which give their validation errors and serve the OpenAPI schema.
"""

from __future__ import annotations

import time
from typing import Final

import orjson
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from api.auth import API_KEY_HEADER, KeyRing, Role, authorise
from api.errors import error_body
from api.feature_service import FeatureService, entity_missing
from api.metrics import ApiMetrics, HistogramTally
from api.routers.features import MAX_KEY_LENGTH, NODE_TYPES
from graph_service.errors import FraudGraphError

#: Route templates recorded in metrics for requests answered here.
GET_ROUTE: Final = "/v1/features/{entity_type}/{key}"
BATCH_ROUTE: Final = "/v1/features/batch"
_PREFIX: Final = "/v1/features/"
_HEADER: Final = API_KEY_HEADER.lower().encode()
_JSON: Final = (b"content-type", b"application/json")
_ALLOWED: Final = frozenset({Role.SCORER})
#: Bytes of a batch body read here per entity allowed (longer bodies go to the route).
_BYTES_PER_ENTITY: Final = 400
_ITEM_KEYS: Final = frozenset({"type", "key"})


class FeatureFastPath:
    """Answers the feature reads it can answer exactly as the routes would.

    Parameters
    ----------
    features : FeatureService
    keys : KeyRing
    metrics : ApiMetrics
        Requests answered here are timed into ``fraudgraph_http_request_seconds`` under
        the routes' templates, as the framework's middleware times the others (through
        tallies folded about once a second: :class:`~api.metrics.HistogramTally`).
    on_demand : bool
        Misses go on to the route, which computes them from the graph.
    batch_max : int
        The batch cap (batches over it go on to the route, which refuses them).
    """

    def __init__(
        self,
        *,
        features: FeatureService,
        keys: KeyRing,
        metrics: ApiMetrics,
        on_demand: bool = False,
        batch_max: int = 1_000,
    ) -> None:
        self.features = features
        self.keys = keys
        self.on_demand = on_demand
        self.batch_max = batch_max
        self._body_cap = batch_max * _BYTES_PER_ENTITY + 1_024
        self._timers: dict[tuple[str, str, int], HistogramTally] = {}
        self._metrics = metrics
        self._admitted: set[bytes] = set()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Answer the request if it is one of the fast reads.

        Returns
        -------
        Receive or None
            ``None`` if answered; otherwise the ``receive`` the rest of the application
            must use (the original, or one replaying a batch body read here).
        """
        path: str = scope["path"]
        if not path.startswith(_PREFIX) or not self._scorer(scope):
            return receive
        method = scope["method"]
        if method == "GET":
            return await self._get(scope, receive, send, path)
        if method == "POST" and path == BATCH_ROUTE:
            return await self._batch(receive, send)
        return receive

    def _scorer(self, scope: Scope) -> bool:
        """Whether the request carries a key that may read features."""
        for name, value in scope["headers"]:
            if name == _HEADER:
                if value in self._admitted:
                    return True
                try:
                    authorise(self.keys.authenticate(value.decode("latin-1")), _ALLOWED)
                except FraudGraphError:
                    return False
                # At most one entry per configured key: only admitted secrets are kept.
                self._admitted.add(value)
                return True
        return False

    async def _get(self, scope: Scope, receive: Receive, send: Send, path: str) -> Receive | None:
        start = time.perf_counter()
        parts = path[len(_PREFIX) :].split("/")
        if len(parts) != 2 or not 0 < len(parts[1]) <= MAX_KEY_LENGTH:
            return receive
        node_type = NODE_TYPES.get(parts[0].lower()) if len(parts[0]) <= 32 else None
        if node_type is None:
            return receive
        try:
            features = self.features
            if features.redis is None:
                body = features.memory_body(node_type, parts[1])
            else:
                body = await features.body(node_type, parts[1])
            if body is None:
                if self.on_demand:
                    return receive
                raise entity_missing(node_type, parts[1])
            status = 200
        except FraudGraphError as exc:
            status, body = exc.http_status, error_body(exc.code, str(exc))
        await _respond(send, status, body)
        self._time(GET_ROUTE, "GET", status, start)
        return None

    async def _batch(self, receive: Receive, send: Send) -> Receive | None:
        start = time.perf_counter()
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return _replay(chunks, message, receive)
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self._body_cap:
                return _replay(chunks, None if more else _END, receive)
        entities = self._valid_batch(b"".join(chunks))
        if entities is None:
            return _replay(chunks, _END, receive)
        try:
            body, status = await self.features.batch_body(entities), 200
        except FraudGraphError as exc:
            status, body = exc.http_status, error_body(exc.code, str(exc))
        await _respond(send, status, body)
        self._time(BATCH_ROUTE, "POST", status, start)
        return None

    def _valid_batch(self, raw: bytes) -> list[tuple[str, str]] | None:
        """The ``(type, key)`` pairs of a batch body the route would accept unchanged."""
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(parsed, dict) or parsed.keys() != {"entities"}:
            return None
        items = parsed["entities"]
        if not isinstance(items, list) or len(items) > self.batch_max:
            return None
        entities: list[tuple[str, str]] = []
        for item in items:
            if not isinstance(item, dict) or item.keys() != _ITEM_KEYS:
                return None
            kind, key = item["type"], item["key"]
            if not (
                isinstance(kind, str)
                and isinstance(key, str)
                and 0 < len(kind) <= 32
                and 0 < len(key) <= MAX_KEY_LENGTH
            ):
                return None
            node_type = NODE_TYPES.get(kind.lower())
            if node_type is None:
                return None
            entities.append((node_type, key))
        return entities

    def _time(self, route: str, method: str, status: int, start: float) -> None:
        tally = self._timers.get((route, method, status))
        if tally is None:
            tally = self._metrics.latency_tally(route, method, str(status))
            self._timers[(route, method, status)] = tally
        tally.observe(time.perf_counter() - start)


class ApiApp(FastAPI):
    """The FastAPI application, with the scorer's feature reads answered first.

    ``fast_path`` is set by :func:`~api.app.create_app`; requests it passes on (and every
    request while it is ``None``) take the framework's usual way.
    """

    fast_path: FeatureFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None and scope["type"] == "http":
            passed = await fast.handle(scope, receive, send)
            if passed is None:
                return
            receive = passed
        await super().__call__(scope, receive, send)


_END: Final[Message] = {"type": "http.request", "body": b"", "more_body": False}


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [_JSON, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _replay(chunks: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """A ``receive`` giving back the body read so far, then ``last``, then the rest."""
    queue: list[Message] = [
        {"type": "http.request", "body": b"".join(chunks), "more_body": last is not _END}
    ]
    if last is not None and last is not _END:
        queue.append(last)

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed
