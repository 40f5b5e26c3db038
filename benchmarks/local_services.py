"""Throwaway local services for the benchmarks: a free port, a ``redis-server``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def redis_server(*, cpu: int | None = None) -> Iterator[str]:
    """A ``redis-server`` without persistence on a free port (pinned to ``cpu`` if given);
    yields its URL and stops it on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH (make system-deps)")
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="benchmark-redis-"))
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    options = ["--bind", "127.0.0.1", "--dir", str(directory), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*pin, binary, "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start within 10 s") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)
