"""Hand-built export tables for the scoring tests (the shapes ``export_nodes/links`` return)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, NodeType
from graph_service.store import LINK_EXPORT_SCHEMA, NODE_EXPORT_SCHEMA

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def nodes_table(nodes: Sequence[tuple[int, NodeType, Mapping[str, Any]]]) -> pa.Table:
    """``(id, type, attributes)`` rows as an ``export_nodes`` table (ids must be 0..n-1)."""
    rows = []
    for node_id, node_type, attributes in sorted(nodes, key=lambda r: r[0]):
        row: dict[str, Any] = {name: None for name in NODE_EXPORT_SCHEMA.names}
        row.update(
            id=node_id,
            type=NODE_TYPE_CODE[node_type],
            key=f"{node_type.name[0]}{node_id}",
            first_ts=T0,
            last_ts=T0,
        )
        row.update(attributes)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=NODE_EXPORT_SCHEMA)


def links_table(links: Sequence[tuple[Any, ...]]) -> pa.Table:
    """``(src, dst, type[, fields])`` rows as an ``export_links`` table."""
    rows = []
    for link in links:
        src, dst, link_type = link[0], link[1], link[2]
        extra: Mapping[str, Any] = link[3] if len(link) > 3 else {}
        row = {
            "src": src,
            "dst": dst,
            "type": LINK_TYPE_CODE[link_type],
            "n_events": 1,
            "amount_sum": 0.0,
            "first_ts": T0,
            "last_ts": T0,
        }
        row.update(extra)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=LINK_EXPORT_SCHEMA)


def days(n: float) -> datetime:
    """``T0`` plus ``n`` days."""
    return T0 + timedelta(days=n)
