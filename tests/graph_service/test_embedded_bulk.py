"""The embedded store's set-based graph build of bulk batches: when it runs, and that a
failure part-way leaves the store as it was."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from graph_service.embedded.store import EmbeddedStore
from graph_service.model import NodeType
from graph_service.store import QUARANTINE_SCHEMA, BatchCommit
from ingestion.loader import Ingestor, LoadMode
from tests.conftest import GOOD_EVENTS, write_rows


def _incremental_load(
    store: EmbeddedStore, tmp_path: Path, name: str, rows: list[dict[str, str]]
) -> None:
    ingestor = Ingestor(
        store, quarantine_dir=tmp_path / "quarantine", batch_size=2, mode=LoadMode.INCREMENTAL
    )
    try:
        ingestor.run([write_rows(tmp_path / name, rows)])
    finally:
        ingestor.close()


def _deferred_copy(source: EmbeddedStore, target: EmbeddedStore) -> int:
    """Commit ``source``'s event batches (normalised, fingerprinted) to ``target`` as bulk
    batches, graph deferred; return how many."""
    files = source.events_files()
    for index, path in enumerate(files):
        events = pq.read_table(path)
        target.commit_batch(
            BatchCommit(
                source="copy",
                path="copy",
                batch_index=index,
                rows_read=events.num_rows,
                rows_duplicate=0,
                quarantine=QUARANTINE_SCHEMA.empty_table(),
                events=events,
                defer_graph=True,
            )
        )
    return len(files)


def _graph_tables(store: EmbeddedStore) -> tuple[object, ...]:
    con = store._con
    return tuple(
        con.execute(f"SELECT count(*) FROM {table}").fetchone()
        for table in ("entities", "entity_keys", "link_deltas", "entity_deltas", "links")
    )


def test_a_failed_build_rolls_back_whole_and_the_next_one_completes(tmp_path: Path) -> None:
    """An events file unreadable during the build (deleted by an operator, a full disk) fails
    the build without a partial graph: no entity, id or delta written, every batch still
    pending; once the file is back the next compaction builds the graph of a clean load."""
    with (
        EmbeddedStore(tmp_path / "clean", threads=1) as clean,
        EmbeddedStore(tmp_path / "store", threads=1) as store,
    ):
        _incremental_load(clean, tmp_path, "events.csv", GOOD_EVENTS)
        expected_nodes = clean.export_nodes()
        expected_links = clean.export_links()
        pending = _deferred_copy(clean, store)
        assert pending == store.pending_graph_batches() == 3
        before = _graph_tables(store)
        victim = store.events_files()[-1]
        moved = victim.rename(victim.with_suffix(".away"))
        with pytest.raises(duckdb.IOException):
            store.compact()
        assert _graph_tables(store) == before
        assert store.pending_graph_batches() == pending
        moved.rename(victim)
        assert store.export_nodes().equals(expected_nodes)
        assert store.export_links().equals(expected_links)
        assert store.pending_graph_batches() == 0


def test_an_incremental_batch_builds_pending_bulk_batches_first(tmp_path: Path) -> None:
    """Entities are numbered in commit order: a later incremental batch (events or entity
    attributes) first builds the graph of the bulk batches before it, so the ids equal those
    of an all-incremental load."""
    later = [dict(GOOD_EVENTS[0], event_id="late", account_id="A0", device_id="D0")]
    with (
        EmbeddedStore(tmp_path / "first", threads=1) as first,
        EmbeddedStore(tmp_path / "mixed", threads=1) as mixed,
    ):
        _incremental_load(first, tmp_path, "first.csv", GOOD_EVENTS)
        _deferred_copy(first, mixed)
        assert mixed.pending_graph_batches() == 3
        ingestor = Ingestor(
            mixed, quarantine_dir=tmp_path / "q", batch_size=2, mode=LoadMode.INCREMENTAL
        )
        try:
            ingestor.run([write_rows(tmp_path / "later.csv", later)])
        finally:
            ingestor.close()
        assert mixed.pending_graph_batches() == 0
        mixed_nodes = mixed.export_nodes()
    with EmbeddedStore(tmp_path / "inc", threads=1) as inc:
        for name, rows in (("first.csv", GOOD_EVENTS), ("later.csv", later)):
            ingestor = Ingestor(
                inc, quarantine_dir=tmp_path / "q", batch_size=2, mode=LoadMode.INCREMENTAL
            )
            try:
                ingestor.run([write_rows(tmp_path / name, rows)])
            finally:
                ingestor.close()
        assert mixed_nodes.equals(inc.export_nodes())
        first_account = inc.get_entity(NodeType.ACCOUNT, "A0")
        assert first_account.id > inc.get_entity(NodeType.ACCOUNT, "A1").id


def test_a_read_only_open_leaves_pending_batches_alone(tmp_path: Path) -> None:
    """A reader cannot build the graph (no write lock): it sees the store as last built and
    the batches stay pending for the next writer."""
    with (
        EmbeddedStore(tmp_path / "source", threads=1) as source,
        EmbeddedStore(tmp_path / "store", threads=1) as store,
    ):
        _incremental_load(source, tmp_path, "events.csv", GOOD_EVENTS)
        _deferred_copy(source, store)
        store._con.close()  # as a killed process would: no compaction at close
        store.read_only = True
    with EmbeddedStore(tmp_path / "store", read_only=True) as reader:
        assert reader.pending_graph_batches() == 3
        assert sum(reader.counts().nodes.values()) == 0
    with EmbeddedStore(tmp_path / "store", threads=1) as writer:
        assert writer.counts().nodes[NodeType.ACCOUNT] == 3
        assert writer.pending_graph_batches() == 0
