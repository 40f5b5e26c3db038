"""Naming rings: by their strongest telling evidence, their features, or their shape."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from graph_service.model import LINK_TYPE_CODE, LinkType
from scoring.typology import ring_typology, told_typology, typology_guess


def test_a_ring_is_named_after_the_strongest_kind_of_evidence_among_its_members() -> None:
    """Takeover evidence strongest: account_takeover, even with money passed on too (a
    drained balance moves on); money strongest: mule_network, however much takeover
    evidence; no channel telling (all below ten times chance): what ties the ring
    decides (payments at merchants: bust_out)."""
    rings = 3
    table = pa.table(
        {
            "creation_spread_days": [90.0] * rings,
            "emulator_share": [0.0] * rings,
            "signup_burst_max": [0.0] * rings,
            "money_cycle_share": [0.0] * rings,
            "proxy_share": [0.0] * rings,
            "rare_merchant_share": [0.0] * rings,
            "evidence_takeover": [5.0, 2.0, 0.5],
            "evidence_money": [2.0, 8.0, 0.5],
            "evidence_spending": [0.0, 0.0, 0.9],
        }
    )
    type_share = np.zeros((rings, len(LINK_TYPE_CODE)))
    type_share[2, LINK_TYPE_CODE[LinkType.PAYS]] = 0.6
    assert typology_guess(table, type_share) == ["account_takeover", "mule_network", "bust_out"]


def test_a_shape_is_named_by_telling_evidence_other_than_money_passed_on() -> None:
    """Takeover victims paying out to one account are a takeover crew, not a fan-in: a
    shape whose strongest telling channel is takeover, device, coordination or spending
    takes that typology. Money passed on restates what a shape does, and a channel below
    ten times chance tells nothing: those shapes keep their pattern."""
    table = pa.table(
        {
            "evidence_takeover": [15.4, 0.0, 0.4, 0.0],
            "evidence_device": [2.9, 0.0, 0.0, 0.0],
            "evidence_money": [0.0, 6.0, 0.0, 0.0],
            "evidence_coordination": [2.7, 0.0, 0.9, 4.2],
        }
    )
    told = told_typology(table)
    assert told == ["account_takeover", "mule_network", "unknown", "synthetic_identity"]
    named = ring_typology(
        ["account_takeover", "mule_network", "mule_network", "synthetic_identity"],
        told,
        ["fan_in", "fan_in", "fan_out", "bipartite"],
        np.zeros(4, np.bool_),
    )
    assert named == ["account_takeover", "fan_in", "fan_out", "synthetic_identity"]


def test_a_shape_that_is_a_community_is_named_by_the_community_unless_it_says_money() -> None:
    """A shape with exactly a community's members takes the community's guess, even one
    from features alone (emulators signed up together: device_farm), unless that guess
    is money passed on or nothing; a shape that is no community ignores the features.
    Communities are named by their guess whatever their money."""
    guess = ["device_farm", "mule_network", "device_farm", "mule_network"]
    told = ["unknown"] * 4
    named = ring_typology(
        guess, told, ["cycle", "cycle", "cycle", None], np.array([True, True, False, False])
    )
    assert named == ["device_farm", "cycle", "cycle", "mule_network"]
