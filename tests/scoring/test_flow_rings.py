"""Tests for ``scoring.flow_rings``: money-flow ring candidates among strangers.

Each of AMLSim's eight patterns, planted by the generator's ``plant_pattern``, is read as
a candidate of its own pattern with exactly its members; the payments of people who know
each other (a circle of friends, a pair paying each other back, relatives) are not
links between strangers; the cycle search is checked against networkx.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import networkx as nx
import numpy as np
import pytest

from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import InvalidInput
from graph_service.labels import LabelEntry
from graph_service.model import NodeType
from ingestion.loader import Ingestor
from ingestion.synthetic.aml import AmlPattern, AmlPatternParams, plant_pattern
from scoring.analysis import AnalysisConfig, AnalysisResult, analyse
from scoring.flagging import FLAG_THRESHOLD
from scoring.flow_rings import (
    FLOW_CANDIDATE_SCHEMA,
    FlowPattern,
    FlowRingConfig,
    flow_ring_candidates,
    stranger_links,
    transfer_links,
)
from scoring.projection import MoneyFlow
from tests.conftest import write_rows

START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
DAY_US = 86_400_000_000


def _aggregated(src: np.ndarray, dst: np.ndarray, ts: np.ndarray, amount: np.ndarray) -> MoneyFlow:
    """Single transfers aggregated per payer and payee, as the store links them."""
    key = src * 1_000_000 + dst
    pairs, inverse = np.unique(key, return_inverse=True)
    first = np.full(pairs.size, np.iinfo(np.int64).max)
    last = np.full(pairs.size, np.iinfo(np.int64).min)
    np.minimum.at(first, inverse, ts)
    np.maximum.at(last, inverse, ts)
    return transfer_links(
        pairs // 1_000_000,
        pairs % 1_000_000,
        first_ts=first,
        last_ts=last,
        amount=np.bincount(inverse, weights=amount),
    )


def _planted(pattern: AmlPattern, members: list[int], **params: object) -> MoneyFlow:
    batch = plant_pattern(
        pattern,
        np.asarray(members),
        start=START,
        rng=np.random.default_rng(7),
        params=AmlPatternParams(**params),  # type: ignore[arg-type]
    )
    return _aggregated(batch.account, batch.counterparty, batch.ts, batch.amount.astype(float))


def _candidates(flow: MoneyFlow, **config: int) -> list[tuple[str, list[int]]]:
    table = flow_ring_candidates(flow, FlowRingConfig(**config))
    return list(
        zip(table.column("pattern").to_pylist(), table.column("members").to_pylist(), strict=True)
    )


MEMBERS = [412, 77, 9_031, 5, 1_200, 63, 880, 31_337, 2_024]


@pytest.mark.parametrize(
    ("pattern", "size", "params"),
    [
        (AmlPattern.FAN_IN, 7, {}),
        (AmlPattern.FAN_OUT, 7, {}),
        (AmlPattern.CYCLE, 6, {}),
        (AmlPattern.SCATTER_GATHER, 6, {}),
        (AmlPattern.GATHER_SCATTER, 7, {}),
        (AmlPattern.BIPARTITE, 6, {}),
        (AmlPattern.STACK, 9, {"layers": 3}),
        (AmlPattern.RANDOM, 6, {"hops": 5}),
    ],
)
def test_each_planted_pattern_is_a_candidate_of_its_pattern_with_exactly_its_members(
    pattern: AmlPattern, size: int, params: dict[str, object]
) -> None:
    """The generator's pattern, alone in the book, is read as that pattern, every
    member in and no one else (a random walk with no other shape is an island)."""
    members = MEMBERS[:size]
    found = _candidates(_planted(pattern, members, **params), min_fan=3)
    assert (pattern.value, sorted(members)) in found


def test_a_cycle_says_whether_money_could_go_round_in_time_order() -> None:
    """A 5-cycle paid hop after hop goes round in time order; the same links paid in
    the reverse order of the hops do not (money left before it arrived)."""
    src, dst = [1, 2, 3, 4, 5], [2, 3, 4, 5, 1]
    ordered = flow_ring_candidates(transfer_links(src, dst, first_ts=[0, 1, 2, 3, 4]))
    reversed_ = flow_ring_candidates(transfer_links(src, dst, first_ts=[4, 3, 2, 1, 0]))
    assert ordered.column("in_time_order").to_pylist() == [True]
    assert reversed_.column("in_time_order").to_pylist() == [False]
    assert ordered.column("hops").to_pylist() == [5]


def test_payments_between_people_who_share_counterparties_are_not_between_strangers() -> None:
    """A triangle of friends, a pair paying each other back and relatives (sharing an
    identity attribute) are not strangers; a payment to an outsider is."""
    flow = transfer_links([1, 2, 3, 4, 5, 6, 1], [2, 3, 1, 5, 4, 7, 8])
    related = flow.related.copy()
    related[5] = True  # 6 and 7 share an address
    flow = MoneyFlow(**{**{f: getattr(flow, f) for f in flow.__slots__}, "related": related})
    assert stranger_links(flow, 0.01).tolist() == [False, False, False, False, False, False, True]


def test_a_counterparty_shared_with_everyone_does_not_make_two_accounts_acquainted() -> None:
    """Two accounts that both pay a supermarket paid by 200 others are still strangers
    to each other (the shared counterparty weighs 1/202), but a shared friend is not."""
    shoppers = np.arange(100, 300)
    src = np.concatenate([[1, 2, 1], shoppers])
    dst = np.concatenate([[2, 9, 9], np.full(shoppers.size, 9)])
    strange = stranger_links(transfer_links(src, dst), 0.01)
    assert bool(strange[0])  # 1 -> 2: their only shared counterparty is the supermarket
    friend = stranger_links(transfer_links([1, 1, 2], [2, 3, 3]), 0.01)
    assert not friend.any()


def test_a_fan_larger_than_max_members_is_a_business_not_a_candidate() -> None:
    """A payroll of 80 unrelated employees is no candidate; a fan of 8 is."""
    payroll = transfer_links(np.full(80, 1), np.arange(100, 180))
    assert _candidates(payroll) == []
    small = transfer_links(np.full(8, 1), np.arange(100, 108))
    assert _candidates(small) == [("fan_out", [1, *range(100, 108)])]


def test_the_busiest_month_of_a_drawn_out_fan_is_a_candidate_of_its_own() -> None:
    """A collector paid by six strangers within three days, beside three other strangers
    over the months after: the whole fan and its burst (the six, spanning three days)
    are candidates; a stranger whose link goes on past the window is not in the burst."""
    days = [0, 1, 1, 2, 3, 3, 60, 120, 200]
    flow = transfer_links(np.arange(1, 10), np.full(9, 100), first_ts=np.asarray(days) * DAY_US)
    table = flow_ring_candidates(flow, FlowRingConfig(min_fan=4))
    rows = table.select(["members", "span_days", "links"]).to_pylist()
    assert rows == [
        {"members": [*range(1, 10), 100], "span_days": 200.0, "links": 9},
        {"members": [1, 2, 3, 4, 5, 6, 100], "span_days": 3.0, "links": 6},
    ]
    last = np.asarray(days) * DAY_US
    last[0] = 90 * DAY_US  # stranger 1 keeps paying for three months
    lasting = transfer_links(
        np.arange(1, 10), np.full(9, 100), first_ts=np.asarray(days) * DAY_US, last_ts=last
    )
    burst = flow_ring_candidates(lasting, FlowRingConfig(min_fan=4)).column("members")
    assert burst.to_pylist()[1] == [2, 3, 4, 5, 6, 100]


def test_a_fan_within_one_burst_or_without_a_busy_month_has_no_second_candidate() -> None:
    """A fan paid within a fortnight is its own burst; one whose strangers come one a
    month has no stretch of min_fan; a business's fan has no burst either."""
    tight = transfer_links(np.arange(1, 7), np.full(6, 100), first_ts=np.arange(6) * 2 * DAY_US)
    assert _candidates(tight) == [("fan_in", [*range(1, 7), 100])]
    monthly = transfer_links(np.arange(1, 7), np.full(6, 100), first_ts=np.arange(6) * 40 * DAY_US)
    assert _candidates(monthly) == [("fan_in", [*range(1, 7), 100])]
    busy = np.concatenate([np.zeros(10), np.arange(70) * 10 + 100]) * DAY_US
    business = transfer_links(np.arange(1, 81), np.full(80, 100), first_ts=busy)
    assert _candidates(business) == []


