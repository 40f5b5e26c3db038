"""The embedded store's DuckDB file: its tables, their upkeep, and compaction.

Layout of ``store_dir``::

    graph.duckdb        entities, links (and ``links_in``, the same ordered by destination),
                        labels, scores, ingest ledger, quarantine
    events/*.parquet    normalised events, one file per committed batch (replay, temporal features)

Writes are append-only within a batch transaction: links and entity facts arrive as
per-batch *deltas* (``link_deltas``, ``entity_deltas``) and are folded into ``links`` and
``entities`` by :meth:`EmbeddedDatabase.compact`, once per ingest run (and before any read
that needs them). A batch of a bulk load leaves even its deltas for later
(``ingest_batches.graph_pending``): compaction first builds the graph of all such batches in
one set-based pass (:mod:`graph_service.embedded.bulk`). This keeps every batch a cheap append, however large the store grows,
while a crash at any point leaves only whole batches (compaction is itself one
transaction and idempotent).

:class:`EmbeddedDatabase` is the part of ``EmbeddedStore`` that every other part builds
on: the connection and the store's attributes, the lookup tables and compaction.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from graph_service.embedded.bulk import build_pending_graph, pending_batches
from graph_service.errors import InvalidInput
from graph_service.store import ENTITY_ATTRIBUTES

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS entities (
    id BIGINT NOT NULL, type UTINYINT NOT NULL, key VARCHAR NOT NULL,
    first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ,
    is_emulator BOOLEAN, is_rooted BOOLEAN, os VARCHAR,
    is_proxy BOOLEAN, asn BIGINT, country VARCHAR,
    is_emulator_ts TIMESTAMPTZ, is_rooted_ts TIMESTAMPTZ, os_ts TIMESTAMPTZ,
    is_proxy_ts TIMESTAMPTZ, asn_ts TIMESTAMPTZ, country_ts TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS entity_deltas (
    id BIGINT NOT NULL, first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ, attr_ts TIMESTAMPTZ,
    is_emulator BOOLEAN, is_rooted BOOLEAN, os VARCHAR,
    is_proxy BOOLEAN, asn BIGINT, country VARCHAR);
CREATE TABLE IF NOT EXISTS links (
    src BIGINT NOT NULL, dst BIGINT NOT NULL, type UTINYINT NOT NULL,
    n_events BIGINT NOT NULL, amount_sum DOUBLE NOT NULL,
    first_ts TIMESTAMPTZ NOT NULL, last_ts TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS entity_keys (
    h UBIGINT NOT NULL, type UTINYINT NOT NULL, key VARCHAR NOT NULL, id BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS links_in (
    src BIGINT NOT NULL, dst BIGINT NOT NULL, type UTINYINT NOT NULL,
    n_events BIGINT NOT NULL, amount_sum DOUBLE NOT NULL,
    first_ts TIMESTAMPTZ NOT NULL, last_ts TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS link_deltas (
    src BIGINT NOT NULL, dst BIGINT NOT NULL, type UTINYINT NOT NULL,
    n_events BIGINT NOT NULL, amount_sum DOUBLE NOT NULL,
    first_ts TIMESTAMPTZ NOT NULL, last_ts TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS event_keys (event_id VARCHAR NOT NULL, fingerprint UBIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS labels (
    entity_type UTINYINT NOT NULL, entity_key VARCHAR NOT NULL, label VARCHAR NOT NULL,
    source VARCHAR NOT NULL, author VARCHAR, reason VARCHAR,
    ts TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    entity_id BIGINT NOT NULL, name VARCHAR NOT NULL, value DOUBLE NOT NULL,
    version VARCHAR NOT NULL, written_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_sources (
    source VARCHAR NOT NULL, path VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    batch_size BIGINT NOT NULL, started_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ, manifest VARCHAR);
CREATE TABLE IF NOT EXISTS ingest_batches (
    source VARCHAR NOT NULL, batch_index BIGINT NOT NULL, rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL,
    rows_duplicate BIGINT NOT NULL, events_file VARCHAR, committed_at TIMESTAMPTZ NOT NULL,
    fields_quarantined BIGINT NOT NULL DEFAULT 0, graph_pending BOOLEAN DEFAULT false);
CREATE TABLE IF NOT EXISTS quarantine (
    source VARCHAR NOT NULL, path VARCHAR NOT NULL, row_number BIGINT NOT NULL,
    reason VARCHAR NOT NULL, detail VARCHAR, raw VARCHAR, level VARCHAR DEFAULT 'row',
    field VARCHAR, input_column VARCHAR, input_value VARCHAR);
CREATE TABLE IF NOT EXISTS analytics_catalog (
    name VARCHAR NOT NULL, version VARCHAR NOT NULL, seq BIGINT NOT NULL,
    physical VARCHAR NOT NULL, n_rows BIGINT NOT NULL, schema VARCHAR NOT NULL,
    written_at TIMESTAMPTZ NOT NULL);
"""

