"""Bulk import (``graph_service.neo4j.bulk_import``): the imported database equals a
transactional ingest of the same events, and failures leave the server as it was.

One private server (its own data dir: an import needs the server stopped) is started once
for the module, and the embedded store is imported into it once; the transactional
reference is ingested into the session's shared server.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import BackendUnavailable, InvalidInput
from graph_service.model import NodeType
from graph_service.neo4j import launcher
from graph_service.neo4j.bulk_import import (
    BulkImportReport,
    ImportFiles,
    admin_import,
    bulk_import,
    open_embedded_source,
)
from tests.graph_service.conftest import PASSWORD, free_port, open_neo4j_store, skip_without_java
from tests.graph_service.test_neo4j_store import assert_same_graph, ingest, label_rows, scenario

pytestmark = pytest.mark.neo4j

DATABASE = "bulk-one"


@dataclass
class Imported:
    """The module's private server after one bulk import, and its inputs."""

    data_dir: Path
    port: int
    work: Path
    embedded_dir: Path
    target_store: Path
    paths: list[Path]
    report: BulkImportReport


@pytest.fixture(scope="module")
def imported() -> Iterator[Imported]:
    """A private server whose default database was bulk-imported from an embedded store."""
    skip_without_java()
    work = Path(tempfile.mkdtemp(prefix="fraudgraph-bulk-test-"))
    data_dir = work / "server"
    port = free_port()
    try:
        paths = scenario(work)
        embedded = EmbeddedStore(work / "embedded", memory_limit="1GB", threads=2)
        try:
            ingest(embedded, work / "e", paths, batch_size=2_500)
        finally:
            embedded.close()
        # The server runs before the import, as it would in use: the import stops it.
        launcher.start(port=port, data_dir=data_dir, password=PASSWORD, heap="1g")
        report = bulk_import(
            source_store=work / "embedded",
            data_dir=data_dir,
            database=DATABASE,
            target_store=work / "neo4j-store",
            port=port,
            password=PASSWORD,
            threads=2,
        )
        yield Imported(
            data_dir=data_dir,
            port=port,
            work=work,
            embedded_dir=work / "embedded",
            target_store=work / "neo4j-store",
            paths=paths,
            report=report,
        )
    finally:
        launcher.stop(data_dir)
        shutil.rmtree(work, ignore_errors=True)


def open_imported(imported: Imported) -> Any:
    from graph_service.neo4j.store import Neo4jStore

    return Neo4jStore(
        uri=f"bolt://127.0.0.1:{imported.port}",
        password=PASSWORD,
        database=DATABASE,
        store_dir=imported.target_store,
    )


def test_imported_database_equals_a_transactional_ingest(
    imported: Imported, tmp_path: Path
) -> None:
    """Counts, node ids/keys/labels/properties, link aggregates, labels, quarantine and the
    ledger of the imported database equal those of the driver path on the same files."""
    reference = open_neo4j_store(tmp_path / "reference")
    store = open_imported(imported)
    try:
        report = ingest(reference, tmp_path / "n", imported.paths, batch_size=2_500)
        assert report.as_dict()["reconciled"]
        assert_same_graph(store, reference)
        # The parity assert above allows rounding; the CSV round trip must be exact.
        assert store.export_links().equals(reference.export_links())
        assert label_rows(store) == label_rows(reference)
        assert store.quarantine().equals(reference.quarantine())
        for manifest in report.files:
            assert store.source_progress(manifest.source) == reference.source_progress(
                manifest.source
            )
        assert len(store.manifests()) == len(reference.manifests())
        assert imported.report.events == sum(m.rows_loaded for m in report.files)
        nodes = sum(store.counts().nodes.values())
        assert (imported.report.nodes, imported.report.links) == (
            nodes,
            store.export_links().num_rows,
        )
        csr_a, csr_b = store.to_csr(), reference.to_csr()
        for name in ("indptr", "indices", "link_type", "n_events", "node_type"):
            assert (getattr(csr_a, name) == getattr(csr_b, name)).all(), name
    finally:
        store.close()
        reference.close()


def test_imported_database_is_the_servers_default_after_a_restart(imported: Imported) -> None:
    """The switch survives a plain stop and start: the server keeps serving the import."""
    from neo4j import GraphDatabase

    launcher.stop(imported.data_dir)
    server = launcher.start(port=imported.port, data_dir=imported.data_dir, password=PASSWORD)
    with GraphDatabase.driver(server.uri, auth=("neo4j", PASSWORD)) as driver:
        records, _, _ = driver.execute_query(
            "SHOW DEFAULT DATABASE YIELD name RETURN name", database_="system"
        )
    assert records[0]["name"] == DATABASE
    assert launcher.default_database(imported.data_dir) == DATABASE


