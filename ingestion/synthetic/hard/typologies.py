"""What each fraud typology of the hard profile does, once its members are chosen.

Amounts are in US dollars and follow what investigations report: device farms move
tens to hundreds per account, synthetic identities and bust-outs spend their credit
lines (hundreds to a few thousand per purchase) in days, mules pass on scam payments of
a few hundred to several thousand within hours to days minus a 5-12% cut, account
takeovers drain a few thousand to drop accounts within hours.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from graph_service.typing import I64
from ingestion.synthetic.default import Typology
from ingestion.synthetic.hard.events import (
    DAY,
    EMAIL_SHIFT,
    HOUR,
    MINUTE,
    SIGNUP,
    WEEK,
    EventBatch,
    events,
)
from ingestion.synthetic.hard.rings import (
    ADDRESS,
    DEVICE,
    IP,
    MAILBOX,
    MAILBOX_SPELLINGS,
    PHONE,
    RingPlan,
    links,
    logins,
    new_devices,
    new_ips,
    pays,
    sends,
)
from ingestion.synthetic.hard.tables import GMAIL, US
from ingestion.synthetic.hard.world import World

__all__ = ["plant_rings"]


def plant_rings(world: World, plans: list[RingPlan], rng: np.random.Generator) -> EventBatch:
    """Remap members to world numbering and generate every ring's events, sorted.

    Members' shared phones, mailboxes and addresses are written into the world, so
    their everyday events carry them too.

    Parameters
    ----------
    world : World
    plans : list of RingPlan
        From :func:`~ingestion.synthetic.hard.rings.plan_rings`; their members are
        renumbered and each plan's ``fraud_ts`` is set.
    rng : numpy.random.Generator

    Returns
    -------
    EventBatch
        Every ring event within the period, sorted by time.

    Notes
    -----
    One Python iteration per ring, vectorised within.
    """
    planters: dict[Typology, Callable[[World, RingPlan, np.random.Generator], EventBatch]] = {
        Typology.DEVICE_FARM: _device_farm,
        Typology.SYNTHETIC_IDENTITY: _synthetic_identity,
        Typology.MULE_NETWORK: _mule_network,
        Typology.BUST_OUT: _bust_out,
        Typology.ACCOUNT_TAKEOVER: _account_takeover,
    }
    for plan in plans:
        plan.members = world.rank[plan.members]
        world.is_member[plan.members] = True
    batches = []
    for plan in plans:
        plan.fraud_ts = np.zeros(plan.members.size, np.int64)
        batch = planters[plan.typology](world, plan, rng)
        # Nothing happens before an account's signup; what falls after the period is
        # not in the feed.
        batch.ts = np.maximum(batch.ts, world.created[batch.account] + MINUTE)
        batches.append(batch.take(np.flatnonzero(batch.ts < world.end_us)))
        plan.fraud_ts = np.maximum(plan.fraud_ts, world.created[plan.members])
    return EventBatch.concat(batches).sorted()


def _pool(rng: np.random.Generator, items: list[tuple[int, I64]]) -> tuple[I64, I64]:
    """Pool item codes and kinds in random order, kinds interleaved so that neighbouring
    items (which :func:`links` gives to one member) differ in kind where counts allow."""
    remaining = {kind: [int(c) for c in rng.permutation(codes)] for kind, codes in items}
    codes: list[int] = []
    kinds: list[int] = []
    while any(remaining.values()):
        left = [k for k, v in remaining.items() if v]
        options = [k for k in left if not kinds or k != kinds[-1]] or left
        most = max(len(remaining[k]) for k in options)
        best = [k for k in options if len(remaining[k]) == most]
        kind = best[int(rng.integers(len(best)))]
        codes.append(remaining[kind].pop())
        kinds.append(kind)
    return np.asarray(codes, np.int64), np.asarray(kinds, np.int64)


def _assign(
    rng: np.random.Generator, size: int, codes: I64, kinds: I64
) -> tuple[dict[int, I64], dict[int, I64]]:
    """Each member's pool items by kind: its first item of each kind, and a second one
    when both its items are of one kind (-1 where it has none)."""
    primary, secondary = links(rng, size, codes.size)
    has_second = secondary >= 0
    second_code = codes[np.maximum(secondary, 0)]
    first: dict[int, I64] = {}
    second: dict[int, I64] = {}
    for kind in (int(k) for k in np.unique(kinds)):
        in_primary = kinds[primary] == kind
        in_secondary = has_second & (kinds[np.maximum(secondary, 0)] == kind)
        first[kind] = np.where(in_primary, codes[primary], np.where(in_secondary, second_code, -1))
        second[kind] = np.where(in_primary & in_secondary, second_code, -1)
    return first, second


def _second_uses(
    world: World, plan: RingPlan, rng: np.random.Generator, second: dict[int, I64]
) -> EventBatch:
    """A login by each member holding a second item of one kind, carrying it: a second
    device or IP, a changed phone, an address update."""
    s = plan.members.size
    none = np.full(s, -1, np.int64)
    device, ip, phone, address = (second.get(k, none) for k in (DEVICE, IP, PHONE, ADDRESS))
    rows = np.flatnonzero((device >= 0) | (ip >= 0) | (phone >= 0) | (address >= 0))
    m = plan.members[rows]
    low = np.maximum(world.created[m] + DAY, plan.start_us)
    ts = _uniform(rng, low, np.maximum(plan.end_us, low + DAY))
    batch = logins(world, m, ts, device[rows], ip[rows])
    batch.phone = phone[rows]
    batch.address = address[rows]
    return batch


def _uniform(rng: np.random.Generator, low: I64, high: I64 | int) -> I64:
    span = np.maximum(np.asarray(high, np.int64) - low, 1)
    drawn: I64 = low + (rng.random(low.size) * span).astype(np.int64)
    return drawn


def _first(ts: I64, who: I64, members: I64) -> I64:
    """Per member, the earliest of its times (0 if none)."""
    first = np.full(members.size, np.iinfo(np.int64).max)
    position = np.searchsorted(members, who, sorter=np.argsort(members))
    np.minimum.at(first, np.argsort(members)[position], ts)
    return np.where(first == np.iinfo(np.int64).max, 0, first)


def _cash_out(
    world: World, rng: np.random.Generator, account: I64, ts: I64, amount: np.ndarray, hours: int
) -> EventBatch:
    """Payments at cash-out merchants (crypto, gift cards, money transfer, electronics)
    of most of what was received, within ``hours`` hours."""
    when = ts + (rng.random(account.size) * hours * HOUR).astype(np.int64) + 20 * MINUTE
    merchant = world.cash_out_merchants[
        rng.integers(0, world.cash_out_merchants.size, account.size)
    ]
    return pays(world, account, when, merchant, amount * rng.uniform(0.93, 0.99, account.size))


def _device_farm(world: World, plan: RingPlan, rng: np.random.Generator) -> EventBatch:
    """Thin accounts opened on a few farm devices (some emulators) behind proxies,
    logging in now and then, passing small sums to collectors who cash out."""
    m, s = plan.members, plan.members.size
    devices = new_devices(world, rng, int(rng.integers(2, 5)), float(rng.uniform(0.3, 0.6)))
    proxies = new_ips(world, rng, int(rng.integers(1, 4)), 0.6)
    codes, kinds = _pool(rng, [(DEVICE, devices), (IP, proxies)])
    item, second = _assign(rng, s, codes, kinds)
    own_ip = new_ips(world, rng, s, 0.9)  # a fresh residential proxy per account
    ip = np.where(item[IP] >= 0, item[IP], own_ip)
    created = world.created[m]
    world.ring_signup[m] = True
    signup = events(
        m,
        created,
        SIGNUP,
        device=np.where(item[DEVICE] >= 0, item[DEVICE], world.phone_device(m, created)),
        ip=ip,
        phone=world.phone[m],
        email=world.email[m],
        address=world.address[m],
    )
    who = np.repeat(np.arange(s), rng.integers(3, 9, s))
    ts = _uniform(rng, created[who] + HOUR, plan.end_us)
    login = logins(world, m[who], ts, item[DEVICE][who], ip[who])

    collectors = np.flatnonzero(plan.role == 1)
    senders = np.flatnonzero(plan.role == 0)
    who = np.repeat(senders, rng.integers(2, 6, senders.size))
    to = collectors[rng.integers(0, collectors.size, who.size)]
    low = np.maximum(created[who], created[to]) + 3 * DAY
    ts = _uniform(rng, low, plan.end_us)
    amount = np.clip(rng.lognormal(math.log(90), 0.6, who.size), 20, 400)
    device = np.where(item[DEVICE][who] >= 0, item[DEVICE][who], world.phone_device(m[who], ts))
    sent = sends(m[who], ts, m[to], amount, device, ip[who])
    plan.fraud_ts = _first(np.concatenate([ts, ts]), np.concatenate([who, to]), np.arange(s))
    cash = _cash_out(world, rng, m[to], ts, amount, 48)
    return EventBatch.concat([signup, login, sent, cash, _second_uses(world, plan, rng, second)])


def _synthetic_identity(world: World, plan: RingPlan, rng: np.random.Generator) -> EventBatch:
    """Identities recombined from a few phones, addresses and one mailbox (each member
    spelling it its own way), building credit slowly, then cashing out together."""
    m, s = plan.members, plan.members.size
    reg = world.registry
    phones = world.new_phones(US, int(rng.integers(1, 3)))
    n_addresses = int(rng.integers(1, 3))
    addresses = world.hh_size.size + reg.addresses + np.arange(n_addresses, dtype=np.int64)
    reg.addresses += n_addresses
    mailbox = np.asarray([((world.n + reg.mailboxes) << EMAIL_SHIFT) | GMAIL], np.int64)
    reg.mailboxes += 1
    codes, kinds = _pool(rng, [(PHONE, phones), (ADDRESS, addresses), (MAILBOX, mailbox)])
    item, second = _assign(rng, s, codes, kinds)
    _adopt(world, rng, m, item)

    created = world.created[m]
    who = np.repeat(np.arange(s), rng.integers(4, 12, s))
    ts = _uniform(rng, created[who] + 2 * WEEK, plan.end_us - 2 * DAY)
    building = pays(
        world,
        m[who],
        ts,
        rng.integers(0, 200, who.size),
        rng.lognormal(math.log(45), 0.5, who.size),
    )
    who = np.repeat(np.arange(s), rng.integers(3, 9, s))
    ts = plan.end_us + (rng.random(who.size) * 4 * DAY).astype(np.int64)
    merchant = world.cash_out_merchants[rng.integers(0, 5, who.size)]
    spend = pays(
        world,
        m[who],
        ts,
        merchant,
        np.clip(rng.lognormal(math.log(900), 0.6, who.size), 300, 2_500),
    )
    collector = np.flatnonzero(plan.role == 1)[0]
    others = np.flatnonzero(plan.role == 0)
    when = plan.end_us + (rng.random(others.size) * 3 * DAY).astype(np.int64)
    own = world.phone_device(m[others], when)
    home = world.usual_ip(m[others], when)
    amount = np.clip(rng.lognormal(math.log(1_500), 0.5, others.size), 500, 3_000)
    sent = sends(m[others], when, np.full(others.size, m[collector]), amount, own, home)
    plan.fraud_ts = np.full(s, plan.end_us)
    cash = _cash_out(world, rng, np.full(others.size, m[collector]), when, amount, 24)
    extra = _second_uses(world, plan, rng, second)
    return EventBatch.concat([building, spend, sent, cash, extra])


def _adopt(world: World, rng: np.random.Generator, members: I64, item: dict[int, I64]) -> None:
    """Give members their pool phone, address (own spelling) and mailbox (own spelling)."""
    if PHONE in item:
        rows = np.flatnonzero(item[PHONE] >= 0)
        world.phone[members[rows]] = item[PHONE][rows]
    if ADDRESS in item:
        rows = np.flatnonzero(item[ADDRESS] >= 0)
        world.address[members[rows]] = item[ADDRESS][rows]
        world.address_pin[members[rows]] = rng.permutation(1_024)[: rows.size] & 0x3FF
    if MAILBOX in item:
        rows = np.flatnonzero(item[MAILBOX] >= 0)
        world.email[members[rows]] = item[MAILBOX][rows]
        spelling = np.asarray(MAILBOX_SPELLINGS)[np.arange(rows.size) % len(MAILBOX_SPELLINGS)]
        world.email_pin[members[rows]] = spelling


def _victims(world: World, rng: np.random.Generator, ts: I64) -> I64:
    """One legitimate account per time, open at that time (scam victims)."""
    out = np.full(ts.size, -1, np.int64)
    for _ in range(50):
        todo = np.flatnonzero(out < 0)
        if not todo.size:
            break
        alive = np.searchsorted(world.created, ts[todo] - DAY)
        draw = (rng.random(todo.size) * np.maximum(alive, 1)).astype(np.int64)
        ok = ~world.is_member[draw] & (world.closed[draw] > ts[todo]) & (alive > 0)
        out[todo[ok]] = draw[ok]
    return out


def _mule_network(world: World, plan: RingPlan, rng: np.random.Generator) -> EventBatch:
    """Scam victims pay first-layer mules, who pass the money on within hours to days
    (some through a second layer) minus their cut, to collectors who cash out. A
    handler's device logs into some mules."""
    m, s = plan.members, plan.members.size
    collectors = np.flatnonzero(plan.role == 1)
    mules = np.flatnonzero(plan.role == 0)
    layer2 = mules[rng.random(mules.size) < 0.3]
    layer2 = layer2[layer2 != mules[0]]
    layer1 = np.setdiff1d(mules, layer2)
    handled = mules[rng.random(mules.size) < 0.4]
    items = [(DEVICE, new_devices(world, rng, 1, 0.0))]
    if rng.random() < 0.5:
        items.append((IP, new_ips(world, rng, 1, 0.8)))
    codes, kinds = _pool(rng, items)
    item = {k: np.full(s, -1, np.int64) for k in (DEVICE, IP)}
    second = {k: np.full(s, -1, np.int64) for k in (DEVICE, IP)}
    if handled.size:
        assigned, again = _assign(rng, handled.size, codes, kinds)
        for kind, values in assigned.items():
            item[kind][handled] = values
            second[kind][handled] = again[kind]

    created = world.created[m]
    who = np.repeat(layer1, rng.integers(1, 6, layer1.size))
    ts = _uniform(rng, np.maximum(created[who] + WEEK, plan.start_us), plan.end_us - 4 * DAY)
    victim = _victims(world, rng, ts)
    ok = victim >= 0
    who, ts, victim = who[ok], ts[ok], victim[ok]
    amount = np.clip(rng.lognormal(math.log(1_200), 0.7, who.size), 200, 9_000)
    person = world.person[victim].astype(np.int64)
    scammed = sends(
        victim,
        ts,
        m[who],
        amount,
        world.phone_device(person, ts),
        world.usual_ip(victim, ts),
    )
    batches = [scammed]
    receipts = [(who, ts)]
    hop_to = np.where(
        (rng.random(who.size) < 0.3) & (layer2.size > 0),
        layer2[rng.integers(0, max(layer2.size, 1), who.size)] if layer2.size else -1,
        collectors[rng.integers(0, collectors.size, who.size)],
    )
    for stage in range(2):
        delay = np.clip(rng.lognormal(math.log(6 + 10 * stage), 0.9, who.size), 1, 72) * HOUR
        when = np.maximum(ts + delay.astype(np.int64), created[hop_to] + HOUR)
        amount = amount * rng.uniform(0.88, 0.95, who.size)
        device = np.where(item[DEVICE][who] >= 0, item[DEVICE][who], -1)
        batches.append(logins(world, m[who], when - 5 * MINUTE, device, item[IP][who]))
        own = world.phone_device(world.person[m[who]].astype(np.int64), when)
        home = world.usual_ip(m[who], when)
        batches.append(
            sends(
                m[who],
                when,
                m[hop_to],
                amount,
                np.where(device >= 0, device, own),
                np.where(item[IP][who] >= 0, item[IP][who], home),
            )
        )
        receipts.append((hop_to, when))
        final = np.isin(hop_to, collectors)
        batches.append(_cash_out(world, rng, m[hop_to[final]], when[final], amount[final], 72))
        who, ts, amount = hop_to[~final], when[~final], amount[~final]
        hop_to = collectors[rng.integers(0, collectors.size, who.size)]
        if not who.size:
            break
    everyone = np.concatenate([r[0] for r in receipts])
    times = np.concatenate([r[1] for r in receipts])
    plan.fraud_ts = _first(times, everyone, np.arange(s))
    batches.append(_second_uses(world, plan, rng, second))
    return EventBatch.concat(batches)


