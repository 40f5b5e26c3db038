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
from types import MappingProxyType
from typing import Final

import numpy as np
import pyarrow as pa

from graph_service.algorithms import EdgeListProjection
from graph_service.errors import InvalidInput
from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType, NodeType
from graph_service.store import GraphReader
from graph_service.tables import require_columns
from graph_service.typing import F64, I64, BoolArray
from scoring.identifier_pairs import (
    IdentifierMemberships,
    LinkColumns,
    Pairs,
    Rarity,
    identifier_memberships,
    identifier_pairs,
)
from scoring.pass_through import (
    material_passing,
    passed_on_links,
    passed_on_payments,
    payment_links,
)

log = logging.getLogger(__name__)


#: Identifier kinds that say who a customer is (sharing one relates two accounts).
_IDENTITY_TYPES: Final = (NodeType.PHONE, NodeType.EMAIL, NodeType.CARD, NodeType.ADDRESS)

#: Packs an account pair into one int64 key (store ids stay below it).
_PAIR_BASE: Final = np.int64(1 << 31)

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
    coordination_days : float or None
        Scale of the coordination factor (see :func:`coordination_factor`): a shared
        identifier weighs most between accounts that took it up within about this many
        days of each other. ``None`` (default) turns the factor off.
    coordination_floor : float
        Share of the weight kept by accounts that took the identifier up far apart (0.3).
    late_join_days : float
        An account took an identifier up *late* when it first used it this many days or
        more after it was first seen itself (60): an established account on a new device.
    cojoin_days : float
        Two accounts took an identifier up *together* when their first uses are at most
        this many days apart (7); see ``AccountProjection.late_kinds``.
    household_weight : float
        Share of the identifier weight kept between two accounts that live together (they
        share an address and an IP): their ties are explained, and a ring member's family
        must not pull it out of its ring (0.3).
    pass_through_days, pass_through_ratio : float
        A payment passes money on when money came in at most ``pass_through_days`` (3)
        before it and the payment is at least ``pass_through_ratio`` (0.7) of that money
        (see :func:`scoring.pass_through.passed_on_links`).
    pass_through_material, pass_through_lookback_days, pass_through_floor : float
        Passing money on counts only where the payer passed on at least
        ``pass_through_material`` (0.1) of the money it received from
        ``pass_through_lookback_days`` (30) before its first passed-on payment to its
        last, and at least the ``pass_through_floor`` quantile (0.5, the median) of the
        book's payments (see :func:`scoring.pass_through.material_passing`).
    passed_weight : float
        Weight of a money-flow edge that passes money on (3.0, against ``transfer_weight``
        for an ordinary transfer): a laundering chain is held together by it, and a
        mule's everyday transfers must not pull it away.

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
    coordination_days: float | None = None
    coordination_floor: float = 0.1
    late_join_days: float = 60.0
    cojoin_days: float = 7.0
    household_weight: float = 0.3
    pass_through_days: float = 3.0
    pass_through_ratio: float = 0.7
    pass_through_material: float = 0.1
    pass_through_lookback_days: float = 30.0
    pass_through_floor: float = 0.5
    passed_weight: float = 3.0

    def __post_init__(self) -> None:
        if any(w < 0 or not np.isfinite(w) for w in self.type_weights.values()):
            raise InvalidInput("type weights must be finite and non-negative")
        if any(cap < 2 for cap in self.max_share.values()):
            raise InvalidInput("max_share must be at least 2 for every type")
        if self.transfer_weight < 0 or not np.isfinite(self.transfer_weight):
            raise InvalidInput("transfer_weight must be finite and non-negative")
        if self.coordination_days is not None and not self.coordination_days > 0:
            raise InvalidInput("coordination_days must be positive (or None to turn it off)")
        if not 0.0 <= self.coordination_floor <= 1.0:
            raise InvalidInput("coordination_floor must be in [0, 1]")
        if not 0.0 <= self.household_weight <= 1.0:
            raise InvalidInput("household_weight must be in [0, 1]")
        if self.late_join_days < 0 or self.cojoin_days < 0:
            raise InvalidInput("late_join_days and cojoin_days must be non-negative")
        if not 0.0 <= self.pass_through_material <= 1.0:
            raise InvalidInput("pass_through_material must be in [0, 1]")
        if not 0.0 <= self.pass_through_floor <= 1.0:
            raise InvalidInput("pass_through_floor must be in [0, 1] (a quantile)")
        if not self.pass_through_lookback_days >= 0:
            raise InvalidInput("pass_through_lookback_days must be non-negative")

    def weight_of(self, node_type: NodeType) -> float:
        """Type weight of ``node_type`` (0 when not configured)."""
        return float(self.type_weights.get(node_type, 0.0))

    def cap_of(self, node_type: NodeType) -> int:
        """Super-node threshold of ``node_type`` (50 when not configured)."""
        return int(self.max_share.get(node_type, 50))


