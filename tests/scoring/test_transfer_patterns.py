"""Transfer-pattern features: known answers on hand-built transfer tables, networkx as
the oracle for temporal cycles, row order never mattering, both store backends."""

from __future__ import annotations

import doctest
import itertools
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pyarrow as pa
import pytest

import scoring.transfer_patterns as transfer_patterns
from graph_service import GraphStore, InvalidInput, NodeType
from graph_service.embedded.store import EmbeddedStore
from graph_service.transfers import TRANSFER_EXPORT_SCHEMA
from ingestion.loader import Ingestor
from scoring.transfer_patterns import (
    TransferPatternConfig,
    activity,
    book,
    feature_columns,
    passing,
    structures,
    transfer_pattern_features,
)
from tests.conftest import transfer_events, write_rows

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Row = tuple[int, int, float, float]  # payer, payee, day, amount


def transfers(rows: Sequence[Row]) -> pa.Table:
    """A transfer table from ``(payer, payee, day, amount)`` rows."""
    return pa.table(
        {
            "src": pa.array([r[0] for r in rows], pa.int64()),
            "dst": pa.array([r[1] for r in rows], pa.int64()),
            "ts": pa.array([T0 + timedelta(days=r[2]) for r in rows], pa.timestamp("us", "UTC")),
            "amount": pa.array([float(r[3]) for r in rows], pa.float64()),
        },
        schema=TRANSFER_EXPORT_SCHEMA,
    )


def features(rows: Sequence[Row], **kwargs: Any) -> dict[int, dict[str, Any]]:
    """Features by account id."""
    table = transfer_pattern_features(transfers(rows), **kwargs)
    return {r["account"]: r for r in table.to_pylist()}


def cycle(nodes: Sequence[int], days: Sequence[float]) -> list[Row]:
    """One transfer along each hop of the cycle ``nodes``, at ``days``."""
    return [
        (a, nodes[(i + 1) % len(nodes)], d, 100.0)
        for i, (a, d) in enumerate(zip(nodes, days, strict=True))
    ]


# --- bursts and the point-in-time window ------------------------------------------


def test_a_fan_in_burst_counts_every_payer_within_a_day() -> None:
    """23 payers within 24 hours: max_payers_1d is 23. The same 23 spread over 60 days:
    never more than one in a day, though all 23 paid overall."""
    burst = features([(100 + i, 1, i / 24, 50.0) for i in range(23)])[1]
    assert burst["max_payers_1d"] == 23
    assert burst["payers"] == 23
    spread = features([(100 + i, 1, i * 60 / 23, 50.0) for i in range(23)])[1]
    assert spread["max_payers_1d"] == 1
    assert spread["max_payers_30d"] == 12  # 11 gaps of 60/23 days fit in 30 days
    assert spread["payers"] == 23


def test_a_payer_paying_twice_counts_once_in_a_window() -> None:
    """Distinct payers, not payments: one payer three times in a day is one; a window is
    (t - w, t], so a payment exactly a window later starts a new count."""
    rows = [(7, 1, 0.0, 10.0), (7, 1, 0.2, 10.0), (7, 1, 0.4, 10.0), (8, 1, 1.0, 10.0)]
    account = features(rows)[1]
    assert account["max_payers_1d"] == 2  # 7 (at 0.2 and 0.4) and 8 (at 1.0)
    assert features([(7, 1, 0.0, 1.0), (8, 1, 1.0, 1.0)])[1]["max_payers_1d"] == 1


def test_a_fan_out_burst_counts_every_payee() -> None:
    """One account paying 10 accounts within 7 days (but not one day)."""
    account = features([(1, 10 + i, i * 0.7, 20.0) for i in range(10)])[1]
    assert account["max_payees_7d"] == 10
    assert account["max_payees_1d"] == 2