#: Columns added after the first stores were written: brought in on a write open, with the
#: value every earlier row had (all quarantine was row-level, no field was quarantined).
MIGRATIONS = """
ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS fields_quarantined BIGINT DEFAULT 0;
ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS graph_pending BOOLEAN DEFAULT false;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS level VARCHAR DEFAULT 'row';
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS field VARCHAR;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS input_column VARCHAR;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS input_value VARCHAR;
"""

#: ``(type, key) -> id`` ordered by the key's hash: a lookup by key reads the few row groups
#: whose hash range holds it instead of every entity. New entities are appended by their
#: batch and put in order again at compaction.
REBUILD_ENTITY_KEYS = (
    "CREATE OR REPLACE TABLE entity_keys AS "
    "SELECT hash(key) AS h, type, key, id FROM entities ORDER BY h"
)
SORT_ENTITY_KEYS = "CREATE OR REPLACE TABLE entity_keys AS SELECT * FROM entity_keys ORDER BY h"

#: ``links`` ordered by destination: lookups by ``dst`` (the accounts using an identifier,
#: inbound transfers) skip row groups by their min/max instead of scanning every link.
#: Rebuilt with ``links`` at every compaction, in the same transaction.
REBUILD_LINKS_IN = (
    "CREATE OR REPLACE TABLE links_in AS "
    "SELECT src, dst, type, n_events, amount_sum, first_ts, last_ts FROM links "
    "ORDER BY dst, src, type"
)

ATTR_SQL = ", ".join(ENTITY_ATTRIBUTES)


