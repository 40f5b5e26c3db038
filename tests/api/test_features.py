"""The feature endpoints: values from the snapshot, batch order, bad input, reloads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from graph_service.embedded.store import EmbeddedStore
from scoring.feature_cache import FeatureCache, publish_snapshot
from tests.api.conftest import ADMIN, SCORER, AnalysedStore, AppFactory


def test_get_returns_the_snapshot_feature(client: TestClient, analysed: AnalysedStore) -> None:
    """GET /v1/features/Account/{key} returns exactly the cached feature, type case-free."""
    snapshot = analysed.snapshot
    key = snapshot.keys[10]
    expected = FeatureCache(snapshot).get("Account", key)
    assert expected is not None
    for spelling in ("Account", "account", "ACCOUNT"):
        response = client.get(f"/v1/features/{spelling}/{key}", headers=SCORER)
        assert response.status_code == 200
        body = response.json()
        assert body == expected.as_dict()
    assert set(body) >= {
        "risk", "ring_id", "ring_score", "community_size", "shared_identifiers", "shared_counts",
        "pagerank", "seeded_pagerank", "gnn_score", "reasons", "snapshot_version", "snapshot_time",
    }  # fmt: skip


def test_unknown_entity_is_a_clear_404(client: TestClient) -> None:
    """An entity the snapshot lacks: 404 with code entity_not_found naming the entity."""
    response = client.get("/v1/features/Account/NOBODY-1", headers=SCORER)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "entity_not_found" and "'NOBODY-1'" in error["message"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/features/Planet/A1", 400, "invalid_input"),
        ("/v1/features/Account/" + "k" * 300, 422, "invalid_input"),
        ("/v1/features/" + "t" * 40 + "/A1", 422, "invalid_input"),
        ("/v1/features/Account", 404, "not_found"),
    ],
)
def test_malformed_type_or_key_is_4xx(
    client: TestClient, path: str, status: int, code: str
) -> None:
    """Malformed types and oversized keys get a 4xx with a code, never a 500."""
    response = client.get(path, headers=SCORER)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_batch_keeps_order_and_marks_missing(client: TestClient, analysed: AnalysedStore) -> None:
    """POST /v1/features/batch answers in the order asked, null where missing."""
    keys = analysed.snapshot.keys[:3]
    entities = [
        {"type": "Account", "key": keys[2]},
        {"type": "Device", "key": "D-unknown"},
        {"type": "account", "key": keys[0]},
        {"type": "Account", "key": "missing"},
    ]
    response = client.post("/v1/features/batch", json={"entities": entities}, headers=SCORER)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4 and body["missing"] == 2
    assert [d and d["key"] for d in body["data"]] == [keys[2], None, keys[0], None]


def test_oversized_batch_is_413(make_app: AppFactory) -> None:
    """More entities than the configured cap: 413 limit_exceeded with the cap in the message."""
    with TestClient(make_app(feature_batch_max=5)) as client:
        entities = [{"type": "Account", "key": f"A{i}"} for i in range(6)]
        response = client.post("/v1/features/batch", json={"entities": entities}, headers=SCORER)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "limit_exceeded",
        "message": "6 entities in one batch exceed the cap of 5",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"entities": [{"type": "Account", "key": "A1", "colour": "red"}]},
        {"entities": [], "extra": 1},
        {"entities": [{"type": "Account"}]},
        {"entities": [{"type": "Account", "key": ""}]},
        {"entities": "A1"},
        {},
    ],
)
def test_malformed_batches_are_422(client: TestClient, body: dict[str, object]) -> None:
    """Unknown fields, missing or empty keys and wrong shapes: 422 naming the field."""
    response = client.post("/v1/features/batch", json=body, headers=SCORER)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["details"]


def test_batch_with_a_bad_type_is_400(client: TestClient) -> None:
    """A batch naming an unknown type is refused whole with 400."""
    body = {"entities": [{"type": "Account", "key": "A1"}, {"type": "Galaxy", "key": "x"}]}
    response = client.post("/v1/features/batch", json=body, headers=SCORER)
    assert response.status_code == 400 and "Galaxy" in response.json()["error"]["message"]


def test_non_json_body_is_4xx(client: TestClient) -> None:
    """A body that is not JSON is a 4xx."""
    response = client.post(
        "/v1/features/batch",
        content=b"not json",
        headers={**SCORER, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500


def test_admin_reload_swaps_to_a_newly_published_snapshot(
    make_app: AppFactory, analysed: AnalysedStore, tmp_path: Path
) -> None:
    """After a publish, POST /v1/admin/snapshot/reload serves the new version; metrics show it."""
    shutil.copytree(analysed.settings.store_dir, tmp_path / "store")
    settings = analysed.settings.model_copy(update={"store_dir": tmp_path / "store"})
    with TestClient(make_app(graph_settings=settings)) as client:
        key = analysed.snapshot.keys[0]
        before = client.get(f"/v1/features/Account/{key}", headers=SCORER).json()
        with EmbeddedStore(settings.store_dir, memory_limit="1GB", threads=2) as store:
            published = publish_snapshot(store)
        reloaded = client.post("/v1/admin/snapshot/reload", headers=ADMIN).json()
        assert reloaded["swapped"] and reloaded["version"] == published.version
        after = client.get(f"/v1/features/Account/{key}", headers=SCORER).json()
        assert after["snapshot_version"] == published.version != before["snapshot_version"]
        assert after["risk"] == before["risk"]
        again = client.post("/v1/admin/snapshot/reload", headers=ADMIN).json()
        assert not again["swapped"]
        metrics = client.get("/metrics").text
        assert (
            f'fraudgraph_feature_snapshot_info{{cache="memory",version="{published.version}"}} 1.0'
            in metrics
        )


def test_metrics_count_hits_misses_and_latency_per_route(
    client: TestClient, analysed: AnalysedStore
) -> None:
    """/metrics has per-route latency histograms and cache hit/miss counters."""
    key = analysed.snapshot.keys[0]
    client.get(f"/v1/features/Account/{key}", headers=SCORER)
    client.get("/v1/features/Account/nobody", headers=SCORER)
    text = client.get("/metrics").text
    assert 'fraudgraph_feature_cache_hits_total{cache="memory"} 1.0' in text
    assert 'fraudgraph_feature_cache_misses_total{cache="memory"} 1.0' in text
    assert (
        'fraudgraph_http_request_seconds_count{method="GET",route="/v1/features/{entity_type}/{key}",status="200"} 1.0'
        in text
    )
    assert "fraudgraph_feature_snapshot_entities 1500.0" in text


def test_readyz_reports_store_and_snapshot(client: TestClient, analysed: AnalysedStore) -> None:
    """/readyz is ready with the backend, the snapshot version and entity count."""
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["store"]["backend"] == "embedded" and body["store"]["reachable"]
    assert body["features"]["snapshot_version"] == analysed.snapshot.version
    assert body["features"]["entities"] == len(analysed.snapshot)


def test_on_demand_answers_an_account_missing_from_the_snapshot(
    make_app: AppFactory, analysed: AnalysedStore, tmp_path: Path
) -> None:
    """With on_demand_features, an account in the graph but not in the snapshot gets its
    shared-identifier counts from the graph, marked NOT_IN_SNAPSHOT; unknown ones stay 404."""
    from graph_service.model import NodeType

    shutil.copytree(analysed.settings.store_dir, tmp_path / "store")
    settings = analysed.settings.model_copy(update={"store_dir": tmp_path / "store"})
    key = analysed.snapshot.keys[3]
    expected = FeatureCache(analysed.snapshot).get("Account", key)
    assert expected is not None
    with EmbeddedStore(settings.store_dir, memory_limit="1GB", threads=2) as store:
        table = store.read_table("feature_snapshot")
        import pyarrow.compute as pc

        kept = table.filter(pc.not_equal(table.column("key"), key))
        store.write_table("feature_snapshot", kept, version="29990101T000000.000000Z")
        assert store.get_entity(NodeType.ACCOUNT, key)
    with TestClient(make_app(graph_settings=settings, on_demand_features=True)) as client:
        response = client.get(f"/v1/features/Account/{key}", headers=SCORER)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["reasons"] == ["NOT_IN_SNAPSHOT"] and body["risk"] is None
        assert body["shared_counts"] == expected.shared_counts
        assert client.get("/v1/features/Account/ghost", headers=SCORER).status_code == 404
        assert client.get("/v1/features/Device/ghost", headers=SCORER).status_code == 404
    with TestClient(make_app(graph_settings=settings)) as client:
        assert client.get(f"/v1/features/Account/{key}", headers=SCORER).status_code == 404
