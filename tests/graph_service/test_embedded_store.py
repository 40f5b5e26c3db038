"""Embedded-only storage behaviour: the destination-ordered copy of the links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import InvalidInput
from graph_service.settings import Settings
from graph_service.store import open_store
from ingestion.loader import Ingestor
from queries.limits import MAX_PAGE
from queries.neighbourhood import neighbourhood
from tests.conftest import GOOD_EVENTS, write_rows

_LINKS = "SELECT src, dst, type, n_events, amount_sum, first_ts, last_ts FROM {} ORDER BY ALL"


def _loaded(tmp_path: Path) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q")
    ingestor.run([write_rows(tmp_path / "events.csv", GOOD_EVENTS)])
    ingestor.close()
    store.compact()
    return store


def _rows(store: EmbeddedStore, table: str) -> list[tuple[Any, ...]]:
    return store.read_cursor().execute(_LINKS.format(table)).fetchall()


def test_links_in_holds_the_same_links_after_compaction(tmp_path: Path) -> None:
    """Every compaction leaves ``links_in`` equal to ``links``, ordered by destination."""
    store = _loaded(tmp_path)
    try:
        links = _rows(store, "links")
        assert links and _rows(store, "links_in") == links
        stored = store.read_cursor().execute("SELECT dst FROM links_in").fetchall()
        assert [d for (d,) in stored] == sorted(d for (d,) in stored)
    finally:
        store.close()


def test_a_store_whose_links_in_is_out_of_step_is_repaired_on_open(tmp_path: Path) -> None:
    """A store written before ``links_in`` existed (or emptied) gets it rebuilt on a write open."""
    store = _loaded(tmp_path)
    links = _rows(store, "links")
    store.read_cursor().execute("DELETE FROM links_in")
    store.close()
    reopened = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    try:
        assert _rows(reopened, "links_in") == links
        # Inbound neighbours come from links_in: an identifier sees its accounts.
        device = next(r for r in links if r[2] != 0)[1]
        entity = reopened.get_entities([int(device)])[0]
        page = neighbourhood(reopened, entity.type, entity.key, limit=MAX_PAGE)
        inbound = {n.neighbour.id for n in page.neighbours if n.direction == "in"}
        assert inbound == {r[0] for r in links if r[1] == device}
    finally:
        reopened.close()


def test_a_read_only_open_of_an_out_of_step_store_says_how_to_upgrade_it(tmp_path: Path) -> None:
    """A read-only open (the API's) cannot rebuild the lookup tables: a clear error, not a 500."""
    store = _loaded(tmp_path)
    store.read_cursor().execute("DELETE FROM entity_keys")
    store.close()
    with pytest.raises(InvalidInput, match=r"entity_keys.*open it for writing once"):
        EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2, read_only=True)
    # The refused open released the file: a writer can open it and repair it.
    repaired = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    repaired.close()
    reader = EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2, read_only=True)
    try:
        entity = reader.get_entities([0])[0]
        assert reader.get_entity(entity.type, entity.key).id == 0
    finally:
        reader.close()


_OLD_LEDGER = """
CREATE TABLE ingest_sources (
    source VARCHAR NOT NULL, path VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    batch_size BIGINT NOT NULL, started_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ, manifest VARCHAR);
CREATE TABLE ingest_batches (
    source VARCHAR NOT NULL, batch_index BIGINT NOT NULL, rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL,
    rows_duplicate BIGINT NOT NULL, events_file VARCHAR, committed_at TIMESTAMPTZ NOT NULL);
CREATE TABLE quarantine (
    source VARCHAR NOT NULL, path VARCHAR NOT NULL, row_number BIGINT NOT NULL,
    reason VARCHAR NOT NULL, detail VARCHAR, raw VARCHAR);
INSERT INTO ingest_sources VALUES ('s', 'old.csv', 'events', 10, now(), NULL, NULL);
INSERT INTO ingest_batches VALUES ('s', 0, 2, 1, 1, 0, NULL, now());
INSERT INTO quarantine VALUES ('s', 'old.csv', 2, 'invalid_ip', 'ip=''x''', '{}');
"""


def test_a_store_from_before_field_quarantine_opens_and_reads(tmp_path: Path) -> None:
    """A store whose quarantine and ledger predate field-level quarantine opens read-only
    as it is and, on a write open, gains the new columns: its rows read as row-level."""
    import duckdb

    (tmp_path / "store").mkdir()
    con = duckdb.connect(str(tmp_path / "store" / "graph.duckdb"))
    con.execute(_OLD_LEDGER)
    con.close()
    for read_only in (True, False, True):
        with EmbeddedStore(tmp_path / "store", read_only=read_only) as store:
            rows = store.quarantine().to_pylist()
            assert [(r["reason"], r["level"], r["field"]) for r in rows] == [
                ("invalid_ip", "row", None)
            ]
            progress = store.source_progress("s")
            assert progress is not None
            assert (progress.rows_quarantined, progress.fields_quarantined) == (1, 0)


def test_duckdb_never_draws_a_progress_bar_on_stdout(embedded_store: EmbeddedStore) -> None:
    """A long query would otherwise draw DuckDB's progress bar on stdout, which belongs to
    the caller (``--json`` prints exactly one JSON object there)."""
    setting = embedded_store._con.sql("SELECT current_setting('enable_progress_bar')").fetchone()
    assert setting == (False,)


def test_open_store_read_only_lets_readers_share_the_file_and_refuses_writes(
    tmp_path: Path,
) -> None:
    """open_store(read_only=True): two readers hold the store at once and see the same
    graph; a write through either is refused by the engine."""
    _loaded(tmp_path).close()
    settings = Settings(store_dir=tmp_path / "store", duckdb_memory_limit="1GB", duckdb_threads=2)
    with (
        open_store(settings, read_only=True) as first,
        open_store(settings, read_only=True) as second,
    ):
        assert first.counts() == second.counts()
        assert sum(first.counts().nodes.values()) > 0
        with pytest.raises(Exception, match=r"(?i)read.only"):
            first.write_scores("probe", np.array([0]), np.array([1.0]), version="v1")
