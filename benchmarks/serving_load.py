"""Load for the serving benchmarks: the Go load generator, the servers under test (the API
and the bare ASGI app), CPU pinning, key streams and the feature-cache counters.

Used by ``benchmarks/serving.py`` and ``benchmarks/profile_serving.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.local_services import free_port  # noqa: E402

LOADGEN_SOURCE = Path(__file__).resolve().parent / "loadgen"
SCORER_KEY = "dev-scorer"
#: uvicorn prints this once per worker process when its app has started.
STARTED_LINE = "Application startup complete."


def log(message: str) -> None:
    print(f"[serving {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the Go load generator ---------------------------------------------------------------------


class LoadgenUnavailable(RuntimeError):
    """The Go load generator cannot be built here (no ``go``, or the build failed)."""


def go_binary() -> str | None:
    """The ``go`` command: ``$GO``, on PATH, or the standard /usr/local/go install."""
    for candidate in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def build_loadgen(out_dir: Path) -> Path:
    """Build ``benchmarks/loadgen`` (stdlib only, no module downloads) into ``out_dir``.

    Raises
    ------
    LoadgenUnavailable
        If there is no Go toolchain or the build fails.
    """
    go = go_binary()
    if go is None:
        raise LoadgenUnavailable("no Go toolchain (set GO=/path/to/go or put go on PATH)")
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / "loadgen"
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    built = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=LOADGEN_SOURCE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise LoadgenUnavailable(f"go build failed: {built.stderr.strip()}")
    return binary


def go_version() -> str:
    go = go_binary()
    if go is None:
        return "none"
    return subprocess.run(
        [go, "version"], capture_output=True, text=True, check=False
    ).stdout.strip()


@dataclass(frozen=True)
class Targets:
    """What the generator sends: GET paths from ``file`` (one per line), or POST the
    bodies of ``file`` (one JSON document per line) to ``path``; ``order`` is ``random``
    (an independent draw per request) or ``roundrobin``."""

    method: str
    file: Path
    path: str | None = None
    order: str = "random"

    def args(self) -> list[str]:
        if self.method == "POST":
            return ["-method", "POST", "-path", str(self.path), "-bodies", str(self.file)]
        return ["-method", "GET", "-paths", str(self.file), "-order", self.order]


@dataclass(frozen=True)
class Loadgen:
    """The built generator, pinned to ``cpus`` with ``procs`` Go threads (GOMAXPROCS)."""

    binary: Path
    cpus: str
    procs: int = 1
    timeout_s: float = 5.0
    drain_s: float = 10.0
    seed: int = 1

    def open(
        self, addr: str, targets: Targets, rate: float, duration_s: float, connections: int
    ) -> dict[str, Any]:
        """Open loop at ``rate`` requests/s; latency from each scheduled send time."""
        extra = ["-rate", f"{rate:g}", "-drain", f"{self.drain_s:g}s"]
        return self._run("open", addr, targets, duration_s, connections, extra)

    def max(
        self, addr: str, targets: Targets, duration_s: float, connections: int
    ) -> dict[str, Any]:
        """Closed loop: every connection busy for ``duration_s``."""
        return self._run("max", addr, targets, duration_s, connections, [])

    def _run(
        self,
        mode: str,
        addr: str,
        targets: Targets,
        duration_s: float,
        connections: int,
        extra: list[str],
    ) -> dict[str, Any]:
        command = [
            "taskset", "-c", self.cpus, str(self.binary), "-mode", mode, "-addr", addr,
            *targets.args(), "-duration", f"{duration_s:g}s", "-connections", str(connections),
            "-timeout", f"{self.timeout_s:g}s", "-procs", str(self.procs),
            "-seed", str(self.seed), "-header", f"X-API-Key: {SCORER_KEY}", *extra,
        ]  # fmt: skip
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=duration_s + self.drain_s + 120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"loadgen {mode} failed: {done.stderr.strip()}")
        result: dict[str, Any] = json.loads(done.stdout)
        return result


# -- pinning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pinning:
    """Which CPUs the server, the load generator and Redis get (``taskset`` lists)."""

    server: str
    load: str
    redis: str
    note: str


def pinning(workers: int, cpus: int | None = None) -> Pinning:
    """The CPUs for a server of ``workers`` processes on this machine.

    One core per worker, load generator and Redis on the next one; when the machine has
    too few cores (2 workers on 2 cores), the server spans them all and the load
    generator and Redis share its last core, which the note says.
    """
    cpus = cpus or os.cpu_count() or 1
    if cpus >= workers + 1:
        server = "0" if workers == 1 else f"0-{workers - 1}"
        return Pinning(
            server,
            str(workers),
            str(workers),
            f"server ({workers} worker{'s' if workers > 1 else ''}) on CPU {server}; "
            f"load generator and Redis on CPU {workers}",
        )
    last = cpus - 1
    server = "0" if cpus == 1 else f"0-{last}"
    return Pinning(
        server,
        str(last),
        str(last),
        f"server ({workers} workers) spans CPUs {server}: the machine has {cpus} cores, so "
        f"the load generator and Redis share CPU {last} with a server worker (the figures "
        "understate what the server does on cores of its own)",
    )


# -- servers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A running server under test."""

    url: str
    addr: str
    pid: int
    workers: int
    log: Path


