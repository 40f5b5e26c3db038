"""Batch plans for the Neo4j store: everything computed client-side before the transaction.

A batch is aggregated with DuckDB into one row per ``(src, dst, type)`` link and per
entity (keys sorted by type code and key, first/last seen, the latest attribute values),
its labels are encoded, and its event and quarantine rows are written to Parquet. Links
and attributes point at entities by their position among the batch's keys; the
transaction (``graph_service.neo4j.ingest``) resolves positions to ids.

The event and quarantine files are written *before* the batch transaction and named in
its ``:_IngestBatch`` node; a crash in between leaves an orphan file that no ledger node
names, and the re-run overwrites it under the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graph_service.errors import InvalidInput
from graph_service.model import (
    LINK_ENDPOINTS,
    LINK_TARGET_COLUMN,
    LINK_TYPE_CODE,
    NODE_TYPE_CODE,
    LinkType,
    NodeType,
)
from graph_service.neo4j.session import TIMESTAMP, to_micros
from graph_service.store import (
    ENTITY_ATTRIBUTES,
    BatchCommit,
    conform_quarantine,
    link_type_of,
    node_type_of,
)

_DEVICE_ATTRIBUTES = ("is_emulator", "is_rooted", "os")
_IP_ATTRIBUTES = ("is_proxy", "asn", "country")
_NODE_TYPE_NAMES = pa.array([t.value for t in NodeType], pa.string())


@dataclass(slots=True)
class Keys:
    """The distinct keys of one node type in a batch, sorted, with first/last seen."""

    node_type: NodeType
    keys: list[str]
    first: np.ndarray | None = None
    last: np.ndarray | None = None


@dataclass(slots=True)
class LinkRows:
    """Per-batch link aggregates of one link type; ends as positions into ``Keys``."""

    link_type: LinkType
    src_pos: np.ndarray
    dst_pos: np.ndarray
    n_events: np.ndarray
    amount: np.ndarray
    first: np.ndarray
    last: np.ndarray


@dataclass(slots=True)
class AttributeRows:
    """One attribute delta per entity of one node type (positions into ``Keys``)."""

    node_type: NodeType
    pos: np.ndarray
    attr_ts: np.ndarray
    values: dict[str, list[Any]]


@dataclass(slots=True)
class EntityPlan:
    """Keys to resolve and what to write for them (events or an attribute file)."""

    keys: dict[NodeType, Keys]
    attributes: list[AttributeRows] = field(default_factory=list)
    links: list[LinkRows] = field(default_factory=list)


@dataclass(slots=True)
class BatchPlan:
    """One batch, planned: its entity plans, encoded labels and the files written."""

    commit: BatchCommit
    events: EntityPlan | None
    entity_attributes: EntityPlan | None
    labels: dict[str, list[Any]] | None
    events_file: str | None
    quarantine_file: str | None


def plan_batch(
    con: duckdb.DuckDBPyConnection, commit: BatchCommit, *, events_dir: Path, quarantine_dir: Path
) -> BatchPlan:
    """Plan one batch and write its event and quarantine files (before the transaction).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The store's in-process DuckDB, for the aggregation.
    commit : BatchCommit
        The batch.
    events_dir, quarantine_dir : Path
        Where the batch's event and quarantine Parquet files go.

    Returns
    -------
    BatchPlan

    Raises
    ------
    InvalidInput
        If a label or attribute row names an unknown entity type or a label lacks ``ts``.

    Notes
    -----
    O(rows) in DuckDB.
    """
    name = f"{commit.source[:16]}-{commit.batch_index:06d}.parquet"
    events_file = quarantine_file = None
    events_plan = attributes_plan = None
    labels = None
    if commit.events is not None and commit.events.num_rows:
        events_plan = _plan_events(con, commit.events)
        # Written before the transaction; see the module docstring.
        events_file = name
        pq.write_table(commit.events, events_dir / events_file)
    if commit.entity_attributes is not None and commit.entity_attributes.num_rows:
        attributes_plan = _plan_entity_attributes(con, commit.entity_attributes)
    if commit.labels is not None and commit.labels.num_rows:
        labels = _plan_labels(commit.labels)
    if commit.quarantine.num_rows:
        quarantine_file = name
        pq.write_table(conform_quarantine(commit.quarantine), quarantine_dir / name)
    return BatchPlan(
        commit=commit,
        events=events_plan,
        entity_attributes=attributes_plan,
        labels=labels,
        events_file=events_file,
        quarantine_file=quarantine_file,
    )


def _plan_events(con: duckdb.DuckDBPyConnection, events: pa.Table) -> EntityPlan:
    con.register("_b", events)
    try:
        arms = []
        for link_type, column in LINK_TARGET_COLUMN.items():
            dst_type = NODE_TYPE_CODE[LINK_ENDPOINTS[link_type][1]]
            arms.append(
                f"SELECT account_id AS src_key, {dst_type}::UTINYINT AS dst_type, "
                f"{column} AS dst_key, {LINK_TYPE_CODE[link_type]}::UTINYINT AS ltype, "
                f"coalesce(amount, 0.0) AS amount, epoch_us(ts) AS ts FROM _b "
                f"WHERE {column} IS NOT NULL"
            )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _agg AS SELECT src_key, dst_type, dst_key, ltype, "
            "count(*)::BIGINT AS n, sum(amount)::DOUBLE AS a, min(ts) AS f, max(ts) AS l "
            "FROM (" + " UNION ALL ".join(arms) + ") GROUP BY ALL"
        )
        account = NODE_TYPE_CODE[NodeType.ACCOUNT]
        # First/last seen as the embedded store folds them: accounts from their
        # events, every entity from the links it takes part in.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _seen AS SELECT type, key, f, l, "
            "row_number() OVER (PARTITION BY type ORDER BY key) - 1 AS pos FROM ("
            "SELECT type, key, min(f) AS f, max(l) AS l FROM ("
            f"SELECT {account}::UTINYINT AS type, account_id AS key, epoch_us(ts) AS f, "
            "epoch_us(ts) AS l FROM _b "
            f"UNION ALL SELECT {account}::UTINYINT, src_key, f, l FROM _agg "
            "UNION ALL SELECT dst_type, dst_key, f, l FROM _agg) GROUP BY type, key)"
        )
        seen = con.execute("SELECT type, key, f, l FROM _seen ORDER BY type, pos").to_arrow_table()
        links = con.execute(
            "SELECT g.ltype, s.pos AS src_pos, d.pos AS dst_pos, g.n, g.a, g.f, g.l "
            "FROM _agg g "
            f"JOIN _seen s ON s.type = {account} AND s.key = g.src_key "
            "JOIN _seen d ON d.type = g.dst_type AND d.key = g.dst_key "
            "ORDER BY g.ltype, src_pos, dst_pos"
        ).to_arrow_table()
        attributes = [
            _plan_event_attributes(con, NodeType.DEVICE, "device_id", _DEVICE_ATTRIBUTES),
            _plan_event_attributes(con, NodeType.IP, "ip", _IP_ATTRIBUTES),
        ]
    finally:
        con.unregister("_b")
    plan = EntityPlan(keys=_split_keys(seen, with_times=True))
    plan.links = _split_links(links)
    plan.attributes = [a for a in attributes if a.pos.size]
    return plan


def _plan_event_attributes(
    con: duckdb.DuckDBPyConnection, node_type: NodeType, column: str, names: Sequence[str]
) -> AttributeRows:
    """Latest attribute values per entity in this batch, as the embedded store's deltas."""
    latest = ", ".join(f"arg_max(b.{c}, b.ts) FILTER (b.{c} IS NOT NULL) AS {c}" for c in names)
    any_set = " OR ".join(f"b.{c} IS NOT NULL" for c in names)
    table = con.execute(
        f"SELECT s.pos, epoch_us(max(b.ts)) AS attr_ts, {latest} FROM _b b "
        f"JOIN _seen s ON s.type = {NODE_TYPE_CODE[node_type]} AND s.key = b.{column} "
        f"WHERE {any_set} GROUP BY s.pos ORDER BY s.pos"
    ).to_arrow_table()
    return _attribute_rows(node_type, table, names)