def test_constraints_of_the_transactional_path_exist_after_import(imported: Imported) -> None:
    """The uniqueness constraints the driver path relies on are there, and they hold."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import ConstraintError

    with GraphDatabase.driver(
        f"bolt://127.0.0.1:{imported.port}", auth=("neo4j", PASSWORD)
    ) as driver:
        records, _, _ = driver.execute_query(
            "SHOW CONSTRAINTS YIELD name RETURN collect(name) AS names", database_=DATABASE
        )
        names = set(records[0]["names"])
        assert {"entity_id", "entity_key_Account", "ingest_batch", "label_seq"} <= names
        with pytest.raises(ConstraintError):
            driver.execute_query(
                "CREATE (:Entity:Account {id: 0, key: 'duplicate-id'})", database_=DATABASE
            )


def test_reingesting_into_the_imported_database_is_a_no_op(
    imported: Imported, tmp_path: Path
) -> None:
    """The imported ledger makes the same files skip; a new file continues the ids."""
    from tests.conftest import GOOD_EVENTS, write_rows

    store = open_imported(imported)
    try:
        nodes, links = store.export_nodes(), store.export_links()
        again = ingest(store, tmp_path, imported.paths, batch_size=2_500)
        assert all(m.skipped for m in again.files)
        assert store.export_nodes().equals(nodes) and store.export_links().equals(links)
        fresh = [dict(GOOD_EVENTS[0], event_id="after-import-1", account_id="A-after-import")]
        ingest(store, tmp_path / "new", [write_rows(tmp_path / "new.csv", fresh)], batch_size=10)
        # Ids are dense; new entities are numbered after the imported ones, accounts first.
        assert store.get_entity(NodeType.ACCOUNT, "A-after-import").id == imported.report.nodes
    finally:
        store.close()


def test_a_second_ledger_is_refused_and_changes_nothing(imported: Imported) -> None:
    """The ledger is written once: a repeat (say, a re-run after a crash) is refused in its
    transaction, leaving the ledger and counters as they were."""
    store = open_imported(imported)
    try:
        manifests = store.manifests()
        with pytest.raises(InvalidInput, match="already has an ingest ledger"):
            store.write_imported_ledger(
                sources={"source": ["x"]},
                batches={"source": []},
                labels={"entity_key": []},
                next_id=0,
            )
        assert store.manifests() == manifests
        assert store._meta()[0] >= imported.report.nodes
    finally:
        store.close()


def test_import_into_an_existing_database_is_refused_and_the_server_keeps_serving(
    imported: Imported,
) -> None:
    """Without overwrite an existing name is refused before anything stops."""
    with pytest.raises(InvalidInput, match="already exists"):
        bulk_import(
            source_store=imported.embedded_dir,
            data_dir=imported.data_dir,
            database=DATABASE,
            target_store=imported.target_store,
            port=imported.port,
            password=PASSWORD,
        )
    assert launcher.status(imported.data_dir).accepting
    assert launcher.default_database(imported.data_dir) == DATABASE


def test_admin_import_refuses_while_a_server_runs_and_fails_on_a_dangling_link(
    imported: Imported,
) -> None:
    """neo4j-admin never runs beside a live server; a link to a missing node (bad input
    for it) fails the import, and the half-written database is removed."""
    bad = imported.work / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "nodes.csv").write_text("id:ID,key:string,:LABEL\n0,a,Entity;Account\n")
    (bad / "links.csv").write_text(":START_ID,:END_ID,:TYPE\n0,99,USES_DEVICE\n")
    files = ImportFiles(
        directory=bad,
        nodes=bad / "nodes.csv",
        links=bad / "links.csv",
        n_nodes=1,
        n_links=1,
        multiline=False,
    )
    with pytest.raises(BackendUnavailable, match="a server runs in"):
        admin_import(data_dir=imported.data_dir, database="bulk-bad", files=files)
    launcher.stop(imported.data_dir)
    try:
        with pytest.raises(BackendUnavailable, match="failed"):
            admin_import(data_dir=imported.data_dir, database="bulk-bad", files=files, threads=2)
        assert not (imported.data_dir / "data" / "databases" / "bulk-bad").exists()
    finally:
        launcher.start(port=imported.port, data_dir=imported.data_dir, password=PASSWORD)


def test_failed_import_restarts_the_server_on_its_previous_database(imported: Imported) -> None:
    """When neo4j-admin dies (here: a JVM heap too small to start), the server comes back
    on the database it served before, with its data, and the default is unchanged."""
    store = open_imported(imported)
    try:
        before = store.counts()
    finally:
        store.close()
    with pytest.raises(BackendUnavailable, match="failed"):
        bulk_import(
            source_store=imported.embedded_dir,
            data_dir=imported.data_dir,
            database="bulk-two",
            target_store=imported.work / "other-store",
            port=imported.port,
            password=PASSWORD,
            admin_heap="1m",
        )
    assert launcher.status(imported.data_dir).accepting
    assert launcher.default_database(imported.data_dir) == DATABASE
    assert not (imported.data_dir / "data" / "databases" / "bulk-two").exists()
    store = open_imported(imported)
    try:
        assert store.counts() == before
    finally:
        store.close()


def test_an_uncompacted_or_missing_embedded_store_is_refused(tmp_path: Path) -> None:
    """Deltas not yet folded in (an interrupted ingest) would be lost: refused."""
    with pytest.raises(InvalidInput, match="no embedded store"):
        open_embedded_source(tmp_path)
    store = EmbeddedStore(tmp_path / "e", memory_limit="512MB", threads=1)
    store.close()
    con = duckdb.connect(str(tmp_path / "e" / "graph.duckdb"))
    con.execute(
        "INSERT INTO link_deltas VALUES (0, 1, 0, 1, 1.0, TIMESTAMPTZ '2024-01-01', "
        "TIMESTAMPTZ '2024-01-01')"
    )
    con.close()
    with pytest.raises(InvalidInput, match="not yet compacted"):
        open_embedded_source(tmp_path / "e")


def test_bad_database_names_are_refused(tmp_path: Path) -> None:
    """Names Neo4j would reject fail early, before the server is touched."""
    for name in ("system", "Upper", "ab", "a_b", "1abc"):
        with pytest.raises(InvalidInput):
            bulk_import(
                source_store=tmp_path,
                data_dir=tmp_path / "server",
                database=name,
                target_store=tmp_path / "store",
            )
