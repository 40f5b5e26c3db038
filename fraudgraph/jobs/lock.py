"""Leases that keep two pipelines off one store and duplicate deliveries one at a time.

A lease names its owner and expires unless renewed; a holder renews it from a background
thread (:class:`Lease`) while it works. Two backends, one behaviour:

- :class:`FileLeases` — a JSON file per lock under ``STORE/jobs/locks``, read and replaced
  under ``fcntl.flock`` (one host: the embedded default, inline runs);
- :class:`RedisLeases` — one Redis key per lock, changed by server-side scripts (workers
  on several hosts).

The **pipeline lock** is owned by a run id: every step of that run may take it again (a
step delivered again after its worker died), any other run is refused or waits. The
**step lock** is owned by one delivery of one step, so two deliveries of a step run one
after the other; the second then finds the step done in the ledger.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from fraudgraph.jobs.ledger import safe_name, worker_name
from graph_service.errors import BackendUnavailable, InvalidInput, StoreLocked

if TYPE_CHECKING:
    import redis

__all__ = [
    "FileLeases",
    "Holder",
    "Lease",
    "LeaseBackend",
    "PipelineBusy",
    "RedisLeases",
    "hold",
]

log = logging.getLogger(__name__)


class PipelineBusy(StoreLocked):
    """Another pipeline run holds the store (HTTP 409); retry later or wait for it."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock and until when (UNIX seconds)."""

    owner: str
    token: str
    worker: str
    since: float
    expires_at: float

    def describe(self) -> str:
        """One line for error messages."""
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since))
        left = max(0.0, self.expires_at - time.time())
        return f"{self.owner} (worker {self.worker}, since {since}, lease {left:.0f} s left)"


class LeaseBackend(Protocol):
    """Where leases live."""

    def try_acquire(self, name: str, owner: str, token: str, ttl_s: float) -> Holder | None:
        """Take lock ``name`` for ``owner`` if it is free, expired or already the owner's.

        Returns ``None`` on success, else the current holder.
        """
        ...

    def renew(self, name: str, owner: str, ttl_s: float) -> bool:
        """Extend ``owner``'s lease; False if ``owner`` no longer holds it.

        By owner, not token: two deliveries of one run's step share the run's lock, and
        either keeps it alive.
        """
        ...

    def release(self, name: str, token: str) -> None:
        """Free the lock if ``token`` still holds it."""
        ...

    def holder(self, name: str) -> Holder | None:
        """The live holder of ``name``, if any."""
        ...


class FileLeases:
    """Leases as JSON files in ``folder``, each changed under an exclusive ``flock``.

    Notes
    -----
    ``flock`` is per host: use :class:`RedisLeases` when workers on several hosts share a
    store.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{safe_name(name, 'lock name')}.json"
        with (self.folder / f".{name}.flock").open("a+") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    def try_acquire(self, name: str, owner: str, token: str, ttl_s: float) -> Holder | None:
        with self._locked(name) as path:
            current = _read_holder(path)
            now = time.time()
            if current is not None and current.expires_at > now and current.owner != owner:
                return current
            since = current.since if current is not None and current.owner == owner else now
            _write_holder(path, Holder(owner, token, worker_name(), since, now + ttl_s))
            return None

    def renew(self, name: str, owner: str, ttl_s: float) -> bool:
        with self._locked(name) as path:
            current = _read_holder(path)
            if current is None or current.owner != owner:
                return False
            _write_holder(
                path,
                Holder(owner, current.token, current.worker, current.since, time.time() + ttl_s),
            )
            return True

    def release(self, name: str, token: str) -> None:
        with self._locked(name) as path:
            current = _read_holder(path)
            if current is not None and current.token == token:
                path.unlink(missing_ok=True)

    def holder(self, name: str) -> Holder | None:
        with self._locked(name) as path:
            current = _read_holder(path)
        if current is None or current.expires_at <= time.time():
            return None
        return current


_ACQUIRE: Final = """
local raw = redis.call('GET', KEYS[1])
if raw then
  local held = cjson.decode(raw)
  if held['owner'] ~= ARGV[1] then return raw end
  ARGV[4] = tostring(held['since'])
end
local now = tonumber(ARGV[3])
local record = cjson.encode({owner=ARGV[1], token=ARGV[2], worker=ARGV[5],
  since=tonumber(ARGV[4]), expires_at=now + tonumber(ARGV[6]) / 1000})
