"""The detection benchmark's joining of runs over parts of the matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.detection import combine


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