def _plan_entity_attributes(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> EntityPlan:
    """Attribute-file rows: one delta per (type, key), the last non-null value winning."""
    codes = pc.index_in(rows.column("entity_type"), value_set=_NODE_TYPE_NAMES)
    if codes.null_count:
        raise InvalidInput("entity attribute rows name an unknown entity type")
    table = rows.select(["entity_key", *ENTITY_ATTRIBUTES]).append_column(
        "type", pc.cast(codes, pa.uint8())
    )
    con.register("_e", table)
    try:
        latest = ", ".join(
            f"arg_max({c}, rn) FILTER ({c} IS NOT NULL) AS {c}" for c in ENTITY_ATTRIBUTES
        )
        grouped = con.execute(
            f"SELECT type, key, row_number() OVER (PARTITION BY type ORDER BY key) - 1 AS pos, "
            f"{', '.join(ENTITY_ATTRIBUTES)} FROM ("
            f"SELECT type, entity_key AS key, {latest} FROM ("
            "SELECT *, row_number() OVER () AS rn FROM _e) GROUP BY type, entity_key) "
            "ORDER BY type, key"
        ).to_arrow_table()
    finally:
        con.unregister("_e")
    plan = EntityPlan(keys=_split_keys(grouped, with_times=False))
    now = to_micros(datetime.now(UTC))
    for node_type in plan.keys:
        part = grouped.filter(pc.equal(grouped.column("type"), NODE_TYPE_CODE[node_type]))
        part = part.append_column("attr_ts", pa.array(np.full(part.num_rows, now, np.int64)))
        plan.attributes.append(_attribute_rows(node_type, part, ENTITY_ATTRIBUTES))
    return plan


def _split_keys(table: pa.Table, *, with_times: bool) -> dict[NodeType, Keys]:
    """Per node type (in code order), its sorted keys and first/last seen."""
    out: dict[NodeType, Keys] = {}
    types = np.asarray(table.column("type").to_numpy(), np.int64)
    keys = table.column("key").to_pylist()
    first = table.column("f").to_numpy() if with_times else None
    last = table.column("l").to_numpy() if with_times else None
    # ``table`` is sorted by type, so each type is one contiguous run.
    bounds = np.flatnonzero(np.diff(types)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(types)], strict=True):
        if hi <= lo:
            continue
        node_type = node_type_of(int(types[lo]))
        out[node_type] = Keys(
            node_type=node_type,
            keys=keys[lo:hi],
            first=None if first is None else np.asarray(first[lo:hi], np.int64),
            last=None if last is None else np.asarray(last[lo:hi], np.int64),
        )
    return out


