"""Money rings joined by money passed on (``scoring.money_rings``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa

from scoring.money_rings import joined_by_money


def _money_rings(
    rings: list[tuple[list[int], float, str]],
    flow: list[tuple[int, int, bool, bool]],
    n: int = 20,
) -> np.ndarray:
    """``joined_by_money`` over rings ``(members, score, typology)`` and money links
    ``(payer, payee, passed_on, related)`` between accounts 0..n-1."""
    table = pa.table(
        {
            "members": pa.array([m for m, _, _ in rings], pa.list_(pa.int64())),
            "score": pa.array([s for _, s, _ in rings], pa.float64()),
            "typology": pa.array([t for _, _, t in rings], pa.string()),
        }
    )
    projection = SimpleNamespace(
        accounts=np.arange(n, dtype=np.int64),
        money_flow=SimpleNamespace(
            src=np.array([f[0] for f in flow], np.int64),
            dst=np.array([f[1] for f in flow], np.int64),
            passed_on=np.array([f[2] for f in flow], np.bool_),
            related=np.array([f[3] for f in flow], np.bool_),
        ),
    )
    joined: np.ndarray = joined_by_money(table, projection)  # type: ignore[arg-type]
    return joined


_MULE = "mule_network"


def test_money_rings_that_money_passed_on_joins_are_one_network() -> None:
    """Three significant money rings: a member of the first passes money on to one of the
    second, one of the second to one of the third: one network of three pieces. A fourth
    money ring tied by nothing stays alone."""
    rings = [([0, 1, 2], 0.9, _MULE), ([3, 4, 5], 0.8, _MULE), ([6, 7, 8], 0.7, _MULE)]
    rings.append(([9, 10, 11], 0.9, _MULE))
    joined = _money_rings(rings, [(2, 3, True, False), (7, 5, True, False)])
    assert joined.tolist() == [0, 0, 0, -1]


def test_only_significant_money_rings_joined_by_money_passed_on_are_joined() -> None:
    """No join across an ordinary transfer, a transfer between related accounts, a ring
    scoring below 0.5 or a ring read as another typology (a takeover crew paying its
    mules stays a ring of its own)."""
    two = [([0, 1, 2], 0.9, _MULE), ([3, 4, 5], 0.9, _MULE)]
    assert _money_rings(two, [(2, 3, False, False)]).tolist() == [-1, -1]
    assert _money_rings(two, [(2, 3, True, True)]).tolist() == [-1, -1]
    weak = [([0, 1, 2], 0.9, _MULE), ([3, 4, 5], 0.4, _MULE)]
    assert _money_rings(weak, [(2, 3, True, False)]).tolist() == [-1, -1]
    crew = [([0, 1, 2], 0.9, "account_takeover"), ([3, 4, 5], 0.9, _MULE)]
    assert _money_rings(crew, [(2, 3, True, False)]).tolist() == [-1, -1]
    assert _money_rings(two, [(1, 2, True, False)]).tolist() == [-1, -1]
    assert _money_rings([], []).tolist() == []


def test_shapes_of_money_join_when_money_passed_on_is_their_strongest_evidence() -> None:
    """Two fans whose members pass money on (evidence_money telling and strongest) are
    two collectors of one network and join; two fans known only by their labels (money
    passed on weaker than one kind of evidence that tells, as with transfers whose
    order means nothing) stay apart."""
    rings = [([0, 1, 2], 0.9, "fan_in"), ([3, 4, 5], 0.9, "fan_in")]
    flow = [(2, 3, True, False)]
    table = pa.table(
        {
            "members": pa.array([m for m, _, _ in rings], pa.list_(pa.int64())),
            "score": pa.array([0.9, 0.9]),
            "typology": pa.array(["fan_in", "fan_in"]),
            "evidence_money": pa.array([2.5, 1.5]),
            "evidence_device": pa.array([0.0, 0.5]),
        }
    )
    projection = SimpleNamespace(
        accounts=np.arange(20, dtype=np.int64),
        money_flow=SimpleNamespace(
            src=np.array([2]),
            dst=np.array([3]),
            passed_on=np.array([True]),
            related=np.array([False]),
        ),
    )
    assert joined_by_money(table, projection).tolist() == [0, 0]  # type: ignore[arg-type]
    quiet = table.set_column(3, "evidence_money", pa.array([0.5, 0.5]))
    assert joined_by_money(quiet, projection).tolist() == [-1, -1]  # type: ignore[arg-type]
    outshone = table.set_column(4, "evidence_device", pa.array([3.0, 0.0]))
    assert joined_by_money(outshone, projection).tolist() == [-1, -1]  # type: ignore[arg-type]
    assert _money_rings(rings, flow).tolist() == [-1, -1]  # no evidence columns at all
