"""Fraud-ring planning and the kit rings share: who is in a ring, which of the ring's
devices, IPs, phones, cards and addresses each member uses, and how money moves on.

Members take *different subsets* of their ring's resources: each member uses a ring
resource of a kind with the typology's probability and its own otherwise. Rings must still
hang together the way real ones do, through some shared identifier or a money flow, so
:func:`connect` patches the few members that would otherwise stand alone by giving them
one more ring resource (never by inventing a flow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

from benchmarks.crosscheck.commerce import Catalogue
from benchmarks.crosscheck.geo import HOSTING, METROS
from benchmarks.crosscheck.identities import (
    DeviceKind,
    new_cards,
    new_devices,
    new_emails,
    new_externals,
    new_ipv4,
    new_phones,
    phone_devices,
    residential_ips,
)
from benchmarks.crosscheck.world import (
    AUTO,
    DAY,
    I64,
    NONE,
    WINDOW_END,
    WINDOW_START,
    EventType,
    World,
    skewed_sizes,
)

TYPOLOGIES: Final[tuple[str, ...]] = (
    "device_farm",
    "synthetic_identity",
    "mule_network",
    "bust_out",
    "account_takeover",
)
_SHARE: Final = np.array([0.22, 0.20, 0.24, 0.14, 0.20])
#: (smallest, largest, skew power) of ring sizes per typology.
_SIZES: Final[dict[str, tuple[int, int, float]]] = {
    "device_farm": (5, 25, 1.5),
    "synthetic_identity": (3, 14, 1.6),
    "mule_network": (4, 25, 1.5),
    "bust_out": (3, 12, 1.4),
    "account_takeover": (3, 20, 1.6),
}
#: Identifier kinds that link members in the export exactly (address spellings vary).
LINK_KINDS: Final[tuple[str, ...]] = ("device", "ip", "phone", "email", "card")


@dataclass
class RingPlan:
    """A ring to plant: its accounts opened for the fraud and how many it recruits."""

    number: int
    typology: str
    variant: str
    size: int
    opened: I64
    recruits: int

    @property
    def ring_id(self) -> str:
        """The ring's identifier in ``truth.csv``."""
        return f"ring-{self.number:04d}"


