"""The Neo4j backend beyond the shared contract: parity, idempotence, failures, timeouts.

Most tests use the session's shared server (see ``conftest.py``); the crash test starts a
private one, since it SIGKILLs it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from graph_service import BackendUnavailable, GraphStore, NodeType, open_store
from graph_service.embedded.store import EmbeddedStore
from graph_service.errors import QueryTimeout
from graph_service.model import NODE_TYPE_CODE
from graph_service.neo4j import cypher, launcher
from graph_service.settings import Neo4jSettings, Settings
from graph_service.store import QUARANTINE_SCHEMA, BatchCommit
from ingestion.loader import Ingestor, IngestReport
from ingestion.readers import file_checksum
from ingestion.schema import EVENT_SCHEMA
from ingestion.synthetic import ScenarioConfig, generate_scenario
from tests.conftest import GOOD_EVENTS, write_rows
from tests.graph_service.conftest import PASSWORD, free_port, skip_without_java

REPO = Path(__file__).resolve().parents[2]

neo4j_only = pytest.mark.neo4j


# -- helpers -------------------------------------------------------------------------------


def ingest(store: GraphStore, tmp_path: Path, paths: list[Path], batch_size: int) -> IngestReport:
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "quarantine", batch_size=batch_size)
    try:
        return ingestor.run(paths)
    finally:
        ingestor.close()


def assert_same_graph(left: GraphStore, right: GraphStore) -> None:
    """Equal counts, node exports (ids included) and link exports (sums to rounding)."""
    assert left.counts() == right.counts()
    assert left.export_nodes().equals(right.export_nodes())
    a, b = left.export_links(), right.export_links()
    assert a.drop_columns(["amount_sum"]).equals(b.drop_columns(["amount_sum"]))
    np.testing.assert_allclose(
        a.column("amount_sum").to_numpy(), b.column("amount_sum").to_numpy(), rtol=1e-12
    )


def label_rows(store: GraphStore) -> list[dict[str, Any]]:
    rows = store.labels().drop_columns(["recorded_at"]).to_pylist()
    return sorted(rows, key=lambda r: (r["entity_type"], r["entity_key"], r["ts"], r["source"]))


def scenario(tmp_path: Path) -> list[Path]:
    """Part of a small synthetic scenario, an attribute file and a file with bad rows."""
    summary = generate_scenario(ScenarioConfig(accounts=1_000, seed=11), tmp_path / "scenario")
    events = tmp_path / "events.parquet"
    pq.write_table(pq.read_table(summary.events_path).slice(0, 6_000), events)
    devices = write_rows(
        tmp_path / "devices.csv",
        [
            {"entity_type": "Device", "entity_key": "D-new", "is_rooted": "true", "os": "ios"},
            {"entity_type": "Account", "entity_key": "A-only-attrs", "os": "x"},
            {"entity_type": "planet", "entity_key": "X"},
        ],
        ["entity_type", "entity_key", "is_rooted", "os"],
    )
    bad = [dict(GOOD_EVENTS[0], event_id="bad1", ts="yesterday")]
    mixed = write_rows(tmp_path / "mixed.csv", [*GOOD_EVENTS, *bad])
    return [events, summary.labels_path, devices, mixed]


def events_table(rows: list[dict[str, Any]], fingerprints: list[int]) -> pa.Table:
    table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
    return table.append_column("fingerprint", pa.array(fingerprints, pa.uint64()))


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# -- no server needed ----------------------------------------------------------------------


def test_identifiers_come_only_from_our_enums() -> None:
    """Labels and types spliced into Cypher must be enum members; reads must be capped."""
    with pytest.raises(TypeError):
        cypher.label_of("Account) DETACH DELETE (n")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cypher.rel_type_of("PAYS]->() DELETE r //")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="LIMIT"):
        cypher.ReadQuery("MATCH (n) RETURN n")
    assert all(
        "LIMIT $cap" in q.text for q in (cypher.META, cypher.SOURCE_PROGRESS, cypher.MANIFESTS)
    )


# -- shared server -------------------------------------------------------------------------


@neo4j_only
def test_open_store_from_settings_gives_a_neo4j_store(neo4j_store: Any, tmp_path: Path) -> None:
    """open_store(Settings(backend="neo4j")) connects with Settings.neo4j."""
    settings = Settings(
        backend="neo4j",
        store_dir=tmp_path / "via-settings",
        neo4j=Neo4jSettings(uri=neo4j_store.uri, password=PASSWORD),
    )
    with open_store(settings) as store:
        assert store.backend == "neo4j"
        assert sum(store.counts().nodes.values()) == 0


@neo4j_only
def test_same_input_gives_the_same_graph_on_both_backends(neo4j_store: Any, tmp_path: Path) -> None:
    """Events, labels, attributes and bad rows give identical stores (ids included)."""
    paths = scenario(tmp_path)
    embedded = EmbeddedStore(tmp_path / "embedded", memory_limit="1GB", threads=2)
    try:
        report_n = ingest(neo4j_store, tmp_path / "n", paths, batch_size=2_500)
        report_e = ingest(embedded, tmp_path / "e", paths, batch_size=2_500)
        counted = ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate", "batches")
        assert [[getattr(m, c) for c in counted] for m in report_n.files] == [
            [getattr(m, c) for c in counted] for m in report_e.files
        ]
        assert report_n.as_dict()["reconciled"]
        assert_same_graph(neo4j_store, embedded)
        assert label_rows(neo4j_store) == label_rows(embedded)
        assert neo4j_store.quarantine().equals(embedded.quarantine())
        source = report_n.files[0].source
        assert neo4j_store.source_progress(source) == embedded.source_progress(source)
        csr_n, csr_e = neo4j_store.to_csr(), embedded.to_csr()
        for name in ("indptr", "indices", "link_type", "n_events", "direction", "node_type"):
            assert np.array_equal(getattr(csr_n, name), getattr(csr_e, name)), name
        hub = int(np.argmax(csr_e.degree()))
        ids = [0, hub, 7, 10_000_000, 3]
        assert neo4j_store.get_entities(ids) == embedded.get_entities(ids)
        sub_n, sub_e = neo4j_store.subgraph(range(0, 400, 2)), embedded.subgraph(range(0, 400, 2))
        assert sub_n.nodes.equals(sub_e.nodes) and sub_n.links.equals(sub_e.links)
        attrs = neo4j_store.get_entity(NodeType.DEVICE, "D-new").attributes
        assert (attrs["is_rooted"], attrs["os"]) == (True, "ios")
    finally:
        embedded.close()


@neo4j_only
def test_ledger_nodes_from_before_field_quarantine_count_no_fields(
    neo4j_store: Any, tmp_path: Path
) -> None:
    """A ledger written before fields_quarantined existed still reports its progress, with
    no fields quarantined, and a resumed ingest adds the new batches' fields to it."""
    rows = [dict(GOOD_EVENTS[0], ip="bad"), GOOD_EVENTS[1], dict(GOOD_EVENTS[2], asn="x")]
    path = write_rows(tmp_path / "events.csv", rows)
    report = ingest(neo4j_store, tmp_path, [path], batch_size=1)
    source = report.files[0].source
    progress = neo4j_store.source_progress(source)
    assert progress is not None and progress.fields_quarantined == 2
    neo4j_store._write(
        "MATCH (b:_IngestBatch {source: $source}) WHERE b.batch_index = 0 "
        "REMOVE b.fields_quarantined",
        {"source": source},
    )
    older = neo4j_store.source_progress(source)
    assert older is not None
    assert (older.fields_quarantined, older.rows_read, len(older.batches_done)) == (1, 3, 3)