def test_as_of_cuts_later_transfers_and_windows_end_there() -> None:
    """At ``as_of`` only earlier transfers count: a later payer, and an account that
    first appears later, are not seen; the 1-day window ends at ``as_of``."""
    rows = [(2, 1, 0.0, 100.0), (3, 1, 5.5, 40.0), (4, 1, 9.0, 70.0), (1, 5, 9.5, 80.0)]
    seen = features(rows, as_of=T0 + timedelta(days=6))
    assert set(seen) == {1, 2, 3}
    assert seen[1]["payers"] == 2
    assert seen[1]["payers_1d"] == 1  # 3 paid within the day before as_of; 2 did not
    assert seen[1]["amount_in_1d"] == pytest.approx(40.0)
    assert seen[1]["amount_in_7d"] == pytest.approx(140.0)
    latest = features(rows)  # as_of defaults to the last transfer, day 9.5
    assert latest[1]["payers_1d"] == 1 and latest[1]["payees_1d"] == 1
    assert latest[1]["amount_out_1d"] == pytest.approx(80.0)


def test_an_empty_table_gives_no_rows_with_every_column() -> None:
    """No transfers, no accounts; the schema still names every column."""
    table = transfer_pattern_features(TRANSFER_EXPORT_SCHEMA.empty_table())
    assert table.num_rows == 0
    assert table.column_names == feature_columns()


def test_columns_follow_the_configured_windows() -> None:
    """Each configured window adds its six columns; counts are int64, money float64."""
    config = TransferPatternConfig(windows_days=(2, 14))
    table = transfer_pattern_features(transfers([(1, 2, 0.0, 5.0)]), config=config)
    assert table.column_names == feature_columns(config)
    assert "max_payers_14d" in table.column_names and "payers_1d" not in table.column_names
    assert table.schema.field("payers_2d").type == pa.int64()
    assert table.schema.field("amount_in_2d").type == pa.float64()


# --- money passed on ----------------------------------------------------------------


def test_passing_on_ninety_percent_keeps_a_tenth() -> None:
    """1,000 in, 900 out a day later: 90% passed on, a 10% margin, a 24-hour delay."""
    mule = features([(9, 1, 0.0, 1000.0), (1, 2, 1.0, 900.0)])[1]
    assert mule["pass_through"] == pytest.approx(0.9)
    assert mule["pass_through_margin"] == pytest.approx(0.1)
    assert mule["median_delay_hours"] == pytest.approx(24.0)


def test_money_received_but_kept_lowers_the_share_not_the_margin() -> None:
    """A further 500 in that never goes out: 900 of 1,500 passed on; the cut on what was
    passed on is still 10%."""
    mule = features([(9, 1, 0.0, 1000.0), (1, 2, 1.0, 900.0), (8, 1, 20.0, 500.0)])[1]
    assert mule["pass_through"] == pytest.approx(0.6)
    assert mule["pass_through_margin"] == pytest.approx(0.1)


def test_money_out_too_late_or_before_it_came_is_not_passed_on() -> None:
    """Out 8 days after (window 7): nothing passed on, no margin. Out before the money
    came in: nothing passed on either; more out than in is capped by what came in."""
    late = features([(9, 1, 0.0, 1000.0), (1, 2, 8.0, 900.0)])[1]
    assert late["pass_through"] == 0.0
    assert math.isnan(late["pass_through_margin"])
    assert late["median_delay_hours"] == pytest.approx(192.0)
    early = features([(1, 2, 0.0, 900.0), (9, 1, 1.0, 1000.0)])[1]
    assert early["pass_through"] == 0.0
    assert math.isnan(early["median_delay_hours"])
    more = features([(9, 1, 0.0, 100.0), (1, 2, 1.0, 900.0)])[1]
    assert more["pass_through"] == 1.0
    assert math.isnan(features([(9, 1, 0.0, 1.0)])[9]["pass_through"])  # nothing came in


def test_median_delay_is_over_payments_in() -> None:
    """Payments in at hours 0, 10 and 20, one payment out at hour 30: delays 30, 20, 10."""
    rows = [(7, 1, 0.0, 1.0), (8, 1, 10 / 24, 1.0), (9, 1, 20 / 24, 1.0), (1, 2, 30 / 24, 1.0)]
    assert features(rows)[1]["median_delay_hours"] == pytest.approx(20.0)


def test_gather_scatter_counts_payer_payee_routes_through_a_hub() -> None:
    """Three payers, then two payees within the pass-through window: 3 x 2 routes. The
    payees paid before the money came in, or once only, make no gather-scatter."""
    gather = [(1, 0, 0.0, 100.0), (2, 0, 0.1, 100.0), (3, 0, 0.2, 100.0)]
    assert features([*gather, (0, 4, 1.0, 140.0), (0, 5, 1.1, 140.0)])[0]["gather_scatter"] == 6
    before = [(0, 4, -1.0, 140.0), (0, 5, -0.9, 140.0)]
    assert features([*gather, *before])[0]["gather_scatter"] == 0
    assert features([*gather, (0, 4, 1.0, 280.0)])[0]["gather_scatter"] == 0


