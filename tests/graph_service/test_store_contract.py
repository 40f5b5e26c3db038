"""The GraphStore contract: one suite, run against every backend available."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import numpy as np
import pyarrow as pa
import pytest

from graph_service import EntityNotFound, GraphStore, InvalidInput, NodeType
from graph_service.algorithms import ACCOUNT_IDENTIFIER_GRAPH
from graph_service.embedded.store import EmbeddedStore
from graph_service.labels import LabelEntry
from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType
from graph_service.store import (
    LINK_EXPORT_SCHEMA,
    NODE_EXPORT_SCHEMA,
    QUARANTINE_SCHEMA,
    AnalyticsStore,
    BatchCommit,
    GraphReader,
    IngestSink,
    LabelBook,
)
from graph_service.transfers import TRANSFER_EXPORT_SCHEMA
from ingestion.loader import Ingestor
from tests.conftest import GOOD_EVENTS, write_rows

BACKENDS = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]


def _open(backend: str, tmp_path: Path) -> GraphStore:
    if backend == "embedded":
        return EmbeddedStore(tmp_path / "store", memory_limit="1GB", threads=2)
    if backend == "neo4j":
        from tests.graph_service.conftest import open_neo4j_store

        store: GraphStore = open_neo4j_store(tmp_path / "store")
        return store
    raise AssertionError(backend)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each backend."""
    graph = _open(request.param, tmp_path)
    yield graph
    graph.close()


@pytest.fixture
def loaded(store: GraphStore, tmp_path: Path) -> GraphStore:
    """The store with the known six-event log loaded."""
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q")
    ingestor.run([write_rows(tmp_path / "events.csv", GOOD_EVENTS)])
    ingestor.close()
    return store


def test_every_backend_plays_every_role(store: GraphStore) -> None:
    """A backend can be handed to any caller that asks for one role only."""
    for role in (IngestSink, GraphReader, LabelBook, AnalyticsStore, GraphStore):
        assert isinstance(store, role), role.__name__


def test_empty_store_counts_every_type_as_zero(store: GraphStore) -> None:
    """counts() lists every node and link type, with zeros on an empty store."""
    counts = store.counts()
    assert set(counts.nodes) == set(NodeType) and set(counts.nodes.values()) == {0}
    assert set(counts.links) == set(LinkType) and set(counts.links.values()) == {0}


def test_get_entity_by_type_and_key(loaded: GraphStore) -> None:
    """get_entity finds by (type, normalised key) and raises EntityNotFound otherwise."""
    account = loaded.get_entity(NodeType.ACCOUNT, "A1")
    assert (account.type, account.key) == (NodeType.ACCOUNT, "A1")
    with pytest.raises(EntityNotFound, match="no Account with key 'nobody'"):
        loaded.get_entity(NodeType.ACCOUNT, "nobody")
    with pytest.raises(EntityNotFound):
        loaded.get_entity(NodeType.DEVICE, "A1")  # right key, wrong type


def test_get_entities_keeps_order_and_skips_unknown(loaded: GraphStore) -> None:
    """get_entities returns entities in the order asked, skipping unknown ids."""
    a1 = loaded.get_entity(NodeType.ACCOUNT, "A1").id
    d1 = loaded.get_entity(NodeType.DEVICE, "D1").id
    assert [e.id for e in loaded.get_entities([d1, 10_000, a1])] == [d1, a1]
    assert loaded.get_entities([]) == []


def test_subgraph_keeps_only_links_among_the_ids(loaded: GraphStore) -> None:
    """subgraph returns the asked nodes and exactly the links with both ends among them."""
    ids = [loaded.get_entity(NodeType.ACCOUNT, k).id for k in ("A1", "A2")]
    ids.append(loaded.get_entity(NodeType.DEVICE, "D1").id)
    sub = loaded.subgraph(ids)
    assert sorted(sub.nodes.column("id").to_pylist()) == sorted(ids)
    assert sub.links.num_rows == 2  # A1-D1 and A2-D1; the A2->A3 transfer leaves the set
    assert sub.links.schema == LINK_EXPORT_SCHEMA


