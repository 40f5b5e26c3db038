"""Ingestion end to end into the embedded store: quarantine, manifests, idempotence, recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_service import InvalidInput, NodeType
from graph_service.embedded.store import EmbeddedStore
from graph_service.model import LinkType
from ingestion.loader import Ingestor, IngestReport
from ingestion.schema import FileKind
from tests.conftest import GOOD_EVENTS, FileWriter, write_rows


def ingest(store: EmbeddedStore, tmp_path: Path, *paths: Path, **kwargs: Any) -> IngestReport:
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "quarantine", **kwargs)
    try:
        return ingestor.run(list(paths))
    finally:
        ingestor.close()


def quarantined(report: IngestReport) -> list[dict[str, Any]]:
    assert report.quarantine_path is not None
    rows: list[dict[str, Any]] = pq.read_table(report.quarantine_path).to_pylist()
    return rows


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_good_events_build_the_known_graph(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path, suffix: str
) -> None:
    """Every format loads the same small log into the same nodes, links and aggregates."""
    path = write_events(GOOD_EVENTS, f"events{suffix}")
    report = ingest(embedded_store, tmp_path, path)
    summary = report.as_dict()
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_quarantined"]) == (6, 6, 0)
    counts = embedded_store.counts()
    assert counts.nodes == {
        NodeType.ACCOUNT: 3,
        NodeType.DEVICE: 2,
        NodeType.IP: 3,
        NodeType.PHONE: 1,
        NodeType.EMAIL: 1,
        NodeType.CARD: 1,
        NodeType.ADDRESS: 1,
        NodeType.MERCHANT: 1,
    }
    assert counts.links == {
        LinkType.USES_DEVICE: 3,
        LinkType.LOGS_IN_FROM: 4,
        LinkType.HAS_PHONE: 2,
        LinkType.HAS_EMAIL: 2,
        LinkType.HAS_CARD: 1,
        LinkType.HAS_ADDRESS: 2,
        LinkType.PAYS: 1,
        LinkType.TRANSFERS_TO: 1,
    }
    a1 = embedded_store.get_entity(NodeType.ACCOUNT, "A1")
    pays = [n for n in embedded_store.neighbours(a1.id) if n.link_type is LinkType.PAYS]
    assert len(pays) == 1
    assert (pays[0].n_events, pays[0].amount_sum) == (2, 20.0)
    assert pays[0].first_ts == datetime(2026, 1, 2, 9, tzinfo=UTC)
    assert pays[0].last_ts == datetime(2026, 1, 3, 9, tzinfo=UTC)
    device = embedded_store.get_entity(NodeType.DEVICE, "D1")
    assert device.attributes["is_emulator"] is True  # the latest event's value wins
    assert device.attributes["os"] == "android"
    ip = embedded_store.get_entity(NodeType.IP, "2001:db8::1")
    assert (ip.attributes["is_proxy"], ip.attributes["asn"], ip.attributes["country"]) == (
        True,
        64500,
        "GB",
    )
    # Identifier variants collapse onto one normalised node.
    embedded_store.get_entity(NodeType.PHONE, "+447400123456")
    embedded_store.get_entity(NodeType.EMAIL, "johndoe@gmail.com")


BAD_ROWS: list[tuple[dict[str, Any], str]] = [
    (
        {"event_id": "", "ts": "2026-01-01T00:00:00Z", "event_type": "login", "account_id": "A"},
        "missing_field",
    ),
    ({"event_id": "b2", "ts": "", "event_type": "login", "account_id": "A"}, "missing_field"),
    (
        {"event_id": "b3", "ts": "2026-01-01T00:00:00Z", "event_type": "login", "account_id": " "},
        "missing_field",
    ),
    (
        {"event_id": "b4", "ts": "yesterday", "event_type": "login", "account_id": "A"},
        "bad_timestamp",
    ),
    (
        {"event_id": "b5", "ts": "2026-13-45T00:00:00Z", "event_type": "login", "account_id": "A"},
        "bad_timestamp",
    ),
    (
        {
            "event_id": "b6",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "payment",
            "account_id": "A",
            "merchant_id": "M",
            "amount": "-5",
        },
        "negative_amount",
    ),
    (
        {
            "event_id": "b7",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "payment",
            "account_id": "A",
            "merchant_id": "M",
            "amount": "ten",
        },
        "bad_amount",
    ),
    (
        {
            "event_id": "b8",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "payment",
            "account_id": "A",
            "merchant_id": "M",
            "amount": "NaN",
        },
        "bad_amount",
    ),
    (
        {
            "event_id": "b9",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "login",
            "account_id": "A",
            "ip": "999.1.1.1",
        },
        "invalid_ip",
    ),
    (
        {
            "event_id": "b10",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "teleport",
            "account_id": "A",
        },
        "unknown_event_type",
    ),
    (
        {
            "event_id": "b11",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "login",
            "account_id": "A",
            "is_emulator": "maybe",
        },
        "bad_type",
    ),
    (
        {
            "event_id": "b12",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "login",
            "account_id": "A",
            "asn": "AS12",
        },
        "bad_type",
    ),
    (
        {
            "event_id": "b13",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "login",
            "account_id": "A",
            "phone": "12",
        },
        "invalid_phone",
    ),
    (
        {
            "event_id": "b14",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "login",
            "account_id": "A",
            "email": "not-an-email",
        },
        "invalid_email",
    ),
    (
        {
            "event_id": "b15",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "payment",
            "account_id": "A",
            "amount": "3",
        },
        "missing_field",
    ),
    (
        {
            "event_id": "b16",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "transfer",
            "account_id": "A",
            "amount": "3",
        },
        "missing_field",
    ),
    (
        {
            "event_id": "b17",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "transfer",
            "account_id": "A",
            "counterparty_account_id": "A",
            "amount": "3",
        },
        "self_transfer",
    ),
    (
        {
            "event_id": "b18",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "payment",
            "account_id": "A",
            "merchant_id": "M",
            "amount": "3",
            "currency": "pounds",
        },
        "bad_value",
    ),
]


@pytest.mark.parametrize(
    ("row", "reason"), BAD_ROWS, ids=[r[0]["event_id"] or "b1" for r in BAD_ROWS]
)
def test_each_invalid_row_is_quarantined_with_its_reason(
    embedded_store: EmbeddedStore,
    write_events: FileWriter,
    tmp_path: Path,
    row: dict[str, Any],
    reason: str,
) -> None:
    """A bad row lands in quarantine with the expected reason and its original values."""
    path = write_events([GOOD_EVENTS[0], row])
    report = ingest(embedded_store, tmp_path, path)
    rows = quarantined(report)
    assert [r["reason"] for r in rows] == [reason]
    assert rows[0]["row_number"] == 2
    assert '"event_type"' in rows[0]["raw"]
    assert report.as_dict()["rows_loaded"] == 1


def test_wrong_column_types_in_parquet_are_quarantined(
    embedded_store: EmbeddedStore, tmp_path: Path
) -> None:
    """A Parquet file whose amount column holds text quarantines just the bad rows."""
    path = tmp_path / "typed.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ["t1", "t2"],
                "ts": pa.array(
                    [datetime(2026, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")
                ),
                "event_type": ["payment", "payment"],
                "account_id": ["A", "B"],
                "merchant_id": ["M", "M"],
                "amount": ["5.0", "five"],
                "asn": pa.array([1, 2], pa.int32()),
            }
        ),
        path,
    )
    report = ingest(embedded_store, tmp_path, path)
    assert [r["reason"] for r in quarantined(report)] == ["bad_amount"]
    assert report.as_dict()["rows_loaded"] == 1


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_truncated_text_file_quarantines_the_torn_line(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path, suffix: str
) -> None:
    """A file cut mid-line keeps every whole row and quarantines the torn last one."""
    path = write_events(GOOD_EVENTS, f"events{suffix}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    report = ingest(embedded_store, tmp_path, path)
    summary = report.as_dict()
    assert summary["rows_read"] == 6
    assert summary["rows_loaded"] == 5
    rows = quarantined(report)
    assert [r["reason"] for r in rows] == ["malformed_row"]
    assert rows[0]["row_number"] == 6
    assert summary["reconciled"] is True


def test_truncated_parquet_is_quarantined_as_a_file(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """A Parquet file with its footer cut off is recorded as one truncated_file entry."""
    path = write_events(GOOD_EVENTS, "events.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    report = ingest(embedded_store, tmp_path, path)
    rows = quarantined(report)
    assert [r["reason"] for r in rows] == ["truncated_file"]
    assert report.as_dict()["rows_loaded"] == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("events.parquet", b"event_id,ts\n1,2\n", "not a Parquet file"),
        ("events.csv", b"PAR1\x00\x00binary", "not a CSV text file"),
        ("events.jsonl", b"this is not json\n", "not a JSONL file"),
        ("events.jsonl", b"[1, 2, 3]\n", "not a JSONL file"),
        ("events.txt", b"whatever", "unknown file type"),
        ("events.csv", b"colour,size\nred,3\n", "cannot tell the kind of file"),
        ("events.csv", b"event_id,event_type,ts\ne1,login,2026-01-01\n", "lacks required column"),
    ],
)
def test_file_of_the_wrong_format_fails_with_one_clear_line(
    embedded_store: EmbeddedStore, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    """A file that is not what it claims raises InvalidInput naming the file, on one line."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message) as info:
        ingest(embedded_store, tmp_path, path)
    assert "\n" not in str(info.value)
    assert name in str(info.value)