@dataclass(frozen=True, slots=True)
class MoneyFlow:
    """Directed transfers between accounts (self-transfers dropped).

    Attributes
    ----------
    src, dst : ndarray of int64, shape (t,)
        Payer and payee store ids, one row per aggregated link.
    n_events : ndarray of int64, shape (t,)
    amount : ndarray of float64, shape (t,)
    first_ts, last_ts : ndarray of int64, shape (t,)
        First and last transfer over the link (microseconds since the epoch).
    related : ndarray of bool, shape (t,)
        Whether payer and payee share an identity attribute (phone, email, card or
        address: the customer's own savings, family).
    passed_on : ndarray of bool, shape (t,)
        Whether the link passes on money the payer had just received, and the payer
        passes on a material share of its money (see :mod:`scoring.pass_through`).
    """

    src: np.ndarray
    dst: np.ndarray
    n_events: np.ndarray
    amount: np.ndarray
    first_ts: np.ndarray
    last_ts: np.ndarray
    related: np.ndarray
    passed_on: np.ndarray


@dataclass(frozen=True, slots=True)
class AccountProjection:
    """The weighted account-account graph and what it was built from.

    Attributes
    ----------
    accounts : ndarray of int64, shape (n,)
        Store ids of every account, ascending (isolated accounts included).
    src, dst : ndarray of int64, shape (m,)
        Undirected edges between accounts, ``src < dst``, each pair once.
    src_row, dst_row : ndarray of int64, shape (m,)
        Positions of ``src`` and ``dst`` in ``accounts``, for indexing per-account arrays.
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
    identifiers_shared : ndarray of int64, shape (m,)
        Distinct non-super identifiers the pair shares (0 for money flow only).
    kinds_shared : ndarray of int64, shape (m,)
        The identifier kinds the pair shares: bit ``NODE_TYPE_CODE[t]`` set per kind.
    join_gap : ndarray of int64, shape (m,)
        Smallest gap between the two accounts' first uses of an identifier they share
        (µs; ``int64`` max for money flow only).
    living_together : ndarray of bool, shape (m,)
        Whether the pair shares an address and an IP: people living together (see
        ``ProjectionConfig.household_weight``).
    repeat_kinds : ndarray of int64, shape (m,)
        Kinds of the identifiers the pair shares that both accounts used more than once
        (a device both keep using, not one visit to a branch tablet).
    late_kinds : ndarray of int64, shape (m,)
        Kinds of the identifiers both accounts took up late and together (see
        ``ProjectionConfig.late_join_days`` and ``cojoin_days``) and both used more than
        once: two established accounts appearing on the same new device within days. IPs
        count only when flagged as proxies: offices and homes renumbered onto a new IP
        move everyone at once.
    memberships : IdentifierMemberships
    money_flow : MoneyFlow
    super_nodes : pa.Table
        ``SUPER_NODE_SCHEMA``, ordered by share count descending then id.
    """

    accounts: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    src_row: np.ndarray
    dst_row: np.ndarray
    weight: np.ndarray
    shared_weight: np.ndarray
    transfer_weight: np.ndarray
    evidence_identifier: np.ndarray
    evidence_type: np.ndarray
    identifiers_shared: np.ndarray
    kinds_shared: np.ndarray
    join_gap: np.ndarray
    living_together: np.ndarray
    repeat_kinds: np.ndarray
    late_kinds: np.ndarray
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
    store: GraphReader, config: ProjectionConfig | None = None
) -> AccountProjection:
    """Project the entity graph onto accounts, weighting ties by identifier rarity.

    Parameters
    ----------
    store : GraphReader
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
    return project_tables(nodes, links, config, store.export_transfers())


def project_tables(
    nodes: pa.Table,
    links: pa.Table,
    config: ProjectionConfig | None = None,
    transfers: pa.Table | None = None,
) -> AccountProjection:
    """:func:`shared_identifier_projection` on exported tables (``NODE/LINK_EXPORT_SCHEMA``).

    Parameters
    ----------
    nodes : pa.Table
        ``export_nodes()`` output.
    links : pa.Table
        ``export_links()`` output.
    config : ProjectionConfig, optional
    transfers : pa.Table, optional
        ``export_transfers()`` output: money passed on is then judged payment by payment
        (a link without payments among them, or every link when ``None``, from its
        aggregate; see :mod:`scoring.pass_through`).

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
    link_last = links.column("last_ts").cast(pa.int64()).to_numpy().astype(np.int64, copy=False)

    transfer = link_type == LINK_TYPE_CODE[LinkType.TRANSFERS_TO]
    flow_keep = transfer & (link_src != link_dst)
    identifier_link = ~transfer
    memberships, super_nodes = identifier_memberships(
        nodes,
        node_id,
        node_type,
        LinkColumns(
            account=link_src[identifier_link],
            identifier=link_dst[identifier_link],
            first_ts=link_first[identifier_link],
            last_ts=link_last[identifier_link],
            n_events=link_events[identifier_link],
            amount=link_amount[identifier_link],
        ),
        config,
    )
    first_seen = np.zeros(int(node_id.max()) + 1 if node_id.size else 0, np.int64)
    first_seen[node_id] = nodes.column("first_ts").cast(pa.int64()).fill_null(0).to_numpy()
    proxy = np.zeros(first_seen.shape[0], np.bool_)
    proxy[node_id] = nodes.column("is_proxy").fill_null(False).to_numpy(zero_copy_only=False)
    pairs = identifier_pairs(memberships, first_seen, proxy, config)
    flow_src, flow_dst = link_src[flow_keep], link_dst[flow_keep]
    related = _related(pairs, flow_src, flow_dst)
    money_flow = MoneyFlow(
        src=flow_src,
        dst=flow_dst,
        n_events=link_events[flow_keep],
        amount=link_amount[flow_keep],
        first_ts=link_first[flow_keep],
        last_ts=link_last[flow_keep],
        related=related,
        passed_on=_passed_on(
            flow_src,
            flow_dst,
            link_first[flow_keep],
            link_last[flow_keep],
            link_amount[flow_keep],
            link_events[flow_keep],
            related,
            transfers,
            config,
        ),
    )
    edges = _combine(pairs, money_flow, config.transfer_weight, config.passed_weight)
    address = 1 << NODE_TYPE_CODE[NodeType.ADDRESS]
    ip = 1 << NODE_TYPE_CODE[NodeType.IP]
    together = ((edges.kinds & address) != 0) & ((edges.kinds & ip) != 0)
    edges.shared[together] *= config.household_weight
    log.info(
        "account projection built",
        extra={
            "accounts": int(accounts.shape[0]),
            "edges": int(edges.src.shape[0]),
            "identifier_pairs": int(pairs.u.shape[0]),
            "super_nodes": super_nodes.num_rows,
        },
    )
    return AccountProjection(
        accounts=accounts,
        src=edges.src,
        dst=edges.dst,
        src_row=np.searchsorted(accounts, edges.src),
        dst_row=np.searchsorted(accounts, edges.dst),
        weight=edges.shared + edges.flow,
        shared_weight=edges.shared,
        transfer_weight=edges.flow,
        evidence_identifier=edges.evidence,
        evidence_type=edges.evidence_type,
        identifiers_shared=edges.identifiers,
        living_together=together,
        kinds_shared=edges.kinds,
        join_gap=edges.join_gap,
        repeat_kinds=edges.repeat_kinds,
        late_kinds=edges.late_kinds,
        memberships=memberships,
        money_flow=money_flow,
        super_nodes=super_nodes,
    )