# --- amounts ------------------------------------------------------------------------


def test_alike_and_round_amounts() -> None:
    """Equal amounts in: variation 0. Round hundreds in, pence out: half round."""
    rows = [(7, 1, 0.0, 300.0), (8, 1, 1.0, 300.0), (1, 9, 2.0, 12.34), (1, 9, 3.0, 56.78)]
    account = features(rows)[1]
    assert account["amount_cv_in"] == 0.0
    assert account["amount_cv_out"] == pytest.approx(np.std([12.34, 56.78]) / 34.56)
    assert account["round_share"] == pytest.approx(0.5)
    config = TransferPatternConfig(round_unit=1000.0)
    assert features(rows, config=config)[1]["round_share"] == 0.0


# --- temporal cycles ----------------------------------------------------------------


def test_a_five_cycle_in_time_order_counts() -> None:
    """1 -> 2 -> 3 -> 4 -> 5 -> 1 one day apart: one 5-hop cycle through each account."""
    found = features(cycle([1, 2, 3, 4, 5], [0, 1, 2, 3, 4]))
    for account in range(1, 6):
        assert found[account]["temporal_cycles"] == 1
        assert found[account]["shortest_temporal_cycle_hops"] == 5
        assert found[account]["reciprocal_pairs"] == 0


def test_a_cycle_starting_anywhere_in_time_order_counts() -> None:
    """The same cycle whose earliest hop is 3 -> 4: travelled from 3, it still counts."""
    found = features(cycle([1, 2, 3, 4, 5], [3, 4, 0, 1, 2]))
    assert found[1]["temporal_cycles"] == 1


def test_the_same_edges_out_of_time_order_are_no_cycle() -> None:
    """Each hop earlier than the one before: no rotation can be travelled in order."""
    found = features(cycle([1, 2, 3, 4, 5], [4, 3, 2, 1, 0]))
    assert all(found[a]["temporal_cycles"] == 0 for a in range(1, 6))
    assert all(found[a]["shortest_temporal_cycle_hops"] == 0 for a in range(1, 6))


def test_a_cycle_closing_after_the_window_is_no_cycle() -> None:
    """Closing 31 days after it started (window 30): not counted; with a 40-day window it
    is."""
    rows = cycle([1, 2, 3, 4, 5], [0, 1, 2, 3, 31])
    assert features(rows)[1]["temporal_cycles"] == 0
    wide = TransferPatternConfig(cycle_window_days=40)
    assert features(rows, config=wide)[1]["temporal_cycles"] == 1


def test_cycles_longer_than_the_hop_limit_are_not_searched() -> None:
    """A 5-cycle with max_cycle_hops 4: not counted; a 3-cycle beside it is."""
    rows = cycle([1, 2, 3, 4, 5], [0, 1, 2, 3, 4]) + cycle([7, 8, 9], [0, 1, 2])
    found = features(rows, config=TransferPatternConfig(max_cycle_hops=4))
    assert found[1]["temporal_cycles"] == 0
    assert found[7]["temporal_cycles"] == 1 and found[7]["shortest_temporal_cycle_hops"] == 3


def test_reciprocal_pairs_are_round_trips_in_time_order() -> None:
    """1 pays 2 and 2 pays back later: a reciprocal pair; 3 paid back before 1 paid it:
    none; round trips are not temporal cycles."""
    found = features([(1, 2, 0.0, 50.0), (2, 1, 1.0, 50.0), (3, 1, 0.0, 5.0), (1, 3, 2.0, 5.0)])
    assert found[2]["reciprocal_pairs"] == 1
    assert found[1]["reciprocal_pairs"] == 2  # with 3 too: 3 -> 1 on day 0, 1 -> 3 on day 2
    found = features([(1, 2, 5.0, 50.0), (2, 1, 1.0, 50.0), (1, 2, 40.0, 50.0)])
    assert found[1]["reciprocal_pairs"] == 1  # 2 -> 1 on day 1, then 1 -> 2 on day 5
    late = features([(1, 2, 0.0, 50.0), (2, 1, 31.0, 50.0)])
    assert late[1]["reciprocal_pairs"] == 0
    assert late[1]["temporal_cycles"] == 0


