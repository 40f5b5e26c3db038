"""``fraudgraph serve --workers 2`` over HTTP: both workers answer, one admin reload
reaches every worker, a Redis publish reaches every worker's near-cache, ``/metrics``
counts every worker's requests, and the private directories of the worker group go when
the server stops. A single process (no run directory) reloads alone, as before."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import FOLD_EVERY_S
from api.reload_signal import SIGNAL_FILE
from graph_service.embedded.store import EmbeddedStore
from scoring.feature_cache import FeatureSnapshot, RedisFeatureCache, publish_snapshot
from tests.api.conftest import ADMIN, SCORER, AnalysedStore, copy_store, serve_over_http
from tests.conftest import RedisServer

FEATURE_ROUTE = "/v1/features/{entity_type}/{key}"

T = TypeVar("T")


class WorkerGroup:
    """The module's two-worker server: its URL, store and temporary directory."""

    def __init__(self, url: str, store: Path, tmp: Path) -> None:
        self.url = url
        self.store = store
        self.tmp = tmp

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """One request on a fresh connection (so that any worker may accept it)."""
        return httpx.get(f"{self.url}{path}", timeout=5, **kwargs)

    def private_dirs(self) -> list[Path]:
        """The worker group's private directories (``serve`` makes them in ``TMPDIR``)."""
        return sorted(self.tmp.glob("fraudgraph-serve-*"))


