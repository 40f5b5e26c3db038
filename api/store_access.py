"""How the API reaches the graph store: short units of work, off the event loop, timed.

The embedded store is one DuckDB file, and a process holding it open (even read-only)
keeps the batch jobs from opening it for writing. So the server holds it only while
investigators use it: reads borrow a read-only store from a small pool, and the pool is
closed after ``hold_s`` seconds without a read (opening the file costs tens of
milliseconds, too much to pay per query). Label writes close the pool and open the file
read-write for the one write. Units in this process share the file through a
readers-writer lock (DuckDB refuses a read-only and a read-write instance of one file in
one process). If a batch job holds the file, the unit fails with ``StoreLocked`` (409);
a batch job started while the server holds it gets ``StoreLocked`` too and retries once
the server has been idle for ``hold_s``.

Neo4j is a server: a small pool of open stores (drivers) is shared by the requests.

Every unit runs in a worker thread under ``query_timeout_s``; past it the request gets
``QueryTimeout`` (504) while the store's own statement timeout stops the work.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio

from graph_service.errors import BackendUnavailable, FraudGraphError, QueryTimeout
from graph_service.settings import Settings
from graph_service.store import GraphStore, open_store

log = logging.getLogger(__name__)

T = TypeVar("T")


class _ReadersWriterLock:
    """Many readers or one writer (writers wait for readers to leave)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class StoreGateway:
    """Runs units of store work for the API.

    Parameters
    ----------
    settings : Settings
        The graph store's settings (backend, store directory, Neo4j connection).
    timeout_s : float
        Longest a unit may take before the caller gets ``QueryTimeout``.
    pool_size : int
        Open stores kept for reuse.
    hold_s : float
        Embedded backend: seconds without a read after which the pooled read-only stores
        are closed, releasing the file for batch jobs (0 = close after every unit).
    """

    def __init__(
        self, settings: Settings, *, timeout_s: float, pool_size: int = 4, hold_s: float = 2.0
    ) -> None:
        self.settings = settings
        self.backend = settings.backend
        self.timeout_s = timeout_s
        self.hold_s = hold_s
        self._pool: queue.LifoQueue[GraphStore] = queue.LifoQueue(maxsize=pool_size)
        self._lock = _ReadersWriterLock()
        self._last_use = time.monotonic()
        self._closed = threading.Event()
        if self.backend == "embedded" and hold_s > 0:
            threading.Thread(target=self._release_when_idle, daemon=True).start()

    def _release_when_idle(self) -> None:
        while not self._closed.wait(min(0.5, self.hold_s)):
            if time.monotonic() - self._last_use >= self.hold_s and not self._pool.empty():
                with self._lock.writing():
                    if time.monotonic() - self._last_use >= self.hold_s:
                        self._drain()

    # -- synchronous units (worker threads, background jobs) ------------------------------
    def _open(self, *, write: bool) -> GraphStore:
        return open_store(self.settings, read_only=not write)

    def run(self, work: Callable[[GraphStore], T], *, write: bool = False) -> T:
        """Run ``work(store)`` now, in this thread.

        Parameters
        ----------
        work : callable
            Gets an open store; must not keep it.
        write : bool
            The unit writes (embedded: opens read-write, exclusively).

        Returns
        -------
        The result of ``work``.

        Raises
        ------
        FraudGraphError
            Whatever the store raises (``StoreLocked``, ``BackendUnavailable``...).
        BackendUnavailable
            For any other failure to reach the store.
        """
        self._last_use = time.monotonic()
        if self.backend == "embedded":
            if write or self.hold_s <= 0:
                guard = self._lock.writing() if write else self._lock.reading()
                with guard:
                    self._drain()
                    store = self._open(write=write)
                    try:
                        return work(store)
                    finally:
                        store.close()
            with self._lock.reading():
                return self._pooled(work)
        return self._pooled(work)

    def _pooled(self, work: Callable[[GraphStore], T]) -> T:
        try:
            store = self._pool.get_nowait()
        except queue.Empty:
            store = self._open(write=False)
        healthy = False
        try:
            result = work(store)
            healthy = True
            return result
        finally:
            if healthy:
                try:
                    self._pool.put_nowait(store)
                except queue.Full:
                    store.close()
            else:
                store.close()

    # -- async units (request handlers) ---------------------------------------------------
    async def call(self, work: Callable[[GraphStore], T], *, write: bool = False) -> T:
        """Run ``work(store)`` in a worker thread under the gateway's timeout.

        Raises
        ------
        QueryTimeout
            If the unit takes longer than ``timeout_s``.
        FraudGraphError
            As :meth:`run`.
        """
        try:
            with anyio.fail_after(self.timeout_s):
                return await anyio.to_thread.run_sync(
                    lambda: self.run(work, write=write), abandon_on_cancel=True
                )
        except TimeoutError as exc:
            raise QueryTimeout(
                f"the query took longer than {self.timeout_s:g} s and was stopped"
            ) from exc
        except FraudGraphError:
            raise
        except OSError as exc:
            raise BackendUnavailable(f"the graph store cannot be reached: {exc}") from exc

    def ping(self) -> tuple[bool, str]:
        """Whether the store answers a trivial read now, and a short detail."""
        try:
            counts = self.run(lambda store: store.counts())
        except FraudGraphError as exc:
            return False, f"{exc.code}: {exc}"
        except Exception as exc:  # readiness must report, never raise
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"{sum(counts.nodes.values())} entities"

    def close(self) -> None:
        """Close the pooled stores and stop the idle release."""
        self._closed.set()
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                store = self._pool.get_nowait()
            except queue.Empty:
                return
            store.close()
