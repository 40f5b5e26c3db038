"""Account and ring features on hand-built graphs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from graph_service.embedded.algorithms import EmbeddedAlgorithms
from graph_service.model import LinkType, NodeType
from scoring.features import (
    ACCOUNT_MODEL_FEATURES,
    NodeFacts,
    account_features,
    ring_core,
    ring_features,
)
from scoring.graph_signals import compute_graph_signals
from scoring.projection import ProjectionConfig, project_tables
from tests.scoring.graphs import days, links_table, nodes_table

A, D, IP, P, M = NodeType.ACCOUNT, NodeType.DEVICE, NodeType.IP, NodeType.PHONE, NodeType.MERCHANT

# Accounts 0-3 form a farm on emulator 10 (signed up within two days) behind proxy 11;
# 0 -> 1 -> 2 -> 0 is a transfer cycle. Account 4 and 5 share phone 12 only (a pair);
# account 6 is alone except for super merchant 13 (shared by everyone, cap 4).
_NODES = nodes_table(
    [(i, A, {"first_ts": days(i)}) for i in range(7)]
    + [
        (7, A, {}),
        (8, A, {}),
        (9, A, {}),
        (10, D, {"is_emulator": True}),
        (11, IP, {"is_proxy": True}),
        (12, P, {}),
        (13, M, {}),
    ]
)
_LINKS = links_table(
    [(i, 10, LinkType.USES_DEVICE, {"first_ts": days(i * 0.5)}) for i in range(4)]
    + [(i, 11, LinkType.LOGS_IN_FROM) for i in range(4)]
    + [(4, 12, LinkType.HAS_PHONE), (5, 12, LinkType.HAS_PHONE)]
    + [(i, 13, LinkType.PAYS) for i in range(10)]
    + [
        (0, 1, LinkType.TRANSFERS_TO, {"amount_sum": 100.0}),
        (1, 2, LinkType.TRANSFERS_TO, {"amount_sum": 100.0}),
        (2, 0, LinkType.TRANSFERS_TO, {"amount_sum": 50.0}),
    ]
)


def _features() -> tuple[pa.Table, object, NodeFacts, np.ndarray]:
    projection = project_tables(_NODES, _LINKS, ProjectionConfig(max_share={M: 4}))
    signals = compute_graph_signals(projection, EmbeddedAlgorithms(None), np.array([0, 1]))
    facts = NodeFacts.from_table(_NODES)
    table = account_features(projection, signals, facts, np.array([0, 1]), np.array([6]))
    return table, projection, facts, signals.community


def _column(table: pa.Table, name: str) -> list[float]:
    values: list[float] = table.column(name).to_pylist()
    return values


def test_link_counts_share_counts_and_super_node_exposure() -> None:
    """Links per type, largest share per type, rare-shared counts and super-node links."""
    table, *_ = _features()
    assert table.column("id").to_pylist() == list(range(10))
    assert _column(table, "links_uses_device")[:5] == [1, 1, 1, 1, 0]
    assert _column(table, "share_max_device")[:5] == [4, 4, 4, 4, 0]
    assert _column(table, "rare_shared_phone")[:7] == [0, 0, 0, 0, 1, 1, 0]
    assert _column(table, "super_node_links") == [1.0] * 10
    assert _column(table, "share_max_merchant")[0] == 10


def test_device_and_ip_flags() -> None:
    """Emulator devices and proxy IPs are counted per account."""
    table, *_ = _features()
    assert _column(table, "emulator_devices")[:6] == [1, 1, 1, 1, 0, 0]
    assert _column(table, "proxy_ips")[:6] == [1, 1, 1, 1, 0, 0]
    assert _column(table, "rooted_devices")[:6] == [0] * 6


def test_money_flow_features() -> None:
    """Cycle membership, fan-in/out and the inflow ratio."""
    table, *_ = _features()
    assert _column(table, "in_cycle")[:4] == [1, 1, 1, 0]
    assert _column(table, "fan_in")[:3] == [1, 1, 1]
    assert _column(table, "inflow_ratio")[0] == pytest.approx(50 / 150)
    assert _column(table, "inflow_ratio")[6] == 0.5


def test_community_features_exclude_the_own_label() -> None:
    """Known fraud 0 and 1 in the farm: each sees 1 of its 3 others; 2 sees 2 of 3."""
    table, *_ = _features()
    fraction = _column(table, "community_fraud_fraction")
    assert fraction[0] == pytest.approx(1 / 3)
    assert fraction[1] == pytest.approx(1 / 3)
    assert fraction[2] == pytest.approx(2 / 3)
    assert fraction[4] == 0.0
    assert _column(table, "community_size")[:4] == [4, 4, 4, 4]
    assert _column(table, "community_density")[0] == pytest.approx(1.0)
    assert _column(table, "community_emulator_share")[0] == pytest.approx(1.0)
    assert table.column("known_fraud").to_pylist()[:3] == [True, True, False]
    assert table.column("known_legit").to_pylist()[6] is True


def test_every_model_feature_is_present_and_float() -> None:
    """The table carries every model feature as float64."""
    table, *_ = _features()
    for name in ACCOUNT_MODEL_FEATURES:
        assert table.schema.field(name).type == pa.float64(), name


def test_ring_core_leaves_out_hangers_on() -> None:
    """A pendant account tied to one member by a weak link stays outside the core."""
    nodes = nodes_table([(i, A, {}) for i in range(6)] + [(6, D, {}), (7, IP, {})])
    links = links_table(
        [(i, 6, LinkType.USES_DEVICE) for i in range(5)]
        + [(0, 7, LinkType.LOGS_IN_FROM), (5, 7, LinkType.LOGS_IN_FROM)]
    )
    projection = project_tables(nodes, links)
    community = np.zeros(6, np.int64)
    core = ring_core(projection, community, 0.3)
    assert core.tolist() == [True] * 5 + [False]


def test_ring_features_of_the_farm() -> None:
    """The farm's core: size 4, fully dense, emulator and proxy shares 1, a money cycle."""
    table, projection, facts, community = _features()
    core = ring_core(projection, community, 0.3)  # type: ignore[arg-type]
    rings = ring_features(projection, table, facts, core)  # type: ignore[arg-type]
    farm = rings.filter(pa.compute.equal(rings.column("candidate"), 0)).to_pylist()[0]
    assert farm["members"] == [0, 1, 2, 3]
    assert farm["size"] == 4
    assert farm["density"] == pytest.approx(1.0)
    assert farm["emulator_share"] == pytest.approx(1.0)
    assert farm["proxy_share"] == pytest.approx(1.0)
    assert farm["rare_merchant_share"] == 0.0
    assert farm["known_fraud_fraction"] == pytest.approx(0.5)
    assert farm["money_cycle_share"] == pytest.approx(0.75)
    assert farm["internal_transfers"] == 3
    assert farm["signup_burst_max"] == 3
    assert farm["creation_spread_days"] == pytest.approx(np.std([0, 1, 2, 3]))
    pair = rings.filter(pa.compute.equal(rings.column("candidate"), 4)).to_pylist()[0]
    assert pair["members"] == [4, 5]
    assert pair["shared_identifier_ratio"] == pytest.approx(1.0)


