"""The investigators' GraphQL API on both backends: queries, mutations, loaders, errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from graph_service.settings import Settings
from graph_service.store import GraphStore, open_store
from queries import money_flow, neighbourhood, ring_flow
from scoring.feature_cache import FeatureCache, FeatureSnapshot
from tests.api.conftest import INVESTIGATOR, AnalysedStore

BACKENDS = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]


@dataclass
class Served:
    """An app on one backend, the settings to open its store, and its snapshot."""

    client: TestClient
    settings: Settings
    snapshot: FeatureSnapshot

    def query(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=INVESTIGATOR
        )
        return response

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.query(query, variables)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        result: dict[str, Any] = body["data"]
        return result


@pytest.fixture(params=BACKENDS)
def served(
    request: pytest.FixtureRequest, analysed: AnalysedStore, tmp_path: Path
) -> Iterator[Served]:
    """The app on each backend (the embedded store is a copy: mutations may write)."""
    if request.param == "embedded":
        shutil.copytree(analysed.settings.store_dir, tmp_path / "store")
        settings = analysed.settings.model_copy(update={"store_dir": tmp_path / "store"})
        snapshot = analysed.snapshot
    else:
        neo = request.getfixturevalue("neo4j_analysed")
        settings, snapshot = neo.settings, neo.snapshot
    app = create_app(ApiSettings(snapshot_poll_s=0, embedded_hold_s=0), settings)
    with TestClient(app) as client:
        yield Served(client=client, settings=settings, snapshot=snapshot)


def _ringed_key(served: Served) -> tuple[str, str]:
    """A ring member's key and its ring id, from the highest-scored ring."""
    rings = served.client.app.state.features.rings  # type: ignore[attr-defined]
    ring = rings.page(min_score=0, typology=None, first=1, after=None, order="score_desc")[0][0]
    with open_store(served.settings) as store:
        member = store.get_entities([ring.members[0]])[0]
    return member.key, ring.ring_id


def test_entity_with_risk_reasons_and_ring(served: Served) -> None:
    """entity(type, key) answers the snapshot's risk, reasons and ring."""
    key, _ring_id = _ringed_key(served)
    data = served.data(
        "query($k: String!) { entity(type: ACCOUNT, key: $k) { id type key risk reasons "
        "features { communitySize snapshotVersion sharedCounts { sharedDevices } } ring { id score } } }",
        {"k": key},
    )["entity"]
    expected = FeatureCache(served.snapshot).get("Account", key)
    assert expected is not None
    assert (data["type"], data["key"], data["risk"]) == ("ACCOUNT", key, expected.risk)
    assert data["reasons"] == list(expected.reasons)
    assert data["features"]["communitySize"] == expected.community_size
    assert data["ring"]["id"] == expected.ring_id