@neo4j_only
def test_reingesting_is_a_no_op(neo4j_store: Any, tmp_path: Path) -> None:
    """A second run over the same files skips them all and changes nothing."""
    path = write_rows(tmp_path / "events.csv", GOOD_EVENTS)
    first = ingest(neo4j_store, tmp_path, [path], batch_size=2)
    nodes, links = neo4j_store.export_nodes(), neo4j_store.export_links()
    second = ingest(neo4j_store, tmp_path, [path], batch_size=2)
    assert first.files[0].batches == 3 and second.files[0].skipped
    assert neo4j_store.export_nodes().equals(nodes)
    assert neo4j_store.export_links().equals(links)
    assert len(neo4j_store.manifests()) == 1


@neo4j_only
def test_account_keys_are_the_accounts_of_the_node_export(neo4j_store: Any, tmp_path: Path) -> None:
    """The accounts-only read that the transfer export maps keys with gives exactly the
    account rows of the full node export, in id order, over several pages."""
    ingest(neo4j_store, tmp_path, [write_rows(tmp_path / "events.csv", GOOD_EVENTS)], 2)
    neo4j_store.page_rows = 2
    nodes = neo4j_store.export_nodes()
    accounts = nodes.filter(pc.equal(nodes["type"], NODE_TYPE_CODE[NodeType.ACCOUNT]))
    keys = neo4j_store.account_keys()
    assert keys.num_rows >= 2
    assert keys.column("id").to_pylist() == accounts.column("id").to_pylist()
    assert keys.column("key").to_pylist() == accounts.column("key").to_pylist()


