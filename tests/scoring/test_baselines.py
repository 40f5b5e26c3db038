"""The WCC and rule-engine baselines on a tiny store with known components and rule hits.

The event log below is loaded through the real ingestion path. Its account groups:

* A1-A4 share device DEV-SHARED (4 accounts: the device rule fires at k=3);
* A5 and A6 share a phone written two ways, A6 and A7 an IP: one component, no rule;
* A8 is alone on an emulator; A9 and A10 share another emulator;
* A11-A14 share device DEV-OFFICE and one email written three ways (device and email
  rules fire on the same account set);
* A16-A19 share card CARD-9 (the card rule fires);
* A15 is alone; A1 and A15 pay the same merchant and A8 transfers to A15, neither of
  which joins a component of shared identifiers.

networkx is the oracle for the components; the Neo4j backend must give equal tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest

from graph_service import InvalidInput, NodeType
from graph_service.embedded.store import EmbeddedStore
from graph_service.model import LINK_TYPE_CODE
from graph_service.store import GraphStore
from ingestion.loader import Ingestor
from scoring.baselines import (
    ACCOUNT_SCORE_SCHEMA,
    FLAGGED_SCHEMA,
    SHARED_IDENTIFIER_PROJECTION,
    DetectorOutput,
    rules_baseline,
    wcc_baseline,
)
from scoring.evaluation import evaluate, load_truth, resolve_truth
from tests.conftest import write_rows


def _event(n: int, account: str, **fields: str) -> dict[str, str]:
    return {
        "event_id": f"e{n}",
        "ts": f"2026-02-01T{n % 24:02d}:00:00Z",
        "event_type": "signup",
        "account_id": account,
        **fields,
    }


def ring_events() -> list[dict[str, str]]:
    """The event log described in the module docstring."""
    events = [_event(i, f"A{i}", device_id="DEV-SHARED") for i in range(1, 5)]
    events += [
        _event(5, "A5", phone="+44 7400 111111"),
        _event(6, "A6", phone="07400 111111", ip="10.1.0.6"),
        _event(7, "A7", ip="10.1.0.6"),
        _event(8, "A8", device_id="EMU-1", is_emulator="true"),
        _event(9, "A9", device_id="EMU-2", is_emulator="true"),
        _event(10, "A10", device_id="EMU-2", is_emulator="true"),
    ]
    emails = ["ring@example.com", "Ring@Example.com", " RING@example.COM"]
    events += [
        _event(i, f"A{i}", device_id="DEV-OFFICE", email=emails[i % 3]) for i in range(11, 15)
    ]
    events.append(_event(15, "A15"))
    events += [_event(i, f"A{i}", card_id="CARD-9") for i in range(16, 20)]
    events += [
        {**_event(20, "A1", merchant_id="M1", amount="10"), "event_type": "payment"},
        {**_event(21, "A15", merchant_id="M1", amount="12"), "event_type": "payment"},
        {
            **_event(22, "A8", counterparty_account_id="A15", amount="50"),
            "event_type": "transfer",
        },
    ]
    return events


def load(store: GraphStore, tmp_path: Path) -> GraphStore:
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "quarantine")
    try:
        report = ingestor.run([write_rows(tmp_path / "input" / "events.csv", ring_events())])
    finally:
        ingestor.close()
    assert report.total("rows_quarantined") == 0
    return store


@pytest.fixture
def ring_store(tmp_path: Path) -> Iterator[GraphStore]:
    store = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    try:
        yield load(store, tmp_path)
    finally:
        store.close()


def ids(store: GraphStore, *numbers: int) -> list[int]:
    """Store ids of accounts A<number>, ascending."""
    return sorted(store.get_entity(NodeType.ACCOUNT, f"A{n}").id for n in numbers)


def member_sets(output: DetectorOutput) -> list[list[int]]:
    members: list[list[int]] = output.flagged.column("members").to_pylist()
    return members


def risk_of(output: DetectorOutput) -> dict[int, float]:
    table = output.account_scores
    return dict(zip(table["id"].to_pylist(), table["risk"].to_pylist(), strict=True))


# ------------------------------------------------------------------------------ WCC


def test_wcc_flags_every_component_of_two_or_more_accounts(ring_store: GraphStore) -> None:
    """Five components of shared identifiers, largest first; merchants and transfers do not
    join A1 to A15 or A8 to A15; scores are 1 - 1/size."""
    output = wcc_baseline(ring_store)
    assert output.flagged.schema == FLAGGED_SCHEMA
    assert output.account_scores.schema == ACCOUNT_SCORE_SCHEMA
    expected = [
        ids(ring_store, 1, 2, 3, 4),
        ids(ring_store, 11, 12, 13, 14),
        ids(ring_store, 16, 17, 18, 19),
        ids(ring_store, 5, 6, 7),
        ids(ring_store, 9, 10),
    ]
    assert sorted(member_sets(output)) == sorted(expected)
    sizes = [len(m) for m in member_sets(output)]
    assert sizes == sorted(sizes, reverse=True)
    assert output.flagged["score"].to_pylist() == [1 - 1 / s for s in sizes]
    assert all(r == ["connected_component"] for r in output.flagged["reasons"].to_pylist())
    risk = risk_of(output)
    assert len(risk) == 19
    assert risk[ids(ring_store, 15)[0]] == 0.0
    assert risk[ids(ring_store, 8)[0]] == 0.0
    assert risk[ids(ring_store, 5)[0]] == pytest.approx(2 / 3)


def test_wcc_components_equal_networkx(ring_store: GraphStore) -> None:
    """The flagged account sets are networkx's connected components of the
    account-identifier graph, restricted to accounts."""
    codes = [LINK_TYPE_CODE[t] for t in SHARED_IDENTIFIER_PROJECTION.link_types]
    links = ring_store.export_links(list(SHARED_IDENTIFIER_PROJECTION.link_types))
    assert set(links["type"].to_pylist()) <= set(codes)
    graph: nx.Graph[int] = nx.Graph()
    accounts = set(ids(ring_store, *range(1, 20)))
    graph.add_nodes_from(accounts)
    graph.add_edges_from(zip(links["src"].to_pylist(), links["dst"].to_pylist(), strict=True))
    expected = sorted(
        sorted(c & accounts) for c in nx.connected_components(graph) if len(c & accounts) >= 2
    )
    assert sorted(member_sets(wcc_baseline(ring_store))) == expected


def test_wcc_min_size_filters_components(ring_store: GraphStore) -> None:
    """min_size=4 keeps the three 4-account components; min_size=1 flags singletons too."""
    assert len(member_sets(wcc_baseline(ring_store, min_size=4))) == 3
    assert len(member_sets(wcc_baseline(ring_store, min_size=1))) == 7


def test_wcc_rejects_bad_arguments(ring_store: GraphStore) -> None:
    """min_size below 1, or a projection without accounts, is invalid."""
    from graph_service.algorithms import NativeProjection

    with pytest.raises(InvalidInput, match="min_size"):
        wcc_baseline(ring_store, min_size=0)
    with pytest.raises(InvalidInput, match="Account"):
        wcc_baseline(ring_store, projection=NativeProjection(node_types=(NodeType.DEVICE,)))


# ---------------------------------------------------------------------------- rules


def test_rules_flag_the_accounts_behind_each_triggering_identifier(
    ring_store: GraphStore,
) -> None:
    """Device, email, card and emulator rules fire; the office device and the email flag
    the same set, merged into one cluster with both reasons; the lone emulator user is
    scored but not a cluster; the phone shared by two is below the threshold."""
    output = rules_baseline(ring_store)
    flagged = output.flagged.to_pylist()
    rows = [(f["members"], f["reasons"], f["score"]) for f in flagged]
    assert len(rows) == 4
    assert rows[0] == (ids(ring_store, 11, 12, 13, 14), ["shared_device", "shared_email"], 0.4)
    assert sorted(rows[1:3]) == [
        (ids(ring_store, 1, 2, 3, 4), ["shared_device"], 0.2),
        (ids(ring_store, 16, 17, 18, 19), ["shared_card"], 0.2),
    ]
    assert rows[3] == (ids(ring_store, 9, 10), ["emulator_device"], 0.2)
    tied = [f["ring_id"] for f in flagged[1:3]]
    assert tied == sorted(tied)  # equal score and size: ordered by ring_id
    assert all(f["ring_id"].startswith("rule-") for f in flagged)
    risk = risk_of(output)
    expected = dict.fromkeys(ids(ring_store, *range(1, 20)), 0.0)
    for n in (1, 2, 3, 4, 8, 9, 10, 16, 17, 18, 19):
        expected[ids(ring_store, n)[0]] = 0.2
    for n in (11, 12, 13, 14):
        expected[ids(ring_store, n)[0]] = 0.4
    assert risk == pytest.approx(expected)


def test_rule_thresholds_and_switches(ring_store: GraphStore) -> None:
    """k=4 silences the device and card rules; k=1 makes the two-account phone fire;
    disabling the identifier and emulator rules leaves the device rule alone."""
    strict = rules_baseline(ring_store, max_accounts_per_device=4, max_accounts_per_identifier=4)
    assert member_sets(strict) == [ids(ring_store, 9, 10)]
    loose = rules_baseline(ring_store, max_accounts_per_identifier=1)
    assert ids(ring_store, 5, 6) in member_sets(loose)
    device_only = rules_baseline(ring_store, max_accounts_per_identifier=None, flag_emulators=False)
    assert sorted(member_sets(device_only)) == sorted(
        [ids(ring_store, 1, 2, 3, 4), ids(ring_store, 11, 12, 13, 14)]
    )
    assert set(risk_of(device_only).values()) == {0.0, 1.0}
    singles = rules_baseline(ring_store, min_cluster_size=1)
    assert ids(ring_store, 8) in member_sets(singles)


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_accounts_per_device": 0},
        {"max_accounts_per_identifier": 0},
        {"min_cluster_size": 0},
    ],
)
def test_rules_reject_thresholds_below_one(ring_store: GraphStore, arguments: Any) -> None:
    """Every threshold must be at least 1."""
    with pytest.raises(InvalidInput, match=next(iter(arguments))):
        rules_baseline(ring_store, **arguments)


def test_rules_on_an_empty_store(tmp_path: Path) -> None:
    """No accounts, no links: empty tables in the right schemas."""
    with EmbeddedStore(tmp_path / "empty", memory_limit="1GB", threads=2) as store:
        for output in (rules_baseline(store), wcc_baseline(store)):
            assert output.flagged.schema == FLAGGED_SCHEMA
            assert output.flagged.num_rows == 0
            assert output.account_scores.num_rows == 0


# ---------------------------------------------------------------------- evaluation


def test_baselines_evaluate_against_a_truth_file(ring_store: GraphStore, tmp_path: Path) -> None:
    """End to end: truth keys written with stray whitespace resolve, an account unknown to
    the store is reported, and the two baselines get hand-checkable recall and precision."""
    truth_path = tmp_path / "truth.csv"
    truth_path.write_text(
        "ring_id,typology,account_id\n"
        + "".join(f"farm,device_farm, A{i}\u00a0\n" for i in (1, 2, 3, 4))
        + "".join(f"cash,cash_out,A{i}\n" for i in (5, 6, 99))
    )
    truth = resolve_truth(load_truth(truth_path), ring_store)
    accounts = np.asarray(ids(ring_store, *range(1, 20)))
    wcc = wcc_baseline(ring_store)
    report = evaluate(wcc.flagged, wcc.account_scores, truth, accounts=accounts)
    # farm = {A1..A4} exactly; cash = {A5, A6} vs component {A5, A6, A7}: 2/3.
    assert (report.ring_recall, report.cluster_precision) == (1.0, 2 / 5)
    assert report.truth_accounts_missing == 1
    rules = rules_baseline(ring_store)
    report = evaluate(rules.flagged, rules.account_scores, truth, accounts=accounts)
    assert report.per_typology["device_farm"].ring_recall == 1.0
    assert report.per_typology["cash_out"].ring_recall == 0.0
    assert report.cluster_precision == 1 / 4


# --------------------------------------------------------------------------- Neo4j


def assert_equal_outputs(left: DetectorOutput, right: DetectorOutput) -> None:
    assert left.flagged.equals(right.flagged)
    assert left.account_scores.equals(right.account_scores)


@pytest.mark.neo4j
def test_baselines_give_equal_tables_on_neo4j(
    ring_store: GraphStore, neo4j_store: Any, tmp_path: Path
) -> None:
    """The same events in Neo4j (GDS WCC, Cypher exports) give identical tables."""
    pytest.importorskip("graphdatascience")
    load(neo4j_store, tmp_path / "neo4j")
    assert_equal_outputs(wcc_baseline(ring_store), wcc_baseline(neo4j_store))
    assert_equal_outputs(rules_baseline(ring_store), rules_baseline(neo4j_store))
    assert_equal_outputs(
        rules_baseline(ring_store, max_accounts_per_identifier=1),
        rules_baseline(neo4j_store, max_accounts_per_identifier=1),
    )
