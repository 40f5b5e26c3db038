"""Dataset building: shapes, reverse edges, point-in-time snapshots, time split."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pytest
import torch

from gnn.dataset import (
    ACCOUNT_FEATURES,
    IDENTIFIER_FEATURES,
    SplitConfig,
    build_graph,
    build_temporal_graph,
    edge_types,
    latest_account_labels,
    time_split,
)
from gnn.training import TrainConfig, train_on_tables
from graph_service.errors import InvalidInput
from graph_service.model import LinkType, NodeType
from tests.gnn.graphs import day, planted_graph

FAST = TrainConfig(hidden=16, max_epochs=4, patience=4, batch_size=16, threads=1)


def _us(when: object) -> int:
    return int(pa.scalar(when, pa.timestamp("us", tz="UTC")).cast(pa.int64()).as_py())


def test_shapes_and_reverse_edges() -> None:
    """Every node type gets its feature matrix, every link type an edge type and its
    reverse holding the same edges flipped."""
    g = planted_graph(legit=40, rings=3)
    snapshot = build_graph(g.nodes, g.links)
    data = snapshot.data
    n_accounts = 40 + 12
    assert data["Account"].x.shape == (n_accounts, len(ACCOUNT_FEATURES))
    assert data["Device"].x.shape[1] == len(IDENTIFIER_FEATURES)
    assert set(data.edge_types) == set(edge_types())
    assert len(edge_types()) == 2 * len(LinkType)
    forward = data["Account", "USES_DEVICE", "Device"].edge_index
    reverse = data["Device", "rev_USES_DEVICE", "Account"].edge_index
    assert torch.equal(reverse, forward.flip(0))
    assert forward.shape[1] == n_accounts
    assert data["Account"].x.dtype == torch.float32
    ids = snapshot.store_ids["Account"]
    assert np.all(np.diff(ids) > 0)
    assert snapshot.account_index(ids[[2, 0]]).tolist() == [2, 0]


def test_unknown_ids_are_refused() -> None:
    """Asking for the row of an id that is not an account raises InvalidInput."""
    g = planted_graph(legit=10, rings=1)
    snapshot = build_graph(g.nodes, g.links)
    with pytest.raises(InvalidInput):
        snapshot.account_index(np.array([g.future_device]))


def test_a_cutoff_keeps_only_older_links_and_features() -> None:
    """Links first seen at or after the cutoff are absent, and the features count only
    the links before it."""
    g = planted_graph(legit=40, rings=3)
    cutoff = _us(day(50))
    snapshot = build_graph(g.nodes, g.links, cutoff_us=cutoff)
    for edge_type, when in snapshot.edge_time.items():
        assert bool(torch.all(when < cutoff)), edge_type
    full = build_graph(g.nodes, g.links)
    kept = sum(int(e.shape[1]) for e in snapshot.data.edge_index_dict.values())
    everything = sum(int(e.shape[1]) for e in full.data.edge_index_dict.values())
    assert 0 < kept < everything
    links_column = ACCOUNT_FEATURES.index("links_uses_device")
    created = g.nodes.filter(pa.compute.equal(g.nodes.column("type"), 0)).column("first_ts")
    young = np.asarray(pa.compute.greater_equal(created, day(50)).to_numpy(zero_copy_only=False))
    assert torch.all(snapshot.data["Account"].x[torch.from_numpy(young), links_column] == 0)
    assert torch.all(full.data["Account"].x[:, links_column] > 0)


def test_time_split_orders_parts_by_label_time() -> None:
    """Training labels are older than validation ones, which are older than test ones;
    every example's snapshot is at or before its own label time."""
    g = planted_graph()
    split = time_split(g.labels)
    assert split.train_ts.max() < split.val_ts.min() <= split.val_ts.max() < split.test_ts.min()
    assert split.train_cutoff_us == split.val_ts.min()
    for ts in (split.train_ts, split.val_ts, split.test_ts):
        assert np.all(split.cutoffs_us[split.snapshot_of(ts)] <= ts)
    counts = split.counts()
    assert all(part["fraud"] > 0 and part["legit"] > 0 for part in counts.values())
    assert split.labels.column("split").to_pylist().count("train") == split.train_ids.shape[0]


def test_time_split_needs_both_classes_in_every_part() -> None:
    """Too few fraud labels for a part raises InvalidInput naming the part."""
    g = planted_graph(legit=40, rings=1)
    with pytest.raises(InvalidInput, match="labels hold"):
        time_split(g.labels, SplitConfig(min_per_class=3))
    with pytest.raises(InvalidInput, match="fraction"):
        time_split(g.labels, SplitConfig(train_fraction=0.9, val_fraction=0.2))


def test_the_latest_label_of_an_account_wins() -> None:
    """An account relabelled legit after a fraud label counts as legit."""
    g = planted_graph(legit=10, rings=1)
    first = g.labels.slice(0, 1).to_pylist()[0]
    relabel = dict(first, label="fraud" if first["label"] == "legit" else "legit")
    relabel["ts"] = first["ts"] + timedelta(days=1)
    table = pa.concat_tables([g.labels, pa.Table.from_pylist([relabel], schema=g.labels.schema)])
    latest = latest_account_labels(table)
    assert latest.num_rows == g.labels.num_rows
    row = latest.filter(pa.compute.equal(latest.column("entity_id"), first["entity_id"]))
    assert row.column("label").to_pylist() == [relabel["label"]]


def test_a_future_only_signal_is_invisible() -> None:
    """Links first seen after every label (every fraud account on one shared emulator)
    change no snapshot's features and not the trained model; the same links in the past
    change both (so the check can fail)."""
    base = planted_graph()
    future = planted_graph(future_signal=True)
    past = planted_graph(past_signal=True)
    split = time_split(base.labels)

    def features(g: object) -> list[dict[str, torch.Tensor]]:
        return build_temporal_graph(g.nodes, g.links, split.cutoffs_us).features  # type: ignore[attr-defined]

    for a, b in zip(features(base), features(future), strict=True):
        assert all(torch.equal(a[t], b[t]) for t in a)
    assert any(
        not torch.equal(a["Account"], b["Account"])
        for a, b in zip(features(base), features(past), strict=True)
    )
    run_base = train_on_tables(base.nodes, base.links, base.labels, FAST)
    run_future = train_on_tables(future.nodes, future.links, future.labels, FAST)
    state_a, state_b = run_base.model.state_dict(), run_future.model.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert run_base.metrics["test"] == run_future.metrics["test"]
    run_past = train_on_tables(past.nodes, past.links, past.labels, FAST)
    state_c = run_past.model.state_dict()
    assert not all(torch.equal(state_a[k], state_c[k]) for k in state_a)


def test_snapshot_features_ignore_nodes_first_seen_later() -> None:
    """An account created after the cutoff has no links and zero age on the snapshot."""
    g = planted_graph(legit=20, rings=1)
    snapshot = build_graph(g.nodes, g.links, cutoff_us=_us(day(1)))
    x = snapshot.data["Account"].x
    assert torch.all(x[-1] == 0)
    assert NodeType.ACCOUNT.value in snapshot.store_ids


def test_edge_times_follow_the_links() -> None:
    """``edge_time`` gives each edge its link's first-seen time, both directions."""
    g = planted_graph(legit=10, rings=1)
    snapshot = build_graph(g.nodes, g.links)
    forward = snapshot.edge_time["Account", "PAYS", "Merchant"]
    reverse = snapshot.edge_time["Merchant", "rev_PAYS", "Account"]
    assert torch.equal(forward, reverse)
    assert int(forward.min()) == _us(day(0) + timedelta(hours=1))
