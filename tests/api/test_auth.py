"""API keys: hashed storage, roles per endpoint, 401/403, no default key in production."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import DEVELOPMENT_KEYS, KeyRing, Role, Unauthenticated, hash_key
from api.settings import ApiSettings
from graph_service.errors import InvalidInput
from tests.api.conftest import ADMIN, INVESTIGATOR, SCORER, AnalysedStore, AppFactory

GRAPHQL_QUERY = {"query": "{ rings(first: 1) { totalCount } }"}


def test_keys_file_holds_hashes_and_roles(tmp_path: Path) -> None:
    """A key from the file authenticates by its secret; the file holds only the hash."""
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps([{"name": "ana", "role": "investigator", "sha256": hash_key("s3cret")}])
    )
    ring = KeyRing.load(keys_file=path, inline=None, environment="production")
    key = ring.authenticate("s3cret")
    assert (key.name, key.role) == ("ana", Role.INVESTIGATOR)
    assert "s3cret" not in path.read_text()
    with pytest.raises(Unauthenticated, match="unknown API key"):
        ring.authenticate("dev-scorer")


def test_inline_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """FRAUDGRAPH_API_KEYS=name:role:sha256 entries are read by ApiSettings."""
    monkeypatch.setenv(
        "FRAUDGRAPH_API_KEYS", f"bot:scorer:{hash_key('k1')},op:admin:{hash_key('k2')}"
    )
    settings = ApiSettings()
    assert settings.keys is not None
    ring = KeyRing.load(
        keys_file=None, inline=settings.keys.get_secret_value(), environment="production"
    )
    assert ring.authenticate("k1").role is Role.SCORER
    assert ring.authenticate("k2").role is Role.ADMIN


@pytest.mark.parametrize(
    ("inline", "message"),
    [
        ("bot:scorer", "name:role:sha256hex"),
        (f"bot:root:{hash_key('x')}", "role 'root'"),
        ("bot:scorer:abc", "64-hex-digit"),
        (f"b t:scorer:{hash_key('x')}", "key name"),
        (f"a:scorer:{hash_key('x')},a:admin:{hash_key('y')}", "configured twice"),
    ],
)
def test_malformed_key_entries_are_refused(inline: str, message: str) -> None:
    """Each malformed entry is InvalidInput with a message naming the problem."""
    with pytest.raises(InvalidInput, match=message):
        KeyRing.load(keys_file=None, inline=inline, environment="development")


def test_malformed_keys_file_is_refused(tmp_path: Path) -> None:
    """A keys file that is not a JSON list of objects is InvalidInput."""
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(InvalidInput, match=r"keys\.json"):
        KeyRing.load(keys_file=path, inline=None, environment="development")
    path.write_text('{"a": 1}')
    with pytest.raises(InvalidInput, match="expected a JSON list"):
        KeyRing.load(keys_file=path, inline=None, environment="development")


def test_production_without_keys_refuses_to_start(analysed: AnalysedStore) -> None:
    """create_app raises in production when no key is configured (no default key)."""
    production = analysed.settings.model_copy(update={"environment": "production"})
    with pytest.raises(InvalidInput, match="no API keys configured"):
        create_app(ApiSettings(snapshot_poll_s=0), production)


def test_development_keys_only_in_development() -> None:
    """The documented development keys work in development, not in test or production."""
    dev = KeyRing.load(keys_file=None, inline=None, environment="development")
    assert {dev.authenticate(k).role for k in DEVELOPMENT_KEYS} == set(Role)
    test = KeyRing.load(keys_file=None, inline=None, environment="test")
    with pytest.raises(Unauthenticated):
        test.authenticate("dev-admin")


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"),
    [
        ("GET", "/v1/features/Account/A1", None, {"scorer", "admin"}),
        ("POST", "/v1/features/batch", {"entities": []}, {"scorer", "admin"}),
        ("POST", "/graphql", GRAPHQL_QUERY, {"investigator", "admin"}),
        ("POST", "/v1/admin/snapshot/reload", None, {"admin"}),
    ],
)
def test_every_role_on_every_endpoint(
    client: TestClient, method: str, path: str, body: dict[str, object] | None, allowed: set[str]
) -> None:
    """No key: 401; unknown key: 401; wrong role: 403 naming the role; right role: served."""
    for headers, role in ((SCORER, "scorer"), (INVESTIGATOR, "investigator"), (ADMIN, "admin")):
        response = client.request(method, path, json=body, headers=headers)
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["error"]["code"] == "forbidden"
            assert f"role {role!r}" in response.json()["error"]["message"]
    missing = client.request(method, path, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert missing.headers["www-authenticate"] == "ApiKey"
    unknown = client.request(method, path, json=body, headers={"X-API-Key": "guess"})
    assert unknown.status_code == 401


def test_health_and_metrics_need_no_key(client: TestClient) -> None:
    """Liveness, readiness and metrics answer without a key."""
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert "fraudgraph_http_request_seconds" in client.get("/metrics").text


def test_configured_keys_replace_the_development_ones(
    make_app: AppFactory, analysed: AnalysedStore
) -> None:
    """With keys configured, the development keys stop working."""
    app = make_app(keys=f"bot:scorer:{hash_key('real-key')}")
    with TestClient(app) as client:
        key = analysed.snapshot.keys[0]
        assert client.get(f"/v1/features/Account/{key}", headers=SCORER).status_code == 401
        ok = client.get(f"/v1/features/Account/{key}", headers={"X-API-Key": "real-key"})
        assert ok.status_code == 200


def test_graphiql_page_only_outside_production(analysed: AnalysedStore) -> None:
    """GraphiQL is served in development and not in production."""
    with TestClient(create_app(ApiSettings(snapshot_poll_s=0), analysed.settings)) as client:
        page = client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
    production = analysed.settings.model_copy(update={"environment": "production"})
    app = create_app(
        ApiSettings(snapshot_poll_s=0, keys=f"ana:investigator:{hash_key('k')}"), production
    )
    with TestClient(app) as client:
        page = client.get("/graphql", headers={"Accept": "text/html", "X-API-Key": "k"})
        assert "graphiql" not in page.text.lower()
        assert client.get("/docs").status_code == 404


def test_openapi_schema_only_outside_production(analysed: AnalysedStore) -> None:
    """/openapi.json is served in development; in production nobody gets it, key or not."""
    with TestClient(create_app(ApiSettings(snapshot_poll_s=0), analysed.settings)) as client:
        schema = client.get("/openapi.json")
        assert schema.status_code == 200 and "/v1/features/batch" in schema.json()["paths"]
    production = analysed.settings.model_copy(update={"environment": "production"})
    app = create_app(ApiSettings(snapshot_poll_s=0, keys=f"ops:admin:{hash_key('k')}"), production)
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/openapi.json", headers={"X-API-Key": "k"}).status_code == 404
        assert client.get("/docs", headers={"X-API-Key": "k"}).status_code == 404
