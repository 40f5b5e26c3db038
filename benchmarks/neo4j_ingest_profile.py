"""Where Neo4j ingest time goes: server vs client CPU, and wall time per statement kind.

Generates one scenario, starts a local Neo4j, ingests the scenario through the Neo4j
``GraphStore`` and reports the CPU seconds the Neo4j JVM and this Python process spent
during the ingest (robust to other load on the machine, unlike wall time), events per
server CPU second, and the wall time of each kind of write statement (each one consumed
before the next, so the figures add up to the batch time minus the commit).

Usage::

    python benchmarks/neo4j_ingest_profile.py --accounts 20000

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow.parquet as pq  # noqa: E402

from graph_service import open_store  # noqa: E402
from graph_service.neo4j import launcher  # noqa: E402
from graph_service.neo4j import store as neo4j_store  # noqa: E402
from graph_service.settings import Neo4jSettings, Settings  # noqa: E402
from ingestion.loader import Ingestor  # noqa: E402
from ingestion.synthetic import ScenarioConfig, generate_scenario  # noqa: E402

PASSWORD = "profile-password"


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--port", type=int, default=17720)
    parser.add_argument("--heap", default="2g")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fraudgraph-neo4j-profile-"))
    scenario = generate_scenario(
        ScenarioConfig(accounts=args.accounts, seed=args.seed), workdir / "scenario"
    )
    events = sum(pq.ParquetFile(p).metadata.num_rows for p in scenario.events_path.glob("*"))
    statement_s: collections.Counter[str] = collections.Counter()
    statement_rows: collections.Counter[str] = collections.Counter()
    original = neo4j_store.Neo4jStore._run_chunked

    def timed_run_chunked(self: Any, tx: Any, text: str, columns: Any, *a: Any, **k: Any) -> None:
        # The driver streams lazily; consuming each statement charges it its own time.
        run = tx.run
        tx.run = lambda *ra, **rk: run(*ra, **rk).consume()
        started = time.perf_counter()
        try:
            original(self, tx, text, columns, *a, **k)
        finally:
            tx.run = run
        kind = " ".join(text.split()[5:9])
        statement_s[kind] += time.perf_counter() - started
        statement_rows[kind] += len(next(iter(columns.values())))

    neo4j_store.Neo4jStore._run_chunked = timed_run_chunked  # type: ignore[method-assign]
    server = launcher.start(
        port=args.port,
        data_dir=workdir / "neo4j",
        password=PASSWORD,
        heap=args.heap,
        page_cache="512m",
    )
    try:
        settings = Settings(
            backend="neo4j",
            store_dir=workdir / "store",
            batch_size=args.batch_size,
            neo4j=Neo4jSettings(
                uri=server.uri, user="neo4j", password=PASSWORD, query_timeout_s=3600
            ),
        )
        with open_store(settings) as store:
            ingestor = Ingestor(store, quarantine_dir=workdir / "q", batch_size=args.batch_size)
            server_cpu, client_cpu = process_cpu_s(server.pid), own_cpu_s()
            started = time.perf_counter()
            ingestor.run([scenario.events_path])
            wall = time.perf_counter() - started
            server_cpu = process_cpu_s(server.pid) - server_cpu
            client_cpu = own_cpu_s() - client_cpu
            ingestor.close()
    finally:
        launcher.stop(workdir / "neo4j")
    print(
        json.dumps(
            {
                "benchmark": "neo4j_ingest_profile",
                "unit": {"*_s": "seconds", "*_us": "microseconds"},
                "conditions": {
                    "accounts": args.accounts,
                    "events": events,
                    "batch_size": args.batch_size,
                    "heap": args.heap,
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                },
                "wall_s": round(wall, 1),
                "events_per_s": round(events / wall),
                "server_cpu_s": round(server_cpu, 1),
                "client_cpu_s": round(client_cpu, 1),
                "server_cpu_us_per_event": round(server_cpu / events * 1e6),
                "statements": {
                    kind: {
                        "rows": statement_rows[kind],
                        "wall_s": round(seconds, 2),
                        "us_per_row": round(seconds / max(statement_rows[kind], 1) * 1e6, 1),
                    }
                    for kind, seconds in statement_s.most_common()
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
