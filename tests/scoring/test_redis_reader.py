"""The servers' Redis read path: stored bodies, coalesced round trips, the version-checked
near-cache, and the errors that send a server to its in-process snapshot (real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import numpy as np
import orjson
import pyarrow as pa
import pytest
import redis
import redis.asyncio

from graph_service.errors import BackendUnavailable
from scoring.feature_cache import (
    SNAPSHOT_SCHEMA,
    FeatureSnapshot,
    RedisFeatureCache,
    RedisFeatureReader,
    entity_field,
)
from tests.conftest import RedisServer

pytestmark = pytest.mark.redis

T = TypeVar("T")


def _snapshot(version: str, n: int = 60) -> FeatureSnapshot:
    rows = []
    for i in range(n):
        row: dict[str, object] = {name: None for name in SNAPSHOT_SCHEMA.names}
        row.update(
            entity_type="Account" if i % 3 else "Device",
            key=f"K{i}",
            entity_id=i,
            risk=i / n,
            community_size=1 + i % 4,
            shared_identifiers=i % 2,
            reasons=["SHARED_DEVICE"] if i % 5 == 0 else [],
            ring_id="R1" if i % 7 == 0 else None,
            ring_score=0.9 if i % 7 == 0 else None,
        )
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=SNAPSHOT_SCHEMA)
    return FeatureSnapshot(table, version=version, created_at=datetime(2026, 12, 4, tzinfo=UTC))


def _fields(snapshot: FeatureSnapshot) -> list[str]:
    return [entity_field(t, k) for t, k in zip(snapshot.entity_types, snapshot.keys, strict=True)]


def _with_reader(
    server: RedisServer, prefix: str, work: Callable[[RedisFeatureReader], Awaitable[T]], **kw: int
) -> T:
    async def run() -> T:
        reader = RedisFeatureReader(redis.asyncio.Redis.from_url(server.url), prefix=prefix, **kw)
        try:
            return await work(reader)
        finally:
            await reader.close()

    return asyncio.run(run())


def test_reader_returns_the_bodies_the_snapshot_builds(redis_server: RedisServer) -> None:
    """Redis holds each entity's JSON body as the in-process snapshot builds it; unknown
    entities are None."""
    snapshot = _snapshot("v1")
    RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="rr1").publish(snapshot)
    fields = [*_fields(snapshot), entity_field("Account", "nobody")]

    async def work(reader: RedisFeatureReader) -> list[bytes | None]:
        return (await reader.bodies(fields))[0]

    found = _with_reader(redis_server, "rr1", work)
    assert found[:-1] == [snapshot.body_at(r) for r in range(len(snapshot))]
    assert found[-1] is None
    first = orjson.loads(found[0] or b"")
    assert first["snapshot_version"] == "v1" and first["key"] == "K0"


def test_concurrent_reads_share_round_trips(redis_server: RedisServer) -> None:
    """200 reads issued together go out in a handful of script calls, not 200, and each
    gets its own answer."""
    snapshot = _snapshot("v1")
    RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="rr2").publish(snapshot)
    fields = _fields(snapshot)

    async def work(reader: RedisFeatureReader) -> tuple[list[bytes | None], int]:
        answers = await asyncio.gather(
            *(reader.bodies([fields[i % len(fields)]]) for i in range(200))
        )
        return [a[0][0] for a in answers], reader.round_trips

    found, trips = _with_reader(redis_server, "rr2", work, max_in_flight=2)
    assert found == [snapshot.body_at(i % len(snapshot)) for i in range(200)]
    assert 1 <= trips <= 4


def test_near_cache_answers_only_while_watched_and_drops_a_replaced_version(
    redis_server: RedisServer,
) -> None:
    """Watched: a second read of the same entities costs no round trip; after a new
    version is published, one pointer refresh drops every cached body."""
    cache = RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="rr3")
    cache.publish(_snapshot("v1"))
    fields = _fields(_snapshot("v1"))[:10]

    async def work(reader: RedisFeatureReader) -> dict[str, object]:
        out: dict[str, object] = {}
        await reader.bodies(fields)
        unwatched = reader.round_trips
        await reader.bodies(fields)
        out["unwatched_trips"] = reader.round_trips - unwatched
        with reader.watching():
            await reader.refresh_version()
            await reader.bodies(fields)
            before = reader.round_trips
            _, near = await reader.bodies(fields)
            out["watched_trips"], out["near"] = reader.round_trips - before, near
            cache.publish(_snapshot("v2"))
            stale, _ = await reader.bodies(fields)
            out["stale_version"] = orjson.loads(stale[0] or b"")["snapshot_version"]
            assert await reader.refresh_version() == "v2"
            fresh, near_after = await reader.bodies(fields)
            out["fresh_version"] = orjson.loads(fresh[0] or b"")["snapshot_version"]
            out["near_after"] = near_after
        out["size_after_watch"] = reader.near_size
        return out

    out = _with_reader(redis_server, "rr3", work)
    assert out["unwatched_trips"] == 1
    assert out["watched_trips"] == 0 and out["near"] == 10
    assert out["stale_version"] == "v1"  # within one poll interval: the documented lag
    assert out["fresh_version"] == "v2" and out["near_after"] == 0
    assert out["size_after_watch"] == 0


def test_near_cache_stays_within_its_bound(redis_server: RedisServer) -> None:
    """Reading more entities than the near-cache holds evicts the oldest; answers stay right."""
    snapshot = _snapshot("v1", n=300)
    RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="rr4").publish(snapshot)
    fields = _fields(snapshot)

    async def work(reader: RedisFeatureReader) -> tuple[int, list[bytes | None]]:
        with reader.watching():
            await reader.refresh_version()
            sizes = []
            for i in range(0, 300, 7):
                await reader.bodies(fields[i : i + 7])
                sizes.append(reader.near_size)
            again, _ = await reader.bodies(fields)
            return max(sizes), again

    largest, again = _with_reader(redis_server, "rr4", work, near_entries=64)
    assert largest <= 64
    assert again == [snapshot.body_at(r) for r in range(300)]


def test_large_reads_are_one_version_past_lua_unpack_limits(redis_server: RedisServer) -> None:
    """10,000 fields in one read (Lua's unpack takes a few thousand): every answer right."""
    snapshot = _snapshot("v1", n=10_000)
    RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="rr5").publish(snapshot)

    async def work(reader: RedisFeatureReader) -> list[bytes | None]:
        return (await reader.bodies(_fields(snapshot)))[0]

    found = _with_reader(redis_server, "rr5", work)
    assert found == snapshot.bodies(np.arange(10_000))


