"""Measuring child processes for the benchmarks: wall time, peak RSS, and a memory cap.

A benchmark step runs as its own process (the real CLI), so its peak RSS is its own and
nothing an earlier step left behind. :class:`PeakRss` samples the summed RSS of a process
tree in a thread; with a cap it kills the tree when the sum goes over it, so a scale run
stops on a figure it chose (``rss_cap``) instead of the kernel's OOM killer taking
whatever process it picks on a shared machine. :func:`run_measured` runs one command and
returns what happened, failures included, as a JSON-ready dict.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

GIB = 2**30


class PeakRss:
    """Peak summed RSS of processes and their descendants, sampled every ``interval`` s.

    Parameters
    ----------
    pids : list of int
        Roots of the process trees to sum.
    cap_bytes : int, optional
        Kill every process of the trees (SIGKILL) once the sum exceeds it; ``capped``
        then says so.
    interval : float
        Seconds between samples (a shorter peak between two samples is missed; the
        benchmark steps run for seconds to minutes).
    """

    def __init__(
        self, pids: list[int], *, cap_bytes: int | None = None, interval: float = 0.5
    ) -> None:
        self.pids = pids
        self.cap_bytes = cap_bytes
        self.interval = interval
        self.peak = 0
        self.capped = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _tree(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        for pid in self.pids:
            try:
                root = psutil.Process(pid)
                procs.extend([root, *root.children(recursive=True)])
            except psutil.Error:
                continue
        return procs

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            procs = self._tree()
            total = 0
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            if self.cap_bytes is not None and total > self.cap_bytes and not self.capped:
                self.capped = True
                for proc in procs:
                    try:
                        proc.send_signal(signal.SIGKILL)
                    except psutil.Error:
                        continue

    def stop(self) -> float:
        """Stop sampling; the peak in GiB."""
        self._stop.set()
        self._thread.join()
        return round(self.peak / GIB, 3)


def run_measured(
    cmd: Sequence[str],
    *,
    cwd: Path,
    cap_gib: float | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> dict[str, Any]:
    """Run ``cmd`` to its end and measure it.

    Parameters
    ----------
    cmd : sequence of str
    cwd : Path
    cap_gib : float, optional
        Memory cap of the process tree (see :class:`PeakRss`).
    env : dict, optional
        Extra environment variables.
    log : Path, optional
        Where stderr goes (default: discarded); its tail is quoted on failure.

    Returns
    -------
    dict
        ``status`` (``ok``, ``failed`` with ``exit_code``, ``killed`` with ``signal``, or
        ``rss_cap`` when the cap stopped it), ``wall_s``, ``peak_rss_gib`` (the sampled
        peak of the tree's summed RSS), ``stdout`` and, on failure, ``stderr_tail``.
    """
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(log.open("wb")) if log is not None else subprocess.DEVNULL
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, **(env or {})},
        )
        cap = None if cap_gib is None else int(cap_gib * GIB)
        rss = PeakRss([proc.pid], cap_bytes=cap, interval=0.1)
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        proc.stdout.close()
        _, status, _ = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        wall = time.perf_counter() - started
        sampled = rss.stop()
    code = proc.returncode
    result: dict[str, Any] = {
        "status": "ok",
        "wall_s": round(wall, 1),
        # Sampled, not ru_maxrss: a child forked from a large parent counts the parent's
        # pages in ru_maxrss until it execs.
        "peak_rss_gib": sampled,
        "stdout": stdout.decode(errors="replace"),
    }
    if rss.capped:
        result.update(status="rss_cap", cap_gib=cap_gib)
    elif code < 0:
        result.update(status="killed", signal=signal.Signals(-code).name)
    elif code > 0:
        result.update(status="failed", exit_code=code)
    if result["status"] != "ok" and log is not None:
        result["stderr_tail"] = log.read_text(errors="replace").splitlines()[-8:]
    return result
