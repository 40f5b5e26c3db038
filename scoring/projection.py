"""The account-account graph: accounts tied by rare shared identifiers and by money flow.

An identifier (device, IP, phone, email, card, address, merchant) used by ``k`` accounts
ties each pair of them. The tie is weighted by the identifier's type and by its rarity::

    w(pair, identifier) = type_weight[type] / log(1 + k)

(the default, :attr:`Rarity.INVERSE_LOG`; ``1 / (k - 1)`` is the alternative): a device
shared by two accounts is a strong tie, the same device shared by thirty is thirty weaker
ones, yet the thirty together still pull each account harder than one partner does. The weights of every identifier a pair shares add up.
Identifiers used by more than ``max_share`` accounts (per type) are *super nodes*
(carrier-NAT IPs, popular merchants, office Wi-Fi): they are not evidence, would make
``k(k-1)/2`` pairs each, and are left out of the projection; they are returned so they can
be stored, shown and counted as an exposure feature. The cap also bounds the cost: the
pairs made are at most ``max_share / 2`` per identifier link.

``TRANSFERS_TO`` links become money-flow edges: kept directed (for cycles, fan-in and
fan-out) and added to the undirected weighted graph with ``transfer_weight`` per linked
pair (once whatever the direction, plus ``transfer_weight`` again when money went both
ways).

The result converts to an :class:`~graph_service.algorithms.EdgeListProjection`, so the
same algorithms run on either engine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import numpy as np
import pyarrow as pa

from graph_service.algorithms import EdgeListProjection
from graph_service.errors import InvalidInput
from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType, NodeType
from graph_service.store import GraphStore

log = logging.getLogger(__name__)

#: ``super_nodes`` table: identifiers left out of the projection for being too common.
SUPER_NODE_SCHEMA: Final = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("share_count", pa.int64(), nullable=False),
    ]
)

#: Identifier link types, in ``LINK_TYPE_CODE`` order (every link type but transfers).
IDENTIFIER_LINK_TYPES: Final[tuple[LinkType, ...]] = tuple(
    t for t in LinkType if t != LinkType.TRANSFERS_TO
)

_DEFAULT_TYPE_WEIGHTS: Final[dict[NodeType, float]] = {
    NodeType.DEVICE: 1.0,
    NodeType.PHONE: 1.0,
    NodeType.EMAIL: 1.0,
    NodeType.CARD: 1.0,
    NodeType.ADDRESS: 0.6,
    NodeType.IP: 0.5,
    NodeType.MERCHANT: 0.5,
}

_DEFAULT_MAX_SHARE: Final[dict[NodeType, int]] = {
    NodeType.DEVICE: 50,
    NodeType.PHONE: 50,
    NodeType.EMAIL: 50,
    NodeType.CARD: 50,
    NodeType.ADDRESS: 50,
    NodeType.IP: 50,
    NodeType.MERCHANT: 20,
}


class Rarity(StrEnum):
    """How the weight of a shared identifier falls with its share count ``k``."""

    #: ``1 / log(1 + k)``: the total pull of a shared identifier on an account,
    #: ``(k - 1) / log(1 + k)``, still grows with ``k``, so a ring of ten sharing a device
    #: outweighs a household of two sharing one.
    INVERSE_LOG = "inverse_log"
    #: ``1 / (k - 1)``: every identifier pulls each of its accounts by its type weight
    #: in total, however many share it.
    INVERSE_SHARE = "inverse_share"


@dataclass(frozen=True)
class ProjectionConfig:
    """How identifiers and transfers become weighted account-account edges.

    Parameters
    ----------
    type_weights : mapping of NodeType to float
        Weight of one identifier of each type before the rarity discount (default: device,
        phone, email, card 1.0; address 0.6; IP and merchant 0.5, which are shared
        innocently far more often). A type weighted 0 is left out.
    max_share : mapping of NodeType to int
        An identifier used by more accounts than this is a super node (default 50, 20 for
        merchants, whose tail of small shops is shared by chance).
    transfer_weight : float
        Weight of a money-flow edge per direction used (default 1.0).
    rarity : Rarity
        The rarity discount (default ``1 / log(1 + k)``, see :class:`Rarity`).

    Raises
    ------
    InvalidInput
        On a negative weight or a cap below 2.
    """

    type_weights: Mapping[NodeType, float] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULT_TYPE_WEIGHTS))
    )
    max_share: Mapping[NodeType, int] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULT_MAX_SHARE))
    )
    transfer_weight: float = 1.0
    rarity: Rarity = Rarity.INVERSE_LOG

    def __post_init__(self) -> None:
        if any(w < 0 or not np.isfinite(w) for w in self.type_weights.values()):
            raise InvalidInput("type weights must be finite and non-negative")
        if any(cap < 2 for cap in self.max_share.values()):
            raise InvalidInput("max_share must be at least 2 for every type")
        if self.transfer_weight < 0 or not np.isfinite(self.transfer_weight):
            raise InvalidInput("transfer_weight must be finite and non-negative")

    def weight_of(self, node_type: NodeType) -> float:
        """Type weight of ``node_type`` (0 when not configured)."""
        return float(self.type_weights.get(node_type, 0.0))

    def cap_of(self, node_type: NodeType) -> int:
        """Super-node threshold of ``node_type`` (50 when not configured)."""
        return int(self.max_share.get(node_type, 50))


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
    super_node : ndarray of bool, shape (l,)
        Whether the identifier is above its type's ``max_share``.
    """

    account: np.ndarray
    identifier: np.ndarray
    node_type: np.ndarray
    share_count: np.ndarray
    first_ts: np.ndarray
    super_node: np.ndarray