def test_exports_have_dense_ids_and_fixed_schemas(loaded: GraphStore) -> None:
    """export_nodes has ids 0..n-1 in order; both exports use the documented schemas."""
    nodes = loaded.export_nodes()
    assert nodes.schema == NODE_EXPORT_SCHEMA
    assert nodes.column("id").to_pylist() == list(range(nodes.num_rows))
    links = loaded.export_links()
    assert links.schema == LINK_EXPORT_SCHEMA
    assert links.num_rows == sum(loaded.counts().links.values())
    only_pays = loaded.export_links([LinkType.PAYS])
    assert set(only_pays.column("type").to_pylist()) == {LINK_TYPE_CODE[LinkType.PAYS]}


def test_transfers_export_every_transfer_of_the_links(loaded: GraphStore, tmp_path: Path) -> None:
    """export_transfers gives one row per transfer event, with the graph's account ids,
    oldest first: per (payer, payee) as many rows and as much money as the TRANSFERS_TO
    link aggregates. A second file's transfers are added, not lost."""
    Ingestor(loaded, quarantine_dir=tmp_path / "q").run(
        [
            write_rows(
                tmp_path / "more.csv",
                [
                    {
                        "event_id": "t2",
                        "ts": "2024-02-01T00:00:00Z",
                        "event_type": "transfer",
                        "account_id": "A2",
                        "counterparty_account_id": "A3",
                        "amount": "40",
                    }
                ],
            )
        ]
    )
    transfers = loaded.export_transfers()
    assert transfers.schema == TRANSFER_EXPORT_SCHEMA
    ts = transfers.column("ts").to_pylist()
    assert ts == sorted(ts)
    links = loaded.export_links([LinkType.TRANSFERS_TO]).to_pylist()
    assert links
    for link in links:
        rows = [
            r for r in transfers.to_pylist() if (r["src"], r["dst"]) == (link["src"], link["dst"])
        ]
        assert len(rows) == link["n_events"]
        assert sum(r["amount"] for r in rows) == pytest.approx(link["amount_sum"])
        assert min(r["ts"] for r in rows) == link["first_ts"]
    assert transfers.num_rows == sum(link["n_events"] for link in links)


def test_csr_matches_networkx(loaded: GraphStore) -> None:
    """The CSR adjacency has the same neighbours and degrees as a networkx multigraph."""
    csr = loaded.to_csr()
    links = loaded.export_links().to_pylist()
    oracle = nx.MultiGraph()
    oracle.add_nodes_from(range(csr.n_nodes))
    oracle.add_edges_from((r["src"], r["dst"]) for r in links)
    assert csr.n_links == len(links)
    assert csr.degree().tolist() == [oracle.degree(n) for n in range(csr.n_nodes)]
    for node in range(csr.n_nodes):
        assert sorted(csr.neighbours(node).tolist()) == sorted(oracle.neighbors(node))
    types = loaded.export_nodes().column("type").to_pylist()
    assert csr.node_type.tolist() == types
    assert csr.to_scipy().shape == (csr.n_nodes, csr.n_nodes)


def test_scores_are_replaced_per_entity(loaded: GraphStore) -> None:
    """write_scores replaces earlier values of the same score for those ids only."""
    loaded.write_scores("risk", np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]), version="v1")
    loaded.write_scores("risk", np.array([1]), np.array([0.9]), version="v2")
    loaded.write_scores("other", np.array([1]), np.array([5.0]), version="v1")
    rows = loaded.read_scores("risk").to_pylist()
    assert [(r["entity_id"], r["value"], r["version"]) for r in rows] == [
        (0, 0.1, "v1"),
        (1, 0.9, "v2"),
        (2, 0.3, "v1"),
    ]
    assert loaded.read_scores("risk", ids=[2]).column("value").to_pylist() == [0.3]
    with pytest.raises(InvalidInput):
        loaded.write_scores("risk", np.array([1, 2]), np.array([0.5]), version="v3")


