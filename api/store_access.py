"""How the API reaches the graph store: short units of work, off the event loop, timed.

The embedded store is one DuckDB file, and a process holding it open (even read-only)
keeps the batch jobs from opening it for writing. So the server never keeps it open: each
unit of work opens it read-only (label writes: read-write), runs, and closes it. Units in
this process share the file through a readers-writer lock (DuckDB refuses a read-only and
a read-write instance of one file in one process). If a batch job holds the file, the unit
fails with ``StoreLocked`` (409), which the caller may retry.

Neo4j is a server: a small pool of open stores (drivers) is shared by the requests.

Every unit runs in a worker thread under ``query_timeout_s``; past it the request gets
``QueryTimeout`` (504) while the store's own statement timeout stops the work.
"""

from __future__ import annotations

import logging
import queue
import threading
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
        Open stores kept for the Neo4j backend.
    """

    def __init__(self, settings: Settings, *, timeout_s: float, pool_size: int = 4) -> None:
        self.settings = settings
        self.backend = settings.backend
        self.timeout_s = timeout_s
        self._pool: queue.LifoQueue[GraphStore] = queue.LifoQueue(maxsize=pool_size)
        self._lock = _ReadersWriterLock()

    # -- synchronous units (worker threads, background jobs) ------------------------------
    def _open(self, *, write: bool) -> GraphStore:
        if self.backend == "embedded":
            from graph_service.embedded.store import EmbeddedStore

            s = self.settings
            return EmbeddedStore(
                s.store_dir,
                memory_limit=s.duckdb_memory_limit,
                threads=s.duckdb_threads,
                read_only=not write,
                neighbour_cap=s.neighbour_cap,
            )
        return open_store(self.settings)

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
        if self.backend == "embedded":
            guard = self._lock.writing() if write else self._lock.reading()
            with guard:
                store = self._open(write=write)
                try:
                    return work(store)
                finally:
                    store.close()
        try:
            store = self._pool.get_nowait()
        except queue.Empty:
            store = self._open(write=write)
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
        """Close the pooled stores."""
        while True:
            try:
                store = self._pool.get_nowait()
            except queue.Empty:
                return
            store.close()
