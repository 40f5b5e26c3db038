"""Scale: the batch pipeline step by step at growing sizes, with time and memory per step.

Per size (accounts; the default scenario makes about 10 events per account), every step
runs as its own ``fraudgraph`` process on the embedded store, so each step's peak RSS is
its own:

``generate`` -> ``ingest`` (events and labels) -> ``gnn_train`` (``--epochs``) ->
``gnn_infer`` -> ``analyse`` -> ``publish``, then, with ``--neo4j-import``, the Neo4j
bulk import of the same store (``fraudgraph neo4j import``).

A step that fails, is killed, or goes over ``--rss-cap-gib`` (the whole process tree,
sampled every 0.5 s, killed at the cap so a run on a shared machine stops on a figure of
its own rather than the kernel's OOM killer) is listed under ``stopped`` with why; the
steps that need it are skipped, the others still run (``analyse`` needs only ``ingest``).

Reported per size: seconds and peak RSS (GiB) per step, rows/s of ingest (``events``
counts every row read: events and labels), node and link
counts, bytes on disk per node and per link, peak RSS per node of the heaviest step; per
pair of consecutive sizes, the growth of every step's time and memory against the growth
of the input (``1.0`` = linear). With ``--gds-sizing`` the GDS memory estimates for 10M,
100M and 1B relationships (``benchmarks/gds_sizing.py``) are included.

Prints one JSON object on stdout and to ``--out``, which is also rewritten after every
step (``complete`` false until the end), so a run stopped from outside keeps what it
measured; progress on stderr.

Usage::

    python benchmarks/scale.py --accounts 100000                       # a quick check
    python benchmarks/scale.py --accounts 1000000,10000000 --workdir /data/scale \\
        --out benchmarks/results/scale.json
    python benchmarks/scale.py --accounts 30000000 --rss-cap-gib 22 --workdir /data/scale
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.measure import run_measured  # noqa: E402
from graph_service.embedded.store import EmbeddedStore  # noqa: E402

FRAUDGRAPH = [sys.executable, "-m", "fraudgraph.cli"]

#: Steps in order, each with the step it needs: a step whose prerequisite did not end
#: ``ok`` is skipped (``analyse`` runs without a GNN score when the GNN could not train).
STEPS: dict[str, str | None] = {
    "generate": None,
    "ingest": "generate",
    "gnn_train": "ingest",
    "gnn_infer": "gnn_train",
    "analyse": "ingest",
    "publish": "analyse",
    "neo4j_import": "ingest",
}


def _commands(
    step: str, scenario: Path, store: Path, args: argparse.Namespace, accounts: int
) -> list[str]:
    at = ["--store", str(store)]
    if step == "generate":
        return [
            *FRAUDGRAPH,
            "generate",
            "--accounts",
            str(accounts),
            "--seed",
            str(args.seed),
            "--out",
            str(scenario),
            "--json",
        ]
    if step == "ingest":
        inputs = [str(scenario / "events"), str(scenario / "labels.csv")]
        return [*FRAUDGRAPH, "ingest", *inputs, *at, "--json"]
    if step == "gnn_train":
        epochs = ["--epochs", str(args.gnn_epochs)]
        return [*FRAUDGRAPH, "gnn", "train", *at, *epochs, "--no-compare", "--json"]
    if step == "gnn_infer":
        return [*FRAUDGRAPH, "gnn", "infer", *at, "--json"]
    if step == "analyse":
        return [*FRAUDGRAPH, "analyse", *at, "--top", "0", "--json"]
    if step == "publish":
        return [*FRAUDGRAPH, "publish", *at, "--json"]
    if step == "neo4j_import":
        server = ["--data-dir", str(store.parent / "neo4j"), "--port", str(args.neo4j_port)]
        heap = ["--heap", args.neo4j_heap]
        return [*FRAUDGRAPH, "neo4j", "import", *at, *server, *heap, "--overwrite", "--json"]
    raise ValueError(step)


def _json_tail(stdout: str) -> dict[str, Any] | None:
    """A step's JSON object: all of stdout, or its last line (``--json`` prints one)."""
    text = stdout.strip()
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            parsed = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        return parsed if isinstance(parsed, dict) else None
    return None