def _started_workers(log_path: Path) -> int:
    try:
        return log_path.read_text(errors="replace").count(STARTED_LINE)
    except FileNotFoundError:
        return 0


@contextmanager
def serve_process(
    command: list[str],
    *,
    env: dict[str, str],
    cpus: str,
    workers: int,
    port: int,
    log_path: Path,
    ready: Callable[[str], bool],
    start_timeout_s: float = 600.0,
) -> Iterator[Server]:
    """Start ``command`` pinned to ``cpus``; ready once every worker has started its app
    (uvicorn logs :data:`STARTED_LINE` per worker) and ``ready(url)`` holds."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            ["taskset", "-c", cpus, *command],
            env=env,
            cwd=REPO,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout_s
    try:
        while not (_started_workers(log_path) >= workers and ready(url)):
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"server exited during start:\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready within {start_timeout_s:g} s ({log_path})")
            time.sleep(0.25)
        yield Server(url, f"127.0.0.1:{port}", process.pid, workers, log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def api_ready(url: str) -> bool:
    import httpx

    try:
        ready = httpx.get(f"{url}/readyz", timeout=5).json()
        return bool(ready["features"]["snapshot_loaded"])
    except (httpx.HTTPError, KeyError, TypeError, ValueError):
        return False


def bare_ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment both servers run in (the development key ring, no snapshot polling)."""
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FRAUDGRAPH_API_SNAPSHOT_POLL_S": "0",
        "FRAUDGRAPH_ENVIRONMENT": "development",
        "FRAUDGRAPH_API_QUERY_TIMEOUT_S": "30",
        **(extra or {}),
    }


