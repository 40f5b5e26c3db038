"""Generate an ``aml`` scenario: the hard profile's book, benign look-alike money flows
and planted rings of AMLSim's eight patterns.

``generate_aml_scenario`` writes one folder:

* ``events/part-00000.csv`` ... -- the hard profile's CSV feed (same columns, formats,
  duplicates and malformed rows);
* ``truth.csv`` -- ``ring_id,typology,account_id`` for every ring member; the typology
  is the pattern (``fan_out``, ``cycle`` ...);
* ``labels.csv`` -- ``fraud`` labels (SARs, weeks after the activity) for a share of the
  ring members, ``legit`` labels for a share of the others;
* ``sharers.csv`` -- the benign sharing groups, as in the hard profile;
* ``flows.csv`` -- ``account_id,kind,group_id,role``: legitimate accounts in benign
  money structures that look like the patterns (see
  :class:`~ingestion.synthetic.aml.config.MoneyFlowKind`);
* ``scenario.json`` -- the config and counts per pattern, sharing kind and flow kind.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from graph_service.typing import I64, BoolArray
from ingestion.synthetic.aml.benign import MoneyFlows, money_flows, transfers
from ingestion.synthetic.aml.config import AmlScenarioConfig, MoneyFlowKind
from ingestion.synthetic.aml.patterns import AmlPattern, plant_pattern
from ingestion.synthetic.hard.activity import one_offs
from ingestion.synthetic.hard.events import DAY, EventBatch
from ingestion.synthetic.hard.generate import _write_events, fresh_events_dir, no_progress
from ingestion.synthetic.hard.groups import build_world
from ingestion.synthetic.hard.render import account_ids, write_csv
from ingestion.synthetic.hard.sharers import sharing_groups, write_sharers
from ingestion.synthetic.hard.world import FAKE, STUDENT, World, draft_accounts
from ingestion.synthetic.summary import JsonSummary

__all__ = ["AmlRing", "AmlScenarioSummary", "generate_aml_scenario"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]

#: Group id prefix per flow kind in ``flows.csv``: ``SC000012`` is savings club 12.
FLOW_PREFIXES: Final = {
    MoneyFlowKind.FRIEND_GROUP: "FG",
    MoneyFlowKind.SAVINGS_CLUB: "SC",
    MoneyFlowKind.STUDENT_SUPPORT: "SS",
    MoneyFlowKind.CONTRACTOR: "CT",
    MoneyFlowKind.FAMILY_GIFTS: "GF",
}
#: Fraud labels: a SAR filed three to eleven weeks after the member's first transfer.
_FRAUD_LABEL: Final = ("sar", "money laundering: passed on illicit funds", 21, 75)
_LEGIT_LABEL: Final = ("kyc_review", "kyc_service", "identity verified")


@dataclass(slots=True)
class AmlRing:
    """One planted ring: its pattern, members in role order and when it ran.

    ``fraud_ts`` is each member's first transfer in the ring (microseconds).
    """

    ring_id: str
    pattern: AmlPattern
    members: I64
    start_us: int
    fraud_ts: I64


@dataclass(frozen=True)
class AmlScenarioSummary(JsonSummary):
    """What ``generate_aml_scenario`` wrote.

    Parameters
    ----------
    out_dir : Path
    events : int
        Distinct events written.
    rows : int
        CSV rows written: events plus re-sent duplicates.
    accounts, rings, ring_accounts, labels, sharers : int
        ``ring_accounts``, ``labels`` and ``sharers`` are rows of their files.
    flows : int
        Rows of ``flows.csv``.
    events_path, labels_path, truth_path, sharers_path, flows_path, scenario_path : Path
    """

    out_dir: Path
    events: int
    rows: int
    accounts: int
    rings: int
    ring_accounts: int
    labels: int
    sharers: int
    flows: int
    events_path: Path
    labels_path: Path
    truth_path: Path
    sharers_path: Path
    flows_path: Path
    scenario_path: Path


def generate_aml_scenario(
    config: AmlScenarioConfig,
    out_dir: Path,
    *,
    on_progress: ProgressCallback | None = None,
) -> AmlScenarioSummary:
    """Generate a bank's book with benign look-alike flows and AML rings in ``out_dir``.

    Parameters
    ----------
    config : AmlScenarioConfig
    out_dir : Path
        Created if missing; existing ``events/part-*.csv`` files are deleted first.
    on_progress : callable, optional
        Called as ``on_progress(step, done, total)`` for ``"population"``, ``"rings"``,
        ``"events"`` (time buckets) and ``"labels"``.

    Returns
    -------
    AmlScenarioSummary

    Raises
    ------
    ValueError
        If too few eligible accounts are left to recruit a ring from.
    OSError
        If the files cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     summary = generate_aml_scenario(AmlScenarioConfig(accounts=1_000), Path(tmp))
    >>> summary.rings
    8

    Notes
    -----
    O(A log A + E log E/B) for A accounts, E events and B buckets, as the hard profile;
    one Python iteration per ring. Ring members are unrelated customers (each from
    another household) who live ordinary lives and share nothing with each other.
    """
    started = time.perf_counter()
    progress: ProgressCallback = on_progress or no_progress
    out_dir = Path(out_dir)
    events_dir = fresh_events_dir(out_dir)

    world_config = config.world()
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
    draft = draft_accounts(world_config, rng)
    world = build_world(world_config, draft, rng)
    progress("population", 1, 1)
    rings = _plan_rings(world, config, np.random.default_rng([config.seed, 11]))
    ring_events = _plant_rings(world, config, rings, np.random.default_rng([config.seed, 12]))
    flows = money_flows(world, config, np.random.default_rng([config.seed, 13]))
    progress("rings", len(rings), len(rings))
    visits = one_offs(world, np.random.default_rng([config.seed, 2]))

    fixed = EventBatch.concat([ring_events, flows.events]).sorted()
    counts = _write_events(world, fixed, visits, events_dir, progress)
    paths = {
        name: out_dir / name for name in ("truth.csv", "labels.csv", "sharers.csv", "flows.csv")
    }
    truth = _write_truth(world, rings, paths["truth.csv"])
    labels = _write_labels(world, config, rings, paths["labels.csv"])
    groups = sharing_groups(world)
    sharers = write_sharers(world, groups, paths["sharers.csv"])
    flow_rows, flow_counts = _write_flows(world, flows, paths["flows.csv"])
    progress("labels", 1, 1)
    scenario_path = out_dir / "scenario.json"
    details = {
        "profile": "aml",
        "config": config.as_dict(),
        "counts": {
            "accounts": config.accounts,
            **counts,
            "rings": {p.value: sum(r.pattern is p for r in rings) for p in AmlPattern},
            "ring_accounts": {
                p.value: int(sum(r.members.size for r in rings if r.pattern is p))
                for p in AmlPattern
            },
            "labels": labels,
            "benign": {
                kind.value: {"groups": int(np.unique(g).size), "accounts": int(np.unique(a).size)}
                for kind, (a, g) in groups.items()
            },
            "flows": flow_counts,
        },
    }
    scenario_path.write_text(json.dumps(details, indent=2, sort_keys=True) + "\n")
    summary = AmlScenarioSummary(
        out_dir=out_dir,
        events=counts["events"],
        rows=counts["rows"],
        accounts=config.accounts,
        rings=len(rings),
        ring_accounts=truth,
        labels=sum(labels.values()),
        sharers=sharers,
        flows=flow_rows,
        events_path=events_dir,
        labels_path=paths["labels.csv"],
        truth_path=paths["truth.csv"],
        sharers_path=paths["sharers.csv"],
        flows_path=paths["flows.csv"],
        scenario_path=scenario_path,
    )
    logger.info(
        "aml scenario generated",
        extra={**summary.as_dict(), "seconds": time.perf_counter() - started},
    )
    return summary


# ------------------------------------------------------------------------------ rings


def _plan_rings(world: World, config: AmlScenarioConfig, rng: np.random.Generator) -> list[AmlRing]:
    """Choose each ring's size, start and members; mark the members in ``world``."""
    eligible = ((world.flags & (FAKE | STUDENT)) == 0) & ~world.is_member
    # Employers, landlords and sellers are businesses of a kind; mules are individuals.
    eligible[world.orders.src[world.orders.kind == 0]] = False
    eligible[world.orders.dst[world.orders.kind == 1]] = False
    eligible[world.sellers] = False
    eligible[world.savings[world.savings >= 0]] = False
    rings: list[AmlRing] = []
    per_pattern = config.rings_per_pattern()
    for pattern in AmlPattern:
        low, high = config.pattern_sizes[pattern]
        params = config.pattern_params[pattern]
        period = round(params.period_days * DAY)
        sizes = low + (rng.random(per_pattern) ** 1.6 * (high - low + 1)).astype(np.int64)
        for size in np.minimum(sizes, high):
            earliest = world.start_us + 60 * DAY
            latest = max(earliest + 1, world.end_us - period - 2 * DAY)
            start = int(rng.integers(earliest, latest))
            members = _recruit(world, rng, eligible, int(size), start - 30 * DAY, start + period)
            eligible[members] = False
            world.is_member[members] = True
            ring_id = f"R{len(rings) + 1:05d}"
            rings.append(AmlRing(ring_id, pattern, members, start, np.zeros(0, np.int64)))
    return rings


