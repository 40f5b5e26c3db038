"""Planting the fraud rings: device farms and mule networks here, credit fraud and account
takeover in their own modules, and :func:`plant_rings` running them all.

Device farm
    One operation opens 5 to 25 accounts over days to weeks in small same-hour batches,
    harvests sign-up bonuses and card top-ups, and pays them to one to three collector
    accounts, which pass the money on to exchanges. Most farms run emulators behind
    datacenter proxies or a commercial VPN; four in ten run a rack of real phones on mobile
    data and residential proxies, one or two accounts per phone.
Mule network
    Scam victims pay layer-one mules; each mule passes the money on within hours, keeping
    a cut, to a layer-two mule or an exit account, and exits move it to exchanges. Herded
    networks are opened and run by one herder (shared phones, home IP); recruited ones are
    real people with their own long-standing accounts and share nothing but the flow.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.crosscheck.commerce import Catalogue, merchants_of, ticket_cents
from benchmarks.crosscheck.fraud_credit import bust_out, synthetic_identity
from benchmarks.crosscheck.fraud_takeover import account_takeover
from benchmarks.crosscheck.geo import CARRIERS, METROS
from benchmarks.crosscheck.identities import new_addresses, phone_devices
from benchmarks.crosscheck.ring_kit import (
    RingContext,
    RingPlan,
    cash_out_externals,
    connect,
    datacenter_proxies,
    emulators,
    fresh_identity,
    opened_between,
    pass_on,
    residential_proxies,
    settle,
    voip_phones,
)
from benchmarks.crosscheck.world import (
    AUTO,
    DAY,
    HOUR,
    I64,
    NONE,
    WINDOW_END,
    WINDOW_START,
    EventType,
    Ring,
    World,
)

Planter = Callable[[World, np.random.Generator, RingPlan, RingContext], Ring]


def plant_rings(world: World, plans: list[RingPlan], catalogue: Catalogue) -> None:
    """Plant every planned ring, in plan order, each with its own random stream."""
    taken = world.customers.fraud_opened.copy()
    context = RingContext(catalogue, taken)
    planters: dict[str, Planter] = {
        "device_farm": device_farm,
        "synthetic_identity": synthetic_identity,
        "mule_network": mule_network,
        "bust_out": bust_out,
        "account_takeover": account_takeover,
    }
    for plan in plans:
        rng = world.rng(plan.ring_id)
        world.rings.append(planters[plan.typology](world, rng, plan, context))


def _nat_pool(world: World, rng: np.random.Generator, metro: int, n: int) -> I64:
    """Carrier NAT pools of ``metro`` for ``n`` real handsets."""
    pools = np.array(
        [world.pool_names[f"nat/{k}/{metro}"] for k in range(len(CARRIERS))], dtype=np.int64
    )
    return pools[rng.integers(0, pools.size, n)]


def device_farm(
    world: World, rng: np.random.Generator, plan: RingPlan, context: RingContext
) -> Ring:
    """An account-opening farm paying its harvest to collectors (see module docstring)."""
    c = world.customers
    accounts = plan.opened
    n = accounts.size
    n_collectors = 1 + int(n >= 10) + int(n >= 18)
    metro = int(rng.integers(0, len(METROS)))
    members = fresh_identity(world, accounts, metro)
    start_day = int(rng.integers(5, 140))
    open_ts = np.sort(
        opened_between(rng, world, accounts, start_day, start_day + int(rng.integers(3, 31)))
    )
    own_address = new_addresses(world, rng.integers(0, len(METROS), n))
    vpn_pool = NONE
    if plan.variant == "real_phones":
        members.share(rng, "device", phone_devices(world, max(2, n // 2), rooted_share=0.0), 0.65)
        members.share(rng, "ip", residential_proxies(world, max(2, n // 3)), 0.35)
        address = own_address
        cell_share = 0.5
    else:
        members.share(rng, "device", emulators(world, max(1, n // int(rng.integers(3, 7)))), 0.9)
        if rng.random() < 0.4:
            vpn_pool = world.pool_names[f"vpn/{int(rng.integers(0, 5))}"]
            members.share(rng, "ip", world.ip_pools[vpn_pool], 0.85)
        else:
            members.share(rng, "ip", datacenter_proxies(world, int(rng.integers(2, 7))), 0.85)
        members.share(rng, "phone", voip_phones(world, max(1, n // 3)), 0.45)
        drops = new_addresses(world, np.full(2, metro), unit_share=0.8)
        address = np.where(rng.random(n) < 0.3, drops[rng.integers(0, 2, n)], own_address)
        cell_share = 0.0
    workers = np.arange(n_collectors, n)
    collector_of = rng.integers(0, n_collectors, workers.size)
    members.links = [(int(w), int(k)) for w, k in zip(workers, collector_of, strict=True)]
    members.links += [(k, 0) for k in range(1, n_collectors)]
    connect(rng, members, ("device", "ip", "phone"))
    settle(
        world,
        members,
        address=address,
        open_ts=open_ts,
        activity=rng.uniform(0.1, 0.4, n),
        cell_share=cell_share,
        vpn_pool=vpn_pool,
    )
    if plan.variant == "real_phones":
        c.nat_pool[accounts] = _nat_pool(world, rng, metro, n)
    fraud_ts = np.full(n, WINDOW_END, dtype=np.int64)
    # Promo abuse and card top-ups: small online purchases at gift-card sellers.
    buyer = np.repeat(workers, rng.integers(0, 3, workers.size))
    merchant = merchants_of(rng, context.catalogue, "gift_cards", buyer.size)
    ts = open_ts[buyer] + rng.integers(1 * HOUR, 5 * DAY, buyer.size)
    ok = ts < WINDOW_END
    world.events.add(
        ts[ok],
        EventType.PAYMENT,
        account=accounts[buyer[ok]],
        device=AUTO,
        ip=AUTO,
        card=c.card[accounts[buyer[ok]]],
        merchant=merchant[ok],
        cents=ticket_cents(world, rng, merchant[ok], scale=0.4),
        currency=0,
    )
    # Each worker pays its harvest to its collector once to three times.
    payouts = rng.integers(1, 4, workers.size)
    payer = np.repeat(workers, payouts)
    receiver = np.repeat(collector_of, payouts)
    ts = np.minimum(open_ts[payer] + rng.integers(2 * DAY, 20 * DAY, payer.size), WINDOW_END - HOUR)
    cents = np.round(rng.uniform(5_000, 40_000, payer.size), -2).astype(np.int64)
    ok = ts < WINDOW_END
    world.events.add(
        ts[ok],
        EventType.TRANSFER,
        account=accounts[payer[ok]],
        device=AUTO,
        ip=AUTO,
        counterparty=accounts[receiver[ok]],
        cents=cents[ok],
        currency=0,
    )
    np.minimum.at(fraud_ts, payer[ok], ts[ok])
    np.minimum.at(fraud_ts, receiver[ok], ts[ok])
    exchange = cash_out_externals(world, n_collectors)
    pass_on(
        world,
        rng,
        accounts[receiver[ok]],
        exchange[receiver[ok]],
        ts[ok],
        cents[ok],
        keep=(0.9, 0.99),
        delay_hours=(1.0, 36.0),
    )
    for k in range(1, n_collectors):
        day_ts = min(int(open_ts[k]) + int(rng.integers(10, 25)) * DAY, WINDOW_END - HOUR)
        world.events.add(
            [day_ts],
            EventType.TRANSFER,
            account=accounts[k],
            device=AUTO,
            ip=AUTO,
            counterparty=accounts[0],
            cents=int(rng.integers(200, 1_500)) * 100,
            currency=0,
        )
        fraud_ts[k] = min(fraud_ts[k], day_ts)
    fraud_ts = np.where(fraud_ts >= WINDOW_END, open_ts, fraud_ts)
    return Ring(plan.ring_id, plan.typology, accounts, fraud_ts)


def mule_network(
    world: World, rng: np.random.Generator, plan: RingPlan, context: RingContext
) -> Ring:
    """Victims' money through one or two mule layers to exits (see module docstring)."""
    c = world.customers
    opened = plan.opened
    n_exits = 1 + int(plan.size >= 12) + int(plan.size >= 20)
    exits = opened[:n_exits]
    campaign = int(rng.integers(45, 141))
    length = int(rng.integers(14, min(46, 177 - campaign)))
    start = WINDOW_START + campaign * DAY
    if plan.variant == "recruited":
        # Students and young customers answering "easy money" adverts keep their own
        # phone, home and devices; a few open a new account for it.
        recruits = context.recruit(
            world,
            rng,
            plan.recruits,
            opened_before=start - 20 * DAY,
            prefer=c.campus_ip != NONE,
            prefer_share=0.4,
        )
        mules = np.concatenate([recruits, opened[n_exits:]])
    else:
        mules = opened[n_exits:]
    accounts = np.concatenate([exits, mules])
    n_layer2 = int(mules.size * 0.25) if mules.size >= 6 else 0
    layer2, layer1 = mules[:n_layer2], mules[n_layer2:]
    upstream = np.concatenate([layer2, exits])
    target_of = upstream[rng.integers(0, upstream.size, layer1.size)]
    # Every layer-two mule is fed by at least one layer-one mule.
    target_of[: layer2.size] = layer2
    exit_of = exits[rng.integers(0, exits.size, layer2.size)]
    position = {int(a): i for i, a in enumerate(accounts)}
    flows = list(zip(layer1.tolist(), target_of.tolist(), strict=True))
    flows += list(zip(layer2.tolist(), exit_of.tolist(), strict=True))
    flows += [(int(e), int(exits[0])) for e in exits[1:]]
    if plan.variant == "recruited":
        _recruited_exits(world, rng, opened, start)
    else:
        metro = int(rng.integers(0, len(METROS)))
        members = fresh_identity(world, accounts, metro)
        members.share(rng, "device", phone_devices(world, int(rng.integers(1, 4))), 0.5)
        members.share(rng, "ip", residential_proxies(world, 1), 0.45)
        members.share(rng, "phone", voip_phones(world, 1), 0.2)
        members.links = [(position[a], position[b]) for a, b in flows]
        first = max(0, campaign - int(rng.integers(20, 45)))
        settle(
            world,
            members,
            address=new_addresses(world, np.full(accounts.size, metro)),
            open_ts=opened_between(rng, world, accounts, first, campaign - 3),
            activity=rng.uniform(0.2, 0.6, accounts.size),
            cell_share=0.4,
        )
    fraud_ts = np.full(accounts.size, WINDOW_END, dtype=np.int64)

    def seen(account: I64, ts: I64) -> None:
        np.minimum.at(fraud_ts, np.array([position[int(a)] for a in account], dtype=np.int64), ts)

    # Victims pay round sums to every layer-one mule during the campaign.
    per_mule = rng.integers(2, 9, layer1.size)
    first_hop = np.repeat(np.arange(layer1.size), per_mule)
    victims = context.victims(world, rng, first_hop.size, start)
    repeat = 1 + (rng.random(first_hop.size) < 0.3)
    victim, first_hop = np.repeat(victims, repeat), np.repeat(first_hop, repeat)
    mule = layer1[first_hop]
    ts = start + rng.integers(0, length * DAY, victim.size)
    ts = np.maximum(ts, np.maximum(c.open_ts[victim], c.open_ts[mule]) + DAY)
    amounts = np.array([500, 800, 1_000, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000])
    cents = rng.choice(amounts, victim.size) * 100
    world.events.add(
        ts,
        EventType.TRANSFER,
        account=victim,
        device=AUTO,
        ip=AUTO,
        counterparty=mule,
        cents=cents,
        currency=0,
    )
    seen(mule, ts)
    target = target_of[first_hop]
    hop_ts, hop_cents = pass_on(
        world, rng, mule, target, ts, cents, keep=(0.85, 0.95), delay_hours=(0.3, 20.0)
    )
    seen(mule, hop_ts)
    seen(target, hop_ts)
    is_l2 = np.isin(target, layer2)
    exit_target = np.empty(0, dtype=np.int64)
    if layer2.size:
        order = np.argsort(layer2)
        exit_target = exit_of[order][np.searchsorted(layer2[order], target[is_l2])]
    t3, c3 = pass_on(
        world,
        rng,
        target[is_l2],
        exit_target,
        hop_ts[is_l2],
        hop_cents[is_l2],
        keep=(0.9, 0.97),
        delay_hours=(0.5, 12.0),
    )
    seen(exit_target, t3)
    at_exit = np.concatenate([target[~is_l2], exit_target])
    exit_ts = np.concatenate([hop_ts[~is_l2], t3])
    exit_cents = np.concatenate([hop_cents[~is_l2], c3])
    exchanges = cash_out_externals(world, 3)
    pass_on(
        world,
        rng,
        at_exit,
        exchanges[rng.integers(0, 3, at_exit.size)],
        exit_ts,
        exit_cents,
        keep=(0.97, 1.0),
        delay_hours=(0.2, 6.0),
    )
    for k in range(1, exits.size):
        t = start + int(rng.integers(length // 2, length + 1)) * DAY
        world.events.add(
            [t],
            EventType.TRANSFER,
            account=exits[k],
            device=AUTO,
            ip=AUTO,
            counterparty=exits[0],
            cents=int(rng.integers(20, 80)) * 10_000,
            currency=0,
        )
        seen(exits[k : k + 1], np.array([t]))
    fraud_ts = np.where(fraud_ts >= WINDOW_END, start, fraud_ts)
    return Ring(plan.ring_id, plan.typology, accounts, fraud_ts)


def _recruited_exits(world: World, rng: np.random.Generator, opened: I64, start: int) -> None:
    """Accounts a recruited network opens: each on its owner's own phone, home and SIM."""
    c = world.customers
    new_open = start - rng.integers(5, 31, opened.size) * DAY
    new_open += rng.integers(9 * HOUR, 22 * HOUR, opened.size)
    for i, account in enumerate(opened):
        member = fresh_identity(world, opened[i : i + 1], int(rng.integers(0, len(METROS))))
        settle(
            world,
            member,
            address=new_addresses(world, [int(c.metro[account])]),
            open_ts=new_open[i : i + 1],
            activity=rng.uniform(0.3, 0.8, 1),
            cell_share=0.4,
        )
        c.nat_pool[account] = _nat_pool(world, rng, int(c.metro[account]), 1)[0]
