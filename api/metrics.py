"""Prometheus metrics of one API app.

Single process: each app has its own registry, so apps (tests build many in one process)
never share counters. Several worker processes (``fraudgraph serve --workers N``):
``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start, each worker writes
its samples to files there, and ``/metrics`` on any worker answers the sum over all of
them (prometheus_client's multiprocess mode). Counters and histograms add up; each gauge
says how its workers' values combine (see :class:`ApiMetrics`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_TYPE_LATEST",
    "FOLD_EVERY_S",
    "LATENCY_BUCKETS",
    "MULTIPROC_DIR_ENV",
    "ApiMetrics",
    "CounterTally",
    "HistogramTally",
    "LatencyMiddleware",
    "multiprocess_dir",
]

log = logging.getLogger(__name__)

#: The variable prometheus_client reads, when a process starts, to share samples in files.
MULTIPROC_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

#: Latency buckets in seconds, fine below a millisecond for the feature path.
LATENCY_BUCKETS = (
    0.0002,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def multiprocess_dir() -> Path | None:
    """The directory worker processes share their samples in, ``None`` in a single process.

    Notes
    -----
    prometheus_client decides when it is imported whether samples go to files, so the
    variable must be set before the process starts (``fraudgraph serve`` sets it before it
    spawns the workers).
    """
    value = os.environ.get(MULTIPROC_DIR_ENV)
    return Path(value) if value else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def _forget_dead_workers(path: Path) -> None:
    """Drop the live gauges of processes that died without saying so (killed workers)."""
    pids = set()
    for file in path.glob("gauge_live*_*.db"):
        found = re.fullmatch(r"gauge_live[a-z]+_(\d+)\.db", file.name)
        if found:
            pids.add(int(found.group(1)))
    for pid in pids:
        if not _pid_alive(pid):
            _multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]


class ApiMetrics:
    """The app's metrics.

    Attributes
    ----------
    registry : CollectorRegistry
        What ``/metrics`` renders (see :meth:`render`): the app's own metrics in a single
        process; in multiprocess mode the samples of every worker, merged.
    multiprocess_dir : Path or None
        Where the workers share their samples (``PROMETHEUS_MULTIPROC_DIR``), if set.
    request_seconds : Histogram
        ``fraudgraph_http_request_seconds{route, method, status}``.
    cache_hits, cache_misses : Counter
        ``fraudgraph_feature_cache_{hits,misses}_total{cache}``: entities found or not.
    cache_fallbacks : Counter
        ``fraudgraph_feature_cache_fallback_total``: reads answered by the in-process
        snapshot because Redis failed.
    redis_up : Gauge
        1 while the last Redis read worked, 0 after one failed. Workers: the minimum over
        live workers (0 if any worker's last read failed).
    snapshot_info : Gauge
        ``fraudgraph_feature_snapshot_info{version, cache}`` = 1 for the version served.
        Workers: the maximum over live workers, so a version is 1 while any worker serves
        it and 0 once none does; two versions at 1 mean the workers disagree (a swap under
        way, or a worker that failed to reload).
    snapshot_created : Gauge
        Unix time the served in-process snapshot was produced. Workers: the minimum over
        live workers, i.e. the oldest snapshot still served (what a staleness alert needs).
    snapshot_entities : Gauge
        Entities in the in-process snapshot. Workers: the value set last by a live worker
        (the snapshot loaded most recently).
    graphql_errors : Counter
        ``fraudgraph_graphql_errors_total{code}``.

    Notes
    -----
    Gauges use prometheus_client's ``live*`` modes: a worker's gauges leave with it
    (:meth:`close` at shutdown; those of a killed worker are dropped when its replacement
    starts), while counters and histograms keep the counts of workers that have gone.
    """

    def __init__(self) -> None:
        self.multiprocess_dir = multiprocess_dir()
        # Multiprocess mode: the metrics live in files and /metrics reads them all, so
        # they are kept out of the registry it renders (it would count this worker twice).
        r = CollectorRegistry(auto_describe=True)
        self.registry = r
        if self.multiprocess_dir is not None:
            _forget_dead_workers(self.multiprocess_dir)
            self.registry = CollectorRegistry()
            _multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
                self.registry, path=str(self.multiprocess_dir)
            )
        self.request_seconds = Histogram(
            "fraudgraph_http_request_seconds",
            "HTTP request latency by route",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter(
            "fraudgraph_feature_cache_hits",
            "Entities found in the feature cache",
            ["cache"],
            registry=r,
        )
        self.cache_misses = Counter(
            "fraudgraph_feature_cache_misses",
            "Entities not in the feature cache",
            ["cache"],
            registry=r,
        )
        self.cache_fallbacks = Counter(
            "fraudgraph_feature_cache_fallback",
            "Feature reads served from the in-process snapshot because Redis failed",
            registry=r,
        )
        self.redis_up = Gauge(
            "fraudgraph_feature_cache_redis_up",
            "1 if the last Redis read worked",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.snapshot_info = Gauge(
            "fraudgraph_feature_snapshot_info",
            "The snapshot version served (value 1)",
            ["version", "cache"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.snapshot_created = Gauge(
            "fraudgraph_feature_snapshot_created_timestamp_seconds",
            "When the in-process snapshot was produced",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.snapshot_entities = Gauge(
            "fraudgraph_feature_snapshot_entities",
            "Entities in the in-process snapshot",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.graphql_errors = Counter(
            "fraudgraph_graphql_errors", "GraphQL errors by code", ["code"], registry=r
        )

        self._tallies: list[CounterTally | HistogramTally] = []
        self._latency_tallies: dict[tuple[str, str, str], HistogramTally] = {}

    def latency_tally(self, route: str, method: str, status: str) -> HistogramTally:
        """The :class:`HistogramTally` of ``request_seconds{route, method, status}``."""
        key = (route, method, status)
        tally = self._latency_tallies.get(key)
        if tally is None:
            tally = HistogramTally(self.request_seconds.labels(route, method, status))
            self._latency_tallies[key] = tally
            self._tallies.append(tally)
        return tally

    def counter_tally(self, child: Any) -> CounterTally:
        """A :class:`CounterTally` in front of a counter (or a labelled child of one)."""
        tally = CounterTally(child)
        self._tallies.append(tally)
        return tally

    def fold(self) -> None:
        """Add every tally's pending counts to its Prometheus metric.

        Call it from the event loop the tallies are counted on (the app folds every
        :data:`FOLD_EVERY_S` and before each ``/metrics`` answer).
        """
        for tally in self._tallies:
            tally.fold()

    def set_snapshot(self, cache: str, version: str | None) -> None:
        """Record ``version`` as the one ``cache`` serves (clearing the previous one)."""
        for metric in list(self.snapshot_info.collect()):
            for sample in metric.samples:
                if sample.labels.get("cache") != cache or sample.labels["version"] == version:
                    continue
                if self.multiprocess_dir is None:
                    self.snapshot_info.remove(sample.labels["version"], cache)
                else:  # a sample in a file cannot be removed, only zeroed
                    self.snapshot_info.labels(sample.labels["version"], cache).set(0)
        if version is not None:
            self.snapshot_info.labels(version=version, cache=cache).set(1)

    def render(self) -> bytes:
        """The Prometheus text exposition of :attr:`registry` (content type
        :data:`CONTENT_TYPE_LATEST`)."""
        return generate_latest(self.registry)

    def close(self) -> None:
        """Multiprocess mode: withdraw this process's live gauges (it is shutting down)."""
        if self.multiprocess_dir is not None:
            _multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
                os.getpid(), str(self.multiprocess_dir)
            )


