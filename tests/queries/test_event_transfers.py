"""event_transfers: the single transfers of given links, read from the event files."""

from __future__ import annotations

import numpy as np
import pytest

from graph_service import GraphStore, InvalidInput, NodeType
from queries.backends import backend_for
from queries.event_transfers import link_transfers
from tests.queries.conftest import entity_id


def _ids(store: GraphStore, *keys: str) -> np.ndarray:
    return np.array([entity_id(store, NodeType.ACCOUNT, k) for k in keys], np.int64)


def test_rows_are_those_of_export_transfers(graph: GraphStore) -> None:
    """On every backend, the transfers of every link equal the store's export, in
    (src, dst, time) order, with times in epoch microseconds."""
    table = graph.export_transfers().to_pylist()
    expected = sorted(
        (r["src"], r["dst"], int(r["ts"].timestamp() * 1_000_000), r["amount"]) for r in table
    )
    links = sorted({(r["src"], r["dst"]) for r in table})
    src, dst = (np.array(column, np.int64) for column in zip(*links, strict=True))
    rows = backend_for(graph).link_transfers(src, dst, 1_000)
    assert [tuple(r) for r in rows] == expected


def test_only_the_links_asked_for_and_the_cap(graph: GraphStore) -> None:
    """A1 -> A2 has two transfers (100, 50); A2 -> A1 is no link; cap 1 keeps the first."""
    backend = backend_for(graph)
    rows = backend.link_transfers(_ids(graph, "A1", "A2"), _ids(graph, "A2", "A1"), 10)
    assert [r[3] for r in rows] == [100.0, 50.0]
    assert len(backend.link_transfers(_ids(graph, "A1"), _ids(graph, "A2"), 1)) == 1
    assert backend.link_transfers(_ids(graph, "A1"), _ids(graph, "A2"), 0) == []
    assert backend.link_transfers(np.array([], np.int64), np.array([], np.int64), 10) == []


def test_mismatched_ends_are_invalid_input(graph: GraphStore) -> None:
    """src and dst of different lengths: InvalidInput."""
    with pytest.raises(InvalidInput):
        link_transfers(graph, _ids(graph, "A1", "A2"), _ids(graph, "A2"), 10, timeout_s=30)
