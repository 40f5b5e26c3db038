"""The embedded backend: a DuckDB file as the durable store, Parquet for raw events.

Layout of ``store_dir``::

    graph.duckdb        entities, links (and ``links_in``, the same ordered by destination),
                        labels, scores, ingest ledger, quarantine
    events/*.parquet    normalised events, one file per committed batch (replay, temporal features)

Writes are append-only within a batch transaction: links and entity facts arrive as
per-batch *deltas* (``link_deltas``, ``entity_deltas``) and are folded into ``links`` and
``entities`` by :meth:`EmbeddedStore.compact`, once per ingest run (and before any read
that needs them). This keeps every batch a cheap append, however large the store grows,
while a crash at any point leaves only whole batches (compaction is itself one
transaction and idempotent).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graph_service.analytics_tables import (
    check_table_name,
    check_version,
    no_such_table,
    no_such_version,
    prepare_table,
    schema_from_text,
    schema_to_text,
)
from graph_service.csr import CSRGraph, build_csr
from graph_service.errors import EntityNotFound, InvalidInput, LimitExceeded, StoreLocked
from graph_service.model import (
    LINK_ENDPOINTS,
    LINK_TARGET_COLUMN,
    LINK_TYPE_CODE,
    NODE_TYPE_CODE,
    LinkType,
    NodeType,
)
from graph_service.store import (
    ENTITY_ATTRIBUTES,
    LINK_EXPORT_SCHEMA,
    NODE_EXPORT_SCHEMA,
    BatchCommit,
    Entity,
    GraphCounts,
    Neighbour,
    SourceProgress,
    Subgraph,
    conform_quarantine,
    link_type_of,
    node_type_of,
    ordered_quarantine,
)

if TYPE_CHECKING:
    from graph_service.algorithms import GraphAlgorithms
    from graph_service.settings import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
_ACCOUNT = NODE_TYPE_CODE[NodeType.ACCOUNT]

_DDL = """
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
    fields_quarantined BIGINT NOT NULL DEFAULT 0);
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
_MIGRATIONS = """
ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS fields_quarantined BIGINT DEFAULT 0;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS level VARCHAR DEFAULT 'row';
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS field VARCHAR;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS input_column VARCHAR;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS input_value VARCHAR;
"""

#: ``(type, key) -> id`` ordered by the key's hash: a lookup by key reads the few row groups
#: whose hash range holds it instead of every entity. New entities are appended by their
#: batch and put in order again at compaction.
_REBUILD_ENTITY_KEYS = (
    "CREATE OR REPLACE TABLE entity_keys AS "
    "SELECT hash(key) AS h, type, key, id FROM entities ORDER BY h"
)
_SORT_ENTITY_KEYS = "CREATE OR REPLACE TABLE entity_keys AS SELECT * FROM entity_keys ORDER BY h"

#: ``links`` ordered by destination: lookups by ``dst`` (the accounts using an identifier,
#: inbound transfers) skip row groups by their min/max instead of scanning every link.
#: Rebuilt with ``links`` at every compaction, in the same transaction.
_REBUILD_LINKS_IN = (
    "CREATE OR REPLACE TABLE links_in AS "
    "SELECT src, dst, type, n_events, amount_sum, first_ts, last_ts FROM links "
    "ORDER BY dst, src, type"
)

_ATTR_SQL = ", ".join(ENTITY_ATTRIBUTES)


def _type_case(column: str, mapping: dict[Any, int]) -> str:
    """A SQL CASE turning enum values stored as text into their codes (constants only)."""
    arms = " ".join(f"WHEN '{k.value}' THEN {v}" for k, v in mapping.items())
    return f"CASE {column} {arms} END"