@dataclass(frozen=True, slots=True)
class _Edges:
    """One row per account pair: the summed weights and what ties it."""

    src: np.ndarray
    dst: np.ndarray
    shared: np.ndarray
    flow: np.ndarray
    evidence: np.ndarray
    evidence_type: np.ndarray
    identifiers: np.ndarray
    kinds: np.ndarray
    join_gap: np.ndarray
    repeat_kinds: np.ndarray
    late_kinds: np.ndarray


def _passed_on(
    src: I64,
    dst: I64,
    first_ts: I64,
    last_ts: I64,
    amount: F64,
    n_events: I64,
    related: BoolArray,
    transfers: pa.Table | None,
    config: ProjectionConfig,
) -> BoolArray:
    """Money-flow links that pass on a material share of money: payment by payment where
    the payments are known, else from the aggregate (see :mod:`scoring.pass_through`)."""
    days, ratio = config.pass_through_days, config.pass_through_ratio
    passed = passed_on_links(src, dst, first_ts, amount, n_events, related, days=days, ratio=ratio)
    received = None
    if transfers is not None and transfers.num_rows > 0:
        require_columns(transfers, ("src", "dst", "ts", "amount"), "transfers")
        payer = transfers.column("src").to_numpy().astype(np.int64, copy=False)
        payee = transfers.column("dst").to_numpy().astype(np.int64, copy=False)
        ts = transfers.column("ts").cast(pa.int64()).to_numpy().astype(np.int64, copy=False)
        money = transfers.column("amount").to_numpy().astype(np.float64, copy=False)
        link_of, keep = payment_links(src, dst, payer, payee)
        by_payment, seen = passed_on_payments(
            src,
            dst,
            related,
            payer,
            payee,
            ts,
            money,
            days=days,
            ratio=ratio,
            matched=(link_of, keep),
        )
        passed = np.where(seen, by_payment, passed)
        between_related = np.zeros(payee.shape[0], np.bool_)
        between_related[keep] = related[link_of]
        received = (payee, ts, money, between_related)
    return material_passing(
        src,
        dst,
        first_ts,
        last_ts,
        amount,
        n_events,
        related,
        passed,
        received,
        share=config.pass_through_material,
        lookback_days=config.pass_through_lookback_days,
        floor_quantile=config.pass_through_floor,
    )


