"""Two naive ring detectors that the scoring pipeline has to beat.

* :func:`wcc_baseline` -- weakly connected components of the account-identifier graph:
  every group of accounts joined by any chain of shared devices, IPs, phones, emails,
  cards or addresses is a ring. Common identifiers (carrier-NAT IPs, office Wi-Fi) glue
  such components into blobs, which is what the pipeline's rarity weighting is for.
* :func:`rules_baseline` -- a bank rule engine: "device used by more than k accounts",
  "phone / email / card used by more than k accounts", "account on an emulator". Each
  triggering identifier flags the accounts behind it.

Both return a :class:`DetectorOutput` in the pipeline's shapes, so a single
:func:`scoring.evaluation.evaluate` call scores each of the three detectors:

* ``flagged``: ``ring_id string, members list<int64>, score float64, reasons
  list<string>``, one row per flagged cluster, members ascending, highest score first;
* ``account_scores``: ``id int64, risk float64`` for every account, risk in [0, 1].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.algorithms import NativeProjection
from graph_service.errors import InvalidInput
from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType, NodeType
from graph_service.tables import distinct
from graph_service.typing import I64

if TYPE_CHECKING:
    from graph_service.store import GraphStore

__all__ = [
    "ACCOUNT_SCORE_SCHEMA",
    "FLAGGED_SCHEMA",
    "SHARED_IDENTIFIER_PROJECTION",
    "DetectorOutput",
    "Rule",
    "rules_baseline",
    "wcc_baseline",
]

log = logging.getLogger(__name__)


#: Flagged clusters, as the pipeline's flagging step emits them.
FLAGGED_SCHEMA: Final = pa.schema(
    [
        pa.field("ring_id", pa.string(), nullable=False),
        pa.field("members", pa.list_(pa.int64()), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
    ]
)

#: Per-account scores.
ACCOUNT_SCORE_SCHEMA: Final = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("risk", pa.float64(), nullable=False)]
)

#: Accounts and every identifier they can share (no merchants, no transfers).
SHARED_IDENTIFIER_PROJECTION: Final = NativeProjection(
    node_types=(
        NodeType.ACCOUNT,
        NodeType.DEVICE,
        NodeType.IP,
        NodeType.PHONE,
        NodeType.EMAIL,
        NodeType.CARD,
        NodeType.ADDRESS,
    ),
    link_types=(
        LinkType.USES_DEVICE,
        LinkType.LOGS_IN_FROM,
        LinkType.HAS_PHONE,
        LinkType.HAS_EMAIL,
        LinkType.HAS_CARD,
        LinkType.HAS_ADDRESS,
    ),
)


class Rule(StrEnum):
    """The rules of :func:`rules_baseline`; the value is the reason code."""

    SHARED_DEVICE = "shared_device"
    SHARED_PHONE = "shared_phone"
    SHARED_EMAIL = "shared_email"
    SHARED_CARD = "shared_card"
    EMULATOR = "emulator_device"


_RULES: Final = tuple(Rule)
_RULE_NAMES: Final = pa.array([r.value for r in _RULES], pa.string())
_SHARING_RULES: Final[dict[LinkType, Rule]] = {
    LinkType.USES_DEVICE: Rule.SHARED_DEVICE,
    LinkType.HAS_PHONE: Rule.SHARED_PHONE,
    LinkType.HAS_EMAIL: Rule.SHARED_EMAIL,
    LinkType.HAS_CARD: Rule.SHARED_CARD,
}


@dataclass(frozen=True, slots=True)
class DetectorOutput:
    """What a ring detector hands to :func:`scoring.evaluation.evaluate`.

    Attributes
    ----------
    flagged : pa.Table
        Flagged clusters in ``FLAGGED_SCHEMA``.
    account_scores : pa.Table
        Every account's risk in ``ACCOUNT_SCORE_SCHEMA``.
    """

    flagged: pa.Table
    account_scores: pa.Table


def wcc_baseline(
    store: GraphStore,
    *,
    min_size: int = 2,
    projection: NativeProjection = SHARED_IDENTIFIER_PROJECTION,
) -> DetectorOutput:
    """Flag every weakly connected component of accounts joined by shared identifiers.

    Parameters
    ----------
    store : GraphStore
    min_size : int, optional
        Components with at least this many accounts are flagged.
    projection : NativeProjection, optional
        The graph the components are taken on; by default accounts with their devices,
        IPs, phones, emails, cards and addresses. It must include ``Account`` nodes.

    Returns
    -------
    DetectorOutput
        One flagged cluster per component of ``min_size`` accounts or more: ``ring_id``
        ``"wcc-<component>"`` (the component's canonical label, equal on every backend),
        its accounts, ``score = 1 - 1/size`` and the reason ``connected_component``,
        largest first (ties by ``ring_id``). Every account scores ``1 - 1/size`` of its
        component (0 when alone).

    Raises
    ------
    InvalidInput
        If ``min_size < 1`` or the projection has no ``Account`` nodes.
    LimitExceeded, BackendUnavailable
        From the store's algorithm engine.

    Notes
    -----
    One WCC run on the backend's engine (O(n + m)), one ``export_nodes`` call and
    O(a log a) array work for a accounts.
    """
    if min_size < 1:
        raise InvalidInput(f"min_size must be >= 1, got {min_size}")
    if NodeType.ACCOUNT not in projection.node_types:
        raise InvalidInput("the WCC baseline needs a projection with Account nodes")
    components = store.algorithms().wcc(projection)
    account_ids = _account_ids(store)
    node_ids = components.column("id").to_numpy().astype(np.int64)
    labels = components.column("component").to_numpy().astype(np.int64)
    order = np.argsort(node_ids, kind="stable")
    node_ids, labels = node_ids[order], labels[order]
    position = np.minimum(np.searchsorted(node_ids, account_ids), max(node_ids.size - 1, 0))
    inside = (
        node_ids[position] == account_ids if node_ids.size else np.zeros(account_ids.size, bool)
    )
    account_labels = np.empty(account_ids.size, np.int64)
    account_labels[inside] = labels[position[inside]]
    # An account outside the projection is a component of its own, labelled by its own id
    # (the smallest id in it, as canonical labels are).
    account_labels[~inside] = account_ids[~inside]
    unique_labels, inverse, sizes = np.unique(
        account_labels, return_inverse=True, return_counts=True
    )
    risk = 1.0 - 1.0 / sizes[inverse]
    scores = pa.table({"id": account_ids, "risk": risk}, schema=ACCOUNT_SCORE_SCHEMA)

    kept = sizes >= min_size
    member_order = np.lexsort((account_ids, inverse))
    member_groups = inverse[member_order]
    keep_member = kept[member_groups]
    members = account_ids[member_order][keep_member]
    group_sizes = sizes[kept]
    cluster_labels = unique_labels[kept]
    offsets = np.r_[0, np.cumsum(group_sizes)].astype(np.int32)
    clusters = pa.table(
        {
            "ring_id": pc.binary_join_element_wise(
                "wcc-", pa.array(cluster_labels).cast(pa.string()), ""
            ),
            "members": pa.ListArray.from_arrays(pa.array(offsets), pa.array(members, pa.int64())),
            "score": 1.0 - 1.0 / group_sizes,
            "reasons": pa.ListArray.from_arrays(
                pa.array(np.arange(group_sizes.size + 1, dtype=np.int32)),
                pa.repeat(pa.scalar("connected_component"), int(group_sizes.size)),
            ),
        }
    )
    flagged = _ordered(clusters)
    log.info(
        "wcc baseline",
        extra={"accounts": int(account_ids.size), "flagged": flagged.num_rows},
    )
    return DetectorOutput(flagged=flagged, account_scores=scores)


def rules_baseline(
    store: GraphStore,
    *,
    max_accounts_per_device: int = 3,
    max_accounts_per_identifier: int | None = 3,
    flag_emulators: bool = True,
    min_cluster_size: int = 2,
) -> DetectorOutput:
    """A bank rule engine: identifiers shared by too many accounts, emulator devices.

    Rules (reason codes in :class:`Rule`):

    * ``shared_device``: a device used by more than ``max_accounts_per_device`` accounts;
    * ``shared_phone`` / ``shared_email`` / ``shared_card``: a phone, email or card held by
      more than ``max_accounts_per_identifier`` accounts;
    * ``emulator_device``: a device whose latest attributes say ``is_emulator``.

    Parameters
    ----------
    store : GraphStore
    max_accounts_per_device : int, optional
    max_accounts_per_identifier : int or None, optional
        ``None`` disables the phone, email and card rules.
    flag_emulators : bool, optional
        Whether the emulator rule runs.
    min_cluster_size : int, optional
        A triggering identifier flags its accounts as a cluster when there are at least
        this many.

    Returns
    -------
    DetectorOutput
        Flagged clusters: the account set behind each triggering identifier; identical
        sets (a ring sharing both a device and a phone) are one cluster, with the union of
        their reasons and ``ring_id`` ``"rule-<smallest identifier id>"``; cluster score =
        distinct rules behind it / rules enabled. Account risk = distinct rules the
        account hits / rules enabled (0 for accounts hitting none). Highest score first,
        then largest, then by ``ring_id``.

    Raises
    ------
    InvalidInput
        If a threshold is below 1 or ``min_cluster_size`` below 1.

    Notes
    -----
    One ``export_links`` call (device, phone, email and card links) and one
    ``export_nodes`` call, then O(m log m) array work for m links.
    """
    limits = {"max_accounts_per_device": max_accounts_per_device}
    if max_accounts_per_identifier is not None:
        limits["max_accounts_per_identifier"] = max_accounts_per_identifier
    limits["min_cluster_size"] = min_cluster_size
    for name, value in limits.items():
        if value < 1:
            raise InvalidInput(f"{name} must be >= 1, got {value}")
    limit_of: dict[LinkType, int] = {LinkType.USES_DEVICE: max_accounts_per_device}
    if max_accounts_per_identifier is not None:
        for link_type in (LinkType.HAS_PHONE, LinkType.HAS_EMAIL, LinkType.HAS_CARD):
            limit_of[link_type] = max_accounts_per_identifier
    enabled = [_SHARING_RULES[t] for t in limit_of] + ([Rule.EMULATOR] if flag_emulators else [])

    nodes = store.export_nodes()
    account_ids = _account_ids_of(nodes)
    links = store.export_links(list(limit_of))
    src = links.column("src").to_numpy().astype(np.int64)
    dst = links.column("dst").to_numpy().astype(np.int64)
    link_type = links.column("type").to_numpy().astype(np.int64)
    # Links are aggregated per (account, identifier, type): each is one distinct account.
    _, identifier_index, accounts_per_identifier = np.unique(
        dst, return_inverse=True, return_counts=True
    )
    per_link = accounts_per_identifier[identifier_index]

    hit_links: list[I64] = []
    hit_rules: list[I64] = []
    for kind, limit in limit_of.items():
        rule = _RULES.index(_SHARING_RULES[kind])
        triggered = np.flatnonzero((link_type == LINK_TYPE_CODE[kind]) & (per_link > limit))
        hit_links.append(triggered)
        hit_rules.append(np.full(triggered.size, rule, np.int64))
    if flag_emulators:
        triggered = np.flatnonzero(
            (link_type == LINK_TYPE_CODE[LinkType.USES_DEVICE]) & _is_emulator(nodes, dst)
        )
        hit_links.append(triggered)
        hit_rules.append(np.full(triggered.size, _RULES.index(Rule.EMULATOR), np.int64))
    link_hits = np.concatenate(hit_links)
    rule_hits = np.concatenate(hit_rules)

    hit_accounts, rules_hit = np.unique(
        _unique_pairs(src[link_hits], rule_hits)[0], return_counts=True
    )
    risk = np.zeros(account_ids.size)
    risk[np.searchsorted(account_ids, hit_accounts)] = rules_hit / len(enabled)
    scores = pa.table({"id": account_ids, "risk": risk}, schema=ACCOUNT_SCORE_SCHEMA)

    flagged = _identifier_clusters(
        src, dst, dst[link_hits], rule_hits, min_cluster_size, len(enabled)
    )
    log.info(
        "rules baseline",
        extra={
            "accounts": int(account_ids.size),
            "accounts_hit": int(hit_accounts.size),
            "flagged": flagged.num_rows,
        },
    )
    return DetectorOutput(flagged=flagged, account_scores=scores)


# ----------------------------------------------------------------------- internals


def _identifier_clusters(
    src: I64,
    dst: I64,
    triggering: I64,
    rules: I64,
    min_cluster_size: int,
    rules_enabled: int,
) -> pa.Table:
    """The account sets behind the triggering identifiers, identical sets merged."""
    identifier_rule = _unique_pairs(triggering, rules)
    identifiers = distinct(identifier_rule[0])
    behind = np.isin(dst, identifiers)
    order = np.lexsort((src[behind], dst[behind]))
    cluster_dst = dst[behind][order]
    cluster_src = src[behind][order]
    heads, sizes = np.unique(cluster_dst, return_counts=True)
    offsets = np.r_[0, np.cumsum(sizes)]
    big = sizes >= min_cluster_size
    if not big.any():
        return FLAGGED_SCHEMA.empty_table()
    members = pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), pa.array(cluster_src, pa.int64())
    ).filter(pa.array(big))
    heads = heads[big]
    # Identical account sets (one ring behind a device and a phone) become one cluster.
    key = pc.binary_join(pc.cast(members, pa.list_(pa.string())), ",")
    encoded = pc.dictionary_encode(key)
    group = encoded.indices.to_numpy().astype(np.int64)
    n_groups = len(encoded.dictionary)
    first = np.full(n_groups, heads.size, np.int64)
    np.minimum.at(first, group, np.arange(heads.size))
    rule_of_pair = identifier_rule[1][np.isin(identifier_rule[0], heads)]
    head_of_pair = identifier_rule[0][np.isin(identifier_rule[0], heads)]
    group_rule = _unique_pairs(group[np.searchsorted(heads, head_of_pair)], rule_of_pair)
    rules_per_group = np.bincount(group_rule[0], minlength=n_groups)
    reasons = pa.ListArray.from_arrays(
        pa.array(np.r_[0, np.cumsum(rules_per_group)].astype(np.int32)),
        _RULE_NAMES.take(pa.array(group_rule[1])),
    )
    clusters = pa.table(
        {
            "ring_id": pc.binary_join_element_wise(
                "rule-", pa.array(heads[first]).cast(pa.string()), ""
            ),
            "members": members.take(pa.array(first)),
            "score": rules_per_group / rules_enabled,
            "reasons": reasons,
        }
    )
    return _ordered(clusters)


def _unique_pairs(first: I64, rule: I64) -> tuple[I64, I64]:
    """Distinct ``(first, rule)`` pairs sorted by first then rule (rule < ``len(Rule)``)."""
    width = len(_RULES)
    codes = distinct(first.astype(np.int64) * width + rule)
    return codes // width, codes % width


def _ordered(clusters: pa.Table) -> pa.Table:
    """Highest score first, then largest, then by ring id; in ``FLAGGED_SCHEMA``."""
    sizes = pc.list_value_length(clusters.column("members"))
    ranked = clusters.append_column("_size", sizes).sort_by(
        [("score", "descending"), ("_size", "descending"), ("ring_id", "ascending")]
    )
    return ranked.drop_columns(["_size"]).cast(FLAGGED_SCHEMA)


def _account_ids(store: GraphStore) -> I64:
    return _account_ids_of(store.export_nodes())


def _account_ids_of(nodes: pa.Table) -> I64:
    is_account = pc.equal(nodes.column("type"), NODE_TYPE_CODE[NodeType.ACCOUNT])
    ids = nodes.column("id").filter(is_account).to_numpy().astype(np.int64)
    return np.sort(ids)


def _is_emulator(nodes: pa.Table, ids: I64) -> npt.NDArray[np.bool_]:
    """Whether each of ``ids`` is a node flagged ``is_emulator``."""
    flagged = pc.fill_null(nodes.column("is_emulator"), False)
    emulators = nodes.column("id").filter(flagged).to_numpy().astype(np.int64)
    return np.isin(ids, emulators)
