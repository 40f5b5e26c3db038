"""Generate a crosscheck scenario: a bank's event export with planted fraud rings.

Usage::

    python benchmarks/crosscheck/generate.py --accounts 20000 --seed 7 --out /tmp/cc20k
    python benchmarks/crosscheck/generate.py --accounts 5000 --seed 1 --out DIR \\
        --label-fraction 0.3 --legit-label-fraction 0.05 --rings-per-10k 25

Writes ``DIR/events/events-YYYY-MM.csv``, ``DIR/labels.csv``, ``DIR/truth.csv`` and
``DIR/sharers.csv`` and prints one JSON line with the counts and the time taken. The same
arguments always produce the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.crosscheck.activity import fill_sessions, ordinary_activity, signups  # noqa: E402
from benchmarks.crosscheck.benign_networks import (  # noqa: E402
    branches,
    call_centre,
    carrier_nat,
    hotel_wifi,
    public_wifi,
    vpns,
)
from benchmarks.crosscheck.benign_people import (  # noqa: E402
    befriend,
    campuses,
    households,
    landlords,
)
from benchmarks.crosscheck.benign_work import (  # noqa: E402
    offices,
    p2p_sellers,
    payroll,
    pick_businesses,
)
from benchmarks.crosscheck.commerce import build_catalogue  # noqa: E402
from benchmarks.crosscheck.fraud_rings import plant_rings  # noqa: E402
from benchmarks.crosscheck.identities import build_customers  # noqa: E402
from benchmarks.crosscheck.render import Renderer, write_events, write_rows  # noqa: E402
from benchmarks.crosscheck.ring_kit import TYPOLOGIES, plan_rings  # noqa: E402
from benchmarks.crosscheck.world import (  # noqa: E402
    DAY,
    WINDOW_END,
    WINDOW_START,
    Customers,
    World,
)

#: Benign sharing kinds, as named in ``sharers.csv``.
BENIGN_KINDS: Final[tuple[str, ...]] = (
    "household", "family_device", "family_card", "family_phone", "office", "campus",
    "carrier_nat", "public_wifi", "hotel_wifi", "vpn", "call_centre", "shop_device",
    "payroll", "p2p_seller", "landlord",
)  # fmt: skip
#: Where confirmed-fraud labels come from, per typology.
LABEL_SOURCES: Final[dict[str, str]] = {
    "device_farm": "fraud_ops_review",
    "synthetic_identity": "charge_off_review",
    "mule_network": "inbound_recall",
    "bust_out": "charge_off_review",
    "account_takeover": "customer_dispute",
}


@dataclass(frozen=True)
class ScenarioConfig:
    """What a scenario is generated from; equal configs give byte-identical output."""

    accounts: int
    seed: int
    label_fraction: float = 0.3
    legit_label_fraction: float = 0.0
    rings_per_10k: float = 25.0


def build_world(config: ScenarioConfig) -> World:
    """Build the whole world: customers, benign groups, rings, everyday activity.

    Complexity: O(events); about 30 events per account.
    """
    if config.accounts < 500:
        raise ValueError("a scenario needs at least 500 accounts")
    world = World(config.seed, Customers.empty(config.accounts))
    build_customers(world)
    plans = plan_rings(world, config.rings_per_10k)
    catalogue = build_catalogue(world)
    n_offices = max(2, round(config.accounts / 600))
    office_payrolls = max(1, round(0.6 * n_offices))
    businesses = pick_businesses(world, office_payrolls + max(1, round(config.accounts / 2_000)))
    free = np.zeros(config.accounts, dtype=np.bool_)
    free[world.legit_individuals()] = True
    campuses(world, free)
    homes = households(world, free)
    landlords(world, free, homes)
    office_list = offices(world, free)
    payroll(world, office_list[:office_payrolls], businesses)
    p2p_sellers(world)
    befriend(world)
    carrier_nat(world)
    vpns(world)
    public_wifi(world, catalogue)
    hotel_wifi(world)
    call_centre(world)
    branches(world)
    plant_rings(world, plans, catalogue)
    ordinary_activity(world, catalogue)
    signups(world)
    return world


def _iso(ts: np.ndarray) -> list[str]:
    return [f"{s}Z" for s in np.datetime_as_string(ts.astype("datetime64[s]"), unit="s")]


def write_scenario(world: World, config: ScenarioConfig, out: Path) -> dict[str, Any]:
    """Write events, labels, truth and sharers under ``out``; returns the counts."""
    events = world.events.columns()
    fill_sessions(world, events)
    renderer = Renderer(world)
    ids = renderer.account_ids
    paths = write_events(renderer, events, out / "events")
    rng = world.rng("labels")
    in_ring = np.zeros(world.customers.n, dtype=np.bool_)
    truth_rows: list[tuple[str, str, str]] = []
    label_rows: list[tuple[str, str, str, str, str]] = []
    for ring in world.rings:
        in_ring[ring.members] = True
        truth_rows += [(ring.ring_id, ring.typology, ids[a]) for a in ring.members]
        chosen = rng.random(ring.members.size) < config.label_fraction
        lag = rng.integers(14 * DAY, 60 * DAY, ring.members.size)
        ts = ring.fraud_ts + lag
        keep = chosen & (ts <= WINDOW_END)
        source = LABEL_SOURCES[ring.typology]
        label_rows += [
            ("Account", ids[a], "fraud", source, t)
            for a, t in zip(ring.members[keep], _iso(ts[keep]), strict=True)
        ]
    legit = np.flatnonzero(~in_ring)
    reviewed = legit[rng.random(legit.size) < config.legit_label_fraction]
    reviewed_ts = rng.integers(WINDOW_START + 30 * DAY, WINDOW_END, reviewed.size)
    label_rows += [
        ("Account", ids[a], "legit", "kyc_review", t)
        for a, t in zip(reviewed, _iso(reviewed_ts), strict=True)
    ]
    write_rows(out / "truth.csv", ["ring_id", "typology", "account_id"], truth_rows)
    write_rows(
        out / "labels.csv", ["entity_type", "entity_key", "label", "source", "ts"], label_rows
    )
    sharer_rows: dict[tuple[str, str, str], None] = {}
    for group in world.groups:
        for a in group.members[~in_ring[group.members]]:
            sharer_rows[(ids[a], group.kind, group.group_id)] = None
    write_rows(out / "sharers.csv", ["account_id", "kind", "group_id"], sharer_rows)
    sharing = {row[0] for row in sharer_rows}
    return {
        "accounts": world.customers.n,
        "seed": config.seed,
        "events": int(events["ts"].size),
        "event_files": len(paths),
        "rings": {t: sum(r.typology == t for r in world.rings) for t in TYPOLOGIES},
        "ring_accounts": {
            t: int(sum(r.members.size for r in world.rings if r.typology == t)) for t in TYPOLOGIES
        },
        "benign_groups": {
            k: len({g.group_id for g in world.groups if g.kind == k}) for k in BENIGN_KINDS
        },
        "benign_accounts": {
            k: len({row[0] for row in sharer_rows if row[1] == k}) for k in BENIGN_KINDS
        },
        "legit_sharing_share": round(len(sharing) / max(1, legit.size), 3),
        "labels": {
            "fraud": sum(r[2] == "fraud" for r in label_rows),
            "legit": sum(r[2] == "legit" for r in label_rows),
        },
    }


def generate(config: ScenarioConfig, out: Path) -> dict[str, Any]:
    """Build and write one scenario; returns the summary printed by the CLI."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(config)
    summary = write_scenario(world, config, out)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--label-fraction", type=float, default=0.3)
    parser.add_argument("--legit-label-fraction", type=float, default=0.0)
    parser.add_argument("--rings-per-10k", type=float, default=25.0)
    args = parser.parse_args(argv)
    config = ScenarioConfig(
        accounts=args.accounts,
        seed=args.seed,
        label_fraction=args.label_fraction,
        legit_label_fraction=args.legit_label_fraction,
        rings_per_10k=args.rings_per_10k,
    )
    print(json.dumps(generate(config, args.out)))


if __name__ == "__main__":
    main()