def _related(pairs: Pairs, payer: np.ndarray, payee: np.ndarray) -> np.ndarray:
    """Whether each transfer joins two accounts sharing an identity attribute."""
    identity = np.isin(pairs.node_code, [NODE_TYPE_CODE[t] for t in _IDENTITY_TYPES])
    known = np.unique(pairs.u[identity].astype(np.int64) * _PAIR_BASE + pairs.v[identity])
    lo, hi = np.minimum(payer, payee), np.maximum(payer, payee)
    key = lo.astype(np.int64) * _PAIR_BASE + hi
    if known.shape[0] == 0:
        return np.zeros(key.shape[0], np.bool_)
    position = np.minimum(np.searchsorted(known, key), known.shape[0] - 1)
    found: np.ndarray = known[position] == key
    return found


def _combine(
    pairs: Pairs, money_flow: MoneyFlow, transfer_weight: float, passed_weight: float
) -> _Edges:
    """Sum identifier and money-flow contributions per pair; keep the strongest evidence,
    the number of identifiers shared, the kinds shared (a bit per node type code) and the
    smallest gap between first uses."""
    flow_u = np.minimum(money_flow.src, money_flow.dst)
    flow_v = np.maximum(money_flow.src, money_flow.dst)
    n_flow = flow_u.shape[0]
    n_pairs = pairs.u.shape[0]
    transfer_code = LINK_TYPE_CODE[LinkType.TRANSFERS_TO]
    u = np.concatenate([pairs.u, flow_u])
    v = np.concatenate([pairs.v, flow_v])
    shared = np.concatenate([pairs.weight, np.zeros(n_flow)])
    flow = np.concatenate(
        [np.zeros(n_pairs), np.where(money_flow.passed_on, passed_weight, transfer_weight)]
    )
    ident = np.concatenate([pairs.identifier, np.full(n_flow, -1, np.int64)])
    kind = np.concatenate([pairs.link_code, np.full(n_flow, transfer_code, np.uint8)])
    counted = np.concatenate([np.ones(n_pairs, np.int64), np.zeros(n_flow, np.int64)])
    bits = np.left_shift(1, pairs.node_code.astype(np.int64))
    no_bits = np.zeros(n_flow, np.int64)
    kind_bit = np.concatenate([bits, no_bits])
    repeat_bit = np.concatenate([np.where(pairs.repeat, bits, 0), no_bits])
    late_bit = np.concatenate([np.where(pairs.late_together, bits, 0), no_bits])
    never = np.iinfo(np.int64).max
    gap = np.concatenate([pairs.join_gap, np.full(n_flow, never, np.int64)])
    # Strongest contribution first within each pair; money flow counts as its weight.
    strength = shared + flow
    order = np.lexsort((ident, -strength, v, u))
    u, v = u[order], v[order]
    first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])] if u.size else np.zeros(0, bool)
    starts = np.flatnonzero(first)

    def summed(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[order], starts) if starts.size else values[:0]

    def either(values: np.ndarray) -> np.ndarray:
        return np.bitwise_or.reduceat(values[order], starts) if starts.size else values[:0]

    return _Edges(
        src=u[starts],
        dst=v[starts],
        shared=summed(shared),
        flow=summed(flow),
        evidence=ident[order][starts],
        evidence_type=kind[order][starts],
        identifiers=summed(counted),
        kinds=either(kind_bit),
        join_gap=(np.minimum.reduceat(gap[order], starts) if starts.size else gap[:0]),
        repeat_kinds=either(repeat_bit),
        late_kinds=either(late_bit),
    )
