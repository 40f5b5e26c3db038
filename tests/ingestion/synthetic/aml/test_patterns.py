"""Tests for ``ingestion.synthetic.aml.patterns``: AMLSim's eight patterns as transfers.

Each pattern is planted on a handful of accounts with known roles; the tests pin the
edge set, the time order (money moves on only after it arrived, scatter before
gather, stack layers in order), the margin on every pass-on, the parameters honoured,
that each pattern planted in a small world loads into a store as planted, and the
errors for parameters that cannot work.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest

from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import InvalidInput
from ingestion.loader import Ingestor
from ingestion.schema import EventType
from ingestion.synthetic.aml import AmlPattern, AmlPatternParams, AmlScenarioConfig, plant_pattern
from ingestion.synthetic.aml.benign import transfers
from ingestion.synthetic.hard.events import DAY, EVENT_CODE, EventBatch
from ingestion.synthetic.hard.groups import build_world
from ingestion.synthetic.hard.render import render, write_csv
from ingestion.synthetic.hard.world import World, draft_accounts, microseconds

START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
START_US = microseconds(START)
#: Account numbers unrelated to their role order.
MEMBERS = np.asarray([412, 77, 9_031, 5, 1_200, 63, 880, 31_337, 2_024, 150, 611, 7_777])


def _plant(pattern: AmlPattern, size: int, seed: int = 0, **params: Any) -> EventBatch:
    return plant_pattern(
        pattern,
        MEMBERS[:size],
        start=START,
        rng=np.random.default_rng(seed),
        params=AmlPatternParams(**params),
    )


def _edges(batch: EventBatch) -> list[tuple[int, int]]:
    return list(zip(batch.account.tolist(), batch.counterparty.tolist(), strict=True))


def _received(batch: EventBatch, account: int) -> float:
    return float(batch.amount[batch.counterparty == account].sum())


def _sent(batch: EventBatch, account: int) -> float:
    return float(batch.amount[batch.account == account].sum())


# ------------------------------------------------------------------------ every pattern


@pytest.mark.parametrize("pattern", list(AmlPattern))
def test_every_pattern_is_time_ordered_transfers_within_the_period(pattern: AmlPattern) -> None:
    """Transfers only, sorted by time, each between two distinct members, all within
    ``[start, start + period_days)``, amounts in cents, no device or IP."""
    batch = _plant(pattern, 9, period_days=10.0)
    assert len(batch) > 0
    assert (batch.etype == EVENT_CODE[EventType.TRANSFER]).all()
    assert (np.diff(batch.ts) > 0).all()
    assert batch.ts.min() >= START_US and batch.ts.max() < START_US + 10 * DAY
    assert set(batch.account.tolist()) | set(batch.counterparty.tolist()) == set(
        MEMBERS[:9].tolist()
    )
    assert (batch.account != batch.counterparty).all()
    assert np.array_equal(np.round(batch.amount, 2), batch.amount)
    assert (batch.amount > 0).all()
    assert (batch.device == -1).all() and (batch.ip == -1).all()


@pytest.mark.parametrize("pattern", list(AmlPattern))
def test_the_same_seed_plants_the_same_transfers(pattern: AmlPattern) -> None:
    """A pattern is a pure function of its members, parameters and random generator."""
    first, again, other = _plant(pattern, 8, 3), _plant(pattern, 8, 3), _plant(pattern, 8, 4)
    for column in ("account", "counterparty", "ts", "amount"):
        assert np.array_equal(getattr(first, column), getattr(again, column))
    assert not np.array_equal(first.ts, other.ts)


@pytest.mark.parametrize("pattern", list(AmlPattern))
def test_money_put_in_is_drawn_from_the_amount_range(pattern: AmlPattern) -> None:
    """Every leg stays within the range (pass-ons only shrink what came in)."""
    batch = _plant(pattern, 9, amount=(700.0, 900.0), margin=0.02)
    assert batch.amount.max() <= 900.0
    first_legs = {
        AmlPattern.FAN_OUT: batch.amount,
        AmlPattern.FAN_IN: batch.amount,
        AmlPattern.BIPARTITE: batch.amount,
        AmlPattern.CYCLE: batch.amount[:1],
        AmlPattern.RANDOM: batch.amount[:1],
    }.get(pattern)
    if first_legs is not None:
        assert first_legs.min() >= 700.0


# ----------------------------------------------------------------------- fans


def test_fan_out_sends_from_the_first_member_to_every_other_once() -> None:
    batch = _plant(AmlPattern.FAN_OUT, 7)
    assert sorted(_edges(batch)) == sorted((412, int(m)) for m in MEMBERS[1:7])


def test_fan_in_sends_from_every_other_member_to_the_first_once() -> None:
    batch = _plant(AmlPattern.FAN_IN, 7)
    assert sorted(_edges(batch)) == sorted((int(m), 412) for m in MEMBERS[1:7])


# ----------------------------------------------------------------------- chains


def _passes_on_minus_margin(batch: EventBatch, low: float, high: float) -> None:
    """Each hop passes on between ``low`` and ``high`` of the one before, to the cent."""
    ratio = batch.amount[1:] / batch.amount[:-1]
    cent = 0.01 / batch.amount[:-1]
    assert (ratio >= low - cent).all() and (ratio <= high + cent).all()


def test_cycle_hands_the_money_round_in_member_order_minus_the_margin() -> None:
    """a0 -> a1 -> ... -> a(n-1) -> a0, each hop after the last, 10% kept per hop."""
    batch = _plant(AmlPattern.CYCLE, 5, margin=0.1)
    ring = [int(m) for m in MEMBERS[:5]]
    assert _edges(batch) == list(zip(ring, [*ring[1:], ring[0]], strict=True))
    _passes_on_minus_margin(batch, 0.9, 0.9)


def test_jitter_varies_the_margin_within_its_bounds() -> None:
    """With jitter j each hop keeps between m(1-j) and m(1+j); the hops differ."""
    batch = _plant(AmlPattern.CYCLE, 12, margin=0.1, jitter=0.5, amount=(5_000.0, 9_000.0))
    _passes_on_minus_margin(batch, 0.85, 0.95)
    assert np.unique(np.round(batch.amount[1:] / batch.amount[:-1], 3)).size > 1


def test_random_walks_from_holder_to_holder_paying_every_member() -> None:
    """Each hop starts where the last ended, never stays put, and every member is paid."""
    batch = _plant(AmlPattern.RANDOM, 8, margin=0.05)
    assert len(batch) == 7 + 4  # size - 1 + size // 2 by default
    assert batch.account[0] == 412
    assert np.array_equal(batch.account[1:], batch.counterparty[:-1])
    assert set(batch.counterparty[:7].tolist()) == set(MEMBERS[1:8].tolist())
    _passes_on_minus_margin(batch, 0.95, 0.95)


def test_random_takes_the_number_of_hops_asked_for() -> None:
    assert len(_plant(AmlPattern.RANDOM, 5, hops=20)) == 20


# ---------------------------------------------------------------- scatter and gather


def test_scatter_gather_scatters_first_then_gathers_minus_the_margin() -> None:
    """Source -> each intermediary -> sink; every scatter leg before every gather leg;
    each intermediary passes on what it got minus 8%."""
    batch = _plant(AmlPattern.SCATTER_GATHER, 6, margin=0.08)
    source, middle, sink = 412, [int(m) for m in MEMBERS[1:5]], int(MEMBERS[5])
    scatter = batch.account == source
    assert sorted(_edges(batch.take(np.flatnonzero(scatter)))) == sorted(
        (source, m) for m in middle
    )
    assert sorted(_edges(batch.take(np.flatnonzero(~scatter)))) == sorted((m, sink) for m in middle)
    assert batch.ts[scatter].max() < batch.ts[~scatter].min()
    for m in middle:
        assert _sent(batch, m) == pytest.approx(_received(batch, m) * 0.92, abs=0.01)


def test_gather_scatter_gathers_into_the_hub_then_scatters_what_is_left() -> None:
    """Sources -> hub -> sinks (sources=3 of 7); gather legs first; the sinks share what
    the hub gathered minus 10%."""
    batch = _plant(AmlPattern.GATHER_SCATTER, 7, margin=0.1, sources=3)
    sources, hub, sinks = [int(m) for m in MEMBERS[:3]], int(MEMBERS[3]), MEMBERS[4:7]
    gather = batch.counterparty == hub
    assert sorted(_edges(batch.take(np.flatnonzero(gather)))) == sorted((s, hub) for s in sources)
    assert sorted(_edges(batch.take(np.flatnonzero(~gather)))) == sorted(
        (hub, int(s)) for s in sinks
    )
    assert batch.ts[gather].max() < batch.ts[~gather].min()
    assert _sent(batch, hub) == pytest.approx(_received(batch, hub) * 0.9, abs=0.03)
    assert _sent(batch, hub) <= _received(batch, hub) * 0.9 + 0.005  # to the cent


def test_gather_scatter_and_bipartite_split_members_by_default() -> None:
    """Without ``sources``: gather_scatter takes (size - 1) // 2 sources, bipartite
    puts size // 2 accounts in set A."""
    gather = _plant(AmlPattern.GATHER_SCATTER, 8)
    assert set(gather.account[gather.counterparty == MEMBERS[3]].tolist()) == set(
        MEMBERS[:3].tolist()
    )
    bipartite = _plant(AmlPattern.BIPARTITE, 7)
    assert set(bipartite.account.tolist()) == set(MEMBERS[:3].tolist())


