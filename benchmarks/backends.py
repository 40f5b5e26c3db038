"""Embedded vs Neo4j + GDS vs networkx, side by side in one run.

On one generated scenario: ingest throughput into each backend (same files, same
pipeline), then WCC and community detection (Leiden and Louvain) wall time on the
account-identifier graph in the embedded engine, in GDS, and in networkx (on a subset of
accounts when the full graph is too large for it, stated in the output). Prints one JSON
object with figures, ratios and conditions.

With ``--neo4j-events N`` only the scenario's first N events go into Neo4j (enough to
measure its ingest rate when loading the whole scenario through transactions would take
hours); GDS and the embedded engine then both run on the full graph, given to each as the
same edge list exported from the embedded store (GDS builds it with a Cypher-aggregation
projection). Without it, each engine projects its own store.

Usage::

    python benchmarks/backends.py --accounts 100000
    python benchmarks/backends.py --accounts 1000000 --networkx-accounts 100000 \
        --neo4j-events 1000000 --heap 6g

Needs Java 17 + Maven for the local Neo4j (built and started by the script).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from networkx.algorithms import community as nx_community  # noqa: E402

from graph_service import open_store  # noqa: E402
from graph_service.algorithms import (  # noqa: E402
    ACCOUNT_IDENTIFIER_GRAPH,
    EdgeListProjection,
    Projection,
    modularity,
)
from graph_service.model import NODE_TYPE_CODE, NodeType  # noqa: E402
from graph_service.neo4j import launcher  # noqa: E402
from graph_service.settings import Neo4jSettings, Settings  # noqa: E402
from ingestion.loader import Ingestor  # noqa: E402
from ingestion.synthetic import ScenarioConfig, generate_scenario  # noqa: E402


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn`` once; return its result and wall seconds."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def ingest(settings: Settings, events: Path) -> dict[str, Any]:
    """Ingest the scenario's events into the configured backend; measure events/s."""
    n_events = sum(pq.ParquetFile(p).metadata.num_rows for p in events.glob("*.parquet"))
    with open_store(settings) as store:
        ingestor = Ingestor(
            store, quarantine_dir=settings.store_dir / "quarantine", batch_size=settings.batch_size
        )
        report, seconds = timed(lambda: ingestor.run([events]))
        ingestor.close()
        counts = store.counts()
    return {
        "events": n_events,
        "seconds": round(seconds, 2),
        "events_per_s": round(n_events / seconds),
        "rows_loaded": report.as_dict()["rows_loaded"],
        "nodes": sum(counts.nodes.values()),
        "links": sum(counts.links.values()),
    }


def full_edge_list(settings: Settings) -> EdgeListProjection:
    """The account-identifier graph of a store as an edge list (every node, every link)."""
    with open_store(settings) as store:
        nodes = store.export_nodes()
        links = store.export_links()
    return EdgeListProjection(
        nodes=nodes.column("id").to_numpy().astype(np.int64),
        src=links.column("src").to_numpy().astype(np.int64),
        dst=links.column("dst").to_numpy().astype(np.int64),
    )


def algorithms(
    settings: Settings, seed: int, edge_list: EdgeListProjection | None = None
) -> dict[str, Any]:
    """WCC, Leiden and Louvain on the account-identifier graph with one backend's engine.

    ``edge_list`` given: the engine runs on it rather than projecting its own store.
    """
    with open_store(settings) as store:
        engine = store.algorithms()
        projection: Projection = ACCOUNT_IDENTIFIER_GRAPH
        if edge_list is None:
            links = store.export_links()
            src = links.column("src").to_numpy()
            dst = links.column("dst").to_numpy()
        else:
            projection, src, dst = edge_list, edge_list.src, edge_list.dst
            if hasattr(engine, "max_parameter_edges"):
                engine.max_parameter_edges = max(engine.max_parameter_edges, src.size)
        out: dict[str, Any] = {
            "engine": engine.engine,
            "input": "own store" if edge_list is None else "edge list from the embedded store",
            "nodes": None if edge_list is None else int(edge_list.nodes.size),
            "edges": int(src.size),
        }
        wcc, out["wcc_s"] = timed(lambda: engine.wcc(projection))
        out["components"] = len(set(wcc.column("component").to_pylist()))
        for name in ("leiden", "louvain"):
            run = getattr(engine, name)
            parts, seconds = timed(lambda run=run: run(projection, seed=seed))
            out[f"{name}_s"] = round(seconds, 2)
            out[f"{name}_modularity"] = round(modularity(parts, src, dst), 4)
            out[f"{name}_communities"] = len(set(parts.column("community").to_pylist()))
        out["wcc_s"] = round(out["wcc_s"], 2)
    return out