def run_size(
    accounts: int, args: argparse.Namespace, on_step: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Every step at one size (``on_step(result so far)`` after each)."""
    root = args.workdir / f"scale-{accounts}"
    scenario, store = root / "scenario", root / "store"
    shutil.rmtree(store, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    steps = [s for s in STEPS if s != "neo4j_import" or args.neo4j_import]
    out: dict[str, Any] = {"accounts": accounts, "steps": {}}
    for step in steps:
        needs = STEPS[step]
        if needs is not None and out["steps"].get(needs, {}).get("status") not in ("ok", "reused"):
            out["steps"][step] = {"status": "skipped", "needs": needs}
            continue
        if step == "generate" and (scenario / "truth.csv").exists():
            out["steps"][step] = {"status": "reused", "path": str(scenario)}
            continue
        if step == "generate":
            shutil.rmtree(scenario, ignore_errors=True)
        print(f"[{accounts:,}] {step} ...", file=sys.stderr, flush=True)
        result = run_measured(
            _commands(step, scenario, store, args, accounts),
            cwd=REPO,
            cap_gib=args.rss_cap_gib,
            log=root / f"{step}.log",
        )
        stdout = result.pop("stdout")
        report = _json_tail(stdout)
        if step == "neo4j_import":
            stop = ["neo4j", "stop", "--data-dir", str(root / "neo4j")]
            run_measured([*FRAUDGRAPH, *stop], cwd=REPO)
            if report is not None:
                result["events_per_s"] = report.get("events_per_s")
                result["seconds_by_phase"] = report.get("seconds")
        if step == "ingest" and report is not None:
            result["events"] = report.get("rows_read")
            result["events_per_s"] = round(report["rows_read"] / max(result["wall_s"], 1e-9))
            result["rows_quarantined"] = report.get("rows_quarantined")
            if "graph_build_seconds" in report:
                result["graph_build_s"] = report["graph_build_seconds"]
        out["steps"][step] = result
        print(
            f"[{accounts:,}] {step}: {result['status']} {result['wall_s']} s, "
            f"peak RSS {result['peak_rss_gib']} GiB",
            file=sys.stderr,
            flush=True,
        )
        if result["status"] != "ok":
            out.setdefault("stopped", []).append({"step": step, **result})
        if step == "ingest":
            out["graph"] = _graph_size(store)
        on_step(out)
    done = [s for s in out["steps"].values() if s.get("status") == "ok"]
    if done and "graph" in out:
        heaviest = max(s["peak_rss_gib"] for s in done)
        out["peak_rss_gib"] = heaviest
        out["peak_rss_bytes_per_node"] = round(heaviest * 2**30 / out["graph"]["nodes"], 1)
    return out


def _graph_size(store: Path) -> dict[str, Any]:
    with EmbeddedStore(store, read_only=True) as graph:
        counts = graph.counts().as_dict()
        disk = graph.disk_bytes()
    nodes = sum(counts["nodes"].values())
    links = sum(counts["links"].values())
    return {
        "nodes": nodes,
        "links": links,
        "nodes_by_type": counts["nodes"],
        "disk_bytes": disk,
        "disk_bytes_per_node": round(disk / max(nodes, 1), 1),
        "disk_bytes_per_link": round(disk / max(links, 1), 1),
    }


def growth(smaller: dict[str, Any], larger: dict[str, Any]) -> dict[str, Any]:
    """Per step: time and memory ratio larger/smaller, and the same per unit of input.

    ``*_per_input`` divides by the ratio of events (nodes where events are unknown), so
    ``1.0`` means the step grows linearly with its input.
    """

    def size(run: dict[str, Any]) -> float:
        ingest = run["steps"].get("ingest", {})
        return float(ingest.get("events") or run.get("graph", {}).get("nodes") or run["accounts"])

    ratio = size(larger) / size(smaller)
    steps: dict[str, Any] = {}
    for name, big in larger["steps"].items():
        small = smaller["steps"].get(name)
        if not small or big.get("status") != "ok" or small.get("status") != "ok":
            continue
        time_ratio = big["wall_s"] / max(small["wall_s"], 1e-9)
        rss_ratio = big["peak_rss_gib"] / max(small["peak_rss_gib"], 1e-9)
        steps[name] = {
            "time_ratio": round(time_ratio, 2),
            "time_ratio_per_input": round(time_ratio / ratio, 2),
            "rss_ratio": round(rss_ratio, 2),
            "rss_ratio_per_input": round(rss_ratio / ratio, 2),
        }
    return {"input_ratio": round(ratio, 2), "steps": steps}


def main() -> None:
    """Parse arguments, run every size, print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="1000000,10000000", help="comma-separated sizes")
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--gnn-epochs", type=int, default=5)
    parser.add_argument("--rss-cap-gib", type=float, default=22.0)
    parser.add_argument("--neo4j-import", action="store_true")
    parser.add_argument("--neo4j-port", type=int, default=17695)
    parser.add_argument("--neo4j-heap", default="4g")
    parser.add_argument("--gds-sizing", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fraudgraph-scale"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    sizes = [int(s) for s in args.accounts.split(",")]
    runs: dict[str, Any] = {}
    payload: dict[str, Any] = {
        "benchmark": "scale",
        "figure": "seconds and peak RSS per pipeline step, by size",
        "unit": {"wall_s": "s", "peak_rss_gib": "GiB", "disk_bytes_per_node": "bytes"},
        "conditions": {
            "backend": "embedded",
            "seed": args.seed,
            "gnn_epochs": args.gnn_epochs,
            "rss_cap_gib": args.rss_cap_gib,
            "one_process_per_step": True,
            "cpus": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "python": platform.python_version(),
        },
        "complete": False,
        "results": runs,
    }

    def save(size: int, so_far: dict[str, Any]) -> None:
        # Written after every step: a run stopped from outside keeps what it measured.
        runs[str(size)] = so_far
        payload["conditions"]["load_average_at_end"] = os.getloadavg()
        if args.out:
            args.out.write_text(json.dumps(payload, indent=2, default=str) + "\n")

    for n in sizes:
        save(n, run_size(n, args, lambda so_far, n=n: save(n, so_far)))
    payload["growth"] = {
        f"{a}->{b}": growth(runs[str(a)], runs[str(b)]) for a, b in itertools.pairwise(sizes)
    }
    if args.gds_sizing:
        sizing = run_measured(
            [sys.executable, str(REPO / "benchmarks" / "gds_sizing.py")], cwd=REPO
        )
        payload["gds_sizing"] = _json_tail(sizing["stdout"]) or {"status": sizing["status"]}
    payload["complete"] = True
    text = json.dumps(payload, indent=2, default=str)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
