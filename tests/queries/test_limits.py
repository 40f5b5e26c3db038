"""Argument checks shared by the queries: one raise per documented case."""

from __future__ import annotations

import pytest

from graph_service import InvalidInput, LimitExceeded
from graph_service.model import LinkType, NodeType
from queries.limits import (
    checked_limit,
    checked_range,
    parse_key,
    parse_link_types,
    parse_node_type,
)


def test_checked_limit_accepts_zero_to_cap() -> None:
    """Limits from 0 to the cap pass through unchanged."""
    assert checked_limit(0, 10) == 0 and checked_limit(10, 10) == 10


@pytest.mark.parametrize("value", [-1, 1.0, "5", True])
def test_checked_limit_rejects_non_integers_and_negatives(value: object) -> None:
    """Negative or non-integer limits raise InvalidInput."""
    with pytest.raises(InvalidInput):
        checked_limit(value, 10)  # type: ignore[arg-type]


def test_checked_limit_above_cap_is_limit_exceeded() -> None:
    """A limit above the cap raises LimitExceeded naming the cap."""
    with pytest.raises(LimitExceeded, match="cap of 10"):
        checked_limit(11, 10)


def test_checked_range_bounds_are_inclusive() -> None:
    """Both ends of the range are allowed; outside them InvalidInput."""
    assert checked_range(1, 1, 4, "depth") == 1 and checked_range(4, 1, 4, "depth") == 4
    with pytest.raises(InvalidInput, match="depth"):
        checked_range(5, 1, 4, "depth")


def test_parse_node_type_accepts_members_and_names() -> None:
    """Members pass; names parse case-insensitively; anything else is InvalidInput."""
    assert parse_node_type(NodeType.IP) is NodeType.IP
    assert parse_node_type("ip") is NodeType.IP
    with pytest.raises(InvalidInput):
        parse_node_type("Planet")
    with pytest.raises(InvalidInput):
        parse_node_type(3)  # type: ignore[arg-type]


def test_parse_link_types_dedupes_orders_and_checks_allowed() -> None:
    """Types come back once each in code order; disallowed ones raise InvalidInput."""
    assert parse_link_types(["PAYS", LinkType.USES_DEVICE, "pays"]) == (
        LinkType.USES_DEVICE,
        LinkType.PAYS,
    )
    assert parse_link_types(None, allowed=(LinkType.PAYS,)) == (LinkType.PAYS,)
    with pytest.raises(InvalidInput):
        parse_link_types(["TRANSFERS_TO"], allowed=(LinkType.PAYS,))
    with pytest.raises(InvalidInput):
        parse_link_types([7])  # type: ignore[list-item]


def test_parse_key_requires_a_non_empty_string() -> None:
    """Keys are matched exactly, so only empty or non-string keys are refused."""
    assert parse_key(" A1 ") == " A1 "
    with pytest.raises(InvalidInput):
        parse_key("")
    with pytest.raises(InvalidInput):
        parse_key(None)  # type: ignore[arg-type]