def _bust_out(world: World, plan: RingPlan, rng: np.random.Generator) -> EventBatch:
    """Long-standing accounts sharing an address or phone spend their lines within days
    at one to three colluding merchants, then go silent."""
    m, s = plan.members, plan.members.size
    reg = world.registry
    phones = world.new_phones(US, int(rng.integers(1, 3)))
    address = np.asarray([world.hh_size.size + reg.addresses], np.int64)
    reg.addresses += 1
    codes, kinds = _pool(rng, [(PHONE, phones), (ADDRESS, address)])
    item, second = _assign(rng, s, codes, kinds)
    _adopt(world, rng, m, item)
    colluding = world.n_merchants + reg.merchants + np.arange(int(rng.integers(1, 4)))
    reg.merchants += colluding.size
    who = np.repeat(np.arange(s), rng.integers(3, 11, s))
    ts = plan.start_us + (rng.random(who.size) * (plan.end_us - plan.start_us)).astype(np.int64)
    merchant = colluding[rng.integers(0, colluding.size, who.size)]
    amount = np.clip(rng.lognormal(math.log(900), 0.5, who.size), 200, 4_000)
    spend = pays(world, m[who], ts, merchant, amount)
    online = np.flatnonzero(rng.random(who.size) < 0.5)
    person = world.person[m[who[online]]].astype(np.int64)
    spend.device[online] = world.phone_device(person, ts[online])
    spend.ip[online] = world.usual_ip(m[who[online]], ts[online])
    plan.fraud_ts = _first(ts, who, np.arange(s))
    return EventBatch.concat([spend, _second_uses(world, plan, rng, second)])


