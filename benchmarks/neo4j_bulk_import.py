"""Neo4j bulk import (``neo4j-admin database import full``) against the driver path.

Generates one synthetic scenario, ingests it into an embedded store, then in the same run:

* **bulk**: ``graph_service.neo4j.bulk_import.bulk_import`` from that store into a new
  database of a local server: CSV export + stop + neo4j-admin + restart + constraints +
  ledger, timed end to end (events/s = events the store loaded / those seconds);
* **driver**: the transactional ``Neo4jStore`` ingest of the first ``--driver-events`` events
  of the same file into a second, empty local server (events/s);

and prints one JSON object with both figures, their ratio, the per-step seconds of the
import, the embedded ingest that precedes it ("from raw files" = embedded ingest + import)
and the conditions.

Usage::

    python benchmarks/neo4j_bulk_import.py --accounts 100000 --driver-events 100000

``ScenarioConfig(accounts=100_000)`` is about 1M events. ``--embedded DIR --events PATH``
reuse an embedded store already ingested from ``PATH`` (kept by an earlier ``--workdir``
run) instead of generating and ingesting again; the "from raw files" figure is then left
out. ``--driver-batch-size`` sets the driver path's batch (a 50,000-event batch of the 10M
scenario exceeds the transaction memory of a 2 GiB heap).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow.parquet as pq  # noqa: E402

from graph_service.embedded.store import EmbeddedStore  # noqa: E402
from graph_service.neo4j import launcher  # noqa: E402
from graph_service.neo4j.bulk_import import bulk_import  # noqa: E402
from graph_service.neo4j.store import Neo4jStore  # noqa: E402
from ingestion.loader import Ingestor  # noqa: E402
from ingestion.synthetic import ScenarioConfig, generate_scenario  # noqa: E402

PASSWORD = "bench-password"


def ingest(store: Any, events: Path, work: Path, batch_size: int) -> tuple[int, float]:
    """Events loaded and wall seconds of one ingest of ``events`` into ``store``."""
    ingestor = Ingestor(store, quarantine_dir=work / "quarantine", batch_size=batch_size)
    started = time.perf_counter()
    try:
        report = ingestor.run([events])
    finally:
        ingestor.close()
    return sum(m.rows_loaded for m in report.files), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--driver-events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--driver-batch-size", type=int, default=None)
    parser.add_argument("--embedded", type=Path, default=None)
    parser.add_argument("--events", type=Path, default=None)
    parser.add_argument("--port", type=int, default=17787)
    parser.add_argument("--heap", default="2g")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="fraudgraph-bulk-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    bulk_dir, driver_dir = work / "server-bulk", work / "server-driver"
    try:
        generate_s: float | None = None
        embedded_s: float | None = None
        embedded_events: int | None = None
        if args.embedded is not None and args.events is not None:
            source, events_path = args.embedded, args.events
        else:
            started = time.perf_counter()
            summary = generate_scenario(
                ScenarioConfig(accounts=args.accounts, seed=args.seed), work / "scenario"
            )
            generate_s = time.perf_counter() - started
            events_path = Path(summary.events_path)
            source = work / "embedded"
            embedded = EmbeddedStore(source, threads=args.threads)
            try:
                embedded_events, embedded_s = ingest(
                    embedded, events_path, work / "e", args.batch_size
                )
            finally:
                embedded.close()

        launcher.start(port=args.port, data_dir=bulk_dir, password=PASSWORD, heap=args.heap)
        report = bulk_import(
            source_store=source,
            data_dir=bulk_dir,
            database="bench-import",
            target_store=work / "neo4j-store",
            port=args.port,
            password=PASSWORD,
            heap=args.heap,
            threads=args.threads,
        )
        launcher.stop(bulk_dir)

        driver_events_path = work / "driver-slice.parquet"
        table = pq.read_table(events_path)
        pq.write_table(table.slice(0, min(args.driver_events, table.num_rows)), driver_events_path)
        server = launcher.start(
            port=args.port + 1, data_dir=driver_dir, password=PASSWORD, heap=args.heap
        )
        with Neo4jStore(
            uri=server.uri, password=PASSWORD, store_dir=work / "driver-store"
        ) as store:
            driver_events, driver_s = ingest(
                store, driver_events_path, work / "d", args.driver_batch_size or args.batch_size
            )
        launcher.stop(driver_dir)

        bulk_rate = report.events / report.seconds["total"]
        driver_rate = driver_events / driver_s
        result = {
            "benchmark": "neo4j_bulk_import",
            "figures": {
                "bulk_import_events_per_s": {
                    "value": round(bulk_rate),
                    "unit": "events/s",
                    "what": "embedded store -> new Neo4j database, end to end (export + stop "
                    "+ neo4j-admin + restart + constraints + ledger)",
                },
                "driver_events_per_s": {
                    "value": round(driver_rate),
                    "unit": "events/s",
                    "what": "transactional Neo4jStore ingest (UNWIND batches) of the first "
                    f"{driver_events} events of the same file, empty database",
                },
                "bulk_over_driver": {"value": round(bulk_rate / driver_rate, 1), "unit": "x"},
                "raw_files_events_per_s": None
                if embedded_s is None
                else {
                    "value": round(report.events / (embedded_s + report.seconds["total"])),
                    "unit": "events/s",
                    "what": "raw Parquet -> embedded ingest -> bulk import",
                },
                "goal_events_per_s": {"value": 60_000, "unit": "events/s"},
                "goal_ratio": {"value": 20, "unit": "x"},
            },
            "import": {
                "events": report.events,
                "nodes": report.nodes,
                "links": report.links,
                "seconds": report.seconds,
            },
            "embedded_ingest": None
            if embedded_s is None
            else {"events": embedded_events, "seconds": round(embedded_s, 2)},
            "driver": {"events": driver_events, "seconds": round(driver_s, 2)},
            "conditions": {
                "accounts": args.accounts,
                "seed": args.seed,
                "scenario_generate_s": None if generate_s is None else round(generate_s, 1),
                "reused_embedded_store": args.embedded is not None,
                "driver_batch_size": args.driver_batch_size or args.batch_size,
                "batch_size": args.batch_size,
                "heap": args.heap,
                "threads": args.threads,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "neo4j": "5.26.30 Community (local Maven build)",
            },
        }
        print(json.dumps(result, indent=2))
    finally:
        for data_dir in (bulk_dir, driver_dir):
            launcher.stop(data_dir)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
