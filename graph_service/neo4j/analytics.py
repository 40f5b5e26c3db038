"""Analytics outputs in the Neo4j store: entity scores and versioned analytics tables.

Scores are ``:_Score`` nodes; ``write_scores`` replaces those of the given entities in
one transaction. An analytics table version (``write_table``) is one ``:_AnalyticsRow``
node per row and an ``:_AnalyticsVersion`` node written last in the same transaction, so
a listed version is complete; ``:_AnalyticsCounter`` numbers the writes. Rows travel as
parameter maps (column names never enter Cypher text); nested values that Neo4j cannot
hold as lists travel as JSON text, timestamps and dates as integers, and the Arrow schema
kept on the version node restores the types on reading.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from neo4j import WRITE_ACCESS, Transaction

from graph_service.analytics_tables import (
    no_such_table,
    no_such_version,
    schema_from_text,
    schema_to_text,
)
from graph_service.checked import CheckedAnalytics
from graph_service.errors import BackendUnavailable
from graph_service.neo4j import cypher
from graph_service.neo4j.session import LIST_CAP, Neo4jConnection, Rows, check_cap
from graph_service.typing import F64, I64

_SCORES_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.int64()),
        pa.field("value", pa.float64()),
        pa.field("version", pa.string()),
    ]
)


class Neo4jAnalytics(CheckedAnalytics, Neo4jConnection):
    """Scores and analytics tables of ``Neo4jStore``."""

    # -- scores --------------------------------------------------------------------------
    def _write_scores(self, name: str, ids: I64, values: F64, version: str) -> None:
        """Replace score ``name`` for ``ids`` with ``values`` in one transaction.

        Notes
        -----
        All old rows of the given ids are deleted before any new row is created, so
        repeated ids end up as repeated rows, as in the embedded store.
        """
        id_list = ids.ravel().tolist()
        value_list = values.ravel().tolist()

        def work(tx: Transaction) -> bool:
            self._run_chunked(tx, cypher.DELETE_SCORES, {"entity_id": id_list}, {"name": name})
            self._run_chunked(
                tx,
                cypher.CREATE_SCORES,
                {"entity_id": id_list, "value": value_list},
                {"name": name, "version": version},
            )
            return True

        if id_list:
            self._in_write_transaction(work, f"write_scores {name!r}")

    def _read_scores(self, name: str, ids: Sequence[int] | None) -> pa.Table:
        """Score ``name`` as ``(entity_id, value, version)`` ordered by entity id."""
        rows: Rows = []
        if ids is None:
            bounds = self._read(cypher.SCORE_RANGE, {"name": name}, cap=1)
            lo, hi = bounds[0] if bounds else (None, None)
            if lo is not None and hi is not None:

                def fetch(a: int, b: int, cap: int) -> Rows:
                    return self._read(cypher.SCORES_PAGE, {"name": name, "lo": a, "hi": b}, cap=cap)

                rows = self._windowed(
                    fetch, int(lo), int(hi) + 1, width=self.page_rows, what="scores"
                )
        else:
            wanted = list(dict.fromkeys(int(i) for i in ids))
            step = self.write_batch_size
            for start in range(0, len(wanted), step):
                chunk = wanted[start : start + step]
                got = self._read(
                    cypher.SCORES_BY_ID, {"name": name, "ids": chunk}, cap=self.page_rows + 1
                )
                check_cap(got, self.page_rows, "scores")
                rows += got
            rows.sort(key=lambda r: int(r[0]))
        columns = list(zip(*rows, strict=True)) if rows else [(), (), ()]
        return pa.table(
            {
                "entity_id": pa.array(columns[0], pa.int64()),
                "value": pa.array(columns[1], pa.float64()),
                "version": pa.array(columns[2], pa.string()),
            },
            schema=_SCORES_SCHEMA,
        )

    # -- analytics tables ----------------------------------------------------------------
    #: Set once this store has created the analytics constraints and indexes.
    _analytics_schema_ready: bool = False

    def _ensure_analytics_schema(self) -> None:
        """Create the analytics constraint and index (idempotent, once per store)."""
        if self._analytics_schema_ready:
            return
        with self._translated(), self._session(WRITE_ACCESS) as session:
            for statement in cypher.ANALYTICS_SCHEMA_STATEMENTS:
                session.run(statement).consume()
            session.run(cypher.AWAIT_INDEXES, seconds=300).consume()
        self._analytics_schema_ready = True

    def _write_table(self, name: str, data: pa.Table, version: str) -> None:
        """Store one version of analytics table ``name`` in one transaction.

        Each row becomes an ``:_AnalyticsRow`` node (UNWIND batches of
        ``write_batch_size``); the ``:_AnalyticsVersion`` node that makes the version
        visible is written in the same transaction, after the rows. A version written
        again has its old rows deleted in that transaction. Lists of numbers, booleans or
        strings (without null elements) are stored as Neo4j lists; structs and lists with
        nulls travel as JSON text; timestamps and dates as integers. The Arrow schema is
        kept on the version node, so reads return the types written.

        Raises
        ------
        InvalidInput
            For a bad name, version, column name or column type.
        BackendUnavailable
            If Neo4j stays unreachable through the retries.

        Notes
        -----
        O(rows x columns) to pack the rows for the driver.
        """
        rows, json_columns = _analytics_rows(data)
        self._ensure_analytics_schema()
        constants = {"name": name, "version": version}

        def work(tx: Transaction) -> bool:
            seq = int(tx.run(cypher.NEXT_ANALYTICS_SEQ).single(strict=True)["seq"])
            while tx.run(
                cypher.DELETE_ANALYTICS_ROWS, {**constants, "batch": self.write_batch_size}
            ).single(strict=True)["deleted"]:
                pass
            if rows:
                self._run_chunked(
                    tx, cypher.CREATE_ANALYTICS_ROWS, {"rows": rows}, {**constants, "seq": seq}
                )
            tx.run(
                cypher.PUT_ANALYTICS_VERSION,
                {
                    **constants,
                    "seq": seq,
                    "n_rows": data.num_rows,
                    "schema": schema_to_text(data.schema),
                    "json_columns": json_columns,
                },
            ).consume()
            return True

        self._in_write_transaction(work, f"write_table {name!r}")

    def _read_table(self, name: str, version: str | None) -> pa.Table:
        """One version (default: the latest written) of analytics table ``name``.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table or the version does not exist.
        BackendUnavailable
            If Neo4j is unreachable, or the version was rewritten during each of three
            attempts to read it (rows are read in pages of ``page_rows``, one
            transaction each).
        """
        for _ in range(_ANALYTICS_READ_ATTEMPTS):
            found = self._read(cypher.ANALYTICS_VERSION, {"name": name, "version": version}, cap=1)
            if not found:
                known = self.table_versions(name)
                if not known:
                    raise no_such_table(name)
                raise no_such_version(name, str(version), known)
            stored_version, seq, n_rows, schema_text, json_columns = found[0]
            params = {"name": name, "version": stored_version, "seq": seq}

            def fetch(lo: int, hi: int, cap: int, params: dict[str, Any] = params) -> Rows:
                return self._read(
                    cypher.ANALYTICS_ROWS_PAGE, {**params, "lo": lo, "hi": hi}, cap=cap
                )

            rows = self._windowed(
                fetch, 0, int(n_rows), width=self.page_rows, what=f"analytics table {name!r}"
            )
            # Pages are separate transactions: a rewrite of this version in between leaves
            # rows missing, and the read starts again on the new write.
            if len(rows) == int(n_rows):
                return _analytics_table(
                    rows, schema_from_text(schema_text), set(json_columns or ())
                )
        raise BackendUnavailable(
            f"analytics table {name!r} kept being rewritten while it was read; try again"
        )

    def _table_versions(self, name: str) -> list[str]:
        """Versions of analytics table ``name``, oldest written first."""
        rows = self._read(cypher.ANALYTICS_VERSIONS, {"name": name}, cap=LIST_CAP + 1)
        check_cap(rows, LIST_CAP, f"versions of analytics table {name!r}")
        return [str(r[0]) for r in rows]

    def _drop_table_version(self, name: str, version: str) -> None:
        """Delete one version of analytics table ``name``: its rows and its version node.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table has no such version.
        """
        constants = {"name": name, "version": version}

        def work(tx: Transaction) -> bool:
            found = tx.run(cypher.DELETE_ANALYTICS_VERSION, constants).single(strict=True)
            if not found["deleted"]:
                return False
            while tx.run(
                cypher.DELETE_ANALYTICS_ROWS, {**constants, "batch": self.write_batch_size}
            ).single(strict=True)["deleted"]:
                pass
            return True

        if not self._in_write_transaction(work, f"drop_table_version {name!r}"):
            raise no_such_version(name, version, self.table_versions(name))


# -- analytics table encoding ----------------------------------------------------------------

#: Reads of an analytics table started again when a rewrite lands in the middle.
_ANALYTICS_READ_ATTEMPTS = 3


def _json_safe_type(data_type: pa.DataType) -> pa.DataType:
    """``data_type`` with every timestamp/date leaf replaced by its integer storage type."""
    if pa.types.is_timestamp(data_type) or pa.types.is_date64(data_type):
        return pa.int64()
    if pa.types.is_date32(data_type):
        return pa.int32()
    if pa.types.is_list(data_type):
        return pa.list_(_json_safe_type(data_type.value_type))
    if pa.types.is_large_list(data_type):
        return pa.large_list(_json_safe_type(data_type.value_type))
    if pa.types.is_struct(data_type):
        return pa.struct(
            [
                f.with_type(_json_safe_type(f.type))
                for f in (data_type.field(i) for i in range(data_type.num_fields))
            ]
        )
    return data_type


def _is_native_list(column: pa.ChunkedArray) -> bool:
    """A list of primitives without null elements: kept as a Neo4j list property."""
    data_type = column.type
    if not (pa.types.is_list(data_type) or pa.types.is_large_list(data_type)):
        return False
    value_type = data_type.value_type
    primitive = (
        pa.types.is_integer(value_type)
        or pa.types.is_floating(value_type)
        or pa.types.is_boolean(value_type)
        or pa.types.is_string(value_type)
        or pa.types.is_large_string(value_type)
    )
    null_elements = sum(pc.list_flatten(chunk).null_count for chunk in column.chunks)
    return bool(primitive and null_elements == 0)


def _analytics_rows(data: pa.Table) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows as property maps (with ``_row``), and the names of the JSON-encoded columns."""
    columns: dict[str, list[Any]] = {}
    json_columns: list[str] = []
    for column_field, column in zip(data.schema, data.columns, strict=True):
        data_type = column_field.type
        nested = (
            pa.types.is_list(data_type)
            or pa.types.is_large_list(data_type)
            or pa.types.is_struct(data_type)
        )
        if nested and not _is_native_list(column):
            values = column.cast(_json_safe_type(data_type)).to_pylist()
            columns[column_field.name] = [None if v is None else json.dumps(v) for v in values]
            json_columns.append(column_field.name)
        else:
            columns[column_field.name] = column.cast(_json_safe_type(data_type)).to_pylist()
    names = list(columns)
    rows = (
        [
            {"_row": i, **dict(zip(names, values, strict=True))}
            for i, values in enumerate(zip(*columns.values(), strict=True))
        ]
        if names
        else [{"_row": i} for i in range(data.num_rows)]
    )
    return rows, json_columns


def _analytics_table(rows: Rows, schema: pa.Schema, json_columns: set[str]) -> pa.Table:
    """Property maps read back (``properties(r)``) as a table in the schema written."""
    arrays = []
    for column_field in schema:
        values: list[Any] = [row.get(column_field.name) for row in rows]  # type: ignore[attr-defined]
        if column_field.name in json_columns:
            values = [None if v is None else json.loads(v) for v in values]
        arrays.append(pa.array(values, _json_safe_type(column_field.type)).cast(column_field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