def test_neighbours_pages_with_cursors_as_the_query_layer(served: Served) -> None:
    """neighbours(first, after) pages through the same rows as queries.neighbourhood."""
    key, _ = _ringed_key(served)
    with open_store(served.settings) as store:
        expected = [n.cursor for n in neighbourhood(store, "Account", key, limit=1000).neighbours]
    query = (
        "query($k: String!, $after: String) { neighbours(type: ACCOUNT, key: $k, first: 2, after: $after) "
        "{ entity { key } edges { cursor direction node { key type risk } link { type nEvents } } "
        "pageInfo { hasNextPage endCursor } } }"
    )
    cursors: list[str] = []
    after = None
    while True:
        page = served.data(query, {"k": key, "after": after})["neighbours"]
        cursors += [e["cursor"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert cursors == expected and len(cursors) >= 2


def test_deprecated_neighbors_answers_as_neighbours(served: Served) -> None:
    """The old spelling ``neighbors`` still answers, with the same page as ``neighbours``."""
    key, _ = _ringed_key(served)
    selection = (
        "(type: ACCOUNT, key: $k, first: 3) { entity { key } edges { cursor direction "
        "node { key type } link { type nEvents } } pageInfo { hasNextPage endCursor } }"
    )
    data = served.data(
        f"query($k: String!) {{ neighbours{selection} neighbors{selection} }}", {"k": key}
    )
    assert data["neighbours"]["edges"] and data["neighbors"] == data["neighbours"]


def test_neighbors_is_deprecated_in_favour_of_neighbours(client: TestClient) -> None:
    """Introspection marks ``neighbors`` deprecated, pointing at ``neighbours``."""
    response = client.post(
        "/graphql",
        json={
            "query": '{ __type(name: "Query") { fields(includeDeprecated: true) '
            "{ name isDeprecated deprecationReason } } }"
        },
        headers=INVESTIGATOR,
    )
    fields = {f["name"]: f for f in response.json()["data"]["__type"]["fields"]}
    assert fields["neighbours"]["isDeprecated"] is False
    assert fields["neighbors"]["isDeprecated"] is True
    assert "neighbours" in fields["neighbors"]["deprecationReason"]


def test_shared_identifiers_path_and_money_flow(served: Served) -> None:
    """sharedIdentifiers, path and moneyFlow answer for a ring member."""
    key, _ = _ringed_key(served)
    data = served.data(
        "query($k: String!) { sharedIdentifiers(account: $k, first: 10) { account { key } "
        "identifiers { identifier { key type } linkType accountCount expanded } "
        "accounts { account { key risk } shared { key } rarestAccountCount } truncated } "
        "moneyFlow(account: $k, depth: 2) { account { key } accounts { key } "
        "links { hop direction link { src dst amountSum } } truncated } }",
        {"k": key},
    )
    shared = data["sharedIdentifiers"]
    assert shared["account"]["key"] == key and shared["identifiers"]
    assert data["moneyFlow"]["account"]["key"] == key
    if shared["accounts"]:
        other = shared["accounts"][0]["account"]["key"]
        path = served.data(
            "query($a: String!, $b: String!) { path(from: {type: ACCOUNT, key: $a}, "
            "to: {type: ACCOUNT, key: $b}, maxHops: 4) { length nodes { key } hops { links { type } } } }",
            {"a": key, "b": other},
        )["path"]
        assert path["length"] == 2 and path["nodes"][0]["key"] == key
        assert path["nodes"][-1]["key"] == other


def test_ring_with_members_evidence_and_subgraph(served: Served) -> None:
    """ring(id) gives score, reasons, members, evidence links and the shared identifiers."""
    key, ring_id = _ringed_key(served)
    ring = served.data(
        "query($id: String!) { ring(id: $id) { id score size typology reasons flagged "
        "memberIds members(first: 500) { key risk } evidence { src dst type key } "
        "subgraph { identifiers { identifier { key } memberCount accountCount } links { src dst type } } } }",
        {"id": ring_id},
    )["ring"]
    assert ring["id"] == ring_id and ring["reasons"]
    assert key in {m["key"] for m in ring["members"]}
    assert len(ring["members"]) == len(ring["memberIds"])
    assert ring["evidence"]
    assert all(i["memberCount"] >= 2 for i in ring["subgraph"]["identifiers"])


def test_rings_filter_order_and_pages(served: Served) -> None:
    """rings(minScore, orderBy, first, after) pages through every matching ring once, in order."""
    query = (
        "query($after: String) { rings(minScore: 0.2, first: 7, after: $after, orderBy: SCORE_DESC) "
        "{ totalCount nodes { id score typology } pageInfo { hasNextPage endCursor } } }"
    )
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = served.data(query, {"after": after})["rings"]
        seen += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == page["totalCount"] == len({r["id"] for r in seen})
    assert [r["score"] for r in seen] == sorted((r["score"] for r in seen), reverse=True)
    assert all(r["score"] >= 0.2 for r in seen)
    typology = seen[0]["typology"]
    only = served.data(
        "query($t: String!) { rings(typology: $t, first: 200) { nodes { typology } } }",
        {"t": typology},
    )["rings"]["nodes"]
    assert only and {r["typology"] for r in only} == {typology}


def test_label_mutations_append_labels_with_author_and_time(served: Served) -> None:
    """labelEntity and labelRing append rows (author = the key's name) to the labels table."""
    key, ring_id = _ringed_key(served)
    receipt = served.data(
        'mutation($k: String!) { labelEntity(type: ACCOUNT, key: $k, label: FRAUD, reason: "mule") '
        "{ entityKey label author reason recordedAt } }",
        {"k": key},
    )["labelEntity"]
    assert (receipt["entityKey"], receipt["label"], receipt["author"]) == (
        key,
        "FRAUD",
        "dev-investigator",
    )
    ring_receipt = served.data(
        'mutation($id: String!) { labelRing(id: $id, label: LEGIT, reason: "family") '
        "{ ringId membersLabelled author } }",
        {"id": ring_id},
    )["labelRing"]
    with open_store(served.settings) as store:
        labels = store.labels().to_pylist()
    ours = [r for r in labels if r["author"] == "dev-investigator"]
    assert {(r["entity_key"], r["label"], r["reason"]) for r in ours if r["source"] == "api"} == {
        (key, "fraud", "mule")
    }
    ring_rows = [r for r in ours if r["source"] == f"api:ring:{ring_id}"]
    assert len(ring_rows) == ring_receipt["membersLabelled"] >= 2
    assert all(r["recorded_at"] is not None and r["ts"] is not None for r in ours)
    # One transaction for the whole ring: every member's row carries the same write time.
    assert len({r["recorded_at"] for r in ring_rows}) == 1


def test_label_on_an_unknown_entity_or_ring_is_not_found(served: Served) -> None:
    """Labelling what does not exist is refused with entity_not_found, and writes nothing."""
    response = served.query(
        'mutation { labelEntity(type: ACCOUNT, key: "ghost", label: FRAUD, reason: "x") { author } }'
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "entity_not_found"
    response = served.query(
        'mutation { labelRing(id: "Rnope", label: FRAUD, reason: "x") { ringId } }'
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "entity_not_found"
    with open_store(served.settings) as store:
        assert not [r for r in store.labels().to_pylist() if r["entity_key"] == "ghost"]


def test_neighbors_risk_is_one_cache_read_per_request(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Risk and ring of 50 neighbours come from one batched feature read (DataLoader)."""
    _key, ring_id = _ringed_key(served)
    service = served.client.app.state.features  # type: ignore[attr-defined]
    calls: list[int] = []
    original = service.get_many

    def counting(entity_type: str, keys: Any) -> Any:
        calls.append(len(keys))
        return original(entity_type, keys)

    monkeypatch.setattr(service, "get_many", counting)
    served.data(
        "query($id: String!) { ring(id: $id) { members(first: 50) { key risk reasons "
        "ring { id } features { pagerank } } } }",
        {"id": ring_id},
    )
    assert len(calls) == 1 and calls[0] >= 1


def _store_units(served: Served, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    gateway = served.client.app.state.gateway  # type: ignore[attr-defined]
    units: list[str] = []
    original = gateway.run

    def counting(work: Any, *, write: bool = False) -> Any:
        units.append("write" if write else "read")
        return original(work, write=write)

    monkeypatch.setattr(gateway, "run", counting)
    return units


def test_ring_members_need_no_store_read(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ring's members (scored accounts) are named from the snapshot: no store read."""
    _, ring_id = _ringed_key(served)
    units = _store_units(served, monkeypatch)
    data = served.data(
        "query($id: String!) { ring(id: $id) { memberIds members(first: 500) { id key type } } }",
        {"id": ring_id},
    )
    members = data["ring"]["members"]
    assert len(members) >= 2 and [m["id"] for m in members] == data["ring"]["memberIds"]
    assert units == []
    with open_store(served.settings) as store:
        expected = [e.key for e in store.get_entities(data["ring"]["memberIds"])]
    assert [m["key"] for m in members] == expected


def test_entities_outside_the_snapshot_are_one_store_read(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shared identifiers of many sharing accounts resolve through one batched loader."""
    key, _ = _ringed_key(served)
    units = _store_units(served, monkeypatch)
    served.data(
        "query($k: String!) { sharedIdentifiers(account: $k, first: 20) { accounts { account { key risk ring { id } } } } }",
        {"k": key},
    )
    assert units == ["read"]


def test_entity_not_found_has_a_code(served: Served) -> None:
    """An unknown entity is an error with code entity_not_found (HTTP 404: nothing answered)."""
    response = served.query('{ entity(type: ACCOUNT, key: "nobody") { id } }')
    assert response.status_code == 404
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "entity_not_found" and "nobody" in error["message"]


def test_store_work_past_the_timeout_is_query_timeout(analysed: AnalysedStore) -> None:
    """A store read past query_timeout_s answers 504 with code query_timeout."""
    app = create_app(ApiSettings(snapshot_poll_s=0, query_timeout_s=1e-6), analysed.settings)
    with TestClient(app) as client:
        response = client.post(
            "/graphql",
            json={
                "query": '{ neighbors(type: ACCOUNT, key: "A1", first: 5) { edges { cursor } } }'
            },
            headers=INVESTIGATOR,
        )
    assert response.status_code == 504
    assert response.json()["errors"][0]["extensions"]["code"] == "query_timeout"


def test_store_helper_type_is_the_protocol(served: Served) -> None:
    """The app's store settings open a GraphStore of the served backend."""
    with open_store(served.settings) as store:
        assert isinstance(store, GraphStore) and store.backend == served.settings.backend


def test_graphql_type_enums_match_the_graph_model() -> None:
    """The schema's NodeType and LinkType name exactly the model's types, same values."""
    from api.graphql.schema import GqlLinkType, GqlNodeType
    from graph_service.model import LinkType, NodeType

    assert {m.name: m.value for m in GqlNodeType} == {m.name: m.value for m in NodeType}
    assert {m.name: m.value for m in GqlLinkType} == {m.name: m.value for m in LinkType}


def test_time_respecting_money_flow_answers_as_the_query_layer(served: Served) -> None:
    """moneyFlow(timeRespecting: true) gives the links, time bounds and moved amounts of
    queries.money_flow(time_respecting=True); the default stays untimed."""
    key, _ = _ringed_key(served)
    query = (
        "query($k: String!, $t: Boolean!) { moneyFlow(account: $k, depth: 3, first: 50, "
        "timeRespecting: $t) { timeRespecting truncated links { hop direction arrivalTs "
        "departureTs movedAmount movedEvents link { src dst amountSum } } } }"
    )
    timed = served.data(query, {"k": key, "t": True})["moneyFlow"]
    with open_store(served.settings) as store:
        expected = money_flow(store, key, depth=3, limit=50, time_respecting=True)
    assert timed["timeRespecting"] is True and timed["truncated"] == expected.truncated
    assert [
        (f["hop"], f["direction"], f["link"]["src"], f["link"]["dst"], f["movedAmount"])
        for f in timed["links"]
    ] == [(f.hop, f.direction, f.link.src, f.link.dst, f.moved_amount) for f in expected.links]
    for flow, want in zip(timed["links"], expected.links, strict=True):
        bound = flow["arrivalTs"] if want.direction == "out" else flow["departureTs"]
        assert bound is not None and datetime.fromisoformat(bound) == (
            want.arrival_ts or want.departure_ts
        )
        assert flow["movedEvents"] == want.moved_events
    untimed = served.data(query, {"k": key, "t": False})["moneyFlow"]
    assert untimed["timeRespecting"] is False
    assert all(f["movedAmount"] is None and f["arrivalTs"] is None for f in untimed["links"])
    assert len(untimed["links"]) >= len(timed["links"])


def test_ring_flow_answers_as_the_query_layer(served: Served) -> None:
    """ring(id) { flow } gives queries.ring_flow over the ring's members."""
    _, ring_id = _ringed_key(served)
    flow = served.data(
        "query($id: String!) { ring(id: $id) { memberIds flow { memberCount totalIn inEvents "
        "sources totalOut outEvents destinations internal internalEvents retained hops } } }",
        {"id": ring_id},
    )["ring"]
    with open_store(served.settings) as store:
        expected = ring_flow(store, flow["memberIds"])
    assert flow["flow"] == {
        "memberCount": len(expected.members),
        "totalIn": expected.total_in,
        "inEvents": expected.in_events,
        "sources": expected.sources,
        "totalOut": expected.total_out,
        "outEvents": expected.out_events,
        "destinations": expected.destinations,
        "internal": expected.internal,
        "internalEvents": expected.internal_events,
        "retained": expected.retained,
        "hops": expected.hops,
    }
    assert flow["flow"]["retained"] == flow["flow"]["totalIn"] - flow["flow"]["totalOut"]


def test_ring_flow_of_an_unknown_ring_and_bad_flow_arguments(served: Served) -> None:
    """An unknown ring is entity_not_found (404); a non-boolean timeRespecting is refused
    before it runs, and depth 0 with it is invalid_input (400)."""
    response = served.query('{ ring(id: "Rnope") { flow { hops } } }')
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "entity_not_found"
    response = served.query('{ moneyFlow(account: "a", timeRespecting: "yes") { truncated } }')
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "invalid_query"
    response = served.query(
        '{ moneyFlow(account: "a", depth: 0, timeRespecting: true) { truncated } }'
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "invalid_input"
