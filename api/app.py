"""The FastAPI application factory.

:func:`create_app` wires settings, API keys, the store gateway, the feature caches, the
routers, the GraphQL endpoint, metrics and the error mapping. At start the app loads the
latest published feature snapshot and rings (if the store answers; otherwise it starts
degraded and keeps trying), then checks for newer ones every ``snapshot_poll_s``. With a
run directory (several workers), it also follows the reload signal of its siblings
(:mod:`api.reload_signal`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request, Response
from strawberry.fastapi import GraphQLRouter

from api.auth import API_KEY_HEADER, KeyRing, Role, authorise
from api.errors import install_error_handlers
from api.fast_path import ApiApp, FeatureFastPath
from api.feature_service import FeatureService
from api.graphql.context import RequestContext
from api.graphql.schema import build_schema
from api.metrics import FOLD_EVERY_S, ApiMetrics, LatencyMiddleware
from api.reload_signal import ReloadSignal, ReloadWatcher
from api.routers import admin, features, health
from api.settings import ApiSettings
from api.store_access import StoreGateway
from graph_service.errors import FraudGraphError
from graph_service.settings import Settings
from scoring.feature_cache import FeatureCache, RedisFeatureCache, RedisFeatureReader

log = logging.getLogger(__name__)


def _redis_cache(settings: ApiSettings) -> RedisFeatureCache:
    import redis

    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
    )
    return RedisFeatureCache(client, prefix=settings.redis_prefix)


def _redis_reader_factory(settings: ApiSettings) -> Callable[[], RedisFeatureReader]:
    """Makes the endpoints' async Redis reader in the running loop."""

    def make() -> RedisFeatureReader:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.redis_timeout_s,
            socket_timeout=settings.redis_timeout_s,
            max_connections=64,
        )
        return RedisFeatureReader(
            client, prefix=settings.redis_prefix, near_entries=settings.near_cache_entries
        )

    return make


async def _poll_snapshots(app: FastAPI, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await _reload_quietly(app)


async def _fold_metrics(metrics: ApiMetrics) -> None:
    """Fold the hot path's tallies into the Prometheus metrics, on the loop counting them."""
    while True:
        await asyncio.sleep(FOLD_EVERY_S)
        metrics.fold()


async def _reload_quietly(app: FastAPI) -> None:
    service: FeatureService = app.state.features
    gateway: StoreGateway = app.state.gateway
    try:
        result = await anyio.to_thread.run_sync(lambda: service.reload(gateway))
        if result["swapped"]:
            log.info("feature snapshot loaded", extra=result)
    except FraudGraphError as exc:
        log.warning("feature snapshot not reloaded: %s", exc)
    except Exception:  # the poller must outlive any one failure
        log.exception("feature snapshot reload failed")


def create_app(
    settings: ApiSettings | None = None, graph_settings: Settings | None = None
) -> ApiApp:
    """The API application.

    Parameters
    ----------
    settings : ApiSettings, optional
        Default: read from ``FRAUDGRAPH_API_*``.
    graph_settings : Settings, optional
        The store's settings; default: read from ``FRAUDGRAPH_*`` / ``NEO4J_*``.

    Returns
    -------
    ApiApp
        A FastAPI application whose feature reads go through
        :class:`~api.fast_path.FeatureFastPath` first.

    Raises
    ------
    InvalidInput
        If the API keys are malformed, or none are configured in production.
    """
    settings = settings or ApiSettings()
    graph_settings = graph_settings or Settings()
    keys = KeyRing.load(
        keys_file=settings.keys_file,
        inline=settings.keys.get_secret_value() if settings.keys else None,
        environment=graph_settings.environment,
    )
    metrics = ApiMetrics()
    gateway = StoreGateway(
        graph_settings,
        timeout_s=settings.query_timeout_s,
        pool_size=settings.store_pool_size,
        hold_s=settings.embedded_hold_s,
    )
    redis_cache = None
    reader_factory = None
    if settings.feature_cache == "redis":
        redis_cache = _redis_cache(settings)
        reader_factory = _redis_reader_factory(settings)
    feature_service = FeatureService(
        FeatureCache(),
        redis_cache,
        metrics,
        reader_factory=reader_factory,
        precompute_bodies=settings.precompute_bodies,
        body_dir=None if settings.run_dir is None else settings.run_dir / "feature-bodies",
    )

    watcher = None
    if settings.run_dir is not None:
        signal = ReloadSignal(settings.run_dir)
        watcher = ReloadWatcher(signal, lambda: feature_service.reload(gateway))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if watcher is not None:
            watcher.start()  # before the first load: a signal sent meanwhile is not lost
        await _reload_quietly(app)
        tasks = [asyncio.create_task(_fold_metrics(metrics))]
        if settings.snapshot_poll_s > 0:
            tasks.append(asyncio.create_task(_poll_snapshots(app, settings.snapshot_poll_s)))
        if redis_cache is not None:
            watch = feature_service.watch_redis(settings.redis_version_poll_s)
            tasks.append(asyncio.create_task(watch))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if watcher is not None:
                await watcher.stop()
            await feature_service.close()
            metrics.fold()
            await anyio.to_thread.run_sync(gateway.close)
            metrics.close()

    production = graph_settings.environment == "production"
    # In production neither the OpenAPI document nor its pages are served, to anyone:
    # the route map is not published (clients use a development instance's schema).
    app = ApiApp(
        title="fraudgraph API",
        version="1",
        summary="Investigator GraphQL and the real-time risk feature.",
        lifespan=lifespan,
        openapi_url=None if production else "/openapi.json",
        docs_url=None if production else "/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.graph_settings = graph_settings
    app.state.keys = keys
    app.state.metrics = metrics
    app.state.gateway = gateway
    app.state.features = feature_service
    app.state.reload_watcher = watcher
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(features.router)
    app.include_router(admin.router)

    async def graphql_context(request: Request, response: Response) -> RequestContext:
        is_graphiql_page = (
            request.method == "GET" and "query" not in request.query_params and not production
        )
        key = None
        if not is_graphiql_page:
            key = authorise(
                keys.authenticate(request.headers.get(API_KEY_HEADER)),
                frozenset({Role.INVESTIGATOR}),
            )
        context = RequestContext(
            key=key,
            settings=settings,
            gateway=gateway,
            feature_service=feature_service,
            metrics=metrics,
        )
        context.request = request
        context.response = response
        return context

    graphql = GraphQLRouter(
        build_schema(settings),
        context_getter=graphql_context,
        graphql_ide=None if production else "graphiql",
        multipart_uploads_enabled=False,
    )
    app.include_router(graphql, prefix="/graphql", include_in_schema=False)
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    app.fast_path = FeatureFastPath(
        features=feature_service,
        keys=keys,
        metrics=metrics,
        on_demand=settings.on_demand_features,
        batch_max=settings.feature_batch_max,
    )
    return app
