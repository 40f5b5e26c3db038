"""The embedded implementation: every statement is stopped at its timeout."""

from __future__ import annotations

import pytest

from graph_service import InvalidInput
from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import QueryTimeout
from queries.embedded_backend import EmbeddedRelationships


def test_a_statement_past_the_timeout_is_interrupted(embedded_store: EmbeddedStore) -> None:
    """A statement running longer than timeout_s is interrupted and raises QueryTimeout."""
    backend = EmbeddedRelationships(embedded_store, timeout_s=0.2)
    slow = "SELECT count(*) FROM range(1000000000) a, range(1000) b LIMIT $cap"
    with pytest.raises(QueryTimeout, match=r"0\.2 s"):
        backend._rows(slow, {"cap": 1})
    assert backend._rows("SELECT 1 LIMIT $cap", {"cap": 1}) == [(1,)]


def test_timeout_must_be_positive(embedded_store: EmbeddedStore) -> None:
    """A zero or negative timeout raises InvalidInput."""
    with pytest.raises(InvalidInput):
        EmbeddedRelationships(embedded_store, timeout_s=0)
