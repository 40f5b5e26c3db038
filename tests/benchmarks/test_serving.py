"""The serving benchmark's parts: ratios and goals, key streams, pinning, profile summaries,
and the Go load generator against the bare ASGI app."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import serving_load, serving_report
from benchmarks.profile_serving import (
    flamegraph_svg,
    function_of,
    loop_idle_share,
    main_thread_stacks,
    read_collapsed,
    summarise,
)
from benchmarks.serving_load import Loadgen, Targets, go_binary, pinning, zipf_keys


def _point(rps: float, p99: float, *, fell_behind: bool = False) -> dict[str, Any]:
    return {
        "achieved_rps": rps,
        "latency_us": {"p50": p99 / 2, "p99": p99},
        "fell_behind": fell_behind,
        "errors": {"status": 0, "socket": 0, "timeout": 0, "unsent": 0},
    }


def _block(max_rps: float, p99_at_5k: float, *, fell_behind: bool = False) -> dict[str, Any]:
    return {
        "get_max": _point(max_rps, 900.0),
        "get_open": {
            "1000": _point(1000, p99_at_5k / 2),
            "5000": _point(5000, p99_at_5k, fell_behind=fell_behind),
            "10000": {"skipped": "above the maximum"},
        },
    }


HTTP = {
    "workers_1": {
        "bare": _block(20_000, 400),
        "in_process": {
            **_block(15_000, 1_000),
            "post_batch_100": {"entity_lookups_per_s": 150_000},
        },
        "redis_uniform": _block(6_000, 4_000, fell_behind=True),
    },
    "workers_2": {
        "bare": _block(30_000, 300),
        "in_process": {
            **_block(24_000, 1_500),
            "post_batch_100": {"entity_lookups_per_s": 210_000},
        },
    },
}
CACHE = {
    "get_latency_us": {"p50": 5.0, "p99": 25.0, "p99.9": 80.0},
    "batch_lookups_per_s": {"lookup_rows+numeric": 1_200_000, "get_many": 100_000},
}


def test_ratios_divide_matching_points() -> None:
    ratios = serving_report.ratios(HTTP)
    one = ratios["in_process_over_bare"]["workers_1"]
    assert one["max_rps"] == 0.75
    assert one["p99_at_rps"] == {"1000": 2.5, "5000": 2.5, "10000": None}
    assert one["fell_behind_at_rps"] == []
    redis = ratios["redis_over_in_process"]["uniform"]["workers_1"]
    assert redis["max_rps"] == 0.4
    assert redis["fell_behind_at_rps"] == ["5000"]
    assert ratios["redis_over_in_process"]["zipf"] == {}
    assert ratios["scaling_2_over_1_workers"]["in_process"]["max_rps"] == 1.6
    assert "redis_uniform" not in ratios["scaling_2_over_1_workers"]


def test_goals_say_target_measured_and_met() -> None:
    goals = serving_report.goals(HTTP, CACHE, serving_report.ratios(HTTP))
    measured = [(g["measured"], g["met"]) for g in goals]
    assert measured == [
        (0.75, True),  # in-process / bare
        (0.4, False),  # redis / in-process
        (1_500, True),  # p99 at 5k rps, 2 workers
        (210_000, True),  # batch of 100 over HTTP, best worker count
        (25.0, False),  # FeatureCache.get p99
        (1_200_000, True),  # in-process batch
    ]


def test_paired_rounds_give_the_throughput_goals_their_median_ratio() -> None:
    """With paired rounds, each round's ratio compares paths measured in turn; the goals
    read the median of those, and still show the single maxima's ratio."""
    http = {
        **HTTP,
        "workers_1": {
            **HTTP["workers_1"],
            "paired_max": {
                "rps": {
                    "bare": [20_000, 30_000, 25_000],
                    "in_process": [16_000, 18_000, 17_500],  # 0.8, 0.6, 0.7
                    "redis_uniform": [8_000, 10_800, 7_000],  # 0.5, 0.6, 0.4
                }
            },
        },
    }
    ratios = serving_report.ratios(http)
    one = ratios["in_process_over_bare"]["workers_1"]
    assert one["max_rps"] == 0.75
    assert one["max_rps_paired"] == {"median": 0.7, "per_round": [0.8, 0.6, 0.7]}
    assert (
        ratios["redis_over_in_process"]["uniform"]["workers_1"]["max_rps_paired"]["median"] == 0.5
    )
    assert "max_rps_paired" not in ratios["in_process_over_bare"]["workers_2"]
    goals = serving_report.goals(http, CACHE, ratios)
    assert [(g["measured"], g["met"]) for g in goals[:2]] == [(0.7, True), (0.5, True)]
    assert goals[0]["how"] == "median of 3 paired rounds (single maxima: 0.75)"
    assert goals[0]["also"] == {"workers_2": 0.8}


def test_a_goal_not_measured_is_not_met() -> None:
    goals = serving_report.goals({}, None, serving_report.ratios({}))
    assert len(goals) == 6
    assert all(g["measured"] is None and g["met"] is False for g in goals)


def test_zipf_stream_is_skewed_and_repeatable() -> None:
    keys = [f"A{i}" for i in range(10_000)]
    drawn = zipf_keys(keys, s=1.1, n=50_000, seed=3)
    assert drawn == zipf_keys(keys, s=1.1, n=50_000, seed=3)
    summary = serving_load.stream_summary(drawn)
    assert summary["top_1pct_keys_share"] > 0.4
    assert serving_load.stream_summary(keys)["top_1pct_keys_share"] == 0.01