def test_reingesting_the_same_file_is_a_no_op(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """The second run over the same bytes skips the file and changes nothing."""
    path = write_events(GOOD_EVENTS)
    ingest(embedded_store, tmp_path, path)
    before = embedded_store.export_links()
    report = ingest(embedded_store, tmp_path, path)
    assert report.as_dict()["files_skipped"] == 1
    assert report.as_dict()["rows_loaded"] == 0
    assert embedded_store.export_links().equals(before)


def test_duplicate_event_ids_are_counted_once(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """Exact repeats, in the same file or in another file, count as duplicates, not loads."""
    first = write_events([*GOOD_EVENTS, GOOD_EVENTS[0]], "a.csv")
    report = ingest(embedded_store, tmp_path, first)
    assert report.as_dict()["rows_duplicate"] == 1
    # Same events again in a differently formatted file (phone/email written differently).
    variant = [dict(GOOD_EVENTS[0], phone="+447400123456", email="johndoe@gmail.com")]
    report2 = ingest(embedded_store, tmp_path, write_events(variant, "b.jsonl"))
    summary = report2.as_dict()
    assert (summary["rows_duplicate"], summary["rows_loaded"]) == (1, 0)
    a1 = embedded_store.get_entity(NodeType.ACCOUNT, "A1")
    uses = [n for n in embedded_store.neighbours(a1.id) if n.link_type is LinkType.USES_DEVICE]
    assert uses[0].n_events == 2  # e1 and e3 only, never e1 twice


def test_conflicting_duplicate_is_quarantined(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """An event id seen again with different content goes to quarantine, in-file and stored."""
    changed = dict(GOOD_EVENTS[2], amount="99")
    report = ingest(embedded_store, tmp_path, write_events([*GOOD_EVENTS, changed], "a.csv"))
    assert [r["reason"] for r in quarantined(report)] == ["conflicting_duplicate"]
    report2 = ingest(embedded_store, tmp_path, write_events([changed], "b.csv"))
    assert [r["reason"] for r in quarantined(report2)] == ["conflicting_duplicate"]
    assert report2.as_dict()["rows_loaded"] == 0


row_strategy = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["x1", "x2", "x3", "x4", "", " x5 "]),
        "ts": st.sampled_from(["2026-02-01T00:00:00Z", "2026-02-01 10:00:00", "bad", ""]),
        "event_type": st.sampled_from(["login", "payment", "transfer", "LOGIN", "nope"]),
        "account_id": st.sampled_from(["A1", "A2", "", "B7"]),
        "merchant_id": st.sampled_from(["", "M1"]),
        "counterparty_account_id": st.sampled_from(["", "A2", "A9"]),
        "amount": st.sampled_from(["", "1", "-1", "x", "2.5"]),
        "ip": st.sampled_from(["", "10.1.1.1", "10.1.1", "::1"]),
    }
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(row_strategy, min_size=1, max_size=30))
def test_manifest_always_reconciles(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]
) -> None:
    """For any mix of good, bad and repeated rows: read = loaded + quarantined + duplicate."""
    base = tmp_path_factory.mktemp("recon")
    with EmbeddedStore(base / "store", memory_limit="512MB", threads=1) as store:
        report = ingest(store, base, write_rows(base / "in.csv", rows), batch_size=7)
        summary = report.as_dict()
        assert summary["rows_read"] == len(rows)
        assert summary["rows_read"] == (
            summary["rows_loaded"] + summary["rows_quarantined"] + summary["rows_duplicate"]
        )
        assert len(quarantined(report)) == summary["rows_quarantined"]


