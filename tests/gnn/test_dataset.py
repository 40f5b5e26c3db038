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
    build_graph,
    build_temporal_graph,
    edge_types,
)
from gnn.labels import PARTS, ExampleKind, LabelMode, time_split
from gnn.training import TrainConfig, train_on_tables
from graph_service.errors import InvalidInput
from graph_service.model import LinkType, NodeType
from tests.gnn.graphs import day, fraud_only, planted_graph

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


def test_unlabelled_negatives_see_nothing_after_their_reference_time() -> None:
    """Fraud labels only (positive-unlabelled): every unlabelled negative is read on a
    snapshot no later than its reference time and its sampled neighbourhood holds no link
    first seen at or after that time; links planted after every label leave the split,
    the weights and the figures unchanged, the same links in the past change them."""
    base, future, past = (
        planted_graph(future_signal=f, past_signal=p)
        for f, p in ((False, False), (True, False), (False, True))
    )
    run = train_on_tables(base.nodes, base.links, fraud_only(base.labels), FAST)
    assert run.split.mode == LabelMode.POSITIVE_UNLABELLED
    checked = 0
    for part in PARTS:
        examples = run.examples[part]
        ts = getattr(run.split, f"{part}_ts")
        unlabelled = (examples.kind == ExampleKind.UNLABELLED).numpy()
        assert unlabelled.any()
        cutoffs = run.temporal.cutoffs_us[examples.snapshot.numpy()]
        assert np.all(cutoffs[unlabelled] <= ts[unlabelled])
        for k in np.unique(examples.snapshot.numpy()[unlabelled]):
            rows = unlabelled & (examples.snapshot.numpy() == k)
            sample = run.sampler.sample("Account", examples.index[rows], cutoff=int(k))
            for edge_type, edge in sample.edge.items():
                when = run.temporal.full.edge_time[edge_type][edge]
                assert bool(torch.all(when < int(ts[rows].min()))), edge_type
                checked += int(edge.shape[0])
    assert checked > 0
    run_future = train_on_tables(future.nodes, future.links, fraud_only(future.labels), FAST)
    assert np.array_equal(run.split.train_ids, run_future.split.train_ids)
    state_a, state_b = run.model.state_dict(), run_future.model.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert run.metrics["test"] == run_future.metrics["test"]
    run_past = train_on_tables(past.nodes, past.links, fraud_only(past.labels), FAST)
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
