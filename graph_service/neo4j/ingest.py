"""Ingestion into the Neo4j store: the ledger, batch transactions and labels.

Writes
------
A batch is planned client-side (``graph_service.neo4j.batch_plan``: aggregated with
DuckDB, one row per ``(src, dst, type)`` link and per entity), then applied in one
explicit transaction: lock ``:_Meta``, check the ledger, resolve keys to ids (new keys get
``next_id..`` in ``(type code, key)`` order), create new entities, update first/last
seen, create or merge links, set attributes, create labels and the ledger node, advance
the counters. Every statement is an UNWIND over at most ``write_batch_size`` rows. A
transient failure (server restart, lost connection, deadlock) re-runs the whole
transaction; the ledger check makes that idempotent.

There is no node per event: ``event_fingerprints()`` (the dedup keys) and
``quarantine()`` read only the Parquet files the ledger names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from neo4j import Transaction

from graph_service.checked import CheckedLabels
from graph_service.errors import BackendUnavailable, InvalidInput
from graph_service.labels import LabelEntry
from graph_service.model import LINK_ENDPOINTS, NODE_TYPE_CODE, NodeType
from graph_service.neo4j import cypher
from graph_service.neo4j.batch_plan import BatchPlan, EntityPlan, Keys, LinkRows, plan_batch
from graph_service.neo4j.session import LIST_CAP, Neo4jConnection, check_cap, to_micros
from graph_service.store import (
    QUARANTINE_SCHEMA,
    BatchCommit,
    SourceProgress,
    conform_quarantine,
    ordered_quarantine,
)

log = logging.getLogger(__name__)

_FINGERPRINTS_SCHEMA = pa.schema(
    [pa.field("event_id", pa.string()), pa.field("fingerprint", pa.uint64())]
)


@dataclass(slots=True)
class _Resolved:
    """Ids of a ``Keys`` (aligned with it) and which of them this batch creates."""

    ids: np.ndarray
    new: np.ndarray
    first_new_id: int


@dataclass(slots=True)
class _Counters:
    next_id: int
    next_label_seq: int


class Neo4jIngest(CheckedLabels, Neo4jConnection):
    """The ingest sink of ``Neo4jStore``: ledger, batch commits, labels."""

    # -- ingestion ledger ----------------------------------------------------------------
    def source_progress(self, source: str) -> SourceProgress | None:
        """Ledger state of one source (see ``GraphStore.source_progress``).

        Returns
        -------
        SourceProgress or None
            ``None`` if ``begin_source`` was never called for ``source``.
        """
        rows = self._read(cypher.SOURCE_PROGRESS, {"source": source}, cap=1)
        if not rows:
            return None
        batch_size, complete, batches, read, loaded, quarantined, duplicate, fields = rows[0]
        return SourceProgress(
            source=source,
            batches_done=frozenset(int(b) for b in batches),
            rows_read=int(read),
            rows_loaded=int(loaded),
            rows_quarantined=int(quarantined),
            rows_duplicate=int(duplicate),
            complete=bool(complete),
            batch_size=None if batch_size is None else int(batch_size),
            fields_quarantined=int(fields),
        )

    def begin_source(self, source: str, *, path: str, kind: str, batch_size: int) -> None:
        """Record the start of a source's ingestion (idempotent)."""
        self._write(
            cypher.BEGIN_SOURCE,
            {"source": source, "path": path, "kind": kind, "batch_size": batch_size},
        )

    def complete_source(self, source: str, manifest: dict[str, Any]) -> None:
        """Mark ``source`` complete and store its manifest (JSON)."""
        self._write(
            cypher.COMPLETE_SOURCE,
            {"source": source, "manifest": json.dumps(manifest, default=str)},
        )

    def manifests(self) -> list[dict[str, Any]]:
        """Manifests of completed sources, oldest first.

        Raises
        ------
        LimitExceeded
            Above a million completed sources.
        """
        rows = self._read(cypher.MANIFESTS, cap=LIST_CAP + 1)
        check_cap(rows, LIST_CAP, "manifests")
        return [json.loads(r[0]) for r in rows]

    def event_fingerprints(self, event_ids: pa.Array) -> pa.Table:
        """Stored fingerprints of the given event ids (absent ids omitted).

        Returns
        -------
        pa.Table
            ``(event_id: string, fingerprint: uint64)``, one row per stored id found.

        Notes
        -----
        The keys are read from the committed event files (those the ledger names), not
        from the graph: the graph holds aggregated links, never a node per event. One
        DuckDB scan of the ``event_id, fingerprint`` columns of those files per call,
        hash-joined with the distinct probe ids: O(stored events) per batch.
        """
        probe = pa.table({"event_id": pc.unique(event_ids).drop_null().cast(pa.string())})
        files = self.events_files()
        if not files or not probe.num_rows:
            return _FINGERPRINTS_SCHEMA.empty_table()
        con = self._engine
        con.register("_probe", probe)
        try:
            found = con.execute(
                "SELECT k.event_id, k.fingerprint::UBIGINT AS fingerprint "
                "FROM read_parquet(?, union_by_name = true) k SEMI JOIN _probe p "
                "ON k.event_id = p.event_id",
                [[str(f) for f in files]],
            ).to_arrow_table()
        finally:
            con.unregister("_probe")
        return found.cast(_FINGERPRINTS_SCHEMA)

    def quarantine(self, source: str | None = None) -> pa.Table:
        """Quarantine rows (both levels, of one source or all), by source and row number.

        Returns
        -------
        pa.Table
            In ``QUARANTINE_SCHEMA``; files written before field-level quarantine read
            as ``level = 'row'``.

        Raises
        ------
        BackendUnavailable
            If a quarantine file named in the ledger is missing from ``store_dir``.
        """
        rows = self._read(cypher.BATCH_FILES, {"source": source}, cap=LIST_CAP + 1)
        check_cap(rows, LIST_CAP, "ledger batches")
        tables = []
        for _, name in rows:
            if name is None:
                continue
            path = self.quarantine_dir / name
            if not path.is_file():
                raise BackendUnavailable(
                    f"quarantine file {path} named in the Neo4j ledger is missing; is "
                    f"store_dir {self.store_dir} the one the data was ingested with?"
                )
            tables.append(conform_quarantine(pq.read_table(path)))
        if not tables:
            return QUARANTINE_SCHEMA.empty_table()
        return ordered_quarantine(pa.concat_tables(tables))

    def events_files(self) -> list[Path]:
        """Committed event Parquet files, in commit order (orphans are left out)."""
        rows = self._read(cypher.BATCH_FILES, {"source": None}, cap=LIST_CAP + 1)
        check_cap(rows, LIST_CAP, "ledger batches")
        return [self.events_dir / r[0] for r in rows if r[0] is not None]

    def _batch_done(self, source: str, batch_index: int) -> bool:
        rows = self._read(cypher.BATCH_DONE, {"source": source, "batch_index": batch_index}, cap=1)
        return bool(rows and rows[0][0])

    def commit_batch(self, commit: BatchCommit) -> None:
        """Apply one batch and its ledger node in a single transaction (see protocol).

        Parameters
        ----------
        commit : BatchCommit
            The batch. A ``(source, batch_index)`` already in the ledger is a no-op.

        Raises
        ------
        BackendUnavailable
            If Neo4j stays unreachable through ``max_commit_attempts`` attempts; nothing
            of the batch is then committed.
        InvalidInput
            If a label or attribute row names an unknown entity type or a label lacks ``ts``.

        Notes
        -----
        Client-side aggregation is O(rows) in DuckDB; the transaction sends one row per
        distinct entity, link and event, ``write_batch_size`` rows per statement.
        """
        if self._batch_done(commit.source, commit.batch_index):
            log.info("batch already committed", extra={"batch": commit.batch_index})
            return
        plan = plan_batch(
            self._engine,
            commit,
            events_dir=self.events_dir,
            quarantine_dir=self.quarantine_dir,
        )
        what = f"batch {commit.batch_index} of source {commit.source[:12]}"
        applied = self._in_write_transaction(lambda tx: self._apply(tx, plan), what)
        if not applied:
            log.info("batch already committed", extra={"batch": commit.batch_index})

    # -- the batch transaction -----------------------------------------------------------
    def _apply(self, tx: Transaction, plan: BatchPlan) -> bool:
        """Write one planned batch in ``tx``; False if the ledger already has it."""
        commit = plan.commit
        meta = tx.run(cypher.LOCK_META, {"meta": cypher.META_NAME}).single(strict=True)
        counters = _Counters(int(meta["next_id"]), int(meta["next_label_seq"]))
        done = tx.run(
            cypher.BATCH_DONE.text,
            {"source": commit.source, "batch_index": commit.batch_index, "cap": 1},
        ).single(strict=True)
        if done["n"]:
            return False
        if plan.events is not None:
            self._write_entities(tx, plan.events, counters)
        if plan.entity_attributes is not None:
            self._write_entities(tx, plan.entity_attributes, counters)
        if plan.labels is not None:
            first_seq = counters.next_label_seq
            counters.next_label_seq += len(plan.labels["entity_key"])
            self._run_chunked(
                tx,
                cypher.CREATE_LABELS,
                plan.labels,
                {"first_seq": first_seq},
                offset_param="first_seq",
            )
        tx.run(
            cypher.CREATE_BATCH,
            {
                "source": commit.source,
                "batch_index": commit.batch_index,
                "rows_read": commit.rows_read,
                "rows_loaded": commit.rows_loaded,
                "rows_quarantined": commit.rows_quarantined,
                "fields_quarantined": commit.fields_quarantined,
                "rows_duplicate": commit.rows_duplicate,
                "events_file": plan.events_file,
                "quarantine_file": plan.quarantine_file,
            },
        )
        tx.run(
            cypher.UPDATE_META,
            {
                "meta": cypher.META_NAME,
                "next_id": counters.next_id,
                "next_label_seq": counters.next_label_seq,
            },
        )
        return True

    def _resolve(
        self, tx: Transaction, keys: Keys, counters: _Counters, *, graph_empty: bool
    ) -> _Resolved:
        """Ids of ``keys``: stored ones looked up, new ones numbered from ``next_id``."""
        ids = np.full(len(keys.keys), -1, np.int64)
        if not graph_empty:
            seen = keys.first is not None and keys.last is not None
            text = (cypher.lookup_and_touch_keys if seen else cypher.lookup_keys)(keys.node_type)
            step = self.write_batch_size
            for lo in range(0, len(keys.keys), step):
                params: dict[str, Any] = {"key": keys.keys[lo : lo + step]}
                if keys.first is not None and keys.last is not None:
                    params["first"] = keys.first[lo : lo + step].tolist()
                    params["last"] = keys.last[lo : lo + step].tolist()
                found = tx.run(text, params).single(strict=True)
                positions = np.asarray(found["positions"], np.int64) + lo
                ids[positions] = np.asarray(found["ids"], np.int64)
        new = ids < 0
        first_new_id = counters.next_id
        n_new = int(new.sum())
        ids[new] = np.arange(first_new_id, first_new_id + n_new, dtype=np.int64)
        counters.next_id += n_new
        return _Resolved(ids=ids, new=new, first_new_id=first_new_id)

    def _write_entities(self, tx: Transaction, plan: EntityPlan, counters: _Counters) -> None:
        # Ids in (type code, key) order, as the embedded store numbers them.
        graph_empty = counters.next_id == 0  # then there is nothing to look up
        resolved = {
            t: self._resolve(tx, keys, counters, graph_empty=graph_empty)
            for t, keys in plan.keys.items()
        }
        # Stored entities seen again had their first/last seen widened by the lookup.
        for node_type, keys in plan.keys.items():
            found = resolved[node_type]
            new_pos = np.flatnonzero(found.new)
            constants = {"type": NODE_TYPE_CODE[node_type], "first_id": found.first_new_id}
            if keys.first is not None and keys.last is not None:
                if new_pos.size:
                    self._run_chunked(
                        tx,
                        cypher.create_seen_entities(node_type),
                        {
                            "key": [keys.keys[p] for p in new_pos],
                            "first": keys.first[new_pos].tolist(),
                            "last": keys.last[new_pos].tolist(),
                        },
                        constants,
                        offset_param="first_id",
                    )
            elif new_pos.size:
                self._run_chunked(
                    tx,
                    cypher.create_bare_entities(node_type),
                    {"key": [keys.keys[p] for p in new_pos]},
                    constants,
                    offset_param="first_id",
                )
        for links in plan.links:
            self._write_links(tx, links, resolved)
        for attributes in plan.attributes:
            ids = resolved[attributes.node_type].ids[attributes.pos]
            self._run_chunked(
                tx,
                cypher.set_attributes(tuple(attributes.values)),
                {"id": ids.tolist(), "attr_ts": attributes.attr_ts.tolist(), **attributes.values},
            )

    def _write_links(
        self, tx: Transaction, links: LinkRows, resolved: Mapping[NodeType, _Resolved]
    ) -> None:
        src_type, dst_type = LINK_ENDPOINTS[links.link_type]
        src, dst = resolved[src_type], resolved[dst_type]
        # A link with an end created in this batch cannot exist yet: CREATE, not MERGE.
        fresh = src.new[links.src_pos] | dst.new[links.dst_pos]
        for rows, text in (
            (np.flatnonzero(fresh), cypher.create_links(links.link_type)),
            (np.flatnonzero(~fresh), cypher.merge_links(links.link_type)),
        ):
            if not rows.size:
                continue
            self._run_chunked(
                tx,
                text,
                {
                    "src": src.ids[links.src_pos[rows]].tolist(),
                    "dst": dst.ids[links.dst_pos[rows]].tolist(),
                    "n": links.n_events[rows].tolist(),
                    "amount": links.amount[rows].tolist(),
                    "first": links.first[rows].tolist(),
                    "last": links.last[rows].tolist(),
                },
            )

    def write_imported_ledger(
        self,
        *,
        sources: Mapping[str, list[Any]],
        batches: Mapping[str, list[Any]],
        labels: Mapping[str, list[Any]],
        next_id: int,
    ) -> None:
        """Write the ledger, labels and counters of a bulk-imported database, all or none.

        ``graph_service.neo4j.bulk_import`` calls it once, right after the import: the
        graph is there, its bookkeeping is not. Columns carry times as epoch microseconds.

        Parameters
        ----------
        sources : Mapping[str, list]
            ``source, path, kind, batch_size, started_at, completed_at, manifest``.
        batches : Mapping[str, list]
            ``source, batch_index, rows_read, rows_loaded, rows_quarantined,
            fields_quarantined, rows_duplicate, events_file, quarantine_file, committed_at``.
        labels : Mapping[str, list]
            ``entity_type, entity_key, label, source, author, reason, ts, recorded_at``.
        next_id : int
            The first id after the imported entities.

        Raises
        ------
        InvalidInput
            If the database already has a ledger (it was imported before, or written to).
        BackendUnavailable
            If Neo4j cannot be reached; nothing is then written.
        """

        def work(tx: Transaction) -> bool:
            present = tx.run(
                cypher.LEDGER_PRESENT.text, {"meta": cypher.META_NAME, "cap": 1}
            ).single(strict=True)
            if present["present"]:
                raise InvalidInput(f"database {self.database!r} already has an ingest ledger")
            for text, columns, key in (
                (cypher.IMPORT_SOURCES, sources, "source"),
                (cypher.IMPORT_BATCHES, batches, "source"),
            ):
                if columns[key]:
                    self._run_chunked(tx, text, columns)
            if labels["entity_key"]:
                self._run_chunked(
                    tx, cypher.IMPORT_LABELS, labels, {"first_seq": 0}, offset_param="first_seq"
                )
            tx.run(
                cypher.IMPORT_META,
                {
                    "meta": cypher.META_NAME,
                    "next_id": next_id,
                    "next_label_seq": len(labels["entity_key"]),
                },
            )
            return True

        self._in_write_transaction(work, "imported ledger")

    def _add_labels(self, checked: list[LabelEntry]) -> None:
        """Append checked labels in one write transaction (all or none).

        Raises
        ------
        BackendUnavailable
            If Neo4j cannot be reached.
        """
        columns: dict[str, list[Any]] = {
            "entity_type": [NODE_TYPE_CODE[e.node_type] for e in checked],
            "entity_key": [e.key for e in checked],
            "label": [e.label for e in checked],
            "source": [e.source for e in checked],
            "author": [e.author for e in checked],
            "reason": [e.reason for e in checked],
            "ts": [to_micros(e.ts) for e in checked if e.ts is not None],
        }

        def work(tx: Transaction) -> bool:
            meta = tx.run(cypher.LOCK_META, {"meta": cypher.META_NAME}).single(strict=True)
            seq = int(meta["next_label_seq"])
            tx.run(cypher.CREATE_LABELS, {**columns, "first_seq": seq})
            tx.run(
                cypher.UPDATE_META,
                {
                    "meta": cypher.META_NAME,
                    "next_id": meta["next_id"],
                    "next_label_seq": seq + len(checked),
                },
            )
            return True

        self._in_write_transaction(work, "add_labels")
