"""The scale benchmark's growth figures: time and memory ratios against the input's."""

from __future__ import annotations

from typing import Any

from benchmarks.scale import growth


def _run(events: int, steps: dict[str, tuple[str, float, float]]) -> dict[str, Any]:
    return {
        "accounts": events // 10,
        "steps": {
            "ingest": {"status": "ok", "wall_s": 1.0, "peak_rss_gib": 1.0, "events": events},
            **{
                name: {"status": status, "wall_s": wall, "peak_rss_gib": rss}
                for name, (status, wall, rss) in steps.items()
            },
        },
    }


def test_linear_growth_reads_one_and_steps_that_did_not_finish_are_left_out() -> None:
    """Ten times the events in ten times the time is 1.0 per input; twenty times the time
    is 2.0; a step that stopped at the larger size has no ratio (it would flatter it)."""
    small = _run(1_000, {"analyse": ("ok", 10.0, 2.0), "gnn_train": ("ok", 5.0, 1.0)})
    large = _run(10_000, {"analyse": ("ok", 200.0, 20.0), "gnn_train": ("rss_cap", 3.0, 22.0)})
    figures = growth(small, large)
    assert figures["input_ratio"] == 10.0
    assert figures["steps"]["analyse"] == {
        "time_ratio": 20.0,
        "time_ratio_per_input": 2.0,
        "rss_ratio": 10.0,
        "rss_ratio_per_input": 1.0,
    }
    assert "gnn_train" not in figures["steps"]