def test_gather_scatter_needs_the_money_passed_on_less_a_margin() -> None:
    """A hub paid 100 by each of three strangers that pays 95 to each of three others
    after is gather-scatter; paying them 5 each (its own bills) is not."""
    src = [1, 2, 3, 9, 9, 9]
    dst = [9, 9, 9, 4, 5, 6]
    ts = [0, 1, 2, 10, 11, 12]
    passed = transfer_links(src, dst, first_ts=ts, amount=[100, 100, 100, 95, 95, 95])
    bills = transfer_links(src, dst, first_ts=ts, amount=[100, 100, 100, 5, 5, 5])
    assert ("gather_scatter", [1, 2, 3, 4, 5, 6, 9]) in _candidates(passed)
    assert all(p != "gather_scatter" for p, _ in _candidates(bills))


def test_a_set_of_members_is_read_once_by_the_first_pattern() -> None:
    """Four strangers paying one account are a fan-in, not also a random island."""
    found = _candidates(transfer_links([1, 2, 3, 4], [9, 9, 9, 9]), min_island=3)
    assert found == [("fan_in", [1, 2, 3, 4, 9])]


def test_cycles_match_networkx_on_a_random_graph_of_strangers() -> None:
    """On a sparse random graph with no triangles or pairs paying back and no hubs,
    every simple cycle of 3 to 6 accounts networkx finds is a cycle candidate, and
    no other."""
    rng = np.random.default_rng(3)
    graph = nx.gnm_random_graph(60, 70, seed=3, directed=True)
    graph.remove_edges_from([(u, v) for u, v in list(graph.edges) if graph.has_edge(v, u)])
    undirected = graph.to_undirected()
    for triangle in [c for c in nx.enumerate_all_cliques(undirected) if len(c) == 3]:
        a, b = triangle[:2]
        graph.remove_edges_from([(a, b), (b, a)])
    edges = np.asarray(list(graph.edges), np.int64)
    flow = transfer_links(edges[:, 0], edges[:, 1], first_ts=rng.integers(0, 100, len(edges)))
    assert stranger_links(flow, 0.01).all()
    expected = {tuple(sorted(c)) for c in nx.simple_cycles(graph, length_bound=6) if len(c) >= 3}
    table = flow_ring_candidates(flow, FlowRingConfig(max_cycle_length=6, hub_links=50))
    found = {
        tuple(m)
        for p, m in zip(
            table.column("pattern").to_pylist(), table.column("members").to_pylist(), strict=True
        )
        if p == "cycle"
    }
    # A cycle's member set can repeat (two cycles through the same accounts); sets match.
    assert found == expected


