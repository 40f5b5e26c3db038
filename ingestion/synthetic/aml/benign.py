"""Benign money structures of the ``aml`` profile that look like laundering patterns.

The hard profile's book already pays payroll (fan-out), rent to landlords and buyers'
payments to small sellers (fan-in), sellers' sweeps to their own savings and household
allowances. :func:`money_flows` adds what the book lacks, each among unrelated
legitimate customers (see :class:`~ingestion.synthetic.aml.config.MoneyFlowKind`):
friends paying each other back, rotating savings clubs, parents' support passed on as
a student's rent, contractors paying their crews out of clients' payments, and relatives'
holiday and birthday gifts. Every transfer is made on the sender's own phone and usual
network, like any customer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import numpy as np

from graph_service.typing import F64, I64, BoolArray
from ingestion.synthetic.aml.config import AmlScenarioConfig, MoneyFlowKind
from ingestion.synthetic.hard.activity import popular_merchants
from ingestion.synthetic.hard.events import DAY, HOUR, MINUTE, TRANSFER, EventBatch, events
from ingestion.synthetic.hard.rings import pays
from ingestion.synthetic.hard.world import FAKE, STUDENT, World, microseconds

__all__ = ["MoneyFlows", "money_flows", "transfers"]

_MONTH: Final = 30 * DAY
#: Round sums people put into a savings club or give as a gift.
_CLUB_SUMS: Final = (50.0, 100.0, 150.0, 200.0, 250.0, 500.0)
_GIFT_SUMS: Final = (20.0, 25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0)
_GIFT_WEIGHTS: Final = (0.08, 0.15, 0.3, 0.1, 0.2, 0.07, 0.07, 0.03)


@dataclass(slots=True)
class MoneyFlows:
    """The benign flows' events and who took part, for ``flows.csv``.

    ``kind`` indexes ``list(MoneyFlowKind)``; ``role`` names each member's part
    (``payer``, ``member``, ``parent``, ``student``, ``landlord``, ``contractor``,
    ``crew``, ``giver``, ``relative``).
    """

    events: EventBatch
    account: I64
    kind: I64
    group: I64
    role: list[str]


def transfers(world: World, src: I64, dst: I64, ts: I64, amount: F64) -> EventBatch:
    """Transfers on each sender's own phone and usual network, kept only while both
    accounts are open (and the sender was open a minute before) within the period."""
    ok = (ts > world.created[src] + MINUTE) & (ts < world.closed[src]) & (ts < world.end_us)
    ok &= (ts > world.created[dst]) & (ts < world.closed[dst]) & (src != dst)
    src, dst, ts, amount = src[ok], dst[ok], ts[ok], amount[ok]
    person = world.person[src].astype(np.int64)
    return events(
        src,
        ts,
        TRANSFER,
        counterparty=dst,
        amount=np.round(np.maximum(amount, 1.0), 2),
        device=world.phone_device(person, ts),
        ip=world.usual_ip(src, ts),
    )


class _Builder:
    """Draws groups of free legitimate accounts and collects events and members."""

    def __init__(self, world: World, rng: np.random.Generator) -> None:
        self.world = world
        self.rng = rng
        self.free: BoolArray = ~world.is_member & ((world.flags & FAKE) == 0)
        # Employers, landlords and sellers keep their one role.
        self.free[world.orders.src[world.orders.kind == 0]] = False
        self.free[world.orders.dst[world.orders.kind == 1]] = False
        self.free[world.sellers] = False
        self.free[world.savings[world.savings >= 0]] = False
        self.batches: list[EventBatch] = []
        self.members: list[tuple[I64, int, I64, list[str]]] = []

    def take(self, count: int, where: BoolArray | None = None) -> I64:
        """``count`` free accounts (fewer if fewer are left), now taken."""
        pool = np.flatnonzero(self.free if where is None else self.free & where)
        chosen = self.rng.permutation(pool)[:count]
        self.free[chosen] = False
        return chosen.astype(np.int64)

    def groups(self, accounts: int, low: int, high: int) -> tuple[I64, I64, I64]:
        """Groups of ``low`` to ``high`` free accounts, about ``accounts`` in all:
        ``(members, starts, sizes)``, members of group ``g`` at ``starts[g]``."""
        if accounts < low:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        sizes = self.rng.integers(low, high + 1, accounts // low + 1)
        sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), accounts, side="right"))]
        members = self.take(int(sizes.sum()))
        sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), members.size, side="right"))]
        members = members[: int(sizes.sum())]
        return members, np.cumsum(sizes) - sizes, sizes.astype(np.int64)

    def window(self, members: I64, starts: I64) -> tuple[I64, I64]:
        """When every member of each group is open: ``(from, until)``."""
        if not starts.size:
            return starts, starts
        low = np.maximum.reduceat(self.world.created[members], starts) + DAY
        high = np.minimum(
            np.minimum.reduceat(self.world.closed[members], starts), self.world.end_us
        )
        return low, high

    def add(
        self, kind: MoneyFlowKind, batch: EventBatch, accounts: I64, group: I64, role: list[str]
    ) -> None:
        self.batches.append(batch)
        self.members.append((accounts, list(MoneyFlowKind).index(kind), group, role))

    def daytime(self, ts: I64) -> I64:
        """The same UTC day, at a waking hour in the US (07:00-23:00 Eastern)."""
        hour = (self.rng.beta(2.2, 2.0, ts.size) * 16 * HOUR).astype(np.int64)
        moved: I64 = ts - ts % DAY + 12 * HOUR + hour
        return moved


def money_flows(world: World, config: AmlScenarioConfig, rng: np.random.Generator) -> MoneyFlows:
    """Draw every benign look-alike flow of the ``aml`` profile.

    Parameters
    ----------
    world : World
        The book, AML ring members already marked (they are left out).
    config : AmlScenarioConfig
    rng : numpy.random.Generator

    Returns
    -------
    MoneyFlows
        Transfers (and the card payments of shared bills), sorted by time, and the
        members of each group.

    Notes
    -----
    O(A + E) for A accounts and E events; vectorised, one pass per kind.
    """
    b = _Builder(world, rng)
    _friend_groups(b, config)
    _savings_clubs(b, config)
    _student_support(b, config)
    _contractors(b, config)
    _family_gifts(b, config)
    role = [r for _, _, _, roles in b.members for r in roles]
    return MoneyFlows(
        events=EventBatch.concat(b.batches).sorted(),
        account=np.concatenate([m[0] for m in b.members]),
        kind=np.concatenate([np.full(m[0].size, m[1], np.int64) for m in b.members]),
        group=np.concatenate([m[2] for m in b.members]),
        role=role,
    )


def _within(rng: np.random.Generator, low: I64, high: I64) -> I64:
    drawn: I64 = low + (rng.random(low.size) * np.maximum(high - low, 1)).astype(np.int64)
    return drawn


def _expand(counts: I64) -> tuple[I64, I64]:
    """For items repeated ``counts`` times: the item of each copy and its number."""
    item = np.repeat(np.arange(counts.size), counts)
    number = np.arange(item.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return item, number


def _friend_groups(b: _Builder, config: AmlScenarioConfig) -> None:
    """One friend pays the bill by card; the others pay their share back within days."""
    world, rng = b.world, b.rng
    members, starts, sizes = b.groups(
        round(config.friend_group_fraction * world.n), *config.friend_group_sizes
    )
    low, high = b.window(members, starts)
    months = np.maximum(high - low, 0) / _MONTH
    group, _ = _expand(rng.poisson(1.2 * months))
    ts = b.daytime(_within(rng, low[group], high[group] - 4 * DAY))
    payer = members[starts[group] + rng.integers(0, sizes[group])]
    bill = np.clip(rng.lognormal(np.log(35.0 * sizes[group]), 0.5), 30, 2_500)
    card = pays(world, payer, ts, popular_merchants(world, rng, group.size), bill)
    outing, slot = _expand(sizes[group])
    src = members[starts[group[outing]] + slot]
    back = (src != payer[outing]) & (rng.random(outing.size) < 0.85)
    outing, src = outing[back], src[back]
    share = bill[outing] / sizes[group[outing]]
    share = np.where(rng.random(outing.size) < 0.5, np.round(share), share)
    delay = np.clip(rng.lognormal(np.log(10.0), 1.0, outing.size), 0.1, 96) * HOUR
    paid = transfers(world, src, payer[outing], ts[outing] + delay.astype(np.int64), share)
    batch = EventBatch.concat([card.take(np.flatnonzero(ts < world.end_us)), paid])
    number = np.repeat(np.arange(sizes.size), sizes)
    b.add(MoneyFlowKind.FRIEND_GROUP, batch, members, number, ["member"] * members.size)


def _savings_clubs(b: _Builder, config: AmlScenarioConfig) -> None:
    """Each month every member pays a round sum to that month's recipient, in turn."""
    world, rng = b.world, b.rng
    members, starts, sizes = b.groups(
        round(config.savings_club_fraction * world.n), *config.savings_club_sizes
    )
    low, high = b.window(members, starts)
    first = low + (rng.random(sizes.size) * 30 * DAY).astype(np.int64)
    months = np.clip((high - first) // _MONTH, 0, 2 * sizes)
    # Recipients' turns: a random order of each club's members.
    number = np.repeat(np.arange(sizes.size), sizes)
    order = members[np.lexsort((rng.random(members.size), number))]
    sums = np.asarray(_CLUB_SUMS)[rng.integers(0, len(_CLUB_SUMS), sizes.size)]
    club, month = _expand(months)
    paying, slot = _expand(sizes[club])
    c = club[paying]
    recipient = order[starts[c] + month[paying] % sizes[c]]
    src = members[starts[c] + slot]
    day = first[c] + month[paying] * _MONTH + rng.integers(0, 5, paying.size) * DAY
    batch = transfers(world, src, recipient, b.daytime(day), sums[c])
    b.add(MoneyFlowKind.SAVINGS_CLUB, batch, members, number, ["member"] * members.size)


def _student_support(b: _Builder, config: AmlScenarioConfig) -> None:
    """Parents send a student money each month; days later the student pays rent."""
    world, rng = b.world, b.rng
    student_flag = (world.flags & STUDENT) != 0
    wanted = round(config.student_support_fraction * int((b.free & student_flag).sum()))
    low_per, high_per = config.students_per_landlord
    per = rng.integers(low_per, high_per + 1, wanted // low_per + 1)
    per = per[: int(np.searchsorted(np.cumsum(per), wanted, side="right"))]
    landlords = b.take(per.size, ~student_flag)
    per = per[: landlords.size]
    students = b.take(int(per.sum()), student_flag)
    per = per[: int(np.searchsorted(np.cumsum(per), students.size, side="right"))]
    landlords, students = landlords[: per.size], students[: int(per.sum())]
    landlord_of = np.repeat(np.arange(per.size), per)
    two = rng.random(students.size) < 0.3
    parents = b.take(students.size + int(two.sum()), ~student_flag)
    if parents.size < students.size + int(two.sum()):
        return
    first_parent = parents[: students.size]
    second_parent = np.full(students.size, -1, np.int64)
    second_parent[two] = parents[students.size :]

    created, closed = world.created, world.closed
    low = np.maximum.reduce(
        [created[students], created[first_parent], created[landlords][landlord_of]]
    )
    low = np.maximum(low, np.where(two, created[np.maximum(second_parent, 0)], low)) + DAY
    high = np.minimum.reduce(
        [closed[students], closed[first_parent], closed[landlords][landlord_of]]
    )
    high = np.minimum(high, np.where(two, closed[np.maximum(second_parent, 0)], high))
    months = np.maximum((high - low) // _MONTH, 0)
    rent = np.clip(rng.lognormal(np.log(850.0), 0.3, students.size), 400, 2_000).round()
    support = rent / rng.uniform(0.8, 0.95, students.size)
    first_share = np.where(two, support * rng.uniform(0.4, 0.6, students.size), support)

    student, month = _expand(months)
    base = low[student] + month * _MONTH
    sent = b.daytime(base + rng.integers(0, 4, student.size) * DAY)
    both = two[student]
    second_sent = b.daytime(base + rng.integers(0, 4, student.size) * DAY)
    arrived = np.where(both, np.maximum(sent, second_sent), sent)
    paid = arrived + (rng.uniform(2, 120, student.size) * HOUR).astype(np.int64)
    batch = EventBatch.concat(
        [
            transfers(world, first_parent[student], students[student], sent, first_share[student]),
            transfers(
                world,
                second_parent[student][both],
                students[student][both],
                second_sent[both],
                (support - first_share)[student][both],
            ),
            transfers(
                world, students[student], landlords[landlord_of[student]], paid, rent[student]
            ),
        ]
    )
    accounts = np.concatenate([landlords, students, first_parent, second_parent[two]])
    group = np.concatenate([np.arange(landlords.size), landlord_of, landlord_of, landlord_of[two]])
    role = (
        ["landlord"] * landlords.size
        + ["student"] * students.size
        + ["parent"] * (students.size + int(two.sum()))
    )
    b.add(MoneyFlowKind.STUDENT_SUPPORT, batch, accounts, group, role)


def _contractors(b: _Builder, config: AmlScenarioConfig) -> None:
    """Clients pay a contractor for a job; within a week it pays its crew their part."""
    world, rng = b.world, b.rng
    contractors = b.take(round(config.contractor_fraction * world.n))
    low_crew, high_crew = config.contractor_crews
    crew_sizes = rng.integers(low_crew, high_crew + 1, contractors.size)
    crew = b.take(int(crew_sizes.sum()))
    if crew.size < crew_sizes.sum():
        return
    crew_start = np.cumsum(crew_sizes) - crew_sizes
    low = world.created[contractors] + DAY
    high = np.minimum(world.closed[contractors], world.end_us)
    job_of, _ = _expand(rng.poisson(1.5 * np.maximum(high - low, 0) / _MONTH))
    ts = b.daytime(_within(rng, low[job_of], high[job_of] - 8 * DAY))
    client = rng.integers(0, world.n, job_of.size)
    # A job goes ahead only with a client who banks with us at the time.
    open_ = (
        (world.created[client] + MINUTE < ts) & (ts < world.closed[client]) & (ts < world.end_us)
    )
    open_ &= ~world.is_member[client] & (client != contractors[job_of])
    job_of, ts, client = job_of[open_], ts[open_], client[open_]
    price = np.clip(rng.lognormal(np.log(3_500.0), 0.6, job_of.size), 400, 30_000)
    price = np.where(rng.random(job_of.size) < 0.6, np.round(price, -1), price)
    paid = transfers(world, client, contractors[job_of], ts, price)
    job, slot = _expand(crew_sizes[job_of])
    share = price * rng.uniform(0.5, 0.75, job_of.size) / crew_sizes[job_of]
    wage = share[job] * rng.uniform(0.85, 1.15, job.size)
    when = ts[job] + (rng.uniform(1, 7, job.size) * DAY).astype(np.int64)
    crew_paid = transfers(
        world, contractors[job_of[job]], crew[crew_start[job_of[job]] + slot], when, wage
    )
    accounts = np.concatenate([contractors, crew])
    group = np.concatenate(
        [np.arange(contractors.size), np.repeat(np.arange(contractors.size), crew_sizes)]
    )
    role = ["contractor"] * contractors.size + ["crew"] * crew.size
    b.add(MoneyFlowKind.CONTRACTOR, EventBatch.concat([paid, crew_paid]), accounts, group, role)


def _family_gifts(b: _Builder, config: AmlScenarioConfig) -> None:
    """A relative gives each of several others a gift at the holidays and birthdays."""
    world, rng = b.world, b.rng
    givers = b.take(round(config.gift_giver_fraction * world.n))
    counts = rng.integers(config.gift_recipients[0], config.gift_recipients[1] + 1, givers.size)
    relatives = b.take(int(counts.sum()))
    if relatives.size < counts.sum():
        return
    giver_of = np.repeat(np.arange(givers.size), counts)
    years = range(_year(world.start_us), _year(world.end_us) + 1)
    holidays = np.asarray([microseconds(datetime(y, 12, 10, tzinfo=UTC)) for y in years], np.int64)
    birthday = rng.integers(0, 365, relatives.size) * DAY
    new_years = np.asarray([microseconds(datetime(y, 1, 1, tzinfo=UTC)) for y in years], np.int64)
    pair, year = _expand(np.full(relatives.size, len(years)))
    holiday = holidays[year] + rng.integers(0, 14, pair.size) * DAY
    birth = new_years[year] + birthday[pair] - rng.integers(0, 3, pair.size) * DAY
    ts = np.concatenate([holiday, birth])
    pair = np.concatenate([pair, pair])
    given = rng.random(pair.size) < 0.9
    pair, ts = pair[given], b.daytime(ts[given])
    amount = rng.choice(np.asarray(_GIFT_SUMS), pair.size, p=np.asarray(_GIFT_WEIGHTS))
    batch = transfers(world, givers[giver_of[pair]], relatives[pair], ts, amount)
    accounts = np.concatenate([givers, relatives])
    group = np.concatenate([np.arange(givers.size), giver_of])
    role = ["giver"] * givers.size + ["relative"] * relatives.size
    b.add(MoneyFlowKind.FAMILY_GIFTS, batch, accounts, group, role)


def _year(us: int) -> int:
    return datetime.fromtimestamp(us / 1e6, UTC).year