redis.call('SET', KEYS[1], record, 'PX', ARGV[6])
return false
"""

_RENEW: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local held = cjson.decode(raw)
if held['owner'] ~= ARGV[1] then return 0 end
held['expires_at'] = tonumber(ARGV[2]) + tonumber(ARGV[3]) / 1000
redis.call('SET', KEYS[1], cjson.encode(held), 'PX', ARGV[3])
return 1
"""

_RELEASE: Final = """
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw)['token'] == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLeases:
    """Leases as Redis keys ``<prefix>:<name>`` with a TTL, changed by scripts."""

    def __init__(self, client: redis.Redis, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{safe_name(name, 'lock name')}"

    def try_acquire(self, name: str, owner: str, token: str, ttl_s: float) -> Holder | None:
        now = time.time()
        raw = self._call(
            self._acquire,
            [self._key(name)],
            [owner, token, repr(now), repr(now), worker_name(), int(ttl_s * 1000)],
        )
        return None if raw is None else _holder_from(raw)

    def renew(self, name: str, owner: str, ttl_s: float) -> bool:
        done = self._call(
            self._renew, [self._key(name)], [owner, repr(time.time()), int(ttl_s * 1000)]
        )
        return bool(done)

    def release(self, name: str, token: str) -> None:
        self._call(self._release, [self._key(name)], [token])

    def holder(self, name: str) -> Holder | None:
        raw = self._call(None, [self._key(name)], [])
        return None if raw is None else _holder_from(raw)

    def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        import redis as redis_module

        try:
            if script is None:
                return self._client.get(keys[0])
            return script(keys=keys, args=args)
        except redis_module.RedisError as exc:
            raise BackendUnavailable(f"redis job lock: {exc}") from exc


class Lease:
    """A held lease, renewed every third of its TTL by a daemon thread until released.

    Use :func:`hold` rather than building one.
    """

    def __init__(
        self, backend: LeaseBackend, name: str, owner: str, token: str, ttl_s: float
    ) -> None:
        self.backend = backend
        self.name = name
        self.owner = owner
        self.token = token
        self.ttl_s = ttl_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{name}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.backend.renew(self.name, self.owner, self.ttl_s):
                    self.lost.set()
                    log.error("lease lost", extra={"lock": self.name})
                    return
            except BackendUnavailable as exc:
                log.warning("lease renewal failed", extra={"lock": self.name, "error": str(exc)})

    def detach(self) -> None:
        """Stop renewing but keep the lock: it lapses after its TTL unless taken again
        (a pipeline run keeps its lock between steps this way)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def release(self) -> None:
        """Stop renewing and free the lock."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.backend.release(self.name, self.token)


def acquire(
    backend: LeaseBackend,
    name: str,
    *,
    owner: str,
    ttl_s: float,
    wait_s: float = 0.0,
    what: str = "store",
    poll_s: float = 0.2,
) -> Lease:
    """Take lock ``name`` for ``owner``, waiting up to ``wait_s`` for another holder.

    Raises
    ------
    PipelineBusy
        If another owner still holds it after ``wait_s``.
    BackendUnavailable
        If the lease backend (Redis) cannot be reached.
    """
    if ttl_s <= 0:
        raise InvalidInput(f"a lease needs a positive TTL, got {ttl_s}")
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_s
    while True:
        held = backend.try_acquire(name, owner, token, ttl_s)
        if held is None:
            return Lease(backend, name, owner, token, ttl_s)
        if time.monotonic() >= deadline:
            raise PipelineBusy(
                f"the {what} is locked by pipeline run {held.describe()}; this run was "
                f"refused after waiting {wait_s:.0f} s (retry later, or wait longer with --wait)"
            )
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())) or poll_s)


@contextmanager
def hold(
    backend: LeaseBackend,
    name: str,
    *,
    owner: str,
    ttl_s: float,
    wait_s: float = 0.0,
    what: str = "store",
) -> Iterator[Lease]:
    """:func:`acquire`, released on exit."""
    lease = acquire(backend, name, owner=owner, ttl_s=ttl_s, wait_s=wait_s, what=what)
    try:
        yield lease
    finally:
        lease.release()


def _read_holder(path: Path) -> Holder | None:
    try:
        return _holder_from(path.read_bytes())
    except FileNotFoundError:
        return None


def _write_holder(path: Path, holder: Holder) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(holder.__dict__))
    tmp.replace(path)


def _holder_from(raw: bytes | str) -> Holder:
    data = json.loads(raw)
    return Holder(
        owner=str(data["owner"]),
        token=str(data["token"]),
        worker=str(data["worker"]),
        since=float(data["since"]),
        expires_at=float(data["expires_at"]),
    )
