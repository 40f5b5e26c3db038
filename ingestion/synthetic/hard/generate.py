"""Generate a hard-profile scenario: plan, build the world, plant rings, write files.

``generate_hard_scenario`` writes one folder:

* ``events/part-00000.csv`` ... -- all-text CSV parts with the canonical event columns,
  time-ordered within and across parts (re-sent duplicates appear a little after their
  original);
* ``labels.csv`` -- confirmed fraud as the bank learns it (chargebacks, SARs,
  investigations), weeks after the fraud, for a share of ring members;
* ``truth.csv`` -- ``ring_id,typology,account_id`` for every ring member;
* ``sharers.csv`` -- ``account_id,kind,group_id``: legitimate accounts in benign sharing
  groups (see :class:`~ingestion.synthetic.hard.config.BenignKind`);
* ``scenario.json`` -- the config and counts per typology and per benign kind.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from graph_service.typing import I64
from ingestion.synthetic.default import Typology
from ingestion.synthetic.hard.activity import everyday, one_offs, recurring, signups
from ingestion.synthetic.hard.config import HardScenarioConfig
from ingestion.synthetic.hard.events import DAY, HOUR, EventBatch
from ingestion.synthetic.hard.groups import build_world
from ingestion.synthetic.hard.render import Rendered, account_ids, render, write_csv
from ingestion.synthetic.hard.rings import RingPlan, plan_rings
from ingestion.synthetic.hard.sharers import sharing_groups, write_sharers
from ingestion.synthetic.hard.typologies import plant_rings
from ingestion.synthetic.hard.world import World, draft_accounts
from ingestion.synthetic.summary import JsonSummary
from ingestion.synthetic.text import Vocab, const_text, decimal_text, string_array

__all__ = ["HardScenarioSummary", "generate_hard_scenario"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class HardScenarioSummary(JsonSummary):
    """What ``generate_hard_scenario`` wrote.

    Parameters
    ----------
    out_dir : Path
    events : int
        Distinct events written (each account has exactly one signup).
    rows : int
        CSV rows written: events plus re-sent duplicates.
    accounts : int
    rings : int
    ring_accounts : int
        Rows of ``truth.csv``.
    labels : int
        Rows of ``labels.csv``.
    sharers : int
        Rows of ``sharers.csv``.
    events_path, labels_path, truth_path, sharers_path, scenario_path : Path
    """

    out_dir: Path
    events: int
    rows: int
    accounts: int
    rings: int
    ring_accounts: int
    labels: int
    sharers: int
    events_path: Path
    labels_path: Path
    truth_path: Path
    sharers_path: Path
    scenario_path: Path


def generate_hard_scenario(
    config: HardScenarioConfig,
    out_dir: Path,
    *,
    on_progress: ProgressCallback | None = None,
) -> HardScenarioSummary:
    """Generate a bank's customer book with camouflaged rings and write it to ``out_dir``.

    Parameters
    ----------
    config : HardScenarioConfig
    out_dir : Path
        Created if missing; existing ``events/part-*.csv`` files are deleted first.
    on_progress : callable, optional
        Called as ``on_progress(step, done, total)`` for ``"population"``, ``"rings"``,
        ``"events"`` (time buckets) and ``"labels"``.

    Returns
    -------
    HardScenarioSummary

    Raises
    ------
    ValueError
        If the accounts cannot hold the configured rings.
    OSError
        If the files cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     summary = generate_hard_scenario(HardScenarioConfig(accounts=1_000), Path(tmp))
    >>> summary.accounts, summary.rings >= 5
    (1000, True)

    Notes
    -----
    O(A log A + E log E/B) for A accounts, E events and B buckets; memory is O(A) plus
    a few buckets of about ``rows_per_part`` events. Generation of the next bucket,
    rendering and writing overlap on two threads; every random choice is seeded per
    stage and bucket, so the files do not depend on scheduling.
    """
    started = time.perf_counter()
    progress: ProgressCallback = on_progress or no_progress
    out_dir = Path(out_dir)
    events_dir = fresh_events_dir(out_dir)

    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
    draft = draft_accounts(config, rng)
    plans = plan_rings(config, draft, rng)
    world = build_world(config, draft, rng)
    progress("population", 1, 1)
    ring_events = plant_rings(world, plans, np.random.default_rng([config.seed, 1]))
    progress("rings", len(plans), len(plans))
    visits = one_offs(world, np.random.default_rng([config.seed, 2]))

    counts = _write_events(world, ring_events, visits, events_dir, progress)
    paths = {name: out_dir / name for name in ("truth.csv", "labels.csv", "sharers.csv")}
    truth = _write_truth(world, plans, paths["truth.csv"])
    labels = _write_labels(world, plans, paths["labels.csv"])
    groups = sharing_groups(world)
    sharers = write_sharers(world, groups, paths["sharers.csv"])
    progress("labels", 1, 1)
    scenario_path = out_dir / "scenario.json"
    details = {
        "profile": "hard",
        "config": config.as_dict(),
        "counts": {
            "accounts": config.accounts,
            **counts,
            "rings": {t.value: sum(p.typology is t for p in plans) for t in Typology},
            "ring_accounts": {
                t.value: int(sum(p.members.size for p in plans if p.typology is t))
                for t in Typology
            },
            "labels": labels,
            "benign": {
                kind.value: {"groups": int(np.unique(g).size), "accounts": int(np.unique(a).size)}
                for kind, (a, g) in groups.items()
            },
        },
    }
    scenario_path.write_text(json.dumps(details, indent=2, sort_keys=True) + "\n")
    summary = HardScenarioSummary(
        out_dir=out_dir,
        events=counts["events"],
        rows=counts["rows"],
        accounts=config.accounts,
        rings=len(plans),
        ring_accounts=truth,
        labels=sum(labels.values()),
        sharers=sharers,
        events_path=events_dir,
        labels_path=paths["labels.csv"],
        truth_path=paths["truth.csv"],
        sharers_path=paths["sharers.csv"],
        scenario_path=scenario_path,
    )
    logger.info(
        "hard scenario generated",
        extra={**summary.as_dict(), "seconds": time.perf_counter() - started},
    )
    return summary


def no_progress(step: str, done: int, total: int) -> None:
    """Progress sink used when the caller passes none."""


def fresh_events_dir(out_dir: Path) -> Path:
    """``out_dir/events``, created if missing, without the event files (and unfinished
    ones) an earlier run left there."""
    events_dir = out_dir / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    for pattern in ("part-*.csv", ".part-*.csv.partial"):
        for stale in sorted(events_dir.glob(pattern)):
            stale.unlink()
    return events_dir


# ------------------------------------------------------------------------- events


def _bucket_edges(world: World, extra: int) -> I64:
    """Bucket boundaries holding about ``rows_per_part`` expected events each.

    Expected events grow with the alive accounts' weight (everyday activity), their
    number (sign-ups) and their alive time (recurring and one-off events, ``extra``).
    """
    grid = np.append(np.arange(world.start_us, world.end_us, HOUR, dtype=np.int64), world.end_us)
    alive = np.searchsorted(world.created, grid)
    weight = np.where(alive > 0, world.cumulative_weight[np.maximum(alive - 1, 0)], 0.0)
    steps = np.diff(grid).astype(np.float64)
    activity = np.concatenate([[0.0], np.cumsum((weight[1:] + weight[:-1]) / 2 * steps)])
    presence = np.concatenate([[0.0], np.cumsum((alive[1:] + alive[:-1]) / 2 * steps)])
    expected = alive + world.rate * activity + extra * presence / max(float(presence[-1]), 1.0)
    total = float(expected[-1])
    n_buckets = max(1, math.ceil(total / world.config.rows_per_part))
    targets = total * np.arange(1, n_buckets) / n_buckets
    inner = np.interp(targets, expected, grid.astype(np.float64)).astype(np.int64)
    return np.unique(np.concatenate([[world.start_us], inner, [world.end_us]]))


def _bucket(
    world: World, fixed: EventBatch, t0: int, t1: int, rng: np.random.Generator
) -> EventBatch:
    """Every event with ``t0 <= ts < t1``."""
    first, last = np.searchsorted(world.created, [t0, t1])
    newcomers = np.arange(first, last, dtype=np.int64)
    newcomers = newcomers[~world.ring_signup[newcomers]]
    lo, hi = np.searchsorted(fixed.ts, [t0, t1])
    return EventBatch.concat(
        [
            signups(world, newcomers, rng),
            everyday(world, t0, t1, rng),
            recurring(world, t0, t1, rng),
            fixed.take(slice(int(lo), int(hi))),
        ]
    ).sorted()


def _write_events(
    world: World,
    ring_events: EventBatch,
    visits: EventBatch,
    events_dir: Path,
    progress: ProgressCallback,
) -> dict[str, int]:
    """Generate, render and write every bucket; return counts of what was written."""
    config = world.config
    fixed = EventBatch.concat([ring_events, visits]).sorted()
    recurring_estimate = (
        int(world.orders.src.size * config.days * DAY / np.mean(world.orders.period))
        if world.orders.src.size
        else 0
    )
    edges = _bucket_edges(world, len(fixed) + recurring_estimate)
    n_buckets = edges.size - 1

    def bucket_events(bucket: int) -> EventBatch:
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3, bucket]))
        return _bucket(world, fixed, int(edges[bucket]), int(edges[bucket + 1]), rng)

    counts = {"events": 0, "rows": 0, "duplicates": 0, "malformed_rows": 0, "parts": 0}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="hard-scenario") as pool:
        upcoming = pool.submit(bucket_events, 0)
        rendering: deque[tuple[Future[Rendered], Path]] = deque()
        writing: Future[None] | None = None

        def write_oldest() -> Future[None]:
            rendered, path = rendering.popleft()
            part = rendered.result()
            counts["rows"] += part.table.num_rows
            counts["duplicates"] += part.duplicates
            counts["malformed_rows"] += part.malformed
            if writing is not None:
                writing.result()
            return pool.submit(_write_part, part.table, path)

        for bucket in range(n_buckets):
            batch = upcoming.result()
            if bucket + 1 < n_buckets:
                upcoming = pool.submit(bucket_events, bucket + 1)
            for piece in _split(batch, config.rows_per_part):
                path = events_dir / f"part-{counts['parts']:05d}.csv"
                rendering.append((pool.submit(render, world, piece, counts["events"]), path))
                counts["events"] += len(piece)
                counts["parts"] += 1
                if len(rendering) > 1:
                    writing = write_oldest()
            progress("events", bucket + 1, n_buckets)
        while rendering:
            writing = write_oldest()
        if writing is not None:
            writing.result()
    return counts


def _split(batch: EventBatch, rows_per_part: int) -> list[EventBatch]:
    """Cut a time-sorted batch into parts of at most twice ``rows_per_part`` rows."""
    n = len(batch)
    if n == 0:
        return []
    pieces = 1 if n <= 2 * rows_per_part else math.ceil(n / rows_per_part)
    cuts = np.linspace(0, n, pieces + 1).astype(np.int64)
    return [batch.take(slice(int(a), int(b))) for a, b in itertools.pairwise(cuts)]


def _write_part(table: pa.Table, path: Path) -> None:
    write_csv(table, path)


# ------------------------------------------------------------------ truth and labels


def _write_truth(world: World, plans: list[RingPlan], path: Path) -> int:
    members = np.concatenate([p.members for p in plans])
    ring = pa.array(np.repeat(np.arange(len(plans)), [p.members.size for p in plans]))
    table = pa.table(
        {
            "ring_id": pa.array([p.ring_id for p in plans]).take(ring),
            "typology": pa.array([p.typology.value for p in plans]).take(ring),
            "account_id": account_ids(world, members),
        }
    ).sort_by([("ring_id", "ascending"), ("account_id", "ascending")])
    write_csv(table, path)
    return int(table.num_rows)


#: (source, author, reason, delay in days low-high) per typology; for account takeover
#: the second entry is for drop accounts.
_FRAUD_LABELS: Final[dict[Typology, tuple[tuple[str, str, str, int, int], ...]]] = {
    Typology.DEVICE_FARM: (("investigation", "analyst", "device farm account", 14, 60),),
    Typology.SYNTHETIC_IDENTITY: (
        ("chargeback", "collections", "synthetic identity: balance charged off", 30, 90),
    ),
    Typology.MULE_NETWORK: (("sar", "analyst", "money mule: passed on scam proceeds", 21, 75),),
    Typology.BUST_OUT: (("chargeback", "collections", "bust-out: unpaid balance", 30, 90),),
    Typology.ACCOUNT_TAKEOVER: (
        ("investigation", "analyst", "account takeover confirmed", 3, 21),
        ("sar", "analyst", "drop account for stolen funds", 14, 45),
    ),
}
_LEGIT_LABEL: Final = ("kyc_review", "kyc_service", "identity verified")


def _write_labels(world: World, plans: list[RingPlan], path: Path) -> dict[str, int]:
    """Write ``labels.csv``: fraud for a share of members, weeks later; legit rarely."""
    config = world.config
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 4]))
    members = np.concatenate([p.members for p in plans])
    fraud_ts = np.concatenate([p.fraud_ts for p in plans])
    kinds = [k for t in Typology for k in _FRAUD_LABELS[t]]
    offset = {
        t: sum(len(_FRAUD_LABELS[u]) for u in list(Typology)[: list(Typology).index(t)])
        for t in Typology
    }
    kind = np.concatenate(
        [offset[p.typology] + np.minimum(p.role, len(_FRAUD_LABELS[p.typology]) - 1) for p in plans]
    )
    pick = np.sort(
        rng.choice(members.size, round(config.label_fraction * members.size), replace=False)
    )
    low = np.asarray([k[3] for k in kinds])[kind[pick]]
    high = np.asarray([k[4] for k in kinds])[kind[pick]]
    delay = np.exp(rng.uniform(np.log(low), np.log(high + 1))) * DAY
    ts = fraud_ts[pick] + delay.astype(np.int64)
    known = ts < world.end_us
    accounts, ts, kind = members[pick][known], ts[known], kind[pick][known]

    others = np.flatnonzero(~world.is_member)
    legit = np.sort(
        others[
            rng.choice(others.size, round(config.legit_label_fraction * others.size), replace=False)
        ]
    )
    legit_ts = world.created[legit] + (rng.uniform(7, 60, legit.size) * DAY).astype(np.int64)
    legit = legit[legit_ts < world.end_us]
    legit_ts = legit_ts[legit_ts < world.end_us]
    all_kinds = [*kinds, (*_LEGIT_LABEL, 0, 0)]
    kind = np.concatenate([kind, np.full(legit.size, len(kinds))])
    accounts = np.concatenate([accounts, legit])
    ts = np.concatenate([ts, legit_ts])
    n = accounts.size
    analyst = np.asarray([k[1] == "analyst" for k in all_kinds])[kind]
    authors = Vocab([k[1] for k in all_kinds])
    rows = np.flatnonzero(analyst)
    others_rows = np.flatnonzero(~analyst)
    author = string_array(
        n,
        [
            (
                rows,
                [
                    const_text("analyst_", rows.size),
                    decimal_text(rng.integers(1, 41, rows.size), 3),
                ],
            ),
            (others_rows, [authors.take(kind[others_rows])]),
        ],
    )
    iso = np.datetime_as_string((ts // 1_000_000).astype("datetime64[s]"), unit="s", timezone="UTC")
    table = pa.table(
        {
            "entity_type": pa.array(["Account"] * n, pa.string()),
            "entity_key": account_ids(world, accounts),
            "label": pa.array(np.where(kind < len(kinds), "fraud", "legit").tolist(), pa.string()),
            "source": pa.array([k[0] for k in all_kinds]).take(pa.array(kind)),
            "ts": pa.array(iso.tolist(), pa.string()),
            "author": author,
            "reason": pa.array([k[2] for k in all_kinds]).take(pa.array(kind)),
        }
    ).sort_by([("ts", "ascending"), ("entity_key", "ascending")])
    write_csv(table, path)
    return {"fraud": int((kind < len(kinds)).sum()), "legit": int(legit.size)}