# ------------------------------------------------------------- bipartite and stack


def test_bipartite_sends_from_every_account_of_a_to_every_account_of_b() -> None:
    batch = _plant(AmlPattern.BIPARTITE, 6, sources=2)
    expected = {(int(a), int(b)) for a in MEMBERS[:2] for b in MEMBERS[2:6]}
    assert sorted(_edges(batch)) == sorted(expected)


def test_stack_pays_layer_after_layer_passing_on_minus_the_margin() -> None:
    """Three layers of 3, 3 and 2: complete bipartite between consecutive layers, each
    layer's legs after the previous layer's, the middle passing on 93% of what it got."""
    batch = _plant(AmlPattern.STACK, 8, margin=0.07)
    first, middle, last = MEMBERS[:3], MEMBERS[3:6], MEMBERS[6:8]
    expected = {(int(a), int(b)) for a in first for b in middle}
    expected |= {(int(a), int(b)) for a in middle for b in last}
    assert sorted(_edges(batch)) == sorted(expected)
    into_middle = np.isin(batch.counterparty, middle)
    assert batch.ts[into_middle].max() < batch.ts[~into_middle].min()
    for m in middle.tolist():
        assert _sent(batch, m) == pytest.approx(_received(batch, m) * 0.93, abs=0.02)
        assert _sent(batch, m) <= _received(batch, m) * 0.93 + 0.005  # to the cent


