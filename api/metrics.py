"""Prometheus metrics of one API app (its own registry, so apps never share counters)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Latency buckets in seconds, fine below a millisecond for the feature path.
LATENCY_BUCKETS = (
    0.0002,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class ApiMetrics:
    """The app's metrics.

    Attributes
    ----------
    registry : CollectorRegistry
    request_seconds : Histogram
        ``fraudgraph_http_request_seconds{route, method, status}``.
    cache_hits, cache_misses : Counter
        ``fraudgraph_feature_cache_{hits,misses}_total{cache}``: entities found or not.
    cache_fallbacks : Counter
        ``fraudgraph_feature_cache_fallback_total``: reads answered by the in-process
        snapshot because Redis failed.
    redis_up : Gauge
        1 while the last Redis read worked, 0 after one failed.
    snapshot_info : Gauge
        ``fraudgraph_feature_snapshot_info{version, cache}`` = 1 for the version served.
    snapshot_created : Gauge
        Unix time the served in-process snapshot was produced.
    snapshot_entities : Gauge
        Entities in the in-process snapshot.
    graphql_errors : Counter
        ``fraudgraph_graphql_errors_total{code}``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_seconds = Histogram(
            "fraudgraph_http_request_seconds",
            "HTTP request latency by route",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter(
            "fraudgraph_feature_cache_hits",
            "Entities found in the feature cache",
            ["cache"],
            registry=r,
        )
        self.cache_misses = Counter(
            "fraudgraph_feature_cache_misses",
            "Entities not in the feature cache",
            ["cache"],
            registry=r,
        )
        self.cache_fallbacks = Counter(
            "fraudgraph_feature_cache_fallback",
            "Feature reads served from the in-process snapshot because Redis failed",
            registry=r,
        )
        self.redis_up = Gauge(
            "fraudgraph_feature_cache_redis_up", "1 if the last Redis read worked", registry=r
        )
        self.snapshot_info = Gauge(
            "fraudgraph_feature_snapshot_info",
            "The snapshot version served (value 1)",
            ["version", "cache"],
            registry=r,
        )
        self.snapshot_created = Gauge(
            "fraudgraph_feature_snapshot_created_timestamp_seconds",
            "When the in-process snapshot was produced",
            registry=r,
        )
        self.snapshot_entities = Gauge(
            "fraudgraph_feature_snapshot_entities",
            "Entities in the in-process snapshot",
            registry=r,
        )
        self.graphql_errors = Counter(
            "fraudgraph_graphql_errors", "GraphQL errors by code", ["code"], registry=r
        )

    def set_snapshot(self, cache: str, version: str | None) -> None:
        """Record ``version`` as the one ``cache`` serves (clearing the previous one)."""
        for metric in list(self.snapshot_info.collect()):
            for sample in metric.samples:
                if sample.labels.get("cache") == cache:
                    self.snapshot_info.remove(sample.labels["version"], cache)
        if version is not None:
            self.snapshot_info.labels(version=version, cache=cache).set(1)


class LatencyMiddleware:
    """Pure ASGI middleware timing every HTTP request by its route template."""

    def __init__(
        self, app: ASGIApp, metrics: ApiMetrics, fixed_paths: tuple[str, ...] = ("/graphql",)
    ) -> None:
        self.app = app
        self.fixed_paths = frozenset(fixed_paths)
        self.metrics = metrics
        self._children: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = "500"

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            path = (
                scope.get("fraudgraph.route")
                or getattr(route, "path", None)
                or (scope["path"] if scope["path"] in self.fixed_paths else "unmatched")
            )
            key = (path, scope.get("method", ""), status)
            child = self._children.get(key)
            if child is None:
                child = self.metrics.request_seconds.labels(*key)
                self._children[key] = child
            child.observe(time.perf_counter() - start)
