"""End-to-end batch pipeline time: inline against Celery workers, side by side.

On one generated scenario: the whole pipeline (ingest every event, train the GNN and
challenge, score every account with it, analyse, flag, publish the feature snapshot,
evaluate against the ground truth) runs twice, each time into a fresh embedded store:

* ``inline``: ``fraudgraph pipeline run`` in one process, no broker;
* ``celery``: ``fraudgraph pipeline submit --follow`` to a ``fraudgraph worker`` with
  ``--workers`` pool processes, over a ``redis-server`` of the benchmark's own.

Reported per mode: wall time from start (or submit) to the run's end, the run's own
per-step seconds from the ledger, peak RSS of the process tree (sampled every 0.5 s),
and, for Celery, the worker's start-up time (not counted in the run). The two final
states (entity risk, ring score, GNN score, flagged ring members and scores) are compared
and ``same_result`` says whether they are equal: the chain of tasks must compute what the
inline run computes.

Prints one JSON object on stdout (and writes it to ``--out`` when given).

Usage::

    python benchmarks/pipeline.py --accounts 100000
    python benchmarks/pipeline.py --accounts 1000000 --workdir /tmp/pipe-1m \\
        --out benchmarks/results/pipeline-1m.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from local_services import redis_server  # noqa: E402

from benchmarks.measure import PeakRss  # noqa: E402

FRAUDGRAPH = [sys.executable, "-m", "fraudgraph.cli"]


def main() -> None:
    """Parse arguments, run both modes, print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--workers", type=int, default=2, help="Celery pool processes.")
    parser.add_argument("--gnn-epochs", type=int, default=40)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--modes", default="inline,celery")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fraudgraph-pipeline-"))
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = _scenario(workdir / "scenario", args.accounts, args.seed)
    base_cmd = [
        str(scenario["events_path"]),
        str(scenario["labels_path"]),
        "--truth",
        str(scenario["truth_path"]),
        "--gnn",
        "train",
        "--gnn-epochs",
        str(args.gnn_epochs),
        "--no-deliver",
        "--json",
    ]
    results: dict[str, Any] = {}
    with redis_server() as redis_url:
        for mode in args.modes.split(","):
            store = workdir / mode / "store"
            shutil.rmtree(store.parent, ignore_errors=True)
            store.parent.mkdir(parents=True)
            if mode == "inline":
                results[mode] = _inline(store, base_cmd)
            elif mode == "celery":
                results[mode] = _celery(store, base_cmd, redis_url, args.workers)
            else:
                raise SystemExit(f"unknown mode {mode}")
            print(f"{mode}: {results[mode]['wall_s']:.1f} s", file=sys.stderr)
    payload: dict[str, Any] = {
        "benchmark": "pipeline",
        "figure": "end-to-end pipeline wall time",
        "unit": "s",
        "conditions": {
            "accounts": args.accounts,
            "seed": args.seed,
            "events": scenario["events"],
            "celery_worker_processes": args.workers,
            "gnn": f"train (at most {args.gnn_epochs} epochs) then infer",
            "backend": "embedded",
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "results": results,
    }
    if "inline" in results and "celery" in results:
        payload["celery_over_inline"] = round(
            results["celery"]["wall_s"] / results["inline"]["wall_s"], 3
        )
        payload["same_result"] = _same_state(
            workdir / "inline" / "store", workdir / "celery" / "store"
        )
    text = json.dumps(payload, indent=2, default=str)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


def _scenario(folder: Path, accounts: int, seed: int) -> dict[str, Any]:
    marker = folder / "summary.json"
    if marker.exists():
        summary: dict[str, Any] = json.loads(marker.read_text())
        if summary["accounts"] == accounts and summary["seed"] == seed:
            return summary
        shutil.rmtree(folder)
    from ingestion.synthetic import ScenarioConfig, generate_scenario

    made = generate_scenario(ScenarioConfig(accounts=accounts, seed=seed), folder)
    summary = {
        **made.as_dict(),
        "seed": seed,
        "events_path": str(made.events_path),
        "labels_path": str(made.labels_path),
        "truth_path": str(made.truth_path),
    }
    marker.write_text(json.dumps(summary, default=str))
    return summary


def _inline(store: Path, base_cmd: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*FRAUDGRAPH, "pipeline", "run", *base_cmd, "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    rss = PeakRss([proc.pid])
    out, _ = proc.communicate()
    wall = time.perf_counter() - started
    peak = rss.stop()
    if proc.returncode != 0:
        raise SystemExit(f"inline pipeline failed ({proc.returncode})")
    return _summary(json.loads(out.strip().splitlines()[-1]), wall, peak)


def _celery(store: Path, base_cmd: list[str], broker: str, workers: int) -> dict[str, Any]:
    env = {**os.environ, "FRAUDGRAPH_JOBS_BROKER_URL": broker, "FRAUDGRAPH_STORE_DIR": str(store)}
    log = (store.parent / "worker.log").open("w")
    started = time.perf_counter()
    worker = subprocess.Popen(
        [*FRAUDGRAPH, "worker", "--concurrency", str(workers), "--loglevel", "info"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        _wait_ready(broker, worker)
        startup = time.perf_counter() - started
        rss = PeakRss([worker.pid])
        started = time.perf_counter()
        out = subprocess.run(
            [*FRAUDGRAPH, "pipeline", "submit", *base_cmd, "--store", str(store), "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=REPO,
            check=False,
        )
        wall = time.perf_counter() - started
        peak = rss.stop()
        if out.returncode != 0:
            raise SystemExit(f"celery pipeline failed ({out.returncode}); see {log.name}")
        result = _summary(json.loads(out.stdout.strip().splitlines()[-1]), wall, peak)
        result["worker_startup_s"] = round(startup, 3)
        return result
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=60)
        log.close()


def _wait_ready(broker: str, worker: subprocess.Popen[bytes]) -> None:
    from celery import Celery

    app = Celery(broker=broker)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit("the celery worker exited at start")
        if app.control.ping(timeout=1.0):
            return
    raise SystemExit("the celery worker did not answer within 120 s")


def _summary(run: dict[str, Any], wall: float, peak_gib: float) -> dict[str, Any]:
    steps = run["step_records"]
    return {
        "run_id": run["run_id"],
        "status": run["status"],
        "wall_s": round(wall, 3),
        "steps_s": {name: steps[name]["seconds"] for name in run["steps"] if name in steps},
        "step_status": {name: steps[name]["status"] for name in run["steps"] if name in steps},
        "peak_rss_gib": peak_gib,
        "evaluation": {
            k: steps.get("evaluate", {}).get("result", {}).get(k)
            for k in ("ring_recall", "cluster_precision", "roc_auc", "pr_auc")
        },
    }


def _same_state(left: Path, right: Path) -> bool:
    from graph_service.embedded.store import EmbeddedStore
    from scoring.flagging import read_flagged_clusters

    def state(path: Path) -> dict[str, Any]:
        store = EmbeddedStore(path)
        try:
            out: dict[str, Any] = {}
            for name in ("entity_risk", "ring_score", "gnn_score", "community"):
                table = store.read_scores(name).sort_by("entity_id")
                out[name] = (
                    table.column("entity_id").to_numpy(),
                    np.round(table.column("value").to_numpy(), 9),
                )
            flagged = read_flagged_clusters(store)
            out["flagged"] = sorted(
                (tuple(m), round(s, 9))
                for m, s in zip(
                    flagged.column("members").to_pylist(),
                    flagged.column("score").to_pylist(),
                    strict=True,
                )
            )
            return out
        finally:
            store.close()

    a, b = state(left), state(right)
    for key in a:
        if key == "flagged":
            if a[key] != b[key]:
                return False
        elif not (np.array_equal(a[key][0], b[key][0]) and np.array_equal(a[key][1], b[key][1])):
            return False
    return True


if __name__ == "__main__":
    main()
