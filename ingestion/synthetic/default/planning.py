"""Drawing the population and planning the rings: typology, size, members, window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np

from graph_service.typing import I64
from ingestion.synthetic.default.config import (
    RING_SIZES,
    TYPOLOGY_WEIGHTS,
    ScenarioConfig,
    Typology,
    ring_count,
)
from ingestion.synthetic.default.events import DAY, HOUR, uniform_ts
from ingestion.synthetic.default.population import Population, big_families
from ingestion.synthetic.default.tables import ADDRESS_SPACE

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class RingPlan:
    """One planted ring: who, what, and when it is active."""

    ring_id: str
    typology: Typology
    members: I64
    start_us: int
    end_us: int
    #: Account takeover: how many of the last members are drop accounts.
    drops: int = 0
    #: Time of the ring's last planted event (set when the ring is planted).
    last_event_us: int = 0


def _microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def build_population(config: ScenarioConfig) -> tuple[Population, list[RingPlan]]:
    """Draw the accounts, plan the rings, sort accounts by creation time.

    Notes
    -----
    O(A log A) for A accounts (one sort).
    """
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
    n = config.accounts
    start_us = _microseconds(config.start)
    end_us = start_us + config.days * DAY
    span = end_us - start_us
    # Creation times lean early: most customers exist well before the period ends.
    created = start_us + (span * rng.random(n) ** 2).astype(np.int64)
    plans = _plan_rings(config, rng, created, start_us, end_us)

    order = np.argsort(created, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    created = created[order]
    is_member = np.zeros(n, np.bool_)
    for plan in plans:
        plan.members = rank[plan.members]
        is_member[plan.members] = True

    weight = rng.pareto(config.activity_exponent, n) + 1.0
    weight = np.minimum(weight, 200.0 * weight.mean())
    for plan in plans:
        if plan.typology is Typology.DEVICE_FARM:
            weight[plan.members] *= 0.3
    weight /= weight.mean()

    sizes = rng.choice(np.arange(1, 6), n, p=[0.38, 0.30, 0.16, 0.11, 0.05]).astype(np.int64)
    sizes[: big_families(n)] = 6
    cumulative = np.cumsum(sizes)
    n_households = int(np.searchsorted(cumulative, n)) + 1
    sizes = sizes[:n_households]
    sizes[-1] -= int(cumulative[n_households - 1]) - n
    member_at = rng.permutation(n).astype(np.int32)
    population = Population(config, created, weight, sizes, member_at, is_member, start_us, end_us)
    ring_total = sum(p.members.size for p in plans)
    if n_households + ring_total >= ADDRESS_SPACE:
        raise ValueError("too many accounts for the address space")
    return population, plans


def _plan_rings(
    config: ScenarioConfig,
    rng: np.random.Generator,
    created: I64,
    start_us: int,
    end_us: int,
) -> list[RingPlan]:
    """Choose ring typologies, sizes, members and windows; move members' creation times.

    ``created`` is indexed by unsorted account number and is updated in place.
    """
    n = config.accounts
    typologies = list(Typology)
    n_rings = ring_count(config)
    weights = np.array([TYPOLOGY_WEIGHTS[t] for t in typologies])
    extra = rng.choice(len(typologies), n_rings - len(typologies), p=weights / weights.sum())
    chosen = typologies + [typologies[int(i)] for i in extra]
    sizes = np.array([int(rng.integers(*RING_SIZES[t], endpoint=True)) for t in chosen])
    # Small populations: shrink rings (not below their typology's minimum) to keep
    # members under 12% of accounts.
    floor = np.array([RING_SIZES[t][0] for t in chosen])
    while sizes.sum() > 0.12 * n and (sizes > floor).any():
        sizes = np.where(sizes > floor, sizes - 1, sizes)
    slots = rng.choice(n, int(sizes.sum()), replace=False).astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])

    span = end_us - start_us
    plans: list[RingPlan] = []
    for i, typology in enumerate(chosen):
        members = slots[bounds[i] : bounds[i + 1]]
        plan = RingPlan(f"R{i + 1:05d}", typology, members, 0, 0)
        _schedule(plan, rng, created, start_us, end_us, span)
        plans.append(plan)
    return plans


def _schedule(
    plan: RingPlan,
    rng: np.random.Generator,
    created: I64,
    start_us: int,
    end_us: int,
    span: int,
) -> None:
    """Set a ring's active window and its members' creation times."""

    def window_start(earliest: float, length: int) -> int:
        low = start_us + int(earliest * span)
        high = max(low + 1, end_us - length - DAY)
        return int(rng.integers(low, high))

    m = plan.members
    s = m.size
    typology = plan.typology
    if typology is Typology.DEVICE_FARM:
        length = min(21 * DAY, int(0.3 * span))
        t0 = window_start(0.15, length)
        burst = int(rng.integers(DAY, 3 * DAY))
        created[m] = uniform_ts(rng, t0, t0 + burst, s)
    elif typology is Typology.SYNTHETIC_IDENTITY:
        length = min(60 * DAY, int(0.4 * span))
        t0 = window_start(0.1, length)
        created[m] = uniform_ts(rng, t0, t0 + length // 2, s)
    elif typology is Typology.MULE_NETWORK:
        length = min(21 * DAY, int(0.3 * span))
        t0 = window_start(0.3, length)
        # Mules are often recently opened accounts.
        age = ((t0 - DAY - start_us) * rng.random(s) ** 2).astype(np.int64)
        created[m] = t0 - DAY - age
    elif typology is Typology.BUST_OUT:
        created[m] = uniform_ts(rng, start_us, start_us + int(0.2 * span), s)
        length = int(rng.integers(DAY, 3 * DAY))
        t0 = window_start(0.55, length)
    else:
        plan.drops = int(rng.integers(1, 4))
        length = int(rng.integers(DAY, 5 * DAY))
        t0 = window_start(0.5, length)
        victims, drops = m[: s - plan.drops], m[s - plan.drops :]
        created[victims] = uniform_ts(rng, start_us, start_us + int(0.15 * span), victims.size)
        earliest = max(start_us + int(0.2 * span), t0 - 20 * DAY)
        created[drops] = uniform_ts(rng, earliest, t0 - HOUR, drops.size)
    plan.start_us = t0
    plan.end_us = min(t0 + length, end_us - 1)
