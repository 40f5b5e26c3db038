"""The rarity-weighted account projection."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from graph_service import InvalidInput
from graph_service.embedded.store import EmbeddedStore
from graph_service.model import LINK_TYPE_CODE, LinkType, NodeType
from ingestion.loader import Ingestor
from scoring.projection import (
    ProjectionConfig,
    Rarity,
    project_tables,
    shared_identifier_projection,
)
from tests.conftest import GOOD_EVENTS, FileWriter
from tests.scoring.graphs import links_table, nodes_table

A, D, P, IP, M = NodeType.ACCOUNT, NodeType.DEVICE, NodeType.PHONE, NodeType.IP, NodeType.MERCHANT


def _small() -> tuple[pa.Table, pa.Table]:
    # Accounts 0,1,2; device 3 shared by all three; phone 4 shared by 0 and 1;
    # IP 5 used by 0 only; transfer 2 -> 0 and 0 -> 2.
    nodes = nodes_table([(0, A, {}), (1, A, {}), (2, A, {}), (3, D, {}), (4, P, {}), (5, IP, {})])
    links = links_table(
        [
            (0, 3, LinkType.USES_DEVICE),
            (1, 3, LinkType.USES_DEVICE),
            (2, 3, LinkType.USES_DEVICE),
            (0, 4, LinkType.HAS_PHONE),
            (1, 4, LinkType.HAS_PHONE),
            (0, 5, LinkType.LOGS_IN_FROM),
            (2, 0, LinkType.TRANSFERS_TO, {"amount_sum": 50.0}),
            (0, 2, LinkType.TRANSFERS_TO, {"amount_sum": 20.0}),
        ]
    )
    return nodes, links


def test_pair_weights_add_up_over_shared_identifiers() -> None:
    """Each shared identifier adds type_weight / log(1 + k) to the pair; transfers add per direction."""
    nodes, links = _small()
    p = project_tables(nodes, links)
    edges = {(int(u), int(v)): float(w) for u, v, w in zip(p.src, p.dst, p.weight, strict=True)}
    device = 1.0 / math.log(4)
    phone = 1.0 / math.log(3)
    assert edges[(0, 1)] == pytest.approx(device + phone)
    assert edges[(1, 2)] == pytest.approx(device)
    assert edges[(0, 2)] == pytest.approx(device + 2.0)
    assert p.accounts.tolist() == [0, 1, 2]
    assert p.money_flow.src.tolist() == [2, 0]


def test_inverse_share_rarity() -> None:
    """With Rarity.INVERSE_SHARE a device shared by three gives each pair 1/2."""
    nodes, links = _small()
    p = project_tables(nodes, links, ProjectionConfig(rarity=Rarity.INVERSE_SHARE))
    edges = {
        (int(u), int(v)): float(w) for u, v, w in zip(p.src, p.dst, p.shared_weight, strict=True)
    }
    assert edges[(1, 2)] == pytest.approx(0.5)
    assert edges[(0, 1)] == pytest.approx(1.5)


def test_evidence_is_the_strongest_identifier() -> None:
    """The pair's evidence is the identifier contributing most (the rarer phone beats the device)."""
    nodes, links = _small()
    p = project_tables(nodes, links)
    first = int(np.flatnonzero((p.src == 0) & (p.dst == 1))[0])
    assert int(p.evidence_identifier[first]) == 4
    assert int(p.evidence_type[first]) == LINK_TYPE_CODE[LinkType.HAS_PHONE]
    money = int(np.flatnonzero((p.src == 0) & (p.dst == 2))[0])
    assert int(p.evidence_type[money]) == LINK_TYPE_CODE[LinkType.TRANSFERS_TO]


def test_super_nodes_are_excluded_and_reported() -> None:
    """A merchant above its cap makes no edge and is returned with its share count."""
    accounts: list[tuple[int, NodeType, dict[str, object]]] = [(i, A, {}) for i in range(5)]
    nodes = nodes_table([*accounts, (5, M, {})])
    links = links_table([(i, 5, LinkType.PAYS) for i in range(5)])
    capped = ProjectionConfig(max_share={M: 4})
    p = project_tables(nodes, links, capped)
    assert p.n_edges == 0
    assert p.super_nodes.to_pylist() == [
        {"id": 5, "type": "Merchant", "key": "M5", "share_count": 5}
    ]
    assert p.memberships.super_node.all()
    roomy = project_tables(nodes, links, ProjectionConfig(max_share={M: 5}))
    assert roomy.n_edges == 10
    assert roomy.super_nodes.num_rows == 0


def test_pairs_match_a_brute_force_count() -> None:
    """Random memberships: the projection's pairs are exactly the pairs sharing an identifier."""
    rng = np.random.default_rng(7)
    n_accounts, n_idents = 30, 12
    nodes = nodes_table(
        [(i, A, {}) for i in range(n_accounts)] + [(n_accounts + j, D, {}) for j in range(n_idents)]
    )
    pairs = {
        (int(a), int(n_accounts + d))
        for a, d in zip(rng.integers(0, n_accounts, 60), rng.integers(0, n_idents, 60), strict=True)
    }
    links = links_table([(a, d, LinkType.USES_DEVICE) for a, d in sorted(pairs)])
    p = project_tables(nodes, links)
    expected: dict[tuple[int, int], float] = {}
    for d in range(n_idents):
        users = sorted(a for a, x in pairs if x == n_accounts + d)
        k = len(users)
        for i in range(k):
            for j in range(i + 1, k):
                expected[(users[i], users[j])] = expected.get(
                    (users[i], users[j]), 0.0
                ) + 1 / math.log1p(k)
    got = {(int(u), int(v)): float(w) for u, v, w in zip(p.src, p.dst, p.weight, strict=True)}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value)


