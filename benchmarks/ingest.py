"""Ingestion throughput and footprint of the embedded store.

Generates scenarios of about 1M and 10M events, ingests each into a fresh embedded
store in a child process (``fraudgraph ingest``), and prints one JSON object with, per
size: events/s, peak RSS of the ingest process, store size on disk, bytes per node and per
link, and the 10M/1M cost ratio (per-event time; 1.0 means perfectly linear).

Usage::

    python benchmarks/ingest.py                      # 1M and 10M events
    python benchmarks/ingest.py --events 1000000     # one size only
    python benchmarks/ingest.py --workdir /tmp/fg-bench --keep
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from graph_service.embedded.store import EmbeddedStore  # noqa: E402
from ingestion.synthetic import ScenarioConfig, generate_scenario  # noqa: E402


def _events_in(path: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(path.glob("*.parquet")))


def run_size(target_events: int, workdir: Path, seed: int) -> dict[str, Any]:
    """Generate ~``target_events`` events, ingest them, and measure."""
    scenario_dir = workdir / f"scenario-{target_events}"
    store_dir = workdir / f"store-{target_events}"
    shutil.rmtree(store_dir, ignore_errors=True)
    config = ScenarioConfig(accounts=max(1_000, target_events // 10), seed=seed)
    started = time.perf_counter()
    if not (scenario_dir / "events").exists():
        generate_scenario(config, scenario_dir)
    generate_s = time.perf_counter() - started
    events = _events_in(scenario_dir / "events")
    cmd = [
        sys.executable,
        "-m",
        "fraudgraph.cli",
        "ingest",
        str(scenario_dir / "events"),
        "--store",
        str(store_dir),
        "--json",
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed with exit code {proc.returncode}")
    manifest = json.loads(stdout)
    with EmbeddedStore(store_dir, read_only=True) as store:
        counts = store.counts()
        n_nodes = sum(counts.nodes.values())
        n_links = sum(counts.links.values())
        db_bytes = (store_dir / "graph.duckdb").stat().st_size
        disk = store.disk_bytes()
    return {
        "events": events,
        "accounts": config.accounts,
        "generate_s": round(generate_s, 2),
        "ingest_wall_s": round(wall, 2),
        "events_per_s": round(events / wall),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "rows_loaded": manifest["rows_loaded"],
        "rows_quarantined": manifest["rows_quarantined"],
        "rows_duplicate": manifest["rows_duplicate"],
        "reconciled": manifest["reconciled"],
        "nodes": n_nodes,
        "links": n_links,
        "store_bytes": disk,
        "graph_db_bytes": db_bytes,
        "event_parquet_bytes": disk - db_bytes,
        "graph_bytes_per_node": round(db_bytes / max(n_nodes, 1), 1),
        "graph_bytes_per_link": round(db_bytes / max(n_links, 1), 1),
        "store_bytes_per_event": round(disk / max(events, 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fraudgraph-bench-ingest"))
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--keep", action="store_true", help="Keep generated data.")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {str(n): run_size(n, args.workdir, args.seed) for n in args.events}
    report: dict[str, Any] = {
        "benchmark": "ingest",
        "unit": {"events_per_s": "events/s", "peak_rss_mib": "MiB", "store_bytes": "bytes"},
        "conditions": {
            "backend": "embedded (DuckDB + Parquet)",
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "input": "generated scenario, Parquet parts, default batch size",
            "note": "wall time of the `fraudgraph ingest` process incl. start-up, checksum, "
            "validation, normalisation, dedup, load and compaction",
        },
        "results": results,
    }
    sizes = sorted(results, key=int)
    if len(sizes) >= 2:
        small, large = results[sizes[0]], results[sizes[-1]]
        per_event_small = small["ingest_wall_s"] / small["events"]
        per_event_large = large["ingest_wall_s"] / large["events"]
        report["linearity"] = {
            "per_event_time_ratio_large_vs_small": round(per_event_large / per_event_small, 3),
            "rss_ratio_large_vs_small": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3),
        }
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