@pytest.mark.parametrize(
    ("workers", "cpus", "server", "load", "shared"),
    [(1, 2, "0", "1", False), (2, 2, "0-1", "1", True), (2, 4, "0-1", "2", False)],
)
def test_pinning_keeps_load_off_the_server_when_cores_allow(
    workers: int, cpus: int, server: str, load: str, shared: bool
) -> None:
    pin = pinning(workers, cpus)
    assert (pin.server, pin.load) == (server, load)
    assert ("share" in pin.note) is shared


def test_near_cache_hit_rate_counts_every_lookup_since_a_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lookup is a near hit or a Redis (or snapshot) hit or miss; the rate is taken over
    the counts since the given mark, from one scrape of the merged counters."""
    monkeypatch.setattr(serving_load.time, "sleep", lambda s: None)
    counters = {"near.hits": 40.0, "redis.hits": 50.0, "redis.misses": 10.0}
    monkeypatch.setattr(serving_load, "cache_counters", lambda url: dict(counters))
    found = serving_load.near_cache_hit_rate("http://unused")
    assert found["near_hit_rate"] == 0.4 and found["lookups"] == 100
    mark = found["totals"]
    counters.update({"near.hits": 41.0, "redis.hits": 59.0, "memory.hits": 10.0})
    since = serving_load.near_cache_hit_rate("http://unused", since=mark)
    assert since["lookups"] == 20 and since["near_hit_rate"] == 0.05
    monkeypatch.setattr(serving_load, "cache_counters", lambda url: {"redis.hits": 5.0})
    assert serving_load.near_cache_hit_rate("http://unused")["near_hit_rate"] is None


def test_profile_summary_of_collapsed_stacks(tmp_path: Path) -> None:
    collapsed = tmp_path / "stacks.txt"
    collapsed.write_text(
        "main (app.py:1);handle (api/fast_path.py:10);lookup (scoring/snap.py:5) 6\n"
        "main (app.py:1);handle (api/fast_path.py:12) 3\n"
        "main (app.py:1);send (uvicorn/h.py:7) 1\n"
    )
    stacks = read_collapsed(collapsed)
    summary = summarise(stacks)
    assert summary["samples"] == 10
    assert summary["top_self"][0] == {
        "function": "lookup (scoring/snap.py)",
        "samples": 6,
        "share": 0.6,
    }
    assert summary["top_total"][0]["function"] == "handle (api/fast_path.py)"
    assert summary["top_total"][0]["samples"] == 9  # both lines of handle, merged
    assert summary["trunk"] == ["main (app.py)"]
    assert summary["self_by_package"][0] == {"package": "scoring", "samples": 6, "share": 0.6}
    assert function_of("f (<frozen os>:3)") == "f (<frozen os>)"
    svg = flamegraph_svg(stacks, "test")
    assert svg.startswith("<svg") and "lookup (scoring/snap.py): 6 samples" in svg


def test_wall_view_keeps_the_main_thread_and_measures_loop_idle() -> None:
    stacks = [
        (("thread (1): MainThread", "main (app.py:1)", "Runner.run (asyncio/runners.py:118)"), 3),
        (("thread (1): MainThread", "main (app.py:1)", "read (redis/conn.py:9)"), 1),
        (("thread (2): Thread-1", "wait (threading.py:3)"), 50),
    ]
    main = main_thread_stacks(stacks)
    assert [count for _, count in main] == [3, 1]
    assert main[0][0][0] == "main (app.py:1)"
    assert loop_idle_share(main) == 0.75


# -- the Go load generator ---------------------------------------------------------------------

needs_go = pytest.mark.skipif(
    go_binary() is None,
    reason="NO GO TOOLCHAIN: the Go load generator of benchmarks/serving.py is not tested "
    "(install Go or set GO=/path/to/go)",
)


@needs_go
@pytest.mark.slow
def test_go_loadgen_unit_tests() -> None:
    done = subprocess.run(
        [str(go_binary()), "test", "./..."],
        cwd=serving_load.LOADGEN_SOURCE,
        env={**serving_load.server_env(), "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_go
@pytest.mark.slow
def test_go_loadgen_against_the_bare_app(tmp_path: Path) -> None:
    body = b'{"key":"A1","risk":0.5}'
    (tmp_path / "body.json").write_bytes(body)
    paths = serving_load.write_paths(tmp_path / "paths.txt", ["A1", "A2", "A3"])
    binary = serving_load.build_loadgen(tmp_path / "bin")
    pin = pinning(1)
    with serving_load.bare_server(
        tmp_path / "body.json", workers=1, cpus=pin.server, log_path=tmp_path / "bare.log"
    ) as server:
        loadgen = Loadgen(binary, pin.load, drain_s=2)
        opened = loadgen.open(server.addr, Targets("GET", paths), 500, 1.0, 4)
        closed = loadgen.max(server.addr, Targets("GET", paths), 1.0, 2)
    assert opened["requests"] == 500
    assert opened["errors"] == {"status": 0, "socket": 0, "timeout": 0, "unsent": 0}
    assert opened["body_bytes_mean"] == len(body)
    assert not opened["fell_behind"]
    assert opened["latency_us"]["p50"] > 0
    assert closed["requests"] > 100 and closed["errors"]["socket"] == 0
