"""Ingestion throughput and footprint of the embedded store, against the engine's limit.

Per size (about 1M and 10M events), in the same run and on the same generated Parquet:

* ``product_auto``: ``fraudgraph ingest`` into a fresh store with the default
  ``--load-mode auto`` (a fresh store takes the bulk path);
* ``product_incremental``: the same with ``--load-mode incremental`` (the batch-by-batch
  path, the baseline before the bulk path existed);
* ``bare``: one DuckDB pass over the same input files that builds entities (numbered) and
  link aggregates (``n_events, amount_sum, first_ts, last_ts``) plus account first/last
  seen, with no validation, normalisation, deduplication, ledger or quarantine: the
  machine's limit for this work.

Each runs in its own child process; wall time and peak RSS are of that process. Ratios are
``bare_wall / product_wall`` (1.0 = as fast as the bare pass). The bare pass is checked to
build the same graph: run over the store's *normalised* events, it must give the store's
entity and link counts per type and, for a sample of links, the same aggregates by key.
Run over the raw input it counts the raw spellings of phones, emails and addresses as
distinct keys (``raw_key_counts`` vs ``store_key_counts``): that is the normalisation the
product does and the bare pass does not.

Usage::

    python benchmarks/ingest.py                      # 1M and 10M events
    python benchmarks/ingest.py --events 1000000     # one size only
    python benchmarks/ingest.py --skip-incremental   # leave out the slow baseline
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

import duckdb
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from graph_service.embedded.store import EmbeddedStore  # noqa: E402
from graph_service.model import (  # noqa: E402
    LINK_ENDPOINTS,
    LINK_TARGET_COLUMN,
    LINK_TYPE_CODE,
    NODE_TYPE_CODE,
    NodeType,
)
from ingestion.synthetic import ScenarioConfig, generate_scenario  # noqa: E402

ACCOUNT = NODE_TYPE_CODE[NodeType.ACCOUNT]
TARGETS = [
    (LINK_TYPE_CODE[t], NODE_TYPE_CODE[LINK_ENDPOINTS[t][1]], column)
    for t, column in LINK_TARGET_COLUMN.items()
]
SAMPLE_LINKS = 2_000


def bare_pass(files: list[str], out_db: Path, *, memory_limit: str = "3GB") -> dict[str, int]:
    """Entities and link aggregates from event Parquet in one DuckDB pass, no checks.

    Writes ``entities(id, type, key, first_ts, last_ts)`` and
    ``links(src, dst, type, n_events, amount_sum, first_ts, last_ts)`` to ``out_db``.
    """
    con = duckdb.connect(str(out_db), config={"memory_limit": memory_limit})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    source = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    con.execute(f"CREATE VIEW ev AS SELECT * FROM read_parquet({source})")
    keys = " UNION ALL ".join(
        [f"SELECT {ACCOUNT}::UTINYINT AS type, account_id AS key FROM ev"]
        + [
            f"SELECT {target}::UTINYINT, {column} FROM ev WHERE {column} IS NOT NULL"
            for _, target, column in TARGETS
        ]
    )
    con.execute(
        "CREATE TABLE entities AS SELECT row_number() OVER (ORDER BY type, key) - 1 AS id, "
        f"type, key FROM (SELECT DISTINCT type, key FROM ({keys}))"
    )
    rows = " UNION ALL ".join(
        f"SELECT account_id, {link}::UTINYINT AS type, {target}::UTINYINT AS target_type, "
        f"{column} AS target, amount, ts FROM ev WHERE {column} IS NOT NULL"
        for link, target, column in TARGETS
    )
    con.execute(
        "CREATE TABLE links AS WITH agg AS (SELECT account_id, type, target_type, target, "
        "count(*) AS n_events, sum(coalesce(amount, 0.0)) AS amount_sum, min(ts) AS first_ts, "
        f"max(ts) AS last_ts FROM ({rows}) GROUP BY ALL) "
        "SELECT a.id AS src, t.id AS dst, agg.type, n_events, amount_sum, first_ts, last_ts "
        f"FROM agg JOIN entities a ON a.type = {ACCOUNT} AND a.key = agg.account_id "
        "JOIN entities t ON t.type = agg.target_type AND t.key = agg.target"
    )
    con.execute(
        "CREATE TABLE account_seen AS SELECT account_id AS key, min(ts) AS first_ts, "
        "max(ts) AS last_ts FROM ev GROUP BY account_id"
    )
    counts = {
        "entities": _one(con, "SELECT count(*) FROM entities"),
        "links": _one(con, "SELECT count(*) FROM links"),
    }
    con.close()
    return counts


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


#: 1-minute load average before and after each measured process (the machine is shared).
LOAD: list[dict[str, Any]] = []


def _measure(cmd: list[str]) -> tuple[float, float, bytes]:
    """Run ``cmd``; return (wall seconds, peak RSS MiB, stdout)."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    LOAD.append({"cmd": " ".join(cmd[2:5]), "before": load_before, "after": os.getloadavg()[0]})
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:4]} failed with {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_maxrss / 1024, stdout


def _product(scenario: Path, store_dir: Path, mode: str, events: int) -> dict[str, Any]:
    shutil.rmtree(store_dir, ignore_errors=True)
    cmd = [sys.executable, "-m", "fraudgraph.cli", "ingest", str(scenario / "events")]
    cmd += ["--store", str(store_dir), "--load-mode", mode, "--json"]
    wall, rss, stdout = _measure(cmd)
    manifest = json.loads(stdout)
    with EmbeddedStore(store_dir, read_only=True) as store:
        counts = store.counts()
        disk = store.disk_bytes()
        db_bytes = (store_dir / "graph.duckdb").stat().st_size
    n_nodes, n_links = sum(counts.nodes.values()), sum(counts.links.values())
    return {
        "wall_s": round(wall, 2),
        "events_per_s": round(events / wall),
        "peak_rss_mib": round(rss, 1),
        "batches_bulk": sum(m["batches_bulk"] for m in manifest["manifests"]),
        # Inside the wall time: files_s reads, validates, deduplicates and commits the files
        # (and holds the graph builds made during the run); graph_build_s is every graph
        # build of bulk batches, during and at the end of the run.
        "files_s": round(sum(m["seconds"] for m in manifest["manifests"]), 2),
        "graph_build_s": manifest["graph_build_seconds"],
        "rows_loaded": manifest["rows_loaded"],
        "rows_quarantined": manifest["rows_quarantined"],
        "rows_duplicate": manifest["rows_duplicate"],
        "reconciled": manifest["reconciled"],
        "nodes": n_nodes,
        "links": n_links,
        "store_bytes": disk,
        "graph_bytes_per_node": round(db_bytes / max(n_nodes, 1), 1),
        "graph_bytes_per_link": round(db_bytes / max(n_links, 1), 1),
    }


def _bare(files: list[Path], out_db: Path) -> tuple[float, float, dict[str, int]]:
    out_db.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--bare-pass", str(out_db), *map(str, files)]
    wall, rss, stdout = _measure(cmd)
    return wall, rss, json.loads(stdout)


def _same_graph(store_dir: Path, bare_db: Path) -> dict[str, Any]:
    """Compare the store with a bare pass over its normalised events: per-type counts, and
    a sample of links by ``(account key, type, target key)`` with their aggregates."""
    with EmbeddedStore(store_dir, read_only=True) as store:
        store_con = store._con  # the benchmark reads both files side by side
        store_con.execute(f"ATTACH '{bare_db}' AS bare (READ_ONLY)")
        try:
            per_type = store_con.execute(
                "SELECT (SELECT list(c ORDER BY type) FROM (SELECT type, count(*) c "
                "FROM entities GROUP BY type)), (SELECT list(c ORDER BY type) FROM "
                "(SELECT type, count(*) c FROM bare.entities GROUP BY type)), "
                "(SELECT list(c ORDER BY type) FROM (SELECT type, count(*) c FROM links "
                "GROUP BY type)), (SELECT list(c ORDER BY type) FROM (SELECT type, count(*) c "
                "FROM bare.links GROUP BY type))"
            ).fetchone()
            assert per_type is not None
            keyed = (
                "SELECT s.key AS src_key, l.type, d.key AS dst_key, l.n_events, "
                "round(l.amount_sum, 4) AS amount_sum, l.first_ts, l.last_ts FROM {links} l "
                "JOIN {entities} s ON s.id = l.src JOIN {entities} d ON d.id = l.dst"
            )
            mismatched = store_con.execute(
                f"WITH st AS ({keyed.format(links='links', entities='entities')}), "
                f"ba AS ({keyed.format(links='bare.links', entities='bare.entities')}), "
                f"sample AS (SELECT * FROM st USING SAMPLE {SAMPLE_LINKS} ROWS) "
                "SELECT count(*) FROM sample s LEFT JOIN ba b ON b.src_key = s.src_key "
                "AND b.type = s.type AND b.dst_key = s.dst_key WHERE b.src_key IS NULL "
                "OR b.n_events <> s.n_events OR abs(b.amount_sum - s.amount_sum) > 1e-3 "
                "OR b.first_ts <> s.first_ts OR b.last_ts <> s.last_ts"
            ).fetchone()
            assert mismatched is not None
        finally:
            store_con.execute("DETACH bare")
    return {
        "entity_counts_equal": per_type[0] == per_type[1],
        "link_counts_equal": per_type[2] == per_type[3],
        "sampled_links": SAMPLE_LINKS,
        "sampled_links_mismatched": int(mismatched[0]),
    }


def _key_counts(db: Path, table: str = "entities") -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = dict(con.execute(f"SELECT type, count(*) FROM {table} GROUP BY type").fetchall())
    finally:
        con.close()
    return {t.value: int(rows.get(c, 0)) for t, c in NODE_TYPE_CODE.items()}


def run_size(target_events: int, workdir: Path, seed: int, *, incremental: bool) -> dict[str, Any]:
    """Generate ~``target_events`` events; ingest them both ways and run the bare pass."""
    scenario_dir = workdir / f"scenario-{target_events}"
    config = ScenarioConfig(accounts=max(1_000, target_events // 10), seed=seed)
    started = time.perf_counter()
    if not (scenario_dir / "events").exists():
        generate_scenario(config, scenario_dir)
    generate_s = time.perf_counter() - started
    inputs = sorted((scenario_dir / "events").glob("*.parquet"))
    events = sum(pq.ParquetFile(p).metadata.num_rows for p in inputs)

    bare_wall, bare_rss, bare_counts = _bare(inputs, workdir / f"bare-{target_events}.duckdb")
    auto_store = workdir / f"store-auto-{target_events}"
    auto = _product(scenario_dir, auto_store, "auto", events)
    result: dict[str, Any] = {
        "events": events,
        "accounts": config.accounts,
        "generate_s": round(generate_s, 2),
        "bare": {
            "wall_s": round(bare_wall, 2),
            "events_per_s": round(events / bare_wall),
            "peak_rss_mib": round(bare_rss, 1),
            **bare_counts,
        },
        "product_auto": auto,
        "ratio_auto_vs_bare": round(bare_wall / auto["wall_s"], 3),
    }
    if incremental:
        inc = _product(scenario_dir, workdir / f"store-inc-{target_events}", "incremental", events)
        result["product_incremental"] = inc
        result["ratio_incremental_vs_bare"] = round(bare_wall / inc["wall_s"], 3)
        result["speedup_auto_vs_incremental"] = round(inc["wall_s"] / auto["wall_s"], 3)
        shutil.rmtree(workdir / f"store-inc-{target_events}", ignore_errors=True)
    # Same graph: the bare SQL over the store's normalised events must rebuild the store.
    check_db = workdir / f"bare-normalised-{target_events}.duckdb"
    check_wall, _, _ = _bare(sorted((auto_store / "events").glob("*.parquet")), check_db)
    result["same_graph_check"] = {
        **_same_graph(auto_store, check_db),
        "bare_over_normalised_events_wall_s": round(check_wall, 2),
    }
    result["raw_key_counts"] = _key_counts(workdir / f"bare-{target_events}.duckdb")
    result["store_key_counts"] = _key_counts(auto_store / "graph.duckdb")
    for path in (check_db, workdir / f"bare-{target_events}.duckdb"):
        path.unlink(missing_ok=True)
    shutil.rmtree(auto_store, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fraudgraph-bench-ingest"))
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--keep", action="store_true", help="Keep generated data.")
    parser.add_argument(
        "--skip-incremental", action="store_true", help="Leave out --load-mode incremental."
    )
    parser.add_argument("--bare-pass", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_pass:  # the child process of one bare pass
        print(json.dumps(bare_pass(args.files, args.bare_pass)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {
        str(n): run_size(n, args.workdir, args.seed, incremental=not args.skip_incremental)
        for n in args.events
    }
    report: dict[str, Any] = {
        "benchmark": "ingest",
        "unit": {
            "wall_s": "s",
            "events_per_s": "events/s",
            "peak_rss_mib": "MiB (peak RSS of the process)",
            "ratio_*_vs_bare": "bare wall / product wall (goal >= 0.8 at 10M events)",
        },
        "conditions": {
            "backend": "embedded (DuckDB + Parquet)",
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "input": "generated scenario (ScenarioConfig(accounts=events/10)), Parquet parts",
            "product": "wall time of the `fraudgraph ingest` process incl. start-up, checksum, "
            "validation, normalisation, dedup, ledger, graph build and compaction; default "
            "batch size and DuckDB settings",
            "bare": "one DuckDB process over the same Parquet: entities + link aggregates + "
            "account first/last seen, no checks, memory_limit 3GB, all threads",
        },
        "results": results,
        "load_average_1m": LOAD,
    }
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
