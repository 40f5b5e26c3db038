"""The snapshot-reload signal shared by the worker processes of one server.

Each worker of ``fraudgraph serve --workers N`` holds its own in-process feature snapshot,
so a reload must reach all of them. ``POST /v1/admin/snapshot/reload`` reloads the worker
that receives it, then writes a new *generation* to a small file in the server's run
directory (``FRAUDGRAPH_API_RUN_DIR``); every worker watches that file and reloads when
the generation changes. Only the file is shared: it works the same for either store
backend, with or without Redis.

The watch costs one ``stat`` every :data:`WATCH_EVERY_S` seconds in a worker thread; the
file is read only when the ``stat`` changes, and written by atomic rename, so a reader sees
either the old or the new generation, never half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import anyio
import orjson

__all__ = ["SIGNAL_FILE", "WATCH_EVERY_S", "ReloadSignal", "ReloadWatcher", "UnreadableSignal"]

log = logging.getLogger(__name__)

#: Name of the generation file in the run directory.
SIGNAL_FILE: Final = "snapshot-reload.json"
#: Seconds between two checks of the generation file.
WATCH_EVERY_S: Final = 0.25
#: Longest wait before a failed reload is tried again (the wait doubles from ``retry_s``).
RETRY_MAX_S: Final = 30.0

_sequence = itertools.count()

#: ``(inode, size, mtime_ns)`` of the file, or ``None`` while there is none.
_Stat = tuple[int, int, int] | None


class UnreadableSignal(Exception):
    """The generation file exists but cannot be read or parsed."""


class ReloadSignal:
    """The generation file of a run directory.

    Parameters
    ----------
    run_dir : Path
        Directory shared by the processes that reload together (created on first write).

    Notes
    -----
    A generation is an opaque token unique to one write (time, process id, sequence), so
    two workers signalling at the same moment never need to agree on a counter: the last
    rename wins and every watcher sees a change.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / SIGNAL_FILE

    def stat(self) -> _Stat:
        """``(inode, size, mtime_ns)`` of the file, ``None`` if it does not exist.

        Raises
        ------
        OSError
            If the file's metadata cannot be read (other than its absence).
        """
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return None
        return (found.st_ino, found.st_size, found.st_mtime_ns)

    def read(self) -> str | None:
        """The current generation, ``None`` if nothing was signalled yet.

        Raises
        ------
        UnreadableSignal
            If the file exists but is not a generation written by :meth:`bump`.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UnreadableSignal(f"cannot read {self.path}: {exc}") from exc
        try:
            generation = orjson.loads(raw)["generation"]
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            raise UnreadableSignal(f"{self.path} holds no generation: {raw[:80]!r}") from exc
        if not isinstance(generation, str) or not generation:
            raise UnreadableSignal(f"{self.path} holds no generation: {raw[:80]!r}")
        return generation

    @staticmethod
    def new_generation() -> str:
        """A token no other write of any process uses."""
        return f"{time.time_ns()}-{os.getpid()}-{next(_sequence)}"

    def bump(self, generation: str | None = None) -> str:
        """Write a new generation (atomically: temporary file, then rename).

        Parameters
        ----------
        generation : str, optional
            The token to write (default: :meth:`new_generation`).

        Returns
        -------
        str
            The generation written.

        Raises
        ------
        OSError
            If the run directory cannot be written.
        """
        generation = generation or self.new_generation()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"generation": generation, "pid": os.getpid(), "at": time.time()}
        partial = self.path.with_name(f".{SIGNAL_FILE}.{generation}")
        try:
            partial.write_bytes(orjson.dumps(body))
            partial.replace(self.path)
        finally:
            partial.unlink(missing_ok=True)
        return generation


class ReloadWatcher:
    """Runs ``reload`` in this process whenever the signal's generation changes.

    Parameters
    ----------
    signal : ReloadSignal
    reload : callable
        Loads the latest snapshot (blocking; run in a worker thread), e.g.
        ``lambda: features.reload(gateway)``; returns a summary to log.
    every_s : float
        Seconds between checks of the file.
    retry_s : float
        Wait before a failed reload is tried again; doubles on each failure up to
        :data:`RETRY_MAX_S`.

    Attributes
    ----------
    generation : str or None
        The generation this process has applied (reloaded for, or signalled itself).

    Notes
    -----
    A corrupt or unreadable file is logged once per change and ignored: the worker keeps
    serving its snapshot and follows the next valid generation. A failed reload (the store
    locked or down) is logged and retried; the generation counts as applied only once the
    reload succeeds.
    """

    def __init__(
        self,
        signal: ReloadSignal,
        reload: Callable[[], dict[str, Any]],
        *,
        every_s: float = WATCH_EVERY_S,
        retry_s: float = 1.0,
    ) -> None:
        self.signal = signal
        self.reload = reload
        self.every_s = every_s
        self.retry_s = retry_s
        self.generation: str | None = None
        self._latest: str | None = None
        self._stat: _Stat = None
        self._stat_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Take the current generation as applied and start watching (in the running loop).

        Call it before the process loads its first snapshot, so that a signal written
        meanwhile is not missed.
        """
        self._stat = None
        self._take_changes()
        self.generation = self._latest
        self._task = asyncio.get_running_loop().create_task(self.watch())

    async def stop(self) -> None:
        """Stop watching (waits for the task to end)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def broadcast(self) -> str:
        """Signal every watcher of the run directory but this one; blocking file I/O.

        Returns
        -------
        str
            The generation written.

        Raises
        ------
        OSError
            If the run directory cannot be written.
        """
        generation = ReloadSignal.new_generation()
        # Marked applied first: this process has just reloaded, its own watcher skips it.
        self.generation = self._latest = generation
        return self.signal.bump(generation)

    def pending(self) -> str | None:
        """The generation to reload for, if the file changed to one not yet applied.

        Blocking (a ``stat``, and a read when the ``stat`` changed): call it off the loop.
        """
        self._take_changes()
        return self._latest if self._latest != self.generation else None

    def _take_changes(self) -> None:
        try:
            stat = self.signal.stat()
        except OSError as exc:
            if str(exc) != self._stat_error:  # once per distinct failure, not every tick
                log.warning("reload signal %s cannot be checked: %s", self.signal.path, exc)
                self._stat_error = str(exc)
            return
        self._stat_error = None
        if stat == self._stat:
            return
        self._stat = stat
        try:
            generation = self.signal.read()
        except UnreadableSignal as exc:
            log.warning("reload signal ignored: %s", exc)
            return
        if generation is not None:
            self._latest = generation

    async def watch(self) -> None:
        """Check every ``every_s`` seconds and reload on a new generation (runs forever)."""
        failures = 0
        while True:
            backoff = min(self.retry_s * 2 ** (failures - 1), RETRY_MAX_S) if failures else 0
            await anyio.sleep(max(self.every_s, backoff))
            try:
                generation = await anyio.to_thread.run_sync(self.pending)
                if generation is None:
                    continue
                result = await anyio.to_thread.run_sync(self.reload)
            except Exception as exc:  # the watcher must outlive any one failure
                failures += 1
                log.warning("reload on signal failed (attempt %d): %s", failures, exc)
                continue
            failures = 0
            self.generation = generation
            log.info("feature snapshot reloaded on signal %s", generation, extra=result)