def test_hubs_are_left_out_of_cycles() -> None:
    """A cycle through an account with more counterparties than hub_degree: not counted
    for anyone (the hub's other columns still are)."""
    rows = cycle([1, 2, 3], [0, 1, 2]) + [(1, 100 + i, 0.5, 1.0) for i in range(5)]
    config = TransferPatternConfig(hub_degree=4)
    found = features(rows, config=config)
    assert found[2]["temporal_cycles"] == 0
    assert found[1]["payees"] == 6
    assert features(rows)[2]["temporal_cycles"] == 1


def _temporal(
    cycle_nodes: list[int], times: dict[tuple[int, int], list[float]], window: float
) -> bool:
    """Brute force: some rotation and some choice of one transfer per hop is in time
    order and closes within ``window`` of its first hop."""
    k = len(cycle_nodes)
    for turn in range(k):
        nodes = cycle_nodes[turn:] + cycle_nodes[:turn]
        hops = [(nodes[i], nodes[(i + 1) % k]) for i in range(k)]
        for choice in itertools.product(*(times[h] for h in hops)):
            ordered = all(a <= b for a, b in itertools.pairwise(choice))
            if ordered and choice[-1] - choice[0] <= window:
                return True
    return False


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_temporal_cycles_match_networkx(seed: int) -> None:
    """On a small random time-stamped graph: the cycles networkx enumerates, kept when
    travellable in time order within the window, per account, are the counts."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for _ in range(60):
        a, b = rng.choice(10, size=2, replace=False)
        rows.append((int(a), int(b), float(rng.integers(0, 90 * 24)) / 24, 10.0))
    window = 30
    config = TransferPatternConfig(max_cycle_hops=5, cycle_window_days=window, hub_degree=1000)
    found = features(rows, config=config)
    times: dict[tuple[int, int], list[float]] = {}
    for a, b, day, _ in rows:
        times.setdefault((a, b), []).append(day)
    graph = nx.DiGraph(list(times))
    counted = dict.fromkeys(found, 0)
    reciprocal = dict.fromkeys(found, 0)
    shortest = dict.fromkeys(found, 0)
    for nodes in nx.simple_cycles(graph, length_bound=5):
        if not _temporal(nodes, times, window):
            continue
        for node in nodes:
            if len(nodes) == 2:
                reciprocal[node] += 1
                continue
            counted[node] += 1
            shortest[node] = min(shortest[node] or len(nodes), len(nodes))
    assert sum(counted.values()) > 0
    assert {a: r["temporal_cycles"] for a, r in found.items()} == counted
    assert {a: r["reciprocal_pairs"] for a, r in found.items()} == reciprocal
    assert {a: r["shortest_temporal_cycle_hops"] for a, r in found.items()} == shortest


# --- scatter-gather, bipartite, stacks ----------------------------------------------


def test_scatter_gather_through_two_intermediaries_in_time_order() -> None:
    """1 scatters to 2, 3, 4 and they gather to 5 later: one sink for 1, one source for
    5. Gathered before the scatter, or through one intermediary only: none."""
    scatter = [(1, m, 0.0, 100.0) for m in (2, 3, 4)]
    found = features([*scatter, *[(m, 5, 1.0, 90.0) for m in (2, 3, 4)]])
    assert found[1]["scatter_gather"] == 1 and found[5]["scatter_gather_sink"] == 1
    assert found[1]["scatter_gather_sink"] == 0 and found[2]["scatter_gather"] == 0
    before = features([*scatter, *[(m, 5, -1.0, 90.0) for m in (2, 3, 4)]])
    assert before[1]["scatter_gather"] == 0
    one = features([*scatter, (2, 5, 1.0, 90.0)])
    assert one[1]["scatter_gather"] == 0
    late = features([*scatter, *[(m, 5, 31.0, 90.0) for m in (2, 3, 4)]])
    assert late[1]["scatter_gather"] == 0


def test_two_payers_paying_the_same_two_payees_are_bipartite() -> None:
    """1 and 2 both pay 3 and 4: each has two payees in the block; 3 and 4 pay nobody.
    With 2 paying only 3 there is no block."""
    block = [(1, 3, 0.0, 10.0), (1, 4, 0.1, 10.0), (2, 3, 0.2, 10.0), (2, 4, 0.3, 10.0)]
    found = features(block)
    assert (found[1]["bipartite"], found[2]["bipartite"], found[3]["bipartite"]) == (2, 2, 0)
    assert found[1]["stack_depth"] == 1 and found[3]["stack_depth"] == 0
    assert features(block[:3])[1]["bipartite"] == 0


def test_co_payments_must_fall_within_the_window() -> None:
    """Payers paying the same payee 40 days apart (window 30) do not co-pay it."""
    rows = [(1, 3, 0.0, 10.0), (1, 4, 0.0, 10.0), (2, 3, 40.0, 10.0), (2, 4, 40.0, 10.0)]
    assert features(rows)[1]["bipartite"] == 0


def test_layers_of_blocks_stack() -> None:
    """{1, 2} pay {3, 4}, which pay {5, 6}: two layers below 1, one below 3, none
    below 5."""
    rows = [(a, b, 0.0, 10.0) for a in (1, 2) for b in (3, 4)]
    rows += [(a, b, 1.0, 9.0) for a in (3, 4) for b in (5, 6)]
    found = features(rows)
    assert [found[a]["stack_depth"] for a in (1, 2, 3, 4, 5, 6)] == [2, 2, 1, 1, 0, 0]
    assert found[3]["bipartite"] == 2


def test_bursts_and_passing_on_match_their_definitions() -> None:
    """On random transfers, the burst counts and the money passed on equal a direct
    reading of their definitions, account by account."""
    rows = _random_rows(7, 400)
    found = features(rows)
    day = 1.0
    for account, got in found.items():
        ins = [(a, t, x) for a, b, t, x in rows if b == account]
        outs = [(b, t, x) for a, b, t, x in rows if a == account]
        for w in (1, 7, 30):
            payers = max(
                (len({a for a, s, _ in ins if x - w < s <= x}) for _, x, _ in ins), default=0
            )
            payees = max(
                (len({b for b, s, _ in outs if x - w < s <= x}) for _, x, _ in outs), default=0
            )
            assert (got[f"max_payers_{w}d"], got[f"max_payees_{w}d"]) == (payers, payees)
        passed = 0.0
        for _, t, x in outs:
            received = sum(v for _, s, v in ins if t - 7 * day <= s <= t)
            sent = sum(v for _, s, v in outs if t - 7 * day <= s < t)
            passed += min(x, max(received - sent, 0.0))
        if ins:
            total = sum(v for _, _, v in ins)
            assert got["pass_through"] == pytest.approx(min(passed / total, 1.0))
        delays = [
            min(s - t for _, s, _ in outs if s >= t) * 24
            for _, t, _ in ins
            if any(s >= t for _, s, _ in outs)
        ]
        if delays:
            assert got["median_delay_hours"] == pytest.approx(float(np.median(delays)), abs=1e-3)


# --- determinism, validation, the stores --------------------------------------------


def _random_rows(seed: int, n: int = 300) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for _ in range(n):
        a, b = rng.choice(25, size=2, replace=False)
        day = float(rng.integers(0, 60 * 24)) / 24
        amount = float(rng.choice([100.0, 250.0, round(float(rng.uniform(1, 900)), 2)]))
        rows.append((int(a), int(b), day, amount))
    return rows


@pytest.mark.parametrize("seed", [1, 2])
def test_row_order_does_not_change_the_output(seed: int) -> None:
    """The features depend on the set of transfers only: any row order gives the same
    table (sums up to float rounding)."""
    rows = _random_rows(seed)
    config = TransferPatternConfig(hub_degree=20)
    expected = transfer_pattern_features(transfers(rows), config=config)
    assert expected.column("temporal_cycles").to_numpy().sum() > 0
    rng = np.random.default_rng(seed + 100)
    for _ in range(3):
        shuffled = [rows[i] for i in rng.permutation(len(rows))]
        got = transfer_pattern_features(transfers(shuffled), config=config)
        assert got.column_names == expected.column_names
        for name in expected.column_names:
            np.testing.assert_allclose(
                got.column(name).to_numpy(), expected.column(name).to_numpy(), rtol=1e-12
            )


def test_invalid_input_is_refused() -> None:
    """A missing column, a naive as_of, and impossible settings raise InvalidInput."""
    table = transfers([(1, 2, 0.0, 1.0)])
    with pytest.raises(InvalidInput):
        transfer_pattern_features(table.drop_columns(["amount"]))
    with pytest.raises(InvalidInput):
        transfer_pattern_features(table, as_of=datetime(2026, 1, 2))
    with pytest.raises(InvalidInput):
        TransferPatternConfig(max_cycle_hops=1)
    with pytest.raises(InvalidInput):
        TransferPatternConfig(windows_days=(7, 7))


BACKENDS = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each backend."""
    if request.param == "embedded":
        graph: GraphStore = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    else:
        from tests.graph_service.conftest import open_neo4j_store

        graph = open_neo4j_store(tmp_path / "store")
    yield graph
    graph.close()


