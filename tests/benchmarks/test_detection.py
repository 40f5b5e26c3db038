"""The detection benchmark: joining runs over parts of the matrix, and what each cell
says about its labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from benchmarks.detection import (
    QUEUE_THRESHOLDS,
    alert_queue,
    best_recall_at_precision,
    combine,
    rings_by_labelled_members,
)
from graph_service.embedded.store import EmbeddedStore
from graph_service.model import NodeType
from tests.conftest import GOOD_EVENTS, FileWriter


def _part(profile: str, accounts: int, recall: float) -> dict[str, Any]:
    report = {"ring_recall": recall, "cluster_precision": 0.9}
    return {
        "benchmark": "detection",
        "units": {"ring_recall": "share"},
        "conditions": {"profiles": profile, "sizes": str(accounts)},
        "scenarios": [{"profile": profile, "accounts": accounts, "seed": 9101}],
        "cells": [
            {
                "profile": profile,
                "accounts": accounts,
                "seed": 9101,
                "label_rate": 0.3,
                "legit": False,
                "detector": "pipeline",
                "report": report,
            }
        ],
    }


def test_combine_joins_scenarios_cells_and_conditions(tmp_path: Path) -> None:
    """Every part's scenarios and cells are kept, its conditions listed, and the tables
    cover both parts."""
    paths = []
    for name, part in (("a", _part("hard", 20000, 0.8)), ("b", _part("hard", 100000, 0.9))):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(part))
    out, markdown = tmp_path / "all.json", tmp_path / "all.md"
    combine(paths, out, markdown)
    joined = json.loads(out.read_text())
    assert [s["accounts"] for s in joined["scenarios"]] == [20000, 100000]
    assert [c["report"]["ring_recall"] for c in joined["cells"]] == [0.8, 0.9]
    assert [p["sizes"] for p in joined["conditions"]["parts"]] == ["20000", "100000"]
    text = markdown.read_text()
    assert "| hard | 20,000 |" in text and "| hard | 100,000 |" in text


def test_combine_refuses_a_scenario_in_two_parts(tmp_path: Path) -> None:
    """The same scenario twice would count twice in the means: refused, nothing written."""
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_part("hard", 20000, 0.8)))
    out = tmp_path / "all.json"
    with pytest.raises(SystemExit, match="more than one part"):
        combine([path, path], out, None)
    assert not out.exists()


def test_rings_are_counted_by_how_many_of_their_members_are_labelled(tmp_path: Path) -> None:
    """Per ring, the members with a fraud label (legit labels and other rings' labels do
    not count), bucketed into none, one and two or more, in all and per typology."""
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "ring_id,typology,account_id\n"
        "R1,fan_in,A1\nR1,fan_in,A2\nR1,fan_in,A3\n"
        "R2,cycle,A4\nR2,cycle,A5\n"
        "R3,cycle,A6\nR3,cycle,A7\n"
    )
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "entity_type,entity_key,label,source,ts\n"
        "Account,A1,fraud,sar,2026-01-01T00:00:00Z\n"
        "Account,A2,FRAUD,sar,2026-01-01T00:00:00Z\n"
        "Account,A4,fraud,sar,2026-01-01T00:00:00Z\n"
        "Account,A6,legit,kyc,2026-01-01T00:00:00Z\n"
        "Account,A9,fraud,sar,2026-01-01T00:00:00Z\n"
    )
    counts = rings_by_labelled_members(truth, labels)
    assert counts == {
        "all": {"none": 1, "one": 1, "two_or_more": 1},
        "fan_in": {"none": 0, "one": 0, "two_or_more": 1},
        "cycle": {"none": 1, "one": 1, "two_or_more": 0},
    }


def test_the_alert_queue_flags_each_threshold_s_rings_from_the_run_s_scored_rings(
    tmp_path: Path, write_events: FileWriter
) -> None:
    """Every ring the run scored counts from the thresholds at or below its score: a true
    ring scored 0.3 joins the queue from 0.3 down, a false one scored 0.1 (a listed
    household member alone) from 0.1 down, and counts as a sharer-only cluster."""
    from ingestion.loader import Ingestor

    store = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    try:
        ingestor = Ingestor(store, quarantine_dir=tmp_path / "quarantine")
        try:
            ingestor.run([write_events(GOOD_EVENTS)])
        finally:
            ingestor.close()
        a1, a2, a3 = (store.get_entity(NodeType.ACCOUNT, key).id for key in ("A1", "A2", "A3"))
        rings = pa.table(
            {
                "ring_id": ["r1", "r2"],
                "members": [[a1, a2], [a3]],
                "score": [0.3, 0.1],
            }
        )
        store.write_table("rings", rings, version="20260101T000000.000000Z")
    finally:
        store.close()
    truth = tmp_path / "truth.csv"
    truth.write_text("ring_id,typology,account_id\nx,device_farm,A1\nx,device_farm,A2\n")

    sharers = tmp_path / "sharers.csv"
    sharers.write_text("account_id,kind,group_id\nA3,household,h1\n")

    queue = alert_queue(tmp_path / "store", "20260101T000000.000000Z", truth, sharers)

    by_threshold = {row["threshold"]: row for row in queue}
    assert [row["threshold"] for row in queue] == list(QUEUE_THRESHOLDS)
    assert by_threshold[0.4] == {
        "threshold": 0.4,
        "flagged": 0,
        "ring_recall": 0.0,
        "cluster_precision": None,
        "sharer_only_clusters": 0,
    }
    assert by_threshold[0.3]["flagged"] == 1
    assert by_threshold[0.3]["ring_recall"] == 1.0
    assert by_threshold[0.3]["cluster_precision"] == 1.0
    assert by_threshold[0.1]["flagged"] == 2
    assert by_threshold[0.1]["cluster_precision"] == 0.5
    assert by_threshold[0.3]["sharer_only_clusters"] == 0
    assert by_threshold[0.1]["sharer_only_clusters"] == 1  # the household's A3 alone
    unlisted = alert_queue(tmp_path / "store", "20260101T000000.000000Z", truth)
    assert {row["sharer_only_clusters"] for row in unlisted} == {None}
    best = best_recall_at_precision(queue, 0.6)
    assert best["ring_recall"] == 1.0
    assert best["threshold"] == 0.3  # the strictest threshold that reaches that recall
    assert best["sharer_only_clusters"] == 0


def test_best_recall_at_precision_is_none_when_no_threshold_is_precise_enough() -> None:
    """A queue whose every threshold flags nothing or falls below the precision asked for
    has no operating point: the figure is None, not 0 (which would read as measured)."""
    queue = [
        {"threshold": 0.6, "flagged": 0, "ring_recall": 0.0, "cluster_precision": None},
        {"threshold": 0.0, "flagged": 40, "ring_recall": 0.5, "cluster_precision": 0.2},
    ]
    assert best_recall_at_precision(queue, 0.5) == {
        "precision_at_least": 0.5,
        "ring_recall": None,
        "cluster_precision": None,
        "threshold": None,
        "sharer_only_clusters": None,
    }