def test_stack_honours_the_number_of_layers() -> None:
    """Four layers of 2: three steps, twelve legs, each step after the one before."""
    batch = _plant(AmlPattern.STACK, 8, layers=4)
    assert len(batch) == 3 * 4
    role = {int(m): i // 2 for i, m in enumerate(MEMBERS[:8])}
    source_layer = np.asarray([role[a] for a in batch.account.tolist()])
    assert (np.diff(source_layer) >= 0).all()
    assert [role[b] - role[a] for a, b in _edges(batch)] == [1] * 12


def test_pattern_names_are_accepted_as_strings() -> None:
    batch = plant_pattern("fan_in", [3, 4, 5], start=START, rng=np.random.default_rng(0))
    assert sorted(_edges(batch)) == [(4, 3), (5, 3)]


def test_the_period_and_start_are_honoured() -> None:
    """A 2-day period from a later start keeps every leg in those two days."""
    later = START + timedelta(days=100)
    batch = plant_pattern(
        AmlPattern.BIPARTITE,
        MEMBERS[:10],
        start=later,
        rng=np.random.default_rng(1),
        params=AmlPatternParams(period_days=2.0),
    )
    assert batch.ts.min() >= microseconds(later)
    assert batch.ts.max() < microseconds(later) + 2 * DAY


# ------------------------------------------------------------------ in a small world


@pytest.fixture(scope="module")
def world() -> World:
    """A 1,000-account book of the aml profile (canonical formats), no rings planted."""
    config = AmlScenarioConfig(accounts=1_000, seed=4, mixed_formats=False).world()
    rng = np.random.default_rng(4)
    return build_world(config, draft_accounts(config, rng), rng)


@pytest.mark.parametrize("pattern", list(AmlPattern))
def test_each_pattern_planted_in_a_small_world_ingests_as_planted(
    pattern: AmlPattern, world: World, tmp_path: Path
) -> None:
    """Planted among a world's customers (own phones and networks) and written as the
    feed, each pattern loads with nothing quarantined, and the store's transfers are the
    planted ones: the same directed graph, times (to the millisecond) and amounts."""
    start = START + timedelta(days=200)
    open_ = (world.created < microseconds(start) - 30 * DAY) & (
        world.closed > microseconds(start) + 31 * DAY
    )
    members = np.flatnonzero(open_)[:9]
    legs = plant_pattern(pattern, members, start=start, rng=np.random.default_rng(5))
    batch = transfers(world, legs.account, legs.counterparty, legs.ts, legs.amount)
    assert len(batch) == len(legs)
    feed = tmp_path / "events.csv"
    write_csv(render(world, batch, 0).table, feed)
    store = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "quarantine", default_region="US")
    try:
        report = ingestor.run([feed]).as_dict()
        stored = store.export_transfers()
    finally:
        ingestor.close()
        store.close()
    assert report["rows_quarantined"] == 0 and report["rows_loaded"] == len(batch)
    planted = nx.DiGraph(_edges(batch))
    loaded = nx.DiGraph(zip(stored["src"].to_pylist(), stored["dst"].to_pylist(), strict=True))
    assert nx.is_isomorphic(planted, loaded)
    times = [t.timestamp() for t in stored["ts"].to_pylist()]
    assert times == pytest.approx((batch.ts // 1_000 / 1e3).tolist(), abs=1e-6)
    assert stored["amount"].to_pylist() == batch.amount.tolist()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"amount": (0.5, 10.0)}, "amount must be (low, high) with 1 <= low <= high"),
        ({"amount": (500.0, 100.0)}, "amount must be (low, high) with 1 <= low <= high"),
        ({"margin": 1.0}, "margin must be in [0, 1)"),
        ({"margin": -0.1}, "margin must be in [0, 1)"),
        ({"period_days": 0.0}, "period_days must be > 0"),
        ({"jitter": 1.5}, "jitter must be in [0, 1]"),
        ({"margin": 0.6, "jitter": 1.0}, "margin * (1 + jitter) must be < 1"),
        ({"sources": 0}, "sources must be >= 1"),
        ({"layers": 1}, "layers must be >= 2"),
        ({"hops": 0}, "hops must be >= 1"),
    ],
)
def test_invalid_parameters_are_rejected(params: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        AmlPatternParams(**params)


@pytest.mark.parametrize(
    ("pattern", "members", "params", "problem"),
    [
        ("layering", [1, 2, 3], {}, "unknown AML pattern 'layering'"),
        (AmlPattern.CYCLE, [1, 2], {}, "cycle needs at least 3 members, got 2"),
        (AmlPattern.FAN_OUT, [1], {}, "fan_out needs at least 2 members, got 1"),
        (AmlPattern.STACK, [1, 2, 3], {"layers": 4}, "stack needs at least 4 members, got 3"),
        (AmlPattern.FAN_IN, [1, 2, 2], {}, "members must be distinct"),
        (AmlPattern.FAN_IN, [1, -2, 3], {}, "members must be >= 0"),
        (AmlPattern.FAN_IN, [1.5, 2.0], {}, "members must be a 1-D sequence"),
        (AmlPattern.FAN_IN, [[1, 2], [3, 4]], {}, "members must be a 1-D sequence"),
        (AmlPattern.BIPARTITE, [1, 2, 3], {"sources": 3}, "sources in [1, 2], got 3"),
        (AmlPattern.GATHER_SCATTER, [1, 2, 3, 4], {"sources": 3}, "sources in [1, 2], got 3"),
        (AmlPattern.RANDOM, [1, 2, 3, 4], {"hops": 2}, "hops >= size - 1 = 3, got 2"),
        (
            AmlPattern.FAN_OUT,
            list(range(20)),
            {"period_days": 0.005},
            "period_days=0.005 is too short for 19 transfers",
        ),
    ],
)
def test_parameters_that_do_not_fit_the_members_are_rejected(
    pattern: str, members: list[Any], params: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        plant_pattern(
            pattern,
            members,
            start=START,
            rng=np.random.default_rng(0),
            params=AmlPatternParams(**params),
        )


def test_a_naive_start_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="start must be timezone-aware"):
        plant_pattern(
            AmlPattern.FAN_IN, [1, 2], start=datetime(2025, 1, 1), rng=np.random.default_rng(0)
        )
