"""Analytics outputs in the embedded store: entity scores and versioned analytics tables.

Scores are rows of the ``scores`` table. Each version of an analytics table is its own
DuckDB table (``analytics__<name>__<seq>``) named in ``analytics_catalog``; the catalog
row and the data commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from graph_service.analytics_tables import (
    no_such_table,
    no_such_version,
    schema_from_text,
    schema_to_text,
)
from graph_service.checked import CheckedAnalytics
from graph_service.embedded.database import EmbeddedDatabase
from graph_service.typing import F64, I64


class EmbeddedAnalytics(CheckedAnalytics, EmbeddedDatabase):
    """Scores and analytics tables of ``EmbeddedStore``."""

    # -- scores --------------------------------------------------------------------------
    def _write_scores(self, name: str, ids: I64, values: F64, version: str) -> None:
        """Replace score ``name`` for ``ids`` with ``values`` in one transaction."""
        table = pa.table({"entity_id": ids, "value": values})
        con = self._con
        con.register("_s", table)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "DELETE FROM scores WHERE name = ? AND entity_id IN (SELECT entity_id FROM _s)",
                [name],
            )
            con.execute(
                "INSERT INTO scores SELECT entity_id, ?, value, ?, now() FROM _s", [name, version]
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("_s")

    def _read_scores(self, name: str, ids: Sequence[int] | None) -> pa.Table:
        """Score ``name`` as ``(entity_id, value, version)`` ordered by entity id."""
        params: list[Any] = [name]
        if ids is None:
            sql = "SELECT entity_id, value, version FROM scores WHERE name = ?"
        else:
            sql = (
                "SELECT entity_id, value, version FROM scores WHERE name = ? "
                "AND entity_id IN (SELECT unnest(?))"
            )
            params.append(list(ids))
        return self._con.execute(sql + " ORDER BY entity_id", params).to_arrow_table()

    # -- analytics tables ----------------------------------------------------------------
    def _write_table(self, name: str, data: pa.Table, version: str) -> None:
        """Store one version of analytics table ``name`` in one DuckDB transaction.

        Each version is its own DuckDB table (``analytics__<name>__<seq>``) named in
        ``analytics_catalog``; the catalog row and the data commit together, and a
        version written again replaces the old data in the same transaction.

        Raises
        ------
        InvalidInput
            For a bad name, version, column name or column type.

        Notes
        -----
        O(rows) with one bulk copy from Arrow.
        """
        con = self._con
        con.register("_analytics", data)
        con.execute("BEGIN TRANSACTION")
        try:
            row = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM analytics_catalog").fetchone()
            assert row is not None
            seq = int(row[0])
            physical = f"analytics__{name}__{seq}"
            con.execute(f'CREATE TABLE "{physical}" AS SELECT * FROM _analytics')
            replaced = con.execute(
                "SELECT physical FROM analytics_catalog WHERE name = ? AND version = ?",
                [name, version],
            ).fetchall()
            for (old_physical,) in replaced:
                con.execute(f'DROP TABLE IF EXISTS "{old_physical}"')
            con.execute(
                "DELETE FROM analytics_catalog WHERE name = ? AND version = ?", [name, version]
            )
            con.execute(
                "INSERT INTO analytics_catalog VALUES (?, ?, ?, ?, ?, ?, now())",
                [name, version, seq, physical, data.num_rows, schema_to_text(data.schema)],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("_analytics")

    def _read_table(self, name: str, version: str | None) -> pa.Table:
        """One version (default: the latest) of analytics table ``name``.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table or the version does not exist.
        """
        if not self._has_analytics_catalog():
            raise no_such_table(name)
        rows = self._con.execute(
            "SELECT version, physical, schema FROM analytics_catalog WHERE name = ? "
            "AND (? IS NULL OR version = ?) ORDER BY seq DESC LIMIT 1",
            [name, version, version],
        ).fetchall()
        if not rows:
            known = self.table_versions(name)
            if not known:
                raise no_such_table(name)
            raise no_such_version(name, str(version), known)
        _, physical, schema_text = rows[0]
        data = self._con.execute(f'SELECT * FROM "{physical}"').to_arrow_table()
        return data.cast(schema_from_text(schema_text))

    def _table_versions(self, name: str) -> list[str]:
        """Versions of analytics table ``name``, oldest written first."""
        if not self._has_analytics_catalog():
            return []
        rows = self._con.execute(
            "SELECT version FROM analytics_catalog WHERE name = ? ORDER BY seq", [name]
        ).fetchall()
        return [str(r[0]) for r in rows]

    def _drop_table_version(self, name: str, version: str) -> None:
        """Delete one version of analytics table ``name`` in one transaction.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table has no such version.
        """
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            rows = con.execute(
                "SELECT physical FROM analytics_catalog WHERE name = ? AND version = ?",
                [name, version],
            ).fetchall()
            if not rows:
                raise no_such_version(name, version, self.table_versions(name))
            for (physical,) in rows:
                con.execute(f'DROP TABLE IF EXISTS "{physical}"')
            con.execute(
                "DELETE FROM analytics_catalog WHERE name = ? AND version = ?", [name, version]
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _has_analytics_catalog(self) -> bool:
        """False only for a read-only store opened on a file older than analytics tables."""
        row = self._con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'analytics_catalog'"
        ).fetchone()
        return row is not None and int(row[0]) > 0
