"""``sharers.csv``: the legitimate accounts in benign sharing groups, by kind.

A row is written for a legitimate account that really used its group's shared
resource (logged in from the office IP, paid with the household card, was paid by the
employer ...); a group is listed only when at least two such accounts exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from graph_service.typing import I64
from ingestion.synthetic.hard.config import BenignKind
from ingestion.synthetic.hard.render import write_csv
from ingestion.synthetic.hard.tables import VPN_NETWORKS
from ingestion.synthetic.hard.world import World
from ingestion.synthetic.hashing import hashed_below
from ingestion.synthetic.text import Vocab, decimal_text, identifier_text, string_array

__all__ = ["GROUP_PREFIXES", "sharing_groups", "write_sharers"]

#: Group id prefix per kind: ``HH0001234`` is household 1234.
GROUP_PREFIXES: Final[dict[BenignKind, str]] = {
    BenignKind.HOUSEHOLD: "HH",
    BenignKind.FAMILY_DEVICE: "FD",
    BenignKind.FAMILY_CARD: "FC",
    BenignKind.FAMILY_PHONE: "FP",
    BenignKind.OFFICE: "OF",
    BenignKind.CAMPUS: "CP",
    BenignKind.CARRIER_NAT: "NT",
    BenignKind.PUBLIC_WIFI: "WF",
    BenignKind.HOTEL_WIFI: "HT",
    BenignKind.VPN: "VP",
    BenignKind.CALL_CENTRE: "CC",
    BenignKind.SHOP_DEVICE: "SD",
    BenignKind.PAYROLL: "PY",
    BenignKind.P2P_SELLER: "PS",
    BenignKind.LANDLORD: "LL",
}
PAYROLL, RENT = 0, 1


def _group_of(world: World, kind: BenignKind, accounts: I64) -> I64:
    """The group of each account, for kinds with one group per account."""
    if kind in (
        BenignKind.HOUSEHOLD,
        BenignKind.FAMILY_DEVICE,
        BenignKind.FAMILY_CARD,
        BenignKind.FAMILY_PHONE,
    ):
        return world.household[accounts].astype(np.int64)
    if kind is BenignKind.OFFICE:
        return world.office[accounts].astype(np.int64)
    if kind is BenignKind.CAMPUS:
        return world.campus[accounts].astype(np.int64)
    if kind is BenignKind.CARRIER_NAT:
        return world.carrier[accounts].astype(np.int64)
    if kind is BenignKind.VPN:
        return hashed_below(accounts, world.salts["vpn"], len(VPN_NETWORKS))
    return world.branch_device[accounts].astype(np.int64)


def sharing_groups(world: World) -> dict[BenignKind, tuple[I64, I64]]:
    """The benign sharing groups of the world, by kind.

    Parameters
    ----------
    world : World
        After all events were generated (participation is recorded as they are).

    Returns
    -------
    dict of BenignKind to (ndarray, ndarray)
        Per kind, ``(accounts, groups)``: the legitimate accounts that used the group's
        shared resource, in groups where at least two did, one entry per membership.

    Notes
    -----
    O(A + P log P) for A accounts and P memberships.
    """
    raw: dict[BenignKind, tuple[I64, I64]] = dict(world.pairs)
    for kind, used in world.used.items():
        if kind in (BenignKind.PAYROLL, BenignKind.LANDLORD):
            continue
        accounts = np.flatnonzero(used)
        raw[kind] = (accounts, _group_of(world, kind, accounts))
    orders = world.orders
    for kind, which, group_side in (
        (BenignKind.PAYROLL, PAYROLL, orders.src),
        (BenignKind.LANDLORD, RENT, orders.dst),
    ):
        fired = np.flatnonzero(world.order_fired & (orders.kind == which))
        group = group_side[fired].astype(np.int64)
        raw[kind] = (
            np.concatenate([orders.src[fired], orders.dst[fired]]).astype(np.int64),
            np.concatenate([group, group]),
        )
    out: dict[BenignKind, tuple[I64, I64]] = {}
    for kind in BenignKind:
        if kind not in raw:
            continue
        accounts, groups = raw[kind]
        legit = ~world.is_member[accounts] & (groups >= 0)
        pairs = np.unique(np.stack([groups[legit], accounts[legit]]), axis=1)
        group_ids, sizes = np.unique(pairs[0], return_counts=True)
        keep = np.isin(pairs[0], group_ids[sizes >= 2])
        out[kind] = (pairs[1][keep], pairs[0][keep])
    return out


def write_sharers(world: World, groups: dict[BenignKind, tuple[I64, I64]], path: Path) -> int:
    """Write ``sharers.csv``: ``account_id,kind,group_id``, sorted by kind and group.

    Parameters
    ----------
    world : World
    groups : dict of BenignKind to (ndarray, ndarray)
        From :func:`sharing_groups`.
    path : Path

    Returns
    -------
    int
        Rows written.
    """
    kinds = list(groups)
    accounts = np.concatenate([groups[k][0] for k in kinds]) if kinds else np.zeros(0, np.int64)
    group = np.concatenate([groups[k][1] for k in kinds]) if kinds else np.zeros(0, np.int64)
    kind = np.repeat(np.arange(len(kinds)), [groups[k][0].size for k in kinds])
    n = accounts.size
    every = np.arange(n, dtype=np.int64)
    prefixes = Vocab([GROUP_PREFIXES[k] for k in kinds] or [""])
    table = pa.table(
        {
            "account_id": string_array(
                n, [(every, [identifier_text("A", world.scramble_account(accounts), 9)])]
            ),
            "kind": pa.array([k.value for k in kinds] or [""]).take(pa.array(kind, pa.int64())),
            "group_id": string_array(n, [(every, [prefixes.take(kind), decimal_text(group, 7)])]),
        }
    )
    order = np.lexsort((world.scramble_account(accounts), group, kind))
    table = table.take(pa.array(order))
    write_csv(table, path)
    return n
