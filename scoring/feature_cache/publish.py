"""Publishing a feature snapshot to the store (and Redis), and reading it back."""

from __future__ import annotations

import logging

import pyarrow as pa

from graph_service.errors import EntityNotFound
from graph_service.store import GraphStore
from scoring.feature_cache.builder import build_feature_snapshot
from scoring.feature_cache.redis import RedisFeatureCache
from scoring.feature_cache.snapshot import SNAPSHOT_TABLE, FeatureSnapshot, _created_from_version

log = logging.getLogger(__name__)


def snapshot_from_store(store: GraphStore, *, version: str | None = None) -> FeatureSnapshot:
    """The published snapshot ``version`` (default the latest) read back from the store.

    Raises
    ------
    EntityNotFound
        If no snapshot (or no such version) was published.
    """
    versions = store.table_versions(SNAPSHOT_TABLE)
    if not versions:
        raise EntityNotFound("no feature snapshot published; run `fraudgraph publish`")
    chosen = version or versions[-1]
    table = store.read_table(SNAPSHOT_TABLE, version=chosen)
    created = _created_from_version(chosen)
    return FeatureSnapshot(table, version=chosen, created_at=created)


def latest_snapshot_version(store: GraphStore) -> str | None:
    """Version of the latest snapshot recorded in the store, or ``None``."""
    versions = store.table_versions(SNAPSHOT_TABLE)
    return versions[-1] if versions else None


def publish_snapshot(
    store: GraphStore,
    *,
    reasons: pa.Table | None = None,
    redis_cache: RedisFeatureCache | None = None,
    keep_versions: int = 3,
    version: str | None = None,
) -> FeatureSnapshot:
    """Build the feature snapshot, record it in the store and, if given, in Redis.

    Parameters
    ----------
    store : GraphStore
        An analysed store, opened for writing.
    reasons : pa.Table, optional
        ``(id, reasons)`` per account from the analysis (see
        :func:`build_feature_snapshot`).
    redis_cache : RedisFeatureCache, optional
        Also publish there (bulk write, then pointer switch).
    keep_versions : int
        Snapshot versions kept in the store (older ones are dropped).
    version : str, optional
        The snapshot's version (default: the current UTC time). Publishing a version
        again replaces it, in the store and in Redis, atomically (a re-delivered job).

    Returns
    -------
    FeatureSnapshot

    Raises
    ------
    EntityNotFound
        If the store was never analysed.
    BackendUnavailable
        If Redis cannot be reached (the store version is recorded regardless).

    Notes
    -----
    API servers load the latest store version at start and when they poll or are told
    to reload; Redis readers follow the pointer at once.
    """
    snapshot = build_feature_snapshot(store, reasons=reasons, version=version)
    store.write_table(SNAPSHOT_TABLE, snapshot.table, version=snapshot.version)
    for old in store.table_versions(SNAPSHOT_TABLE)[:-keep_versions]:
        store.drop_table_version(SNAPSHOT_TABLE, old)
    if redis_cache is not None:
        redis_cache.publish(snapshot)
    log.info(
        "feature snapshot published",
        extra={"version": snapshot.version, "entities": len(snapshot)},
    )
    return snapshot