def first_events(events: Path, n: int, out_dir: Path) -> Path:
    """Write the first ``n`` events of a scenario (in file order) to one Parquet file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts, left = [], n
    for path in sorted(events.glob("*.parquet")):
        table = pq.read_table(path)
        parts.append(table.slice(0, left))
        left -= parts[-1].num_rows
        if left <= 0:
            break
    pq.write_table(pa.concat_tables(parts), out_dir / "events-prefix.parquet")
    return out_dir


def networkx_baseline(settings: Settings, max_accounts: int, seed: int) -> dict[str, Any]:
    """networkx WCC and Louvain on the subgraph of the first ``max_accounts`` accounts."""
    with open_store(settings) as store:
        nodes = store.export_nodes()
        links = store.export_links()
    types = nodes.column("type").to_numpy()
    accounts = np.flatnonzero(types == NODE_TYPE_CODE[NodeType.ACCOUNT])[:max_accounts]
    keep = np.zeros(len(types), bool)
    keep[accounts] = True
    src = links.column("src").to_numpy()
    dst = links.column("dst").to_numpy()
    mask = keep[src]  # every link starts at an account; keep that account's identifiers
    graph = nx.Graph()
    graph.add_edges_from(zip(src[mask].tolist(), dst[mask].tolist(), strict=True))
    _, wcc_s = timed(lambda: list(nx.connected_components(graph)))
    _, louvain_s = timed(lambda: nx_community.louvain_communities(graph, seed=seed))
    return {
        "accounts": int(accounts.size),
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "wcc_s": round(wcc_s, 2),
        "louvain_s": round(louvain_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--networkx-accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=202)
    parser.add_argument("--port", type=int, default=17687)
    parser.add_argument("--heap", default="4g")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--neo4j-events",
        type=int,
        default=None,
        help="ingest only the first N events into Neo4j; the engines then share one edge list",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --workdir: keep the scenario, stores and figures of a stopped run and "
        "run only the steps missing from its partial.json",
    )
    args = parser.parse_args()
    if args.resume and args.workdir is None:
        parser.error("--resume needs --workdir")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fraudgraph-backends-"))
    partial = workdir / "partial.json"
    resuming = args.resume and partial.exists()
    events_path = workdir / "scenario" / "events"
    if not resuming:
        generate_scenario(
            ScenarioConfig(accounts=args.accounts, seed=args.seed), workdir / "scenario"
        )
    n_events = sum(pq.ParquetFile(p).metadata.num_rows for p in events_path.glob("*.parquet"))
    neo4j_events = events_path
    if args.neo4j_events is not None and args.neo4j_events < n_events:
        neo4j_events = workdir / "prefix"
        if not resuming:
            first_events(events_path, args.neo4j_events, neo4j_events)
    embedded = Settings(backend="embedded", store_dir=workdir / "embedded")
    password = "bench-password"
    server = launcher.start(
        port=args.port,
        data_dir=workdir / "neo4j",
        password=password,
        heap=args.heap,
        page_cache="1g",
    )
    neo4j = Settings(
        backend="neo4j",
        store_dir=workdir / "neo4j-store",
        batch_size=50_000,
        neo4j=Neo4jSettings(uri=server.uri, user="neo4j", password=password, query_timeout_s=3600),
    )
    results: dict[str, Any] = (
        json.loads(partial.read_text()) if resuming else {"ingest": {}, "algorithms": {}}
    )
    edge_lists: list[EdgeListProjection] = []

    def shared() -> EdgeListProjection | None:
        """The full graph as one edge list when Neo4j holds only a prefix (built once)."""
        if neo4j_events == events_path:
            return None
        if not edge_lists:
            edge_lists.append(full_edge_list(embedded))
        return edge_lists[0]

    steps: list[tuple[tuple[str, ...], Callable[[], dict[str, Any]]]] = [
        (("ingest", "embedded"), lambda: ingest(embedded, events_path)),
        (("ingest", "neo4j"), lambda: ingest(neo4j, neo4j_events)),
        (("algorithms", "embedded"), lambda: algorithms(embedded, args.seed, shared())),
        (("algorithms", "gds"), lambda: algorithms(neo4j, args.seed, shared())),
        (("networkx",), lambda: networkx_baseline(embedded, args.networkx_accounts, args.seed)),
    ]
    try:
        for path, step in steps:
            target = results
            for part in path[:-1]:
                target = target[part]
            if path[-1] in target:
                print(f"kept from the stopped run: {'/'.join(path)}", file=sys.stderr, flush=True)
                continue
            target[path[-1]] = step()
            # A long run leaves what it measured so far, should it be stopped.
            partial.write_text(json.dumps(results, indent=2))
            print(f"done: {'/'.join(path)}", file=sys.stderr, flush=True)
    finally:
        launcher.stop(workdir / "neo4j")
    emb, gds = results["algorithms"]["embedded"], results["algorithms"]["gds"]
    results["ratios"] = {
        "ingest_embedded_over_neo4j": round(
            results["ingest"]["embedded"]["events_per_s"]
            / results["ingest"]["neo4j"]["events_per_s"],
            2,
        ),
        "wcc_gds_over_embedded_time": round(gds["wcc_s"] / max(emb["wcc_s"], 1e-3), 2),
        "leiden_gds_over_embedded_time": round(gds["leiden_s"] / max(emb["leiden_s"], 1e-3), 2),
        "louvain_gds_over_embedded_time": round(gds["louvain_s"] / max(emb["louvain_s"], 1e-3), 2),
    }
    report = {
        "benchmark": "backends",
        "unit": {"events_per_s": "events/s", "*_s": "seconds wall"},
        "conditions": {
            "accounts": args.accounts,
            "events": n_events,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "neo4j": "5.26 Community + GDS 2.13.9, local launcher, heap "
            f"{args.heap}, page cache 1g, same machine",
            "projection": "account-identifier graph, all link types, undirected, unweighted",
            "neo4j_ingest": "all events"
            if neo4j_events == events_path
            else f"first {args.neo4j_events} events (file order); engines share the full "
            "graph as an edge list from the embedded store",
            "networkx": f"first {args.networkx_accounts} accounts and their identifiers only",
        },
        "results": results,
    }
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