def test_features_from_a_store_export(store: GraphStore, tmp_path: Path) -> None:
    """Transfers ingested as events and exported by the store give the same features as
    the hand-built table: A2 passes on 90% of A1's payment to A3."""
    events = transfer_events(
        [
            ("A1", "A2", "2026-01-01T10:00:00Z", "1000"),
            ("A2", "A3", "2026-01-02T10:00:00Z", "900"),
            ("A3", "A1", "2026-01-03T10:00:00Z", "800"),
        ]
    )
    Ingestor(store, quarantine_dir=tmp_path / "q").run([write_rows(tmp_path / "t.csv", events)])
    ids = {key: store.get_entity(NodeType.ACCOUNT, key).id for key in ("A1", "A2", "A3")}
    found = {
        r["account"]: r for r in transfer_pattern_features(store.export_transfers()).to_pylist()
    }
    a2 = found[ids["A2"]]
    assert a2["pass_through"] == pytest.approx(0.9)
    assert a2["median_delay_hours"] == pytest.approx(24.0)
    assert all(found[i]["temporal_cycles"] == 1 for i in ids.values())
    assert all(found[i]["shortest_temporal_cycle_hops"] == 3 for i in ids.values())


@pytest.mark.parametrize("module", [transfer_patterns, activity, book, passing, structures])
def test_docstring_examples_run(module: Any) -> None:
    """Every docstring example of the package gives the output it shows."""
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