def test_labels_and_entity_files_load_and_are_detected(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """Labels append to the labels table; entity files set attributes; kinds come from columns."""
    ingest(embedded_store, tmp_path, write_events(GOOD_EVENTS))
    labels = write_rows(
        tmp_path / "labels.csv",
        [
            {
                "entity_type": "account",
                "entity_key": "A1",
                "label": "FRAUD",
                "source": "chargeback",
                "ts": "2026-02-01T00:00:00Z",
                "author": "ana",
                "reason": "confirmed",
            },
            {
                "entity_type": "Phone",
                "entity_key": "07400 123456",
                "label": "fraud",
                "source": "investigation",
                "ts": "2026-02-01T00:00:00Z",
            },
            {
                "entity_type": "planet",
                "entity_key": "X",
                "label": "fraud",
                "source": "s",
                "ts": "2026-02-01T00:00:00Z",
            },
            {
                "entity_type": "Account",
                "entity_key": "A2",
                "label": "maybe",
                "source": "s",
                "ts": "2026-02-01T00:00:00Z",
            },
        ],
        ["entity_type", "entity_key", "label", "source", "ts", "author", "reason"],
    )
    entities = write_rows(
        tmp_path / "devices.csv",
        [
            {"entity_type": "Device", "entity_key": "D9", "is_rooted": "true", "os": "ios"},
            {"entity_type": "Device", "entity_key": "D1", "is_emulator": "no"},
            {"entity_type": "Device", "entity_key": "D2", "is_rooted": "sometimes"},
        ],
        ["entity_type", "entity_key", "is_rooted", "os", "is_emulator"],
    )
    report = ingest(embedded_store, tmp_path, labels, entities)
    assert [m.kind for m in report.files] == [FileKind.LABELS.value, FileKind.ENTITIES.value]
    assert sorted(r["reason"] for r in quarantined(report)) == [
        "bad_type",
        "unknown_entity_type",
        "unknown_label",
    ]
    table = embedded_store.labels().to_pylist()
    assert [(r["entity_type"], r["entity_key"], r["label"]) for r in table] == [
        ("Account", "A1", "fraud"),
        ("Phone", "+447400123456", "fraud"),
    ]
    assert table[0]["entity_id"] == embedded_store.get_entity(NodeType.ACCOUNT, "A1").id
    assert embedded_store.get_entity(NodeType.DEVICE, "D9").attributes["is_rooted"] is True
    # An attribute file is authoritative over older event values.
    assert embedded_store.get_entity(NodeType.DEVICE, "D1").attributes["is_emulator"] is False


def test_forced_kind_overrides_detection(embedded_store: EmbeddedStore, tmp_path: Path) -> None:
    """--kind labels reads a file as labels even when its columns would not say so."""
    path = write_rows(
        tmp_path / "x.csv",
        [
            {
                "entity_type": "Account",
                "entity_key": "A1",
                "label": "fraud",
                "source": "s",
                "ts": "2026-01-01",
                "event_id": "confusing",
            }
        ],
        ["entity_type", "entity_key", "label", "source", "ts", "event_id"],
    )
    report = ingest(embedded_store, tmp_path, path, kind=FileKind.LABELS)
    assert report.files[0].kind == "labels"
    assert report.as_dict()["rows_loaded"] == 1


def _many_events(n: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"k{i}",
            "ts": f"2026-03-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "event_type": "login",
            "account_id": f"A{i % 500}",
            "device_id": f"D{i % 300}",
            "ip": f"10.{i % 7}.{i % 250}.{i % 200 + 1}",
        }
        for i in range(n)
    ]


