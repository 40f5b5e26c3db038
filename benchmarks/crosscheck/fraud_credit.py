"""Credit fraud rings: synthetic identities and bust-outs.

Synthetic identity
    One fraudster assembles 3 to 14 identities (each its own name and email) and opens an
    account for each over weeks. They come back to a few drop addresses (mailbox units,
    spelt differently), a few internet phone numbers and the fraudster's own phones and
    home line; some are piggybacked as authorised users on one seasoned card. They build
    credit with small monthly bills, then cash out together: large online purchases
    shipped to the drops and transfers to one identity that moves the money away.
Bust-out
    3 to 12 accounts, a third opened long before the export, keep a quiet, modest history
    for months, then within a few days spend hard at the same few merchants (with a
    colluding merchant in four rings in ten) and pass balances to one member who moves the
    money out.
"""

from __future__ import annotations

import numpy as np

from benchmarks.crosscheck.commerce import CATEGORY, merchants_of, ticket_cents
from benchmarks.crosscheck.geo import CASHOUT_CATEGORIES, METROS
from benchmarks.crosscheck.identities import (
    computer_devices,
    new_addresses,
    new_cards,
    phone_devices,
    residential_ips,
)
from benchmarks.crosscheck.ring_kit import (
    RingContext,
    RingPlan,
    cash_out_externals,
    connect,
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
    local_time,
)


def _drop_addresses(
    world: World, rng: np.random.Generator, metro: int, k: int, n: int, p: float
) -> I64:
    """Per member: one of ``k`` drop buildings (its own unit there half the time) or home."""
    drops = new_addresses(world, np.full(k, metro), unit_share=0.7)
    which = drops[rng.integers(0, k, n)]
    units = (rng.integers(1, 30, n)).astype(str).astype(object)
    other_unit = new_addresses(world, np.full(n, metro), building=which, units=units)
    at_drop = np.where(rng.random(n) < 0.5, which, other_unit)
    own = new_addresses(world, rng.integers(0, len(METROS), n))
    return np.where(rng.random(n) < p, at_drop, own)


