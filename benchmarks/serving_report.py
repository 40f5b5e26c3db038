"""The ``ratios`` and ``goals`` sections of the serving benchmark's result.

The HTTP figures arrive as ``{"workers_N": {"bare" | "in_process" | "redis_uniform" |
"redis_zipf": {"get_max": ..., "get_open": {"<rate>": ...}, "post_batch_100": ...}}}``,
each point one load generator result (or ``{"skipped": reason}``). A worker count's block
may also hold ``"paired_max": {"rps": {"bare" | "in_process" | "redis_uniform": [rps per
round]}}``: short closed-loop maxima of the paths taken in turn, round after round, so each
round's ratio compares paths measured a minute apart, not ten. On a shared machine a single
maximum moves by a tenth from one run to the next; the median of the paired ratios is what
the throughput goals read when it is there.
"""

from __future__ import annotations

import statistics
from typing import Any

#: The goal's open-loop rate and worker count for the p99 target.
P99_GOAL_RATE = 5_000
P99_GOAL_WORKERS = 2


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def _max_rps(block: dict[str, Any] | None) -> float | None:
    point = (block or {}).get("get_max")
    return None if not point or "skipped" in point else float(point["achieved_rps"])


def _open_point(block: dict[str, Any] | None, rate: str) -> dict[str, Any] | None:
    point = (block or {}).get("get_open", {}).get(rate)
    return None if not point or "skipped" in point else point


def _p99(point: dict[str, Any] | None) -> float | None:
    return None if point is None else point["latency_us"].get("p99")


def compare(numerator: dict[str, Any] | None, denominator: dict[str, Any] | None) -> dict[str, Any]:
    """``numerator`` over ``denominator``: max GET rps, and p99 at each open-loop rate both
    measured (rates where either fell behind are listed: their p99 is queueing)."""
    rates = sorted(
        set((numerator or {}).get("get_open", {})) | set((denominator or {}).get("get_open", {})),
        key=float,
    )
    p99: dict[str, float | None] = {}
    behind: list[str] = []
    for rate in rates:
        a, b = _open_point(numerator, rate), _open_point(denominator, rate)
        p99[rate] = _ratio(_p99(a), _p99(b))
        if any(p is not None and p["fell_behind"] for p in (a, b)):
            behind.append(rate)
    return {
        "max_rps": _ratio(_max_rps(numerator), _max_rps(denominator)),
        "p99_at_rps": p99,
        "fell_behind_at_rps": behind,
    }


def paired(block: dict[str, Any], numerator: str, denominator: str) -> dict[str, Any] | None:
    """``numerator`` over ``denominator`` max rps from the block's paired rounds: the median
    of the per-round ratios, and each round's (``None`` without paired rounds of both)."""
    rounds = (block.get("paired_max") or {}).get("rps", {})
    a, b = rounds.get(numerator), rounds.get(denominator)
    if not a or not b:
        return None
    per_round = [x / y for x, y in zip(a, b, strict=False) if y]
    if not per_round:
        return None
    return {
        "median": round(statistics.median(per_round), 3),
        "per_round": [round(r, 3) for r in per_round],
    }


def _with_paired(
    ratio: dict[str, Any], block: dict[str, Any], numerator: str, denominator: str
) -> dict[str, Any]:
    found = paired(block, numerator, denominator)
    return ratio if found is None else {**ratio, "max_rps_paired": found}


def ratios(http: dict[str, Any]) -> dict[str, Any]:
    """In-process over bare, Redis over in-process (per key stream), 2 over 1 worker."""
    out: dict[str, Any] = {
        "in_process_over_bare": {},
        "redis_over_in_process": {"uniform": {}, "zipf": {}},
        "scaling_2_over_1_workers": {},
    }
    for workers, block in http.items():
        out["in_process_over_bare"][workers] = _with_paired(
            compare(block.get("in_process"), block.get("bare")), block, "in_process", "bare"
        )
        for stream in ("uniform", "zipf"):
            redis = block.get(f"redis_{stream}")
            if redis is not None:
                out["redis_over_in_process"][stream][workers] = _with_paired(
                    compare(redis, block.get("in_process")), block, f"redis_{stream}", "in_process"
                )
    one, two = http.get("workers_1"), http.get("workers_2")
    if one and two:
        for path in ("bare", "in_process", "redis_uniform", "redis_zipf"):
            if path in one and path in two:
                out["scaling_2_over_1_workers"][path] = compare(two[path], one[path])
    return out


