"""Serving speed: the feature cache, the feature endpoints over HTTP, and GraphQL.

Builds (or reuses, ``--work``) an embedded store of ``--accounts`` generated accounts,
analysed, flagged and published, then measures

* ``FeatureCache.get`` latency (p50/p99 of single calls) and batch lookups per second
  (``lookup_rows`` + gathering every numeric column, batches of 1,000 keys);
* ``GET /v1/features/Account/{key}`` over loopback: p50/p99 at fixed rates (open loop,
  latency measured from the scheduled send time, so queueing counts) from a separate
  load-generator process, and the maximum throughput with ``wrk`` (closed loop);
* ``POST /v1/features/batch`` with 100 entities per call: entity lookups per second (wrk);
* the same GET figures with the Redis cache (``FRAUDGRAPH_API_FEATURE_CACHE=redis``);
* GraphQL ``ring(id)`` and ``neighbours(first: 50)`` p50/p95 (sequential requests) on the
  embedded store, and on Neo4j (a smaller store, ``--neo4j-accounts``; 0 skips it).

The server runs pinned to CPU 0 (``taskset``), load generators and Redis to CPU 1.
Prints one JSON object on stdout; progress goes to stderr.

Usage::

    nice -n 5 python benchmarks/serving.py --accounts 1000000 --neo4j-accounts 20000 \\
        > benchmarks/results/serving.json
    python benchmarks/serving.py loadgen --url http://127.0.0.1:8000 --rate 1000 ...  (internal)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from local_services import free_port, redis_server  # noqa: E402

SCORER_KEY = "dev-scorer"
INVESTIGATOR_KEY = "dev-investigator"


def log(message: str) -> None:
    print(f"[serving {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentiles(values_us: list[float] | np.ndarray, *qs: float) -> dict[str, float]:
    array = np.asarray(values_us, dtype=np.float64)
    if array.size == 0:
        return {f"p{q:g}": float("nan") for q in qs}
    return {f"p{q:g}": round(float(np.percentile(array, q)), 1) for q in qs}


# -- load generator (runs as its own process) ------------------------------------------------


async def _open_loop(
    host: str, port: int, paths: list[str], rate: float, duration: float, connections: int
) -> dict[str, Any]:
    """Send GETs at ``rate``/s for ``duration`` s over keep-alive connections."""
    total = int(rate * duration)
    latencies: list[float] = []
    errors = {"status": 0, "socket": 0}
    start = time.perf_counter() + 0.5
    header = f"Host: {host}\r\nX-API-Key: {SCORER_KEY}\r\nConnection: keep-alive\r\n\r\n"

    async def worker(index: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for i in range(index, total, connections):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            request = f"GET {paths[i % len(paths)]} HTTP/1.1\r\n{header}".encode()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, AttributeError):
                errors["socket"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append((time.perf_counter() - scheduled) * 1e6)
            if status != 200:
                errors["status"] += 1
        writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - start
    return {
        "target_rps": rate,
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "requests": len(latencies),
        "duration_s": duration,
        "connections": connections,
        "errors": errors,
        "latency_us": percentiles(latencies, 50, 90, 99, 99.9),
        "max_us": round(max(latencies), 1) if latencies else None,
    }


def loadgen_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    paths = Path(args.paths).read_text().split()
    host, port = args.url.removeprefix("http://").split(":")
    result = asyncio.run(
        _open_loop(host, int(port), paths, args.rate, args.duration, args.connections)
    )
    print(json.dumps(result))


def run_loadgen(
    url: str, paths_file: Path, rate: float, duration: float, connections: int
) -> dict[str, Any]:
    command = [
        "taskset", "-c", "1", sys.executable, __file__, "loadgen", "--url", url,
        "--paths", str(paths_file), "--rate", str(rate), "--duration", str(duration),
        "--connections", str(connections),
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output)
    return result


# -- wrk -----------------------------------------------------------------------------------

_WRK_GET = """
paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], {["X-API-Key"] = "%s"})
end
"""

_WRK_POST = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "%s"
"""