def test_a_stored_gnn_score_joins_the_model_features() -> None:
    """``with_stored_scores`` adds the stored score per account (0 where none is stored)
    and ``model_feature_names`` then lists it after the account's own features (the
    group-derived ones left out); without stored scores the table and the names are
    unchanged."""
    from scoring.features import (
        ACCOUNT_MODEL_FEATURES,
        GROUP_DERIVED_FEATURES,
        model_feature_names,
        with_stored_scores,
    )

    own = tuple(n for n in ACCOUNT_MODEL_FEATURES if n not in GROUP_DERIVED_FEATURES)

    features = pa.table({"id": pa.array([3, 5, 9], pa.int64())})
    stored = pa.table(
        {
            "entity_id": pa.array([9, 3], pa.int64()),
            "value": pa.array([0.9, 0.1]),
            "version": pa.array(["v", "v"]),
        }
    )
    joined = with_stored_scores(features, stored, "gnn_score")
    assert joined.column("gnn_score").to_pylist() == [0.1, 0.0, 0.9]
    assert model_feature_names(joined.column_names) == (*own, "gnn_score")
    empty = stored.slice(0, 0)
    assert with_stored_scores(features, empty, "gnn_score").equals(features)
    assert model_feature_names(features.column_names) == own
    assert "community_fraud_fraction" not in own and "seeded_score" not in own


def test_evidence_channels_join_the_model_features_but_not_propagation() -> None:
    """The ``evidence_<channel>`` columns are model inputs, except known fraud nearby,
    whose propagation from neighbours' labels would let a ring's risks move together."""
    from scoring.features import model_feature_names

    names = model_feature_names(["id", "evidence_device", "evidence_known_fraud", "evidence"])
    assert "evidence_device" in names
    assert "evidence_known_fraud" not in names and "evidence" not in names
