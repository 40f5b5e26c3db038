"""Tests for ``ingestion.synthetic.aml.generate``: the ``aml`` profile's files.

One 6,000-account scenario (canonical formats) is generated per module and queried with
DuckDB; each test pins one property an AML evaluation relies on: every pattern is
planted with its shape and time order among unrelated customers who share nothing, the
benign book holds money structures that look like the patterns, labels arrive as SARs
do, and the feed ingests whole.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import networkx as nx
import pytest

from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import InvalidInput
from ingestion.loader import Ingestor
from ingestion.synthetic import (
    AmlPattern,
    AmlPatternParams,
    AmlScenarioConfig,
    AmlScenarioSummary,
    MoneyFlowKind,
    generate_aml_scenario,
)


@dataclass
class Scenario:
    """A generated scenario and DuckDB tables over its files: ``events``, ``truth``,
    ``labels``, ``sharers``, ``flows`` and ``ring_transfers`` (transfers between two
    members of one ring, with ``ring_id`` and ``typology``)."""

    config: AmlScenarioConfig
    summary: AmlScenarioSummary
    db: duckdb.DuckDBPyConnection
    details: dict[str, Any]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.db.sql(sql).fetchall()

    def value(self, sql: str) -> Any:
        return self.rows(sql)[0][0]


@pytest.fixture(scope="module")
def aml(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    config = AmlScenarioConfig(accounts=6_000, seed=7, rings_per_10k=32.0, mixed_formats=False)
    out = tmp_path_factory.mktemp("aml")
    summary = generate_aml_scenario(config, out)
    db = duckdb.connect(config={"threads": 2})
    db.execute("SET TimeZone = 'UTC'")
    db.execute(
        f"""CREATE TABLE events AS SELECT DISTINCT * REPLACE (ts::TIMESTAMPTZ AS ts,
            amount::DOUBLE AS amount) FROM read_csv('{out}/events/*.csv', all_varchar = true)"""
    )
    for name in ("truth", "labels", "sharers", "flows"):
        db.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{out}/{name}.csv')")
    db.execute(
        """CREATE TABLE ring_transfers AS
           SELECT a.ring_id, a.typology, e.account_id src, e.counterparty_account_id dst,
                  e.ts, e.amount
           FROM events e JOIN truth a ON a.account_id = e.account_id
           JOIN truth b ON b.account_id = e.counterparty_account_id AND b.ring_id = a.ring_id
           WHERE e.event_type = 'transfer'"""
    )
    details = json.loads(summary.scenario_path.read_text())
    yield Scenario(config, summary, db, details)
    db.close()


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _ring_graph(aml: Scenario, ring_id: str) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(
        a for (a,) in aml.rows(f"SELECT account_id FROM truth WHERE ring_id = '{ring_id}'")
    )
    graph.add_edges_from(
        aml.rows(f"SELECT src, dst FROM ring_transfers WHERE ring_id = '{ring_id}'")
    )
    return graph


def _transfers(aml: Scenario, ring_id: str) -> list[tuple[str, str, Any, float]]:
    return aml.rows(
        f"SELECT src, dst, ts, amount FROM ring_transfers WHERE ring_id = '{ring_id}' ORDER BY ts"
    )


# ---------------------------------------------------------------------- determinism


def test_same_config_writes_identical_files(tmp_path: Path) -> None:
    """The same config reproduces every file byte for byte; another seed changes them all."""
    config = AmlScenarioConfig(accounts=1_000, seed=2)
    first = _files(generate_aml_scenario(config, tmp_path / "a").out_dir)
    again = _files(generate_aml_scenario(config, tmp_path / "b").out_dir)
    other = _files(generate_aml_scenario(replace(config, seed=3), tmp_path / "c").out_dir)
    assert first == again
    assert first.keys() == other.keys()
    assert {name for name in first if first[name] != other[name]} == set(first)


# ---------------------------------------------------------------------------- rings


def test_truth_holds_every_pattern_with_its_ring_count_and_sizes(aml: Scenario) -> None:
    """rings_per_pattern rings of each of the eight patterns, sizes within their bounds;
    every member signed up and is counted in scenario.json."""
    rings = aml.rows("SELECT ring_id, any_value(typology), count(*) FROM truth GROUP BY 1")
    per_pattern = aml.config.rings_per_pattern()
    assert per_pattern == 2
    assert len(rings) == 8 * per_pattern == aml.summary.rings
    assert {t for _, t, _ in rings} == {p.value for p in AmlPattern}
    for _, typology, size in rings:
        low, high = aml.config.pattern_sizes[AmlPattern(typology)]
        assert low <= size <= high
    assert aml.details["counts"]["rings"] == {p.value: per_pattern for p in AmlPattern}
    signed_up = aml.value(
        """SELECT count(*) FROM truth WHERE account_id IN
           (SELECT account_id FROM events WHERE event_type = 'signup')"""
    )
    assert signed_up == aml.summary.ring_accounts


def _sources(graph: nx.DiGraph) -> list[str]:
    return [v for v in graph if graph.in_degree(v) == 0]


def _sinks(graph: nx.DiGraph) -> list[str]:
    return [v for v in graph if graph.out_degree(v) == 0]


def test_each_ring_moves_money_in_the_shape_of_its_pattern(aml: Scenario) -> None:
    """The transfers between a ring's members form the pattern's edge set, and nothing
    else links them."""
    for ring_id, typology in aml.rows("SELECT DISTINCT ring_id, typology FROM truth"):
        g = _ring_graph(aml, ring_id)
        n = g.number_of_nodes()
        assert nx.is_weakly_connected(g), ring_id
        pattern = AmlPattern(typology)
        if pattern is AmlPattern.FAN_OUT:
            assert sorted(d for _, d in g.out_degree()) == [0] * (n - 1) + [n - 1]
            assert g.number_of_edges() == n - 1
        elif pattern is AmlPattern.FAN_IN:
            assert sorted(d for _, d in g.in_degree()) == [0] * (n - 1) + [n - 1]
            assert g.number_of_edges() == n - 1
        elif pattern is AmlPattern.CYCLE:
            assert g.number_of_edges() == n
            assert len(next(nx.simple_cycles(g))) == n
        elif pattern is AmlPattern.BIPARTITE:
            a, b = _sources(g), _sinks(g)
            assert len(a) + len(b) == n and g.number_of_edges() == len(a) * len(b)
        elif pattern is AmlPattern.STACK:
            layers = [sorted(layer) for layer in nx.topological_generations(g)]
            assert len(layers) == aml.config.pattern_params[pattern].layers
            expected = sum(len(x) * len(y) for x, y in itertools.pairwise(layers))
            assert g.number_of_edges() == expected
        elif pattern is AmlPattern.SCATTER_GATHER:
            (source,), (sink,) = _sources(g), _sinks(g)
            assert g.out_degree(source) == g.in_degree(sink) == n - 2
            assert g.number_of_edges() == 2 * (n - 2)
        elif pattern is AmlPattern.GATHER_SCATTER:
            hubs = [v for v in g if g.in_degree(v) and g.out_degree(v)]
            assert len(hubs) == 1
            assert g.in_degree(hubs[0]) + g.out_degree(hubs[0]) == n - 1
        else:
            assert pattern is AmlPattern.RANDOM
            assert all(g.in_degree(v) for v in g if v != _transfers(aml, ring_id)[0][0])


def test_money_moves_on_only_after_it_arrived_minus_the_margin(aml: Scenario) -> None:
    """In cycles and random walks each transfer is sent by the last recipient, for less;
    in stacks and scatter/gather patterns an intermediary pays out only after all it
    receives has arrived, and pays out at most what it received less the margin."""
    for ring_id, typology in aml.rows("SELECT DISTINCT ring_id, typology FROM truth"):
        pattern = AmlPattern(typology)
        legs = _transfers(aml, ring_id)
        margin = aml.config.pattern_params[pattern].margin
        jitter = aml.config.pattern_params[pattern].jitter
        if pattern in (AmlPattern.CYCLE, AmlPattern.RANDOM):
            for before, after in itertools.pairwise(legs):
                assert after[0] == before[1] and after[2] > before[2]
                assert after[3] <= before[3] * (1 - margin * (1 - jitter)) + 0.01
        elif pattern in (
            AmlPattern.STACK,
            AmlPattern.SCATTER_GATHER,
            AmlPattern.GATHER_SCATTER,
        ):
            for member in {leg[1] for leg in legs} & {leg[0] for leg in legs}:
                received = [leg for leg in legs if leg[1] == member]
                sent = [leg for leg in legs if leg[0] == member]
                assert max(leg[2] for leg in received) < min(leg[2] for leg in sent)
                assert sum(leg[3] for leg in sent) <= sum(leg[3] for leg in received) * (
                    1 - margin * (1 - jitter)
                ) + 0.01 * len(sent)
        period = aml.config.pattern_params[pattern].period_days
        assert (legs[-1][2] - legs[0][2]).total_seconds() < period * 86_400


def test_ring_members_are_unrelated_and_share_no_identifiers(aml: Scenario) -> None:
    """No two members of a ring share a rare device, phone, email, address or card (one
    used by fewer than 20 accounts: call-centre and branch devices serve hundreds), live
    in one household, or appear in a benign sharing group or flow."""
    shared = aml.value(
        """WITH all_ids AS (
             SELECT DISTINCT account_id, 'device' k, device_id v FROM events WHERE device_id IS NOT NULL
             UNION SELECT account_id, 'phone', phone FROM events WHERE phone IS NOT NULL
             UNION SELECT account_id, 'email', lower(email) FROM events WHERE email IS NOT NULL
             UNION SELECT account_id, 'address', upper(address) FROM events WHERE address IS NOT NULL
             UNION SELECT account_id, 'card', card_id FROM events WHERE card_id IS NOT NULL),
           ids AS (SELECT * FROM all_ids WHERE (k, v) IN
             (SELECT (k, v) FROM all_ids GROUP BY k, v HAVING count(*) < 20))
           SELECT count(*) FROM truth a JOIN truth b ON a.ring_id = b.ring_id
             AND a.account_id < b.account_id
           JOIN ids x ON x.account_id = a.account_id
           JOIN ids y ON y.account_id = b.account_id AND x.k = y.k AND x.v = y.v"""
    )
    assert shared == 0
    assert aml.value("SELECT count(*) FROM truth JOIN sharers USING (account_id)") == 0
    assert aml.value("SELECT count(*) FROM truth JOIN flows USING (account_id)") == 0


def test_labels_are_sars_weeks_after_a_members_first_transfer(aml: Scenario) -> None:
    """Fraud labels only for ring members, about label_fraction of them (fewer where the
    SAR falls after the period), each three to eleven weeks after the member's first
    ring transfer; no legit labels by default."""
    members = aml.summary.ring_accounts
    fraud = aml.value("SELECT count(*) FROM labels WHERE label = 'fraud'")
    assert 0.15 * members <= fraud <= round(0.3 * members)
    assert aml.value("SELECT count(*) FROM labels WHERE label = 'legit'") == 0
    assert (
        aml.value(
            "SELECT count(*) FROM labels WHERE entity_key NOT IN (SELECT account_id FROM truth)"
        )
        == 0
    )
    delays = aml.rows(
        """SELECT epoch(l.ts::TIMESTAMPTZ - min(r.ts)) / 86400 FROM labels l
           JOIN ring_transfers r ON r.src = l.entity_key OR r.dst = l.entity_key
           GROUP BY l.entity_key, l.ts"""
    )
    assert all(21 <= d <= 77 for (d,) in delays)


# ----------------------------------------------------------------- benign look-alikes


def test_every_benign_flow_kind_is_present(aml: Scenario) -> None:
    """flows.csv lists groups of every kind, and scenario.json counts them."""
    kinds = {k for (k,) in aml.rows("SELECT DISTINCT kind FROM flows")}
    assert kinds == {k.value for k in MoneyFlowKind}
    for kind in MoneyFlowKind:
        assert aml.details["counts"]["flows"][kind.value]["groups"] >= 2


def test_benign_hubs_fan_out_and_fan_in_like_the_patterns(aml: Scenario) -> None:
    """Employers and gift givers pay five or more unrelated accounts; landlords and
    small sellers are paid by five or more."""
    for kind, side, other in (
        ("payroll", "account_id", "counterparty_account_id"),
        ("landlord", "counterparty_account_id", "account_id"),
        ("p2p_seller", "counterparty_account_id", "account_id"),
    ):
        widest = aml.value(
            f"""SELECT max(n) FROM (SELECT e.{side}, count(DISTINCT e.{other}) n FROM events e
                JOIN sharers s ON s.account_id = e.{side} AND s.kind = '{kind}'
                WHERE e.event_type = 'transfer' GROUP BY 1)"""
        )
        assert widest >= 5, kind
    givers = aml.value(
        """SELECT max(n) FROM (SELECT e.account_id, count(DISTINCT e.counterparty_account_id) n
           FROM events e JOIN flows f ON f.account_id = e.account_id AND f.role = 'giver'
           WHERE e.event_type = 'transfer' GROUP BY 1)"""
    )
    assert givers >= 5


def test_friends_and_savings_clubs_pay_each_other_back_in_cycles(aml: Scenario) -> None:
    """Within friend groups and savings clubs money flows both ways between members,
    and clubs close directed cycles through three or more members."""
    for kind in (MoneyFlowKind.FRIEND_GROUP, MoneyFlowKind.SAVINGS_CLUB):
        edges = aml.rows(
            f"""SELECT DISTINCT f.group_id, e.account_id, e.counterparty_account_id
                FROM events e JOIN flows f ON f.account_id = e.account_id AND f.kind = '{kind.value}'
                JOIN flows g ON g.account_id = e.counterparty_account_id AND g.group_id = f.group_id
                WHERE e.event_type = 'transfer'"""
        )
        pairs = {(src, dst) for _, src, dst in edges}
        assert sum((dst, src) in pairs for src, dst in pairs) >= 4, kind
    club = nx.DiGraph((src, dst) for _, src, dst in edges)
    assert any(len(c) >= 3 for c in nx.simple_cycles(club, length_bound=4))


def test_students_and_contractors_pass_money_on_within_days(aml: Scenario) -> None:
    """A supported student pays rent within five days of the support arriving, for less
    than it got; a contractor pays its crew within a week of a client's payment, less
    than the job brought in."""
    forwarded = aml.value(
        """SELECT count(*) FROM events i
           JOIN flows s ON s.account_id = i.counterparty_account_id AND s.role = 'student'
           JOIN events o ON o.account_id = s.account_id AND o.event_type = 'transfer'
             AND o.ts > i.ts AND o.ts < i.ts + INTERVAL 5 DAY AND o.amount < i.amount * 1.0 + 1e-6
           JOIN flows l ON l.account_id = o.counterparty_account_id AND l.role = 'landlord'
             AND l.group_id = s.group_id
           WHERE i.event_type = 'transfer'"""
    )
    assert forwarded >= 20
    contractors = aml.rows(
        """WITH jobs AS (SELECT e.counterparty_account_id contractor, e.ts, e.amount FROM events e
             JOIN flows c ON c.account_id = e.counterparty_account_id AND c.role = 'contractor'
             WHERE e.event_type = 'transfer'),
           crew AS (SELECT e.account_id contractor, e.ts, e.amount FROM events e
             JOIN flows c ON c.account_id = e.account_id AND c.role = 'contractor'
             JOIN flows w ON w.account_id = e.counterparty_account_id AND w.role = 'crew'
               AND w.group_id = c.group_id
             WHERE e.event_type = 'transfer')
           SELECT contractor, (SELECT sum(amount) FROM jobs j WHERE j.contractor = c.contractor),
                  sum(amount), count(*) FILTER (WHERE NOT EXISTS (
                    SELECT 1 FROM jobs j WHERE j.contractor = c.contractor AND j.ts < c.ts
                    AND c.ts < j.ts + INTERVAL 8 DAY))
           FROM crew c GROUP BY contractor"""
    )
    assert len(contractors) >= 5
    for _, income, paid_out, unfunded in contractors:
        assert paid_out < income and unfunded == 0


# ---------------------------------------------------------------------------- ingest


def test_the_feed_ingests_with_nothing_quarantined(aml: Scenario, tmp_path: Path) -> None:
    """With canonical formats the standard normalisers load every row, labels included."""
    summary = aml.summary
    store = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "quarantine", default_region="US")
    try:
        report = ingestor.run([summary.events_path, summary.labels_path])
    finally:
        ingestor.close()
        store.close()
    totals = report.as_dict()
    assert totals["rows_quarantined"] == 0
    assert totals["rows_read"] == summary.rows + summary.labels
    assert totals["rows_duplicate"] == summary.rows - summary.events
    assert totals["reconciled"]


# ---------------------------------------------------------------------------- config


def test_pattern_settings_are_merged_over_the_defaults() -> None:
    """Patterns left out keep their default sizes and parameters; names work as keys."""
    config = AmlScenarioConfig(
        pattern_sizes={"cycle": (4, 4)},  # type: ignore[dict-item]  # names are accepted
        pattern_params={AmlPattern.STACK: AmlPatternParams(layers=4)},
    )
    assert config.pattern_sizes[AmlPattern.CYCLE] == (4, 4)
    assert config.pattern_sizes[AmlPattern.FAN_IN] == (5, 15)
    assert config.pattern_params[AmlPattern.STACK].layers == 4
    assert config.pattern_params[AmlPattern.CYCLE].margin == 0.05
    assert config.as_dict()["pattern_sizes"]["cycle"] == [4, 4]  # type: ignore[index]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"accounts": 999}, "accounts must be in [1000, 2000000]"),
        ({"label_fraction": 1.5}, "label_fraction must be in [0, 1]"),
        ({"rings_per_10k": -1.0}, "rings_per_10k must be >= 0"),
        ({"pattern_sizes": {"cycle": (2, 5)}}, "pattern_sizes[cycle] must be (low, high) with 3"),
        ({"pattern_sizes": {"layering": (3, 5)}}, "unknown AML pattern 'layering'"),
        (
            {"pattern_params": {"stack": AmlPatternParams(layers=8)}},
            "pattern_sizes[stack] must be (low, high) with 8",
        ),
        (
            {"pattern_params": {"cycle": AmlPatternParams(period_days=400.0)}},
            "pattern_params[cycle].period_days must be <= 180",
        ),
        ({"friend_group_sizes": (1, 4)}, "friend_group_sizes must be (low, high) with 2"),
        ({"rings_per_10k": 2_000.0}, "more rings than the accounts can hold"),
    ],
)
def test_invalid_config_is_rejected(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        AmlScenarioConfig(**overrides)
