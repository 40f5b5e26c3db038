"""Degradation: Redis down -> the in-process snapshot answers (and metrics say so);
Neo4j down -> features still served, GraphQL a clear 503, readiness degraded."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from graph_service.settings import Neo4jSettings
from scoring.feature_cache import RedisFeatureCache
from tests.api.conftest import (
    INVESTIGATOR,
    SCORER,
    AnalysedStore,
    AppFactory,
    copy_store,
    serve_over_http,
)
from tests.conftest import RedisServer


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} not found")


@pytest.mark.redis
def test_redis_serves_the_published_version(
    make_app: AppFactory, analysed: AnalysedStore, redis_server: RedisServer
) -> None:
    """With feature_cache=redis, features come from Redis (hits labelled redis)."""
    RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="deg1").publish(
        analysed.snapshot
    )
    app = make_app(feature_cache="redis", redis_url=redis_server.url, redis_prefix="deg1")
    with TestClient(app) as client:
        key = analysed.snapshot.keys[1]
        body = client.get(f"/v1/features/Account/{key}", headers=SCORER).json()
        assert body["key"] == key and body["snapshot_version"] == analysed.snapshot.version
        text = client.get("/metrics").text
        assert 'fraudgraph_feature_cache_hits_total{cache="redis"} 1.0' in text
        assert _metric(text, "fraudgraph_feature_cache_redis_up") == 1.0
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["features"]["redis"]["reachable"]


@pytest.mark.redis
def test_redis_down_falls_back_to_the_in_process_snapshot(
    make_app: AppFactory, analysed: AnalysedStore, own_redis: RedisServer
) -> None:
    """Redis stopped: the same answers from the in-process snapshot; fallback counted.

    The keys read after the stop were never read before it, so the near-cache (which may
    answer for one version-poll interval) cannot be what answers them."""
    RedisFeatureCache(redis.Redis.from_url(own_redis.url), prefix="deg2").publish(analysed.snapshot)
    app = make_app(feature_cache="redis", redis_url=own_redis.url, redis_prefix="deg2")
    with TestClient(app) as client:
        key = analysed.snapshot.keys[2]
        before = client.get(f"/v1/features/Account/{key}", headers=SCORER)
        assert before.content == analysed.snapshot.body_at(2)
        own_redis.stop()
        key = analysed.snapshot.keys[3]
        after = client.get(f"/v1/features/Account/{key}", headers=SCORER)
        assert after.status_code == 200 and after.content == analysed.snapshot.body_at(3)
        batch = client.post(
            "/v1/features/batch",
            json={"entities": [{"type": "Account", "key": key}]},
            headers=SCORER,
        )
        assert batch.status_code == 200 and batch.json()["data"][0]["key"] == key
        text = client.get("/metrics").text
        assert _metric(text, "fraudgraph_feature_cache_fallback_total") >= 2
        assert _metric(text, "fraudgraph_feature_cache_redis_up") == 0.0
        assert 'fraudgraph_feature_cache_hits_total{cache="memory"}' in text
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["features"]["redis"]["reachable"] is False


@pytest.mark.redis
def test_redis_down_without_a_snapshot_is_503(make_app: AppFactory, tmp_path: object) -> None:
    """Nothing to serve from (Redis unreachable, no snapshot loaded): 503 with a clear code."""
    from pathlib import Path

    from graph_service.settings import Settings

    empty = Settings(store_dir=Path(str(tmp_path)) / "none")
    app = create_app(
        ApiSettings(snapshot_poll_s=0, feature_cache="redis", redis_url="redis://127.0.0.1:1/0"),
        empty,
    )
    with TestClient(app) as client:
        response = client.get("/v1/features/Account/A1", headers=SCORER)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "backend_unavailable"
        assert client.get("/readyz").status_code == 503


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target port until stopped (a cut network link)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.running:
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        self.running = False
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture
def cut_neo4j(neo4j_analysed: AnalysedStore) -> Iterator[tuple[AnalysedStore, TcpProxy]]:
    """The analysed Neo4j store reached through a proxy the test can cut."""
    from urllib.parse import urlparse

    target = urlparse(neo4j_analysed.settings.neo4j.uri).port
    assert target is not None
    proxy = TcpProxy(target)
    neo = neo4j_analysed.settings.neo4j
    settings = neo4j_analysed.settings.model_copy(
        update={
            "neo4j": Neo4jSettings(
                uri=f"bolt://127.0.0.1:{proxy.port}", password=neo.password, query_timeout_s=5
            )
        }
    )
    yield (
        AnalysedStore(
            settings=settings, snapshot=neo4j_analysed.snapshot, scenario=neo4j_analysed.scenario
        ),
        proxy,
    )
    proxy.stop()


@pytest.mark.neo4j
def test_neo4j_down_keeps_features_and_answers_graphql_503(
    cut_neo4j: tuple[AnalysedStore, TcpProxy],
) -> None:
    """Neo4j cut off: features still served from the cache, GraphQL 503 backend_unavailable,
    /readyz degraded."""
    served, proxy = cut_neo4j
    app = create_app(ApiSettings(snapshot_poll_s=0, query_timeout_s=20), served.settings)
    key = served.snapshot.keys[0]
    query = {"query": f'{{ entity(type: ACCOUNT, key: "{key}") {{ key risk }} }}'}
    with TestClient(app) as client:
        assert client.post("/graphql", json=query, headers=INVESTIGATOR).status_code == 200
        assert client.get("/readyz").json()["status"] == "ready"
        proxy.stop()
        features = client.get(f"/v1/features/Account/{key}", headers=SCORER)
        assert features.status_code == 200 and features.json()["key"] == key
        graphql = client.post("/graphql", json=query, headers=INVESTIGATOR)
        assert graphql.status_code == 503
        assert graphql.json()["errors"][0]["extensions"]["code"] == "backend_unavailable"
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["store"]["reachable"] is False


@pytest.mark.redis
def test_redis_killed_under_load_costs_no_errors(
    analysed: AnalysedStore, own_redis: RedisServer, tmp_path: Path
) -> None:
    """The real server in Redis mode under concurrent load; Redis killed half way: every
    request before and after is a 200 with the same bytes (the in-process snapshot takes
    over in the request whose Redis read failed), and the fallback is counted."""
    snapshot = analysed.snapshot
    RedisFeatureCache(redis.Redis.from_url(own_redis.url), prefix="kill").publish(snapshot)
    expected = {
        key: snapshot.body_at(row)
        for row, (kind, key) in enumerate(zip(snapshot.entity_types, snapshot.keys, strict=True))
        if kind == "Account"
    }
    keys = sorted(expected)
    env = {
        "FRAUDGRAPH_API_FEATURE_CACHE": "redis",
        "FRAUDGRAPH_API_REDIS_URL": own_redis.url,
        "FRAUDGRAPH_API_REDIS_PREFIX": "kill",
    }
    outcomes: list[tuple[float, int, bool]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def load(api_url: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            with httpx.Client(base_url=api_url, headers=SCORER, timeout=5) as client:
                while not stop.is_set():
                    key = rng.choice(keys)
                    response = client.get(f"/v1/features/Account/{key}")
                    same = response.content == expected[key]
                    outcomes.append((time.monotonic(), response.status_code, same))
        except BaseException as exc:  # any transport error is a failure of the test
            failures.append(exc)

    with serve_over_http(copy_store(analysed, tmp_path), env=env) as api:
        threads = [threading.Thread(target=load, args=(api.url, i)) for i in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        killed_at = time.monotonic()
        own_redis.stop()
        time.sleep(2.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        text = httpx.get(f"{api.url}/metrics").text
    assert not failures, failures
    assert sum(1 for t, _, _ in outcomes if t < killed_at) > 50
    assert sum(1 for t, _, _ in outcomes if t > killed_at) > 50
    assert all(status == 200 and same for _, status, same in outcomes)
    assert _metric(text, "fraudgraph_feature_cache_fallback_total") > 0
    assert _metric(text, 'fraudgraph_feature_cache_hits_total{cache="memory"}') > 0
    assert _metric(text, "fraudgraph_feature_cache_redis_up") == 0.0
