"""Where the time goes: the API under open-loop load, sampled with py-spy (or cProfile).

Starts ``fraudgraph serve`` (in-process or Redis feature cache, ``--workers``, pinned as in
``benchmarks/serving.py``), applies open-loop GETs with the Go load generator at
``--rate`` for ``--duration`` s, and records the server meanwhile with ``py-spy record``
(``--subprocesses`` when there are several workers). Writes into ``--out``

* ``<name>.collapsed.txt``: the collapsed stacks (py-spy ``--format raw``; open it in
  speedscope or any flame graph tool);
* ``<name>.svg``: a flame graph of them;
* ``<name>.json``: the top functions by self and by total time, self time by package,
  and the load generator's result during the profile;

and prints the JSON on stdout. Without py-spy (``pip install py-spy``; it needs ptrace
rights on the server), ``--profiler cprofile`` runs uvicorn inside a cProfile'd process of
this script instead (same app and options, profiling switched on only for the load
window): the JSON then ranks functions from ``pstats`` and there is no flame graph.

Usage::

    python benchmarks/profile_serving.py --work DIR --accounts 20000 --cache in-process \\
        --rate 3000 --duration 20 --out benchmarks/results/profile
"""

from __future__ import annotations

import argparse
import cProfile
import html
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.local_services import free_port, redis_server  # noqa: E402
from benchmarks.serving_load import (  # noqa: E402
    Loadgen,
    Server,
    Targets,
    api_ready,
    api_server,
    build_loadgen,
    log,
    pinning,
    serve_process,
    server_env,
    write_paths,
    zipf_keys,
)
from fraudgraph.cli.serving import uvicorn_options  # noqa: E402

Stack = tuple[tuple[str, ...], int]


# -- collapsed stacks ----------------------------------------------------------------------


def read_collapsed(path: Path) -> list[Stack]:
    """``frame;frame;... count`` lines (root first) as (frames, samples)."""
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((tuple(frames.split(";")), int(count)))
    return stacks


def main_thread_stacks(stacks: list[Stack]) -> list[Stack]:
    """The main thread's stacks of a ``--threads`` recording, without the thread frame
    (and the process frame of ``--subprocesses``)."""
    kept = []
    for frames, count in stacks:
        for i, frame in enumerate(frames):
            if frame.startswith("thread (") and frame.endswith("MainThread"):
                kept.append((frames[i + 1 :], count))
                break
    return kept


def loop_idle_share(stacks: list[Stack]) -> float:
    """Share of samples where the event loop waited for I/O (the leaf is the loop's
    ``run_forever``, uvloop's C poll under ``Runner.run``, or ``select``)."""
    total = sum(count for _, count in stacks) or 1
    idle = sum(
        count
        for frames, count in stacks
        if frames and function_of(frames[-1]).split(" (")[0] in _LOOP_WAIT
    )
    return round(idle / total, 4)


_LOOP_WAIT = frozenset({"Runner.run", "run_forever", "_run_once", "select", "poll"})