def test_invalid_config_is_refused() -> None:
    """A cap below 2, a negative weight, a materiality share or payment quantile outside
    [0, 1] or a negative look-back is InvalidInput."""
    with pytest.raises(InvalidInput):
        ProjectionConfig(max_share={D: 1})
    with pytest.raises(InvalidInput):
        ProjectionConfig(type_weights={D: -1.0})
    for bad in (
        {"pass_through_material": 1.5},
        {"pass_through_floor": -0.1},
        {"pass_through_lookback_days": -1.0},
    ):
        with pytest.raises(InvalidInput):
            ProjectionConfig(**bad)


def test_projection_from_an_ingested_store(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """Through the real ingestion path: A1 and A2 share device, IP, phone, email, address;
    sharing an address and an IP, they live together and keep ``household_weight`` of it."""
    ingestor = Ingestor(embedded_store, quarantine_dir=tmp_path / "q")
    try:
        ingestor.run([write_events(GOOD_EVENTS)])
    finally:
        ingestor.close()
    p = shared_identifier_projection(embedded_store)
    a1 = embedded_store.get_entity(A, "A1").id
    a2 = embedded_store.get_entity(A, "A2").id
    a3 = embedded_store.get_entity(A, "A3").id
    edges = {
        (int(u), int(v)): float(w) for u, v, w in zip(p.src, p.dst, p.shared_weight, strict=True)
    }
    config = ProjectionConfig()
    weights = config.type_weights
    expected = (
        (
            weights[D]
            + weights[IP]
            + weights[P]
            + weights[NodeType.EMAIL]
            + weights[NodeType.ADDRESS]
        )
        / math.log(3)
        * config.household_weight
    )
    assert edges[(min(a1, a2), max(a1, a2))] == pytest.approx(expected)
    assert p.money_flow.src.tolist() == [a2] and p.money_flow.dst.tolist() == [a3]


def test_people_living_together_keep_a_share_of_their_tie() -> None:
    """Accounts 0 and 1 share an address and an IP (living together): their tie keeps
    ``household_weight`` of it and is marked; accounts 1 and 2 share the address only:
    untouched."""
    ad = NodeType.ADDRESS
    nodes = nodes_table([(0, A, {}), (1, A, {}), (2, A, {}), (3, ad, {}), (4, IP, {})])
    links = links_table(
        [
            (0, 3, LinkType.HAS_ADDRESS),
            (1, 3, LinkType.HAS_ADDRESS),
            (2, 3, LinkType.HAS_ADDRESS),
            (0, 4, LinkType.LOGS_IN_FROM),
            (1, 4, LinkType.LOGS_IN_FROM),
        ]
    )
    full = project_tables(nodes, links, ProjectionConfig(household_weight=1.0))
    half = project_tables(nodes, links, ProjectionConfig(household_weight=0.5))
    pairs = list(zip(half.src.tolist(), half.dst.tolist(), strict=True))
    assert half.living_together.tolist() == [pair == (0, 1) for pair in pairs]
    ratio = dict(zip(pairs, (half.shared_weight / full.shared_weight).tolist(), strict=True))
    assert ratio == {(0, 1): 0.5, (0, 2): 1.0, (1, 2): 1.0}


def test_late_joint_take_up_counts_devices_and_proxies_not_ordinary_ips() -> None:
    """Accounts opened long ago that took up device 3 (and proxy 4) together and kept
    using them are marked; taking up ordinary IP 5 together (an office renumbered) is
    not; nor is a device taken up together at opening."""
    from tests.scoring.graphs import days

    nodes = nodes_table(
        [
            (0, A, {"first_ts": days(0)}),
            (1, A, {"first_ts": days(5)}),
            (2, A, {"first_ts": days(300)}),
            (6, A, {"first_ts": days(301)}),
            (8, A, {"first_ts": days(0)}),
            (9, A, {"first_ts": days(0)}),
            (3, D, {}),
            (4, IP, {"is_proxy": True}),
            (5, IP, {}),
            (7, D, {}),
        ]
    )
    late = {"first_ts": days(200), "n_events": 2}
    links = links_table(
        [
            (0, 3, LinkType.USES_DEVICE, late),
            (1, 3, LinkType.USES_DEVICE, {"first_ts": days(202), "n_events": 2}),
            (0, 4, LinkType.LOGS_IN_FROM, late),
            (1, 4, LinkType.LOGS_IN_FROM, late),
            (8, 5, LinkType.LOGS_IN_FROM, late),
            (9, 5, LinkType.LOGS_IN_FROM, late),
            (2, 7, LinkType.USES_DEVICE, {"first_ts": days(300), "n_events": 2}),
            (6, 7, LinkType.USES_DEVICE, {"first_ts": days(301), "n_events": 2}),
        ]
    )
    p = project_tables(nodes, links)
    late_kinds = dict(
        zip(zip(p.src.tolist(), p.dst.tolist(), strict=True), p.late_kinds.tolist(), strict=True)
    )
    from graph_service.model import NODE_TYPE_CODE

    device, ip = 1 << NODE_TYPE_CODE[D], 1 << NODE_TYPE_CODE[IP]
    assert late_kinds[(0, 1)] == device | ip
    assert late_kinds[(8, 9)] == 0
    assert late_kinds[(2, 6)] == 0
