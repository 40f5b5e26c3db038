"""Serving speed: the feature cache, the feature endpoints over HTTP beside a bare ASGI
app, the Redis path, multi-worker scaling, and GraphQL.

Builds (or reuses, ``--work``) an embedded store of ``--accounts`` generated accounts,
analysed, flagged and published, then measures

* ``FeatureCache.get`` latency (p50/p99/p99.9 of single calls) and batch lookups per
  second for each batch API named with ``--batch-api`` (``benchmarks/serving_cache.py``,
  pinned to a quiet core while nothing else of the benchmark runs);
* for 1 and 2 workers (``--workers``), each server on the same CPUs in turn:
  - the bare ASGI app (``benchmarks/bare_asgi.py``: a constant body of a real feature
    body's size, the uvicorn options of ``fraudgraph serve``), the ceiling;
  - ``GET /v1/features/Account/{key}`` with the in-process cache;
  - the same with the Redis cache (``FRAUDGRAPH_API_FEATURE_CACHE=redis``), once with
    uniform random keys over all accounts (the worst case for a near cache) and once with
    a skewed stream (Zipf ``--zipf-s`` over a random permutation of the keys), each on a
    fresh server, with the near cache's hit rate from ``/metrics``;
  each as the maximum throughput (closed loop, ``--max-duration``) and open-loop points at
  ``--rates`` (``--duration`` s each; latency from the scheduled send time, so queueing
  counts; rates above the measured maximum are skipped);
* ``POST /v1/features/batch`` with 100 entities per call (entity lookups per second);
* GraphQL ``ring(id)`` and ``neighbours(first: 50)`` p50/p95 (sequential requests) on the
  embedded store, and on Neo4j (a smaller store, ``--neo4j-accounts``; 0 skips it).

Load comes from ``benchmarks/loadgen`` (Go, stdlib only; built with ``go build`` into the
work directory), pinned away from the server where the machine allows (see ``pinning`` in
``benchmarks/serving_load.py``). The result closes with ``ratios`` (in-process over bare,
Redis over in-process, 2 over 1 worker) and ``goals`` (each target, measured, met).
Prints one JSON object on stdout; progress goes to stderr.

Usage::

    nice -n 5 python benchmarks/serving.py --accounts 1000000 --neo4j-accounts 10000 \\
        --work DIR > benchmarks/results/serving-1m.json
    python benchmarks/serving.py --accounts 20000 --neo4j-accounts 0 --work DIR \\
        --duration 5 --max-duration 5 > benchmarks/results/serving-smoke.json   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks import serving_report  # noqa: E402
from benchmarks.local_services import free_port, redis_server  # noqa: E402
from benchmarks.serving_cache import DEFAULT_BATCH_APIS  # noqa: E402
from benchmarks.serving_load import (  # noqa: E402
    SCORER_KEY,
    Loadgen,
    Server,
    Targets,
    api_server,
    bare_server,
    build_loadgen,
    feature_path,
    go_version,
    log,
    near_cache_hit_rate,
    pinning,
    stream_summary,
    write_batch_bodies,
    write_paths,
    zipf_keys,
)
from fraudgraph.cli.serving import uvicorn_options  # noqa: E402

INVESTIGATOR_KEY = "dev-investigator"
#: Shorter open-loop points than this are a smoke run, not a measurement.
MIN_POINT_S = 30.0
BATCH_ENTITIES = 100


def percentiles(values: list[float] | np.ndarray, *qs: float) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return {f"p{q:g}": float("nan") for q in qs}
    return {f"p{q:g}": round(float(np.percentile(array, q)), 1) for q in qs}


# -- store ------------------------------------------------------------------------------------


def build_store(store_dir: Path, accounts: int, seed: int, settings: Any) -> dict[str, Any]:
    from graph_service import open_store
    from ingestion.loader import Ingestor
    from ingestion.synthetic import ScenarioConfig, generate_scenario
    from scoring.analysis import analyse
    from scoring.feature_cache import publish_snapshot
    from scoring.flagging import FLAG_THRESHOLD, flag_clusters

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    scenario = generate_scenario(
        ScenarioConfig(accounts=accounts, seed=seed), store_dir.parent / "scenario"
    )
    timings["generate_s"] = time.perf_counter() - clock
    with open_store(settings) as store:
        clock = time.perf_counter()
        ingestor = Ingestor(
            store, quarantine_dir=store_dir.parent / "quarantine", batch_size=1_000_000
        )
        try:
            ingestor.run([scenario.events_path, scenario.labels_path])
        finally:
            ingestor.close()
        timings["ingest_s"] = time.perf_counter() - clock
        clock = time.perf_counter()
        result = analyse(store)
        flag_clusters(store, result, threshold=FLAG_THRESHOLD, out_dir=store_dir.parent / "flagged")
        timings["analyse_flag_s"] = time.perf_counter() - clock
        clock = time.perf_counter()
        snapshot = publish_snapshot(store, reasons=result.entity_risk.select(["id", "reasons"]))
        timings["publish_s"] = time.perf_counter() - clock
    log(f"built store of {accounts:,} accounts: {timings}")
    return {"accounts": accounts, "events": scenario.events, "snapshot_entities": len(snapshot),
            **{k: round(v, 1) for k, v in timings.items()}}  # fmt: skip


def sample_keys(settings: Any, seed: int) -> tuple[list[str], list[str], list[str]]:
    """Every Account key of the snapshot, ring ids (top by score) and ring member keys."""
    from graph_service import open_store
    from scoring.feature_cache import snapshot_from_store

    with open_store(settings) as store:
        snapshot = snapshot_from_store(store)
        rings = store.read_table("rings").sort_by([("score", "descending")]).slice(0, 200)
        ring_ids = [str(r) for r in rings.column("ring_id").to_pylist()]
        first_members = [int(m[0]) for m in rings.column("members").to_pylist()]
        member_keys = [e.key for e in store.get_entities(first_members)]
    accounts = [
        k for t, k in zip(snapshot.entity_types, snapshot.keys, strict=True) if t == "Account"
    ]
    random.Random(seed).shuffle(accounts)
    return accounts, ring_ids, member_keys


# -- measurements ------------------------------------------------------------------------------


def measure_cache(store_dir: Path, cpu: str, seed: int, batch_apis: list[str]) -> dict[str, Any]:
    """``benchmarks/serving_cache.py`` pinned to ``cpu`` (nothing else of ours running)."""
    command = [
        "taskset", "-c", cpu, sys.executable, str(REPO / "benchmarks" / "serving_cache.py"),
        "--store", str(store_dir), "--seed", str(seed),
        *(arg for name in batch_apis for arg in ("--batch-api", name)),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"serving_cache.py failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return {"cpu": cpu, **result}


def measure_get(
    server: Server, loadgen: Loadgen, targets: Targets, args: argparse.Namespace
) -> dict[str, Any]:
    """Warm-up, the maximum GET throughput, then the open-loop points up to that maximum."""
    loadgen.max(server.addr, targets, args.warmup, args.max_connections)
    log(f"  GET max for {args.max_duration:g} s")
    top = loadgen.max(server.addr, targets, args.max_duration, args.max_connections)
    log(f"    {top['achieved_rps']:,.0f} rps, p99 {top['latency_us']['p99']} us")
    points: dict[str, Any] = {}
    for rate in args.rates:
        if rate > args.skip_above * top["achieved_rps"]:
            points[f"{rate:g}"] = {
                "skipped": f"above {args.skip_above:g} x the measured max "
                f"({top['achieved_rps']:,.0f} rps)"
            }
            continue
        log(f"  GET open loop at {rate:g} rps for {args.duration:g} s")
        point = loadgen.open(server.addr, targets, rate, args.duration, args.connections)
        log(
            f"    {point['achieved_rps']:,.0f} rps, p50 / p99 / p99.9 "
            f"{point['latency_us']['p50']} / {point['latency_us']['p99']} / "
            f"{point['latency_us']['p99.9']} us, errors {point['errors']}"
        )
        points[f"{rate:g}"] = point
    return {"get_max": top, "get_open": points, "load_average": _load_average()}


def measure_batch(
    server: Server, loadgen: Loadgen, bodies: Targets, args: argparse.Namespace
) -> dict[str, Any]:
    """Closed-loop ``POST /v1/features/batch`` of :data:`BATCH_ENTITIES` entities."""
    log(f"  POST batch of {BATCH_ENTITIES} for {args.max_duration:g} s")
    loadgen.max(server.addr, bodies, args.warmup, args.batch_connections)
    result = loadgen.max(server.addr, bodies, args.max_duration, args.batch_connections)
    result["entity_lookups_per_s"] = round(result["achieved_rps"] * BATCH_ENTITIES)
    log(f"    {result['entity_lookups_per_s']:,} lookups/s")
    return result


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def fetch_feature_body(server: Server, keys: list[str], out: Path) -> dict[str, Any]:
    """Store the real feature body of median size among ``keys`` (the bare app answers it)."""
    import httpx

    with httpx.Client(base_url=server.url, headers={"X-API-Key": SCORER_KEY}) as client:
        bodies = []
        for key in keys:
            response = client.get(feature_path(key), timeout=10)
            response.raise_for_status()
            bodies.append(response.content)
    bodies.sort(key=len)
    out.write_bytes(bodies[len(bodies) // 2])
    return {
        "bare_body_bytes": len(bodies[len(bodies) // 2]),
        "feature_body_bytes": {"min": len(bodies[0]), "max": len(bodies[-1]), "of": len(bodies)},
    }


def measure_graphql(
    url: str, ring_ids: list[str], member_keys: list[str], repeats: int
) -> dict[str, Any]:
    import httpx

    ring_query = (
        "query($id: String!) { ring(id: $id) { id score size typology reasons "
        "members(first: 100) { key risk } evidence { src dst type key } } }"
    )
    neighbor_query = (
        "query($k: String!) { neighbours(type: ACCOUNT, key: $k, first: 50) { edges { cursor "
        "node { key type risk } link { type nEvents } } pageInfo { hasNextPage endCursor } } }"
    )
    out: dict[str, Any] = {}
    with httpx.Client(base_url=url, headers={"X-API-Key": INVESTIGATOR_KEY}, timeout=60) as client:
        for name, query, values, var in (
            ("ring", ring_query, ring_ids, "id"),
            # The result keeps its old name, so runs before the field's rename compare.
            ("neighbors_first_50", neighbor_query, member_keys, "k"),
        ):
            latencies: list[float] = []
            errors = 0
            for i in range(repeats + 5):
                started = time.perf_counter()
                response = client.post(
                    "/graphql", json={"query": query, "variables": {var: values[i % len(values)]}}
                )
                elapsed = (time.perf_counter() - started) * 1e3
                if response.status_code != 200 or "errors" in response.json():
                    errors += 1
                if i >= 5:
                    latencies.append(elapsed)
            out[name] = {
                "requests": repeats,
                "errors": errors,
                "latency_ms": {
                    k: round(v, 2) for k, v in percentiles(latencies, 50, 95, 99).items()
                },
            }
    return out


def run_matrix(
    args: argparse.Namespace,
    work: Path,
    store_dir: Path,
    settings: Any,
    accounts: list[str],
    graphql: Callable[[Server], None] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The HTTP figures for each worker count; and what the conditions must say of them."""
    binary = build_loadgen(work / "bin")
    streams = work / "streams"
    streams.mkdir(exist_ok=True)
    uniform = Targets("GET", write_paths(streams / "uniform.txt", accounts))
    skewed_keys = zipf_keys(accounts, s=args.zipf_s, n=args.stream_draws, seed=args.seed)
    skewed = Targets("GET", write_paths(streams / "zipf.txt", skewed_keys))
    bodies = Targets(
        "POST",
        write_batch_bodies(
            streams / "batch-bodies.jsonl",
            accounts,
            per_call=BATCH_ENTITIES,
            calls=20_000,  # 2M draws: the near cache sees the whole key space, as for GETs
            seed=args.seed,
        ),
        path="/v1/features/batch",
    )
    logs = work / "logs"
    body_file = work / "feature-body.json"
    body_file.unlink(missing_ok=True)
    http: dict[str, Any] = {}
    notes: dict[str, Any] = {
        "key_streams": {
            "uniform": f"each request an independent uniform draw over all {len(accounts):,} "
            "accounts (the honest worst case for a near cache); in-process, bare and redis_uniform",
            "zipf": {
                "law": f"Zipf s={args.zipf_s:g} over a random permutation of all accounts; "
                "each request an independent draw from this pool; redis_zipf only",
                **stream_summary(skewed_keys),
            },
        },
        "pinning": {},
    }
    redis_cpu = pinning(max(args.workers)).redis
    redis_context = redis_server(cpu=int(redis_cpu)) if args.redis else nullcontext()
    with redis_context as redis_url:
        redis_env = (
            None
            if redis_url is None
            else {"FRAUDGRAPH_API_FEATURE_CACHE": "redis", "FRAUDGRAPH_API_REDIS_URL": redis_url}
        )
        if redis_url is not None:
            http_redis_publish_s = publish_to_redis(settings, redis_url)
            notes["redis"] = (
                f"redis-server, one instance pinned to CPU {redis_cpu}; snapshot published "
                f"in {http_redis_publish_s} s"
            )
        for workers in args.workers:
            pin = pinning(workers)
            notes["pinning"][f"workers_{workers}"] = pin.note
            loadgen = Loadgen(binary, pin.load, procs=args.loadgen_procs, seed=args.seed)
            block: dict[str, Any] = {}
            tag = f"{workers}w"
            log(f"{workers} worker(s): in-process cache ({pin.note})")
            with api_server(
                store_dir, workers=workers, cpus=pin.server, log_path=logs / f"api-{tag}.log"
            ) as server:
                if not body_file.exists():
                    notes.update(fetch_feature_body(server, accounts[:201], body_file))
                block["in_process"] = measure_get(server, loadgen, uniform, args)
                block["in_process"]["post_batch_100"] = measure_batch(server, loadgen, bodies, args)
                if graphql is not None and workers == args.workers[0]:
                    graphql(server)
            log(f"{workers} worker(s): bare ASGI app ({body_file.stat().st_size} bytes)")
            with bare_server(
                body_file, workers=workers, cpus=pin.server, log_path=logs / f"bare-{tag}.log"
            ) as server:
                block["bare"] = measure_get(server, loadgen, uniform, args)
            if redis_env is not None:
                for stream, targets in (("uniform", uniform), ("zipf", skewed)):
                    log(f"{workers} worker(s): Redis cache, {stream} keys")
                    with api_server(
                        store_dir,
                        workers=workers,
                        cpus=pin.server,
                        log_path=logs / f"api-redis-{stream}-{tag}.log",
                        env_extra=redis_env,
                    ) as server:
                        found = measure_get(server, loadgen, targets, args)
                        near = near_cache_hit_rate(server.url)
                        found["near_cache"] = {k: v for k, v in near.items() if k != "totals"}
                        if stream == "uniform":
                            batch = measure_batch(server, loadgen, bodies, args)
                            since = near_cache_hit_rate(server.url, since=near["totals"])
                            batch["near_cache"] = {k: v for k, v in since.items() if k != "totals"}
                            found["post_batch_100"] = batch
                        block[f"redis_{stream}"] = found
            if args.paired_rounds:
                block["paired_max"] = paired_maxima(
                    args,
                    store_dir,
                    body_file,
                    loadgen,
                    uniform,
                    workers,
                    pin.server,
                    logs,
                    redis_env,
                )
            http[f"workers_{workers}"] = block
    return http, notes


