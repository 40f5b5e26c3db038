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
* :class:`RedisFeatureCache` -- a versioned Redis hash per snapshot written with
  pipelined bulk ``HSET``; a pointer key switched last names the current version, and
  readers resolve pointer and entities in one server-side script (one round trip, one
  version).

Both answer :meth:`~FeatureCache.get` (one entity) and :meth:`~FeatureCache.get_many`
(a batch) with :class:`EntityFeatures` records.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import BackendUnavailable, EntityNotFound, InvalidInput
from graph_service.model import LINK_TYPE_CODE, LinkType, NodeType
from graph_service.store import GraphStore

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

#: Analytics table holding every published snapshot (one version per snapshot).
SNAPSHOT_TABLE: Final = "feature_snapshot"

#: Identifier link types counted as shared-identifier features, with the feature name.
SHARED_COUNT_FEATURES: Final[dict[LinkType, str]] = {
    LinkType.USES_DEVICE: "shared_devices",
    LinkType.LOGS_IN_FROM: "shared_ips",
    LinkType.HAS_PHONE: "shared_phones",
    LinkType.HAS_EMAIL: "shared_emails",
    LinkType.HAS_CARD: "shared_cards",
    LinkType.HAS_ADDRESS: "shared_addresses",
}

#: Float features (NaN where unknown, e.g. no GNN score yet).
FLOAT_FEATURES: Final[tuple[str, ...]] = (
    "risk",
    "ring_score",
    "pagerank",
    "seeded_pagerank",
    "gnn_score",
)
#: Integer features.
INT_FEATURES: Final[tuple[str, ...]] = (
    "community_size",
    "shared_identifiers",
    *SHARED_COUNT_FEATURES.values(),
)

#: Every numeric feature (what a columnar batch lookup gathers).
FEATURE_COLUMNS_NUMERIC: Final[tuple[str, ...]] = (*FLOAT_FEATURES, *INT_FEATURES)

#: Column of each numeric feature in a snapshot's row-major matrix, then the ring and
#: reason-set codes.
_FEATURE_AT: Final[dict[str, int]] = {name: i for i, name in enumerate(FEATURE_COLUMNS_NUMERIC)}
_RING_AT: Final = len(FEATURE_COLUMNS_NUMERIC)
_REASONS_AT: Final = _RING_AT + 1
_SHARED_AT: Final[tuple[tuple[str, int], ...]] = tuple(
    (name, _FEATURE_AT[name]) for name in SHARED_COUNT_FEATURES.values()
)

