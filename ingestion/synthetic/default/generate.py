"""``generate_scenario``: draw, plant, generate, render and write a default scenario."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from ingestion.synthetic.default.background import bucket_edges, events_between, split_parts
from ingestion.synthetic.default.config import ScenarioConfig, ScenarioSummary
from ingestion.synthetic.default.events import EventBatch
from ingestion.synthetic.default.planning import build_population
from ingestion.synthetic.default.population import Population
from ingestion.synthetic.default.render import render
from ingestion.synthetic.default.typologies import plant_rings
from ingestion.synthetic.default.writers import write_labels, write_part, write_truth

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]


def generate_scenario(
    config: ScenarioConfig,
    out_dir: Path,
    *,
    on_progress: ProgressCallback | None = None,
) -> ScenarioSummary:
    """Generate a population with planted fraud rings and write it to ``out_dir``.

    Parameters
    ----------
    config : ScenarioConfig
        What to generate.
    out_dir : Path
        Folder to write ``events/``, ``labels.csv`` and ``truth.csv`` into; created if
        missing. Existing ``events/part-*.parquet`` files (and leftovers of an
        interrupted run) are deleted first.
    on_progress : callable, optional
        Called as ``on_progress(step, done, total)`` for the steps ``"population"``,
        ``"rings"``, ``"events"`` (``done`` and ``total`` count time buckets) and
        ``"labels"``.

    Returns
    -------
    ScenarioSummary
        Counts and paths of what was written.

    Raises
    ------
    OSError
        If the files cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     summary = generate_scenario(ScenarioConfig(accounts=1_000), Path(tmp))
    >>> summary.accounts, summary.rings >= 5
    (1000, True)

    Notes
    -----
    O(A log A + E log P) time for A accounts, E events and P = ``rows_per_part``,
    vectorised; generation, rendering and writing of consecutive buckets overlap on two
    threads. Memory is O(A) (about 100 bytes per account) plus O(P).
    """
    started = time.perf_counter()
    progress: ProgressCallback = on_progress or _no_progress
    out_dir = Path(out_dir)
    events_dir = out_dir / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    for pattern in ("part-*.parquet", ".part-*.parquet.partial"):
        for stale in sorted(events_dir.glob(pattern)):
            stale.unlink()

    population, plans = build_population(config)
    progress("population", 1, 1)
    ring_events = plant_rings(population, plans, config)
    progress("rings", len(plans), len(plans))

    written, parts = _write_events(population, ring_events, config, events_dir, progress)
    truth_path = out_dir / "truth.csv"
    labels_path = out_dir / "labels.csv"
    ring_accounts = write_truth(population, plans, truth_path)
    labels = write_labels(population, plans, config, labels_path)
    progress("labels", 1, 1)
    summary = ScenarioSummary(
        out_dir=out_dir,
        events=written,
        accounts=config.accounts,
        rings=len(plans),
        ring_accounts=ring_accounts,
        labels=labels,
        events_path=events_dir,
        labels_path=labels_path,
        truth_path=truth_path,
    )
    logger.info(
        "scenario generated",
        extra={**summary.as_dict(), "parts": parts, "seconds": time.perf_counter() - started},
    )
    return summary


def _no_progress(step: str, done: int, total: int) -> None:
    """Progress sink used when the caller passes none."""


def _write_events(
    population: Population,
    ring_events: EventBatch,
    config: ScenarioConfig,
    events_dir: Path,
    progress: ProgressCallback,
) -> tuple[int, int]:
    """Generate, render and write every time bucket; return (events, parts) written.

    Generation of the next bucket, rendering of the current one and writing of the
    previous one run concurrently on two threads (numpy and pyarrow release the GIL).
    Each bucket draws from its own seed, so the output does not depend on scheduling.
    At most about four buckets are in memory at once.
    """
    edges = bucket_edges(population, config.rows_per_part)
    n_buckets = edges.size - 1

    def bucket_events(bucket: int) -> EventBatch:
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2, bucket]))
        t0, t1 = int(edges[bucket]), int(edges[bucket + 1])
        return events_between(population, ring_events, t0, t1, rng)

    written = 0
    parts = 0
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="scenario") as pool:
        upcoming = pool.submit(bucket_events, 0)
        rendering: deque[tuple[Future[pa.Table], Path]] = deque()
        writing: Future[None] | None = None

        def write_oldest() -> Future[None]:
            table, path = rendering.popleft()
            rendered = table.result()
            if writing is not None:
                writing.result()
            return pool.submit(write_part, rendered, path)

        for bucket in range(n_buckets):
            batch = upcoming.result()
            if bucket + 1 < n_buckets:
                upcoming = pool.submit(bucket_events, bucket + 1)
            for piece in split_parts(batch, config.rows_per_part):
                path = events_dir / f"part-{parts:05d}.parquet"
                rendering.append((pool.submit(render, population, piece, written), path))
                written += len(piece)
                parts += 1
                if len(rendering) > 1:
                    writing = write_oldest()
            progress("events", bucket + 1, n_buckets)
        while rendering:
            writing = write_oldest()
        if writing is not None:
            writing.result()
    return written, parts
