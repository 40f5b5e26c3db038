"""The real server: ``fraudgraph serve`` (uvicorn) over loopback, the feature client, and
a real GraphQL client (gql) running the investigator queries."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXTransport

from api.client import FeatureClient, FeatureRequestFailed
from scoring.feature_cache import FeatureCache
from tests.api.conftest import AnalysedStore, copy_store, serve_over_http


@pytest.fixture(scope="module")
def server(analysed: AnalysedStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``fraudgraph serve`` on a free port over a copy of the analysed store; its base URL."""
    with serve_over_http(copy_store(analysed, tmp_path_factory.mktemp("served"))) as served:
        yield served.url


def test_feature_client_over_real_http(server: str, analysed: AnalysedStore) -> None:
    """The client reads single and batched features, None for unknown entities."""
    key = analysed.snapshot.keys[5]
    expected = FeatureCache(analysed.snapshot).get("Account", key)
    assert expected is not None
    with FeatureClient(server, api_key="dev-scorer", timeout_s=5) as client:
        assert client.get("Account", key) == expected.as_dict()
        assert client.get("Account", "no such account") is None
        batch = client.get_many(
            [("Account", key), ("Account", "nobody"), ("account", analysed.snapshot.keys[6])]
        )
        assert [b and b["key"] for b in batch] == [key, None, analysed.snapshot.keys[6]]


def test_feature_client_errors_carry_status_and_code(server: str) -> None:
    """A wrong role raises FeatureRequestFailed with 403/forbidden; a bad type 400."""
    with FeatureClient(server, api_key="dev-investigator", timeout_s=5) as client:
        with pytest.raises(FeatureRequestFailed) as failure:
            client.get("Account", "A1")
        assert (failure.value.http_status, failure.value.code) == (403, "forbidden")
    with (
        FeatureClient(server, api_key="dev-scorer", timeout_s=5) as client,
        pytest.raises(FeatureRequestFailed, match="400 invalid_input"),
    ):
        client.get("Planet", "A1")


def test_feature_client_local_lru_skips_the_round_trip(
    server: str, analysed: AnalysedStore
) -> None:
    """With a local LRU, a repeated look-up is answered without a request (metrics unchanged)."""
    key = analysed.snapshot.keys[7]

    def hits() -> float:
        for line in httpx.get(f"{server}/metrics").text.splitlines():
            if line.startswith('fraudgraph_feature_cache_hits_total{cache="memory"}'):
                return float(line.split()[-1])
        return 0.0

    with FeatureClient(
        server, api_key="dev-scorer", timeout_s=5, cache_size=10, cache_ttl_s=60
    ) as client:
        first = client.get("Account", key)
        before = hits()
        assert client.get("Account", key) == first
        assert client.get_many([("Account", key)]) == [first]
        assert hits() == before


def test_gql_client_runs_the_investigator_queries(server: str, analysed: AnalysedStore) -> None:
    """A real GraphQL client (gql, schema fetched by introspection) runs every query type."""
    transport = HTTPXTransport(
        url=f"{server}/graphql", headers={"X-API-Key": "dev-investigator"}, timeout=30
    )
    with Client(transport=transport, fetch_schema_from_transport=True) as session:
        rings = session.execute(
            GraphQLRequest(
                "{ rings(first: 3, orderBy: SCORE_DESC) { totalCount nodes { id score memberIds } } }"
            )
        )["rings"]
        assert rings["totalCount"] >= 1
        ring = rings["nodes"][0]
        detail = session.execute(
            GraphQLRequest(
                "query($id: String!) { ring(id: $id) { id reasons members(first: 5) { key risk } "
                "evidence { type key } } }",
                variable_values={"id": ring["id"]},
            )
        )["ring"]
        member = detail["members"][0]["key"]
        found = session.execute(
            GraphQLRequest(
                "query($k: String!) { entity(type: ACCOUNT, key: $k) { key risk ring { id } } "
                "neighbours(type: ACCOUNT, key: $k, first: 50) { edges { node { key type } } } "
                "sharedIdentifiers(account: $k) { accounts { account { key } } } "
                "moneyFlow(account: $k, depth: 2) { links { hop } } }",
                variable_values={"k": member},
            )
        )
        assert found["entity"]["key"] == member and found["entity"]["ring"] is not None
        assert found["neighbours"]["edges"]
        label = session.execute(
            GraphQLRequest(
                'mutation($k: String!) { labelEntity(type: ACCOUNT, key: $k, label: FRAUD, reason: "seen") { author } }',
                variable_values={"k": member},
            )
        )
        assert label["labelEntity"]["author"] == "dev-investigator"