@contextmanager
def api_server(
    store: Path,
    *,
    workers: int,
    cpus: str,
    log_path: Path,
    env_extra: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``fraudgraph serve --workers N`` on ``store`` (info log level, for the start lines)."""
    port = free_port()
    command = [
        sys.executable, "-m", "fraudgraph.cli", "serve", "--store", str(store),
        "--port", str(port), "--workers", str(workers), "--log-level", "info",
    ]  # fmt: skip
    with serve_process(
        command,
        env=server_env(env_extra),
        cpus=cpus,
        workers=workers,
        port=port,
        log_path=log_path,
        ready=api_ready,
    ) as server:
        yield server


@contextmanager
def bare_server(body_file: Path, *, workers: int, cpus: str, log_path: Path) -> Iterator[Server]:
    """``benchmarks/bare_asgi.py`` with the uvicorn options of ``fraudgraph serve``."""
    from benchmarks.bare_asgi import BODY_FILE_ENV

    port = free_port()
    command = [
        sys.executable, str(REPO / "benchmarks" / "bare_asgi.py"), "--port", str(port),
        "--workers", str(workers), "--log-level", "info",
    ]  # fmt: skip
    with serve_process(
        command,
        env=server_env({BODY_FILE_ENV: str(body_file)}),
        cpus=cpus,
        workers=workers,
        port=port,
        log_path=log_path,
        ready=bare_ready,
    ) as server:
        yield server


# -- key streams -------------------------------------------------------------------------------


def feature_path(key: str) -> str:
    return f"/v1/features/Account/{key}"


def write_paths(path: Path, keys: Sequence[str]) -> Path:
    """One GET path per key."""
    path.write_text("".join(f"{feature_path(k)}\n" for k in keys))
    return path


def zipf_keys(keys: Sequence[str], *, s: float, n: int, seed: int) -> list[str]:
    """``n`` draws from a Zipf(``s``) law over a random permutation of ``keys`` (rank r
    drawn with probability proportional to 1/r^s): a skewed stream with hot keys."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(keys))
    weights = 1.0 / np.arange(1, len(keys) + 1, dtype=np.float64) ** s
    cdf = np.cumsum(weights)
    ranks = np.searchsorted(cdf, rng.random(n) * cdf[-1])
    return [keys[i] for i in order[np.minimum(ranks, len(keys) - 1)]]


def stream_summary(keys: Sequence[str]) -> dict[str, Any]:
    """How skewed a key stream is: distinct keys, and the share of the top 1% of them."""
    _, counts = np.unique(np.asarray(keys, dtype=object), return_counts=True)
    counts = np.sort(counts)[::-1]
    top = max(1, len(counts) // 100)
    return {
        "draws": len(keys),
        "distinct_keys": len(counts),
        "top_1pct_keys_share": round(float(counts[:top].sum() / counts.sum()), 3),
    }


def write_batch_bodies(
    path: Path, keys: Sequence[str], *, per_call: int, calls: int, seed: int
) -> Path:
    """``calls`` batch bodies of ``per_call`` uniformly drawn Account keys, one per line."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(calls):
        picked = rng.integers(0, len(keys), per_call)
        entities = [{"type": "Account", "key": keys[i]} for i in picked]
        lines.append(json.dumps({"entities": entities}, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")
    return path


# -- feature-cache counters --------------------------------------------------------------------

_COUNTER = re.compile(
    r'^fraudgraph_feature_cache_(hits|misses)_total\{cache="([^"]+)"\} ([0-9.eE+-]+)$', re.M
)


def cache_counters(url: str) -> dict[str, float]:
    """``{"<cache>.hits": n, "<cache>.misses": n}`` from one ``/metrics`` scrape."""
    import httpx

    text = httpx.get(f"{url}/metrics", headers={"X-API-Key": SCORER_KEY}, timeout=10).text
    return {f"{cache}.{kind}": float(value) for kind, cache, value in _COUNTER.findall(text)}


def near_cache_hit_rate(url: str, since: dict[str, float] | None = None) -> dict[str, Any]:
    """The near cache's hit rate: near hits over all feature lookups (since ``since``).

    The server counts ``hits{cache="near"}`` for bodies its near cache answered, and
    hits and misses of ``redis`` (and ``memory``, on a fallback) for the lookups that
    went further; so all lookups are near hits plus those. Waits out the server's metric
    fold (about a second) and reads one ``/metrics``: with several workers the server
    merges every worker's counters. ``None`` without a ``near`` label (no near cache).
    """
    time.sleep(1.5)
    counters = cache_counters(url)
    delta = {k: v - (since or {}).get(k, 0.0) for k, v in counters.items()}
    near_hits = delta.get("near.hits")
    further = sum(v for k, v in delta.items() if k.split(".")[0] in ("redis", "memory"))
    lookups = (near_hits or 0.0) + further
    rate = round(near_hits / lookups, 4) if near_hits is not None and lookups else None
    return {
        "near_hit_rate": rate,
        "lookups": int(lookups),
        "counters": {k: int(v) for k, v in sorted(delta.items())},
        "totals": counters,
    }
