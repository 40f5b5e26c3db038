"""Reason codes: why an account or a ring scored as it did.

A reason is a stable upper-case code, sometimes with a count in it
(``SHARED_DEVICE_WITH_12_ACCOUNTS``). Each rule below fires on a feature table; the codes
of the rules that fire are listed strongest first (the rule order is the strength order)
and cut to ``top``. Rules are evaluated column-wise over all rows at once and the lists
are assembled with Arrow, so no Python loop runs per row.

Account codes
    ``NEAR_KNOWN_FRAUD``, ``EMULATOR_DEVICE``, ``SIGNUP_BURST_ON_DEVICE``,
    ``TRANSFER_CYCLE``, ``SHARED_DEVICE_WITH_<n>_ACCOUNTS``,
    ``SHARED_PHONE_WITH_<n>_ACCOUNTS``, ``SHARED_EMAIL_WITH_<n>_ACCOUNTS``,
    ``SHARED_CARD_WITH_<n>_ACCOUNTS``, ``SHARED_ADDRESS_WITH_<n>_ACCOUNTS``,
    ``SHARED_IP_WITH_<n>_ACCOUNTS``, ``SHARED_RARE_MERCHANT``, ``FAN_IN_<n>_PAYERS``,
    ``FAN_OUT_<n>_PAYEES``, ``PROXY_IP``, ``ROOTED_DEVICE``, ``DENSE_COMMUNITY``,
    ``SUPER_NODE_DISCOUNTED``.
Ring codes
    ``KNOWN_FRAUD_MEMBERS``, ``EMULATOR_DEVICES``, ``SIGNUP_BURST_ON_DEVICE``,
    ``TRANSFER_CYCLE``, ``HIGH_RISK_MEMBERS``, ``DENSE_RING_OF_<n>``,
    ``SHARED_IDENTIFIERS``, ``PROXY_IPS``, ``MONEY_FLOW_INSIDE``,
    ``CREATED_TOGETHER``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.model import NodeType

#: Reasons listed per entity or ring at most (default).
TOP_REASONS: Final = 5


@dataclass(frozen=True, slots=True)
class ReasonRule:
    """One reason: a row mask and its code per row.

    Attributes
    ----------
    fires : callable
        ``fires(table) -> ndarray of bool``.
    code : callable
        ``code(table) -> pa.Array of string`` (one code per row).
    """

    fires: Callable[[pa.Table], np.ndarray]
    code: Callable[[pa.Table], pa.Array]


def _col(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), np.float64)


def _fixed(code: str) -> Callable[[pa.Table], pa.Array]:
    def build(table: pa.Table) -> pa.Array:
        return pa.array(np.full(table.num_rows, code, dtype=object), pa.string())

    return build


def _counted(prefix: str, column: str, suffix: str) -> Callable[[pa.Table], pa.Array]:
    def build(table: pa.Table) -> pa.Array:
        counts = pa.array(_col(table, column).astype(np.int64)).cast(pa.string())
        joined: pa.Array = pc.binary_join_element_wise(prefix, counts, suffix, "")
        return joined

    return build


def _shared(node_type: NodeType) -> ReasonRule:
    name = node_type.value.lower()
    column = f"share_max_{name}"
    rare = f"rare_shared_{name}"

    def fires(table: pa.Table) -> np.ndarray:
        # The largest non-super identifier is not known per type; the rule fires when the
        # account has a rarely shared identifier of this type and reports the max share.
        return _col(table, rare) > 0

    def build(table: pa.Table) -> pa.Array:
        counts = pa.array(_col(table, column).astype(np.int64)).cast(pa.string())
        label = node_type.name
        joined: pa.Array = pc.binary_join_element_wise(
            f"SHARED_{label}_WITH_", counts, "_ACCOUNTS", ""
        )
        return joined

    return ReasonRule(fires, build)


#: Account rules, strongest first.
ACCOUNT_RULES: Final[tuple[ReasonRule, ...]] = (
    ReasonRule(
        lambda t: (_col(t, "community_fraud_fraction") > 0) | (_col(t, "seeded_score") >= 20),
        _fixed("NEAR_KNOWN_FRAUD"),
    ),
    ReasonRule(lambda t: _col(t, "emulator_devices") > 0, _fixed("EMULATOR_DEVICE")),
    ReasonRule(lambda t: _col(t, "signup_burst") >= 3, _fixed("SIGNUP_BURST_ON_DEVICE")),
    ReasonRule(lambda t: _col(t, "in_cycle") > 0, _fixed("TRANSFER_CYCLE")),
    _shared(NodeType.DEVICE),
    _shared(NodeType.PHONE),
    _shared(NodeType.EMAIL),
    _shared(NodeType.CARD),
    ReasonRule(lambda t: _col(t, "fan_in") >= 3, _counted("FAN_IN_", "fan_in", "_PAYERS")),
    ReasonRule(lambda t: _col(t, "fan_out") >= 3, _counted("FAN_OUT_", "fan_out", "_PAYEES")),
    ReasonRule(lambda t: _col(t, "proxy_ips") > 0, _fixed("PROXY_IP")),
    ReasonRule(lambda t: _col(t, "rooted_devices") > 0, _fixed("ROOTED_DEVICE")),
    _shared(NodeType.ADDRESS),
    ReasonRule(lambda t: _col(t, "rare_shared_merchant") >= 2, _fixed("SHARED_RARE_MERCHANT")),
    _shared(NodeType.IP),
    ReasonRule(
        lambda t: (_col(t, "community_density") >= 0.5) & (_col(t, "community_size") >= 5),
        _fixed("DENSE_COMMUNITY"),
    ),
    ReasonRule(lambda t: _col(t, "super_node_links") > 0, _fixed("SUPER_NODE_DISCOUNTED")),
)

#: Ring rules, strongest first (columns of :func:`scoring.features.ring_features` plus
#: ``mean_member_risk``).
RING_RULES: Final[tuple[ReasonRule, ...]] = (
    ReasonRule(lambda t: _col(t, "known_fraud_fraction") > 0, _fixed("KNOWN_FRAUD_MEMBERS")),
    ReasonRule(lambda t: _col(t, "emulator_share") >= 0.3, _fixed("EMULATOR_DEVICES")),
    ReasonRule(lambda t: _col(t, "signup_burst_max") >= 3, _fixed("SIGNUP_BURST_ON_DEVICE")),
    ReasonRule(lambda t: _col(t, "money_cycle_share") > 0, _fixed("TRANSFER_CYCLE")),
    ReasonRule(lambda t: _col(t, "mean_member_risk") >= 0.5, _fixed("HIGH_RISK_MEMBERS")),
    ReasonRule(
        lambda t: (_col(t, "density") >= 0.5) & (_col(t, "size") >= 4),
        _counted("DENSE_RING_OF_", "size", ""),
    ),
    ReasonRule(lambda t: _col(t, "proxy_share") >= 0.3, _fixed("PROXY_IPS")),
    ReasonRule(lambda t: _col(t, "shared_identifier_ratio") >= 0.5, _fixed("SHARED_IDENTIFIERS")),
    ReasonRule(lambda t: _col(t, "internal_transfers") >= 2, _fixed("MONEY_FLOW_INSIDE")),
    ReasonRule(
        lambda t: (_col(t, "creation_spread_days") <= 7) & (_col(t, "size") >= 3),
        _fixed("CREATED_TOGETHER"),
    ),
)


def reason_codes(
    table: pa.Table, rules: Sequence[ReasonRule], *, top: int = TOP_REASONS
) -> pa.Array:
    """The codes of the rules that fire on each row, strongest first, at most ``top``.

    Parameters
    ----------
    table : pa.Table
        Feature rows.
    rules : sequence of ReasonRule
        Strongest first.
    top : int

    Returns
    -------
    pa.ListArray of string, one list per row (possibly empty)

    Notes
    -----
    O(rows * len(rules)) vectorised work, one sort of the fired (row, rule) pairs.
    """
    n = table.num_rows
    rows: list[np.ndarray] = []
    ranks: list[np.ndarray] = []
    codes: list[pa.Array] = []
    for rank, rule in enumerate(rules):
        mask = np.asarray(rule.fires(table), bool)
        hit = np.flatnonzero(mask)
        if hit.size == 0:
            continue
        rows.append(hit)
        ranks.append(np.full(hit.size, rank))
        codes.append(rule.code(table).take(pa.array(hit)))
    if not rows:
        empty = pa.array(np.zeros(0, object), pa.string())
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), empty)
    row = np.concatenate(rows)
    rank_of = np.concatenate(ranks)
    flat = pa.concat_arrays([c.cast(pa.string()) for c in codes])
    order = np.lexsort((rank_of, row))
    row = row[order]
    position = np.arange(row.size) - np.searchsorted(row, row, side="left")
    keep = position < top
    order, row = order[keep], row[keep]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), flat.take(pa.array(order)))
