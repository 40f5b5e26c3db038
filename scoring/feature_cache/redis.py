"""The Redis feature cache: versioned snapshot hashes behind an atomic pointer."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import orjson

from graph_service.errors import BackendUnavailable
from graph_service.settings import FEATURE_KEY_PREFIX
from scoring.feature_cache.snapshot import (
    EntityFeatures,
    FeatureSnapshot,
    features_from_payload,
    features_from_record,
)

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

#: Seconds a staging hash of an unfinished publish lives before Redis drops it.
_STAGING_TTL_S: Final = 24 * 3600


#: One read: the pointer, that version's meta, and the fields of that version's hash,
#: atomically (``HMGET`` in slices, as Lua's ``unpack`` takes a few thousand values).
READ_SCRIPT: Final = """
local version = redis.call('GET', KEYS[1])
if not version then return {false, false, {}} end
local meta = redis.call('GET', KEYS[2] .. version .. ':meta')
local out = {}
for i = 1, #ARGV, 4000 do
  local part = redis.call('HMGET', KEYS[2] .. version, unpack(ARGV, i, math.min(i + 3999, #ARGV)))
  for j = 1, #part do out[#out + 1] = part[j] end
end
return {version, meta, out}
"""

#: ``format`` in a version's meta when its hash holds whole JSON bodies (see
#: :meth:`RedisFeatureCache.publish`); versions without it hold compact records.
BODY_FORMAT: Final = "body"


def entity_field(entity_type: str, key: str) -> str:
    """The hash field of an entity in a snapshot version."""
    return f"{entity_type}\x1f{key}"


class RedisFeatureCache:
    """Feature cache in Redis: versioned snapshot hashes and an atomic pointer.

    Layout (prefix ``fraudgraph:features``)::

        <prefix>:current            the version served now
        <prefix>:v:<version>        hash: "<type>\\x1f<key>" -> the entity's JSON body
        <prefix>:v:<version>:meta   JSON {"version", "created_at", "entities", "format"}

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
        self, client: redis.Redis, *, prefix: str = FEATURE_KEY_PREFIX, keep_versions: int = 2
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._keep = max(1, keep_versions)
        self._read = client.register_script(READ_SCRIPT)
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
        O(n) bodies serialised with orjson (:meth:`FeatureSnapshot.bodies`: the bytes the
        endpoints send, snapshot version and time included), sent in pipelines of ``chunk`` entities
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
                types, keys = snapshot.entity_types, snapshot.keys
                mapping = {
                    entity_field(types[r], keys[r]): body
                    for r, body in zip(rows.tolist(), snapshot.bodies(rows), strict=True)
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
                    "format": BODY_FORMAT,
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
        fields = [entity_field(entity_type, k) for k in keys]
        try:
            _, meta_raw, values = self._read(
                keys=[self.pointer_key, f"{self._prefix}:v:"], args=fields
            )
        except redis_module.RedisError as exc:
            raise BackendUnavailable(f"redis feature cache: {exc}") from exc
        if not meta_raw:
            return [None] * len(keys)
        version, created = self._meta(meta_raw)
        return [
            None if raw is None else _features(entity_type, k, orjson.loads(raw), version, created)
            for k, raw in zip(keys, values, strict=True)
        ]

    def ping(self) -> bool:
        """Whether Redis answers right now."""
        import redis as redis_module

        try:
            return bool(self._client.ping())
        except redis_module.RedisError:
            return False


def _features(
    entity_type: str, key: str, stored: dict[str, Any], version: str, created: datetime
) -> EntityFeatures:
    """The :class:`EntityFeatures` of a stored body, or of an older release's record."""
    if "shared_counts" in stored:
        return features_from_payload(stored, created)
    return features_from_record(entity_type, key, stored, version, created)
