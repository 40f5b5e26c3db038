"""What kind of ring a ring is: its typology, from its evidence, features and shape.

The telling evidence channel most concentrated among the members names a ring
(:data:`TYPOLOGY_OF_CHANNEL`); without one, its features and what ties it do
(:func:`typology_guess`). A shape of money takes its pattern unless evidence says more
than money passed on (:func:`ring_typology`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pyarrow as pa

from graph_service.model import LINK_TYPE_CODE, LinkType
from scoring.flow_rings import FlowPattern
from scoring.surprise import TELLING_SURPRISE

__all__ = [
    "TYPOLOGIES",
    "TYPOLOGY_OF_CHANNEL",
    "ring_typology",
    "told_typology",
    "typology_guess",
]

#: Typology guesses (the values of ``truth.csv``'s typology, plus ``unknown``).
TYPOLOGIES: Final[tuple[str, ...]] = (
    "device_farm",
    "synthetic_identity",
    "mule_network",
    "bust_out",
    "account_takeover",
    *(p.value for p in FlowPattern),
    "unknown",
)

#: The typology each kind of evidence points to, when it is the ring's strongest: victims
#: taken over, a spending spree at a colluding merchant, emulators, identities opened
#: together, money passed on. Ties (surprises at their cap) go to the first listed.
TYPOLOGY_OF_CHANNEL: Final[dict[str, str]] = {
    "takeover": "account_takeover",
    "spending": "bust_out",
    "device": "device_farm",
    "coordination": "synthetic_identity",
    "money": "mule_network",
}


def typology_guess(table: pa.Table, type_share: np.ndarray) -> list[str]:
    """A typology guess per ring: the typology of the telling channel most concentrated
    among its members (see :data:`TYPOLOGY_OF_CHANNEL`), else from its features and what
    ties it (first match wins).

    ``table`` holds the ring features and ``evidence_<channel>`` surprises; ``type_share``
    (k, link types) the share of each link type among the links inside each ring.
    """

    def col(name: str) -> np.ndarray:
        return np.asarray(table.column(name).to_numpy(), np.float64)

    def share(*links: LinkType) -> np.ndarray:
        picked: np.ndarray = type_share[:, [LINK_TYPE_CODE[t] for t in links]].sum(axis=1)
        return picked

    created_together = col("creation_spread_days") <= 30
    told = np.asarray(told_typology(table), dtype=object)
    conditions = [
        told != "unknown",
        ((col("emulator_share") >= 0.3) | (col("signup_burst_max") >= 5)) & created_together,
        (col("money_cycle_share") >= 0.2) | (share(LinkType.TRANSFERS_TO) >= 0.4),
        (col("proxy_share") >= 0.3) | (share(LinkType.USES_DEVICE, LinkType.LOGS_IN_FROM) >= 0.5),
        (share(LinkType.PAYS) >= 0.2) | (col("rare_merchant_share") >= 0.5),
        share(LinkType.HAS_EMAIL, LinkType.HAS_PHONE, LinkType.HAS_ADDRESS) >= 0.4,
    ]
    choices = [told, *np.array(TYPOLOGIES[:-1])[[0, 2, 4, 3, 1]].tolist()]
    guess = np.select(conditions, choices, default="unknown")
    return [str(g) for g in guess.tolist()]


def ring_typology(
    guess: list[str],
    told: list[str],
    flow_pattern: Sequence[str | None],
    as_community: np.ndarray,
) -> list[str]:
    """The typology each ring is named by.

    A community or identifier candidate (``flow_pattern`` None) takes its ``guess``
    (:func:`typology_guess`). A money-flow shape takes its pattern, unless its telling
    evidence (``told``, :func:`told_typology`) names another typology than money passed
    on (takeover victims paying out to one account are a takeover crew, not a fan-in), or
    it has exactly a community's members (``as_community``) and that community's guess,
    from evidence or features, names another typology than money passed on (a device
    farm passing money round).

    >>> ring_typology(
    ...     ["device_farm", "mule_network", "mule_network", "device_farm", "device_farm"],
    ...     ["unknown", "account_takeover", "mule_network", "unknown", "unknown"],
    ...     [None, "fan_in", "fan_in", "fan_in", "cycle"],
    ...     np.array([False, False, False, False, True]),
    ... )
    ['device_farm', 'account_takeover', 'fan_in', 'fan_in', 'device_farm']
    """
    not_money = ("mule_network", "unknown")
    named = []
    for guessed, by_evidence, pattern, community in zip(
        guess, told, flow_pattern, as_community.tolist(), strict=True
    ):
        if pattern is None:
            named.append(guessed)
        elif by_evidence not in not_money:
            named.append(by_evidence)
        elif community and guessed not in not_money:
            named.append(guessed)
        else:
            named.append(str(pattern))
    return named


def told_typology(table: pa.Table) -> list[str]:
    """Per ring, the typology of its strongest telling evidence channel (see
    :data:`TYPOLOGY_OF_CHANNEL`; surprise >= :data:`TELLING_SURPRISE`), else ``unknown``.

    ``table`` holds the ``evidence_<channel>`` surprises (a channel without its column
    tells nothing). Ties go to the channel listed first.

    >>> told_typology(pa.table({"evidence_takeover": [4.0, 0.5], "evidence_money": [6.0, 0.2]}))
    ['mule_network', 'unknown']
    """
    present = [c for c in TYPOLOGY_OF_CHANNEL if f"evidence_{c}" in table.column_names]
    if not present:
        return ["unknown"] * table.num_rows
    surprise = np.column_stack(
        [np.asarray(table.column(f"evidence_{c}").to_numpy(), np.float64) for c in present]
    )
    strongest = surprise.argmax(axis=1)
    telling = surprise[np.arange(table.num_rows), strongest] >= TELLING_SURPRISE
    named = np.asarray([TYPOLOGY_OF_CHANNEL[c] for c in present], dtype=object)[strongest]
    return [str(t) if ok else "unknown" for t, ok in zip(named.tolist(), telling, strict=True)]