def test_killed_ingest_resumes_without_duplicates(tmp_path: Path) -> None:
    """SIGKILL mid-ingest leaves whole batches; the re-run finishes and equals a clean run."""
    source = write_rows(tmp_path / "big.parquet", _many_events(30_000))
    store_dir = tmp_path / "store"
    env = dict(os.environ, FRAUDGRAPH_DUCKDB_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "fraudgraph.cli",
        "ingest",
        str(source),
        "--store",
        str(store_dir),
        "--batch-size",
        "500",
        "--json",
    ]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 120
        events_dir = store_dir / "events"
        while time.monotonic() < deadline:
            if events_dir.exists() and len(list(events_dir.glob("*.parquet"))) >= 5:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with EmbeddedStore(store_dir) as partial:
        progress = partial.source_progress(
            next(
                iter(
                    r[0]
                    for r in partial._con.execute("SELECT source FROM ingest_sources").fetchall()
                )
            )
        )
        assert progress is not None and not progress.complete
        assert 0 < len(progress.batches_done) < 60
        assert progress.rows_loaded == 500 * len(progress.batches_done)
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    summary = json.loads(resumed.stdout)
    assert summary["manifests"][0]["batches_resumed"] > 0
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_duplicate"]) == (
        30_000,
        30_000,
        0,
    )
    with EmbeddedStore(tmp_path / "clean") as clean, EmbeddedStore(store_dir) as recovered:
        ingest(clean, tmp_path, source, batch_size=500)
        assert recovered.counts() == clean.counts()
        assert recovered.export_nodes().equals(clean.export_nodes())
        assert recovered.export_links().equals(clean.export_links())
