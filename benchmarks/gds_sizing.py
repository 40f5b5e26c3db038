"""GDS heap sizing for 10M / 100M / 1B relationships, from GDS's own memory estimation.

Measures the node/relationship ratio of the account-identifier graph on a generated
scenario (embedded store), then asks a real GDS (local Neo4j 5.26 + GDS 2.13) for memory
estimates of the undirected projection and of each algorithm on *fictive* graphs of that
shape (``nodeCount``/``relationshipCount`` estimation mode). No graph of that size is
built: the figures are GDS's estimates, not measurements. Prints one JSON object.

Usage::

    python benchmarks/gds_sizing.py [--accounts 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import neo4j  # noqa: E402

from graph_service.embedded.store import EmbeddedStore  # noqa: E402
from graph_service.neo4j import launcher  # noqa: E402
from ingestion.loader import Ingestor  # noqa: E402
from ingestion.synthetic import ScenarioConfig, generate_scenario  # noqa: E402

SIZES = (10_000_000, 100_000_000, 1_000_000_000)
UNDIRECTED = {"ALL": {"type": "*", "orientation": "UNDIRECTED"}}
ALGORITHMS = {
    "wcc": "CALL gds.wcc.stream.estimate($graph, {})",
    "louvain": "CALL gds.louvain.stream.estimate($graph, {})",
    "leiden": "CALL gds.leiden.stream.estimate($graph, {})",
    "pageRank": "CALL gds.pageRank.stream.estimate($graph, {})",
    "fastRP": "CALL gds.fastRP.stream.estimate($graph, {embeddingDimension: 64})",
    "nodeSimilarity": "CALL gds.nodeSimilarity.stream.estimate($graph, {topK: 10})",
}
YIELD = " YIELD bytesMin, bytesMax, requiredMemory RETURN bytesMin, bytesMax, requiredMemory"


def graph_shape(accounts: int, workdir: Path) -> dict[str, float]:
    """Nodes, links and nodes-per-link of a generated scenario's graph."""
    scenario = generate_scenario(ScenarioConfig(accounts=accounts, seed=303), workdir / "s")
    with EmbeddedStore(workdir / "store") as store:
        ingestor = Ingestor(store, quarantine_dir=workdir / "q")
        ingestor.run([scenario.events_path])
        ingestor.close()
        counts = store.counts()
    nodes = sum(counts.nodes.values())
    links = sum(counts.links.values())
    return {"accounts": accounts, "nodes": nodes, "links": links, "nodes_per_link": nodes / links}


def estimates(uri: str, nodes_per_link: float) -> dict[str, Any]:
    """GDS estimates of projection and algorithms for each relationship count in SIZES."""
    out: dict[str, Any] = {}
    with neo4j.GraphDatabase.driver(uri) as driver, driver.session() as session:
        for rels in SIZES:
            nodes = int(rels * nodes_per_link)
            graph = {
                "nodeProjection": "*",
                "relationshipProjection": UNDIRECTED,
                "nodeCount": nodes,
                "relationshipCount": rels,
            }
            row = session.run(
                "CALL gds.graph.project.estimate('*', $rels, "
                "{nodeCount: $nodes, relationshipCount: $count})" + YIELD,
                rels=UNDIRECTED,
                nodes=nodes,
                count=rels,
            ).single()
            assert row is not None
            size: dict[str, Any] = {
                "nodes": nodes,
                "projection": {"bytes_max": row["bytesMax"], "required": row["requiredMemory"]},
            }
            for name, query in ALGORITHMS.items():
                algo = session.run(query + YIELD, graph=graph).single()
                assert algo is not None
                size[name] = {"bytes_max": algo["bytesMax"], "required": algo["requiredMemory"]}
            peak = size["projection"]["bytes_max"] + max(
                v["bytes_max"] for k, v in size.items() if k in ALGORITHMS
            )
            size["heap_for_projection_plus_largest_algorithm_gib"] = round(peak / 2**30, 1)
            out[f"{rels:,}"] = size
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--port", type=int, default=17688)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fraudgraph-sizing-") as tmp:
        workdir = Path(tmp)
        shape = graph_shape(args.accounts, workdir)
        server = launcher.start(port=args.port, data_dir=workdir / "neo4j", heap="512m")
        try:
            sizes = estimates(server.uri, shape["nodes_per_link"])
            gds_version = server.gds_version
        finally:
            launcher.stop(workdir / "neo4j")
    print(
        json.dumps(
            {
                "benchmark": "gds_sizing",
                "unit": {"bytes_max": "bytes", "required": "GDS range string"},
                "conditions": {
                    "method": "GDS memory estimation on fictive graphs (estimate mode), not measured",
                    "shape_from": shape,
                    "projection": "all nodes, all relationship types, UNDIRECTED, no properties",
                    "gds_version": gds_version,
                },
                "results": sizes,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
