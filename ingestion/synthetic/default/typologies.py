"""Planting the rings: the events of each fraud typology."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from graph_service.typing import I64
from ingestion.synthetic.default.config import ScenarioConfig, Typology
from ingestion.synthetic.default.events import (
    DAY,
    HOUR,
    LOGIN,
    PAYMENT,
    SIGNUP,
    TRANSFER,
    EventBatch,
    events,
    money,
    uniform_ts,
)
from ingestion.synthetic.default.planning import RingPlan
from ingestion.synthetic.default.population import Population
from ingestion.synthetic.default.tables import (
    ADDRESS_VARIANTS,
    ANDROID,
    EMAIL_VARIANTS,
    GMAIL,
    PHONE_FORMATS,
    WINDOWS,
)


def plant_rings(
    population: Population, plans: Sequence[RingPlan], config: ScenarioConfig
) -> EventBatch:
    """Generate every ring's events; return them sorted by time.

    Notes
    -----
    One Python iteration per ring, vectorised within; O(ring events log ring events).
    """
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
    planters: dict[Typology, Callable[[Population, RingPlan, np.random.Generator], EventBatch]]
    planters = {
        Typology.DEVICE_FARM: _device_farm,
        Typology.SYNTHETIC_IDENTITY: _synthetic_identity,
        Typology.MULE_NETWORK: _mule_network,
        Typology.BUST_OUT: _bust_out,
        Typology.ACCOUNT_TAKEOVER: _account_takeover,
    }
    batches = []
    for plan in plans:
        batch = planters[plan.typology](population, plan, rng)
        batch.ts = np.clip(batch.ts, population.start_us, population.end_us - 1)
        plan.last_event_us = int(batch.ts.max())
        batches.append(batch)
    planted = EventBatch.concat(batches)
    return planted.take(np.argsort(planted.ts, kind="stable"))


def _per_member(rng: np.random.Generator, size: int, low: int, high: int) -> I64:
    """Member positions repeated ``low..high`` (inclusive) times each."""
    return np.repeat(np.arange(size), rng.integers(low, high + 1, size))


def _device_farm(population: Population, plan: RingPlan, rng: np.random.Generator) -> EventBatch:
    """Burst sign-ups on shared emulators behind proxies, small spend, pay a collector."""
    m, s = plan.members, plan.members.size
    created = population.created[m]
    n_devices = max(2, s // 6)
    farm = population.new_devices(
        np.ones(n_devices, np.bool_), rng.random(n_devices) < 0.3, np.full(n_devices, ANDROID)
    )
    proxies = population.new_ips(rng, int(rng.integers(2, 5)), proxy=1.0)
    # Member i runs on farm device i % n_devices: every device serves >= 5 accounts.
    primary = farm[np.arange(s) % n_devices]
    throwaway = np.asarray([2, 7, 8, 9], np.int64)[rng.integers(0, 4, s)]
    population.ring_signup[m] = True
    signups = events(
        m,
        created,
        SIGNUP,
        device=primary,
        ip=rng.choice(proxies, s),
        phone=population.phone(m),
        phone_fmt=rng.integers(0, PHONE_FORMATS, s),
        email=population.new_mailboxes(throwaway),
    )
    who = _per_member(rng, s, 4, 12)
    k = who.size
    device = np.where(rng.random(k) < 0.3, rng.choice(farm, k), primary[who])
    logins = events(
        m[who],
        created[who] + uniform_ts(rng, HOUR, plan.end_us - plan.start_us, k),
        LOGIN,
        device=device,
        ip=rng.choice(proxies, k),
    )
    who = _per_member(rng, s, 1, 3)
    k = who.size
    payments = events(
        m[who],
        created[who] + uniform_ts(rng, 2 * HOUR, 10 * DAY, k),
        PAYMENT,
        device=primary[who],
        card=m[who] * 2,
        merchant=population.popular_merchants(rng, k),
        amount=money(rng.uniform(1, 15, k)),
    )
    senders = np.flatnonzero(rng.random(s) < 0.7)
    senders = senders[senders > 0]
    after = int(created.max()) + HOUR
    transfers = events(
        m[senders],
        uniform_ts(rng, after, max(plan.end_us, after + DAY), senders.size),
        TRANSFER,
        device=primary[senders],
        ip=rng.choice(proxies, senders.size),
        counterparty=m[0],
        amount=money(rng.uniform(10, 60, senders.size)),
    )
    return EventBatch.concat([signups, logins, payments, transfers])


def _synthetic_identity(
    population: Population, plan: RingPlan, rng: np.random.Generator
) -> EventBatch:
    """Accounts recombining a few phones, one Gmail mailbox and addresses, each re-spelt."""
    m, s = plan.members, plan.members.size
    created = population.created[m]
    phones = population.new_phones(int(rng.integers(1, 3)))
    mailbox = population.new_mailboxes(np.array([GMAIL]))[0]
    addresses = population.new_addresses(int(rng.integers(1, 3)))
    shared_device = population.new_devices(
        np.zeros(1, np.bool_), np.zeros(1, np.bool_), rng.integers(0, 2, 1)
    )[0]
    use_phone = rng.random(s) < 0.75
    use_mail = rng.random(s) < 0.7
    use_address = rng.random(s) < 0.8
    # Every shared identifier is shared by at least two members.
    use_phone[[0, 2]] = True
    use_mail[[0, 1]] = True
    use_address[[1, 2]] = True
    home = population.household(m)
    phone = np.where(use_phone, rng.choice(phones, s), population.phone(m))
    email = np.where(use_mail, mailbox, population.email(m))
    address = np.where(use_address, rng.choice(addresses, s), home)
    device = np.where(rng.random(s) < 0.4, shared_device, m * 4)
    # Consecutive members get different spellings of the shared mailbox.
    email_var = (np.arange(s) + int(rng.integers(0, EMAIL_VARIANTS))) % EMAIL_VARIANTS
    population.ring_signup[m] = True
    signups = events(
        m,
        created,
        SIGNUP,
        device=device,
        ip=population.home_ip(home),
        phone=phone,
        phone_fmt=rng.integers(0, PHONE_FORMATS, s),
        email=email,
        email_var=np.where(use_mail, email_var, 0),
        address=address,
        address_var=rng.integers(0, ADDRESS_VARIANTS, s),
    )
    who = _per_member(rng, s, 3, 8)
    k = who.size
    logins = events(
        m[who],
        uniform_ts(rng, created[who] + HOUR, plan.end_us, k),
        LOGIN,
        device=device[who],
        ip=population.home_ip(home[who]),
    )
    typed = rng.random(k) < 0.3
    logins.email[typed] = email[who][typed]
    logins.email_var[typed] = rng.integers(0, EMAIL_VARIANTS, int(typed.sum()))
    otp = rng.random(k) < 0.2
    logins.phone[otp] = phone[who][otp]
    logins.phone_fmt[otp] = rng.integers(0, PHONE_FORMATS, int(otp.sum()))
    who = _per_member(rng, s, 2, 6)
    k = who.size
    ts = uniform_ts(rng, created[who] + DAY, plan.end_us, k)
    ramp = 1.0 + 3.0 * (ts - plan.start_us) / max(plan.end_us - plan.start_us, 1)
    payments = events(
        m[who],
        ts,
        PAYMENT,
        device=device[who],
        card=m[who] * 2,
        merchant=population.popular_merchants(rng, k),
        amount=money(rng.uniform(20, 150, k) * ramp),
    )
    billing = rng.random(k) < 0.5
    payments.address[billing] = address[who][billing]
    payments.address_var[billing] = rng.integers(0, ADDRESS_VARIANTS, int(billing.sum()))
    return EventBatch.concat([signups, logins, payments])


def _mule_network(population: Population, plan: RingPlan, rng: np.random.Generator) -> EventBatch:
    """Victim fan-in, consolidation into collectors, fan-out and cycles among mules."""
    m, s = plan.members, plan.members.size
    t0, t1 = plan.start_us, plan.end_us
    length = t1 - t0
    n_collectors = max(1, s // 8)
    collectors, mules = m[:n_collectors], m[n_collectors:]
    n_devices = max(1, s // 4)
    devices = population.new_devices(
        np.zeros(n_devices, np.bool_), rng.random(n_devices) < 0.2, rng.integers(0, 2, n_devices)
    )
    ring_ips = population.new_ips(rng, int(rng.integers(1, 3)), proxy=0.3, residential=True)
    # Light sharing: about half the members run on a ring phone shared by two or three.
    primary = np.where(rng.random(s) < 0.5, devices[np.arange(s) % n_devices], m * 4)
    home_ip = population.home_ip(population.household(m))
    batches: list[EventBatch] = []

    def mule_ip(members: I64) -> I64:
        on_ring = rng.random(members.size) < 0.4
        return np.where(on_ring, rng.choice(ring_ips, members.size), home_ip[members])

    # Fan-in: legitimate victims pay mules (authorised push-payment scams).
    n_victims = rng.integers(2, 7, mules.size)
    target = np.repeat(np.arange(n_collectors, s), n_victims)
    victims = population.bystanders(rng, target.size, t0)
    batches.append(
        events(
            victims,
            uniform_ts(rng, t0, t0 + int(0.6 * length), victims.size),
            TRANSFER,
            device=victims * 4,
            ip=population.home_ip(population.household(victims)),
            counterparty=m[target],
            amount=money(rng.lognormal(math.log(600), 0.5, victims.size)),
        )
    )
    # Consolidation into collectors.
    who = n_collectors + _per_member(rng, mules.size, 1, 3)
    batches.append(
        events(
            m[who],
            uniform_ts(rng, t0 + int(0.3 * length), t0 + int(0.9 * length), who.size),
            TRANSFER,
            device=primary[who],
            ip=mule_ip(who),
            counterparty=rng.choice(collectors, who.size),
            amount=money(rng.uniform(200, 2_500, who.size)),
        )
    )
    # Fan-out from collectors to mules.
    who = _per_member(rng, n_collectors, 4, 10)
    if mules.size:
        batches.append(
            events(
                m[who],
                uniform_ts(rng, t0 + int(0.4 * length), t1, who.size),
                TRANSFER,
                device=primary[who],
                ip=mule_ip(who),
                counterparty=rng.choice(mules, who.size),
                amount=money(rng.uniform(100, 1_000, who.size)),
            )
        )
    # Cycles: money goes round a loop of 3-6 mules, once or twice.
    loop = np.arange(n_collectors, n_collectors + min(mules.size, int(rng.integers(3, 7))))
    if loop.size >= 2:
        for round_ in range(int(rng.integers(1, 3))):
            ts = t0 + int((0.2 + 0.3 * round_) * length) + np.arange(loop.size) * 3 * HOUR
            batches.append(
                events(
                    m[loop],
                    ts,
                    TRANSFER,
                    device=primary[loop],
                    ip=mule_ip(loop),
                    counterparty=m[np.roll(loop, -1)],
                    amount=money(900.0 * 0.97 ** np.arange(loop.size)),
                )
            )
    who = _per_member(rng, s, 3, 8)
    batches.append(
        events(
            m[who],
            uniform_ts(rng, t0, t1, who.size),
            LOGIN,
            device=primary[who],
            ip=mule_ip(who),
        )
    )
    return EventBatch.concat(batches)


def _bust_out(population: Population, plan: RingPlan, rng: np.random.Generator) -> EventBatch:
    """Old accounts sharing an address/phone max out their cards at colluding merchants."""
    m, s = plan.members, plan.members.size
    created = population.created[m]
    t0, t1 = plan.start_us, plan.end_us
    merchants = population.new_merchants(int(rng.integers(1, 4)))
    address = population.new_addresses(1)[0]
    phone = population.new_phones(1)[0]
    use_address = rng.random(s) < 0.8
    use_phone = rng.random(s) < 0.6
    use_address[[0, 1]] = True
    use_phone[[1, 2]] = True
    home = population.household(m)
    home_ip = population.home_ip(home)
    population.ring_signup[m] = True
    batches = [
        events(
            m,
            created,
            SIGNUP,
            device=m * 4,
            ip=home_ip,
            phone=np.where(use_phone, phone, population.phone(m)),
            phone_fmt=rng.integers(0, PHONE_FORMATS, s),
            email=population.email(m),
            address=np.where(use_address, address, home),
            address_var=rng.integers(0, ADDRESS_VARIANTS, s),
        )
    ]
    # Warm-up: small purchases at the colluding merchants while building history.
    who = _per_member(rng, s, 1, 2)
    batches.append(
        events(
            m[who],
            uniform_ts(rng, created[who] + 7 * DAY, t0 - DAY, who.size),
            PAYMENT,
            device=m[who] * 4,
            card=m[who] * 2,
            merchant=rng.choice(merchants, who.size),
            amount=money(rng.uniform(10, 80, who.size)),
        )
    )
    # The bust: big coordinated spend within a few days, on every card they hold.
    who = _per_member(rng, s, 2, 6)
    k = who.size
    cards = population.card_count(m[who])
    bust = events(
        m[who],
        uniform_ts(rng, t0, t1, k),
        PAYMENT,
        device=m[who] * 4,
        card=m[who] * 2 + (rng.random(k) * cards).astype(np.int64),
        merchant=rng.choice(merchants, k),
        amount=money(rng.uniform(400, 4_000, k)),
    )
    billing = use_address[who]
    bust.address[billing] = address
    bust.address_var[billing] = rng.integers(0, ADDRESS_VARIANTS, int(billing.sum()))
    batches.append(bust)
    who = _per_member(rng, s, 1, 3)
    batches.append(
        events(
            m[who],
            uniform_ts(rng, t0 - DAY, t1, who.size),
            LOGIN,
            device=m[who] * 4,
            ip=home_ip[who],
        )
    )
    # A few ordinary customers also shop at the colluding merchants.
    outsiders = population.bystanders(rng, int(rng.integers(0, 3)), t0)
    batches.append(
        events(
            outsiders,
            uniform_ts(
                rng, np.maximum(population.created[outsiders], t0 - 30 * DAY), t1, outsiders.size
            ),
            PAYMENT,
            device=outsiders * 4,
            card=outsiders * 2,
            merchant=rng.choice(merchants, outsiders.size),
            amount=money(rng.uniform(5, 60, outsiders.size)),
        )
    )
    return EventBatch.concat(batches)


def _account_takeover(
    population: Population, plan: RingPlan, rng: np.random.Generator
) -> EventBatch:
    """Attacker logins into old accounts from proxies, then transfers out to drops."""
    m, s = plan.members, plan.members.size
    t0, t1 = plan.start_us, plan.end_us
    victims, drops = m[: s - plan.drops], m[s - plan.drops :]
    n_devices = int(rng.integers(1, 4))
    attacker_devices = population.new_devices(
        rng.random(n_devices) < 0.3,
        np.zeros(n_devices, np.bool_),
        np.where(rng.random(n_devices) < 0.5, WINDOWS, ANDROID),
    )
    attacker_ips = population.new_ips(rng, int(rng.integers(2, 5)), proxy=0.9)
    attacker_phone = population.new_phones(1)[0]
    who = _per_member(rng, victims.size, 2, 5)
    k = who.size
    logins = events(
        victims[who],
        uniform_ts(rng, t0, t1, k),
        LOGIN,
        device=rng.choice(attacker_devices, k),
        ip=rng.choice(attacker_ips, k),
    )
    # The attacker registers their own phone for one-time passcodes.
    swap = rng.random(k) < 0.3
    logins.phone[swap] = attacker_phone
    logins.phone_fmt[swap] = rng.integers(0, PHONE_FORMATS, int(swap.sum()))
    who = _per_member(rng, victims.size, 1, 3)
    k = who.size
    cash_out = events(
        victims[who],
        uniform_ts(rng, t0 + 2 * HOUR, t1 + DAY, k),
        TRANSFER,
        device=rng.choice(attacker_devices, k),
        ip=rng.choice(attacker_ips, k),
        counterparty=rng.choice(drops, k),
        amount=money(rng.uniform(300, 3_000, k)),
    )
    who = _per_member(rng, drops.size, 1, 3)
    drop_logins = events(
        drops[who],
        uniform_ts(rng, t0, t1 + DAY, who.size),
        LOGIN,
        device=rng.choice(attacker_devices, who.size),
        ip=rng.choice(attacker_ips, who.size),
    )
    who = _per_member(rng, drops.size, 1, 2)
    drop_spend = events(
        drops[who],
        uniform_ts(rng, t1, t1 + 2 * DAY, who.size),
        PAYMENT,
        device=drops[who] * 4,
        card=drops[who] * 2,
        merchant=population.popular_merchants(rng, who.size),
        amount=money(rng.uniform(200, 1_500, who.size)),
    )
    return EventBatch.concat([logins, cash_out, drop_logins, drop_spend])