def test_add_label_appends_with_author_reason_and_times(loaded: GraphStore) -> None:
    """add_label appends a row (entity id resolved when the entity exists); nothing is replaced."""
    before = loaded.labels().num_rows
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    loaded.add_label(
        NodeType.ACCOUNT, "A1", label="fraud", source="api", author="ana", reason="mule", ts=when
    )
    loaded.add_label(NodeType.ACCOUNT, "A1", label="legit", source="api", author="bo", reason="ok")
    loaded.add_label(
        NodeType.DEVICE, "no-such", label="fraud", source="api", author=None, reason=None
    )
    rows = loaded.labels().to_pylist()
    assert len(rows) == before + 3
    added = rows[before:]
    a1 = loaded.get_entity(NodeType.ACCOUNT, "A1").id
    assert [
        (r["entity_id"], r["entity_type"], r["label"], r["author"], r["reason"]) for r in added
    ] == [
        (a1, "Account", "fraud", "ana", "mule"),
        (a1, "Account", "legit", "bo", "ok"),
        (None, "Device", "fraud", None, None),
    ]
    assert added[0]["ts"] == when
    assert all(r["recorded_at"] is not None and r["source"] == "api" for r in added)


def test_add_labels_appends_a_batch_in_order(loaded: GraphStore) -> None:
    """add_labels writes every entry, in the order given; an entry without ts gets the
    time of the write; an empty batch writes nothing."""
    before = loaded.labels().num_rows
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    loaded.add_labels([])
    loaded.add_labels(
        [
            LabelEntry(NodeType.ACCOUNT, "A1", "fraud", "api:ring:R1", "ana", "ring", when),
            LabelEntry(NodeType.ACCOUNT, "A2", "fraud", "api:ring:R1", "ana", "ring", when),
            LabelEntry(NodeType.DEVICE, "no-such", "legit", "api", None, None),
        ]
    )
    added = loaded.labels().to_pylist()[before:]
    assert [(r["entity_type"], r["label"], r["source"], r["author"]) for r in added] == [
        ("Account", "fraud", "api:ring:R1", "ana"),
        ("Account", "fraud", "api:ring:R1", "ana"),
        ("Device", "legit", "api", None),
    ]
    a1, a2 = (loaded.get_entity(NodeType.ACCOUNT, k).id for k in ("A1", "A2"))
    assert [r["entity_id"] for r in added] == [a1, a2, None]
    assert added[0]["ts"] == added[1]["ts"] == when
    assert added[2]["ts"] is not None and added[2]["ts"] > when


@pytest.mark.parametrize(
    "bad",
    [
        LabelEntry(NodeType.ACCOUNT, "A2", "maybe", "api"),
        LabelEntry(NodeType.ACCOUNT, "  ", "fraud", "api"),
        LabelEntry(NodeType.ACCOUNT, "A2", "fraud", ""),
        LabelEntry(NodeType.ACCOUNT, "A2", "fraud", "api", ts=datetime(2026, 3, 1)),
    ],
    ids=["unknown-verdict", "blank-key", "blank-source", "naive-ts"],
)
def test_add_labels_with_one_bad_entry_writes_none_of_them(
    loaded: GraphStore, bad: LabelEntry
) -> None:
    """A batch is all or nothing: one bad entry, after a good one, leaves the labels as they were."""
    before = loaded.labels().num_rows
    good = LabelEntry(NodeType.ACCOUNT, "A1", "fraud", "api")
    with pytest.raises(InvalidInput, match="label 1: "):
        loaded.add_labels([good, bad])
    assert loaded.labels().num_rows == before