def test_nothing_published_and_older_formats_are_unavailable(redis_server: RedisServer) -> None:
    """No pointer, or a version stored by an older release (compact records, no format in
    its meta): BackendUnavailable, so the server answers from its own snapshot."""
    client = redis.Redis.from_url(redis_server.url)

    async def read(reader: RedisFeatureReader) -> object:
        return await reader.bodies([entity_field("Account", "K1")])

    with pytest.raises(BackendUnavailable, match="no published"):
        _with_reader(redis_server, "rr6", read)
    client.set("rr7:current", "old")
    client.set("rr7:v:old:meta", orjson.dumps({"version": "old", "created_at": "2026-01-01"}))
    client.hset("rr7:v:old", entity_field("Account", "K1"), orjson.dumps({"risk": 0.5}))
    with pytest.raises(BackendUnavailable, match="older format"):
        _with_reader(redis_server, "rr7", read)


def test_unreachable_redis_fails_every_waiting_read(own_redis: RedisServer) -> None:
    """Redis gone: each read waiting on the shared round trip gets BackendUnavailable."""
    snapshot = _snapshot("v1")
    RedisFeatureCache(redis.Redis.from_url(own_redis.url), prefix="rr8").publish(snapshot)
    fields = _fields(snapshot)

    async def work(reader: RedisFeatureReader) -> list[object]:
        await reader.bodies(fields[:1])
        own_redis.stop()
        return await asyncio.gather(
            *(reader.bodies([f]) for f in fields[:20]), return_exceptions=True
        )

    outcomes = _with_reader(own_redis, "rr8", work)
    assert all(isinstance(o, BackendUnavailable) for o in outcomes)


def test_a_cancelled_read_does_not_break_the_others(redis_server: RedisServer) -> None:
    """A request that goes away (its read cancelled) leaves the shared answer to the rest."""
    snapshot = _snapshot("v1")
    RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="rr9").publish(snapshot)
    fields = _fields(snapshot)

    async def work(reader: RedisFeatureReader) -> list[bytes | None]:
        doomed = asyncio.ensure_future(reader.bodies([fields[0]]))
        others = [asyncio.ensure_future(reader.bodies([f])) for f in fields[1:6]]
        await asyncio.sleep(0)
        doomed.cancel()
        return [(await o)[0][0] for o in others]

    found = _with_reader(redis_server, "rr9", work)
    assert found == [snapshot.body_at(r) for r in range(1, 6)]


def test_a_flushed_script_is_loaded_again(redis_server: RedisServer) -> None:
    """Redis restarted or its scripts flushed: the next read loads the script again and
    answers, instead of failing on NOSCRIPT."""
    snapshot = _snapshot("v1")
    sync = redis.Redis.from_url(redis_server.url)
    RedisFeatureCache(sync, prefix="rr10").publish(snapshot)
    fields = _fields(snapshot)

    async def work(reader: RedisFeatureReader) -> list[bytes | None]:
        await reader.bodies(fields[:1])
        sync.script_flush()
        return (await reader.bodies(fields[1:4]))[0]

    assert _with_reader(redis_server, "rr10", work) == [snapshot.body_at(r) for r in (1, 2, 3)]


_BUSY_SCRIPT = """
local start = redis.call('TIME')
local function now() local t = redis.call('TIME') return t[1] * 1e6 + t[2] end
local until_us = start[1] * 1e6 + start[2] + tonumber(ARGV[1])
while now() < until_us do end
return 1
"""


def test_a_timed_out_call_never_hands_its_late_answer_to_the_next(
    redis_server: RedisServer,
) -> None:
    """A call that times out fails its reads; its connection is closed, so the answer that
    arrives late is never read as the answer to the next call."""
    snapshot = _snapshot("v1")
    sync = redis.Redis.from_url(redis_server.url)
    RedisFeatureCache(sync, prefix="rr11").publish(snapshot)
    fields = _fields(snapshot)

    async def run() -> tuple[object, list[bytes | None]]:
        client = redis.asyncio.Redis.from_url(redis_server.url, socket_timeout=0.2)
        reader = RedisFeatureReader(client, prefix="rr11", max_in_flight=1)
        try:
            await reader.bodies(fields[:1])  # connected, script loaded
            busy = asyncio.get_running_loop().run_in_executor(
                None, lambda: sync.eval(_BUSY_SCRIPT, 0, 600_000)
            )
            await asyncio.sleep(0.05)  # Redis is inside the busy script now
            stalled = await asyncio.gather(reader.bodies(fields[:3]), return_exceptions=True)
            await busy
            return stalled[0], (await reader.bodies(fields[10:13]))[0]
        finally:
            await reader.close()

    stalled, later = asyncio.run(run())
    assert isinstance(stalled, BackendUnavailable)
    assert later == [snapshot.body_at(r) for r in (10, 11, 12)]