#: Seconds between folds of the tallies into the Prometheus metrics (what ``/metrics`` of
#: another worker can lag this one's requests).
FOLD_EVERY_S: Final = 1.0


class CounterTally:
    """Increments of a counter kept as a plain int until :meth:`fold`.

    A Prometheus ``inc`` takes a lock (and, with several workers, writes a shared file);
    the feature path counts tens of thousands of hits a second, so it adds here (one
    integer addition) and the app folds the sum in about once a second.
    """

    __slots__ = ("_child", "pending")

    def __init__(self, child: Any) -> None:
        self._child = child
        self.pending = 0

    def add(self, amount: int = 1) -> None:
        """Count ``amount`` more."""
        self.pending += amount

    def fold(self) -> None:
        """Add the pending amount to the counter."""
        amount, self.pending = self.pending, 0
        if amount:
            self._child.inc(amount)


class HistogramTally:
    """Observations of one histogram child kept as bucket counts until :meth:`fold`.

    :meth:`observe` is one binary search and two additions; :meth:`fold` adds the counts
    to the child's buckets and sum, so the exposition is the same as if each value had
    been observed there (pinned by a test).
    """

    __slots__ = ("_bounds", "_child", "counts", "total")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._bounds: list[float] = list(child._upper_bounds)
        self.counts = [0] * len(self._bounds)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Record one duration."""
        self.counts[bisect_left(self._bounds, seconds)] += 1
        self.total += seconds

    def fold(self) -> None:
        """Add the recorded durations to the histogram child."""
        counts, total = self.counts, self.total
        if not any(counts):
            return
        self.counts, self.total = [0] * len(counts), 0.0
        self._child._sum.inc(total)
        for bucket, count in zip(self._child._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


class LatencyMiddleware:
    """Pure ASGI middleware timing every HTTP request by its route template."""

    def __init__(
        self, app: ASGIApp, metrics: ApiMetrics, fixed_paths: tuple[str, ...] = ("/graphql",)
    ) -> None:
        self.app = app
        self.fixed_paths = frozenset(fixed_paths)
        self.metrics = metrics
        self._children: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = "500"

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or (
                scope["path"] if scope["path"] in self.fixed_paths else "unmatched"
            )
            key = (path, scope.get("method", ""), status)
            child = self._children.get(key)
            if child is None:
                child = self.metrics.request_seconds.labels(*key)
                self._children[key] = child
            child.observe(time.perf_counter() - start)
