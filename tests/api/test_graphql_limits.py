"""GraphQL hardening: depth, alias, token and cost limits, list caps, codes, masking."""

from __future__ import annotations

import strawberry
from fastapi.testclient import TestClient

from api.graphql.limits import ErrorCodes, cost_limit_rule
from graph_service.errors import BackendUnavailable
from tests.api.conftest import INVESTIGATOR, AppFactory


def _post(client: TestClient, query: str) -> tuple[int, dict[str, object]]:
    response = client.post("/graphql", json={"query": query}, headers=INVESTIGATOR)
    return response.status_code, response.json()


def _first_error(body: dict[str, object]) -> dict[str, object]:
    errors = body["errors"]
    assert isinstance(errors, list) and errors
    error: dict[str, object] = errors[0]
    return error


def test_too_deep_query_is_400(client: TestClient) -> None:
    """A query nested deeper than graphql_max_depth is refused before it runs."""
    deep = '{ ring(id: "R") { members { ring { members { ring { members { ring { members { ring { id } } } } } } } } } }'
    status, body = _post(client, deep)
    assert status == 400
    error = _first_error(body)
    assert "exceeds maximum operation depth" in str(error["message"])
    assert error["extensions"] == {"code": "invalid_query"}


def test_too_many_aliases_is_400(client: TestClient) -> None:
    """More aliases than graphql_max_aliases: 400 with a clear message."""
    fields = " ".join(f"a{i}: rings(first: 1) {{ totalCount }}" for i in range(20))
    status, body = _post(client, "{ " + fields + " }")
    assert status == 400
    assert "aliases found" in str(_first_error(body)["message"])


def test_too_many_tokens_is_400(make_app: AppFactory) -> None:
    """A document with more tokens than graphql_max_tokens is refused."""
    with TestClient(make_app(graphql_max_tokens=50)) as client:
        fields = " ".join("totalCount" for _ in range(60))
        status, body = _post(client, "{ rings(first: 1) { " + fields + " } }")
    assert status == 400
    assert "token" in str(_first_error(body)["message"]).lower()


def test_too_costly_query_is_400(client: TestClient) -> None:
    """Nested pages multiply: 200 rings x 500 members x fields is over the cost limit."""
    query = "{ rings(first: 200) { nodes { members(first: 500) { key risk reasons } } } }"
    status, body = _post(client, query)
    assert status == 400
    assert "query cost exceeds the limit" in str(_first_error(body)["message"])


def test_page_above_the_server_cap_is_413(client: TestClient) -> None:
    """first above graphql_page_max: limit_exceeded (413), naming the cap."""
    status, body = _post(client, "{ rings(first: 5000) { totalCount } }")
    assert status == 413
    error = _first_error(body)
    assert error["extensions"] == {"code": "limit_exceeded"}
    assert "exceeds the cap of 200" in str(error["message"])


def test_negative_page_and_bad_cursor_are_400(client: TestClient) -> None:
    """A negative first or a foreign cursor is invalid_input (400)."""
    status, body = _post(client, "{ rings(first: -1) { totalCount } }")
    assert status == 400 and _first_error(body)["extensions"] == {"code": "invalid_input"}
    status, body = _post(client, '{ rings(after: "nope") { totalCount } }')
    assert status == 400 and "cursor" in str(_first_error(body)["message"])
    status, body = _post(
        client, '{ neighbours(type: ACCOUNT, key: "A1", after: "x") { pageInfo { hasNextPage } } }'
    )
    assert status in (400, 404)


def test_unknown_fields_enums_and_syntax_errors_are_400(client: TestClient) -> None:
    """Unknown fields, bad enum values and syntax errors: 400 invalid_query, never 500."""
    for query in (
        "{ rings { nope } }",
        '{ entity(type: PLANET, key: "x") { id } }',
        "{ rings(first: 1) { totalCount }",
        "",
    ):
        response = client.post("/graphql", json={"query": query}, headers=INVESTIGATOR)
        assert response.status_code == 400, (query, response.text)