def test_a_cycle_through_two_hubs_is_not_searched() -> None:
    """Hubs join everything to everything: a cycle may pass through one at most."""
    ring = transfer_links([1, 2, 3, 4], [2, 3, 4, 1])
    busy = np.arange(100, 120)
    src = np.concatenate([ring.src, np.full(20, 1), np.full(20, 3)])
    dst = np.concatenate([ring.dst, busy, busy + 50])
    flow = transfer_links(src, dst)
    assert ("cycle", [1, 2, 3, 4]) in _candidates(flow, hub_links=30)
    assert ("cycle", [1, 2, 3, 4]) not in _candidates(flow)  # 1 and 3 have 21 links


def test_an_empty_flow_has_no_candidates() -> None:
    table = flow_ring_candidates(transfer_links([], []))
    assert table.num_rows == 0
    assert table.schema == FLOW_CANDIDATE_SCHEMA


@pytest.mark.parametrize(
    "config",
    [
        {"stranger_max_shared": 0.0},
        {"min_fan": 1},
        {"max_members": 4},
        {"hub_links": 1},
        {"max_cycle_length": 2},
        {"max_cycle_length": 21},
        {"max_cycles": 0},
        {"min_island": 2},
        {"pass_on_low": 0.9, "pass_on_high": 0.8},
    ],
)
def test_invalid_settings_are_refused(config: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        FlowRingConfig(**config)  # type: ignore[arg-type]


def test_patterns_are_the_eight_aml_typologies() -> None:
    assert {p.value for p in FlowPattern} == {p.value for p in AmlPattern}


# ------------------------------------------------------------ through the whole analysis

BOOK_START = datetime(2025, 1, 1, tzinfo=UTC)

#: How each pattern's reasons start.
SHAPE_REASON = {
    AmlPattern.FAN_IN: "FAN_IN_FROM_",
    AmlPattern.FAN_OUT: "FAN_OUT_TO_",
    AmlPattern.CYCLE: "CYCLE_OF_",
    AmlPattern.SCATTER_GATHER: "SCATTER_GATHER_THROUGH_",
    AmlPattern.GATHER_SCATTER: "GATHER_SCATTER_AROUND_",
    AmlPattern.BIPARTITE: "BIPARTITE_",
    AmlPattern.STACK: "STACK_OF_",
    AmlPattern.RANDOM: "MONEY_AMONG_",
}
SIZES = {
    AmlPattern.FAN_IN: 7,
    AmlPattern.FAN_OUT: 7,
    AmlPattern.CYCLE: 6,
    AmlPattern.SCATTER_GATHER: 7,
    AmlPattern.GATHER_SCATTER: 7,
    AmlPattern.BIPARTITE: 6,
    AmlPattern.STACK: 9,
    AmlPattern.RANDOM: 6,
}


@pytest.fixture(scope="module")
def planted(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[AnalysisResult, dict[str, str], dict[AmlPattern, set[str]]]:
    """A book of 1,600 friends paying each other back, a payroll of 25 and a landlord
    of 10 tenants paid monthly, and one ring of each of the eight patterns (members
    with no other activity, half of them confirmed fraud), analysed."""
    tmp = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(11)
    rows: list[dict[str, Any]] = []

    def pay(ts: datetime, payer: str, payee: str, amount: float) -> None:
        rows.append(
            {
                "event_id": f"t{len(rows)}",
                "ts": ts.isoformat().replace("+00:00", "Z"),
                "event_type": "transfer",
                "account_id": payer,
                "counterparty_account_id": payee,
                "amount": f"{amount:.2f}",
                "currency": "USD",
            }
        )

    for circle in range(400):
        people = [f"F{circle}_{i}" for i in range(4)]
        for month in range(12):
            a, b = rng.choice(4, 2, replace=False)
            day = 30 * month + int(rng.integers(0, 28))
            pay(BOOK_START + timedelta(days=day), people[a], people[b], float(rng.integers(10, 80)))
    for month in range(6):
        for e in range(25):
            pay(BOOK_START + timedelta(days=30 * month + 1, minutes=e), "EMPLOYER", f"E{e}", 2500.0)
        for t in range(10):
            pay(BOOK_START + timedelta(days=30 * month + 3, hours=t), f"T{t}", "LANDLORD", 900.0)
    rings: dict[AmlPattern, set[str]] = {}
    for p, pattern in enumerate(AmlPattern):
        members = np.arange(SIZES[pattern]) + 1000 * (p + 1)
        # A random walk that only pays each member once: one that goes back and forth
        # among the same few is, by its links, a circle of acquaintances.
        hops = SIZES[pattern] - 1 if pattern is AmlPattern.RANDOM else None
        legs = plant_pattern(
            pattern,
            members,
            start=BOOK_START + timedelta(days=100 + 10 * p),
            rng=np.random.default_rng(p),
            params=AmlPatternParams(period_days=20.0, hops=hops),
        )
        for a, b, ts, cents in zip(
            legs.account.tolist(),
            legs.counterparty.tolist(),
            legs.ts.tolist(),
            legs.amount.tolist(),
            strict=True,
        ):
            pay(datetime.fromtimestamp(ts / 1e6, UTC), f"M{a}", f"M{b}", cents / 100)
        rings[pattern] = {f"M{m}" for m in members.tolist()}
    feed = write_rows(tmp / "events.csv", rows, None)
    store = EmbeddedStore(tmp / "store", memory_limit="1GB", threads=2)
    try:
        ingestor = Ingestor(store, quarantine_dir=tmp / "quarantine")
        try:
            ingestor.run([feed])
        finally:
            ingestor.close()
        store.add_labels(
            [
                LabelEntry(NodeType.ACCOUNT, key, "fraud", "sar", ts=BOOK_START + timedelta(300))
                for members in rings.values()
                for key in sorted(members)[::2]
            ]
        )
        result = analyse(store, AnalysisConfig(write_scores=False))
        nodes = store.export_nodes()
    finally:
        store.close()
    keys = dict(zip(nodes.column("id").to_pylist(), nodes.column("key").to_pylist(), strict=True))
    return result, keys, rings


@pytest.mark.parametrize("pattern", list(AmlPattern))
def test_each_planted_pattern_is_flagged_typed_and_explained_by_the_analysis(
    pattern: AmlPattern,
    planted: tuple[AnalysisResult, dict[str, str], dict[AmlPattern, set[str]]],
) -> None:
    """Among friends paying each other back, a payroll and a landlord, each planted
    pattern comes out as one ring of exactly its members, above the flagging threshold,
    typed as its pattern, its reasons led by its shape."""
    result, keys, rings = planted
    found = [
        ring
        for ring in result.ring_candidates.to_pylist()
        if {keys[m] for m in ring["members"]} == rings[pattern]
    ]
    assert len(found) == 1
    ring = found[0]
    assert ring["typology"] == pattern.value
    assert ring["reasons"][0].startswith(SHAPE_REASON[pattern])
    assert ring["score"] >= FLAG_THRESHOLD


def test_payroll_landlord_and_friends_are_not_flagged(
    planted: tuple[AnalysisResult, dict[str, str], dict[AmlPattern, set[str]]],
) -> None:
    """A payroll (a fan-out of strangers), a landlord (a fan-in) and circles of friends
    have no fraud evidence: none of them is in a ring above the threshold."""
    result, keys, rings = planted
    ring_members = set().union(*rings.values())
    for ring in result.ring_candidates.to_pylist():
        members = {keys[m] for m in ring["members"]}
        if not members & ring_members:
            assert ring["score"] < FLAG_THRESHOLD, (members, ring["reasons"])