def paired_maxima(
    args: argparse.Namespace,
    store_dir: Path,
    body_file: Path,
    loadgen: Loadgen,
    targets: Targets,
    workers: int,
    cpus: str,
    logs: Path,
    redis_env: dict[str, str] | None,
) -> dict[str, Any]:
    """Closed-loop GET maxima (uniform keys) of the bare app, the in-process path and the
    Redis path, taken in turn for ``--paired-rounds`` rounds of ``--paired-duration`` s each
    (a fresh server each time), so each round's ratios compare paths measured within a
    minute of each other (see :mod:`benchmarks.serving_report`)."""
    paths: list[tuple[str, Callable[[], Any]]] = [
        (
            "bare",
            lambda: bare_server(
                body_file, workers=workers, cpus=cpus, log_path=logs / "paired-bare.log"
            ),
        ),
        (
            "in_process",
            lambda: api_server(
                store_dir, workers=workers, cpus=cpus, log_path=logs / "paired-api.log"
            ),
        ),
    ]
    if redis_env is not None:
        paths.append(
            (
                "redis_uniform",
                lambda: api_server(
                    store_dir,
                    workers=workers,
                    cpus=cpus,
                    log_path=logs / "paired-api-redis.log",
                    env_extra=redis_env,
                ),
            )
        )
    rps: dict[str, list[float]] = {name: [] for name, _ in paths}
    for round_no in range(args.paired_rounds):
        for name, start in paths:
            with start() as server:
                loadgen.max(server.addr, targets, args.warmup, args.max_connections)
                top = loadgen.max(server.addr, targets, args.paired_duration, args.max_connections)
            rps[name].append(top["achieved_rps"])
            log(
                f"{workers} worker(s), paired round {round_no + 1}: {name} "
                f"{top['achieved_rps']:,.0f} rps"
            )
    return {
        "rounds": args.paired_rounds,
        "duration_s": args.paired_duration,
        "connections": args.max_connections,
        "order": [name for name, _ in paths],
        "rps": rps,
    }