def _max_ratio(ratio: dict[str, Any]) -> float | None:
    """The paired median where there is one, else the single maxima's ratio."""
    paired_ratio = ratio.get("max_rps_paired")
    return paired_ratio["median"] if paired_ratio else ratio.get("max_rps")


def _how(ratio: dict[str, Any]) -> str:
    paired_ratio = ratio.get("max_rps_paired")
    if not paired_ratio:
        return "one closed-loop maximum of each path"
    return (
        f"median of {len(paired_ratio['per_round'])} paired rounds "
        f"(single maxima: {ratio.get('max_rps')})"
    )


def _goal(
    goal: str, target: str, measured: float | None, unit: str, met: bool | None, **extra: Any
) -> dict[str, Any]:
    return {
        "goal": goal,
        "target": target,
        "measured": measured,
        "unit": unit,
        "met": bool(met) if measured is not None else False,
        **extra,
    }


def goals(
    http: dict[str, Any],
    cache: dict[str, Any] | None,
    ratio: dict[str, Any],
    pinning: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Each goal of the issue with its target, the measured value and whether it is met;
    ``pinning`` (notes by ``workers_N``) says where the multi-worker figures ran."""
    out: list[dict[str, Any]] = []
    bare_ratio = ratio["in_process_over_bare"]
    one = bare_ratio.get("workers_1", {})
    measured = _max_ratio(one)
    out.append(
        _goal(
            "in-process GET max throughput >= 70% of the bare ASGI app's on the same core",
            ">= 0.70",
            measured,
            "ratio",
            measured is not None and measured >= 0.70,
            at="1 worker (one server core)",
            how=_how(one),
            also={w: _max_ratio(r) for w, r in bare_ratio.items() if w != "workers_1"},
        )
    )
    redis_ratio = ratio["redis_over_in_process"]
    one = redis_ratio["uniform"].get("workers_1", {})
    measured = _max_ratio(one)
    out.append(
        _goal(
            "Redis-path GET max throughput >= 50% of the in-process path's",
            ">= 0.50",
            measured,
            "ratio",
            measured is not None and measured >= 0.50,
            at="1 worker, uniform keys over all accounts",
            how=_how(one),
            also={
                f"{stream} {w}": _max_ratio(r)
                for stream, by_workers in redis_ratio.items()
                for w, r in by_workers.items()
                if (stream, w) != ("uniform", "workers_1")
            },
        )
    )
    point = _open_point(
        http.get(f"workers_{P99_GOAL_WORKERS}", {}).get("in_process"), str(P99_GOAL_RATE)
    )
    p99 = _p99(point)
    errors = None if point is None else sum(point["errors"].values())
    out.append(
        _goal(
            f"GET p99 <= 2 ms at {P99_GOAL_RATE:,} rps open loop, {P99_GOAL_WORKERS} workers",
            "<= 2000",
            p99,
            "us",
            point is not None
            and p99 is not None
            and p99 <= 2000
            and not point["fell_behind"]
            and errors == 0,
            at="in-process path",
            achieved_rps=None if point is None else point["achieved_rps"],
            errors=errors,
            pinning=(pinning or {}).get(f"workers_{P99_GOAL_WORKERS}"),
        )
    )
    batches = {
        w: block["in_process"]["post_batch_100"]["entity_lookups_per_s"]
        for w, block in http.items()
        if "post_batch_100" in block.get("in_process", {})
    }
    best = max(batches, key=lambda w: batches[w], default=None)
    measured = None if best is None else batches[best]
    out.append(
        _goal(
            "POST /v1/features/batch (100 entities per call) >= 200k lookups/s over HTTP",
            ">= 200000",
            measured,
            "lookups/s",
            measured is not None and measured >= 200_000,
            at=f"in-process path, {best}",
            also=batches,
        )
    )
    get_p99 = None if cache is None else cache["get_latency_us"]["p99"]
    out.append(
        _goal(
            "FeatureCache.get p99 <= 20 us on a quiet core",
            "<= 20",
            get_p99,
            "us",
            get_p99 is not None and get_p99 <= 20,
        )
    )
    rates = {} if cache is None else cache["batch_lookups_per_s"]
    best_api = max(rates, key=lambda name: rates[name], default=None)
    measured = None if best_api is None else rates[best_api]
    out.append(
        _goal(
            "in-process batch lookups >= 1M/s",
            ">= 1000000",
            measured,
            "lookups/s",
            measured is not None and measured >= 1_000_000,
            at=f"batch API {best_api}",
            also=rates,
        )
    )
    return out
