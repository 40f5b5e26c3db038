"""In-process ``FeatureCache`` speed: single ``get`` latency and batch lookups per second.

Run by ``benchmarks/serving.py`` pinned to a quiet core (``taskset``, nothing else of the
benchmark running); prints one JSON object. The batch read is measured for each API named
with ``--batch-api``: a name of :data:`BATCH_APIS`, or the name of any ``FeatureCache``
method called as ``method(entity_type, keys)`` (a faster batch read added later is
measured by naming it, nothing to change here).

Usage::

    taskset -c 1 python benchmarks/serving_cache.py --store DIR/store \\
        --batch-api lookup_rows+numeric --batch-api get_many
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from scoring.feature_cache import FEATURE_COLUMNS_NUMERIC, FeatureCache  # noqa: E402

#: A batch read: (cache, Account keys) -> entities read.
BatchRead = Callable[[FeatureCache, Sequence[str]], int]


def _lookup_rows_numeric(cache: FeatureCache, keys: Sequence[str]) -> int:
    snapshot, rows = cache.lookup_rows("Account", keys)
    assert snapshot is not None
    return len(snapshot.numeric(rows[rows >= 0]))


def _get_many(cache: FeatureCache, keys: Sequence[str]) -> int:
    return len(cache.get_many("Account", keys))


#: Named batch reads; ``lookup_rows+numeric`` gathers every numeric feature as one array,
#: ``get_many`` builds ``EntityFeatures`` records.
BATCH_APIS: dict[str, BatchRead] = {
    "lookup_rows+numeric": _lookup_rows_numeric,
    "get_many": _get_many,
}
DEFAULT_BATCH_APIS = ("lookup_rows+numeric", "get_many")


def batch_read(name: str) -> BatchRead:
    """The batch read called ``name``: a :data:`BATCH_APIS` entry or a ``FeatureCache``
    method taking ``(entity_type, keys)`` and returning one item per key.

    Raises
    ------
    SystemExit
        If ``name`` is neither.
    """
    if name in BATCH_APIS:
        return BATCH_APIS[name]
    method = getattr(FeatureCache, name, None)
    if not callable(method):
        raise SystemExit(
            f"unknown batch API {name!r}: one of {sorted(BATCH_APIS)} or a FeatureCache "
            "method taking (entity_type, keys)"
        )

    def read(cache: FeatureCache, keys: Sequence[str]) -> int:
        return len(method(cache, "Account", keys))

    return read


def _percentiles_us(samples_ns: np.ndarray) -> dict[str, float]:
    return {f"p{q:g}": round(float(np.percentile(samples_ns, q)) / 1e3, 2) for q in (50, 99, 99.9)}


def measure(
    store_dir: Path,
    *,
    seed: int,
    batch_apis: Sequence[str],
    batch_size: int = 1_000,
    gets: int = 200_000,
    batch_seconds: float = 5.0,
) -> dict[str, Any]:
    """Load the snapshot from ``store_dir``, then time ``get`` and each batch read."""
    from graph_service import open_store
    from graph_service.settings import Settings
    from scoring.feature_cache import snapshot_from_store

    reads = {name: batch_read(name) for name in batch_apis}
    with open_store(Settings(store_dir=store_dir)) as store:
        clock = time.perf_counter()
        snapshot = snapshot_from_store(store)
        load_s = time.perf_counter() - clock
    cache = FeatureCache(snapshot)
    accounts = [
        k for t, k in zip(snapshot.entity_types, snapshot.keys, strict=True) if t == "Account"
    ]
    rng = random.Random(seed)
    keys = [accounts[rng.randrange(len(accounts))] for _ in range(gets)]
    for key in keys[:10_000]:
        cache.get("Account", key)
    samples = np.empty(len(keys))
    clock_ns = time.perf_counter_ns
    get = cache.get
    for i, key in enumerate(keys):
        t0 = clock_ns()
        get("Account", key)
        samples[i] = clock_ns() - t0
    rates: dict[str, int] = {}
    for name, read in reads.items():
        read(cache, keys[:batch_size])
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < batch_seconds:
            for start in range(0, len(keys), batch_size):
                done += read(cache, keys[start : start + batch_size])
        rates[name] = round(done / (time.perf_counter() - started))
    return {
        "entities": len(snapshot),
        "snapshot_load_s": round(load_s, 2),
        "get_calls": len(keys),
        "get_latency_us": _percentiles_us(samples),
        "batch_lookups_per_s": rates,
        "batch_size": batch_size,
        "columns_gathered": len(FEATURE_COLUMNS_NUMERIC),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument(
        "--batch-api",
        action="append",
        default=None,
        help=f"batch read to time (repeatable; default {', '.join(DEFAULT_BATCH_APIS)})",
    )
    parser.add_argument("--batch-seconds", type=float, default=5.0)
    args = parser.parse_args()
    result = measure(
        args.store,
        seed=args.seed,
        batch_apis=args.batch_api or DEFAULT_BATCH_APIS,
        batch_seconds=args.batch_seconds,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
