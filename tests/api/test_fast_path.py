"""The feature fast path: the same bytes as the documented routes, in memory and Redis
mode, and everything it cannot answer exactly handed to the routes untouched."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from api.fast_path import ApiApp
from scoring.feature_cache import RedisFeatureCache
from tests.api.conftest import SCORER, AnalysedStore, AppFactory
from tests.conftest import RedisServer


def _requests(analysed: AnalysedStore) -> list[tuple[str, str, dict[str, Any] | None]]:
    keys = analysed.snapshot.keys
    devices = [
        k for t, k in zip(analysed.snapshot.entity_types, keys, strict=True) if t == "Device"
    ]
    mixed = [{"type": "Account", "key": keys[0]}, {"type": "account", "key": "nobody"}]
    mixed += [{"type": "Device", "key": d} for d in devices[:2]]
    mixed += [{"type": "ACCOUNT", "key": k} for k in keys[1:40]]
    return [
        ("GET", f"/v1/features/Account/{keys[0]}", None),
        ("GET", f"/v1/features/account/{keys[5]}", None),
        ("GET", "/v1/features/Account/nobody", None),
        ("POST", "/v1/features/batch", {"entities": mixed}),
        ("POST", "/v1/features/batch", {"entities": []}),
    ]


def _answers(app: ApiApp, analysed: AnalysedStore) -> list[tuple[int, bytes]]:
    with TestClient(app) as client:
        return [
            (r.status_code, r.content)
            for method, path, body in _requests(analysed)
            for r in [client.request(method, path, json=body, headers=SCORER)]
        ]


def _fast_and_routed(app: ApiApp, analysed: AnalysedStore) -> tuple[list[Any], list[Any]]:
    fast = _answers(app, analysed)
    path, app.fast_path = app.fast_path, None  # every request through the framework
    try:
        routed = _answers(app, analysed)
    finally:
        app.fast_path = path
    return fast, routed


def test_fast_path_and_routes_give_byte_identical_bodies(
    make_app: AppFactory, analysed: AnalysedStore
) -> None:
    """In-process snapshot: GET hit, GET through a lower-case type, 404, mixed batch and
    empty batch: same status, same bytes, with or without the fast path."""
    app = make_app()
    assert isinstance(app, ApiApp)
    fast, routed = _fast_and_routed(app, analysed)
    assert fast == routed
    assert [status for status, _ in fast] == [200, 200, 404, 200, 200]
    snapshot = analysed.snapshot
    assert fast[0][1] == snapshot.built_body_at(snapshot.row_of("Account", snapshot.keys[0]))


@pytest.mark.parametrize("precompute", [True, False], ids=["body-table", "built-per-request"])
def test_served_bodies_are_the_bodies_built_for_the_snapshot(
    make_app: AppFactory, analysed: AnalysedStore, precompute: bool
) -> None:
    """Every account's GET body equals the body built from the published snapshot, whether
    the server answers from its pre-serialised body table (the default) or builds each
    body per request (``precompute_bodies=False``)."""
    app = make_app(precompute_bodies=precompute)
    snapshot = analysed.snapshot
    with TestClient(app) as client:
        served = app.state.features.memory.snapshot
        assert (served.body_table is not None) is precompute
        for row, (kind, key) in enumerate(zip(snapshot.entity_types, snapshot.keys, strict=True)):
            if kind == "Account" and row % 3 == 0:
                answer = client.get(f"/v1/features/{kind}/{key}", headers=SCORER)
                assert answer.status_code == 200
                assert answer.content == snapshot.built_body_at(row)
        # A batch of mixed types with a missing key, and one of a single type.
        rows = list(range(0, len(snapshot), 7))
        for batch in (rows, [r for r in rows if snapshot.entity_types[r] == "Account"]):
            asked = [{"type": snapshot.entity_types[r], "key": snapshot.keys[r]} for r in batch]
            asked.insert(1, {"type": "Account", "key": "nobody"})
            built = [orjson.loads(snapshot.built_body_at(r)) for r in batch]
            built.insert(1, None)
            expected = orjson.dumps({"data": built, "count": len(built), "missing": 1})
            answer = client.post("/v1/features/batch", json={"entities": asked}, headers=SCORER)
            assert answer.status_code == 200
            assert answer.content == expected


def test_a_body_file_that_cannot_be_written_leaves_bodies_built_per_request(
    make_app: AppFactory, analysed: AnalysedStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Where the body table cannot be written (here its directory's name is taken by a
    file), the snapshot still loads and every GET answers the body built per request,
    with a warning in the log."""
    (tmp_path / "feature-bodies").write_text("not a directory")
    app = make_app(run_dir=tmp_path)
    snapshot = analysed.snapshot
    with caplog.at_level("WARNING"), TestClient(app) as client:
        served = app.state.features.memory.snapshot
        assert served is not None and served.body_table is None
        row = snapshot.row_of("Account", snapshot.keys[0])
        answer = client.get(f"/v1/features/Account/{snapshot.keys[0]}", headers=SCORER)
        assert answer.status_code == 200
        assert answer.content == snapshot.built_body_at(row)
    assert any("not precomputed" in r.getMessage() for r in caplog.records)