def function_of(frame: str) -> str:
    """``name (path/to/module.py:123)`` as ``name (module path)``: lines merged, the path
    shortened to what follows site-packages or the repository."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    for marker in ("site-packages/", "lib/python3", str(REPO) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "lib/python3":
                where = "stdlib:" + where.split("/", 1)[-1]
            break
    return f"{name} ({where})" if where else name


def package_of(function: str) -> str:
    """The package a function belongs to: the first path part (``uvicorn``, ``api``...)."""
    where = function.rpartition(" (")[2].rstrip(")")
    if where.startswith("stdlib:"):
        return "stdlib:" + where[7:].split("/")[0].removesuffix(".py")
    return where.split("/")[0].removesuffix(".py") or "<unknown>"


def summarise(stacks: list[Stack], top: int = 30) -> dict[str, Any]:
    """Top functions by self time (leaf) and total time (anywhere on the stack, once per
    sample), and self time by package; shares of all samples."""
    total = sum(count for _, count in stacks)
    self_time: Counter[str] = Counter()
    total_time: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks:
        functions = [function_of(f) for f in frames if not f.startswith(("process ", "thread ("))]
        if not functions:
            continue
        self_time[functions[-1]] += count
        packages[package_of(functions[-1])] += count
        for function in set(functions):
            total_time[function] += count

    def ranked(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "samples": n, "share": round(n / total, 4)}
            for name, n in counter.most_common(top)
        ]

    # The trunk (interpreter start, CLI, uvicorn.run, the event loop) is on every stack and
    # says nothing; it is listed apart from the total-time ranking.
    trunk = [name for name, n in total_time.most_common() if n >= 0.99 * total]
    for name in trunk:
        del total_time[name]
    return {
        "samples": total,
        "top_self": ranked(self_time),
        "top_total": ranked(total_time),
        "trunk": trunk,
        "self_by_package": [
            {"package": name, "samples": n, "share": round(n / total, 4)}
            for name, n in packages.most_common()
        ],
    }


def flamegraph_svg(stacks: list[Stack], title: str, width: int = 1400) -> str:
    """A static flame graph (root at the bottom; hover a frame for its samples)."""
    tree: dict[str, Any] = {"n": 0, "c": {}}
    for frames, count in stacks:
        node = tree
        node["n"] += count
        for frame in frames:
            node = node["c"].setdefault(function_of(frame), {"n": 0, "c": {}})
            node["n"] += count
    total = max(tree["n"], 1)
    rects: list[str] = []
    row, depth_max = 17, 0

    def place(node: dict[str, Any], x: float, depth: int) -> None:
        nonlocal depth_max
        for name, child in sorted(node["c"].items()):
            w = child["n"] / total * (width - 20)
            if w >= 0.3:
                depth_max = max(depth_max, depth)
                rects.append(_frame(name, child["n"], total, x, depth, w, row))
                place(child, x, depth + 1)
            x += w

    place(tree, 10.0, 0)
    height = (depth_max + 1) * row + 50
    shift = height - 20
    body = "".join(r.replace("Y_", str(shift)) for r in rects)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="11">'
        f'<rect width="100%" height="100%" fill="#fdfdf6"/>'
        f'<text x="10" y="18" font-size="14">{html.escape(title)} ({total:,} samples)</text>'
        f"{body}</svg>"
    )


def _frame(name: str, n: int, total: int, x: float, depth: int, w: float, row: int) -> str:
    hue = zlib.crc32(package_of(name).encode()) % 60
    label = name if len(name) * 6.6 < w - 4 else name[: max(int((w - 4) / 6.6) - 2, 0)] + ".."
    text = html.escape(label) if w > 20 else ""
    tip = html.escape(f"{name}: {n:,} samples ({n / total:.1%})")
    return (
        f'<g transform="translate({x:.1f},Y_) translate(0,{-(depth + 1) * row})">'
        f"<title>{tip}</title>"
        f'<rect width="{w:.1f}" height="{row - 1}" fill="hsl({hue},85%,62%)" rx="2"/>'
        f'<text x="3" y="{row - 5}">{text}</text></g>'
    )


# -- cProfile fallback ---------------------------------------------------------------------


def cprofile_server(store: Path, port: int, stats: Path) -> None:
    """Serve the API in this process with uvicorn (the options of ``fraudgraph serve``),
    profiling from SIGUSR1 to SIGUSR2, which writes ``stats``."""
    import uvicorn

    profiler = cProfile.Profile()

    def start(*_: object) -> None:
        profiler.enable()

    def stop(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(stats)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    os.environ["FRAUDGRAPH_STORE"] = str(store)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        **uvicorn_options("info"),
    )


@contextmanager
def cprofiled_api(store: Path, cpus: str, log_path: Path, env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    stats = log_path.with_suffix(".pstats")
    command = [
        sys.executable, __file__, "cprofile-server", "--store", str(store),
        "--port", str(port), "--stats", str(stats),
    ]  # fmt: skip
    with serve_process(
        command,
        env=server_env(env),
        cpus=cpus,
        workers=1,
        port=port,
        log_path=log_path,
        ready=api_ready,
    ) as server:
        yield server


def summarise_pstats(path: Path, top: int = 30) -> dict[str, Any]:
    """Top functions by self (tottime) and total (cumtime) time, as shares of the run."""
    stats = pstats.Stats(str(path))
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in rows.values()) or 1.0

    def name(key: tuple[str, int, str]) -> str:
        return function_of(f"{key[2]} ({key[0]}:{key[1]})")

    def ranked(index: int) -> list[dict[str, Any]]:
        ordered = sorted(rows.items(), key=lambda item: item[1][index], reverse=True)[:top]
        return [
            {
                "function": name(k),
                "seconds": round(v[index], 4),
                "share": round(v[index] / total, 4),
            }
            for k, v in ordered
        ]

    return {"profiled_s": round(total, 3), "top_self": ranked(2), "top_total": ranked(3)}


# -- the run -------------------------------------------------------------------------------


def py_spy_binary() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=None, help="as for serving.py")
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--cache", choices=("in-process", "redis"), default="in-process")
    parser.add_argument("--keys", choices=("uniform", "zipf"), default="uniform")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=3_000, help="open-loop GET rate")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds profiled")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--profiler", choices=("auto", "py-spy", "cprofile"), default="auto")
    parser.add_argument("--sample-rate", type=int, default=200, help="py-spy samples/s")
    parser.add_argument("--nonblocking", action="store_true", help="py-spy without pausing")
    parser.add_argument(
        "--view",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: samples of the thread holding the GIL (where a Python server's CPU goes); "
        "wall: every sample of the main (event loop) thread, idle and blocked included (a "
        "blocking Redis round trip shows here, not in cpu)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default=None, help="file stem (default from the settings)")
    args = parser.parse_args()

    from benchmarks.serving import build_store, sample_keys
    from graph_service.settings import Settings

    profiler = args.profiler
    if profiler == "auto":
        profiler = "py-spy" if py_spy_binary() else "cprofile"
        if profiler == "cprofile":
            log("py-spy not found (pip install py-spy): profiling with cProfile")
    if profiler == "cprofile" and args.workers != 1:
        raise SystemExit("--profiler cprofile profiles one worker only")
    work = args.work or Path(tempfile.mkdtemp(prefix="fraudgraph-profile-"))
    store_dir = work / f"embedded-{args.accounts}" / "store"
    settings = Settings(store_dir=store_dir)
    if not (store_dir / "graph.duckdb").exists():
        store_dir.parent.mkdir(parents=True, exist_ok=True)
        build_store(store_dir, args.accounts, args.seed, settings)
    accounts, _, _ = sample_keys(settings, args.seed)
    if args.keys == "zipf":
        accounts = zipf_keys(accounts, s=1.1, n=1_000_000, seed=args.seed)
    targets = Targets("GET", write_paths(work / f"profile-{args.keys}.txt", accounts))
    pin = pinning(args.workers)
    loadgen = Loadgen(build_loadgen(work / "bin"), pin.load, seed=args.seed)
    name = args.name or f"profile-{args.cache}-{args.workers}w-{args.rate:g}rps-{args.view}"
    args.out.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"

    with redis_server(cpu=int(pin.redis)) if args.cache == "redis" else nullcontext() as redis_url:
        env: dict[str, str] = {}
        if redis_url is not None:
            from benchmarks.serving import publish_to_redis

            publish_to_redis(settings, redis_url)
            env = {"FRAUDGRAPH_API_FEATURE_CACHE": "redis", "FRAUDGRAPH_API_REDIS_URL": redis_url}
        if profiler == "py-spy":
            server_context = api_server(
                store_dir,
                workers=args.workers,
                cpus=pin.server,
                log_path=logs / f"{name}.log",
                env_extra=env,
            )
        else:
            server_context = cprofiled_api(store_dir, pin.server, logs / f"{name}.log", env)
        with server_context as server:
            log(f"warming up, then {args.duration:g} s at {args.rate:g} rps ({profiler})")
            loadgen.open(server.addr, targets, args.rate, 3.0, args.connections)
            collapsed = args.out / f"{name}.collapsed.txt"
            if profiler == "py-spy":
                recorder = subprocess.Popen(
                    [
                        "taskset", "-c", pin.load, str(py_spy_binary()), "record",
                        "--pid", str(server.pid), "--rate", str(args.sample_rate),
                        "--duration", f"{args.duration:g}", "--format", "raw",
                        "--output", str(collapsed),
                        *(["--subprocesses"] if args.workers > 1 else []),
                        *(["--nonblocking"] if args.nonblocking else []),
                        *(["--gil"] if args.view == "cpu" else ["--idle", "--threads"]),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
                time.sleep(1.0)
                load = loadgen.open(
                    server.addr, targets, args.rate, args.duration + 1.0, args.connections
                )
                _, err = recorder.communicate(timeout=args.duration + 120)
                if recorder.returncode != 0:
                    raise SystemExit(f"py-spy failed: {err.strip()}")
            else:
                os.kill(server.pid, signal.SIGUSR1)
                load = loadgen.open(
                    server.addr, targets, args.rate, args.duration, args.connections
                )
                os.kill(server.pid, signal.SIGUSR2)
                time.sleep(2.0)

    result: dict[str, Any] = {
        "benchmark": "profile_serving",
        "units": {"share": "fraction of samples (py-spy) or of profiled time (cProfile)"},
        "conditions": {
            "accounts": args.accounts,
            "cache": args.cache,
            "keys": args.keys,
            "workers": args.workers,
            "rate_rps": args.rate,
            "duration_s": args.duration,
            "view": args.view,
            "pinning": pin.note,
            "profiler": profiler
            + (
                f" record --rate {args.sample_rate}"
                + (" --nonblocking" if args.nonblocking else "")
                + (" --gil" if args.view == "cpu" else " --idle --threads (main thread kept)")
                + (" --subprocesses" if args.workers > 1 else "")
                if profiler == "py-spy"
                else " (in-process, enabled for the load window only)"
            ),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "load": load,
        "load_note": "the load generator's result while the profiler sampled (py-spy pauses "
        "the server at each sample unless --nonblocking): latency here is not the benchmark's",
    }
    if profiler == "py-spy":
        stacks = read_collapsed(collapsed)
        if args.view == "wall":
            stacks = main_thread_stacks(stacks)
        summary = summarise(stacks)
        expected = args.sample_rate * args.duration * args.workers
        if args.view == "cpu":
            summary["gil_held_share"] = round(summary["samples"] / expected, 3)
            summary["gil_held_share_note"] = (
                "samples over sample-rate x duration x workers: the share of time a server "
                "thread held the GIL; waits with the GIL released (a blocking Redis round "
                "trip, the event loop polling) are not sampled: see --view wall"
            )
        else:
            summary["event_loop_idle_share"] = loop_idle_share(stacks)
        title = (
            f"fraudgraph serve, {args.cache} cache, {args.workers} worker(s), {args.rate:g} rps, "
            + ("GIL holder (cpu)" if args.view == "cpu" else "main thread (wall)")
        )
        (args.out / f"{name}.svg").write_text(flamegraph_svg(stacks, title))
        result["files"] = [f"{name}.svg", f"{name}.collapsed.txt", f"{name}.json"]
    else:
        summary = summarise_pstats(logs / f"{name}.pstats")
        result["files"] = [f"{name}.json"]
    result["profile"] = summary
    text = json.dumps(result, indent=2)
    (args.out / f"{name}.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "cprofile-server":
        server_parser = argparse.ArgumentParser()
        server_parser.add_argument("command")
        server_parser.add_argument("--store", type=Path, required=True)
        server_parser.add_argument("--port", type=int, required=True)
        server_parser.add_argument("--stats", type=Path, required=True)
        server_args = server_parser.parse_args()
        cprofile_server(server_args.store, server_args.port, server_args.stats)
    else:
        main()