def test_path_hops_and_flow_depth_are_range_checked(client: TestClient) -> None:
    """maxHops and depth outside their ranges are invalid_input."""
    status, body = _post(
        client,
        '{ path(from: {type: ACCOUNT, key: "a"}, to: {type: ACCOUNT, key: "b"}, maxHops: 99) { length } }',
    )
    assert status == 400 and "maxHops" in str(_first_error(body)["message"])
    status, body = _post(client, '{ moneyFlow(account: "a", depth: 0) { truncated } }')
    assert status == 400 and "depth" in str(_first_error(body)["message"])


def test_label_reason_must_be_given(client: TestClient) -> None:
    """A label with a blank reason is refused with invalid_input."""
    status, body = _post(
        client,
        'mutation { labelEntity(type: ACCOUNT, key: "A1", label: FRAUD, reason: "  ") { author } }',
    )
    assert status == 400 and "reason" in str(_first_error(body)["message"])


@strawberry.type
class _Row:
    name: str


@strawberry.type
class _Query:
    @strawberry.field
    def secret(self) -> str:
        raise RuntimeError("password=hunter2 at db-7")

    @strawberry.field
    def down(self) -> str:
        raise BackendUnavailable("neo4j cannot be reached")

    @strawberry.field
    def items(self, first: int = 10) -> list[str]:
        return ["x"] * first

    @strawberry.field
    def rows(self, first: int = 10) -> list[_Row]:
        return [_Row(name="x")] * first


_SCHEMA = strawberry.Schema(
    query=_Query,
    extensions=[
        lambda: strawberry.extensions.AddValidationRules([cost_limit_rule(100, 10)]),
        ErrorCodes,
    ],
)


def test_internal_errors_are_masked_with_a_code() -> None:
    """An unexpected exception leaves as 'internal error' with code internal_error, no detail."""
    result = _SCHEMA.execute_sync("{ secret }")
    assert result.errors is not None
    error = result.errors[0]
    assert "hunter2" not in error.message and error.message.startswith("internal error")
    assert error.extensions == {"code": "internal_error"}


def test_known_errors_keep_their_message_and_code() -> None:
    """A FraudGraphError keeps its message and gets its code."""
    result = _SCHEMA.execute_sync("{ down }")
    assert result.errors is not None
    assert result.errors[0].message == "neo4j cannot be reached"
    assert result.errors[0].extensions == {"code": "backend_unavailable"}


def _cost_errors(query: str) -> list[tuple[str, object]]:
    """``(message, extensions)`` of every error of ``query`` run on the small schema."""
    result = _SCHEMA.execute_sync(query)
    return [(e.message, e.extensions) for e in result.errors or ()]


_OVER_COST = (
    "query cost exceeds the limit of 100 (each field counts once per item of the lists "
    "above it; lower `first` or select fewer fields)"
)


def test_cost_counts_fields_per_item_of_the_pages_above() -> None:
    """rows(first: 100) { name } costs 1 + 100 > 100: a field costs once per item above it."""
    assert _SCHEMA.execute_sync("{ rows(first: 99) { name } }").errors is None  # exactly 100
    assert _cost_errors("{ rows(first: 100) { name } }") == [
        (_OVER_COST, {"code": "invalid_query"})
    ]
    # Leaf lists are priced once however long: 1 + 1 + 1, so only the resolver's own error.
    assert _cost_errors("{ a: items(first: 60) b: items(first: 60) down }") == [
        ("neo4j cannot be reached", {"code": "backend_unavailable"})
    ]
    # Over the limit, nothing runs: the cost error alone, not the resolvers' errors.
    over = _SCHEMA.execute_sync("{ rows(first: 99) { name } secret down }")
    assert over.data is None
    assert [(e.message, e.extensions) for e in over.errors or ()] == [
        (_OVER_COST, {"code": "invalid_query"})
    ]