def _recruit(
    world: World, rng: np.random.Generator, eligible: BoolArray, count: int, before: int, until: int
) -> I64:
    """``count`` eligible accounts open from ``before`` to past ``until``, each from its
    own household (unrelated people)."""
    chosen = np.zeros(0, np.int64)
    for _ in range(200):
        draw = rng.integers(0, world.n, 8 * count + 16)
        ok = eligible[draw] & (world.created[draw] < before) & (world.closed[draw] > until + DAY)
        pool = np.concatenate([chosen, draw[ok]])
        # First come per household and person, so that no two members live together.
        _, first = np.unique(world.household[pool], return_index=True)
        pool = pool[np.sort(first)]
        _, first = np.unique(world.person[pool], return_index=True)
        chosen = pool[np.sort(first)]
        if chosen.size >= count:
            return chosen[:count]
    raise ValueError("too few eligible accounts to plant the configured AML rings")


def _plant_rings(
    world: World, config: AmlScenarioConfig, rings: list[AmlRing], rng: np.random.Generator
) -> EventBatch:
    """Every ring's transfers, each on the sender's own phone and network."""
    batches = []
    for ring in rings:
        start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ring.start_us)
        legs = plant_pattern(
            ring.pattern,
            ring.members,
            start=start,
            rng=rng,
            params=config.pattern_params[ring.pattern],
        )
        batch = transfers(world, legs.account, legs.counterparty, legs.ts, legs.amount)
        if len(batch) != len(legs):
            raise AssertionError(f"ring {ring.ring_id} lost transfers to closed accounts")
        first = np.full(ring.members.size, np.iinfo(np.int64).max)
        order = np.argsort(ring.members)
        for side in (batch.account, batch.counterparty):
            at = order[np.searchsorted(ring.members, side, sorter=order)]
            np.minimum.at(first, at, batch.ts)
        ring.fraud_ts = first
        batches.append(batch)
    return EventBatch.concat(batches).sorted()