@pytest.mark.redis
def test_redis_and_memory_bodies_are_byte_identical(
    make_app: AppFactory, analysed: AnalysedStore, redis_server: RedisServer
) -> None:
    """Redis mode (stored bodies, joined for batches) gives the bytes the in-process
    snapshot gives, through the fast path and through the routes."""
    RedisFeatureCache(redis.Redis.from_url(redis_server.url), prefix="fp1").publish(
        analysed.snapshot
    )
    memory = _answers(make_app(), analysed)
    app = make_app(feature_cache="redis", redis_url=redis_server.url, redis_prefix="fp1")
    fast, routed = _fast_and_routed(app, analysed)
    assert fast == routed == memory
    with TestClient(app) as client:
        text = client.get("/metrics").text
    assert 'fraudgraph_feature_cache_hits_total{cache="memory"} 0.0' in text
    assert 'fraudgraph_feature_cache_hits_total{cache="redis"} 0.0' not in text


def test_requests_it_cannot_answer_exactly_reach_the_routes(client: TestClient) -> None:
    """No key, a key of another role, a bad type, an invalid or oversized batch: the
    routes' own errors (401 with its challenge, 403, 400, 422, 413)."""
    no_key = client.get("/v1/features/Account/A1")
    assert no_key.status_code == 401 and no_key.headers["www-authenticate"] == "ApiKey"
    wrong_role = client.get("/v1/features/Account/A1", headers={"X-API-Key": "dev-investigator"})
    assert wrong_role.status_code == 403
    assert client.get("/v1/features/Planet/A1", headers=SCORER).status_code == 400
    bodies: list[dict[str, Any]] = [
        {"entities": [{"type": "Account"}]},
        {"entities": [{"type": "Account", "key": 7}]},
        {"entities": [{"type": "Account", "key": "A1", "extra": 1}]},
        {"entities": "A1"},
        {"others": []},
    ]
    for body in bodies:
        response = client.post("/v1/features/batch", json=body, headers=SCORER)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_input"
    too_many = {"entities": [{"type": "Account", "key": f"A{i}"} for i in range(1_001)]}
    response = client.post("/v1/features/batch", json=too_many, headers=SCORER)
    assert response.status_code == 413


def test_a_batch_body_in_chunks_is_answered_and_a_declined_one_replayed(
    make_app: AppFactory, analysed: AnalysedStore
) -> None:
    """ASGI receive in several chunks: a valid batch is answered from the joined body; an
    invalid one reaches the route with every chunk intact (its 422 names the field)."""
    app = make_app()
    key = analysed.snapshot.keys[0]

    def call(chunks: list[bytes]) -> tuple[int, bytes]:
        messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/features/batch",
            "raw_path": b"/v1/features/batch",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"x-api-key", b"dev-scorer"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        asyncio.run(app(scope, receive, send))
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return status, body

    with TestClient(app):  # the lifespan loads the snapshot
        good = f'{{"entities": [{{"type": "Account", "key": "{key}"}}]}}'.encode()
        status, body = call([good[:10], good[10:30], good[30:]])
        assert status == 200 and body.startswith(b'{"data":[' + analysed.snapshot.body_at(0))
        bad = b'{"entities": [{"type": "Account", "key": 12345}]}'
        status, body = call([bad[:7], bad[7:]])
        assert status == 422 and b"entities.0.key" in body
