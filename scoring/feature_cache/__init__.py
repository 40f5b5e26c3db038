"""The real-time risk feature: versioned snapshots, and the caches that serve them.

The transaction scorer asks for a compact per-account feature (risk, ring, community
size, shared-identifier counts, PageRank, seeded propagation, GNN score, top reasons)
within a fraction of a millisecond, so it is never computed per request: analytics
build a :class:`FeatureSnapshot` once per run (:func:`build_feature_snapshot`), record it
in the store as the analytics table ``feature_snapshot`` and, when configured, in Redis
(:func:`publish_snapshot`). Servers then answer from a cache:

* :class:`FeatureCache` -- in-process: the snapshot's columns as numpy arrays and a
  ``key -> row`` index per node type; a new snapshot replaces the old one by a single
  reference swap, so a reader sees one version or the other, never a mix.
* :class:`RedisFeatureCache` -- a versioned Redis hash per snapshot (each entity's JSON
  body, ready to send) written with pipelined bulk ``HSET``; a pointer key switched last
  names the current version, and readers resolve pointer and entities in one
  server-side script (one round trip, one version).
* :class:`RedisFeatureReader` -- the servers' async read of those bodies: concurrent
  reads coalesced into one round trip, and a near-cache tied to the served version.

* :class:`BodyTable` -- every entity's JSON body of one snapshot, serialised once when a
  server loads it, in a memory-mapped file the server's workers share
  (:func:`body_table_for`): the in-process GET answers with a slice of it.

Both caches answer :meth:`~FeatureCache.get` (one entity) and :meth:`~FeatureCache.get_many`
(a batch) with :class:`EntityFeatures` records.

Modules: :mod:`~scoring.feature_cache.snapshot` (the snapshot model),
:mod:`~scoring.feature_cache.builder` (building one from the store),
:mod:`~scoring.feature_cache.memory` and :mod:`~scoring.feature_cache.redis` (the
caches), :mod:`~scoring.feature_cache.redis_reader` (the servers' Redis reads),
:mod:`~scoring.feature_cache.bodies` (the pre-serialised bodies),
:mod:`~scoring.feature_cache.publish` (recording and reading back).
"""

from scoring.feature_cache.bodies import BodyTable, body_table_for
from scoring.feature_cache.builder import build_feature_snapshot
from scoring.feature_cache.memory import FeatureCache, FeatureSource
from scoring.feature_cache.publish import (
    latest_snapshot_version,
    publish_snapshot,
    snapshot_from_store,
)
from scoring.feature_cache.redis import RedisFeatureCache, entity_field
from scoring.feature_cache.redis_reader import RedisFeatureReader
from scoring.feature_cache.snapshot import (
    FEATURE_COLUMNS_NUMERIC,
    FLOAT_FEATURES,
    INT_FEATURES,
    SHARED_COUNT_FEATURES,
    SNAPSHOT_SCHEMA,
    SNAPSHOT_TABLE,
    EntityFeatures,
    FeatureSnapshot,
    feature_body,
    features_from_payload,
    features_from_record,
)

__all__ = [
    "FEATURE_COLUMNS_NUMERIC",
    "FLOAT_FEATURES",
    "INT_FEATURES",
    "SHARED_COUNT_FEATURES",
    "SNAPSHOT_SCHEMA",
    "SNAPSHOT_TABLE",
    "BodyTable",
    "EntityFeatures",
    "FeatureCache",
    "FeatureSnapshot",
    "FeatureSource",
    "RedisFeatureCache",
    "RedisFeatureReader",
    "body_table_for",
    "build_feature_snapshot",
    "entity_field",
    "feature_body",
    "features_from_payload",
    "features_from_record",
    "latest_snapshot_version",
    "publish_snapshot",
    "snapshot_from_store",
]