# ------------------------------------------------------------------------------ files


def _write_truth(world: World, rings: list[AmlRing], path: Path) -> int:
    members = np.concatenate([r.members for r in rings])
    ring = pa.array(np.repeat(np.arange(len(rings)), [r.members.size for r in rings]))
    table = pa.table(
        {
            "ring_id": pa.array([r.ring_id for r in rings]).take(ring),
            "typology": pa.array([r.pattern.value for r in rings]).take(ring),
            "account_id": account_ids(world, members),
        }
    ).sort_by([("ring_id", "ascending"), ("account_id", "ascending")])
    write_csv(table, path)
    return int(table.num_rows)


def _write_labels(
    world: World, config: AmlScenarioConfig, rings: list[AmlRing], path: Path
) -> dict[str, int]:
    """``labels.csv``: SARs for a share of members, weeks later; legit labels rarely."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 4]))
    members = np.concatenate([r.members for r in rings])
    fraud_ts = np.concatenate([r.fraud_ts for r in rings])
    pick = np.sort(
        rng.choice(members.size, round(config.label_fraction * members.size), replace=False)
    )
    source, reason, low, high = _FRAUD_LABEL
    delay = np.exp(rng.uniform(np.log(low), np.log(high + 1), pick.size)) * DAY
    ts = fraud_ts[pick] + delay.astype(np.int64)
    known = ts < world.end_us
    fraud, fraud_at = members[pick][known], ts[known]

    others = np.flatnonzero(~world.is_member)
    count = round(config.legit_label_fraction * others.size)
    legit = np.sort(others[rng.choice(others.size, count, replace=False)])
    legit_at = world.created[legit] + (rng.uniform(7, 60, legit.size) * DAY).astype(np.int64)
    legit, legit_at = legit[legit_at < world.end_us], legit_at[legit_at < world.end_us]

    n_fraud, n = fraud.size, fraud.size + legit.size
    at = np.concatenate([fraud_at, legit_at])
    analysts = rng.integers(1, 41, n_fraud)
    iso = np.datetime_as_string((at // 1_000_000).astype("datetime64[s]"), unit="s", timezone="UTC")
    table = pa.table(
        {
            "entity_type": pa.array(["Account"] * n, pa.string()),
            "entity_key": account_ids(world, np.concatenate([fraud, legit])),
            "label": pa.array(["fraud"] * n_fraud + ["legit"] * legit.size, pa.string()),
            "source": pa.array([source] * n_fraud + [_LEGIT_LABEL[0]] * legit.size, pa.string()),
            "ts": pa.array(iso.tolist(), pa.string()),
            "author": pa.array(
                [f"analyst_{a:03d}" for a in analysts.tolist()] + [_LEGIT_LABEL[1]] * legit.size,
                pa.string(),
            ),
            "reason": pa.array([reason] * n_fraud + [_LEGIT_LABEL[2]] * legit.size, pa.string()),
        }
    ).sort_by([("ts", "ascending"), ("entity_key", "ascending")])
    write_csv(table, path)
    return {"fraud": int(n_fraud), "legit": int(legit.size)}


def _write_flows(
    world: World, flows: MoneyFlows, path: Path
) -> tuple[int, dict[str, dict[str, int]]]:
    """``flows.csv``: every member of a benign flow group; counts per kind."""
    kinds = list(MoneyFlowKind)
    prefix = np.asarray([FLOW_PREFIXES[k] for k in kinds])[flows.kind]
    group_ids = [f"{p}{g:06d}" for p, g in zip(prefix.tolist(), flows.group.tolist(), strict=True)]
    table = pa.table(
        {
            "account_id": account_ids(world, flows.account),
            "kind": pa.array([kinds[k].value for k in flows.kind.tolist()], pa.string()),
            "group_id": pa.array(group_ids, pa.string()),
            "role": pa.array(flows.role, pa.string()),
        }
    ).sort_by([("kind", "ascending"), ("group_id", "ascending"), ("account_id", "ascending")])
    write_csv(table, path)
    counts = {
        kind.value: {
            "groups": int(np.unique(flows.group[flows.kind == i]).size),
            "accounts": int(np.unique(flows.account[flows.kind == i]).size),
        }
        for i, kind in enumerate(kinds)
    }
    return int(table.num_rows), counts