@dataclass(frozen=True, slots=True)
class MoneyFlow:
    """Directed transfers between accounts (self-transfers dropped).

    Attributes
    ----------
    src, dst : ndarray of int64, shape (t,)
        Payer and payee store ids, one row per aggregated link.
    n_events : ndarray of int64, shape (t,)
    amount : ndarray of float64, shape (t,)
    """

    src: np.ndarray
    dst: np.ndarray
    n_events: np.ndarray
    amount: np.ndarray


@dataclass(frozen=True, slots=True)
class AccountProjection:
    """The weighted account-account graph and what it was built from.

    Attributes
    ----------
    accounts : ndarray of int64, shape (n,)
        Store ids of every account, ascending (isolated accounts included).
    src, dst : ndarray of int64, shape (m,)
        Undirected edges between accounts, ``src < dst``, each pair once.
    weight : ndarray of float64, shape (m,)
        ``shared_weight + transfer_weight``.
    shared_weight : ndarray of float64, shape (m,)
        Summed rarity weights of the identifiers the pair shares.
    transfer_weight : ndarray of float64, shape (m,)
        Money-flow weight of the pair.
    evidence_identifier : ndarray of int64, shape (m,)
        The identifier contributing most to the pair (-1 for money flow only).
    evidence_type : ndarray of uint8, shape (m,)
        ``LINK_TYPE_CODE`` of the evidence (``TRANSFERS_TO`` for money flow only).
    memberships : IdentifierMemberships
    money_flow : MoneyFlow
    super_nodes : pa.Table
        ``SUPER_NODE_SCHEMA``, ordered by share count descending then id.
    """

    accounts: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    shared_weight: np.ndarray
    transfer_weight: np.ndarray
    evidence_identifier: np.ndarray
    evidence_type: np.ndarray
    memberships: IdentifierMemberships
    money_flow: MoneyFlow
    super_nodes: pa.Table

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return int(self.src.shape[0])

    def as_edge_list(self) -> EdgeListProjection:
        """The weighted graph as an ``EdgeListProjection`` for ``store.algorithms()``."""
        return EdgeListProjection(
            nodes=self.accounts, src=self.src, dst=self.dst, weight=self.weight
        )


def shared_identifier_projection(
    store: GraphStore, config: ProjectionConfig | None = None
) -> AccountProjection:
    """Project the entity graph onto accounts, weighting ties by identifier rarity.

    Parameters
    ----------
    store : GraphStore
        Any backend; ``export_nodes`` and ``export_links`` are read once.
    config : ProjectionConfig, optional
        Weights and super-node caps (defaults documented on :class:`ProjectionConfig`).

    Returns
    -------
    AccountProjection

    Raises
    ------
    InvalidInput
        From :class:`ProjectionConfig` on invalid settings.

    Notes
    -----
    O(N + L + P log P) time for N nodes, L links and P pairs made, with
    P <= sum over identifiers of k(k-1)/2 <= L * max(max_share) / 2; no Python loop over
    nodes or links.

    With the default weights, two accounts on one phone and one device and a third on the
    device only: the device (k = 3) gives each pair ``1 / log 4``, and the phone (k = 2)
    adds ``1 / log 3`` to the first pair.
    """
    config = config or ProjectionConfig()
    nodes = store.export_nodes()
    links = store.export_links()
    return project_tables(nodes, links, config)


