"""Transfer-pattern features at scale: wall time and memory of one full computation.

Generates a seeded synthetic transfer table in the export schema (power-law payer and
payee activity over a year, with planted cycles, fan-in bursts and scatter-gathers),
times ``scoring.transfer_patterns.transfer_pattern_features`` on it, and, on the same
table in the same run, a baseline of what the machine does in one pass: a DuckDB
``GROUP BY`` counting distinct payers and payees and summing money per account. With
``--stages`` it also times each stage of the computation separately (a second pass).

Prints one JSON object on stdout.

Usage::

    python benchmarks/transfer_features.py                      # 10,000,000 transfers
    python benchmarks/transfer_features.py --transfers 1000000 --stages
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from graph_service.transfers import TRANSFER_EXPORT_SCHEMA  # noqa: E402
from scoring.transfer_patterns import (  # noqa: E402
    TransferPatternConfig,
    transfer_pattern_features,
)
from scoring.transfer_patterns.activity import (  # noqa: E402
    activity_columns,
    amount_columns,
    window_columns,
)
from scoring.transfer_patterns.book import build_book  # noqa: E402
from scoring.transfer_patterns.passing import passing_columns  # noqa: E402
from scoring.transfer_patterns.structures import copayment_columns, path_columns  # noqa: E402

GOAL_S = 60.0
DAY_US = 86_400 * 1_000_000
START_US = 1_767_225_600 * 1_000_000  # 2026-01-01T00:00:00Z


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _weights(rng: np.random.Generator, n: int, alpha: float) -> np.ndarray:
    """Cumulative sampling weights with a power-law tail (a few very active accounts)."""
    w = rng.pareto(alpha, n) + 1.0
    return np.cumsum(w / w.sum())


def generate(transfers: int, seed: int) -> tuple[pa.Table, dict[str, int]]:
    """A transfer table of ``transfers`` rows over ``transfers // 10`` accounts.

    Background: payers and payees drawn independently from power-law weights, times
    uniform over 365 days, log-normal amounts in pence (one in ten round hundreds).
    Planted (replacing background rows): cycles of 3 to 6 hops an hour to a day apart,
    fan-in bursts of 20 payers within a day, scatter-gathers of 4 intermediaries.
    """
    rng = np.random.default_rng(seed)
    n = max(transfers // 10, 100)
    src = np.searchsorted(_weights(rng, n, 1.5), rng.random(transfers)).astype(np.int64)
    dst = np.searchsorted(_weights(rng, n, 1.5), rng.random(transfers)).astype(np.int64)
    dst = np.where(dst == src, (dst + 1) % n, dst)
    ts = START_US + rng.integers(0, 365 * DAY_US, transfers)
    amount = np.round(np.exp(rng.normal(4.0, 1.2, transfers)), 2)
    round_ones = rng.random(transfers) < 0.1
    amount[round_ones] = 100.0 * rng.integers(1, 50, int(round_ones.sum()))

    planted: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n_planted = max(transfers // 5000, 3)
    for k in range(3, 7):
        nodes = rng.integers(0, n, (n_planted, k))
        t0 = START_US + rng.integers(0, 300 * DAY_US, n_planted)
        steps = np.cumsum(rng.integers(3_600_000_000, DAY_US, (n_planted, k)), axis=1)
        planted.append(
            (nodes.ravel(), np.roll(nodes, -1, axis=1).ravel(), (t0[:, None] + steps).ravel())
        )
    sinks = rng.integers(0, n, n_planted)
    payers = rng.integers(0, n, (n_planted, 20))
    t0 = START_US + rng.integers(0, 300 * DAY_US, n_planted)
    planted.append(
        (
            payers.ravel(),
            np.repeat(sinks, 20),
            (t0[:, None] + rng.integers(0, DAY_US, (n_planted, 20))).ravel(),
        )
    )
    source = rng.integers(0, n, n_planted)
    mids = rng.integers(0, n, (n_planted, 4))
    sink = rng.integers(0, n, n_planted)
    t0 = START_US + rng.integers(0, 300 * DAY_US, n_planted)
    planted.append((np.repeat(source, 4), mids.ravel(), np.repeat(t0, 4)))
    planted.append((mids.ravel(), np.repeat(sink, 4), np.repeat(t0 + DAY_US, 4)))
    p_src = np.concatenate([p[0] for p in planted])
    p_dst = np.concatenate([p[1] for p in planted])
    p_ts = np.concatenate([p[2] for p in planted])
    ok = p_src != p_dst
    k = int(ok.sum())
    src[:k], dst[:k], ts[:k] = p_src[ok], p_dst[ok], p_ts[ok]

    order = np.argsort(ts, kind="stable")
    table = pa.table(
        {
            "src": pa.array(src[order]),
            "dst": pa.array(dst[order]),
            "ts": pa.array(ts[order]).cast(pa.timestamp("us", tz="UTC")),
            "amount": pa.array(amount[order]),
        }
    ).cast(TRANSFER_EXPORT_SCHEMA)
    return table, {"accounts": n, "planted_transfers": k}


def baseline(table: pa.Table) -> tuple[float, int]:
    """One DuckDB pass: distinct payers, payees and money in and out per account."""
    con = duckdb.connect()
    try:
        con.register("transfers", table)
        began = time.perf_counter()
        out = con.execute(
            "WITH o AS (SELECT src AS account, count(DISTINCT dst) AS payees, "
            "sum(amount) AS amount_out FROM transfers GROUP BY src), "
            "i AS (SELECT dst AS account, count(DISTINCT src) AS payers, "
            "sum(amount) AS amount_in FROM transfers GROUP BY dst) "
            "SELECT * FROM o FULL OUTER JOIN i USING (account)"
        ).to_arrow_table()
        return time.perf_counter() - began, out.num_rows
    finally:
        con.close()


def stages(table: pa.Table, config: TransferPatternConfig) -> dict[str, float]:
    """Seconds of each stage of the computation, run one after the other."""
    timing: dict[str, float] = {}
    began = time.perf_counter()
    book = build_book(table, None)
    timing["book"] = time.perf_counter() - began
    steps: list[tuple[str, Any]] = [
        ("windows", lambda: window_columns(book, config.windows_days)),
        ("activity", lambda: activity_columns(book)),
        ("passing", lambda: passing_columns(book, config.pass_through_window_days)),
        ("amounts", lambda: amount_columns(book, config.round_unit)),
    ]
    activity: dict[str, np.ndarray] = {}
    for name, step in steps:
        began = time.perf_counter()
        result = step()
        timing[name] = time.perf_counter() - began
        if name == "activity":
            activity = result
    hub = (activity["payers"] + activity["payees"]) > config.hub_degree
    began = time.perf_counter()
    path_columns(
        book,
        hub,
        max_hops=config.max_cycle_hops,
        window_days=config.cycle_window_days,
        fan_cap=config.fan_cap,
    )
    timing["cycles_and_scatter_gather"] = time.perf_counter() - began
    began = time.perf_counter()
    copayment_columns(
        book,
        hub,
        window_days=config.cycle_window_days,
        fan_cap=config.fan_cap,
        max_layers=config.max_cycle_hops,
    )
    timing["bipartite_and_stack"] = time.perf_counter() - began
    return {k: round(v, 2) for k, v in timing.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1515)
    parser.add_argument("--stages", action="store_true", help="also time each stage")
    args = parser.parse_args()
    config = TransferPatternConfig()

    began = time.perf_counter()
    table, planted = generate(args.transfers, args.seed)
    generate_s = time.perf_counter() - began
    rss_before = _peak_rss_mib()

    began = time.perf_counter()
    features = transfer_pattern_features(table, config=config)
    wall_s = time.perf_counter() - began
    peak_rss = _peak_rss_mib()
    base_s, base_rows = baseline(table)

    found = {
        name: int((features.column(name).to_numpy() > 0).sum())
        for name in (
            "temporal_cycles",
            "reciprocal_pairs",
            "scatter_gather",
            "gather_scatter",
            "bipartite",
            "stack_depth",
        )
    }
    found["hubs"] = int(
        (
            (features.column("payers").to_numpy() + features.column("payees").to_numpy())
            > config.hub_degree
        ).sum()
    )
    result: dict[str, Any] = {
        "benchmark": "transfer_features",
        "figure": round(wall_s, 2),
        "unit": "seconds (wall) for transfer_pattern_features over the whole table",
        "goal": {"max_seconds": GOAL_S, "met": wall_s <= GOAL_S},
        "baseline": {
            "what": "one DuckDB pass: count(DISTINCT) payers and payees, sums, per account",
            "seconds": round(base_s, 2),
            "accounts": base_rows,
        },
        "ratio_to_baseline": round(wall_s / base_s, 1),
        "peak_rss_mib": peak_rss,
        "rss_before_mib": rss_before,
        "conditions": {
            "transfers": table.num_rows,
            "accounts": features.num_rows,
            "seed": args.seed,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "duckdb": duckdb.__version__,
            "windows_days": list(config.windows_days),
            "max_cycle_hops": config.max_cycle_hops,
            "cycle_window_days": config.cycle_window_days,
            "pass_through_window_days": config.pass_through_window_days,
            "hub_degree": config.hub_degree,
            "fan_cap": config.fan_cap,
            "generate_seconds": round(generate_s, 2),
            **planted,
        },
        "accounts_with": found,
    }
    if args.stages:
        result["stage_seconds"] = stages(table, config)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