def test_a_store_s_accounts_by_key_in_the_order_asked(store: GraphStore, tmp_path: Path) -> None:
    """Named accounts come back by key in the order asked, on either backend: A2 passes on
    90% of A1's payment; A4 moved no money (counts 0, amounts and ratios null, unlike A1's
    NaN pass-through: money out but none in); an unknown key is refused; without names,
    every account with a transfer, keyed."""
    from graph_service.errors import EntityNotFound
    from scoring.transfer_patterns.accounts import store_transfer_patterns

    events = transfer_events(
        [("A1", "A2", "2026-01-01T10:00:00Z", "1000"), ("A2", "A3", "2026-01-01T12:00:00Z", "900")]
    )
    events.append(
        {"event_id": "s4", "ts": "2026-01-01T09:00:00Z", "event_type": "signup", "account_id": "A4"}
    )
    Ingestor(store, quarantine_dir=tmp_path / "q").run([write_rows(tmp_path / "t.csv", events)])

    named = store_transfer_patterns(store, ["A2", "A4", "A1"]).to_pylist()

    assert [r["key"] for r in named] == ["A2", "A4", "A1"]
    assert [r["account"] for r in named] == [
        store.get_entity(NodeType.ACCOUNT, k).id for k in ("A2", "A4", "A1")
    ]
    assert named[0]["pass_through"] == pytest.approx(0.9)
    assert named[1]["transfers_in"] == 0 and named[1]["payers"] == 0
    assert named[1]["pass_through"] is None and named[1]["amount_in"] is None
    assert math.isnan(named[2]["pass_through"])
    with pytest.raises(EntityNotFound):
        store_transfer_patterns(store, ["A2", "nobody"])
    every = store_transfer_patterns(store)
    assert every.column("key").to_pylist() == ["A1", "A2", "A3"]
    assert every.column_names[:2] == ["key", "account"]