def publish_to_redis(settings: Any, redis_url: str) -> float:
    """Publish the store's snapshot to the Redis at ``redis_url``; seconds taken."""
    import redis

    from graph_service import open_store
    from scoring.feature_cache import RedisFeatureCache, snapshot_from_store

    log("publishing the snapshot to Redis")
    with open_store(settings) as store:
        snapshot = snapshot_from_store(store)
    started = time.perf_counter()
    RedisFeatureCache(redis.Redis.from_url(redis_url)).publish(snapshot)
    return round(time.perf_counter() - started, 1)


def _csv(kind: type) -> Any:
    def parse(text: str) -> list[Any]:
        return [kind(part) for part in text.split(",") if part]

    return parse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--neo4j-accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--work", type=Path, default=None, help="Reuse/keep the stores here.")
    parser.add_argument("--workers", type=_csv(int), default=[1, 2], help="e.g. 1,2")
    parser.add_argument(
        "--rates", type=_csv(float), default=[1_000, 2_500, 5_000, 10_000, 20_000],
        help="open-loop GET rates, requests/s",
    )  # fmt: skip
    parser.add_argument(
        "--duration", type=float, default=MIN_POINT_S, help="seconds per open-loop point"
    )
    parser.add_argument(
        "--max-duration", type=float, default=20.0, help="seconds per closed-loop maximum"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before each maximum")
    parser.add_argument(
        "--paired-rounds", type=int, default=5,
        help="rounds of paired maxima (bare, in-process, Redis in turn; 0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--paired-duration", type=float, default=10.0, help="seconds per paired maximum"
    )
    parser.add_argument("--connections", type=int, default=32, help="open-loop connections")
    parser.add_argument("--max-connections", type=int, default=16, help="closed-loop GET")
    parser.add_argument("--batch-connections", type=int, default=8, help="closed-loop batch")
    parser.add_argument(
        "--skip-above", type=float, default=1.1,
        help="skip open-loop rates above this many times the measured maximum",
    )  # fmt: skip
    parser.add_argument("--loadgen-procs", type=int, default=1, help="its GOMAXPROCS")
    parser.add_argument("--zipf-s", type=float, default=1.1)
    parser.add_argument(
        "--stream-draws", type=int, default=1_000_000, help="draws in the Zipf key pool"
    )
    parser.add_argument(
        "--batch-api", action="append", default=None,
        help="in-process batch read to time, by name (repeatable; see serving_cache.py)",
    )  # fmt: skip
    parser.add_argument("--quiet-cpu", default="1", help="CPU for the in-process cache timings")
    parser.add_argument("--no-redis", dest="redis", action="store_false")
    parser.add_argument("--graphql-repeats", type=int, default=200)
    parser.add_argument(
        "--only-graphql",
        action="store_true",
        help="measure only the GraphQL queries (embedded, and Neo4j with --neo4j-accounts)",
    )
    parser.add_argument("--note", default=None, help="a line for the conditions")
    return parser.parse_args()


def main() -> None:
    args = parse_args()

    from graph_service.settings import Settings

    work = args.work or Path(tempfile.mkdtemp(prefix="fraudgraph-serving-"))
    store_dir = work / f"embedded-{args.accounts}" / "store"
    settings = Settings(store_dir=store_dir)
    smoke = args.duration < MIN_POINT_S
    options = uvicorn_options()
    result: dict[str, Any] = {
        "benchmark": "serving",
        "units": {
            "*_us": "microseconds",
            "*_ms": "milliseconds",
            "*_rps": "requests/s (loopback)",
            "lookups_per_s": "entity feature lookups/s",
            "ratios": "numerator over denominator: for max_rps higher is better, for p99 lower",
        },
        "conditions": {
            "run": (
                f"SMOKE RUN: open-loop points of {args.duration:g} s (a measurement needs >= "
                f"{MIN_POINT_S:g} s), {args.accounts:,} accounts; proves the pipeline, "
                "not the figures"
            )
            if smoke
            else "measurement",
            "accounts": args.accounts,
            "seed": args.seed,
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "go": go_version(),
            "server": "fraudgraph serve --workers N (uvicorn "
            + ", ".join(f"{k}={v}" for k, v in options.items() if k != "log_level")
            + "; one process per worker)",
            "bare": "benchmarks/bare_asgi.py: a constant JSON body the size of a real feature "
            "body, the same uvicorn options and worker count, on the same CPUs",
            "load": f"benchmarks/loadgen (Go, GOMAXPROCS={args.loadgen_procs}, raw HTTP/1.1 "
            f"keep-alive); open loop: {args.duration:g} s per point, {args.connections} "
            "connections, latency from the scheduled send time (queueing counts; rates above "
            f"{args.skip_above:g} x the maximum skipped); max: closed loop, "
            f"{args.max_connections} connections, {args.max_duration:g} s; batch: closed "
            f"loop, {args.batch_connections} connections, {BATCH_ENTITIES} uniform keys per call",
            "near_cache_hit_rate": "near hits / all feature lookups (near hits + Redis and "
            "snapshot hits and misses), from the server's /metrics counters (merged over "
            "workers): for the GETs, since the server started (a fresh server per key "
            "stream, warm-up included); for the batch, since the GETs ended; null when the "
            "server has no 'near' cache label",
            "load_average_at_start": _load_average(),
            **({"note": args.note} if args.note else {}),
        },
    }
    if not (store_dir / "graph.duckdb").exists():
        store_dir.parent.mkdir(parents=True, exist_ok=True)
        log(f"building the embedded store of {args.accounts:,} accounts in {store_dir}")
        result["embedded_build"] = build_store(store_dir, args.accounts, args.seed, settings)
    accounts, ring_ids, member_keys = sample_keys(settings, args.seed)

    def graphql(server: Server) -> None:
        log("GraphQL on embedded")
        result["graphql_embedded"] = {
            "accounts": args.accounts,
            **measure_graphql(server.url, ring_ids, member_keys, args.graphql_repeats),
        }

    if args.only_graphql:
        with api_server(
            store_dir, workers=1, cpus=pinning(1).server, log_path=work / "logs" / "api-graphql.log"
        ) as server:
            graphql(server)
    else:
        os.sync()  # a store just built is still being written back: not a quiet core
        log(f"in-process cache on CPU {args.quiet_cpu}")
        result["feature_cache_in_process"] = measure_cache(
            store_dir, args.quiet_cpu, args.seed, args.batch_api or list(DEFAULT_BATCH_APIS)
        )
        http, notes = run_matrix(args, work, store_dir, settings, accounts, graphql)
        result["conditions"].update(notes)
        result["http"] = http
        result["ratios"] = serving_report.ratios(http)
        result["goals"] = serving_report.goals(
            http, result["feature_cache_in_process"], result["ratios"], notes["pinning"]
        )

    if args.neo4j_accounts:
        result["graphql_neo4j"] = run_neo4j(work, args)
    result["conditions"]["load_average_at_end"] = _load_average()
    print(json.dumps(result, indent=2))


def run_neo4j(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from graph_service.neo4j import launcher
    from graph_service.settings import Neo4jSettings, Settings

    data_dir = work / f"neo4j-{args.neo4j_accounts}"
    password = "serving-bench"
    port = free_port()
    log(f"starting Neo4j for {args.neo4j_accounts:,} accounts")
    server = launcher.start(
        port=port, data_dir=data_dir, password=password, heap="2g", page_cache="1g"
    )
    try:
        settings = Settings(
            backend="neo4j",
            store_dir=data_dir / "store",
            neo4j=Neo4jSettings(uri=server.uri, password=password),
        )
        from graph_service import open_store
        from scoring.feature_cache import latest_snapshot_version

        with open_store(settings) as store:
            published = latest_snapshot_version(store)
        if published is None:
            build = build_store(settings.store_dir, args.neo4j_accounts, args.seed, settings)
        else:
            build = {"reused": str(data_dir), "snapshot_version": published}
        _, ring_ids, member_keys = sample_keys(settings, args.seed)
        backend_env = {
            "FRAUDGRAPH_BACKEND": "neo4j",
            "NEO4J_URI": server.uri,
            "NEO4J_PASSWORD": password,
        }
        with api_server(
            settings.store_dir,
            workers=1,
            cpus=pinning(1).server,
            log_path=work / "logs" / "api-neo4j.log",
            env_extra=backend_env,
        ) as api:
            log("GraphQL on Neo4j")
            queries = measure_graphql(api.url, ring_ids, member_keys, args.graphql_repeats)
        return {
            "accounts": args.neo4j_accounts,
            "build": build,
            "neo4j": "5.26 + GDS, local launcher, heap 2g, page cache 1g",
            **queries,
        }
    finally:
        launcher.stop(data_dir)


if __name__ == "__main__":
    main()