@neo4j_only
def test_edge_cases_match_the_embedded_store(neo4j_store: Any, tmp_path: Path) -> None:
    """Pre-1970 times, non-ASCII keys, uint64 fingerprints, out-of-order attribute times."""
    batch0 = [
        {"event_id": "e1", "ts": ts("1969-12-31T23:59:59.999999+00:00"), "event_type": "login",
         "account_id": "Zoë", "device_id": "Ω-1", "os": "android", "is_emulator": False},
        {"event_id": "e2", "ts": ts("2026-01-02T00:00:00+00:00"), "event_type": "login",
         "account_id": "zoe", "device_id": "Ω-1", "os": "ios", "ip": "10.0.0.1",
         "is_proxy": True, "asn": 64500},
        {"event_id": "e3", "ts": ts("2026-01-01T00:00:00+00:00"), "event_type": "transfer",
         "account_id": "Zoë", "device_id": "Ω-1", "is_rooted": True,
         "counterparty_account_id": "ÅSA", "amount": 5.5},
    ]  # fmt: skip
    batch1 = [
        {"event_id": "e4", "ts": ts("2025-06-01T00:00:00+00:00"), "event_type": "login",
         "account_id": "ÅSA", "device_id": "Ω-1", "os": "windows"},
        {"event_id": "e5", "ts": ts("2027-01-01T00:00:00+00:00"), "event_type": "payment",
         "account_id": "zoe", "ip": "10.0.0.1", "country": "GB", "merchant_id": "M",
         "amount": 1.25, "counterparty_account_id": "Zoë"},
    ]  # fmt: skip
    labels = pa.table(
        {
            "entity_type": ["Account", "Phone"],
            "entity_key": ["ÅSA", "+440000"],
            "label": ["fraud", "legit"],
            "source": ["s", "s"],
            "ts": pa.array([ts("2026-02-01T00:00:00+00:00")] * 2, pa.timestamp("us", tz="UTC")),
            "author": ["ana", None],
            "reason": [None, "ok"],
        }
    )
    commits = [
        BatchCommit(source="edge", path="edge", batch_index=0, rows_read=3, rows_duplicate=0,
                    quarantine=QUARANTINE_SCHEMA.empty_table(),
                    events=events_table(batch0, [2**64 - 1, 2**63, 0])),
        BatchCommit(source="edge", path="edge", batch_index=1, rows_read=2, rows_duplicate=0,
                    quarantine=QUARANTINE_SCHEMA.empty_table(),
                    events=events_table(batch1, [1, 12_345])),
        BatchCommit(source="edge", path="edge", batch_index=2, rows_read=2, rows_duplicate=0,
                    quarantine=QUARANTINE_SCHEMA.empty_table(), labels=labels),
    ]  # fmt: skip
    with EmbeddedStore(tmp_path / "embedded", memory_limit="1GB", threads=2) as embedded:
        for store in (neo4j_store, embedded):
            for commit in commits:
                store.commit_batch(commit)
        assert_same_graph(neo4j_store, embedded)
        assert label_rows(neo4j_store) == label_rows(embedded)
        probe = pa.array(["e1", "e2", "e3", "e4", "e5", "nope"])
        found_n = neo4j_store.event_fingerprints(probe).sort_by("event_id")
        assert found_n.equals(embedded.event_fingerprints(probe).sort_by("event_id"))
        assert found_n.column("fingerprint").to_pylist() == [2**64 - 1, 2**63, 0, 1, 12_345]
    device = neo4j_store.get_entity(NodeType.DEVICE, "Ω-1")
    assert device.attributes["first_ts"] == ts("1969-12-31T23:59:59.999999+00:00")
    assert device.attributes["os"] == "ios"  # the 2025 event is older than the 2026 one
    assert pq.read_table(neo4j_store.events_files()[0]).num_rows == 3