def _wrk_unit(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[unit]


def run_wrk(url: str, script: str, duration: int, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = [
        "taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
        "-s", handle.name, url,
    ]  # fmt: skip
    text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    Path(handle.name).unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    dist = dict(re.findall(r"\s+(50|75|90|99)%\s+([\d.]+\w+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    return {
        "rps": round(rps, 1),
        "requests": requests,
        "duration_s": duration,
        "connections": connections,
        "latency_us": {f"p{k}": round(_wrk_unit(v), 1) for k, v in dist.items()},
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


# -- servers ---------------------------------------------------------------------------------


@contextmanager
def api_server(
    store: Path, env_extra: dict[str, str], backend_env: dict[str, str] | None = None
) -> Iterator[str]:
    import httpx

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FRAUDGRAPH_API_SNAPSHOT_POLL_S": "0",
        "FRAUDGRAPH_ENVIRONMENT": "development",
        "FRAUDGRAPH_API_QUERY_TIMEOUT_S": "30",
        **env_extra,
        **(backend_env or {}),
    }
    process = subprocess.Popen(
        [
            "taskset",
            "-c",
            "0",
            sys.executable,
            "-m",
            "fraudgraph.cli",
            "serve",
            "--store",
            str(store),
            "--port",
            str(port),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError("API server exited during start")
            try:
                ready = httpx.get(f"{url}/readyz", timeout=5).json()
                if ready["features"]["snapshot_loaded"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("API server not ready within 300 s")
            time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


# -- store ------------------------------------------------------------------------------------


def build_store(store_dir: Path, accounts: int, seed: int, settings: Any) -> dict[str, Any]:
    from graph_service import open_store
    from ingestion.loader import Ingestor
    from ingestion.synthetic import ScenarioConfig, generate_scenario
    from scoring.analysis import analyse
    from scoring.feature_cache import publish_snapshot
    from scoring.flagging import flag_clusters

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
        flag_clusters(store, result, threshold=0.5, out_dir=store_dir.parent / "flagged")
        timings["analyse_flag_s"] = time.perf_counter() - clock
        clock = time.perf_counter()
        snapshot = publish_snapshot(store, reasons=result.entity_risk.select(["id", "reasons"]))
        timings["publish_s"] = time.perf_counter() - clock
    log(f"built store of {accounts:,} accounts: {timings}")
    return {"accounts": accounts, "events": scenario.events, "snapshot_entities": len(snapshot),
            **{k: round(v, 1) for k, v in timings.items()}}  # fmt: skip


def sample_keys(settings: Any, n: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    """Random snapshot account keys, ring ids (top by score) and ring member keys."""
    from graph_service import open_store
    from scoring.feature_cache import snapshot_from_store

    with open_store(settings) as store:
        snapshot = snapshot_from_store(store)
        rings = store.read_table("rings").sort_by([("score", "descending")]).slice(0, 200)
        ring_ids = [str(r) for r in rings.column("ring_id").to_pylist()]
        first_members = [int(m[0]) for m in rings.column("members").to_pylist()]
        member_keys = [e.key for e in store.get_entities(first_members)]
    rng = random.Random(seed)
    keys = [snapshot.keys[rng.randrange(len(snapshot))] for _ in range(n)]
    return keys, ring_ids, member_keys


# -- measurements ------------------------------------------------------------------------------


def measure_cache(settings: Any, seed: int) -> dict[str, Any]:
    from graph_service import open_store
    from scoring.feature_cache import FEATURE_COLUMNS_NUMERIC, FeatureCache, snapshot_from_store

    with open_store(settings) as store:
        clock = time.perf_counter()
        snapshot = snapshot_from_store(store)
        load_s = time.perf_counter() - clock
    cache = FeatureCache(snapshot)
    rng = random.Random(seed)
    keys = [snapshot.keys[rng.randrange(len(snapshot))] for _ in range(200_000)]
    for key in keys[:10_000]:
        cache.get("Account", key)
    samples = np.empty(len(keys))
    clock_ns = time.perf_counter_ns
    for i, key in enumerate(keys):
        t0 = clock_ns()
        cache.get("Account", key)
        samples[i] = clock_ns() - t0
    batch = 1_000
    started = time.perf_counter()
    done = 0
    while time.perf_counter() - started < 5.0:
        for start in range(0, len(keys), batch):
            chunk = keys[start : start + batch]
            found, rows = cache.lookup_rows("Account", chunk)
            assert found is not None
            found.numeric(rows[rows >= 0])
            done += len(chunk)
    columnar_rate = done / (time.perf_counter() - started)
    started = time.perf_counter()
    done = 0
    while time.perf_counter() - started < 3.0:
        for start in range(0, 50_000, batch):
            done += len(cache.get_many("Account", keys[start : start + batch]))
    records_rate = done / (time.perf_counter() - started)
    return {
        "entities": len(snapshot),
        "snapshot_load_s": round(load_s, 2),
        "get_latency_us": {
            k: round(v / 1e3, 2) for k, v in percentiles(samples, 50, 99, 99.9).items()
        },
        "batch_lookups_per_s_columnar": round(columnar_rate),
        "batch_api": "FeatureCache.lookup_rows + FeatureSnapshot.numeric (every numeric feature)",
        "batch_lookups_per_s_records": round(records_rate),
        "batch_size": batch,
        "columns_gathered": len(FEATURE_COLUMNS_NUMERIC),
    }


def measure_http(
    url: str, work: Path, keys: list[str], long_run_s: float, short_run_s: float
) -> dict[str, Any]:
    import httpx

    paths_file = work / "paths.txt"
    paths_file.write_text("\n".join(f"/v1/features/Account/{k}" for k in keys))
    for key in keys[:2_000]:
        httpx.get(f"{url}/v1/features/Account/{key}", headers={"X-API-Key": SCORER_KEY})
    results: dict[str, Any] = {}
    for rate, duration in ((1_000, short_run_s), (5_000, long_run_s)):
        log(f"GET at {rate} rps for {duration:g} s on {url}")
        results[f"get_{rate}_rps"] = run_loadgen(url, paths_file, rate, duration, 64)
    log("GET max throughput (wrk)")
    results["get_max"] = run_wrk(url, _WRK_GET % (paths_file, SCORER_KEY), int(short_run_s), 32)
    body = json.dumps({"entities": [{"type": "Account", "key": k} for k in keys[:100]]})
    log("POST batch of 100 max throughput (wrk)")
    batch = run_wrk(
        f"{url}/v1/features/batch", _WRK_POST % (body, SCORER_KEY), int(short_run_s), 16
    )
    batch["entity_lookups_per_s"] = round(batch["rps"] * 100)
    results["post_batch_100"] = batch
    return results


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--neo4j-accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--work", type=Path, default=None, help="Reuse/keep the stores here.")
    parser.add_argument(
        "--long-run-s", type=float, default=60.0, help="Seconds at 5k rps (in-process)."
    )
    parser.add_argument("--short-run-s", type=float, default=15.0)
    parser.add_argument("--graphql-repeats", type=int, default=200)
    parser.add_argument(
        "--only-graphql",
        action="store_true",
        help="measure only the GraphQL queries (embedded, and Neo4j with --neo4j-accounts)",
    )
    args = parser.parse_args()

    from graph_service.settings import Settings

    work = args.work or Path(tempfile.mkdtemp(prefix="fraudgraph-serving-"))
    store_dir = work / f"embedded-{args.accounts}" / "store"
    settings = Settings(store_dir=store_dir)
    result: dict[str, Any] = {
        "benchmark": "serving",
        "units": {
            "*_us": "microseconds",
            "*_ms": "milliseconds",
            "rps": "requests/s (loopback)",
            "lookups_per_s": "entity feature lookups/s",
        },
        "conditions": {
            "accounts": args.accounts,
            "seed": args.seed,
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "server": "fraudgraph serve (uvicorn, uvloop + httptools, 1 worker) pinned to CPU 0",
            "load": "separate processes pinned to CPU 1: open-loop asyncio generator "
            "(latency from scheduled send time) for fixed rates; wrk 1 thread for max",
            "redis": "redis-server 1 instance on CPU 1 (shared with the load generator)",
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    if not (store_dir / "graph.duckdb").exists():
        store_dir.parent.mkdir(parents=True, exist_ok=True)
        log(f"building the embedded store of {args.accounts:,} accounts in {store_dir}")
        result["embedded_build"] = build_store(store_dir, args.accounts, args.seed, settings)
    keys, ring_ids, member_keys = sample_keys(settings, 20_000, args.seed)

    if not args.only_graphql:
        log("in-process cache")
        result["feature_cache_in_process"] = measure_cache(settings, args.seed)

    with api_server(store_dir, {}) as url:
        if not args.only_graphql:
            result["http_in_process_cache"] = measure_http(
                url, work, keys, args.long_run_s, args.short_run_s
            )
        log("GraphQL on embedded")
        result["graphql_embedded"] = {
            "accounts": args.accounts,
            **measure_graphql(url, ring_ids, member_keys, args.graphql_repeats),
        }

    if not args.only_graphql:
        result["http_redis_cache"] = measure_redis(settings, store_dir, work, keys, args)

    if args.neo4j_accounts:
        result["graphql_neo4j"] = run_neo4j(work, args)
    result["conditions"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


def measure_redis(
    settings: Any, store_dir: Path, work: Path, keys: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """Publish the snapshot to a fresh Redis, then the HTTP figures with the Redis cache."""
    with redis_server(cpu=1) as redis_url:
        import redis

        from graph_service import open_store
        from scoring.feature_cache import RedisFeatureCache, snapshot_from_store

        with open_store(settings) as store:
            snapshot = snapshot_from_store(store)
        started = time.perf_counter()
        RedisFeatureCache(redis.Redis.from_url(redis_url)).publish(snapshot)
        publish_s = time.perf_counter() - started
        del snapshot
        env = {"FRAUDGRAPH_API_FEATURE_CACHE": "redis", "FRAUDGRAPH_API_REDIS_URL": redis_url}
        with api_server(store_dir, env) as url:
            redis_http = measure_http(url, work, keys, args.short_run_s, args.short_run_s)
    return {"publish_s": round(publish_s, 1), **redis_http}


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
        _, ring_ids, member_keys = sample_keys(settings, 10, args.seed)
        backend_env = {
            "FRAUDGRAPH_BACKEND": "neo4j",
            "NEO4J_URI": server.uri,
            "NEO4J_PASSWORD": password,
        }
        with api_server(settings.store_dir, {}, backend_env) as url:
            log("GraphQL on Neo4j")
            queries = measure_graphql(url, ring_ids, member_keys, args.graphql_repeats)
        return {
            "accounts": args.neo4j_accounts,
            "build": build,
            "neo4j": "5.26 + GDS, local launcher, heap 2g, page cache 1g",
            **queries,
        }
    finally:
        launcher.stop(data_dir)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        parser = argparse.ArgumentParser()
        parser.add_argument("loadgen")
        parser.add_argument("--url", required=True)
        parser.add_argument("--paths", required=True)
        parser.add_argument("--rate", type=float, required=True)
        parser.add_argument("--duration", type=float, required=True)
        parser.add_argument("--connections", type=int, default=64)
        loadgen_main(parser.parse_args())
    else:
        main()
