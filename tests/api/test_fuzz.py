"""Schemathesis fuzzing of the OpenAPI and GraphQL schemas: no input gets a 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import ADMIN, INVESTIGATOR, AppFactory


def _loaded(make_app: AppFactory) -> FastAPI:
    app = make_app()
    app.state.features.reload(app.state.gateway)
    return app


_FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


def test_openapi_inputs_never_get_a_5xx(make_app: AppFactory) -> None:
    """Generated paths, bodies and headers on every route (admin key) answer below 500."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", _loaded(make_app))
    failures: list[str] = []

    @given(case=schema.as_strategy())
    @_FUZZ
    def run(case: Any) -> None:
        response = case.call(headers=ADMIN)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} {case.body!r}: {response.text}")

    run()
    assert failures == []


def test_graphql_queries_never_get_a_5xx(make_app: AppFactory) -> None:
    """Generated queries and mutations answer below 500 (store errors carry codes)."""
    schema = schemathesis.graphql.from_asgi("/graphql", _loaded(make_app), headers=INVESTIGATOR)
    failures: list[str] = []

    @given(case=schema.as_strategy())
    @_FUZZ
    def run(case: Any) -> None:
        response = case.call(headers=INVESTIGATOR)
        if response.status_code >= 500:
            failures.append(f"{case.body!r}: {response.text}")

    run()
    assert failures == []
