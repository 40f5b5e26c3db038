"""Result types: exact times from microseconds, and the JSON form the API serialises."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from graph_service.model import LinkType, NodeType
from queries.results import (
    EntityPath,
    EntityRef,
    Link,
    to_json_ready,
    utc_from_micros,
)


def test_micros_convert_exactly_on_both_sides_of_the_epoch() -> None:
    """Microsecond timestamps become exact UTC datetimes, also before 1970."""
    assert utc_from_micros(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert utc_from_micros(-1) == datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert utc_from_micros(1_767_225_600_000_001).microsecond == 1


def test_link_from_row_reads_codes_and_micros() -> None:
    """A link row (codes, micros) becomes a Link with enum type and UTC datetimes."""
    link = Link.from_row((1, 2, 7, 3, 12.5, 0, 1_000_000))
    assert link.type == LinkType.TRANSFERS_TO
    assert (link.n_events, link.amount_sum) == (3, 12.5)
    assert link.last_ts == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_json_form_is_plain_and_serialisable() -> None:
    """Nested dataclasses become dicts, tuples lists, enums values, datetimes ISO strings."""
    a = EntityRef(id=1, type=NodeType.ACCOUNT, key="A1")
    b = EntityRef(id=2, type=NodeType.DEVICE, key="D1")
    link = Link(1, 2, LinkType.USES_DEVICE, 1, 0.0, utc_from_micros(0), utc_from_micros(0))
    path = EntityPath(nodes=(a, b), hops=((link,),))
    plain = to_json_ready(path)
    assert plain["nodes"][1] == {"id": 2, "type": "Device", "key": "D1"}
    assert plain["hops"][0][0]["type"] == "USES_DEVICE"
    assert plain["hops"][0][0]["first_ts"] == "1970-01-01T00:00:00+00:00"
    assert json.loads(json.dumps(plain)) == plain
    assert path.length == 1