@neo4j_only
def test_scores_and_labels_round_trip(neo4j_store: Any) -> None:
    """Repeated ids keep both rows (as embedded); add_label appends with a null entity id."""
    neo4j_store.write_scores("risk", np.array([5, 5, 2]), np.array([0.5, 0.6, 0.2]), version="a")
    rows = neo4j_store.read_scores("risk").to_pylist()
    assert [(r["entity_id"], r["value"]) for r in sorted(rows, key=lambda r: r["value"])] == [
        (2, 0.2),
        (5, 0.5),
        (5, 0.6),
    ]
    assert neo4j_store.read_scores("missing").num_rows == 0
    neo4j_store.add_label(NodeType.EMAIL, "x@y.z", label="fraud", source="ui", author="ana",
                          reason=None)  # fmt: skip
    table = neo4j_store.labels().to_pylist()
    assert [(r["entity_id"], r["entity_type"], r["label"]) for r in table] == [
        (None, "Email", "fraud")
    ]


@neo4j_only
def test_unreachable_server_at_open_is_a_clear_one_line_error(tmp_path: Path) -> None:
    """Nothing listening on the port: BackendUnavailable naming the URI, on one line."""
    skip_without_java()
    from graph_service.neo4j.store import Neo4jStore

    uri = f"bolt://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailable, match=f"^cannot reach Neo4j at {uri}: ") as caught:
        Neo4jStore(uri=uri, password=PASSWORD, store_dir=tmp_path / "store")
    assert "\n" not in str(caught.value)
    assert "refused" in str(caught.value).lower()


@neo4j_only
def test_wrong_password_is_a_clear_auth_error(neo4j_server: Any, tmp_path: Path) -> None:
    """Bad credentials: BackendUnavailable that says so, not a driver traceback."""
    from graph_service.neo4j.store import Neo4jStore

    with pytest.raises(BackendUnavailable, match="rejected the credentials of user 'neo4j'"):
        Neo4jStore(uri=neo4j_server.uri, password="not-the-password", store_dir=tmp_path)


@neo4j_only
def test_slow_query_times_out(neo4j_store: Any) -> None:
    """A read that runs past its timeout is terminated and raises QueryTimeout (504)."""
    slow = cypher.ReadQuery(
        "UNWIND range(1, $n) AS x WITH x WHERE x % 7 = 0 RETURN count(x) AS c LIMIT $cap"
    )
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"timeout of 0\.2 s") as caught:
        neo4j_store._read(slow, {"n": 10**12}, cap=1, timeout_s=0.2)
    assert caught.value.http_status == 504
    assert time.monotonic() - started < 10


# -- private server: crash mid-ingest ------------------------------------------------------


N_EVENTS = 1_500


