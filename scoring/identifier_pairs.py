"""Pairs of accounts sharing an identifier: memberships, share counts, super nodes and the
rarity- and timing-weighted pair list the account projection is built from.

See :mod:`scoring.projection` for the weighting; this module makes the pairs, one row per
(account, account, identifier) with the identifier's kind, weight and how the two accounts
took it up (``join_gap``, repeat use, late joint take-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

import numpy as np
import pyarrow as pa

from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType, NodeType
from graph_service.temporal import DAY_US

if TYPE_CHECKING:
    from scoring.projection import ProjectionConfig


#: ``super_nodes`` table: identifiers left out of the projection for being too common.
SUPER_NODE_SCHEMA: Final = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("share_count", pa.int64(), nullable=False),
    ]
)


class Rarity(StrEnum):
    """How the weight of a shared identifier falls with its share count ``k``."""

    #: ``1 / log(1 + k)``: the total pull of a shared identifier on an account,
    #: ``(k - 1) / log(1 + k)``, still grows with ``k``, so a ring of ten sharing a device
    #: outweighs a household of two sharing one.
    INVERSE_LOG = "inverse_log"
    #: ``1 / (k - 1)``: every identifier pulls each of its accounts by its type weight
    #: in total, however many share it.
    INVERSE_SHARE = "inverse_share"


@dataclass(frozen=True, slots=True)
class IdentifierMemberships:
    """Every account-identifier link, with the identifier's share count.

    Attributes
    ----------
    account, identifier : ndarray of int64, shape (l,)
        Store ids.
    node_type : ndarray of uint8, shape (l,)
        ``NODE_TYPE_CODE`` of the identifier.
    share_count : ndarray of int64, shape (l,)
        Number of distinct accounts linked to the identifier.
    first_ts : ndarray of int64, shape (l,)
        First use of the identifier by the account (microseconds since the epoch).
    last_ts : ndarray of int64, shape (l,)
        Last use of the identifier by the account (microseconds since the epoch).
    n_events : ndarray of int64, shape (l,)
        Events behind the link.
    amount : ndarray of float64, shape (l,)
        Money moved over the link (payments to a merchant; 0 for other identifiers).
    super_node : ndarray of bool, shape (l,)
        Whether the identifier is above its type's ``max_share``.
    """

    account: np.ndarray
    identifier: np.ndarray
    node_type: np.ndarray
    share_count: np.ndarray
    first_ts: np.ndarray
    last_ts: np.ndarray
    n_events: np.ndarray
    amount: np.ndarray
    super_node: np.ndarray


@dataclass(frozen=True, slots=True)
class LinkColumns:
    """The identifier links of the export, column by column."""

    account: np.ndarray
    identifier: np.ndarray
    first_ts: np.ndarray
    last_ts: np.ndarray
    n_events: np.ndarray
    amount: np.ndarray


def identifier_memberships(
    nodes: pa.Table,
    node_id: np.ndarray,
    node_type: np.ndarray,
    links: LinkColumns,
    config: ProjectionConfig,
) -> tuple[IdentifierMemberships, pa.Table]:
    """Share counts per identifier, super-node flags and the super-node table."""
    identifier = links.identifier
    n_ids = int(node_id.max()) + 1 if node_id.shape[0] else 0
    type_of = np.zeros(n_ids, np.uint8)
    type_of[node_id] = node_type
    share = np.bincount(identifier, minlength=n_ids).astype(np.int64)
    caps = np.full(len(NODE_TYPE_CODE), np.iinfo(np.int64).max, np.int64)
    for t, code in NODE_TYPE_CODE.items():
        if t != NodeType.ACCOUNT:
            caps[code] = config.cap_of(t)
    is_super_id = share > caps[type_of]
    ident_type = type_of[identifier]
    memberships = IdentifierMemberships(
        account=links.account,
        identifier=identifier,
        node_type=ident_type,
        share_count=share[identifier],
        first_ts=links.first_ts,
        last_ts=links.last_ts,
        n_events=links.n_events,
        amount=links.amount,
        super_node=is_super_id[identifier],
    )
    super_ids = np.flatnonzero(is_super_id).astype(np.int64)
    order = np.lexsort((super_ids, -share[super_ids]))
    super_ids = super_ids[order]
    positions = np.searchsorted(node_id, super_ids) if node_id.shape[0] else super_ids
    sorted_ids = bool(node_id.shape[0] < 2 or (np.diff(node_id) > 0).all())
    if not sorted_ids:
        node_order = np.argsort(node_id)
        positions = node_order[np.searchsorted(node_id[node_order], super_ids)]
    type_names = np.array([t.value for t in NODE_TYPE_CODE], dtype=object)
    super_nodes = pa.table(
        {
            "id": super_ids,
            "type": pa.array(type_names[type_of[super_ids]].tolist(), pa.string()),
            "key": nodes.column("key").take(pa.array(positions, pa.int64())),
            "share_count": share[super_ids],
        },
        schema=SUPER_NODE_SCHEMA,
    )
    return memberships, super_nodes


@dataclass(frozen=True, slots=True)
class Pairs:
    """Account pairs through one shared identifier each (a pair repeats per identifier)."""

    u: np.ndarray
    v: np.ndarray
    weight: np.ndarray
    identifier: np.ndarray
    link_code: np.ndarray
    node_code: np.ndarray
    join_gap: np.ndarray
    repeat: np.ndarray
    late_together: np.ndarray


def identifier_pairs(
    memberships: IdentifierMemberships,
    first_seen: np.ndarray,
    proxy: np.ndarray,
    config: ProjectionConfig,
) -> Pairs:
    """Every account pair sharing a non-super identifier, with the pair's weight.

    The weight is the type weight times the rarity discount times the coordination factor
    of the two accounts' first uses of the identifier. ``u < v``; a pair appears once per
    identifier it shares; ``join_gap`` is the gap between the two first uses (µs).
    """
    type_weight = np.zeros(len(NODE_TYPE_CODE), np.float64)
    for t, code in NODE_TYPE_CODE.items():
        if t != NodeType.ACCOUNT:
            type_weight[code] = config.weight_of(t)
    keep = (
        ~memberships.super_node
        & (memberships.share_count >= 2)
        & (type_weight[memberships.node_type] > 0)
    )
    ident = memberships.identifier[keep]
    account = memberships.account[keep]
    order = np.lexsort((account, ident))
    ident, account = ident[order], account[order]
    k = memberships.share_count[keep][order]
    joined = memberships.first_ts[keep][order]
    uses = memberships.n_events[keep][order]
    age_at_join = joined - first_seen[account]
    # Position of every link inside its identifier's group of k accounts.
    group_start = np.flatnonzero(np.r_[True, ident[1:] != ident[:-1]]) if ident.size else ident
    sizes = np.diff(np.r_[group_start, ident.shape[0]])
    position = np.arange(ident.shape[0]) - np.repeat(group_start, sizes)
    partners = k - 1 - position
    total = int(partners.sum())
    left = np.repeat(np.arange(ident.shape[0]), partners)
    run_start = np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + (np.arange(total) - run_start)
    u, v = account[left], account[right]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    node_code = memberships.node_type[keep][order][left]
    gap = np.abs(joined[left] - joined[right])
    repeat = np.minimum(uses[left], uses[right]) >= 2
    late = int(config.late_join_days * DAY_US)
    # An office or a home renumbered onto a new IP moves its people onto it together; an
    # attacker's device or proxy is what established accounts take up together. The
    # attacker works each victim (logs in, then moves the money: several uses), while a
    # shop's or branch's tablet serves each customer once, a few days apart.
    takeover_kind = (node_code != NODE_TYPE_CODE[NodeType.IP]) | proxy[ident[left]]
    late_together = (
        (np.minimum(age_at_join[left], age_at_join[right]) >= late)
        & (gap <= int(config.cojoin_days * DAY_US))
        & takeover_kind
        & repeat
    )
    weight = (
        type_weight[node_code]
        * _rarity(k[left], config.rarity)
        * coordination_factor(gap, config.coordination_days, config.coordination_floor)
    )
    link_code = _link_code_of_node_code()[node_code]
    return Pairs(lo, hi, weight, ident[left], link_code, node_code, gap, repeat, late_together)


def coordination_factor(gap_us: np.ndarray, days: float | None, floor: float) -> np.ndarray:
    """How much of a shared identifier's weight a pair keeps, by when each began using it.

    ``floor + (1 - floor) * exp(-gap / days)``: two accounts that took up a device, phone
    or address within days of each other are tied at full weight; a household whose
    members joined it years apart keeps ``floor`` of it. ``days=None`` keeps every weight.

    Parameters
    ----------
    gap_us : ndarray of int64
        Gap between the two accounts' first uses, in microseconds.
    days : float or None
        Decay scale in days.
    floor : float
        Weight kept however far apart, in [0, 1].

    Returns
    -------
    ndarray of float64, values in ``[floor, 1]``

    Examples
    --------
    >>> coordination_factor(np.array([0, 30 * 86_400_000_000]), 30.0, 0.25).round(3)
    array([1.   , 0.526])
    """
    if days is None:
        return np.ones(gap_us.shape[0])
    decay = np.exp(-gap_us.astype(np.float64) / (days * DAY_US))
    return np.asarray(floor + (1.0 - floor) * decay)


def _rarity(share_count: np.ndarray, rarity: Rarity) -> np.ndarray:
    """Rarity discount of an identifier shared by ``share_count`` accounts."""
    k = share_count.astype(np.float64)
    if rarity == Rarity.INVERSE_SHARE:
        return np.asarray(1.0 / (k - 1.0))
    return np.asarray(1.0 / np.log1p(k))


def _link_code_of_node_code() -> np.ndarray:
    """Lookup: identifier node type code -> the link type code that reaches it."""
    from graph_service.model import LINK_ENDPOINTS

    table = np.full(len(NODE_TYPE_CODE), LINK_TYPE_CODE[LinkType.TRANSFERS_TO], np.uint8)
    for link, (_, target) in LINK_ENDPOINTS.items():
        if link != LinkType.TRANSFERS_TO:
            table[NODE_TYPE_CODE[target]] = LINK_TYPE_CODE[link]
    return table
