"""The dataset is built from the store export, so both backends give the same tensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gnn.dataset import build_graph_from_store
from gnn.labels import time_split
from graph_service.embedded.store import EmbeddedStore
from ingestion.synthetic import ScenarioSummary
from tests.gnn.conftest import ingest


@pytest.mark.neo4j
def test_neo4j_and_embedded_give_the_same_tensors(
    store: EmbeddedStore, scenario: ScenarioSummary, neo4j_store: Any, tmp_path: Path
) -> None:
    """The same scenario in Neo4j and in the embedded store gives equal features and
    edges (compared through the natural keys), and the same time split."""
    ingest(neo4j_store, scenario, tmp_path)
    split = time_split(store.labels())
    assert np.array_equal(split.cutoffs_us, time_split(neo4j_store.labels()).cutoffs_us)
    for cutoff in (None, int(split.test_cutoff_us)):
        a = build_graph_from_store(store, cutoff_us=cutoff)
        b = build_graph_from_store(neo4j_store, cutoff_us=cutoff)
        keys_a = _keys(store, a.store_ids)
        keys_b = _keys(neo4j_store, b.store_ids)
        for node_type, x in a.data.x_dict.items():
            order_a = np.argsort(keys_a[node_type])
            order_b = np.argsort(keys_b[node_type])
            assert np.array_equal(keys_a[node_type][order_a], keys_b[node_type][order_b])
            assert torch.equal(x[order_a], b.data[node_type].x[order_b]), node_type
        for edge_type, edge_index in a.data.edge_index_dict.items():
            src, _, dst = edge_type
            pairs_a = set(zip(keys_a[src][edge_index[0]], keys_a[dst][edge_index[1]], strict=True))
            other = b.data[edge_type].edge_index
            pairs_b = set(zip(keys_b[src][other[0]], keys_b[dst][other[1]], strict=True))
            assert pairs_a == pairs_b, edge_type


def _keys(graph: Any, store_ids: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    nodes = graph.export_nodes()
    lookup = dict(zip(nodes.column("id").to_pylist(), nodes.column("key").to_pylist(), strict=True))
    return {
        t: np.array([lookup[i] for i in ids.tolist()], dtype=object) for t, ids in store_ids.items()
    }
