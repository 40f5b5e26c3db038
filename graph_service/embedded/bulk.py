"""The set-based graph build of bulk loads: entities and link aggregates from event Parquet.

A batch committed on the bulk path (``BatchCommit.defer_graph``) writes its normalised
events to Parquet and its event keys, quarantine and ledger row in one transaction, and
leaves its graph *pending* (``ingest_batches.graph_pending``). :func:`build_pending_graph`
then builds the graph of every pending batch in a few set-based passes over their Parquet
files, in one transaction that also clears the pending flags:

1. one pass collects every ``(type, key)`` the events name with the first batch that names
   it, and gives the keys not yet in ``entities`` ids in the order the incremental path
   would have given them (by first batch, then type, then key), so both paths number
   entities the same;
2. one pass aggregates links on the keys (one row per account, target, link type) and
   joins the aggregates (not the events) to the ids;
3. account first/last seen and device/IP attributes become entity deltas, the attributes
   per batch as the incremental path writes them.

Link and entity deltas are then folded by ``EmbeddedDatabase.compact`` as for any batch.
A crash during the build rolls it back: the batches stay pending and the next build (at the
next compaction, or before the next incremental batch) redoes it whole.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb

from graph_service.model import (
    LINK_ENDPOINTS,
    LINK_TARGET_COLUMN,
    LINK_TYPE_CODE,
    NODE_TYPE_CODE,
    NodeType,
)

log = logging.getLogger(__name__)

_ACCOUNT = NODE_TYPE_CODE[NodeType.ACCOUNT]

#: ``(link type code, target node type code, event column)`` for every link type.
_TARGETS: tuple[tuple[int, int, str], ...] = tuple(
    (LINK_TYPE_CODE[t], NODE_TYPE_CODE[LINK_ENDPOINTS[t][1]], column)
    for t, column in LINK_TARGET_COLUMN.items()
)

#: The attributes events carry for devices and IPs (``entity_deltas`` columns).
_ATTRS: tuple[str, ...] = ("is_emulator", "is_rooted", "os", "is_proxy", "asn", "country")


def pending_batches(con: duckdb.DuckDBPyConnection) -> int:
    """Batches whose graph is still to be built (0 when every batch is in the graph)."""
    row = con.execute("SELECT count(*) FROM ingest_batches WHERE graph_pending").fetchone()
    assert row is not None
    return int(row[0])


def build_pending_graph(con: duckdb.DuckDBPyConnection, events_dir: Path) -> int:
    """Build the graph of every pending batch, in one transaction.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The store's connection (no transaction open).
    events_dir : Path
        Where the batches' event Parquet files are.

    Returns
    -------
    int
        Events whose graph was built (0 if no batch was pending).

    Notes
    -----
    Three scans of the pending Parquet files (keys; links; entity facts), hash
    aggregations, and joins whose build side is the distinct keys, not the events. Ids, links and entity
    facts equal those the incremental path gives for the same batches in the same order.
    """
    if pending_batches(con) == 0:  # the common case, on every read: one small query
        return 0
    pending = con.execute(
        "SELECT events_file FROM ingest_batches WHERE graph_pending AND events_file IS NOT NULL "
        "ORDER BY committed_at, source, batch_index"
    ).fetchall()
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        events = 0
        if pending:
            events = _build(con, [str(events_dir / f) for (f,) in pending])
        con.execute("UPDATE ingest_batches SET graph_pending = false WHERE graph_pending")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for table in ("_bulk_keys", "_bulk_ids"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    log.info(
        "built the graph of bulk batches",
        extra={
            "batches": len(pending),
            "events": events,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return events


def _build(con: duckdb.DuckDBPyConnection, files: list[str]) -> int:
    """The three passes (see the module docstring) over ``files``, in batch order."""
    # ``o``: the batch's position among the pending batches (the order ids are given in),
    # a constant per file, so no per-row lookup.
    events = (
        "("
        + " UNION ALL ".join(
            f"SELECT {o}::INTEGER AS o, * FROM read_parquet({_quote(f)})"
            for o, f in enumerate(files, start=1)
        )
        + ")"
    )
    keys = " UNION ALL ".join(
        [f"SELECT o, {_ACCOUNT}::UTINYINT AS type, account_id AS key FROM ev"]
        + [
            f"SELECT o, {target}::UTINYINT, {column} FROM ev WHERE {column} IS NOT NULL"
            for _, target, column in _TARGETS
        ]
    )
    _timed(
        con,
        "keys",
        f"CREATE OR REPLACE TEMP TABLE _bulk_keys AS WITH ev AS {events} "
        f"SELECT type, key, min(o) AS o FROM ({keys}) GROUP BY type, key",
    )
    next_id = con.execute("SELECT count(*) FROM entities").fetchone()
    assert next_id is not None
    first_new = int(next_id[0])
    _timed(
        con,
        "new entities",
        "INSERT INTO entities (id, type, key) "
        "SELECT ? + row_number() OVER (ORDER BY k.o, k.type, k.key) - 1, k.type, k.key "
        "FROM _bulk_keys k ANTI JOIN entities e ON e.type = k.type AND e.key = k.key",
        [first_new],
    )
    _timed(
        con,
        "entity keys",
        "INSERT INTO entity_keys SELECT hash(key), type, key, id FROM entities WHERE id >= ?",
        [first_new],
    )
    _timed(
        con,
        "ids",
        "CREATE OR REPLACE TEMP TABLE _bulk_ids AS SELECT e.type, e.key, e.id "
        "FROM entities e SEMI JOIN _bulk_keys k ON e.type = k.type AND e.key = k.key",
    )
    rows = " UNION ALL ".join(
        f"SELECT account_id, {link}::UTINYINT AS type, {target}::UTINYINT AS target_type, "
        f"{column} AS target, amount, ts FROM ev WHERE {column} IS NOT NULL"
        for link, target, column in _TARGETS
    )
    _timed(
        con,
        "links",
        f"INSERT INTO link_deltas WITH ev AS {events}, agg AS ("
        "SELECT account_id, type, target_type, target, count(*) AS n, "
        "sum(coalesce(amount, 0.0)) AS amount_sum, min(ts) AS first_ts, max(ts) AS last_ts "
        f"FROM ({rows}) GROUP BY account_id, type, target_type, target) "
        "SELECT a.id, t.id, agg.type, agg.n, agg.amount_sum, agg.first_ts, agg.last_ts "
        f"FROM agg JOIN _bulk_ids a ON a.type = {_ACCOUNT} AND a.key = agg.account_id "
        "JOIN _bulk_ids t ON t.type = agg.target_type AND t.key = agg.target",
    )
    # Accounts' first/last seen and device/IP attributes in one scan; attributes per batch
    # (``o``), as the incremental path writes them: compaction keeps each attribute's
    # latest value by the batch's time, the same on both paths.
    parts = [
        f"SELECT i.id, s.first_ts, s.last_ts, NULL::TIMESTAMPTZ AS attr_ts, "
        f"{', '.join(f'NULL AS {a}' for a in _ATTRS)} FROM (SELECT account_id, min(ts) AS "
        "first_ts, max(ts) AS last_ts FROM ev GROUP BY account_id) s "
        f"JOIN _bulk_ids i ON i.type = {_ACCOUNT} AND i.key = s.account_id"
    ]
    for column, node_type, attrs in (
        ("device_id", NodeType.DEVICE, ("is_emulator", "is_rooted", "os")),
        ("ip", NodeType.IP, ("is_proxy", "asn", "country")),
    ):
        latest = ", ".join(f"arg_max({a}, ts) FILTER ({a} IS NOT NULL) AS {a}" for a in attrs)
        any_set = " OR ".join(f"{a} IS NOT NULL" for a in attrs)
        values = ", ".join(f"s.{a}" if a in attrs else f"NULL AS {a}" for a in _ATTRS)
        parts.append(
            f"SELECT i.id, NULL, NULL, s.attr_ts, {values} FROM ("
            f"SELECT o, {column} AS key, max(ts) AS attr_ts, {latest} FROM ev "
            f"WHERE {column} IS NOT NULL AND ({any_set}) GROUP BY o, {column}) s "
            f"JOIN _bulk_ids i ON i.type = {NODE_TYPE_CODE[node_type]} AND i.key = s.key"
        )
    _timed(
        con,
        "entity facts",
        f"INSERT INTO entity_deltas (id, first_ts, last_ts, attr_ts, {', '.join(_ATTRS)}) "
        f"WITH ev AS {events} " + " UNION ALL ".join(parts),
    )
    total = con.execute(
        "SELECT sum(num_rows)::BIGINT FROM parquet_file_metadata(?)", [files]
    ).fetchone()
    assert total is not None
    return int(total[0] or 0)


def _timed(
    con: duckdb.DuckDBPyConnection, step: str, sql: str, params: list[object] | None = None
) -> None:
    started = time.perf_counter()
    con.execute(sql, params or [])
    log.debug(
        "bulk graph step",
        extra={"step": step, "seconds": round(time.perf_counter() - started, 3)},
    )


def _quote(path: str) -> str:
    """A SQL string literal of a file path the store made itself (quotes doubled)."""
    return "'" + path.replace("'", "''") + "'"


__all__ = ["build_pending_graph", "pending_batches"]