def test_commit_of_a_batch_already_in_the_ledger_is_a_no_op(loaded: GraphStore) -> None:
    """Re-delivering a committed batch (same source and index) changes nothing."""
    source = loaded.manifests()[0]["source"]
    before = loaded.counts()
    loaded.commit_batch(
        BatchCommit(
            source=source,
            path="x",
            batch_index=0,
            rows_read=1,
            rows_duplicate=0,
            quarantine=QUARANTINE_SCHEMA.empty_table(),
            labels=pa.table(
                {
                    "entity_type": ["Account"],
                    "entity_key": ["A1"],
                    "label": ["fraud"],
                    "source": ["s"],
                    "ts": pa.array([None], pa.timestamp("us", tz="UTC")),
                    "author": [None],
                    "reason": [None],
                }
            ),
        )
    )
    assert loaded.counts() == before
    assert loaded.labels().num_rows == 0


def test_node_type_codes_are_stable() -> None:
    """Stored type codes never change meaning (they are persisted in stores)."""
    assert [NODE_TYPE_CODE[t] for t in NodeType] == list(range(8))
    assert NodeType.parse("ip") is NodeType.IP and NodeType.parse("ACCOUNT") is NodeType.ACCOUNT
    with pytest.raises(ValueError, match="unknown node type"):
        NodeType.parse("planet")
    assert LinkType.parse("pays") is LinkType.PAYS