def plan_rings(world: World, rings_per_10k: float) -> list[RingPlan]:
    """Draw the rings, their variants and sizes, and mark the accounts they open.

    Every typology gets at least one ring when there are five or more; the accounts a ring
    opens are scattered among all account numbers.
    """
    rng = world.rng("ring-plan")
    total = round(world.customers.n * rings_per_10k / 10_000)
    if total <= 0:
        return []
    counts = np.floor(_SHARE * total).astype(np.int64)
    remainder = _SHARE * total - counts
    for i in np.argsort(-remainder, kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    if total >= len(TYPOLOGIES):
        while (counts == 0).any():
            counts[np.argmax(counts)] -= 1
            counts[np.flatnonzero(counts == 0)[0]] += 1
    plans: list[RingPlan] = []
    for t, typology in enumerate(TYPOLOGIES):
        low, high, power = _SIZES[typology]
        for size in skewed_sizes(rng, int(counts[t]), low, high, power):
            variant, recruits = _variant(rng, typology, int(size))
            plans.append(RingPlan(0, typology, variant, int(size), np.empty(0, np.int64), recruits))
    order = rng.permutation(len(plans))
    plans = [plans[i] for i in order]
    n_opened = sum(p.size - p.recruits for p in plans)
    opened = rng.choice(world.customers.n, size=n_opened, replace=False)
    offset = 0
    for number, plan in enumerate(plans, start=1):
        plan.number = number
        take = plan.size - plan.recruits
        plan.opened = np.sort(opened[offset : offset + take]).astype(np.int64)
        offset += take
    world.customers.fraud_opened[opened] = True
    return plans


def _variant(rng: np.random.Generator, typology: str, size: int) -> tuple[str, int]:
    """The ring's variant and how many existing customers it recruits."""
    if typology == "device_farm":
        return ("real_phones" if rng.random() < 0.4 else "emulators"), 0
    if typology == "mule_network":
        if rng.random() < 0.45:
            exits = 1 + (size >= 12)
            return "recruited", round((size - exits) * 0.6)
        return "herded", 0
    if typology == "account_takeover":
        drops = min(size - 2, 1 + size // 6)
        return ("proxied" if rng.random() < 0.7 else "vpn"), size - drops
    if typology == "bust_out":
        return ("collusive_merchant" if rng.random() < 0.4 else "retail"), 0
    return "tradeline", 0


@dataclass
class Members:
    """A ring's members and the identifiers each uses in the ring's guaranteed events."""

    accounts: I64
    ids: dict[str, I64] = field(default_factory=dict)
    links: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for kind in LINK_KINDS:
            self.ids.setdefault(kind, np.full(self.accounts.size, NONE, dtype=np.int64))

    def share(
        self, rng: np.random.Generator, kind: str, pool: I64, p: float, own: I64 | None = None
    ) -> None:
        """Each member takes one of ``pool`` with probability ``p``, else ``own``."""
        n = self.accounts.size
        chosen = pool[rng.integers(0, pool.size, n)]
        mine = self.ids[kind] if own is None else own
        self.ids[kind] = np.where(rng.random(n) < p, chosen, mine).astype(np.int64)


def connect(rng: np.random.Generator, members: Members, kinds: tuple[str, ...]) -> None:
    """Give stand-alone members one more ring resource until the ring is one component.

    Members are linked when they use the same value of a link kind or have a money flow
    between them (``members.links``). A member outside the largest component adopts a
    value of one of ``kinds`` used inside it.

    Complexity: O(k² · m) for a ring of k members and m link kinds (k ≤ 25).
    """
    while True:
        roots = components(members)
        labels, sizes = np.unique(roots, return_counts=True)
        if labels.size == 1:
            return
        main = roots == labels[np.argmax(sizes)]
        outsider = int(rng.choice(np.flatnonzero(~main)))
        options = [k for k in kinds if (members.ids[k][main] >= 0).any()]
        if not options:
            raise ValueError("a ring cannot be connected through the given kinds")
        kind = options[int(rng.integers(0, len(options)))]
        inside = members.ids[kind][main & (members.ids[kind] >= 0)]
        members.ids[kind][outsider] = inside[int(rng.integers(0, inside.size))]


def components(members: Members) -> I64:
    """Component root of each member, linking shared identifier values and money flows."""
    parent = list(range(members.accounts.size))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in members.links:
        parent[find(a)] = find(b)
    for kind in LINK_KINDS:
        first: dict[int, int] = {}
        for i, value in enumerate(members.ids[kind].tolist()):
            if value < 0:
                continue
            if value in first:
                parent[find(i)] = find(first[value])
            else:
                first[value] = i
    return np.array([find(i) for i in range(len(parent))], dtype=np.int64)


def voip_phones(world: World, n: int) -> I64:
    """Internet phone numbers: US numbers from area codes anywhere in the country."""
    rng = world.rng(f"voip-{len(world.entities.phones)}")
    return new_phones(world, rng.integers(0, len(METROS), n))


def datacenter_proxies(world: World, n: int, flagged_share: float = 0.7) -> I64:
    """Hosting IPs sold as proxies; IP intelligence flags most of them."""
    rng = world.rng(f"dc-proxy-{len(world.entities.ips)}")
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = new_ipv4(
            world,
            HOSTING[int(rng.integers(0, len(HOSTING)))],
            1,
            country="US",
            proxy=rng.random() < flagged_share,
        )[0]
    return out


def residential_proxies(world: World, n: int) -> I64:
    """Residential proxy exits: home broadband of infected or paid hosts, rarely flagged."""
    rng = world.rng(f"res-proxy-{len(world.entities.ips)}")
    return residential_ips(world, n, proxy=rng.random(n) < 0.05)


def emulators(world: World, n: int, spoofed_share: float = 0.3) -> I64:
    """Android emulators; spoofing tools hide the emulator flag on some."""
    rng = world.rng(f"emulators-{len(world.entities.devices)}")
    return new_devices(
        world,
        np.full(n, DeviceKind.ANDROID),
        emulator=rng.random(n) >= spoofed_share,
        rooted=rng.random(n) < 0.4,
    )


def fresh_identity(world: World, accounts: I64, metro: int | I64) -> Members:
    """Members with their own new handset, number, email, card and home IP each."""
    n = accounts.size
    c = world.customers
    c.metro[accounts] = metro
    members = Members(accounts)
    members.ids["device"] = phone_devices(world, n, rooted_share=0.0)
    members.ids["phone"] = new_phones(world, c.metro[accounts])
    members.ids["email"] = new_emails(world, n)
    members.ids["card"] = new_cards(world, n)
    members.ids["ip"] = residential_ips(world, n)
    return members


def settle(
    world: World,
    members: Members,
    *,
    address: I64,
    open_ts: I64,
    activity: np.ndarray,
    cell_share: float = 0.0,
    vpn_pool: int = NONE,
) -> None:
    """Make fraud-opened members' customer state what the ring decided.

    Their handset and network become the ring's choice for every later session, their
    profile (phone, email, address) the one given at signup.
    """
    c = world.customers
    acc = members.accounts
    c.open_ts[acc] = open_ts
    c.activity[acc] = activity
    c.phone[acc] = members.ids["phone"]
    c.email[acc] = members.ids["email"]
    c.address[acc] = address
    c.card[acc] = members.ids["card"]
    c.device[acc] = members.ids["device"]
    c.signup_device[acc] = members.ids["device"]
    c.signup_ip[acc] = members.ids["ip"]
    c.home_ip[acc] = members.ids["ip"]
    for name in ("second_device", "new_device", "family_device", "emulator_device", "next_home_ip"):
        getattr(c, name)[acc] = NONE
    for name in ("shared_card", "office_ip", "campus_ip", "nat_pool", "own_external"):
        getattr(c, name)[acc] = NONE
    c.cell_share[acc] = cell_share
    c.vpn_pool[acc] = vpn_pool
    c.vpn_share[acc] = 0.9 if vpn_pool != NONE else 0.0


def pass_on(
    world: World,
    rng: np.random.Generator,
    sender: I64,
    receiver: I64,
    received_ts: I64,
    received_cents: I64,
    *,
    keep: tuple[float, float],
    delay_hours: tuple[float, float],
    device: I64 | int = AUTO,
    ip: I64 | int = AUTO,
) -> tuple[I64, I64]:
    """Forward received money quickly, minus a cut: returns the outgoing (ts, cents).

    Transfers that would land after the export's end are dropped.
    """
    cut = rng.uniform(1 - keep[1], 1 - keep[0], sender.size)
    cents = np.round(received_cents * (1 - cut), -2).astype(np.int64)
    ts = received_ts + (rng.uniform(*delay_hours, sender.size) * 3_600).astype(np.int64)
    ok = ts < WINDOW_END
    world.events.add(
        ts[ok],
        EventType.TRANSFER,
        account=sender[ok],
        counterparty=receiver[ok],
        cents=cents[ok],
        currency=0,
        device=np.broadcast_to(device, sender.shape)[ok],
        ip=np.broadcast_to(ip, sender.shape)[ok],
    )
    return ts, cents


def cash_out_externals(world: World, n: int) -> I64:
    """Accounts at crypto exchanges and other banks that proceeds finally leave to."""
    return new_externals(world, n)


def opened_between(
    rng: np.random.Generator, world: World, accounts: I64, first_day: int, last_day: int
) -> I64:
    """Opening times spread over days ``first_day..last_day``, in small same-hour batches."""
    n = accounts.size
    batches = max(1, int(np.ceil(n / rng.integers(2, 6))))
    batch_day = rng.integers(first_day, max(first_day + 1, last_day + 1), batches)
    batch_of = np.sort(rng.integers(0, batches, n))
    batch_hour = rng.integers(8 * 3_600, 23 * 3_600, batches)
    start = WINDOW_START + batch_day[batch_of] * DAY + batch_hour[batch_of]
    step = np.cumsum(rng.integers(180, 2_400, n))
    ts = start + step - step[np.searchsorted(batch_of, batch_of)]
    opened: I64 = np.minimum(ts, WINDOW_END - 10 * DAY).astype(np.int64)
    return opened


@dataclass
class RingContext:
    """What ring planting shares across rings: the merchant catalogue and who is taken."""

    catalogue: Catalogue
    #: Accounts already in a ring (fraud-opened or recruited); never recruited twice.
    taken: np.ndarray

    def recruit(
        self,
        world: World,
        rng: np.random.Generator,
        k: int,
        *,
        opened_before: int,
        prefer: np.ndarray | None = None,
        prefer_share: float = 0.0,
    ) -> I64:
        """``k`` legitimate people, customers since before ``opened_before``, now in a ring."""
        c = world.customers
        eligible = ~self.taken & ~c.fraud_opened & ~c.business & (c.open_ts < opened_before)
        chosen = np.empty(0, dtype=np.int64)
        if prefer is not None and prefer_share > 0:
            preferred = np.flatnonzero(eligible & prefer)
            take = min(preferred.size, round(k * prefer_share))
            chosen = rng.choice(preferred, size=take, replace=False)
            eligible[chosen] = False
        rest = rng.choice(np.flatnonzero(eligible), size=k - chosen.size, replace=False)
        chosen = np.concatenate([chosen, rest]).astype(np.int64)
        self.taken[chosen] = True
        return chosen

    def victims(self, world: World, rng: np.random.Generator, k: int, before: int) -> I64:
        """``k`` legitimate people (not in any ring) who opened before ``before``."""
        c = world.customers
        eligible = np.flatnonzero(
            ~self.taken & ~c.fraud_opened & ~c.business & (c.open_ts < before)
        )
        return rng.choice(eligible, size=k, replace=False).astype(np.int64)