class EmbeddedDatabase:
    """The DuckDB connection, lookup tables and compaction (a part of ``EmbeddedStore``).

    Attributes are set by ``EmbeddedStore.__init__``; see that class for their meaning.
    """

    store_dir: Path
    events_dir: Path
    read_only: bool
    _con: duckdb.DuckDBPyConnection

    def _ensure_lookup_tables(self) -> None:
        """Rebuild ``links_in`` / ``entity_keys`` if out of step with their source (older stores).

        Raises
        ------
        InvalidInput
            On a read-only open of a store whose lookup tables are missing or out of step:
            a write open (any ingest or analyse) brings it up to date.
        """
        present = {
            name
            for (name,) in self._con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_name IN ('links', 'links_in', 'entities', 'entity_keys')"
            ).fetchall()
        }
        for table, source, rebuild in (
            ("links_in", "links", REBUILD_LINKS_IN),
            ("entity_keys", "entities", REBUILD_ENTITY_KEYS),
        ):
            if source not in present:
                continue  # an empty read-only file: nothing to look up yet
            counts = (
                self._con.execute(
                    f"SELECT (SELECT count(*) FROM {source}), (SELECT count(*) FROM {table})"
                ).fetchone()
                if table in present
                else None
            )
            if counts is not None and counts[0] == counts[1]:
                continue
            if self.read_only:
                self._con.close()
                raise InvalidInput(
                    f"store {self.store_dir} lacks an up-to-date {table} table; open it for "
                    "writing once (e.g. `fraudgraph ingest` or `fraudgraph analyse`) to build it"
                )
            log.info("rebuilding lookup table", extra={"table": table})
            self._con.execute(rebuild)

    def pending_deltas(self) -> int:
        """Rows waiting in the delta tables (0 right after :meth:`compact`)."""
        row = self._con.execute(
            "SELECT (SELECT count(*) FROM link_deltas) + (SELECT count(*) FROM entity_deltas)"
        ).fetchone()
        assert row is not None
        return int(row[0])

    def pending_graph_batches(self) -> int:
        """Bulk batches whose graph is not built yet (0 right after :meth:`compact`)."""
        if self.read_only and not self._has_column("ingest_batches", "graph_pending"):
            return 0  # a store written before bulk loads existed
        return pending_batches(self._con)

    def build_pending_graph(self) -> int:
        """Build the graph of pending bulk batches into deltas (see :mod:`.bulk`).

        Returns
        -------
        int
            Events whose graph was built.
        """
        if self.read_only:
            return 0
        return build_pending_graph(self._con, self.events_dir)

    def _has_column(self, table: str, column: str) -> bool:
        row = self._con.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
            "AND column_name = ?",
            [table, column],
        ).fetchone()
        return bool(row and row[0])

    def compact(self) -> None:
        """Fold link and entity deltas into ``links`` and ``entities`` in one transaction.

        Notes
        -----
        O(n_links + n_deltas) with one hash aggregation; idempotent, so a crash during
        compaction (rolled back) is repaired by the next call. Pending bulk batches are
        built into deltas first (their own transaction, see :mod:`.bulk`).
        """
        if self.read_only:
            return
        self.build_pending_graph()
        if self.pending_deltas() == 0:
            return
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "CREATE OR REPLACE TABLE links AS SELECT src, dst, type, "
                "sum(n_events)::BIGINT AS n_events, sum(amount_sum) AS amount_sum, "
                "min(first_ts) AS first_ts, max(last_ts) AS last_ts FROM ("
                "SELECT * FROM links UNION ALL SELECT * FROM link_deltas) "
                "GROUP BY src, dst, type ORDER BY src, dst, type"
            )
            # Each attribute keeps the time of its value, so the latest value by event time
            # wins whatever order files arrive in (ties: the later ingest wins).
            latest = ", ".join(
                f"arg_max({c}, attr_ts) FILTER ({c} IS NOT NULL) AS {c}, "
                f"max(attr_ts) FILTER ({c} IS NOT NULL) AS {c}_ts"
                for c in ENTITY_ATTRIBUTES
            )
            merged = ", ".join(
                f"CASE WHEN d.{c}_ts IS NOT NULL AND (e.{c}_ts IS NULL OR d.{c}_ts >= e.{c}_ts) "
                f"THEN d.{c} ELSE e.{c} END AS {c}"
                for c in ENTITY_ATTRIBUTES
            )
            merged_ts = ", ".join(
                f"greatest(e.{c}_ts, d.{c}_ts) AS {c}_ts" for c in ENTITY_ATTRIBUTES
            )
            # First/last seen: accounts from their events (entity deltas), identifiers from
            # their links (an identifier exists only through links).
            con.execute(
                "CREATE OR REPLACE TABLE entities AS SELECT e.id, e.type, e.key, "
                "least(e.first_ts, d.first_ts, s.first_ts) AS first_ts, "
                "greatest(e.last_ts, d.last_ts, s.last_ts) AS last_ts, "
                f"{merged}, {merged_ts} FROM entities e LEFT JOIN ("
                f"SELECT id, min(first_ts) AS first_ts, max(last_ts) AS last_ts, {latest} "
                "FROM entity_deltas GROUP BY id) d USING (id) LEFT JOIN ("
                "SELECT id, min(f) AS first_ts, max(l) AS last_ts FROM ("
                "SELECT src AS id, first_ts AS f, last_ts AS l FROM link_deltas UNION ALL "
                "SELECT dst, first_ts, last_ts FROM link_deltas) GROUP BY id) s USING (id) "
                "ORDER BY e.id"
            )
            con.execute(REBUILD_LINKS_IN)
            con.execute(SORT_ENTITY_KEYS)
            con.execute("DELETE FROM link_deltas")
            con.execute("DELETE FROM entity_deltas")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
