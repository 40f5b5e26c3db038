"""Ctrl-C as a terminal delivers it, during a real DuckDB query: what the CLI and the
pipeline must tell apart from a failing query."""

from __future__ import annotations

import os
import signal
import threading

import duckdb


def ctrl_c_during_query() -> None:
    """Run a query of several seconds and send this process SIGINT 0.2 s into it.

    DuckDB stops the query and raises ``RuntimeError: Query interrupted`` from the
    ``KeyboardInterrupt``. Python's own handler is installed for the call (a runner may
    have started the tests with SIGINT ignored) and restored afterwards.
    """
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        duckdb.connect().execute(
            "SELECT sum(i * j) FROM range(400000000) t(i), range(10) s(j)"
        ).fetchall()
        raise AssertionError("the query finished before Ctrl-C reached it")
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