def _split_links(table: pa.Table) -> list[LinkRows]:
    """Per link type, its aggregated rows (``table`` sorted by link type)."""
    out: list[LinkRows] = []
    codes = np.asarray(table.column("ltype").to_numpy(), np.int64)
    columns = {
        name: table.column(name).to_numpy() for name in ("src_pos", "dst_pos", "n", "a", "f", "l")
    }
    bounds = np.flatnonzero(np.diff(codes)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(codes)], strict=True):
        if hi <= lo:
            continue
        out.append(
            LinkRows(
                link_type=link_type_of(int(codes[lo])),
                src_pos=np.asarray(columns["src_pos"][lo:hi], np.int64),
                dst_pos=np.asarray(columns["dst_pos"][lo:hi], np.int64),
                n_events=np.asarray(columns["n"][lo:hi], np.int64),
                amount=np.asarray(columns["a"][lo:hi], np.float64),
                first=np.asarray(columns["f"][lo:hi], np.int64),
                last=np.asarray(columns["l"][lo:hi], np.int64),
            )
        )
    return out


def _attribute_rows(node_type: NodeType, table: pa.Table, names: Sequence[str]) -> AttributeRows:
    return AttributeRows(
        node_type=node_type,
        pos=np.asarray(table.column("pos").to_numpy(), np.int64),
        attr_ts=np.asarray(table.column("attr_ts").to_numpy(), np.int64),
        values={name: table.column(name).to_pylist() for name in names},
    )


def _plan_labels(rows: pa.Table) -> dict[str, list[Any]]:
    codes = pc.index_in(rows.column("entity_type"), value_set=_NODE_TYPE_NAMES)
    if codes.null_count:
        raise InvalidInput("label rows name an unknown entity type")
    ts = rows.column("ts")
    if ts.null_count:
        raise InvalidInput("label rows need a ts")
    micros = pc.cast(pc.cast(ts, TIMESTAMP), pa.int64())
    return {
        "entity_type": codes.to_pylist(),
        "entity_key": rows.column("entity_key").to_pylist(),
        "label": rows.column("label").to_pylist(),
        "source": rows.column("source").to_pylist(),
        "author": rows.column("author").to_pylist(),
        "reason": rows.column("reason").to_pylist(),
        "ts": micros.to_pylist(),
    }
