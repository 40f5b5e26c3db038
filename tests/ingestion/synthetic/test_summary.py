"""Tests for ``ingestion.synthetic.summary``: a generator's summary as JSON-ready values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingestion.synthetic.summary import JsonSummary


@dataclass(frozen=True)
class _Summary(JsonSummary):
    rows: int
    events_path: Path


def test_a_summary_gives_its_fields_in_order_with_paths_as_strings() -> None:
    """Every field, in declaration order; paths become strings, so the dict dumps."""
    summary = _Summary(rows=3, events_path=Path("/data/events"))
    assert summary.as_dict() == {"rows": 3, "events_path": "/data/events"}
    assert json.loads(json.dumps(summary.as_dict())) == summary.as_dict()


def test_only_a_dataclass_can_be_summarised() -> None:
    with pytest.raises(TypeError, match="not a dataclass"):
        JsonSummary().as_dict()
