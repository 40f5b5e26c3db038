"""The feature path: which cache answers, the Redis fallback, and snapshot reloads.

The endpoints ask for JSON bodies (:meth:`FeatureService.body`,
:meth:`FeatureService.batch_body`): from Redis these are the bytes stored at publish time
(through :class:`~scoring.feature_cache.RedisFeatureReader`: async, coalesced,
near-cached), from the in-process snapshot they are built by
:func:`~scoring.feature_cache.feature_body`; the same entity and version give the same
bytes either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from api.metrics import ApiMetrics
from api.ring_catalog import RingCatalog
from api.store_access import StoreGateway
from graph_service.errors import BackendUnavailable, EntityNotFound
from graph_service.store import GraphStore
from scoring.feature_cache import (
    SNAPSHOT_TABLE,
    EntityFeatures,
    FeatureCache,
    FeatureSnapshot,
    RedisFeatureCache,
    RedisFeatureReader,
    body_table_for,
    entity_field,
    snapshot_from_store,
)

log = logging.getLogger(__name__)

#: Seconds Redis is left alone after a failed read before it is tried again.
REDIS_RETRY_S = 1.0

ReaderFactory = Callable[[], RedisFeatureReader]


class FeatureService:
    """Serves features from Redis (when configured) or the in-process snapshot.

    Parameters
    ----------
    memory : FeatureCache
        The in-process cache (also the fallback when Redis fails).
    redis_cache : RedisFeatureCache, optional
        Synchronous Redis access: GraphQL's feature reads, readiness.
    metrics : ApiMetrics
    reader_factory : callable, optional
        Makes the async Redis reader of the endpoints in the running event loop (one per
        loop); required with ``redis_cache``.
    precompute_bodies : bool
        Serialise every entity's body once per loaded snapshot
        (:func:`~scoring.feature_cache.body_table_for`), so in-process GETs answer with a
        slice of it instead of building the body per request.
    body_dir : Path, optional
        Where the body files are kept, shared by the workers of one server (one builds,
        the others map its file); ``None``: a private file per process.

    Raises
    ------
    ValueError
        If ``redis_cache`` comes without ``reader_factory``.

    Notes
    -----
    After a failed Redis read, reads go to the in-process snapshot for
    :data:`REDIS_RETRY_S` seconds (counted in ``fraudgraph_feature_cache_fallback_total``,
    ``fraudgraph_feature_cache_redis_up`` = 0), then Redis is tried again; the requests
    whose read failed are answered from the snapshot too, so a Redis outage costs no
    errors while a snapshot is loaded. Hits are counted per cache: ``memory``, ``redis``
    and ``near`` (Redis bodies answered by the near-cache).
    """

    def __init__(
        self,
        memory: FeatureCache,
        redis_cache: RedisFeatureCache | None,
        metrics: ApiMetrics,
        *,
        reader_factory: ReaderFactory | None = None,
        precompute_bodies: bool = True,
        body_dir: Path | None = None,
    ) -> None:
        self.memory = memory
        self.precompute_bodies = precompute_bodies
        self.body_dir = body_dir
        self.redis = redis_cache
        self.metrics = metrics
        self.rings = RingCatalog.empty()
        self._redis_down_until = 0.0
        self._reader_factory = reader_factory
        self._reader: RedisFeatureReader | None = None
        if redis_cache is not None:
            if reader_factory is None:
                raise ValueError("a Redis feature cache needs a reader_factory")
            metrics.redis_up.set(1)
        # A lookup is a hit of the near-cache, or a hit or miss of Redis or the snapshot.
        self._hits = {c: metrics.cache_hits.labels(c) for c in ("memory", "redis", "near")}
        self._misses = {c: metrics.cache_misses.labels(c) for c in ("memory", "redis")}
        # The endpoints' counts, on the event loop: tallies folded about once a second.
        self._hit_tally = {c: metrics.counter_tally(h) for c, h in self._hits.items()}
        self._miss_tally = {c: metrics.counter_tally(m) for c, m in self._misses.items()}
        self._fallback_tally = metrics.counter_tally(metrics.cache_fallbacks)

    # -- the endpoints' reads: JSON bodies -------------------------------------------------

    async def body(self, entity_type: str, key: str) -> bytes | None:
        """The JSON body of one entity's feature, ``None`` if the snapshot lacks it.

        Raises
        ------
        BackendUnavailable
            If no cache can answer (Redis down and no in-process snapshot loaded).
        """
        if self._redis_usable():
            found = await self._redis_bodies([entity_field(entity_type, key)])
            if found is not None:
                return found[0]
        return self.memory_body(entity_type, key)

    def memory_body(self, entity_type: str, key: str) -> bytes | None:
        """:meth:`body` from the in-process snapshot (what answers when Redis is not
        configured, or down); call it on the event loop.

        Raises
        ------
        BackendUnavailable
            If no snapshot is loaded.
        """
        snapshot = self._fallback_snapshot()
        row = snapshot.row_of(entity_type, key)
        if row < 0:
            self._miss_tally["memory"].add()
            return None
        self._hit_tally["memory"].add()
        return snapshot.body_at(row)

    async def batch_body(self, entities: Sequence[tuple[str, str]]) -> bytes:
        """``{"data": [...], "count", "missing"}`` for ``(type, key)`` pairs, in order.

        ``data`` holds each entity's body (as :meth:`body` gives it) or ``null``.

        Raises
        ------
        BackendUnavailable
            If no cache can answer.

        Notes
        -----
        Redis: one (coalesced) round trip, the stored bodies joined. In-process: one
        row lookup per entity type, then the snapshot's pre-serialised bodies joined
        (without a body table: a vectorised gather and one serialisation).
        """
        if self._redis_usable():
            found = await self._redis_bodies([entity_field(t, k) for t, k in entities])
            if found is not None:
                return _joined_batch(found)
        snapshot = self._fallback_snapshot()
        if snapshot.body_table is not None:
            bodies = _memory_bodies(snapshot, entities)
            missing = sum(1 for b in bodies if b is None)
            self._hit_tally["memory"].add(len(bodies) - missing)
            self._miss_tally["memory"].add(missing)
            return _joined_batch(bodies)
        data = _memory_payloads(snapshot, entities)
        missing = sum(1 for d in data if d is None)
        self._hit_tally["memory"].add(len(data) - missing)
        self._miss_tally["memory"].add(missing)
        return orjson.dumps({"data": data, "count": len(data), "missing": missing})

    def _redis_usable(self) -> bool:
        return self.redis is not None and time.monotonic() >= self._redis_down_until

    async def _redis_bodies(self, fields: list[str]) -> list[bytes | None] | None:
        """Bodies from Redis, or ``None`` after recording a failed read."""
        try:
            found, near = await self._async_reader().bodies(fields)
        except BackendUnavailable as exc:
            self._redis_failed(exc)
            return None
        if self._redis_down_until and near < len(fields):
            # Only a round trip says Redis answers again: bodies the near-cache held
            # came without one, and Redis may still be down.
            self._redis_down_until = 0.0
            self.metrics.redis_up.set(1)
        hits = sum(1 for b in found if b is not None)
        self._hit_tally["near"].add(near)
        self._hit_tally["redis"].add(hits - near)
        self._miss_tally["redis"].add(len(found) - hits)
        return found

    def _async_reader(self) -> RedisFeatureReader:
        reader = self._reader
        if reader is None or reader.loop is not asyncio.get_running_loop():
            assert self._reader_factory is not None
            reader = self._reader = self._reader_factory()
        return reader

    def _redis_failed(self, exc: BackendUnavailable) -> None:
        if time.monotonic() >= self._redis_down_until:
            log.warning("redis feature read failed; serving the in-process snapshot: %s", exc)
        self._redis_down_until = time.monotonic() + REDIS_RETRY_S
        self.metrics.redis_up.set(0)

    def _fallback_snapshot(self, *, on_loop: bool = True) -> FeatureSnapshot:
        snapshot = self.memory.snapshot
        if self.redis is not None:
            if on_loop:
                self._fallback_tally.add()
            else:
                self.metrics.cache_fallbacks.inc()
        if snapshot is None:
            raise BackendUnavailable(
                "no feature snapshot is loaded"
                + (" and redis cannot be reached" if self.redis is not None else "")
                + "; publish one with `fraudgraph publish`"
            )
        return snapshot

    async def watch_redis(self, every_s: float) -> None:
        """Follow the Redis pointer every ``every_s`` seconds until cancelled.

        While this runs, the reader's near-cache answers (it is dropped within one
        interval of a new version being published) and a Redis that answers again is
        used again at once.
        """
        if self._reader_factory is None or self.redis is None:
            return
        reader = self._async_reader()
        with reader.watching():
            while True:
                try:
                    await reader.refresh_version()
                except BackendUnavailable as exc:
                    if self._redis_usable():
                        self._redis_failed(exc)
                else:
                    self._redis_down_until = 0.0
                    self.metrics.redis_up.set(1)
                await asyncio.sleep(every_s)

    async def close(self) -> None:
        """Close the async Redis reader of this loop, if any."""
        reader, self._reader = self._reader, None
        if reader is not None:
            with contextlib.suppress(Exception):
                await reader.close()

    # -- typed reads (GraphQL, clients in this process) -----------------------------------

    def get_many(self, entity_type: str, keys: Sequence[str]) -> list[EntityFeatures | None]:
        """Features of ``keys`` (one type), ``None`` where the snapshot has none.

        Raises
        ------
        BackendUnavailable
            If no cache can answer (Redis down and no in-process snapshot loaded).
        """
        if self._redis_usable():
            assert self.redis is not None
            try:
                found = self.redis.get_many(entity_type, keys)
            except BackendUnavailable as exc:
                self._redis_failed(exc)
            else:
                self.metrics.redis_up.set(1)
                self._count("redis", sum(1 for f in found if f is not None), len(found))
                return found
        snapshot = self._fallback_snapshot(on_loop=False)
        rows = snapshot.rows_of(entity_type, keys)
        hits = int((rows >= 0).sum())
        self._count("memory", hits, len(keys))
        return [snapshot.features_at(int(r)) if r >= 0 else None for r in rows]

    def _count(self, cache: str, hits: int, asked: int) -> None:
        if hits:
            self._hits[cache].inc(hits)
        if hits < asked:
            self._misses[cache].inc(asked - hits)

    def get(self, entity_type: str, key: str) -> EntityFeatures | None:
        """The feature of one entity (see :meth:`get_many`)."""
        return self.get_many(entity_type, [key])[0]

    def reload(self, gateway: StoreGateway, *, force: bool = False) -> dict[str, Any]:
        """Load the latest published snapshot and rings from the store if they changed.

        Returns
        -------
        dict
            ``{"version", "swapped", "rings_version"}``.

        Raises
        ------
        FraudGraphError
            If the store cannot be read (the served snapshot stays).
        """

        def work(store: GraphStore) -> dict[str, Any]:
            versions = store.table_versions(SNAPSHOT_TABLE)
            swapped = False
            if versions and (force or versions[-1] != self.memory.current_version()):
                snapshot = snapshot_from_store(store, version=versions[-1])
                if self.precompute_bodies:
                    self._attach_bodies(snapshot)
                self.memory.swap(snapshot)
                # A snapshot's millions of index entries and strings live as long as it
                # does: out of the collector's generations, full collections stay short.
                gc.freeze()
                swapped = True
                self.metrics.set_snapshot("memory", snapshot.version)
                self.metrics.snapshot_created.set(snapshot.created_at.timestamp())
                self.metrics.snapshot_entities.set(len(snapshot))
            ring_versions = store.table_versions("rings")
            latest_rings = ring_versions[-1] if ring_versions else None
            if force or latest_rings != self.rings.version:
                self.rings = RingCatalog.from_store(store)
            return {
                "version": self.memory.current_version(),
                "swapped": swapped,
                "rings_version": self.rings.version,
            }

        return gateway.run(work)

    def _attach_bodies(self, snapshot: FeatureSnapshot) -> None:
        """Serve ``snapshot``'s bodies from a body table; if the table cannot be written
        (disk full, a directory that is not one), serve bodies built per request."""
        try:
            snapshot.attach_bodies(body_table_for(snapshot, self.body_dir))
        except OSError as exc:
            log.warning(
                "feature bodies of snapshot %s not precomputed (%s); building them per request",
                snapshot.version,
                exc,
            )

    def status(self) -> dict[str, Any]:
        """What readiness reports about the caches."""
        snapshot = self.memory.snapshot
        detail: dict[str, Any] = {
            "snapshot_loaded": snapshot is not None,
            "snapshot_version": None if snapshot is None else snapshot.version,
            "snapshot_time": None if snapshot is None else snapshot.created_at.isoformat(),
            "entities": 0 if snapshot is None else len(snapshot),
            "rings": len(self.rings),
        }
        if self.redis is not None:
            up = self.redis.ping()
            self.metrics.redis_up.set(1 if up else 0)
            version = None
            if up:
                try:
                    version = self.redis.current_version()
                except BackendUnavailable:
                    up = False
            self.metrics.set_snapshot("redis", version)
            detail["redis"] = {"reachable": up, "snapshot_version": version}
        return detail


def _joined_batch(found: Sequence[bytes | None]) -> bytes:
    """The batch body of entity bodies in order (``None``: ``null``), byte for byte what
    orjson gives for ``{"data": [...], "count", "missing"}`` of the parsed bodies."""
    missing = sum(1 for b in found if b is None)
    return b"".join(
        (
            b'{"data":[',
            b",".join(b"null" if b is None else b for b in found),
            b'],"count":%d,"missing":%d}' % (len(found), missing),
        )
    )


def _memory_bodies(
    snapshot: FeatureSnapshot, entities: Sequence[tuple[str, str]]
) -> list[bytes | None]:
    """Bodies of ``(type, key)`` pairs from one snapshot, in order (``None`` if absent)."""
    body = snapshot.body_at
    return [body(r) if r >= 0 else None for r in _entity_rows(snapshot, entities).tolist()]


def _memory_payloads(
    snapshot: FeatureSnapshot, entities: Sequence[tuple[str, str]]
) -> list[dict[str, Any] | None]:
    """Payloads of ``(type, key)`` pairs from one snapshot, in order (``None`` if absent)."""
    return snapshot.payloads(_entity_rows(snapshot, entities))


def _entity_rows(snapshot: FeatureSnapshot, entities: Sequence[tuple[str, str]]) -> np.ndarray:
    """Rows of ``(type, key)`` pairs in one snapshot, in order (-1 if absent): one
    vectorised lookup per entity type."""
    first = entities[0][0] if entities else ""
    if all(t == first for t, _ in entities):
        return snapshot.rows_of(first, [k for _, k in entities])
    by_type: dict[str, list[int]] = {}
    for i, (entity_type, _) in enumerate(entities):
        by_type.setdefault(entity_type, []).append(i)
    rows = np.full(len(entities), -1, np.int64)
    for entity_type, positions in by_type.items():
        rows[positions] = snapshot.rows_of(entity_type, [entities[i][1] for i in positions])
    return rows


def on_demand_payload(store: GraphStore, entity_type: str, key: str) -> dict[str, Any]:
    """A feature computed from the graph for an account the snapshot lacks (bounded).

    Only what one capped relationship query gives: the shared-identifier counts (via
    :func:`queries.shared_identifiers` with no sharing accounts listed). Risk, ring,
    community and centralities stay ``null`` until the next snapshot; the reason code
    ``NOT_IN_SNAPSHOT`` says so.

    Raises
    ------
    EntityNotFound
        If the entity is not an account in the graph.
    LimitExceeded
        If the account uses more identifiers than the query's cap.

    Notes
    -----
    One capped read of the account's identifiers with their account counts.
    """
    from graph_service.model import LinkType, NodeType
    from queries import shared_identifiers
    from scoring.feature_cache import SHARED_COUNT_FEATURES

    if entity_type != NodeType.ACCOUNT.value:
        raise entity_missing(entity_type, key)
    found = shared_identifiers(store, key, limit=0)
    counts = dict.fromkeys(SHARED_COUNT_FEATURES.values(), 0)
    for use in found.identifiers:
        name = SHARED_COUNT_FEATURES.get(LinkType(use.link_type))
        if name is not None and use.account_count >= 2:
            counts[name] += 1
    return {
        "entity_type": entity_type,
        "key": key,
        "risk": None,
        "ring_id": None,
        "ring_score": None,
        "community_size": None,
        "shared_identifiers": sum(counts.values()),
        "shared_counts": counts,
        "pagerank": None,
        "seeded_pagerank": None,
        "gnn_score": None,
        "reasons": ["NOT_IN_SNAPSHOT"],
        "snapshot_version": None,
        "snapshot_time": None,
    }


def entity_missing(entity_type: str, key: str) -> EntityNotFound:
    """The 404 of an entity the snapshot does not hold."""
    return EntityNotFound(
        f"no features for {entity_type} {key!r} in the current snapshot "
        "(unknown entity, or not scored yet)"
    )