def until(check: Callable[[], T | None], *, within_s: float, what: str) -> T:
    """Call ``check`` until it returns a value other than ``None``; fail after ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within_s:g} s")
        time.sleep(0.02)


def readiness_by_pid(group: WorkerGroup, *, within_s: float = 20) -> dict[int, dict[str, Any]]:
    """``/readyz`` bodies of both workers (fresh connections until two pids answered)."""
    seen: dict[int, dict[str, Any]] = {}

    def both() -> dict[int, dict[str, Any]] | None:
        body = group.get("/readyz").json()
        seen[body["worker"]["pid"]] = body
        return seen if len(seen) >= 2 else None

    return until(both, within_s=within_s, what="two distinct worker pids on /readyz")


def samples(group: WorkerGroup, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples ``name`` of ``/metrics``: labels (sorted pairs) -> value."""
    found = {}
    for family in text_string_to_metric_families(group.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def request_counts(group: WorkerGroup) -> dict[str, float]:
    """``fraudgraph_http_request_seconds_count`` per route, summed over methods and statuses."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(group.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "fraudgraph_http_request_seconds_count":
                route = sample.labels["route"]
                counts[route] = counts.get(route, 0.0) + sample.value
    return counts


@pytest.fixture(scope="module")
def group(
    analysed: AnalysedStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerGroup]:
    """Two workers over a copy of the analysed store; they hold the store file only for the
    duration of a read, so that the test can publish into it while they run."""
    work = tmp_path_factory.mktemp("multiworker")
    store = copy_store(analysed, work)
    tmp = work / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp), "FRAUDGRAPH_API_EMBEDDED_HOLD_S": "0"}
    with serve_over_http(store, workers=2, env=env) as served:
        yield WorkerGroup(served.url, store, tmp)


def test_both_workers_answer_and_say_who_they_are(group: WorkerGroup) -> None:
    """Over fresh connections both workers answer /readyz, each with its own pid, and the
    existing readiness fields are unchanged."""
    bodies = readiness_by_pid(group)
    assert len(bodies) == 2
    for pid, body in bodies.items():
        assert body["worker"]["pid"] == pid
        assert body["status"] == "ready"
        assert set(body) == {"status", "store", "features", "worker"}
        assert body["features"]["snapshot_loaded"]


def test_one_admin_reload_reaches_every_worker(group: WorkerGroup, analysed: AnalysedStore) -> None:
    """After a publish into the served store, one POST /v1/admin/snapshot/reload (answered
    by one worker) makes every worker serve the new snapshot within a few seconds; the
    merged gauges then show the new version at 1, the old one at 0, and its time."""
    readiness_by_pid(group)  # both workers up before the store is written
    with EmbeddedStore(group.store, memory_limit="1GB", threads=2) as store:
        published = publish_snapshot(store)
    assert published.version != analysed.snapshot.version

    reloaded = httpx.post(f"{group.url}/v1/admin/snapshot/reload", headers=ADMIN, timeout=10)
    assert reloaded.status_code == 200
    answer = reloaded.json()
    assert answer["version"] == published.version
    assert answer["broadcast"] is True and answer["reload_generation"]

    def every_worker_applied() -> dict[int, dict[str, Any]] | None:
        bodies = readiness_by_pid(group)
        applied = all(
            body["features"]["snapshot_version"] == published.version
            and body["worker"]["reload_generation"] == answer["reload_generation"]
            for body in bodies.values()
        )
        return bodies if applied else None

    until(every_worker_applied, within_s=5, what="every worker on the new snapshot")
    key = analysed.snapshot.keys[0]
    versions = {
        group.get(f"/v1/features/Account/{key}", headers=SCORER).json()["snapshot_version"]
        for _ in range(30)
    }
    assert versions == {published.version}
    assert samples(group, "fraudgraph_feature_snapshot_info") == {
        (("cache", "memory"), ("version", published.version)): 1.0,
        (("cache", "memory"), ("version", analysed.snapshot.version)): 0.0,
    }
    assert samples(group, "fraudgraph_feature_snapshot_created_timestamp_seconds") == {
        (): published.created_at.timestamp()
    }


def test_workers_map_one_shared_body_file(group: WorkerGroup) -> None:
    """Both workers serve the same snapshot's bodies from one file in the group's run
    directory, mapped by each (one page-cache copy per host, not one per worker)."""
    bodies = readiness_by_pid(group)
    version = {b["features"]["snapshot_version"] for b in bodies.values()}
    assert len(version) == 1
    (run_dir,) = group.private_dirs()
    (body_file,) = run_dir.glob(f"**/feature-bodies-{version.pop()}.bin")
    for pid in bodies:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert str(body_file) in maps, f"worker {pid} does not map {body_file}"


def test_metrics_count_the_requests_of_every_worker(
    group: WorkerGroup, analysed: AnalysedStore
) -> None:
    """/metrics on either worker reports the requests of both: after K feature GETs and R
    /readyz calls answered by two distinct pids, the route counts rose by exactly K and R
    on every read of /metrics."""
    # A worker folds its tallies into the shared samples once a period (and before its own
    # /metrics answer), so the other worker's last requests show only a period later.
    time.sleep(FOLD_EVERY_S * 1.5)
    before = request_counts(group)
    key = analysed.snapshot.keys[1]
    k = 40
    for _ in range(k):
        assert group.get(f"/v1/features/Account/{key}", headers=SCORER).status_code == 200
    pids: list[int] = []

    def two_pids() -> list[int] | None:
        pids.append(group.get("/readyz").json()["worker"]["pid"])
        return pids if len(set(pids)) >= 2 else None

    until(two_pids, within_s=20, what="/readyz answered by both workers")
    r = len(pids)

    def rose() -> dict[str, float] | None:
        after = request_counts(group)
        grown = after.get(FEATURE_ROUTE, 0) - before.get(FEATURE_ROUTE, 0) >= k
        return after if grown and after["/readyz"] - before.get("/readyz", 0) >= r else None

    until(rose, within_s=5, what=f"{k} feature requests counted")
    for _ in range(8):  # any worker may answer each of these
        after = request_counts(group)
        assert after.get(FEATURE_ROUTE, 0) - before.get(FEATURE_ROUTE, 0) == k
        assert after["/readyz"] - before.get("/readyz", 0) == r


def test_a_corrupt_reload_signal_is_logged_and_serving_goes_on(
    group: WorkerGroup, analysed: AnalysedStore
) -> None:
    """Garbage in the run directory's signal file leaves every worker ready and serving;
    the next admin reload signals every worker again."""
    (run_dir,) = group.private_dirs()
    (run_dir / SIGNAL_FILE).write_bytes(b"\x00not json")
    time.sleep(0.6)  # a few watch periods
    bodies = readiness_by_pid(group)
    assert all(body["status"] == "ready" for body in bodies.values())
    key = analysed.snapshot.keys[2]
    assert group.get(f"/v1/features/Account/{key}", headers=SCORER).status_code == 200

    answer = httpx.post(f"{group.url}/v1/admin/snapshot/reload", headers=ADMIN, timeout=10)
    generation = answer.json()["reload_generation"]

    def every_worker_applied() -> bool | None:
        bodies = readiness_by_pid(group)
        done = all(b["worker"]["reload_generation"] == generation for b in bodies.values())
        return True if done else None

    until(every_worker_applied, within_s=5, what="every worker on the new signal")


def test_a_single_process_reloads_alone_and_says_so(client: TestClient) -> None:
    """Without a run directory the reload is not broadcast (``broadcast`` false, no
    generation) and /readyz names this process with no generation applied."""
    answer = client.post("/v1/admin/snapshot/reload", headers=ADMIN).json()
    assert answer["broadcast"] is False and answer["reload_generation"] is None
    worker = client.get("/readyz").json()["worker"]
    assert worker == {"pid": os.getpid(), "reload_generation": None}


def test_private_directories_go_when_the_server_stops(
    analysed: AnalysedStore, tmp_path: Path
) -> None:
    """serve --workers 2 makes one private directory (run directory and metrics files)
    while it runs and removes it when stopped."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    store = copy_store(analysed, tmp_path)
    with serve_over_http(store, workers=2, env={"TMPDIR": str(tmp)}) as served:
        (private,) = tmp.glob("fraudgraph-serve-*")
        assert (private / "metrics").is_dir()
        assert httpx.get(f"{served.url}/metrics", timeout=5).status_code == 200
        assert list((private / "metrics").glob("*.db"))
    assert served.process.returncode is not None
    assert not list(tmp.glob("fraudgraph-serve-*"))


@pytest.mark.redis
def test_a_redis_publish_reaches_every_worker_through_its_near_cache(
    analysed: AnalysedStore, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis mode, two workers: both serve the same key from their near-caches; a new
    version published to Redis (no admin call) is what every worker serves within a
    second, and the merged metrics count near-cache hits."""
    client = redis.Redis.from_url(redis_server.url)
    cache = RedisFeatureCache(client, prefix="mw")
    cache.publish(analysed.snapshot)
    env = {
        "TMPDIR": str(tmp_path),
        "FRAUDGRAPH_API_FEATURE_CACHE": "redis",
        "FRAUDGRAPH_API_REDIS_URL": redis_server.url,
        "FRAUDGRAPH_API_REDIS_PREFIX": "mw",
    }
    key = analysed.snapshot.keys[0]
    with serve_over_http(copy_store(analysed, tmp_path), workers=2, env=env) as served:
        group = WorkerGroup(served.url, tmp_path, tmp_path)
        readiness_by_pid(group)
        for _ in range(40):  # fresh connections: both workers cache the key
            body = group.get(f"/v1/features/Account/{key}", headers=SCORER).json()
            assert body["snapshot_version"] == analysed.snapshot.version
        near = samples(group, "fraudgraph_feature_cache_hits_total")[(("cache", "near"),)]
        assert near > 0
        republished = FeatureSnapshot(
            analysed.snapshot.table, version="mw-2", created_at=datetime.now(UTC)
        )
        cache.publish(republished)

        def every_answer_new() -> bool | None:
            versions = {
                group.get(f"/v1/features/Account/{key}", headers=SCORER).json()["snapshot_version"]
                for _ in range(20)
            }
            return True if versions == {"mw-2"} else None

        until(every_answer_new, within_s=2, what="every worker on the new Redis version")
        for _ in range(40):
            body = group.get(f"/v1/features/Account/{key}", headers=SCORER).json()
            assert body["snapshot_version"] == "mw-2"