def synthetic_identity(
    world: World, rng: np.random.Generator, plan: RingPlan, context: RingContext
) -> Ring:
    """Synthetic identities building credit, then cashing out (see module docstring)."""
    c = world.customers
    accounts = plan.opened
    n = accounts.size
    metro = int(rng.integers(0, len(METROS)))
    members = fresh_identity(world, accounts, metro)
    own_cards = members.ids["card"].copy()
    address = _drop_addresses(world, rng, metro, int(rng.integers(1, 4)), n, 0.8)
    members.share(rng, "phone", voip_phones(world, int(rng.integers(1, 4))), 0.6)
    members.share(rng, "device", phone_devices(world, int(rng.integers(1, 3))), 0.5)
    members.share(rng, "ip", residential_ips(world, int(rng.integers(1, 3))), 0.6)
    tradeline = new_cards(world, 1)
    members.ids["card"] = np.where(rng.random(n) < 0.4, tradeline[0], NONE)
    connect(rng, members, ("device", "ip", "phone", "card"))
    piggyback = members.ids["card"] == tradeline[0]
    first_day = int(rng.integers(0, 50))
    open_ts = np.sort(rng.integers(0, int(rng.integers(14, 61)) * DAY, n)) + WINDOW_START
    open_ts += first_day * DAY + rng.integers(8, 22) * HOUR
    members.ids["card"] = np.where(piggyback, tradeline[0], own_cards)
    settle(
        world,
        members,
        address=address,
        open_ts=open_ts,
        activity=rng.uniform(0.3, 0.7, n),
        cell_share=0.2,
    )
    c.card[accounts] = own_cards
    c.shared_card[accounts[piggyback]] = tradeline[0]
    # Credit building: the same small bill every month, paid on time, from the first week.
    bust_day = int(rng.integers(max(open_ts.max() - WINDOW_START, 0) // DAY + 45, 176))
    bust_day = min(bust_day, 176)
    month = np.arange(7)
    member = np.repeat(np.arange(n), month.size)
    ts = np.repeat(open_ts, month.size) + 5 * DAY + np.tile(month, n) * 30 * DAY
    ok = ts < WINDOW_START + bust_day * DAY
    member, ts = member[ok], ts[ok]
    bill = merchants_of(rng, context.catalogue, "subscription", n)[member]
    world.events.add(
        ts,
        EventType.PAYMENT,
        account=accounts[member],
        device=AUTO,
        ip=AUTO,
        card=members.ids["card"][member],
        merchant=bill,
        cents=np.round(rng.uniform(1_500, 9_000, n), -2).astype(np.int64)[member],
        currency=0,
    )
    # Cash-out: two to six large purchases each, shipped to the drops, within four days.
    spree = np.repeat(np.arange(n), rng.integers(2, 7, n))
    category = rng.choice(np.array(["electronics", "gift_cards", "jewelry"]), spree.size)
    merchant = np.concatenate(
        [merchants_of(rng, context.catalogue, str(cat), 1) for cat in category]
    )
    ts = local_time(rng, bust_day + rng.integers(0, 4, spree.size), metro)
    world.events.add(
        ts,
        EventType.PAYMENT,
        account=accounts[spree],
        device=AUTO,
        ip=AUTO,
        card=np.where(rng.random(spree.size) < 0.7, own_cards[spree], members.ids["card"][spree]),
        address=address[spree],
        merchant=merchant,
        cents=ticket_cents(world, rng, merchant, scale=4.0),
        currency=0,
    )
    fraud_ts = np.full(n, WINDOW_END, dtype=np.int64)
    np.minimum.at(fraud_ts, spree, ts)
    senders = np.flatnonzero(rng.random(n) < 0.5)
    senders = senders[senders != 0]
    ts_out = local_time(rng, np.full(senders.size, bust_day + 1), metro)
    cents = np.round(rng.uniform(100_000, 400_000, senders.size), -2).astype(np.int64)
    world.events.add(
        ts_out,
        EventType.TRANSFER,
        account=accounts[senders],
        device=AUTO,
        ip=AUTO,
        counterparty=accounts[0],
        cents=cents,
        currency=0,
    )
    if senders.size:
        pass_on(
            world,
            rng,
            np.full(1, accounts[0]),
            cash_out_externals(world, 1),
            np.array([ts_out.max()]),
            np.array([cents.sum()]),
            keep=(0.95, 1.0),
            delay_hours=(1.0, 20.0),
        )
    return Ring(plan.ring_id, plan.typology, accounts, np.minimum(fraud_ts, WINDOW_END - DAY))


def bust_out(world: World, rng: np.random.Generator, plan: RingPlan, context: RingContext) -> Ring:
    """Quiet accounts that bust out together at a few merchants (see module docstring)."""
    c = world.customers
    accounts = plan.opened
    n = accounts.size
    metro = int(rng.integers(0, len(METROS)))
    members = fresh_identity(world, accounts, metro)
    organiser = np.concatenate([phone_devices(world, 1), computer_devices(world, 1)])
    members.share(rng, "device", organiser[: int(rng.integers(1, 3))], 0.5)
    members.share(rng, "ip", residential_proxies(world, 1), 0.4)
    members.share(rng, "phone", voip_phones(world, 1), 0.35)
    address = _drop_addresses(world, rng, metro, int(rng.integers(1, 3)), n, 0.6)
    # Balances go to member 0 during the bust-out, so the flow links every member.
    members.links = [(i, 0) for i in range(1, n)]
    if rng.random() < 0.35:
        open_ts = WINDOW_START - rng.integers(30, 300, n) * DAY + rng.integers(9, 21, n) * HOUR
    else:
        open_ts = opened_between(rng, world, accounts, 0, int(rng.integers(10, 41)))
    settle(
        world,
        members,
        address=address,
        open_ts=open_ts,
        activity=rng.uniform(0.25, 0.55, n),
        cell_share=0.3,
    )
    burst = int(rng.integers(135, 176))
    national = [
        merchants_of(rng, context.catalogue, str(cat), 1)[0]
        for cat in rng.choice(np.array(CASHOUT_CATEGORIES[:3]), int(rng.integers(3, 6)))
    ]
    if plan.variant == "collusive_merchant":
        shop = int(world.entities.merchants.add(1, category=CATEGORY["jewelry"], metro=metro)[0])
        _shop_regulars(world, rng, shop, metro)
        national.append(shop)
    shops = np.array(national, dtype=np.int64)
    # Each member logs in from its usual place, then spends for up to four days.
    login_ts = local_time(rng, np.full(n, burst), metro)
    world.events.add(
        login_ts,
        EventType.LOGIN,
        account=accounts,
        device=members.ids["device"],
        ip=members.ids["ip"],
    )
    spender = np.repeat(np.arange(n), rng.integers(4, 11, n))
    merchant = shops[rng.integers(0, shops.size, spender.size)]
    ts = login_ts[spender] + rng.integers(10 * 60, 4 * DAY, spender.size)
    # The colluding shop (or the last chain store) is visited in person, the rest online.
    in_store = (merchant == shops[-1]) | (rng.random(spender.size) < 0.2)
    world.events.add(
        ts,
        EventType.PAYMENT,
        account=accounts[spender],
        device=np.where(in_store, NONE, AUTO),
        ip=np.where(in_store, NONE, AUTO),
        card=c.card[accounts[spender]],
        merchant=merchant,
        cents=np.round(rng.uniform(40_000, 300_000, spender.size), -2).astype(np.int64),
        currency=0,
    )
    ts_out = login_ts[1:] + rng.integers(DAY, 3 * DAY, n - 1)
    cents = np.round(rng.uniform(100_000, 500_000, n - 1), -2).astype(np.int64)
    world.events.add(
        ts_out,
        EventType.TRANSFER,
        account=accounts[1:],
        device=AUTO,
        ip=AUTO,
        counterparty=accounts[0],
        cents=cents,
        currency=0,
    )
    pass_on(
        world,
        rng,
        np.full(n - 1, accounts[0]),
        cash_out_externals(world, 1).repeat(n - 1),
        ts_out,
        cents,
        keep=(0.95, 1.0),
        delay_hours=(2.0, 30.0),
    )
    return Ring(plan.ring_id, plan.typology, accounts, login_ts)


def _shop_regulars(world: World, rng: np.random.Generator, shop: int, metro: int) -> None:
    """A colluding jeweller still has a few genuine customers."""
    c = world.customers
    people = world.legit_individuals()
    local = people[(c.metro[people] == metro) & (c.open_ts[people] < WINDOW_START)]
    buyers = rng.choice(local, size=min(local.size, int(rng.integers(5, 21))), replace=False)
    world.events.add(
        local_time(rng, rng.integers(0, 180, buyers.size), metro, hours=(10.0, 19.0)),
        EventType.PAYMENT,
        account=buyers,
        card=c.card[buyers],
        merchant=shop,
        cents=np.round(rng.lognormal(np.log(30_000), 0.8, buyers.size), -2).astype(np.int64),
        currency=0,
    )
