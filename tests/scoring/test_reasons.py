"""Reason codes for accounts and rings."""

from __future__ import annotations

import pyarrow as pa

from scoring.features import ACCOUNT_MODEL_FEATURES
from scoring.reasons import ACCOUNT_RULES, RING_RULES, reason_codes


def _accounts(**overrides: list[float]) -> pa.Table:
    rows = len(next(iter(overrides.values())))
    columns = {name: [0.0] * rows for name in ACCOUNT_MODEL_FEATURES}
    columns.update(overrides)
    return pa.table(columns)


def test_account_codes_strongest_first_with_counts() -> None:
    """Rules fire column-wise; codes carry counts; order is the rule strength order."""
    table = _accounts(
        rare_shared_device=[1.0, 0.0, 0.0],
        share_max_device=[12.0, 3.0, 0.0],
        emulator_devices=[1.0, 0.0, 0.0],
        in_cycle=[0.0, 1.0, 0.0],
        community_fraud_fraction=[0.5, 0.0, 0.0],
        super_node_links=[0.0, 2.0, 0.0],
    )
    codes = reason_codes(table, ACCOUNT_RULES).to_pylist()
    assert codes[0] == ["NEAR_KNOWN_FRAUD", "EMULATOR_DEVICE", "SHARED_DEVICE_WITH_12_ACCOUNTS"]
    assert codes[1] == ["TRANSFER_CYCLE", "SUPER_NODE_DISCOUNTED"]
    assert codes[2] == []


def test_codes_are_cut_to_top() -> None:
    """At most ``top`` codes per row."""
    table = _accounts(
        emulator_devices=[1.0],
        signup_burst=[5.0],
        in_cycle=[1.0],
        proxy_ips=[1.0],
        rooted_devices=[1.0],
    )
    assert reason_codes(table, ACCOUNT_RULES, top=2).to_pylist() == [
        ["EMULATOR_DEVICE", "SIGNUP_BURST_ON_DEVICE"]
    ]


def test_fan_in_code_names_the_payers() -> None:
    """Fan-in of 7 distinct payers reads FAN_IN_7_PAYERS."""
    table = _accounts(fan_in=[7.0])
    assert reason_codes(table, ACCOUNT_RULES).to_pylist() == [["FAN_IN_7_PAYERS"]]


def test_ring_codes() -> None:
    """A dense emulator ring with labelled fraud and a cycle."""
    table = pa.table(
        {
            "size": [8.0],
            "density": [0.9],
            "shared_identifier_ratio": [0.8],
            "known_fraud_fraction": [0.25],
            "emulator_share": [1.0],
            "rooted_share": [0.0],
            "proxy_share": [0.0],
            "rare_merchant_share": [0.0],
            "signup_burst_max": [0.0],
            "creation_spread_days": [30.0],
            "money_cycle_share": [0.5],
            "internal_transfers": [0.0],
            "mean_seeded_score": [0.0],
            "mean_member_risk": [0.1],
        }
    )
    assert reason_codes(table, RING_RULES, top=10).to_pylist() == [
        [
            "KNOWN_FRAUD_MEMBERS",
            "EMULATOR_DEVICES",
            "TRANSFER_CYCLE",
            "DENSE_RING_OF_8",
            "SHARED_IDENTIFIERS",
        ]
    ]


def test_no_rows() -> None:
    """An empty table gives an empty list array."""
    table = _accounts(fan_in=[]).slice(0, 0)
    assert reason_codes(table, ACCOUNT_RULES).to_pylist() == []