def project_tables(
    nodes: pa.Table, links: pa.Table, config: ProjectionConfig | None = None
) -> AccountProjection:
    """:func:`shared_identifier_projection` on exported tables (``NODE/LINK_EXPORT_SCHEMA``).

    Parameters
    ----------
    nodes : pa.Table
        ``export_nodes()`` output.
    links : pa.Table
        ``export_links()`` output.
    config : ProjectionConfig, optional

    Returns
    -------
    AccountProjection

    Notes
    -----
    Same cost as :func:`shared_identifier_projection`.
    """
    config = config or ProjectionConfig()
    node_id = nodes.column("id").to_numpy().astype(np.int64, copy=False)
    node_type = nodes.column("type").to_numpy().astype(np.uint8, copy=False)
    accounts = np.sort(node_id[node_type == NODE_TYPE_CODE[NodeType.ACCOUNT]])

    link_src = links.column("src").to_numpy().astype(np.int64, copy=False)
    link_dst = links.column("dst").to_numpy().astype(np.int64, copy=False)
    link_type = links.column("type").to_numpy().astype(np.uint8, copy=False)
    link_events = links.column("n_events").to_numpy().astype(np.int64, copy=False)
    link_amount = links.column("amount_sum").to_numpy().astype(np.float64, copy=False)
    link_first = links.column("first_ts").cast(pa.int64()).to_numpy().astype(np.int64, copy=False)

    transfer = link_type == LINK_TYPE_CODE[LinkType.TRANSFERS_TO]
    flow_keep = transfer & (link_src != link_dst)
    money_flow = MoneyFlow(
        src=link_src[flow_keep],
        dst=link_dst[flow_keep],
        n_events=link_events[flow_keep],
        amount=link_amount[flow_keep],
    )

    memberships, super_nodes = _memberships(
        nodes,
        node_id,
        node_type,
        link_src[~transfer],
        link_dst[~transfer],
        link_first[~transfer],
        config,
    )
    pair_u, pair_v, pair_w, pair_ident, pair_type = _identifier_pairs(memberships, config)
    src, dst, shared, flow, evidence, evidence_type = _combine(
        pair_u, pair_v, pair_w, pair_ident, pair_type, money_flow, config.transfer_weight
    )
    log.info(
        "account projection built",
        extra={
            "accounts": int(accounts.shape[0]),
            "edges": int(src.shape[0]),
            "identifier_pairs": int(pair_u.shape[0]),
            "super_nodes": super_nodes.num_rows,
        },
    )
    return AccountProjection(
        accounts=accounts,
        src=src,
        dst=dst,
        weight=shared + flow,
        shared_weight=shared,
        transfer_weight=flow,
        evidence_identifier=evidence,
        evidence_type=evidence_type,
        memberships=memberships,
        money_flow=money_flow,
        super_nodes=super_nodes,
    )


def _memberships(
    nodes: pa.Table,
    node_id: np.ndarray,
    node_type: np.ndarray,
    account: np.ndarray,
    identifier: np.ndarray,
    first_ts: np.ndarray,
    config: ProjectionConfig,
) -> tuple[IdentifierMemberships, pa.Table]:
    """Share counts per identifier, super-node flags and the super-node table."""
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
        account=account,
        identifier=identifier,
        node_type=ident_type,
        share_count=share[identifier],
        first_ts=first_ts,
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


def _identifier_pairs(
    memberships: IdentifierMemberships, config: ProjectionConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every account pair sharing a non-super identifier, with the pair's rarity weight.

    Returns ``(u, v, weight, identifier, link type code)`` with ``u < v``; a pair appears
    once per identifier it shares.
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
    weight = type_weight[node_code] * _rarity(k[left], config.rarity)
    link_code = _link_code_of_node_code()[node_code]
    return lo, hi, weight, ident[left], link_code


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


def _combine(
    pair_u: np.ndarray,
    pair_v: np.ndarray,
    pair_w: np.ndarray,
    pair_ident: np.ndarray,
    pair_type: np.ndarray,
    money_flow: MoneyFlow,
    transfer_weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sum identifier and money-flow contributions per pair; keep the strongest evidence."""
    flow_u = np.minimum(money_flow.src, money_flow.dst)
    flow_v = np.maximum(money_flow.src, money_flow.dst)
    transfer_code = LINK_TYPE_CODE[LinkType.TRANSFERS_TO]
    u = np.concatenate([pair_u, flow_u])
    v = np.concatenate([pair_v, flow_v])
    shared = np.concatenate([pair_w, np.zeros(flow_u.shape[0])])
    flow = np.concatenate([np.zeros(pair_u.shape[0]), np.full(flow_u.shape[0], transfer_weight)])
    ident = np.concatenate([pair_ident, np.full(flow_u.shape[0], -1, np.int64)])
    kind = np.concatenate([pair_type, np.full(flow_u.shape[0], transfer_code, np.uint8)])
    # Strongest contribution first within each pair; money flow counts as its weight.
    strength = shared + flow
    order = np.lexsort((ident, -strength, v, u))
    u, v, shared, flow, ident, kind = (
        u[order],
        v[order],
        shared[order],
        flow[order],
        ident[order],
        kind[order],
    )
    first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])] if u.size else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    shared_sum = np.add.reduceat(shared, starts) if starts.size else shared[:0]
    flow_sum = np.add.reduceat(flow, starts) if starts.size else flow[:0]
    return u[starts], v[starts], shared_sum, flow_sum, ident[starts], kind[starts]
