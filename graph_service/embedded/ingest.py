"""Ingestion into the embedded store: the ledger, batch transactions and labels.

A batch commit writes its events to Parquet first, then inserts new entities, link and
entity deltas, event keys, labels, quarantine rows and the ledger row in one DuckDB
transaction (see :mod:`graph_service.embedded.database` for the deltas and compaction).
A bulk batch (``BatchCommit.defer_graph``) inserts no entities or deltas: its graph is
built with every other pending bulk batch in one set-based pass
(:mod:`graph_service.embedded.bulk`) at compaction, or before the next batch that resolves
entities itself, so entity ids follow commit order on both paths.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graph_service.checked import CheckedLabels
from graph_service.embedded.database import ATTR_SQL, EmbeddedDatabase
from graph_service.labels import LabelEntry
from graph_service.model import (
    LINK_ENDPOINTS,
    LINK_TARGET_COLUMN,
    LINK_TYPE_CODE,
    NODE_TYPE_CODE,
    NodeType,
)
from graph_service.store import (
    ENTITY_ATTRIBUTES,
    BatchCommit,
    SourceProgress,
    conform_quarantine,
    ordered_quarantine,
)

log = logging.getLogger(__name__)


def _type_case(column: str, mapping: dict[Any, int]) -> str:
    """A SQL CASE turning enum values stored as text into their codes (constants only)."""
    arms = " ".join(f"WHEN '{k.value}' THEN {v}" for k, v in mapping.items())
    return f"CASE {column} {arms} END"


class EmbeddedIngest(CheckedLabels, EmbeddedDatabase):
    """The ingest sink of ``EmbeddedStore``: ledger, batch commits, labels."""

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

    def events_files(self) -> list[Path]:
        """Committed event Parquet files, in commit order (orphans are left out)."""
        rows = self._con.execute(
            "SELECT events_file FROM ingest_batches WHERE events_file IS NOT NULL "
            "ORDER BY committed_at, source, batch_index"
        ).fetchall()
        return [self.events_dir / r[0] for r in rows]

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
        has_events = commit.events is not None and commit.events.num_rows > 0
        deferred = commit.defer_graph and has_events
        if (has_events and not deferred) or (
            commit.entity_attributes is not None and commit.entity_attributes.num_rows
        ):
            # Entities are numbered in commit order: deferred batches get theirs first.
            self.build_pending_graph()
        events_file = None
        if commit.events is not None and has_events:
            # Written before the transaction; a crash leaves an orphan file that no ledger
            # row points at, and the re-run overwrites it under the same name.
            events_file = f"{commit.source[:16]}-{commit.batch_index:06d}.parquet"
            pq.write_table(commit.events, self.events_dir / events_file)
        con.execute("BEGIN TRANSACTION")
        try:
            if commit.events is not None and has_events:
                if deferred:
                    self._load_event_keys(commit.events)
                else:
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
                "fields_quarantined, graph_pending) VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?, ?)",
                [
                    commit.source,
                    commit.batch_index,
                    commit.rows_read,
                    commit.rows_loaded,
                    commit.rows_quarantined,
                    commit.rows_duplicate,
                    events_file,
                    commit.fields_quarantined,
                    deferred,
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
        self._load_event_keys(events)

    def _load_event_keys(self, events: pa.Table) -> None:
        """The ledger of event ids and fingerprints (what deduplication checks against)."""
        con = self._con
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
                f"entity_key AS key, {ATTR_SQL} FROM _e"
            )
            self._resolve_keys("SELECT type, key FROM _ea")
            con.execute(
                f"INSERT INTO entity_deltas (id, attr_ts, {ATTR_SQL}) "
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

    def _add_labels(self, checked: list[LabelEntry]) -> None:
        """Append labels in one statement (all or none; see protocol)."""
        rows = pa.table(
            {
                "entity_type": pa.array([NODE_TYPE_CODE[e.node_type] for e in checked], pa.uint8()),
                "entity_key": pa.array([e.key for e in checked], pa.string()),
                "label": pa.array([e.label for e in checked], pa.string()),
                "source": pa.array([e.source for e in checked], pa.string()),
                "author": pa.array([e.author for e in checked], pa.string()),
                "reason": pa.array([e.reason for e in checked], pa.string()),
                "ts": pa.array([e.ts for e in checked], pa.timestamp("us", tz="UTC")),
            }
        )
        self._con.register("_new_labels", rows)
        try:
            self._con.execute("INSERT INTO labels SELECT *, now() FROM _new_labels")
        finally:
            self._con.unregister("_new_labels")


def _flat(table: pa.Table, column: str) -> pa.Array:
    """One column as a single contiguous array."""
    return table.column(column).combine_chunks()