#: The ``feature_snapshot`` table: one row per entity.
SNAPSHOT_SCHEMA: Final = pa.schema(
    [
        pa.field("entity_type", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("entity_id", pa.int64(), nullable=False),
        *(pa.field(name, pa.float64()) for name in FLOAT_FEATURES),
        *(pa.field(name, pa.int64()) for name in INT_FEATURES),
        pa.field("ring_id", pa.string()),
        pa.field("reasons", pa.list_(pa.string())),
    ]
)

_REDIS_PREFIX: Final = "fraudgraph:features"
#: Seconds a staging hash of an unfinished publish lives before Redis drops it.
_STAGING_TTL_S: Final = 24 * 3600


@dataclass(frozen=True, slots=True)
class EntityFeatures:
    """The risk feature of one entity, as of one snapshot.

    Attributes
    ----------
    entity_type : str
        Node type (``"Account"``).
    key : str
        Normalised natural key.
    risk : float or None
        Calibrated probability that the entity is fraudulent.
    ring_id : str or None
        The ring it belongs to, if any.
    ring_score : float or None
        That ring's score.
    community_size : int
        Accounts in its community.
    shared_identifiers : int
        Identifiers it shares with at least one other account (all types).
    shared_counts : dict of str to int
        The same, per identifier type (``shared_devices``, ``shared_ips``...).
    pagerank, seeded_pagerank : float or None
        Centrality and fraud-seeded propagation score.
    gnn_score : float or None
        Score of the graph neural network, when one was published.
    reasons : tuple of str
        Top reason codes, strongest first.
    snapshot_version : str
    snapshot_time : datetime
    """

    entity_type: str
    key: str
    risk: float | None
    ring_id: str | None
    ring_score: float | None
    community_size: int
    shared_identifiers: int
    shared_counts: dict[str, int]
    pagerank: float | None
    seeded_pagerank: float | None
    gnn_score: float | None
    reasons: tuple[str, ...]
    snapshot_version: str
    snapshot_time: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (timestamps as ISO 8601, reasons as a list)."""
        return {
            "entity_type": self.entity_type,
            "key": self.key,
            "risk": self.risk,
            "ring_id": self.ring_id,
            "ring_score": self.ring_score,
            "community_size": self.community_size,
            "shared_identifiers": self.shared_identifiers,
            "shared_counts": self.shared_counts,
            "pagerank": self.pagerank,
            "seeded_pagerank": self.seeded_pagerank,
            "gnn_score": self.gnn_score,
            "reasons": list(self.reasons),
            "snapshot_version": self.snapshot_version,
            "snapshot_time": self.snapshot_time.isoformat(),
        }


def _optional(value: float) -> float | None:
    return None if value != value else value  # NaN -> None


class FeatureSnapshot:
    """One immutable version of every entity's feature, in columns with a key index.

    Parameters
    ----------
    table : pa.Table
        Rows in ``SNAPSHOT_SCHEMA`` (extra columns are ignored).
    version : str
        The snapshot's version token.
    created_at : datetime
        When analytics produced it (UTC).

    Raises
    ------
    InvalidInput
        If a column is missing or an ``(entity_type, key)`` pair repeats.

    Notes
    -----
    Building is O(n): the columns become numpy arrays, reasons are dictionary-encoded
    (distinct reason lists are few), and the index is one dict per node type. A lookup is
    one dict probe plus a handful of array reads.
    """

    __slots__ = (
        "_id_order",
        "_index",
        "_matrix",
        "_reason_sets",
        "_ring_ids",
        "_sorted_ids",
        "created_at",
        "entity_types",
        "keys",
        "table",
        "version",
    )

    def __init__(self, table: pa.Table, *, version: str, created_at: datetime) -> None:
        missing = [name for name in SNAPSHOT_SCHEMA.names if name not in table.column_names]
        if missing:
            raise InvalidInput(f"feature snapshot lacks columns {missing}")
        table = table.select(SNAPSHOT_SCHEMA.names).cast(SNAPSHOT_SCHEMA)
        self.table = table
        self.version = version
        self.created_at = created_at
        self.entity_types: list[str] = table.column("entity_type").to_pylist()
        self.keys: list[str] = table.column("key").to_pylist()
        ring_codes, ring_ids = _dictionary(table.column("ring_id"))
        joined = pc.binary_join(
            pc.fill_null(table.column("reasons"), pa.scalar([], pa.list_(pa.string()))), "\x1f"
        )
        reason_codes, reason_texts = _dictionary(joined)
        # Row-major: one entity's numbers share two cache lines, so a look-up in a large
        # snapshot costs two memory reads, not one per feature.
        columns = [
            table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
            for name in FLOAT_FEATURES
        ]
        columns += [
            pc.fill_null(table.column(name), 0).to_numpy().astype(np.float64)
            for name in INT_FEATURES
        ]
        columns += [ring_codes.astype(np.float64), reason_codes.astype(np.float64)]
        self._matrix = np.ascontiguousarray(np.column_stack(columns)).reshape(
            len(self.keys), len(columns)
        )
        self._ring_ids = ring_ids
        self._reason_sets = [tuple(t.split("\x1f")) if t else () for t in reason_texts]
        index: dict[str, dict[str, int]] = {}
        for entity_type in set(self.entity_types):
            index[entity_type] = {}
        for row, (entity_type, key) in enumerate(zip(self.entity_types, self.keys, strict=True)):
            by_key = index[entity_type]
            if key in by_key:
                raise InvalidInput(f"feature snapshot repeats entity {entity_type}:{key}")
            by_key[key] = row
        self._index = index
        entity_ids = table.column("entity_id").to_numpy().astype(np.int64)
        self._id_order = np.argsort(entity_ids, kind="stable")
        self._sorted_ids = entity_ids[self._id_order]

    def rows_of_ids(self, ids: Sequence[int]) -> npt.NDArray[np.int64]:
        """Rows of entities by internal id (-1 where the snapshot has none).

        Notes
        -----
        One vectorised binary search over the sorted ids: O(len(ids) log n).
        """
        wanted = np.asarray(ids, np.int64)
        if len(self._sorted_ids) == 0 or wanted.size == 0:
            return np.full(wanted.shape, -1, np.int64)
        at = np.clip(np.searchsorted(self._sorted_ids, wanted), 0, len(self._sorted_ids) - 1)
        return np.where(self._sorted_ids[at] == wanted, self._id_order[at], -1).astype(np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def row_of(self, entity_type: str, key: str) -> int:
        """Row of an entity, or -1 if the snapshot has none."""
        by_key = self._index.get(entity_type)
        if by_key is None:
            return -1
        return by_key.get(key, -1)

    def rows_of(self, entity_type: str, keys: Sequence[str]) -> npt.NDArray[np.int64]:
        """Rows of many entities of one type (-1 where missing).

        Notes
        -----
        O(len(keys)) dict probes; no per-row Python work beyond the probe.
        """
        by_key = self._index.get(entity_type, {})
        get = by_key.get
        return np.fromiter((get(k, -1) for k in keys), np.int64, count=len(keys))

    def features_at(self, row: int) -> EntityFeatures:
        """The :class:`EntityFeatures` stored at ``row``."""
        values = self._matrix[row].tolist()
        ring_code = int(values[_RING_AT])
        ring_id = self._ring_ids[ring_code] if ring_code >= 0 else None
        return EntityFeatures(
            entity_type=self.entity_types[row],
            key=self.keys[row],
            risk=_optional(values[0]),
            ring_id=ring_id,
            ring_score=_optional(values[1]) if ring_id else None,
            community_size=int(values[5]),
            shared_identifiers=int(values[6]),
            shared_counts={name: int(values[i]) for name, i in _SHARED_AT},
            pagerank=_optional(values[2]),
            seeded_pagerank=_optional(values[3]),
            gnn_score=_optional(values[4]),
            reasons=self._reason_sets[int(values[_REASONS_AT])],
            snapshot_version=self.version,
            snapshot_time=self.created_at,
        )

    def column(self, name: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """Values of feature ``name`` at ``rows`` (rows must be valid), vectorised.

        Raises
        ------
        InvalidInput
            If ``name`` is not a numeric feature.
        """
        at = _FEATURE_AT.get(name)
        if at is None:
            raise InvalidInput(f"no numeric feature {name!r}")
        values: npt.NDArray[Any] = self._matrix[rows, at]
        return values.astype(np.int64) if name in INT_FEATURES else values

    def numeric(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Every numeric feature at ``rows`` (valid rows), as a ``(len(rows), k)`` array.

        Columns follow :data:`FEATURE_COLUMNS_NUMERIC`; one vectorised row gather, the
        fastest batch read.
        """
        gathered: npt.NDArray[np.float64] = self._matrix[rows, : len(FEATURE_COLUMNS_NUMERIC)]
        return gathered

    def payloads(self, rows: npt.NDArray[np.int64]) -> list[dict[str, Any] | None]:
        """JSON-ready features of ``rows`` (``None`` where a row is -1), gathered at once.

        The same content as :meth:`EntityFeatures.as_dict`, except that unknown float
        scores stay NaN (JSON encoders such as orjson write them as ``null``).

        Notes
        -----
        One vectorised row gather, then one small dict per row: the batch path of the
        feature endpoints.
        """
        rows = np.asarray(rows, np.int64)
        gathered = self._matrix[rows[rows >= 0]].tolist()
        version, time_text = self.version, self.created_at.isoformat()
        types, keys, ring_ids, reason_sets = (
            self.entity_types,
            self.keys,
            self._ring_ids,
            self._reason_sets,
        )
        out: list[dict[str, Any] | None] = []
        j = 0
        for row in rows.tolist():
            if row < 0:
                out.append(None)
                continue
            v = gathered[j]
            j += 1
            ring_code = int(v[_RING_AT])
            ring_id = ring_ids[ring_code] if ring_code >= 0 else None
            out.append(
                {
                    "entity_type": types[row],
                    "key": keys[row],
                    "risk": v[0],
                    "ring_id": ring_id,
                    "ring_score": v[1] if ring_id is not None else None,
                    "community_size": int(v[5]),
                    "shared_identifiers": int(v[6]),
                    "shared_counts": {name: int(v[i]) for name, i in _SHARED_AT},
                    "pagerank": v[2],
                    "seeded_pagerank": v[3],
                    "gnn_score": v[4],
                    "reasons": list(reason_sets[int(v[_REASONS_AT])]),
                    "snapshot_version": version,
                    "snapshot_time": time_text,
                }
            )
        return out

    def records(self, rows: npt.NDArray[np.int64]) -> list[dict[str, Any]]:
        """JSON-ready records (without snapshot fields) of ``rows``, for Redis publishing.

        Notes
        -----
        O(len(rows)) Python work; used by the batch publisher, never per request.
        """
        sub = self.table.take(pa.array(rows))
        return [_record(r) for r in sub.to_pylist()]


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """One ``feature_snapshot`` row as the compact record stored per entity in Redis."""
    record = {name: row[name] for name in FLOAT_FEATURES}
    for name in FLOAT_FEATURES:
        value = record[name]
        if value is not None and value != value:
            record[name] = None
    record.update({name: int(row[name] or 0) for name in INT_FEATURES})
    record["ring_id"] = row["ring_id"]
    record["reasons"] = list(row["reasons"] or [])
    return record


def features_from_record(
    entity_type: str, key: str, record: Mapping[str, Any], version: str, created_at: datetime
) -> EntityFeatures:
    """The :class:`EntityFeatures` of a Redis record (see :func:`_record`)."""
    ring_id = record.get("ring_id")
    return EntityFeatures(
        entity_type=entity_type,
        key=key,
        risk=record.get("risk"),
        ring_id=ring_id,
        ring_score=record.get("ring_score") if ring_id else None,
        community_size=int(record.get("community_size", 0)),
        shared_identifiers=int(record.get("shared_identifiers", 0)),
        shared_counts={name: int(record.get(name, 0)) for name in SHARED_COUNT_FEATURES.values()},
        pagerank=record.get("pagerank"),
        seeded_pagerank=record.get("seeded_pagerank"),
        gnn_score=record.get("gnn_score"),
        reasons=tuple(record.get("reasons", ())),
        snapshot_version=version,
        snapshot_time=created_at,
    )


def _dictionary(values: pa.ChunkedArray | pa.Array) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Dictionary codes (-1 for null) and the distinct strings of a string column."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    codes = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)
    return codes, [str(v) for v in encoded.dictionary.to_pylist()]


# -- the caches ---------------------------------------------------------------------------


class FeatureSource(Protocol):
    """What the feature endpoints read from: an in-process or a Redis cache."""

    name: str

    def get(self, entity_type: str, key: str) -> EntityFeatures | None:
        """The feature of one entity, or ``None`` if the current snapshot lacks it."""
        ...

    def get_many(self, entity_type: str, keys: Sequence[str]) -> list[EntityFeatures | None]:
        """Features of many entities of one type, in order (``None`` where missing)."""
        ...

    def current_version(self) -> str | None:
        """Version of the snapshot served now (``None`` before the first one)."""
        ...


class FeatureCache:
    """In-process feature cache: one :class:`FeatureSnapshot`, swapped atomically.

    Examples
    --------
    >>> cache = FeatureCache()
    >>> cache.get("Account", "A1") is None
    True

    Notes
    -----
    Readers take the current snapshot reference once per call, so one call never mixes
    two versions; :meth:`swap` is a single reference assignment. ``get`` is O(1),
    ``get_many`` O(n) with the column gathers vectorised.
    """

    name = "memory"

    def __init__(self, snapshot: FeatureSnapshot | None = None) -> None:
        self._snapshot = snapshot
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> FeatureSnapshot | None:
        """The snapshot served now."""
        return self._snapshot

    def swap(self, snapshot: FeatureSnapshot) -> FeatureSnapshot | None:
        """Serve ``snapshot`` from now on; returns the one it replaces.

        Parameters
        ----------
        snapshot : FeatureSnapshot

        Returns
        -------
        FeatureSnapshot or None
        """
        with self._lock:
            previous, self._snapshot = self._snapshot, snapshot
        log.info("feature snapshot swapped", extra={"version": snapshot.version})
        return previous

    def current_version(self) -> str | None:
        """Version of the snapshot served now."""
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.version

    def get(self, entity_type: str, key: str) -> EntityFeatures | None:
        """The feature of one entity (``None`` if not in the snapshot or none loaded)."""
        snapshot = self._snapshot
        if snapshot is None:
            return None
        row = snapshot.row_of(entity_type, key)
        return None if row < 0 else snapshot.features_at(row)

    def get_many(self, entity_type: str, keys: Sequence[str]) -> list[EntityFeatures | None]:
        """Features of many entities, in the order asked (``None`` where missing)."""
        snapshot = self._snapshot
        if snapshot is None:
            return [None] * len(keys)
        rows = snapshot.rows_of(entity_type, keys)
        return [snapshot.features_at(int(r)) if r >= 0 else None for r in rows]

    def lookup_rows(
        self, entity_type: str, keys: Sequence[str]
    ) -> tuple[FeatureSnapshot | None, npt.NDArray[np.int64]]:
        """The snapshot and the rows of ``keys`` in it: the columnar batch lookup.

        Gather columns with :meth:`FeatureSnapshot.column` on the returned snapshot (the
        one the rows belong to, whatever swaps happen meanwhile).
        """
        snapshot = self._snapshot
        if snapshot is None:
            return None, np.full(len(keys), -1, np.int64)
        return snapshot, snapshot.rows_of(entity_type, keys)


_READ_SCRIPT: Final = """
local version = redis.call('GET', KEYS[1])
if not version then return {false, false} end
local meta = redis.call('GET', KEYS[2] .. version .. ':meta')
return {meta, redis.call('HMGET', KEYS[2] .. version, unpack(ARGV))}
"""


class RedisFeatureCache:
    """Feature cache in Redis: versioned snapshot hashes and an atomic pointer.

    Layout (prefix ``fraudgraph:features``)::

        <prefix>:current            the version served now
        <prefix>:v:<version>        hash: "<type>\\x1f<key>" -> JSON record
        <prefix>:v:<version>:meta   JSON {"version", "created_at", "entities"}

    Parameters
    ----------
    client : redis.Redis
        A connected client (connection pooling is the client's).
    prefix : str
        Key prefix (tests and tenants use their own).
    keep_versions : int
        Snapshots kept after a publish (the current one included), so readers still on
        the previous pointer finish their read.

    Notes
    -----
    A read is one round trip: a server-side script reads the pointer, then the entities
    of that version, atomically, so a reader never mixes versions or sees a version
    being written (the pointer moves only after the last write).
    """

    name = "redis"

    def __init__(
        self, client: redis.Redis, *, prefix: str = _REDIS_PREFIX, keep_versions: int = 2
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._keep = max(1, keep_versions)
        self._read = client.register_script(_READ_SCRIPT)
        self._meta_cache: tuple[bytes, str, datetime] | None = None

    @property
    def pointer_key(self) -> str:
        """The key naming the current version."""
        return f"{self._prefix}:current"

    def _version_key(self, version: str) -> str:
        return f"{self._prefix}:v:{version}"

    def publish(self, snapshot: FeatureSnapshot, *, chunk: int = 10_000) -> None:
        """Write ``snapshot`` as a new version, then switch the pointer to it.

        Parameters
        ----------
        snapshot : FeatureSnapshot
        chunk : int
            Entities per pipelined ``HSET``.

        Raises
        ------
        BackendUnavailable
            If Redis cannot be reached; the pointer is then left as it was.

        Notes
        -----
        O(n) records serialised with orjson, sent in pipelines of ``chunk`` entities
        (one round trip each) to a staging key, which is renamed over the version's key
        in the transaction that moves the pointer; so publishing a version again (a
        re-delivered job) is atomic too. Versions beyond ``keep_versions`` are unlinked
        after the switch.
        """
        import redis as redis_module

        key = self._version_key(snapshot.version)
        # Written under a staging key, renamed over the version key in the same transaction
        # as the pointer switch: re-publishing the version being served (a re-delivered
        # job) never leaves readers on a half-written hash, and a publish killed half way
        # leaves only a staging key that expires.
        staging = f"{key}:staging:{uuid.uuid4().hex}"
        try:
            n = len(snapshot)
            for start in range(0, n, chunk):
                rows = np.arange(start, min(start + chunk, n), dtype=np.int64)
                records = snapshot.records(rows)
                mapping = {
                    f"{snapshot.entity_types[int(r)]}\x1f{snapshot.keys[int(r)]}": orjson.dumps(rec)
                    for r, rec in zip(rows, records, strict=True)
                }
                pipe = self._client.pipeline(transaction=False)
                pipe.hset(staging, mapping=mapping)  # type: ignore[arg-type]
                pipe.expire(staging, _STAGING_TTL_S)
                pipe.execute()
            meta = orjson.dumps(
                {
                    "version": snapshot.version,
                    "created_at": snapshot.created_at.isoformat(),
                    "entities": n,
                }
            )
            pipe = self._client.pipeline(transaction=True)
            if n:
                pipe.rename(staging, key)
                pipe.persist(key)
            else:
                pipe.delete(key)
            pipe.set(f"{key}:meta", meta)
            pipe.set(self.pointer_key, snapshot.version)
            pipe.rpush(f"{self._prefix}:versions", snapshot.version)
            pipe.execute()
            self._retire_old_versions()
        except redis_module.RedisError as exc:
            raise BackendUnavailable(f"redis feature cache: {exc}") from exc
        log.info("feature snapshot published to redis", extra={"version": snapshot.version})

    def _retire_old_versions(self) -> None:
        versions_key = f"{self._prefix}:versions"
        raw = self._client.lrange(versions_key, 0, -1)
        versions = [v.decode() if isinstance(v, bytes) else str(v) for v in raw]
        current = self.current_version()
        seen: list[str] = []
        for version in reversed(versions):
            if version not in seen:
                seen.append(version)
        old = [v for v in seen[self._keep :] if v != current]
        if old:
            pipe = self._client.pipeline(transaction=False)
            for version in old:
                pipe.unlink(self._version_key(version), f"{self._version_key(version)}:meta")
                pipe.lrem(versions_key, 0, version)
            pipe.execute()

    def current_version(self) -> str | None:
        """Version the pointer names now (``None`` before the first publish).

        Raises
        ------
        BackendUnavailable
            If Redis cannot be reached.
        """
        import redis as redis_module

        try:
            value = self._client.get(self.pointer_key)
        except redis_module.RedisError as exc:
            raise BackendUnavailable(f"redis feature cache: {exc}") from exc
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def _meta(self, raw: bytes) -> tuple[str, datetime]:
        cached = self._meta_cache
        if cached is not None and cached[0] == raw:
            return cached[1], cached[2]
        meta = orjson.loads(raw)
        version, created = str(meta["version"]), datetime.fromisoformat(meta["created_at"])
        self._meta_cache = (raw, version, created)
        return version, created

    def get(self, entity_type: str, key: str) -> EntityFeatures | None:
        """The feature of one entity from the current version (one round trip).

        Raises
        ------
        BackendUnavailable
            If Redis cannot be reached.
        """
        return self.get_many(entity_type, [key])[0]

    def get_many(self, entity_type: str, keys: Sequence[str]) -> list[EntityFeatures | None]:
        """Features of many entities from one version, in order (one round trip).

        Raises
        ------
        BackendUnavailable
            If Redis cannot be reached.
        """
        import redis as redis_module

        if not keys:
            return []
        fields = [f"{entity_type}\x1f{k}" for k in keys]
        try:
            meta_raw, values = self._read(
                keys=[self.pointer_key, f"{self._prefix}:v:"], args=fields
            )
        except redis_module.RedisError as exc:
            raise BackendUnavailable(f"redis feature cache: {exc}") from exc
        if not meta_raw:
            return [None] * len(keys)
        version, created = self._meta(meta_raw)
        return [
            None
            if raw is None
            else features_from_record(entity_type, k, orjson.loads(raw), version, created)
            for k, raw in zip(keys, values, strict=True)
        ]

    def ping(self) -> bool:
        """Whether Redis answers right now."""
        import redis as redis_module

        try:
            return bool(self._client.ping())
        except redis_module.RedisError:
            return False


# -- building and publishing ---------------------------------------------------------------


def build_feature_snapshot(
    store: GraphStore,
    *,
    reasons: pa.Table | None = None,
    version: str | None = None,
    created_at: datetime | None = None,
) -> FeatureSnapshot:
    """The feature snapshot of every scored account, from the store's analytics outputs.

    Parameters
    ----------
    store : GraphStore
        A store analysed by :func:`scoring.analysis.analyse` (scores ``entity_risk``,
        ``ring_score``, ``pagerank``, ``seeded_pagerank``, ``community``; optionally
        ``gnn_score``) and flagged by :func:`scoring.flagging.flag_clusters` (tables
        ``rings`` and ``ring_members``; optional).
    reasons : pa.Table, optional
        ``(id, reasons)`` per account, as in ``AnalysisResult.entity_risk``. Without it,
        the reasons of the latest published snapshot are carried over, and the ring's
        reasons stand in for ring members that have none.
    version : str, optional
        Snapshot version; default the UTC time, e.g. ``"20261129T230000.123456Z"``.
    created_at : datetime, optional
        Default: the time ``version`` names when it is a UTC time, else now (UTC).

    Returns
    -------
    FeatureSnapshot

    Raises
    ------
    EntityNotFound
        If the store holds no ``entity_risk`` scores (run ``fraudgraph analyse`` first).

    Notes
    -----
    O(N + L) vectorised over the accounts' scores and the identifier links (one export),
    plus the rings tables.
    """
    if created_at is None and version is not None:
        parsed = _created_from_version(version)
        created_at = parsed if parsed.timestamp() > 0 else None
    created_at = created_at or datetime.now(UTC)
    version = version or created_at.strftime("%Y%m%dT%H%M%S.%fZ")
    risk = store.read_scores("entity_risk")
    if risk.num_rows == 0:
        raise EntityNotFound("no entity_risk scores in the store; run `fraudgraph analyse` first")
    ids = risk.column("entity_id").to_numpy().astype(np.int64)
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    columns: dict[str, Any] = {"entity_id": ids}
    columns["risk"] = risk.column("value").to_numpy()[order]
    for name in ("pagerank", "seeded_pagerank", "gnn_score", "community"):
        columns[name] = _aligned_score(store, name, ids)
    community = columns.pop("community")
    columns["community_size"] = _community_sizes(community)
    nodes = store.export_nodes().select(["id", "type", "key"])
    node_ids = nodes.column("id").to_numpy()
    positions = np.searchsorted(node_ids, ids)
    positions = np.clip(positions, 0, max(len(node_ids) - 1, 0))
    known = node_ids[positions] == ids if len(node_ids) else np.zeros(len(ids), bool)
    keys = pc.take(nodes.column("key"), pa.array(positions[known]))
    type_codes = nodes.column("type").to_numpy()[positions[known]]
    for name in list(columns):
        columns[name] = columns[name][known]
    ids = ids[known]
    columns.update(_shared_counts(store, ids))
    ring_ids, ring_scores, ring_reasons = _rings_of(store, ids)
    columns["ring_score"] = ring_scores
    type_names = np.array([t.value for t in NodeType], dtype=object)[type_codes]
    table = pa.table(
        {
            "entity_type": pa.array(type_names.tolist(), pa.string()),
            "key": keys,
            "entity_id": pa.array(ids, pa.int64()),
            **{name: pa.array(columns[name], pa.float64()) for name in FLOAT_FEATURES},
            **{name: pa.array(columns[name], pa.int64()) for name in INT_FEATURES},
            "ring_id": ring_ids,
            "reasons": _reasons_for(store, ids, reasons, ring_reasons),
        },
        schema=SNAPSHOT_SCHEMA,
    )
    return FeatureSnapshot(table, version=version, created_at=created_at)


def _aligned_score(
    store: GraphStore, name: str, ids: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Score ``name`` at ``ids`` (NaN where the score is absent)."""
    table = store.read_scores(name)
    out = np.full(len(ids), np.nan)
    if table.num_rows == 0:
        return out
    score_ids = table.column("entity_id").to_numpy().astype(np.int64)
    values = table.column("value").to_numpy().astype(np.float64)
    order = np.argsort(score_ids, kind="stable")
    score_ids, values = score_ids[order], values[order]
    at = np.clip(np.searchsorted(score_ids, ids), 0, len(score_ids) - 1)
    hit = score_ids[at] == ids
    out[hit] = values[at[hit]]
    return out


def _community_sizes(community: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Accounts per community, for each account (1 where the community is unknown)."""
    sizes = np.ones(len(community), np.int64)
    known = ~np.isnan(community)
    if known.any():
        _, inverse, counts = np.unique(community[known], return_inverse=True, return_counts=True)
        sizes[known] = counts[inverse]
    return sizes


def _shared_counts(
    store: GraphStore, ids: npt.NDArray[np.int64]
) -> dict[str, npt.NDArray[np.int64]]:
    """Per account, identifiers of each type it shares with at least one other account."""
    types = list(SHARED_COUNT_FEATURES)
    links = store.export_links(types).select(["src", "dst", "type"])
    out = {name: np.zeros(len(ids), np.int64) for name in SHARED_COUNT_FEATURES.values()}
    total = np.zeros(len(ids), np.int64)
    if links.num_rows == 0 or len(ids) == 0:
        return {**out, "shared_identifiers": total}
    src = links.column("src").to_numpy().astype(np.int64)
    dst = links.column("dst").to_numpy().astype(np.int64)
    link_type = links.column("type").to_numpy()
    size = int(max(dst.max(), src.max())) + 1
    # Accounts per identifier: one link per (account, identifier) pair.
    accounts_per_identifier = np.bincount(dst, minlength=size)
    shared = accounts_per_identifier[dst] >= 2
    at = np.searchsorted(ids, src)
    at = np.clip(at, 0, len(ids) - 1)
    mine = shared & (ids[at] == src)
    for link, name in SHARED_COUNT_FEATURES.items():
        selected = mine & (link_type == LINK_TYPE_CODE[link])
        out[name] = np.bincount(at[selected], minlength=len(ids)).astype(np.int64)
        total += out[name]
    return {**out, "shared_identifiers": total}


def _rings_of(
    store: GraphStore, ids: npt.NDArray[np.int64]
) -> tuple[pa.Array, npt.NDArray[np.float64], list[list[str] | None]]:
    """Ring id, ring score and ring reasons per account (highest-scoring ring wins)."""
    n = len(ids)
    empty: list[list[str] | None] = [None] * n
    if not store.table_versions("rings"):
        return pa.nulls(n, pa.string()), np.full(n, np.nan), empty
    rings = store.read_table("rings").select(["ring_id", "score", "reasons", "members"])
    if rings.num_rows == 0:
        return pa.nulls(n, pa.string()), np.full(n, np.nan), empty
    members = rings.column("members").combine_chunks()
    parent = pc.list_parent_indices(members).to_numpy()
    member_ids = pc.list_flatten(members).to_numpy().astype(np.int64)
    scores = rings.column("score").to_numpy().astype(np.float64)
    # Highest score first, so the first ring seen per account is kept.
    order = np.lexsort((parent, -scores[parent]))
    member_ids, parent = member_ids[order], parent[order]
    first_ids, first_at = np.unique(member_ids, return_index=True)
    ring_of = parent[first_at]
    at = np.clip(np.searchsorted(first_ids, ids), 0, max(len(first_ids) - 1, 0))
    hit = first_ids[at] == ids if len(first_ids) else np.zeros(n, bool)
    ring_index = np.where(hit, ring_of[at], -1)
    ring_id_values = rings.column("ring_id").combine_chunks()
    mask = pa.array(ring_index < 0)
    ring_ids = pc.if_else(
        mask,
        pa.scalar(None, pa.string()),
        pc.take(ring_id_values, pa.array(np.maximum(ring_index, 0))),
    )
    ring_scores = np.where(hit, scores[np.maximum(ring_index, 0)], np.nan)
    reasons_by_ring = rings.column("reasons").to_pylist()
    ring_reasons: list[list[str] | None] = [
        reasons_by_ring[i] if i >= 0 else None for i in ring_index.tolist()
    ]
    return ring_ids, ring_scores, ring_reasons


def _reasons_for(
    store: GraphStore,
    ids: npt.NDArray[np.int64],
    reasons: pa.Table | None,
    ring_reasons: list[list[str] | None],
) -> pa.Array:
    """Reason codes per account: the analysis's, else the last snapshot's, else the ring's."""
    source: pa.Table | None = None
    if reasons is not None:
        source = reasons.select(["id", "reasons"])
    elif store.table_versions(SNAPSHOT_TABLE):
        previous = store.read_table(SNAPSHOT_TABLE)
        source = pa.table(
            {"id": previous.column("entity_id"), "reasons": previous.column("reasons")}
        )
    out: list[list[str] | None] = list(ring_reasons)
    if source is not None and source.num_rows:
        source_ids = source.column("id").to_numpy().astype(np.int64)
        order = np.argsort(source_ids, kind="stable")
        source_ids = source_ids[order]
        at = np.clip(np.searchsorted(source_ids, ids), 0, len(source_ids) - 1)
        hit = source_ids[at] == ids
        values = source.column("reasons").combine_chunks().take(pa.array(order[at])).to_pylist()
        out = [v if h and v else r for v, h, r in zip(values, hit.tolist(), out, strict=True)]
    return pa.array([r or [] for r in out], pa.list_(pa.string()))


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


def _created_from_version(version: str) -> datetime:
    try:
        return datetime.strptime(version, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


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
