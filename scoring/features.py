"""Entity and ring features, as Arrow tables keyed by store id.

Account features describe how an account is tied to others: its links per type, how
many accounts share each kind of its identifiers, device and IP flags, sign-up bursts on
its devices, money flow, and where it sits in the projection (component, community,
PageRank, fraud-seeded propagation, triangles). Ring features describe a community's core:
size, density, what ties it, flags, timing and money cycles.

Label-derived features never include the entity's own label: an account's community
fraud fraction counts the *other* members only, and the seeded score is computed
leave-group-out (see :mod:`scoring.graph_signals`).

Everything is vectorised with numpy over the projection's arrays; no Python loop runs per
account, identifier or link.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pyarrow as pa

from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType, NodeType
from graph_service.temporal import DAY_US, signup_burst
from scoring.evidence import EVIDENCE_FEATURES, EvidenceConfig, account_evidence
from scoring.graph_signals import GraphSignals
from scoring.projection import IDENTIFIER_LINK_TYPES, AccountProjection

log = logging.getLogger(__name__)


#: Identifier types with share-count features, in order.
SHARED_TYPES: Final[tuple[NodeType, ...]] = (
    NodeType.DEVICE,
    NodeType.IP,
    NodeType.PHONE,
    NodeType.EMAIL,
    NodeType.CARD,
    NodeType.ADDRESS,
    NodeType.MERCHANT,
)

#: Account feature columns fed to the entity model (every one float64), in order.
ACCOUNT_MODEL_FEATURES: Final[tuple[str, ...]] = (
    *(f"links_{t.value.lower()}" for t in IDENTIFIER_LINK_TYPES),
    *(f"share_max_{t.value.lower()}" for t in SHARED_TYPES),
    *(f"rare_shared_{t.value.lower()}" for t in SHARED_TYPES),
    "super_node_links",
    "strength",
    "neighbours",
    "component_size",
    "community_size",
    "pagerank",
    "seeded_score",
    "triangles",
    "clustering",
    "emulator_devices",
    "rooted_devices",
    "proxy_ips",
    "signup_burst",
    "fan_in",
    "fan_out",
    "amount_in",
    "amount_out",
    "inflow_ratio",
    "in_cycle",
    "cycle_size",
    "community_density",
    "community_emulator_share",
    "community_proxy_share",
    "community_cycle_share",
    "community_fraud_fraction",
    "community_signup_spread_days",
    *EVIDENCE_FEATURES,
)


#: Account features the entity model uses when the store holds them: ``gnn_score`` is
#: written by the GNN jobs (``fraudgraph gnn infer``), never computed here.
OPTIONAL_MODEL_FEATURES: Final[tuple[str, ...]] = ("gnn_score",)


#: Features the entity model does not take: those derived from the account's group
#: (its community or component) or from its neighbours' labels. They make the risks of a
#: group's members move together, and the ring test counts members as independent
#: draws; known fraud nearby enters the ring test as the members' own labels instead.
GROUP_DERIVED_FEATURES: Final[frozenset[str]] = frozenset(
    {
        "component_size",
        "community_size",
        "community_density",
        "community_emulator_share",
        "community_proxy_share",
        "community_cycle_share",
        "community_fraud_fraction",
        "community_signup_spread_days",
        "seeded_score",
    }
)


def model_feature_names(columns: Sequence[str]) -> tuple[str, ...]:
    """The entity model's inputs for a feature table with ``columns``: every column of
    :data:`ACCOUNT_MODEL_FEATURES` but the group-derived ones, the optional ones
    present, then the evidence channels (``evidence_*``) present."""
    present = set(columns)
    own = tuple(n for n in ACCOUNT_MODEL_FEATURES if n not in GROUP_DERIVED_FEATURES)
    optional = tuple(n for n in OPTIONAL_MODEL_FEATURES if n in present)
    channels = tuple(
        n for n in columns if n.startswith("evidence_") and n != "evidence_known_fraud"
    )
    return own + optional + channels


def with_stored_scores(features: pa.Table, scores: pa.Table, name: str) -> pa.Table:
    """``features`` plus column ``name`` from a ``read_scores`` table (accounts without a
    stored score get 0); unchanged when ``scores`` is empty.

    Notes
    -----
    O(n + s log s) for n accounts and s scores.
    """
    if scores.num_rows == 0:
        return features
    ids = scores.column("entity_id").to_numpy().astype(np.int64)
    values = scores.column("value").to_numpy().astype(np.float64)
    order = np.argsort(ids)
    ids, values = ids[order], values[order]
    accounts = features.column("id").to_numpy().astype(np.int64)
    position = np.minimum(np.searchsorted(ids, accounts), max(ids.shape[0] - 1, 0))
    found = ids[position] == accounts
    column = np.where(found, values[position], 0.0)
    return features.append_column(name, pa.array(column, pa.float64()))


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """Windows and thresholds of the feature computations.

    Parameters
    ----------
    burst_window_days : float
        Two accounts first seen on the same device within this many days count towards
        each other's sign-up burst (default 3).
    core_fraction : float
        A community member is in the ring core when its weight inside the community is
        at least this share of the reference member's (default 0.25): accounts that only
        hang off one member (a member's household, a mule's victims) stay outside, while
        a member tied by one or two identifiers (camouflage) stays in; the ring test and
        the members that show the ring's evidence do the rest of the pruning.
    core_reference_rank : int
        The reference member is the community's ``core_reference_rank``-th strongest
        (default 3).
    evidence : EvidenceConfig
        Windows of the behavioural evidence (see :mod:`scoring.evidence`).
    """

    burst_window_days: float = 3.0
    core_fraction: float = 0.25
    core_reference_rank: int = 3
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """Attributes of every stored node, indexed by store id.

    Attributes
    ----------
    node_type : ndarray of uint8
    is_emulator, is_rooted, is_proxy : ndarray of bool
    first_ts, last_ts : ndarray of int64
        First and last seen (microseconds since the epoch), 0 when unknown.
    """

    node_type: np.ndarray
    is_emulator: np.ndarray
    is_rooted: np.ndarray
    is_proxy: np.ndarray
    first_ts: np.ndarray
    last_ts: np.ndarray

    @classmethod
    def from_table(cls, nodes: pa.Table) -> NodeFacts:
        """Dense lookup arrays from ``export_nodes()`` (ids index the arrays).

        Notes
        -----
        O(N).
        """
        ids = nodes.column("id").to_numpy().astype(np.int64, copy=False)
        size = int(ids.max()) + 1 if ids.shape[0] else 0

        def dense(column: str, dtype: type, fill: object) -> np.ndarray:
            values = nodes.column(column)
            out: np.ndarray = np.full(size, fill, dtype)
            filled = values.fill_null(fill)
            out[ids] = np.asarray(filled.to_numpy(zero_copy_only=False), dtype)
            return out

        node_type = np.zeros(size, np.uint8)
        node_type[ids] = nodes.column("type").to_numpy()

        def moment(column: str) -> np.ndarray:
            out: np.ndarray = np.zeros(size, np.int64)
            out[ids] = nodes.column(column).cast(pa.int64()).fill_null(0).to_numpy()
            return out

        return cls(
            node_type=node_type,
            is_emulator=dense("is_emulator", np.bool_, False),
            is_rooted=dense("is_rooted", np.bool_, False),
            is_proxy=dense("is_proxy", np.bool_, False),
            first_ts=moment("first_ts"),
            last_ts=moment("last_ts"),
        )


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """Features of one analysis run.

    Attributes
    ----------
    accounts : pa.Table
        One row per account: ``id`` plus :data:`ACCOUNT_MODEL_FEATURES` and ``component``,
        ``community``, ``in_core`` and ``known_fraud`` / ``known_legit`` (the labels,
        never model inputs).
    rings : pa.Table
        One row per community with a core of at least two accounts (see
        :func:`ring_features`).
    core : ndarray of bool, shape (n,)
        Ring-core membership of every account.
    """

    accounts: pa.Table
    rings: pa.Table
    core: np.ndarray


def account_features(
    projection: AccountProjection,
    signals: GraphSignals,
    facts: NodeFacts,
    fraud: np.ndarray,
    legit: np.ndarray,
    config: FeatureConfig | None = None,
) -> pa.Table:
    """Per-account features.

    Parameters
    ----------
    projection : AccountProjection
    signals : GraphSignals
    facts : NodeFacts
    fraud, legit : ndarray of int64
        Store ids with a known-fraud / known-legit label.
    config : FeatureConfig, optional

    Returns
    -------
    pa.Table
        ``id`` (int64), every column of :data:`ACCOUNT_MODEL_FEATURES` (float64), and
        ``component``, ``community`` (int64), ``known_fraud``, ``known_legit`` (bool).

    Notes
    -----
    O(n + l + m) for n accounts, l identifier links and m projected edges, plus a sort of
    the device links for the burst window.
    """
    config = config or FeatureConfig()
    accounts = projection.accounts
    n = int(accounts.shape[0])
    links = projection.memberships
    row = np.searchsorted(accounts, links.account)
    columns: dict[str, np.ndarray] = {}
    link_type_codes = _link_type_of_identifier(links.node_type)
    for link in IDENTIFIER_LINK_TYPES:
        mask = link_type_codes == LINK_TYPE_CODE[link]
        columns[f"links_{link.value.lower()}"] = np.bincount(row[mask], minlength=n).astype(float)
    for node_type in SHARED_TYPES:
        mask = links.node_type == NODE_TYPE_CODE[node_type]
        share_max = np.zeros(n)
        np.maximum.at(share_max, row[mask], links.share_count[mask].astype(float))
        columns[f"share_max_{node_type.value.lower()}"] = share_max
        rare = mask & ~links.super_node & (links.share_count >= 2)
        columns[f"rare_shared_{node_type.value.lower()}"] = np.bincount(
            row[rare], minlength=n
        ).astype(float)
    columns["super_node_links"] = np.bincount(row[links.super_node], minlength=n).astype(float)

    u = projection.src_row
    v = projection.dst_row
    both = np.concatenate([u, v])
    columns["strength"] = np.bincount(
        both, weights=np.concatenate([projection.weight, projection.weight]), minlength=n
    )
    columns["neighbours"] = np.bincount(both, minlength=n).astype(float)
    columns["component_size"] = _group_sizes(signals.component).astype(float)
    columns["community_size"] = _group_sizes(signals.community).astype(float)
    columns["pagerank"] = signals.pagerank
    columns["seeded_score"] = signals.seeded_score
    columns["triangles"] = signals.triangles.astype(float)
    columns["clustering"] = signals.clustering

    device = links.node_type == NODE_TYPE_CODE[NodeType.DEVICE]
    ip = links.node_type == NODE_TYPE_CODE[NodeType.IP]
    emulator = device & facts.is_emulator[links.identifier]
    rooted = device & facts.is_rooted[links.identifier]
    proxy = ip & facts.is_proxy[links.identifier]
    columns["emulator_devices"] = np.bincount(row[emulator], minlength=n).astype(float)
    columns["rooted_devices"] = np.bincount(row[rooted], minlength=n).astype(float)
    columns["proxy_ips"] = np.bincount(row[proxy], minlength=n).astype(float)
    columns["signup_burst"] = signup_burst(
        row[device],
        links.identifier[device],
        links.first_ts[device],
        n,
        window_us=int(config.burst_window_days * DAY_US),
    )

    columns["fan_in"] = signals.fan_in.astype(float)
    columns["fan_out"] = signals.fan_out.astype(float)
    columns["amount_in"] = signals.amount_in
    columns["amount_out"] = signals.amount_out
    total = signals.amount_in + signals.amount_out
    columns["inflow_ratio"] = np.divide(
        signals.amount_in, total, out=np.full(n, 0.5), where=total > 0
    )
    columns["in_cycle"] = signals.in_cycle.astype(float)
    columns["cycle_size"] = signals.cycle_size.astype(float)

    known_fraud = np.isin(accounts, fraud)
    known_legit = np.isin(accounts, legit) & ~known_fraud
    group = np.unique(signals.community, return_inverse=True)[1]
    sizes = np.bincount(group).astype(float)
    same = signals.community[u] == signals.community[v]
    internal_edges = np.bincount(group[u[same]], minlength=sizes.shape[0]).astype(float)
    possible = sizes * (sizes - 1) / 2
    columns["community_density"] = np.divide(
        internal_edges, possible, out=np.zeros_like(sizes), where=possible > 0
    )[group]
    columns["community_emulator_share"] = _group_mean(group, columns["emulator_devices"] > 0)
    columns["community_proxy_share"] = _group_mean(group, columns["proxy_ips"] > 0)
    columns["community_cycle_share"] = _group_mean(group, signals.in_cycle)
    fraud_in_group = np.bincount(group, weights=known_fraud.astype(float))
    others = sizes[group] - 1
    columns["community_fraud_fraction"] = np.divide(
        fraud_in_group[group] - known_fraud, others, out=np.zeros(n), where=others > 0
    )
    created = facts.first_ts[accounts].astype(float) / DAY_US
    columns["community_signup_spread_days"] = _group_std(group, created)
    columns.update(account_evidence(projection, facts.first_ts, facts.last_ts, config.evidence))

    table: dict[str, object] = {"id": accounts}
    for name in ACCOUNT_MODEL_FEATURES:
        table[name] = np.asarray(columns[name], np.float64)
    table["component"] = signals.component.astype(np.int64)
    table["community"] = signals.community.astype(np.int64)
    table["known_fraud"] = known_fraud
    table["known_legit"] = known_legit
    return pa.table(table)


def ring_core(
    projection: AccountProjection,
    community: np.ndarray,
    core_fraction: float,
    reference_rank: int = 5,
) -> np.ndarray:
    """Which accounts form the core of their community.

    A member is in the core when its summed edge weight to the other members is positive
    and at least ``core_fraction`` times the community's reference strength: that of its
    ``reference_rank``-th strongest member (the weakest one in smaller communities), so
    one or two hubs (a mule network's collectors) do not push ordinary members out.

    Parameters
    ----------
    projection : AccountProjection
    community : ndarray of int64, shape (n,)
        Aligned with ``projection.accounts``.
    core_fraction : float
    reference_rank : int

    Returns
    -------
    ndarray of bool, shape (n,)

    Notes
    -----
    O(n + m).
    """
    accounts = projection.accounts
    n = int(accounts.shape[0])
    u = projection.src_row
    v = projection.dst_row
    same = community[u] == community[v]
    strength = np.bincount(
        np.concatenate([u[same], v[same]]),
        weights=np.concatenate([projection.weight[same], projection.weight[same]]),
        minlength=n,
    )
    group = np.unique(community, return_inverse=True)[1]
    k = int(group.max()) + 1 if n else 0
    sizes = np.bincount(group, minlength=k)
    order = np.lexsort((-strength, group))
    ranked_group = group[order]
    rank = np.arange(n) - np.searchsorted(ranked_group, ranked_group)
    wanted = np.minimum(reference_rank, sizes) - 1
    pick = rank == wanted[ranked_group]
    reference = np.zeros(k)
    reference[ranked_group[pick]] = strength[order][pick]
    return (strength > 0) & (strength >= core_fraction * reference[group])


#: Ring feature columns (besides ``candidate``, ``size``), in order.
RING_FEATURES: Final[tuple[str, ...]] = (
    "size",
    "density",
    "shared_identifier_ratio",
    "known_fraud_fraction",
    "emulator_share",
    "rooted_share",
    "proxy_share",
    "rare_merchant_share",
    "signup_burst_max",
    "creation_spread_days",
    "money_cycle_share",
    "internal_transfers",
    "mean_seeded_score",
)


def ring_features(
    projection: AccountProjection,
    accounts_table: pa.Table,
    facts: NodeFacts,
    core: np.ndarray,
    community: np.ndarray | None = None,
) -> pa.Table:
    """Features of every ring candidate: the core of a community, two accounts at least.

    Parameters
    ----------
    projection : AccountProjection
    accounts_table : pa.Table
        :func:`account_features` output.
    facts : NodeFacts
    core : ndarray of bool
        :func:`ring_core` output.
    community : ndarray of int64, optional
        The communities the cores belong to (default: the table's ``community``).

    Returns
    -------
    pa.Table
        ``candidate`` (community label, int64), ``members`` (sorted store ids,
        list<int64>) and :data:`RING_FEATURES` (float64), ordered by candidate.
        ``density`` is internal edges over possible pairs of the core;
        ``shared_identifier_ratio`` the share of internal weight from shared identifiers
        (the rest is money flow); ``known_fraud_fraction`` the labelled-fraud share of
        the core; ``rare_merchant_share`` the share of members paying a merchant few
        accounts use; ``creation_spread_days`` the standard deviation of account
        first-seen times.

    Notes
    -----
    O(n + m).
    """
    accounts = projection.accounts
    if community is None:
        community = accounts_table.column("community").to_numpy()
    members = accounts[core]
    labels = community[core]
    order = np.lexsort((members, labels))
    members, labels = members[order], labels[order]
    candidates, group, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    keep = sizes >= 2
    member_keep = keep[group]
    members, labels = members[member_keep], labels[member_keep]
    candidates, group, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    k = int(candidates.shape[0])
    position = np.searchsorted(accounts, members)

    def col(name: str) -> np.ndarray:
        return np.asarray(accounts_table.column(name).to_numpy()[position], np.float64)

    # Edges with both ends in the same candidate core.
    slot = np.full(accounts.shape[0], -1, np.int64)
    slot[position] = group
    u = projection.src_row
    v = projection.dst_row
    inside = (slot[u] >= 0) & (slot[u] == slot[v])
    ring_of_edge = slot[u][inside]
    internal = np.bincount(ring_of_edge, minlength=k).astype(float)
    shared = np.bincount(ring_of_edge, weights=projection.shared_weight[inside], minlength=k)
    weight = np.bincount(ring_of_edge, weights=projection.weight[inside], minlength=k)
    internal_transfers = np.bincount(
        ring_of_edge, weights=(projection.transfer_weight[inside] > 0), minlength=k
    )
    size = sizes.astype(float)
    possible = size * (size - 1) / 2
    created = facts.first_ts[members].astype(float) / DAY_US
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    columns: dict[str, object] = {
        "candidate": candidates.astype(np.int64),
        "members": pa.ListArray.from_arrays(pa.array(offsets), pa.array(members, pa.int64())),
        "size": size,
        "density": np.divide(internal, possible, out=np.zeros(k), where=possible > 0),
        "shared_identifier_ratio": np.divide(shared, weight, out=np.zeros(k), where=weight > 0),
        "known_fraud_fraction": _ring_mean(
            group, accounts_table.column("known_fraud").to_numpy()[position], k
        ),
        "emulator_share": _ring_mean(group, col("emulator_devices") > 0, k),
        "rooted_share": _ring_mean(group, col("rooted_devices") > 0, k),
        "proxy_share": _ring_mean(group, col("proxy_ips") > 0, k),
        "rare_merchant_share": _ring_mean(group, col("rare_shared_merchant") > 0, k),
        "signup_burst_max": _ring_max(group, col("signup_burst"), k),
        "creation_spread_days": _ring_std(group, created, k),
        "money_cycle_share": _ring_mean(group, col("in_cycle") > 0, k),
        "internal_transfers": internal_transfers,
        "mean_seeded_score": _ring_mean(group, col("seeded_score"), k),
    }
    return pa.table(columns)


def _link_type_of_identifier(node_codes: np.ndarray) -> np.ndarray:
    from graph_service.model import LINK_ENDPOINTS

    table = np.zeros(len(NODE_TYPE_CODE), np.uint8)
    for link, (_, target) in LINK_ENDPOINTS.items():
        if link != LinkType.TRANSFERS_TO:
            table[NODE_TYPE_CODE[target]] = LINK_TYPE_CODE[link]
    codes: np.ndarray = table[node_codes]
    return codes


def _group_sizes(labels: np.ndarray) -> np.ndarray:
    inverse = np.unique(labels, return_inverse=True)[1]
    sizes: np.ndarray = np.bincount(inverse)[inverse]
    return sizes


def _group_mean(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    sums = np.bincount(group, weights=np.asarray(values, float))
    counts = np.bincount(group)
    means: np.ndarray = (sums / np.maximum(counts, 1))[group]
    return means


def _group_std(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    counts = np.maximum(np.bincount(group), 1)
    mean = np.bincount(group, weights=values) / counts
    square = np.bincount(group, weights=values * values) / counts
    spread: np.ndarray = np.sqrt(np.maximum(square - mean * mean, 0.0))[group]
    return spread


def _ring_mean(group: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    sums = np.bincount(group, weights=np.asarray(values, float), minlength=k)
    return sums / np.maximum(np.bincount(group, minlength=k), 1)


def _ring_max(group: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(k)
    np.maximum.at(out, group, values)
    return out


def _ring_std(group: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    counts = np.maximum(np.bincount(group, minlength=k), 1)
    mean = np.bincount(group, weights=values, minlength=k) / counts
    square = np.bincount(group, weights=values * values, minlength=k) / counts
    spread: np.ndarray = np.sqrt(np.maximum(square - mean * mean, 0.0))
    return spread
