"""The feature path: which cache answers, the Redis fallback, and snapshot reloads."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from api.metrics import ApiMetrics
from api.ring_catalog import RingCatalog
from api.store_access import StoreGateway
from graph_service.errors import BackendUnavailable, EntityNotFound
from graph_service.store import GraphStore
from scoring.feature_cache import (
    SNAPSHOT_TABLE,
    EntityFeatures,
    FeatureCache,
    RedisFeatureCache,
    snapshot_from_store,
)

log = logging.getLogger(__name__)

#: Seconds Redis is left alone after a failed read before it is tried again.
REDIS_RETRY_S = 1.0


class FeatureService:
    """Serves features from Redis (when configured) or the in-process snapshot.

    Parameters
    ----------
    memory : FeatureCache
        The in-process cache (also the fallback when Redis fails).
    redis_cache : RedisFeatureCache, optional
    metrics : ApiMetrics

    Notes
    -----
    After a failed Redis read, reads go to the in-process snapshot for
    :data:`REDIS_RETRY_S` seconds (counted in ``fraudgraph_feature_cache_fallback_total``,
    ``fraudgraph_feature_cache_redis_up`` = 0), then Redis is tried again.
    """

    def __init__(
        self,
        memory: FeatureCache,
        redis_cache: RedisFeatureCache | None,
        metrics: ApiMetrics,
    ) -> None:
        self.memory = memory
        self.redis = redis_cache
        self.metrics = metrics
        self.rings = RingCatalog.empty()
        self._redis_down_until = 0.0
        if redis_cache is not None:
            metrics.redis_up.set(1)
        self._hits = {c: metrics.cache_hits.labels(c) for c in ("memory", "redis")}
        self._misses = {c: metrics.cache_misses.labels(c) for c in ("memory", "redis")}

    def get_many(self, entity_type: str, keys: Sequence[str]) -> list[EntityFeatures | None]:
        """Features of ``keys`` (one type), ``None`` where the snapshot has none.

        Raises
        ------
        BackendUnavailable
            If no cache can answer (Redis down and no in-process snapshot loaded).
        """
        found: list[EntityFeatures | None] | None = None
        cache = "memory"
        if self.redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                found = self.redis.get_many(entity_type, keys)
                cache = "redis"
                self.metrics.redis_up.set(1)
            except BackendUnavailable as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_S
                self.metrics.redis_up.set(0)
                log.warning("redis feature read failed; serving the in-process snapshot: %s", exc)
        if found is None:
            if self.redis is not None:
                self.metrics.cache_fallbacks.inc()
            if self.memory.snapshot is None:
                raise BackendUnavailable(
                    "no feature snapshot is loaded"
                    + (" and redis cannot be reached" if self.redis is not None else "")
                    + "; publish one with `fraudgraph publish`"
                )
            found = self.memory.get_many(entity_type, keys)
        hits = sum(1 for f in found if f is not None)
        if hits:
            self._hits[cache].inc(hits)
        if hits < len(found):
            self._misses[cache].inc(len(found) - hits)
        return found

    def get(self, entity_type: str, key: str) -> EntityFeatures | None:
        """The feature of one entity (see :meth:`get_many`)."""
        return self.get_many(entity_type, [key])[0]

    def payloads(self, entity_type: str, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        """JSON-ready features of ``keys`` (one type), ``None`` where the snapshot has none.

        The in-process path gathers whole columns at once (see
        :meth:`~scoring.feature_cache.FeatureSnapshot.payloads`).

        Raises
        ------
        BackendUnavailable
            If no cache can answer.
        """
        use_redis = self.redis is not None and time.monotonic() >= self._redis_down_until
        snapshot = self.memory.snapshot
        if use_redis or snapshot is None:
            return [None if f is None else f.as_dict() for f in self.get_many(entity_type, keys)]
        if self.redis is not None:
            self.metrics.cache_fallbacks.inc()
        rows = snapshot.rows_of(entity_type, keys)
        found = snapshot.payloads(rows)
        hits = int((rows >= 0).sum())
        if hits:
            self._hits["memory"].inc(hits)
        if hits < len(found):
            self._misses["memory"].inc(len(found) - hits)
        return found

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
                self.memory.swap(snapshot)
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