def _account_takeover(world: World, plan: RingPlan, rng: np.random.Generator) -> EventBatch:
    """Established customers suddenly seen on an attacker device and proxy IP (some with
    their phone changed), money moved out to drop accounts within hours."""
    m, s = plan.members, plan.members.size
    devices = new_devices(world, rng, int(rng.integers(2, 4)), 0.3)
    proxies = new_ips(world, rng, int(rng.integers(2, 5)), 0.5)
    phone = world.new_phones(US, 1)
    codes, kinds = _pool(rng, [(DEVICE, devices), (IP, proxies), (PHONE, phone)])
    item, second = _assign(rng, s, codes, kinds)
    item[DEVICE] = np.where(item[DEVICE] >= 0, item[DEVICE], new_devices(world, rng, s, 0.1))
    item[IP] = np.where(item[IP] >= 0, item[IP], new_ips(world, rng, s, 0.5))
    victims = np.flatnonzero(plan.role == 0)
    drops = np.flatnonzero(plan.role == 1)
    attack = np.sort(_uniform(rng, np.full(victims.size, plan.start_us), plan.end_us))
    takeover = logins(world, m[victims], attack, item[DEVICE][victims], item[IP][victims])
    changed = np.flatnonzero(item[PHONE][victims] >= 0)
    takeover.phone[changed] = item[PHONE][victims[changed]]
    who = np.repeat(np.arange(victims.size), rng.integers(1, 3, victims.size))
    to = drops[np.arange(who.size) % drops.size]
    when = attack[who] + (rng.random(who.size) * 6 * HOUR).astype(np.int64) + 10 * MINUTE
    when = np.maximum(when, world.created[m[to]] + HOUR)
    amount = np.clip(rng.lognormal(math.log(2_500), 0.6, who.size), 300, 9_500)
    v = victims[who]
    drained = sends(m[v], when, m[to], amount, item[DEVICE][v], item[IP][v])
    later = when + (rng.random(who.size) * 12 * HOUR).astype(np.int64) + HOUR
    drop_login = logins(world, m[to], later - 5 * MINUTE, item[DEVICE][to], item[IP][to])
    drop_login.phone = item[PHONE][to]  # the attacker's number on the drop's profile
    plan.fraud_ts = _first(
        np.concatenate([attack, when]), np.concatenate([victims, to]), np.arange(s)
    )
    cash = _cash_out(world, rng, m[to], later, amount, 2)
    extra = _second_uses(world, plan, rng, second)
    return EventBatch.concat([takeover, drained, drop_login, cash, extra])
