"""Account takeover rings.

An attacker group phishes or credential-stuffs established customers, logs into their
accounts from its own few devices (anti-detect browsers, sometimes an emulator) through
residential proxies (most rings) or a commercial VPN the bank's own customers use too,
often swaps the contact phone or email to catch one-time codes, and within hours moves
the balance to one to four drop accounts it opened a few days or weeks earlier. Drops pass
the money on to exchanges. The victims keep living their ordinary lives before and after.
Ring members are the drops and the taken-over accounts.
"""

from __future__ import annotations

import numpy as np

from benchmarks.crosscheck.commerce import merchants_of, ticket_cents
from benchmarks.crosscheck.geo import METROS
from benchmarks.crosscheck.identities import DeviceKind, new_addresses, new_devices, new_emails
from benchmarks.crosscheck.ring_kit import (
    Members,
    RingContext,
    RingPlan,
    cash_out_externals,
    connect,
    emulators,
    fresh_identity,
    opened_between,
    pass_on,
    residential_proxies,
    settle,
    voip_phones,
)
from benchmarks.crosscheck.world import (
    DAY,
    HOUR,
    NONE,
    WINDOW_START,
    EventType,
    Ring,
    World,
)


def account_takeover(
    world: World, rng: np.random.Generator, plan: RingPlan, context: RingContext
) -> Ring:
    """Taken-over customers emptied into drop accounts (see module docstring)."""
    c = world.customers
    drops = plan.opened
    campaign = int(rng.integers(30, 160))
    length = int(rng.integers(3, min(26, 178 - campaign)))
    start = WINDOW_START + campaign * DAY
    victims = context.recruit(world, rng, plan.recruits, opened_before=WINDOW_START - 60 * DAY)
    metro = int(rng.integers(0, len(METROS)))

    browsers = new_devices(
        world, rng.choice(np.array([DeviceKind.WINDOWS, DeviceKind.LINUX]), int(rng.integers(1, 3)))
    )
    kit_devices = (
        np.concatenate([browsers, emulators(world, 1)]) if rng.random() < 0.3 else browsers
    )
    vpn_pool = NONE
    if plan.variant == "vpn":
        vpn_pool = world.pool_names[f"vpn/{int(rng.integers(0, 5))}"]
        kit_ips = world.ip_pools[vpn_pool]
    else:
        kit_ips = residential_proxies(world, int(rng.integers(3, 11)))
    attacker_phones = voip_phones(world, int(rng.integers(1, 3)))
    attacker_email = new_emails(world, 1)

    nv = victims.size
    drop_side = fresh_identity(world, drops, metro)
    drop_side.share(rng, "device", kit_devices, 0.6)
    drop_side.share(rng, "ip", kit_ips, 0.5)
    victim_ids = {
        "device": kit_devices[rng.integers(0, kit_devices.size, nv)],
        "ip": kit_ips[rng.integers(0, kit_ips.size, nv)],
        "phone": np.where(
            rng.random(nv) < 0.45, attacker_phones[rng.integers(0, attacker_phones.size, nv)], NONE
        ),
        "email": np.where(rng.random(nv) < 0.25, attacker_email[0], NONE),
        "card": np.full(nv, NONE),
    }
    accounts = np.concatenate([victims, drops])
    members = Members(accounts)
    for kind, values in victim_ids.items():
        members.ids[kind] = np.concatenate([values, drop_side.ids[kind]]).astype(np.int64)
    drop_of = rng.integers(0, drops.size, nv)
    members.links = [(v, nv + int(d)) for v, d in enumerate(drop_of)]
    connect(rng, members, ("device", "ip"))
    drop_side.ids = {kind: values[nv:] for kind, values in members.ids.items()}
    settle(
        world,
        drop_side,
        address=new_addresses(world, np.full(drops.size, metro), unit_share=0.6),
        open_ts=opened_between(rng, world, drops, max(0, campaign - 25), campaign - 3),
        activity=rng.uniform(0.1, 0.3, drops.size),
        cell_share=0.0,
        vpn_pool=vpn_pool,
    )

    # The takeover: one to three logins from the kit, the first with the contact swap.
    taken_at = start + rng.integers(0, length * DAY, nv)
    logins = rng.integers(1, 4, nv)
    victim = np.repeat(np.arange(nv), logins)
    first = np.r_[True, victim[1:] != victim[:-1]]
    login_ts = taken_at[victim] + np.where(first, 0, rng.integers(5 * 60, 2 * HOUR, victim.size))
    world.events.add(
        login_ts,
        EventType.LOGIN,
        account=victims[victim],
        device=members.ids["device"][victim],
        ip=members.ids["ip"][victim],
        phone=np.where(first, members.ids["phone"][victim], NONE),
        email=np.where(first, members.ids["email"][victim], NONE),
    )
    # Then the balance goes to a drop, sometimes in two transfers.
    parts = 1 + (rng.random(nv) < 0.3)
    victim = np.repeat(np.arange(nv), parts)
    ts = taken_at[victim] + rng.integers(10 * 60, 3 * HOUR, victim.size)
    cents = np.round(rng.lognormal(np.log(250_000), 0.7, victim.size) / parts[victim], -2)
    drop = drops[drop_of[victim]]
    world.events.add(
        ts,
        EventType.TRANSFER,
        account=victims[victim],
        device=members.ids["device"][victim],
        ip=members.ids["ip"][victim],
        counterparty=drop,
        cents=cents.astype(np.int64),
        currency=0,
    )
    pass_on(
        world,
        rng,
        drop,
        cash_out_externals(world, 2)[rng.integers(0, 2, victim.size)],
        ts,
        cents.astype(np.int64),
        keep=(0.95, 1.0),
        delay_hours=(0.3, 8.0),
    )
    # Some attackers also buy gift cards on the victim's card, delivered to a drop address.
    buyers = np.flatnonzero(rng.random(nv) < 0.3)
    merchant = merchants_of(rng, context.catalogue, "gift_cards", buyers.size)
    world.events.add(
        taken_at[buyers] + rng.integers(15 * 60, 4 * HOUR, buyers.size),
        EventType.PAYMENT,
        account=victims[buyers],
        device=members.ids["device"][buyers],
        ip=members.ids["ip"][buyers],
        card=c.card[victims[buyers]],
        address=c.address[drops[drop_of[buyers]]],
        merchant=merchant,
        cents=ticket_cents(world, rng, merchant, scale=3.0),
        currency=0,
    )
    fraud_ts = np.concatenate([taken_at, np.full(drops.size, start + length * DAY)])
    for d in range(drops.size):
        received = ts[drop_of[victim] == d]
        if received.size:
            fraud_ts[nv + d] = received.min()
    return Ring(plan.ring_id, plan.typology, accounts, fraud_ts)
