"""The feature service's Redis health as the servers report it (real Redis)."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio

from api.feature_service import REDIS_RETRY_S, FeatureService
from api.metrics import ApiMetrics
from scoring.feature_cache import FeatureCache, RedisFeatureCache, RedisFeatureReader
from tests.conftest import RedisServer
from tests.scoring.test_redis_reader import _snapshot

pytestmark = pytest.mark.redis


def test_a_near_cache_answer_never_says_a_downed_redis_is_up(own_redis: RedisServer) -> None:
    """Redis stops: the next read that needs it fails over to the snapshot and the gauge
    reads 0. Past the retry delay, a read the near-cache answers whole makes no round
    trip, so it says nothing about Redis: the body is right and the gauge stays 0."""
    snapshot = _snapshot("v1")
    RedisFeatureCache(redis.Redis.from_url(own_redis.url), prefix="fs").publish(snapshot)
    memory = FeatureCache()
    memory.swap(snapshot)
    metrics = ApiMetrics()
    service = FeatureService(
        memory,
        RedisFeatureCache(redis.Redis.from_url(own_redis.url), prefix="fs"),
        metrics,
        reader_factory=lambda: RedisFeatureReader(
            redis.asyncio.Redis.from_url(own_redis.url), prefix="fs"
        ),
        precompute_bodies=False,
    )

    def up() -> float | None:
        return metrics.registry.get_sample_value("fraudgraph_feature_cache_redis_up")

    async def run() -> tuple[bytes | None, float | None, float | None]:
        watcher = asyncio.create_task(service.watch_redis(60.0))  # one refresh, then idle
        await asyncio.sleep(0.2)
        cached = await service.body("Account", "K1")
        assert await service.body("Account", "K1") == cached
        own_redis.stop()
        await service.body("Account", "K2")  # not near: its round trip fails
        after_failure = up()
        await asyncio.sleep(REDIS_RETRY_S + 0.2)
        near_only = await service.body("Account", "K1")
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await service.close()
        assert near_only == cached
        return cached, after_failure, up()

    cached, after_failure, after_near = asyncio.run(run())
    assert cached is not None and cached == memory.snapshot.body_at(1)  # type: ignore[union-attr]
    assert after_failure == 0.0
    assert after_near == 0.0