def test_second_writer_process_gets_a_clear_lock_error(tmp_path: Path) -> None:
    """Opening an embedded store another process holds raises StoreLocked, not a crash."""
    with EmbeddedStore(tmp_path / "store"):
        code = (
            "from pathlib import Path\n"
            "from graph_service.embedded.store import EmbeddedStore\n"
            "from graph_service.errors import StoreLocked\n"
            f"try:\n    EmbeddedStore(Path({str(tmp_path / 'store')!r}))\n"
            "except StoreLocked as exc:\n    print('LOCKED', exc)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.startswith("LOCKED store"), result.stderr


def test_latest_attribute_value_wins_whatever_the_file_order(
    store: GraphStore, tmp_path: Path
) -> None:
    """A device flag from an older event, ingested later, does not override a newer value."""
    newer = [
        {
            "event_id": "n1",
            "ts": "2026-05-01T00:00:00Z",
            "event_type": "login",
            "account_id": "A1",
            "device_id": "D1",
            "is_emulator": "true",
            "os": "ios",
        }
    ]
    older = [
        {
            "event_id": "o1",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "login",
            "account_id": "A2",
            "device_id": "D1",
            "is_emulator": "false",
            "os": "android",
        }
    ]
    for name, rows in (("newer.csv", newer), ("older.csv", older)):
        ingestor = Ingestor(store, quarantine_dir=tmp_path / "q")
        ingestor.run([write_rows(tmp_path / name, rows)])
        ingestor.close()
        store.counts()  # a read between files folds pending work on every backend
    device = store.get_entity(NodeType.DEVICE, "D1")
    assert (device.attributes["is_emulator"], device.attributes["os"]) == (True, "ios")


def test_every_backend_offers_its_algorithm_engine(loaded: GraphStore) -> None:
    """algorithms() runs on the backend's own engine; the known log is one component."""
    engine = loaded.algorithms()
    assert engine.engine == {"embedded": "embedded", "neo4j": "gds"}[loaded.backend]
    components = engine.wcc(ACCOUNT_IDENTIFIER_GRAPH)
    n_nodes = sum(loaded.counts().nodes.values())
    assert sorted(components.column("id").to_pylist()) == list(range(n_nodes))
    assert set(components.column("component").to_pylist()) == {0}


# -- analytics tables --------------------------------------------------------------------


def _rings_table(scores: list[float]) -> pa.Table:
    """A small table with every kind of column the ring outputs use."""
    n = len(scores)
    return pa.table(
        {
            "ring_id": pa.array([f"R{i}" for i in range(n)], pa.string()),
            "members": pa.array([[i, i + 10] for i in range(n)], pa.list_(pa.int64())),
            "score": pa.array(scores, pa.float64()),
            "reasons": pa.array(
                [["SHARED_DEVICE"] if i % 2 else [] for i in range(n)], pa.list_(pa.string())
            ),
            "parents": pa.array(
                [None if i == 0 else ["R0", None] for i in range(n)], pa.list_(pa.string())
            ),
            "evidence": pa.array(
                [
                    [{"src": i, "dst": i + 10, "weight": 0.5, "kind": "USES_DEVICE"}]
                    for i in range(n)
                ],
                pa.list_(
                    pa.struct(
                        [
                            ("src", pa.int64()),
                            ("dst", pa.int64()),
                            ("weight", pa.float64()),
                            ("kind", pa.string()),
                        ]
                    )
                ),
            ),
            "flagged": pa.array([s >= 0.5 for s in scores], pa.bool_()),
            "size": pa.array(range(n), pa.int32()),
            "typology": pa.array(["mule" if i else None for i in range(n)], pa.string()),
            "seen_at": pa.array(
                [1_700_000_000_123_456 + i for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
            "day": pa.array(range(n), pa.int32()).cast(pa.date32()),
        }
    )


def test_analytics_table_round_trips_types_and_row_order(store: GraphStore) -> None:
    """read_table returns the rows in the order written, with the exact schema written."""
    table = _rings_table([0.9, 0.1, 0.7, 0.3, 0.5])
    store.write_table("rings", table, version="v1")
    got = store.read_table("rings")
    assert got.schema == table.schema
    assert got.to_pylist() == table.to_pylist()


def test_analytics_latest_version_wins_and_old_versions_stay_readable(store: GraphStore) -> None:
    """The latest written version is the default; older ones are read by name."""
    store.write_table("rings", _rings_table([0.1]), version="2026-01-01T00:00:00Z")
    store.write_table("rings", _rings_table([0.2, 0.3]), version="2026-01-02T00:00:00Z")
    store.write_table("super_nodes", _rings_table([0.4]), version="2026-01-02T00:00:00Z")
    assert store.table_versions("rings") == ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]
    assert store.read_table("rings").column("score").to_pylist() == [0.2, 0.3]
    old = store.read_table("rings", version="2026-01-01T00:00:00Z")
    assert old.column("score").to_pylist() == [0.1]
    assert store.table_versions("never_written") == []


def test_analytics_rewriting_a_version_replaces_it_and_makes_it_latest(store: GraphStore) -> None:
    """Writing an existing version again replaces its rows and moves it to the end."""
    store.write_table("rings", _rings_table([0.1, 0.2, 0.3]), version="a")
    store.write_table("rings", _rings_table([0.5]), version="b")
    store.write_table("rings", _rings_table([0.9]), version="a")
    assert store.table_versions("rings") == ["b", "a"]
    assert store.read_table("rings").column("score").to_pylist() == [0.9]


def test_analytics_empty_table_keeps_its_schema(store: GraphStore) -> None:
    """A version with no rows reads back as an empty table with the schema written."""
    empty = _rings_table([]).slice(0, 0)
    store.write_table("flagged_clusters", empty, version="v1")
    got = store.read_table("flagged_clusters", version="v1")
    assert got.num_rows == 0 and got.schema == empty.schema


def test_analytics_table_pages_through_many_rows(store: GraphStore) -> None:
    """A table far larger than one read page comes back whole and in order."""
    n = 2_500
    table = pa.table(
        {
            "ring_id": pa.array([f"R{i:05d}" for i in range(n)]),
            "account_id": pa.array(np.arange(n, dtype=np.int64)),
        }
    )
    store.write_table("ring_members", table, version="v1")
    got = store.read_table("ring_members")
    assert got.column("account_id").to_pylist() == list(range(n))


def test_analytics_unknown_table_or_version_raises_entity_not_found(store: GraphStore) -> None:
    """An unknown table or version is an EntityNotFound that names what is missing."""
    with pytest.raises(EntityNotFound, match="no analytics table 'rings'"):
        store.read_table("rings")
    store.write_table("rings", _rings_table([0.1]), version="v1")
    with pytest.raises(EntityNotFound, match=r"has no version 'v9'.*'v1'"):
        store.read_table("rings", version="v9")


@pytest.mark.parametrize("name", ["Rings", "1rings", "_rings", "rings; DROP TABLE x", "", "r" * 64])
def test_analytics_bad_table_name_is_invalid_input(store: GraphStore, name: str) -> None:
    """Table names must be lower-case identifiers, on write, read and listing."""
    with pytest.raises(InvalidInput, match="table name"):
        store.write_table(name, _rings_table([0.1]), version="v1")
    with pytest.raises(InvalidInput, match="table name"):
        store.read_table(name)
    with pytest.raises(InvalidInput, match="table name"):
        store.table_versions(name)


@pytest.mark.parametrize("version", ["", "has space", "-leading", "v" * 129, "a/b"])
def test_analytics_bad_version_is_invalid_input(store: GraphStore, version: str) -> None:
    """Versions are short printable tokens."""
    with pytest.raises(InvalidInput, match="version"):
        store.write_table("rings", _rings_table([0.1]), version=version)
    with pytest.raises(InvalidInput, match="version"):
        store.read_table("rings", version=version)


def test_analytics_bad_columns_are_invalid_input_and_write_nothing(store: GraphStore) -> None:
    """Bad column names or unsupported types are refused before anything is written."""
    with pytest.raises(InvalidInput, match="column name 'Score'"):
        store.write_table("rings", pa.table({"Score": [1.0]}), version="v1")
    with pytest.raises(InvalidInput, match="column name '_row'"):
        store.write_table("rings", pa.table({"_row": [1]}), version="v1")
    with pytest.raises(InvalidInput, match="type binary"):
        store.write_table("rings", pa.table({"blob": pa.array([b"x"], pa.binary())}), version="v1")
    with pytest.raises(InvalidInput, match=r"pyarrow\.Table"):
        store.write_table("rings", {"score": [1.0]}, version="v1")
    assert store.table_versions("rings") == []


def test_analytics_dictionary_columns_are_stored_decoded(store: GraphStore) -> None:
    """A dictionary-encoded column reads back as its plain value type."""
    table = pa.table({"typology": pa.array(["mule", "bust_out", "mule"]).dictionary_encode()})
    store.write_table("rings", table, version="v1")
    got = store.read_table("rings")
    assert got.schema.field("typology").type == pa.string()
    assert got.column("typology").to_pylist() == ["mule", "bust_out", "mule"]


def test_analytics_tables_survive_reopening_the_embedded_store(tmp_path: Path) -> None:
    """Analytics tables are durable in the store file and readable by a read-only opener."""
    table = _rings_table([0.9, 0.4])
    with EmbeddedStore(tmp_path / "store") as writer:
        writer.write_table("rings", table, version="v1")
    with EmbeddedStore(tmp_path / "store", read_only=True) as reader:
        assert reader.table_versions("rings") == ["v1"]
        assert reader.read_table("rings").equals(table)


def test_analytics_dropping_a_version_removes_only_that_version(store: GraphStore) -> None:
    """drop_table_version deletes one version; the others stay; unknown ones raise."""
    store.write_table("rings", _rings_table([0.1]), version="v1")
    store.write_table("rings", _rings_table([0.2, 0.3]), version="v2")
    store.drop_table_version("rings", "v2")
    assert store.table_versions("rings") == ["v1"]
    assert store.read_table("rings").column("score").to_pylist() == [0.1]
    with pytest.raises(EntityNotFound, match="has no version 'v2'"):
        store.read_table("rings", version="v2")
    with pytest.raises(EntityNotFound, match="has no version 'v2'"):
        store.drop_table_version("rings", "v2")
    with pytest.raises(InvalidInput, match="table name"):
        store.drop_table_version("Rings", "v1")
    store.drop_table_version("rings", "v1")
    assert store.table_versions("rings") == []
    store.write_table("rings", _rings_table([0.4]), version="v1")
    assert store.read_table("rings").column("score").to_pylist() == [0.4]


# -- quarantine levels --------------------------------------------------------------------


def _quarantine(rows: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(rows, QUARANTINE_SCHEMA)


def test_quarantine_keeps_row_and_field_levels(store: GraphStore, tmp_path: Path) -> None:
    """A rejected row and the bad fields of a loaded row are both stored and read back with
    level, field, input column and original value; the ledger counts them apart."""
    rows = [
        {**GOOD_EVENTS[0], "ts": "not a time"},
        {**GOOD_EVENTS[1], "ip": "10.0.0.300", "asn": "ASx"},
        GOOD_EVENTS[2],
    ]
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q")
    report = ingestor.run([write_rows(tmp_path / "events.csv", rows)])
    ingestor.close()
    summary = report.as_dict()
    assert (summary["rows_loaded"], summary["rows_quarantined"], summary["fields_quarantined"]) == (
        2,
        1,
        2,
    )
    stored = store.quarantine().to_pylist()
    assert [
        (r["row_number"], r["level"], r["reason"], r["field"], r["input_value"]) for r in stored
    ] == [
        (1, "row", "bad_timestamp", "ts", "not a time"),
        (2, "field", "bad_type", "asn", "ASx"),
        (2, "field", "invalid_ip", "ip", "10.0.0.300"),
    ]
    assert stored[0]["raw"] is not None and stored[1]["raw"] is None
    progress = store.source_progress(summary["manifests"][0]["source"])
    assert progress is not None
    assert (progress.rows_quarantined, progress.fields_quarantined) == (1, 2)
    assert store.manifests()[0]["fields_quarantined"] == 2


def test_commit_counts_quarantine_levels_in_the_ledger(store: GraphStore) -> None:
    """A batch's row-level entries count as rows quarantined, its field-level ones as
    fields quarantined; a quarantine table in the layout written before field-level
    quarantine existed reads back as row-level."""
    store.begin_source("s1", path="p", kind="events", batch_size=3)
    store.commit_batch(
        BatchCommit(
            source="s1",
            path="p",
            batch_index=0,
            rows_read=2,
            rows_duplicate=0,
            quarantine=_quarantine(
                [
                    {"source": "s1", "path": "p", "row_number": 1, "reason": "bad_timestamp",
                     "level": "row", "field": "ts"},
                    {"source": "s1", "path": "p", "row_number": 2, "reason": "invalid_ip",
                     "level": "field", "field": "ip", "input_column": "IP", "input_value": "x"},
                    {"source": "s1", "path": "p", "row_number": 2, "reason": "bad_type",
                     "level": "field", "field": "asn", "input_column": "asn", "input_value": "y"},
                ]
            ),
        )
    )  # fmt: skip
    old_layout = pa.table(
        {
            "source": ["s1"],
            "path": ["p"],
            "row_number": pa.array([3], pa.int64()),
            "reason": ["malformed_row"],
            "detail": [None],
            "raw": ["x,y"],
        }
    )
    store.commit_batch(
        BatchCommit(
            source="s1", path="p", batch_index=1, rows_read=1, rows_duplicate=0,
            quarantine=old_layout,
        )
    )  # fmt: skip
    progress = store.source_progress("s1")
    assert progress is not None
    assert (progress.rows_read, progress.rows_quarantined, progress.fields_quarantined) == (3, 2, 2)
    got = store.quarantine("s1")
    assert got.schema == QUARANTINE_SCHEMA
    assert [(r["row_number"], r["level"], r["field"]) for r in got.to_pylist()] == [
        (1, "row", "ts"),
        (2, "field", "asn"),
        (2, "field", "ip"),
        (3, "row", None),
    ]