class EmbeddedStore:
    """``GraphStore`` on a DuckDB file plus Parquet event files.

    Parameters
    ----------
    store_dir : Path
        Directory of the store; created if missing.
    memory_limit : str
        DuckDB memory cap, e.g. ``"3GB"``.
    threads : int
        DuckDB worker threads; 0 means all cores.
    read_only : bool
        Open without the write lock (several readers may share a store).
    neighbour_cap : int
        Hard cap on ``limit`` in :meth:`neighbours`.

    Raises
    ------
    StoreLocked
        If another process holds the store open for writing.
    """

    backend = "embedded"

    def __init__(
        self,
        store_dir: Path,
        *,
        memory_limit: str = "3GB",
        threads: int = 0,
        read_only: bool = False,
        neighbour_cap: int = 10_000,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.events_dir = self.store_dir / "events"
        self.read_only = read_only
        self.neighbour_cap = neighbour_cap
        if not read_only:
            self.events_dir.mkdir(parents=True, exist_ok=True)
        db_path = self.store_dir / "graph.duckdb"
        if read_only and not db_path.exists():
            raise InvalidInput(f"no store at {self.store_dir} (run `fraudgraph ingest` first)")
        config: dict[str, Any] = {"memory_limit": memory_limit}
        if threads:
            config["threads"] = threads
        try:
            self._con = duckdb.connect(str(db_path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLocked(
                    f"store {self.store_dir} is in use by another process: {str(exc).splitlines()[0]}"
                ) from exc
            raise
        self._con.execute("SET TimeZone = 'UTC'")
        # DuckDB prints a progress bar on stdout for long queries; stdout belongs to the
        # caller (the CLI's --json contract is one JSON object there).
        self._con.execute("SET enable_progress_bar = false")
        if not read_only:
            self._con.execute(_DDL)
            self._con.execute(_MIGRATIONS)
            self._con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                [SCHEMA_VERSION],
            )
        self._ensure_lookup_tables()

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
            ("links_in", "links", _REBUILD_LINKS_IN),
            ("entity_keys", "entities", _REBUILD_ENTITY_KEYS),
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

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedStore:
        """Open the store described by ``settings``."""
        return cls(
            settings.store_dir,
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
            neighbour_cap=settings.neighbour_cap,
        )

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Fold pending deltas (when writable) and close the database."""
        if not self.read_only:
            self.compact()
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- ingestion ledger ----------------------------------------------------------------
    def source_progress(self, source: str) -> SourceProgress | None:
        """Ledger state of one source (see ``GraphStore.source_progress``)."""
        head = self._con.execute(
            "SELECT batch_size, completed_at IS NOT NULL FROM ingest_sources WHERE source = ?",
            [source],
        ).fetchone()
        if head is None:
            return None
        # SELECT *: a store opened read-only may predate fields_quarantined.
        batches = self._con.execute(
            "SELECT * FROM ingest_batches WHERE source = ?", [source]
        ).to_arrow_table()

        def total(column: str) -> int:
            if column not in batches.column_names:
                return 0
            return int(pc.sum(batches.column(column)).as_py() or 0)

        return SourceProgress(
            source=source,
            batches_done=frozenset(batches.column("batch_index").to_pylist()),
            rows_read=total("rows_read"),
            rows_loaded=total("rows_loaded"),
            rows_quarantined=total("rows_quarantined"),
            rows_duplicate=total("rows_duplicate"),
            complete=bool(head[1]),
            batch_size=int(head[0]),
            fields_quarantined=total("fields_quarantined"),
        )

    def begin_source(self, source: str, *, path: str, kind: str, batch_size: int) -> None:
        """Record the start of a source's ingestion (idempotent)."""
        self._con.execute(
            "INSERT INTO ingest_sources (source, path, kind, batch_size, started_at) "
            "SELECT ?, ?, ?, ?, now() WHERE NOT EXISTS "
            "(SELECT 1 FROM ingest_sources WHERE source = ?)",
            [source, path, kind, batch_size, source],
        )

    def complete_source(self, source: str, manifest: dict[str, Any]) -> None:
        """Mark the source complete with its manifest (its batches are already durable)."""
        self._con.execute(
            "UPDATE ingest_sources SET completed_at = now(), manifest = ? WHERE source = ?",
            [json.dumps(manifest, default=str), source],
        )

    def manifests(self) -> list[dict[str, Any]]:
        """Manifests of completed sources, oldest first."""
        rows = self._con.execute(
            "SELECT manifest FROM ingest_sources WHERE manifest IS NOT NULL ORDER BY completed_at"
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def event_fingerprints(self, event_ids: pa.Array) -> pa.Table:
        """Stored fingerprints of the given event ids (absent ids omitted)."""
        probe = pa.table({"event_id": pa.array(event_ids, pa.string())})
        self._con.register("_probe", probe)
        try:
            return self._con.execute(
                "SELECT k.event_id, k.fingerprint FROM event_keys k "
                "SEMI JOIN _probe p ON p.event_id = k.event_id"
            ).to_arrow_table()
        finally:
            self._con.unregister("_probe")

    def quarantine(self, source: str | None = None) -> pa.Table:
        """Quarantine rows (both levels), in ``QUARANTINE_SCHEMA``, by source and row.

        Within a row, the row-level entry comes first, then its fields by name.
        """
        where, params = ("WHERE source = ?", [source]) if source else ("", [])
        # SELECT *: a store opened read-only may predate the field-level columns.
        table = self._con.execute(f"SELECT * FROM quarantine {where}", params).to_arrow_table()
        return ordered_quarantine(conform_quarantine(table))

    def commit_batch(self, commit: BatchCommit) -> None:
        """Apply one batch and its ledger row in a single transaction (see protocol)."""
        con = self._con
        done = con.execute(
            "SELECT 1 FROM ingest_batches WHERE source = ? AND batch_index = ?",
            [commit.source, commit.batch_index],
        ).fetchone()
        if done is not None:
            log.info("batch already committed", extra={"batch": commit.batch_index})
            return
        events_file = None
        if commit.events is not None and commit.events.num_rows:
            # Written before the transaction; a crash leaves an orphan file that no ledger
            # row points at, and the re-run overwrites it under the same name.
            events_file = f"{commit.source[:16]}-{commit.batch_index:06d}.parquet"
            pq.write_table(commit.events, self.events_dir / events_file)
        con.execute("BEGIN TRANSACTION")
        try:
            if commit.events is not None and commit.events.num_rows:
                self._load_events(commit.events)
            if commit.entity_attributes is not None and commit.entity_attributes.num_rows:
                self._load_entity_attributes(commit.entity_attributes)
            if commit.labels is not None and commit.labels.num_rows:
                self._load_labels(commit.labels)
            if commit.quarantine.num_rows:
                con.register("_q", conform_quarantine(commit.quarantine))
                con.execute("INSERT INTO quarantine BY NAME SELECT * FROM _q")
                con.unregister("_q")
            con.execute(
                "INSERT INTO ingest_batches (source, batch_index, rows_read, rows_loaded, "
                "rows_quarantined, rows_duplicate, events_file, committed_at, "
                "fields_quarantined) VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?)",
                [
                    commit.source,
                    commit.batch_index,
                    commit.rows_read,
                    commit.rows_loaded,
                    commit.rows_quarantined,
                    commit.rows_duplicate,
                    events_file,
                    commit.fields_quarantined,
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _resolve_keys(self, keys_sql: str) -> None:
        """Give new ``(type, key)`` pairs ids and leave ``_ids(type, key, id)`` for the batch."""
        con = self._con
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _keys AS SELECT DISTINCT type, key FROM ({keys_sql})"
        )
        next_id = con.execute("SELECT count(*) FROM entities").fetchone()
        assert next_id is not None
        con.execute(
            "INSERT INTO entities (id, type, key) "
            "SELECT ? + row_number() OVER (ORDER BY k.type, k.key) - 1, k.type, k.key "
            "FROM _keys k ANTI JOIN entities e ON e.type = k.type AND e.key = k.key",
            [int(next_id[0])],
        )
        con.execute(
            "INSERT INTO entity_keys SELECT hash(key), type, key, id FROM entities WHERE id >= ?",
            [int(next_id[0])],
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _ids AS SELECT e.type, e.key, e.id "
            "FROM entities e SEMI JOIN _keys k ON e.type = k.type AND e.key = k.key"
        )

    def _entity_ids(self, columns: dict[str, tuple[int, pa.Array]]) -> dict[str, pa.Array]:
        """Map key columns to entity ids, creating the entities that are new.

        Each column is dictionary-encoded in Arrow, so the engine only joins the batch's
        distinct keys (not every row) against ``entities``; ids are then gathered back with
        one ``take`` per column.

        Parameters
        ----------
        columns : dict
            ``name -> (node type code, string array)``.

        Returns
        -------
        dict
            ``name -> int64 array`` of ids (null where the key is null).
        """
        encoded = {
            name: (code, pc.dictionary_encode(values)) for name, (code, values) in columns.items()
        }
        keys = pa.table(
            {
                "col": pa.concat_arrays(
                    [
                        pa.repeat(i, len(enc.dictionary)).cast(pa.int32())
                        for i, (_, enc) in enumerate(encoded.values())
                    ]
                ),
                "pos": pa.concat_arrays(
                    [
                        pa.array(np.arange(len(enc.dictionary), dtype=np.int64))
                        for _, enc in encoded.values()
                    ]
                ),
                "type": pa.concat_arrays(
                    [
                        pa.repeat(code, len(enc.dictionary)).cast(pa.uint8())
                        for code, enc in encoded.values()
                    ]
                ),
                "key": pa.concat_arrays(
                    [enc.dictionary.cast(pa.string()) for _, enc in encoded.values()]
                ),
            }
        )
        con = self._con
        con.register("_dict", keys)
        try:
            self._resolve_keys("SELECT type, key FROM _dict")
            resolved = con.execute(
                "SELECT d.col, d.pos, i.id FROM _dict d "
                "JOIN _ids i ON i.type = d.type AND i.key = d.key ORDER BY d.col, d.pos"
            ).to_arrow_table()
        finally:
            con.unregister("_dict")
        ids = resolved.column("id").combine_chunks()
        bounds = np.searchsorted(
            resolved.column("col").to_numpy(), np.arange(len(encoded) + 1), side="left"
        )
        out: dict[str, pa.Array] = {}
        for i, (name, (_, enc)) in enumerate(encoded.items()):
            out[name] = pc.take(ids.slice(bounds[i], bounds[i + 1] - bounds[i]), enc.indices)
        return out

    def _load_events(self, events: pa.Table) -> None:
        con = self._con
        account = NODE_TYPE_CODE[NodeType.ACCOUNT]
        columns = {"account_id": (account, _flat(events, "account_id"))}
        for link_type, column in LINK_TARGET_COLUMN.items():
            target = NODE_TYPE_CODE[LINK_ENDPOINTS[link_type][1]]
            columns[column] = (target, _flat(events, column))
        ids = self._entity_ids(columns)
        amount = pc.fill_null(_flat(events, "amount"), 0.0)
        ts = _flat(events, "ts")
        parts = []
        for link_type, column in LINK_TARGET_COLUMN.items():
            present = pc.is_valid(ids[column])
            parts.append(
                pa.table(
                    {
                        "src": pc.filter(ids["account_id"], present),
                        "dst": pc.filter(ids[column], present),
                        "type": pa.repeat(
                            LINK_TYPE_CODE[link_type], pc.sum(present).as_py() or 0
                        ).cast(pa.uint8()),
                        "amount": pc.filter(amount, present),
                        "ts": pc.filter(ts, present),
                    }
                )
            )
        con.register("_lr", pa.concat_tables(parts))
        con.register(
            "_b",
            pa.table(
                {
                    "account": ids["account_id"],
                    "device": ids["device_id"],
                    "ip": ids["ip"],
                    "ts": ts,
                    **{c: _flat(events, c) for c in ENTITY_ATTRIBUTES},
                }
            ),
        )
        try:
            con.execute(
                "INSERT INTO link_deltas SELECT src, dst, type, count(*), sum(amount), "
                "min(ts), max(ts) FROM _lr GROUP BY src, dst, type"
            )
            con.execute(
                "INSERT INTO entity_deltas (id, first_ts, last_ts) "
                "SELECT account, min(ts), max(ts) FROM _b GROUP BY account"
            )
            con.execute(
                "INSERT INTO entity_deltas (id, attr_ts, is_emulator, is_rooted, os) "
                "SELECT device, max(ts), arg_max(is_emulator, ts) FILTER (is_emulator IS NOT NULL), "
                "arg_max(is_rooted, ts) FILTER (is_rooted IS NOT NULL), "
                "arg_max(os, ts) FILTER (os IS NOT NULL) FROM _b "
                "WHERE device IS NOT NULL AND (is_emulator IS NOT NULL OR is_rooted IS NOT NULL "
                "OR os IS NOT NULL) GROUP BY device"
            )
            con.execute(
                "INSERT INTO entity_deltas (id, attr_ts, is_proxy, asn, country) "
                "SELECT ip, max(ts), arg_max(is_proxy, ts) FILTER (is_proxy IS NOT NULL), "
                "arg_max(asn, ts) FILTER (asn IS NOT NULL), "
                "arg_max(country, ts) FILTER (country IS NOT NULL) FROM _b "
                "WHERE ip IS NOT NULL AND (is_proxy IS NOT NULL OR asn IS NOT NULL "
                "OR country IS NOT NULL) GROUP BY ip"
            )
        finally:
            con.unregister("_lr")
            con.unregister("_b")
        con.register("_ek", events.select(["event_id", "fingerprint"]))
        try:
            con.execute("INSERT INTO event_keys SELECT event_id, fingerprint FROM _ek")
        finally:
            con.unregister("_ek")

    def _load_entity_attributes(self, rows: pa.Table) -> None:
        con = self._con
        con.register("_e", rows)
        try:
            type_code = _type_case("entity_type", NODE_TYPE_CODE)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _ea AS SELECT ({type_code})::UTINYINT AS type, "
                f"entity_key AS key, {_ATTR_SQL} FROM _e"
            )
            self._resolve_keys("SELECT type, key FROM _ea")
            con.execute(
                f"INSERT INTO entity_deltas (id, attr_ts, {_ATTR_SQL}) "
                f"SELECT i.id, now(), {', '.join('a.' + c for c in ENTITY_ATTRIBUTES)} FROM _ea a "
                "JOIN _ids i ON i.type = a.type AND i.key = a.key"
            )
        finally:
            con.unregister("_e")

    def _load_labels(self, rows: pa.Table) -> None:
        con = self._con
        con.register("_l", rows)
        try:
            type_code = _type_case("entity_type", NODE_TYPE_CODE)
            con.execute(
                f"INSERT INTO labels SELECT ({type_code})::UTINYINT, entity_key, label, source, "
                "author, reason, ts, now() FROM _l"
            )
        finally:
            con.unregister("_l")

    def add_label(
        self,
        node_type: NodeType,
        key: str,
        *,
        label: Literal["fraud", "legit"],
        source: str,
        author: str | None,
        reason: str | None,
        ts: datetime | None = None,
    ) -> None:
        """Append one label (investigator feedback) to the labels table."""
        self._con.execute(
            "INSERT INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, now())",
            [
                NODE_TYPE_CODE[node_type],
                key,
                label,
                source,
                author,
                reason,
                ts or datetime.now(UTC),
            ],
        )

    def pending_deltas(self) -> int:
        """Rows waiting in the delta tables (0 right after :meth:`compact`)."""
        row = self._con.execute(
            "SELECT (SELECT count(*) FROM link_deltas) + (SELECT count(*) FROM entity_deltas)"
        ).fetchone()
        assert row is not None
        return int(row[0])

    def compact(self) -> None:
        """Fold link and entity deltas into ``links`` and ``entities`` in one transaction.

        Notes
        -----
        O(n_links + n_deltas) with one hash aggregation; idempotent, so a crash during
        compaction (rolled back) is repaired by the next call.
        """
        if self.read_only or self.pending_deltas() == 0:
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
            con.execute(_REBUILD_LINKS_IN)
            con.execute(_SORT_ENTITY_KEYS)
            con.execute("DELETE FROM link_deltas")
            con.execute("DELETE FROM entity_deltas")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # -- reads ---------------------------------------------------------------------------
    def _entity_rows(self, where: str, params: list[Any]) -> list[Entity]:
        self.compact()
        rows = self._con.execute(
            f"SELECT id, type, key, first_ts, last_ts, {_ATTR_SQL} FROM entities WHERE {where}",
            params,
        ).fetchall()
        return [_entity_from_row(r) for r in rows]

    def get_entity(self, node_type: NodeType, key: str) -> Entity:
        """The entity ``(node_type, key)``; raises ``EntityNotFound`` if absent."""
        ids = self._con.execute(
            "SELECT id FROM entity_keys WHERE h = hash($key) AND type = $type AND key = $key",
            {"key": key, "type": NODE_TYPE_CODE[node_type]},
        ).fetchall()
        found = self._entity_rows("id = ?", [ids[0][0]]) if ids else []
        if not found:
            raise EntityNotFound(f"no {node_type.value} with key {key!r}")
        return found[0]

    def get_entities(self, ids: Sequence[int]) -> list[Entity]:
        """Entities by id in the order asked; unknown ids skipped."""
        if not ids:
            return []
        by_id = {e.id: e for e in self._entity_rows("id IN (SELECT unnest(?))", [list(ids)])}
        return [by_id[i] for i in ids if i in by_id]

    def neighbours(
        self,
        entity_id: int,
        *,
        link_types: Sequence[LinkType] | None = None,
        limit: int = 100,
    ) -> list[Neighbour]:
        """Linked entities, both directions, most events first (see protocol)."""
        if limit < 0:
            raise InvalidInput("limit must be >= 0")
        if limit > self.neighbour_cap:
            raise LimitExceeded(f"limit {limit} exceeds the cap of {self.neighbour_cap}")
        self.compact()
        codes = [LINK_TYPE_CODE[t] for t in (link_types or list(LinkType))]
        rows = self._con.execute(
            f"""
            WITH adj AS (
                SELECT dst AS other, type, 'out' AS direction, n_events, amount_sum,
                       first_ts, last_ts FROM links WHERE src = $id AND list_contains($types, type)
                UNION ALL
                SELECT src, type, 'in', n_events, amount_sum, first_ts, last_ts
                FROM links_in WHERE dst = $id AND list_contains($types, type))
            SELECT e.id, e.type, e.key, e.first_ts, e.last_ts, {", ".join("e." + c for c in ENTITY_ATTRIBUTES)},
                   a.type, a.direction, a.n_events, a.amount_sum, a.first_ts, a.last_ts
            FROM adj a JOIN entities e ON e.id = a.other
            ORDER BY a.n_events DESC, e.id, a.type, a.direction LIMIT $limit
            """,
            {"id": entity_id, "types": codes, "limit": limit},
        ).fetchall()
        width = 5 + len(ENTITY_ATTRIBUTES)
        return [
            Neighbour(
                entity=_entity_from_row(r[:width]),
                link_type=link_type_of(int(r[width])),
                direction=r[width + 1],
                n_events=int(r[width + 2]),
                amount_sum=float(r[width + 3]),
                first_ts=r[width + 4],
                last_ts=r[width + 5],
            )
            for r in rows
        ]

    def subgraph(self, ids: Sequence[int]) -> Subgraph:
        """The nodes ``ids`` and the links among them."""
        self.compact()
        probe = pa.table({"id": pa.array(list(ids), pa.int64())})
        self._con.register("_sg", probe)
        try:
            nodes = self._con.execute(
                "SELECT * FROM entities SEMI JOIN _sg USING (id) ORDER BY id"
            ).to_arrow_table()
            links = self._con.execute(
                "SELECT * FROM links WHERE src IN (SELECT id FROM _sg) "
                "AND dst IN (SELECT id FROM _sg) ORDER BY src, dst, type"
            ).to_arrow_table()
        finally:
            self._con.unregister("_sg")
        return Subgraph(nodes=_as_nodes(nodes), links=_as_links(links))

    def counts(self) -> GraphCounts:
        """Entities per node type and links per link type."""
        self.compact()
        node_rows = dict(
            self._con.execute("SELECT type, count(*) FROM entities GROUP BY type").fetchall()
        )
        link_rows = dict(
            self._con.execute("SELECT type, count(*) FROM links GROUP BY type").fetchall()
        )
        return GraphCounts(
            nodes={t: int(node_rows.get(c, 0)) for t, c in NODE_TYPE_CODE.items()},
            links={t: int(link_rows.get(c, 0)) for t, c in LINK_TYPE_CODE.items()},
        )

    def export_nodes(self) -> pa.Table:
        """All nodes, ordered by id, in ``NODE_EXPORT_SCHEMA``."""
        self.compact()
        return _as_nodes(self._con.execute("SELECT * FROM entities ORDER BY id").to_arrow_table())

    def export_links(self, link_types: Sequence[LinkType] | None = None) -> pa.Table:
        """All links (optionally filtered by type) in ``LINK_EXPORT_SCHEMA``."""
        self.compact()
        codes = [LINK_TYPE_CODE[t] for t in (link_types or list(LinkType))]
        table = self._con.execute(
            "SELECT * FROM links WHERE list_contains(?, type) ORDER BY src, dst, type", [codes]
        ).to_arrow_table()
        return _as_links(table)

    def algorithms(self) -> GraphAlgorithms:
        """The in-process engine (scipy, igraph) over this store's graph."""
        from graph_service.embedded.algorithms import EmbeddedAlgorithms

        return EmbeddedAlgorithms(self)

    def to_csr(self, link_types: Sequence[LinkType] | None = None) -> CSRGraph:
        """Undirected CSR over all node ids (see ``graph_service.csr``)."""
        self.compact()
        node_type = self._con.execute("SELECT type FROM entities ORDER BY id").fetchnumpy()["type"]
        return build_csr(np.asarray(node_type, np.uint8), self.export_links(link_types))

    def labels(self) -> pa.Table:
        """Labels with entity type name and the entity id (null if not in the graph)."""
        self.compact()
        type_name = " ".join(f"WHEN {c} THEN '{t.value}'" for t, c in NODE_TYPE_CODE.items())
        return self._con.execute(
            f"SELECT e.id AS entity_id, CASE l.entity_type {type_name} END AS entity_type, "
            "l.entity_key, l.label, l.source, l.author, l.reason, l.ts, l.recorded_at "
            "FROM labels l LEFT JOIN entities e ON e.type = l.entity_type AND e.key = l.entity_key "
            "ORDER BY l.recorded_at, l.ts"
        ).to_arrow_table()

    def write_scores(self, name: str, ids: np.ndarray, values: np.ndarray, *, version: str) -> None:
        """Replace score ``name`` for ``ids`` with ``values`` in one transaction."""
        ids = np.asarray(ids, np.int64)
        values = np.asarray(values, np.float64)
        if ids.shape != values.shape:
            raise InvalidInput(f"ids {ids.shape} and values {values.shape} differ in shape")
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

    def read_scores(self, name: str, ids: Sequence[int] | None = None) -> pa.Table:
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
    def write_table(self, name: str, table: pa.Table, *, version: str) -> None:
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
        check_table_name(name)
        check_version(version)
        data = prepare_table(table)
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

    def read_table(self, name: str, *, version: str | None = None) -> pa.Table:
        """One version (default: the latest) of analytics table ``name``.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table or the version does not exist.
        """
        check_table_name(name)
        if version is not None:
            check_version(version)
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

    def table_versions(self, name: str) -> list[str]:
        """Versions of analytics table ``name``, oldest written first."""
        check_table_name(name)
        if not self._has_analytics_catalog():
            return []
        rows = self._con.execute(
            "SELECT version FROM analytics_catalog WHERE name = ? ORDER BY seq", [name]
        ).fetchall()
        return [str(r[0]) for r in rows]

    def drop_table_version(self, name: str, version: str) -> None:
        """Delete one version of analytics table ``name`` in one transaction.

        Raises
        ------
        InvalidInput
            For a bad name or version string.
        EntityNotFound
            If the table has no such version.
        """
        check_table_name(name)
        check_version(version)
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

    # -- SQL reads for other packages (relationship queries) ----------------------------
    def read_cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB cursor on this store's database, for read-only SQL by other packages.

        Pending deltas are folded first, so ``entities`` and ``links`` are complete. The
        caller owns the cursor (use it as a context manager, which closes it), runs only
        ``SELECT`` statements on it, and passes every value as a parameter. Tables:
        ``entities(id, type, key, first_ts, last_ts, <attributes>)`` and
        ``links(src, dst, type, n_events, amount_sum, first_ts, last_ts)`` ordered by source
        and ``links_in`` (the same columns) ordered by destination, with type codes
        from ``NODE_TYPE_CODE`` / ``LINK_TYPE_CODE``.

        Returns
        -------
        duckdb.DuckDBPyConnection
            A cursor sharing the store's database (and its snapshot isolation).
        """
        self.compact()
        return self._con.cursor()

    def disk_bytes(self) -> int:
        """Bytes on disk used by the store (database file plus event Parquet files)."""
        return sum(p.stat().st_size for p in self.store_dir.rglob("*") if p.is_file())

    def events_files(self) -> list[Path]:
        """Committed event Parquet files, in commit order (orphans are left out)."""
        rows = self._con.execute(
            "SELECT events_file FROM ingest_batches WHERE events_file IS NOT NULL "
            "ORDER BY committed_at, source, batch_index"
        ).fetchall()
        return [self.events_dir / r[0] for r in rows]


def _entity_from_row(row: Sequence[Any]) -> Entity:
    attrs = {"first_ts": row[3], "last_ts": row[4]}
    attrs.update(zip(ENTITY_ATTRIBUTES, row[5:], strict=True))
    return Entity(
        id=int(row[0]),
        type=node_type_of(int(row[1])),
        key=str(row[2]),
        attributes={k: v for k, v in attrs.items() if v is not None},
    )


def _as_nodes(table: pa.Table) -> pa.Table:
    return table.select(NODE_EXPORT_SCHEMA.names).cast(NODE_EXPORT_SCHEMA)


def _as_links(table: pa.Table) -> pa.Table:
    return table.select(LINK_EXPORT_SCHEMA.names).cast(LINK_EXPORT_SCHEMA)


def _flat(table: pa.Table, column: str) -> pa.Array:
    """One column as a single contiguous array."""
    return table.column(column).combine_chunks()