def _many_events(n: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"k{i}",
            "ts": f"2026-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "event_type": "payment" if i % 3 else "login",
            "account_id": f"A{i % 400}",
            "device_id": f"D{i % 250}",
            "ip": f"10.{i % 7}.{i % 250}.{i % 200 + 1}",
            "merchant_id": f"M{i % 40}",
            "amount": f"{i % 17}.5",
        }
        for i in range(n)
    ]


@neo4j_only
@pytest.mark.slow
def test_server_killed_mid_ingest_leaves_whole_batches_and_resumes(tmp_path: Path) -> None:
    """SIGKILL the Java process mid-ingest: committed batches are whole, the re-run finishes.

    The ingest runs through the CLI (``FRAUDGRAPH_BACKEND=neo4j``) in a child process; the
    server is restarted on the same data dir. Before the re-run, the graph must equal an
    embedded ingest of exactly the committed batches; after it, a clean full ingest.
    """
    skip_without_java()
    from graph_service.neo4j.store import Neo4jStore

    batch = 100
    source = write_rows(tmp_path / "big.parquet", _many_events(N_EVENTS))
    data_dir = tmp_path / "neo4j-private"
    server = launcher.start(port=free_port(), data_dir=data_dir, password=PASSWORD, heap="512m")
    try:
        store_dir = tmp_path / "store"
        env = dict(
            os.environ,
            FRAUDGRAPH_BACKEND="neo4j",
            FRAUDGRAPH_NEO4J_URI=server.uri,
            FRAUDGRAPH_NEO4J_PASSWORD=PASSWORD,
            FRAUDGRAPH_DUCKDB_THREADS="1",
        )
        cmd = [sys.executable, "-m", "fraudgraph.cli", "ingest", str(source), "--store",
               str(store_dir), "--batch-size", str(batch), "--json"]  # fmt: skip
        with subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        ) as proc:
            deadline = time.monotonic() + 120
            events_dir = store_dir / "events"
            while time.monotonic() < deadline:
                if events_dir.exists() and len(list(events_dir.glob("*.parquet"))) >= 4:
                    break
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.01)
            os.killpg(server.pid, signal.SIGKILL)
            killed_uri = server.uri
            # A SIGKILLed JVM takes a moment to exit and release the store's file locks.
            gone_by = time.monotonic() + 30
            while launcher.status(data_dir).running and time.monotonic() < gone_by:
                time.sleep(0.05)
            # Restart (on a new port) while the child retries and gives up on the old one.
            server = launcher.start(
                port=free_port(), data_dir=data_dir, password=PASSWORD, heap="512m"
            )
            _, stderr = proc.communicate(timeout=90)
        assert proc.returncode == 1
        assert f"error: cannot reach Neo4j at {killed_uri}" in stderr
        with Neo4jStore(uri=server.uri, password=PASSWORD, store_dir=store_dir) as recovered:
            progress = recovered.source_progress(file_checksum(source))
            assert progress is not None and not progress.complete
            done = len(progress.batches_done)
            assert 0 < done < N_EVENTS // batch
            assert progress.batches_done == frozenset(range(done))
            assert progress.rows_loaded == batch * done
            # Exactly the committed batches, nothing of the one in flight.
            prefix = write_rows(tmp_path / "prefix.parquet", _many_events(N_EVENTS)[: batch * done])
            with EmbeddedStore(tmp_path / "prefix-store", threads=2) as partial:
                ingest(partial, tmp_path / "p", [prefix], batch_size=batch)
                assert_same_graph(recovered, partial)
            keys = recovered.event_fingerprints(pa.array([f"k{i}" for i in range(N_EVENTS)]))
            assert keys.num_rows == batch * done

            report = ingest(recovered, tmp_path / "r", [source], batch_size=batch)
            assert report.files[0].batches_resumed == done
            assert report.as_dict()["rows_loaded"] == N_EVENTS and report.as_dict()["reconciled"]
            with EmbeddedStore(tmp_path / "clean", threads=2) as clean:
                ingest(clean, tmp_path / "c", [source], batch_size=batch)
                assert_same_graph(recovered, clean)
    finally:
        launcher.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
