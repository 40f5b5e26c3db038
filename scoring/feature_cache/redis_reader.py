"""The server's Redis read path: async, coalesced, with a version-checked near-cache.

An API server asks Redis for tens of thousands of features a second, so a read must not
hold the event loop, must not pay one round trip per request, and must not rebuild a
record Redis already holds as bytes. :class:`RedisFeatureReader`:

* reads on asyncio connections (``redis.asyncio``, hiredis parser when installed), never
  blocking the loop, each call one write and one read under one timeout (see
  :class:`_ScriptLink`: redis-py's general command path costs more than the round trip);
* coalesces the reads of concurrent requests: those that arrive while the loop is busy go
  out together as one server-side script call (pointer + ``HMGET`` of every field, one
  round trip, one version), with a bound on calls in flight, so batches grow with load;
* returns the JSON bodies stored at publish time (:meth:`~scoring.feature_cache.
  FeatureSnapshot.bodies`), ready to send;
* keeps a bounded near-cache of the bodies (and misses) of the version Redis serves now.
  The near-cache is tied to one version: every Redis answer names its version, and a
  watcher (:meth:`RedisFeatureReader.refresh_version`, run every
  ``FRAUDGRAPH_API_REDIS_VERSION_POLL_S``) reads the pointer, so once a new version is
  published every cached body is dropped within one poll interval. The near-cache is
  only used while that watcher runs (:meth:`RedisFeatureReader.watching`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

import orjson

from graph_service.errors import BackendUnavailable
from scoring.feature_cache.redis import BODY_FORMAT, READ_SCRIPT

if TYPE_CHECKING:
    import redis.asyncio

log = logging.getLogger(__name__)

#: Marks a field the near-cache does not hold (``None`` is a cached miss).
_ABSENT: Final = object()


class RedisFeatureReader:
    """Async reads of feature bodies from the Redis cache (see the module notes).

    Parameters
    ----------
    client : redis.asyncio.Redis
        A client created in the event loop that will use it.
    prefix : str
        The feature cache's key prefix (as given to
        :class:`~scoring.feature_cache.RedisFeatureCache`).
    near_entries : int
        Most bodies the near-cache holds (0: no near-cache). The oldest sixteenth is
        dropped when it is full.
    max_in_flight : int
        Script calls in flight at once; reads arriving meanwhile wait and go out
        together in the next call. The client's cost is per call, not per field, so a
        low limit serves more reads per second under load; a lone read still goes out
        at once.

    Notes
    -----
    A read of ``k`` fields costs ``k`` dict probes when the near-cache holds them all;
    otherwise one round trip shared with every read waiting at that moment, then O(k).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str,
        near_entries: int = 100_000,
        max_in_flight: int = 2,
    ) -> None:
        self._client = client
        self._link = _ScriptLink(client, READ_SCRIPT)
        self._keys = [f"{prefix}:current", f"{prefix}:v:"]
        self._near_max = max(0, near_entries)
        self._near: dict[str, bytes | None] = {}
        self._near_version: str | None = None
        self._formats: dict[str, bool] = {}
        self._pending: list[tuple[list[str], asyncio.Future[list[bytes | None]]]] = []
        self._scheduled = False
        self._in_flight = 0
        self._max_in_flight = max(1, max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching = 0
        self.loop = asyncio.get_running_loop()
        #: Script calls sent so far (each one round trip, shared by the reads it carries).
        self.round_trips = 0

    @property
    def version(self) -> str | None:
        """The version Redis served in the latest answer (``None`` before any)."""
        return self._near_version

    @property
    def near_size(self) -> int:
        """Bodies (and misses) the near-cache holds now."""
        return len(self._near)

    def watching(self) -> _Watching:
        """Context in which the near-cache may answer: enter it around the version watcher.

        Examples
        --------
        >>> async def watch(reader):  # doctest: +SKIP
        ...     with reader.watching():
        ...         while True:
        ...             await reader.refresh_version()
        ...             await asyncio.sleep(0.25)
        """
        return _Watching(self)

    async def bodies(self, fields: Sequence[str]) -> tuple[list[bytes | None], int]:
        """The stored JSON bodies of ``fields`` (``None`` where Redis has none), and how
        many came from the near-cache.

        Parameters
        ----------
        fields : sequence of str
            :func:`~scoring.feature_cache.redis.entity_field` of each entity.

        Raises
        ------
        BackendUnavailable
            If Redis cannot be reached or answers badly, holds no published version, or
            holds one in a format this release does not read.
        """
        if not self._watching or not self._near_max:
            return await self._fetch(list(fields)), 0
        near = self._near
        found: list[Any] = [near.get(f, _ABSENT) for f in fields]
        wanted = [i for i, value in enumerate(found) if value is _ABSENT]
        if not wanted:
            return found, len(found)
        values = await self._fetch([fields[i] for i in wanted])
        for i, value in zip(wanted, values, strict=True):
            found[i] = value
        return found, len(found) - len(wanted)

    async def refresh_version(self) -> str | None:
        """Read the pointer now (dropping the near-cache if it moved); the version.

        Raises
        ------
        BackendUnavailable
            If Redis cannot be reached or holds no version it can serve.
        """
        await self._fetch([])
        return self._near_version

    def _fetch(self, fields: list[str]) -> asyncio.Future[list[bytes | None]]:
        future: asyncio.Future[list[bytes | None]] = self.loop.create_future()
        self._pending.append((fields, future))
        self._schedule()
        return future

    def _schedule(self) -> None:
        if not self._scheduled and self._in_flight < self._max_in_flight:
            self._scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self._in_flight += 1
        self.round_trips += 1
        task = self.loop.create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(
        self, batch: list[tuple[list[str], asyncio.Future[list[bytes | None]]]]
    ) -> None:
        fields = [f for wanted, _ in batch for f in wanted]
        try:
            raw_version, meta, values = await self._link.call(self._keys, fields)
            version = self._accept(raw_version, meta)
        except BackendUnavailable as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self._in_flight -= 1
            if self._pending:
                self._schedule()
        if version == self._near_version and self._watching and self._near_max:
            self._remember(fields, values)
        at = 0
        for wanted, future in batch:
            if not future.done():
                future.set_result(values[at : at + len(wanted)])
            at += len(wanted)

    def _accept(self, version: bytes | None, meta: bytes | None) -> str:
        """The version of an answer; a new one replaces the near-cache.

        Raises
        ------
        BackendUnavailable
            If nothing is published, or the version is in another release's format.
        """
        if not version:
            raise BackendUnavailable("redis holds no published feature snapshot")
        name = version.decode()
        readable = self._formats.get(name)
        if readable is None:
            readable = meta is not None and orjson.loads(meta).get("format") == BODY_FORMAT
            self._formats[name] = readable
            if not readable:
                log.warning(
                    "redis holds feature snapshot %s in an older format; "
                    "republish it with `fraudgraph publish --redis-url ...`",
                    name,
                )
        if not readable:
            raise BackendUnavailable(
                f"redis holds feature snapshot {name} in an older format; republish it"
            )
        if name != self._near_version:
            if len(self._formats) > 16:  # versions come and go; remember the recent ones
                self._formats = {name: True}
            self._near = {}
            self._near_version = name
        return name

    def _remember(self, fields: list[str], values: list[bytes | None]) -> None:
        near = self._near
        room = self._near_max - len(near)
        if room < len(fields):
            drop = max(len(fields) - room, self._near_max // 16)
            for field in list(islice(near, drop)):
                del near[field]
        near.update(zip(fields, values, strict=True))
        while len(near) > self._near_max:  # a single read larger than the whole cache
            del near[next(iter(near))]

    async def close(self) -> None:
        """Wait for reads in flight, then close the client's connections."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._link.close()
        await self._client.aclose()


class _ScriptLink:
    """Calls one Lua script over connections of its own, at the cost of one write and one
    read per call.

    ``client.evalsha`` pays, per call, for redis-py's retry wrapper, a pool checkout and
    return, and two socket timeouts (one of them a task per write); at tens of thousands
    of calls a second that was most of the server's time. Here a call takes an idle
    connection (made from the client's pool settings, so URL, database, password and TLS
    hold), sends the packed ``EVALSHA`` and reads the answer under one
    :func:`asyncio.timeout`. A connection that fails, times out or is cancelled mid-call
    is closed, never reused; the script is loaded again when Redis has lost it.
    """

    def __init__(self, client: redis.asyncio.Redis, script: str) -> None:
        import redis as redis_module  # once here, not on every call

        self._no_script: type[Exception] = redis_module.exceptions.NoScriptError
        self._answered: type[Exception] = redis_module.ResponseError
        self._failed: tuple[type[BaseException], ...] = (
            redis_module.RedisError,
            OSError,
            TimeoutError,
        )
        pool = client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        self._timeout_s: float | None = kwargs.get("socket_timeout")
        kwargs["socket_timeout"] = None  # one timeout per call instead, below
        self._connection_class = pool.connection_class
        self._connection_kwargs = kwargs
        self._client = client
        self._source = script
        self._sha = client.register_script(script).sha
        self._idle: list[Any] = []

    async def call(self, keys: list[str], args: list[str]) -> Any:
        """The script's answer for ``keys`` and ``args``.

        Raises
        ------
        BackendUnavailable
            If Redis cannot be reached, times out, or answers with an error.
        """
        conn = self._idle.pop() if self._idle else self._connect()
        command = conn.pack_command("EVALSHA", self._sha, len(keys), *keys, *args)
        try:
            async with asyncio.timeout(self._timeout_s):
                try:
                    answer = await self._roundtrip(conn, command)
                except self._no_script:
                    await self._client.script_load(self._source)
                    answer = await self._roundtrip(conn, command)
        except self._answered as exc:  # an answer: the connection is fine
            self._idle.append(conn)
            raise BackendUnavailable(f"redis feature cache: {exc}") from exc
        except BaseException as exc:
            await conn.disconnect(nowait=True)
            if isinstance(exc, self._failed):
                raise BackendUnavailable(f"redis feature cache: {exc!r}") from exc
            raise
        self._idle.append(conn)
        return answer

    def _connect(self) -> Any:
        """A new connection (it connects on its first write)."""
        return self._connection_class(**self._connection_kwargs)

    @staticmethod
    async def _roundtrip(conn: Any, command: list[bytes]) -> Any:
        await conn.send_packed_command(command, check_health=False)
        return await conn.read_response()

    async def close(self) -> None:
        """Close the idle connections (those in use close when their call ends)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.disconnect()


class _Watching:
    """While entered, the reader's version is watched, so its near-cache may answer."""

    def __init__(self, reader: RedisFeatureReader) -> None:
        self._reader = reader

    def __enter__(self) -> None:
        self._reader._watching += 1

    def __exit__(self, *exc: object) -> None:
        self._reader._watching -= 1
        if not self._reader._watching:
            self._reader._near = {}


__all__ = ["RedisFeatureReader"]
