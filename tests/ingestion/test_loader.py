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

from graph_service import EntityNotFound, InvalidInput, NodeType
from graph_service.embedded.store import EmbeddedStore
from graph_service.model import LinkType
from ingestion.loader import Ingestor, IngestReport, LoadMode
from ingestion.schema import FileKind
from queries.limits import MAX_PAGE
from queries.neighbourhood import neighbourhood
from queries.results import Link
from tests.conftest import EVENT_COLUMNS, GOOD_EVENTS, FileWriter, write_rows


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
    pays = [link for link in _links(embedded_store, "A1") if link.type is LinkType.PAYS]
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
            "event_id": "b10",
            "ts": "2026-01-01T00:00:00Z",
            "event_type": "teleport",
            "account_id": "A",
        },
        "unknown_event_type",
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
    """A row missing (or with a malformed) field the event cannot exist without lands in
    quarantine whole, with the expected reason and its original values."""
    path = write_events([GOOD_EVENTS[0], row])
    report = ingest(embedded_store, tmp_path, path)
    rows = quarantined(report)
    assert [(r["reason"], r["level"]) for r in rows] == [(reason, "row")]
    assert rows[0]["row_number"] == 2
    assert '"event_type"' in rows[0]["raw"]
    summary = report.as_dict()
    assert (summary["rows_loaded"], summary["rows_quarantined"]) == (1, 1)
    assert summary["fields_quarantined"] == 0


LOGIN = {"event_id": "f1", "ts": "2026-01-01T00:00:00Z", "event_type": "login", "account_id": "A"}

#: One malformed optional field per row: (column, value, reason).
BAD_FIELDS: list[tuple[str, str, str]] = [
    ("ip", "999.1.1.1", "invalid_ip"),
    ("phone", "12", "invalid_phone"),
    ("email", "not-an-email", "invalid_email"),
    ("is_emulator", "maybe", "bad_type"),
    ("is_rooted", "2", "bad_type"),
    ("is_proxy", "perhaps", "bad_type"),
    ("asn", "AS-12x", "bad_type"),
    ("asn", "-5", "bad_type"),
    ("country", "Atlantis", "bad_value"),
    ("currency", "pounds", "bad_value"),
    ("amount", "ten", "bad_amount"),
    ("amount", "-3", "negative_amount"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_FIELDS, ids=lambda v: str(v))
def test_a_malformed_optional_field_is_quarantined_alone(
    embedded_store: EmbeddedStore,
    write_events: FileWriter,
    tmp_path: Path,
    column: str,
    value: str,
    reason: str,
) -> None:
    """The event loads without the bad field (its other links stay); the field goes to
    quarantine with its reason, column and original value; counts say one field."""
    row = {**LOGIN, "device_id": "D7", column: value}
    report = ingest(embedded_store, tmp_path, write_events([GOOD_EVENTS[0], row]))
    summary = report.as_dict()
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_quarantined"]) == (2, 2, 0)
    assert summary["fields_quarantined"] == 1
    assert summary["manifests"][0]["fields_quarantined"] == 1
    (entry,) = quarantined(report)
    assert (entry["level"], entry["reason"], entry["row_number"]) == ("field", reason, 2)
    assert (entry["field"], entry["input_column"], entry["input_value"]) == (column, column, value)
    assert entry["raw"] is None
    assert _neighbour_keys(embedded_store, "A") == ["D7"]
    stored = pq.read_table(embedded_store.events_dir).to_pylist()
    loaded = next(e for e in stored if e["event_id"] == "f1")
    assert loaded[column] is None


def test_several_bad_fields_of_one_row_are_each_quarantined(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """A row with four malformed optional fields loads with its good ones and leaves four
    field entries, in field order, with their own reasons."""
    row = {
        **LOGIN,
        "device_id": "D7",
        "ip": "10.0.0.300",
        "phone": "123",
        "asn": "AS64500x",
        "country": "Narnia",
        "email": "ok@example.com",
        "is_proxy": "yes",
    }
    report = ingest(embedded_store, tmp_path, write_events([row]))
    summary = report.as_dict()
    assert (summary["rows_loaded"], summary["rows_quarantined"], summary["fields_quarantined"]) == (
        1,
        0,
        4,
    )
    entries = quarantined(report)
    assert [(e["field"], e["reason"]) for e in entries] == [
        ("asn", "bad_type"),
        ("country", "bad_value"),
        ("ip", "invalid_ip"),
        ("phone", "invalid_phone"),
    ]
    assert _neighbour_keys(embedded_store, "A") == ["D7", "ok@example.com"]


def test_bad_required_field_still_quarantines_the_row_without_field_entries(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """A row quarantined whole for a required field records no separate field entries."""
    row = {**LOGIN, "ts": "not a time", "ip": "999.1.1.1"}
    report = ingest(embedded_store, tmp_path, write_events([row]))
    assert [(e["reason"], e["level"], e["field"]) for e in quarantined(report)] == [
        ("bad_timestamp", "row", "ts")
    ]
    assert report.as_dict()["fields_quarantined"] == 0


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
    uses = [link for link in _links(embedded_store, "A1") if link.type is LinkType.USES_DEVICE]
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
        levels = [r["level"] for r in quarantined(report)]
        assert levels.count("row") == summary["rows_quarantined"]
        assert levels.count("field") == summary["fields_quarantined"]


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
    # A bad attribute is quarantined alone: D2 still loads, without is_rooted.
    assert sorted((r["reason"], r["level"]) for r in quarantined(report)) == [
        ("bad_type", "field"),
        ("unknown_entity_type", "row"),
        ("unknown_label", "row"),
    ]
    assert embedded_store.get_entity(NodeType.DEVICE, "D2").attributes.get("is_rooted") is None
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
    """SIGKILL mid-ingest (incremental path) leaves whole batches; the re-run finishes and
    equals a clean run."""
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
        "--load-mode",
        "incremental",
        "--json",
    ]
    _kill_after_batches(cmd, env, store_dir, batches=5)
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


# -- feeds as they come ---------------------------------------------------------------

#: GOOD_EVENTS' columns as another system names them.
ALIASED = {
    "event_id": "eventId",
    "ts": "Event Time",
    "event_type": "type",
    "account_id": "acct_id",
    "device_id": "device_fingerprint",
    "ip": "client_ip",
    "phone": "msisdn",
    "email": "email_address",
    "card_id": "card_token",
    "address": "billing_address",
    "merchant_id": "mid",
    "counterparty_account_id": "beneficiary_account",
    "amount": "amt",
    "currency": "ccy",
    "is_emulator": "emulator",
    "is_rooted": "jailbroken",
    "os": "platform",
    "is_proxy": "is_vpn",
    "asn": "as_number",
    "country": "ip_country",
}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".json"])
def test_aliased_columns_load_the_same_graph(tmp_path: Path, suffix: str) -> None:
    """A file whose columns use other common names loads exactly the canonical graph,
    and the manifest lists the renames."""
    renamed = [{ALIASED[k]: v for k, v in row.items()} for row in GOOD_EVENTS]
    columns = [ALIASED[c] for c in EVENT_COLUMNS]
    path = tmp_path / f"aliased{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(renamed))
    else:
        write_rows(path, renamed, columns)
    with (
        EmbeddedStore(tmp_path / "canonical") as canonical,
        EmbeddedStore(tmp_path / "aliased") as aliased,
    ):
        ingest(canonical, tmp_path, write_rows(tmp_path / "events.csv", GOOD_EVENTS))
        report = ingest(aliased, tmp_path, path)
        assert report.as_dict()["rows_loaded"] == 6
        # JSON objects only carry the keys they have (no event sets is_rooted).
        present = {k for row in GOOD_EVENTS for k in row} if "json" in suffix else ALIASED
        assert report.files[0].columns_renamed == {ALIASED[k]: k for k in present}
        assert report.files[0].columns_ignored == []
        assert aliased.export_nodes().equals(canonical.export_nodes())
        assert aliased.export_links().equals(canonical.export_links())


def test_unknown_and_duplicate_columns_are_reported(
    embedded_store: EmbeddedStore, tmp_path: Path
) -> None:
    """A column of no field and a second spelling of a field are listed, not loaded."""
    rows = [{**GOOD_EVENTS[0], "colour": "red", "IP Address": "10.9.9.9"}]
    path = write_rows(tmp_path / "e.csv", rows, [*EVENT_COLUMNS, "colour", "IP Address"])
    summary = ingest(embedded_store, tmp_path, path).as_dict()
    assert summary["columns_ignored"] == [
        {"path": str(path), "column": "colour", "reason": "matches no field"},
        {"path": str(path), "column": "IP Address", "reason": "ip is read from 'ip'"},
    ]
    embedded_store.get_entity(NodeType.IP, "10.0.0.1")
    with pytest.raises(EntityNotFound):
        embedded_store.get_entity(NodeType.IP, "10.9.9.9")


def test_real_feed_spellings_load_without_quarantine(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """ASNs written AS209, US national phone numbers with country=US, country names, yes/no
    flags, epoch times and event-type synonyms all load; nothing is quarantined."""
    rows = [
        {
            "event_id": "r1",
            "ts": "1767323045",
            "event_type": "Sign-Up",
            "account_id": "A1",
            "phone": "(646) 279-7153",
            "country": "United States",
            "ip": "10.0.0.1",
            "asn": "AS209",
            "is_proxy": "No",
        },
        {
            "event_id": "r2",
            "ts": "2026-01-02 03:04:05+0100",
            "event_type": "registration",
            "account_id": "A2",
            "phone": "6144966718",
            "country": "usa",
            "ip": "10.0.0.1",
            "asn": "209.0",
            "is_emulator": "Y",
        },
    ]
    report = ingest(embedded_store, tmp_path, write_events(rows))
    summary = report.as_dict()
    assert (summary["rows_loaded"], summary["rows_quarantined"], summary["fields_quarantined"]) == (
        2,
        0,
        0,
    )
    embedded_store.get_entity(NodeType.PHONE, "+16462797153")
    embedded_store.get_entity(NodeType.PHONE, "+16144966718")
    ip = embedded_store.get_entity(NodeType.IP, "10.0.0.1")
    assert (ip.attributes["asn"], ip.attributes["country"]) == (209, "US")


def test_duplicate_of_an_event_with_a_bad_field_is_a_duplicate(
    embedded_store: EmbeddedStore, write_events: FileWriter, tmp_path: Path
) -> None:
    """Fingerprints cover the loaded content: a repeat whose only difference was the
    quarantined field is a duplicate, and the repeat's field entry is not kept twice."""
    bad = {**LOGIN, "ip": "999.1.1.1", "device_id": "D1"}
    clean = {**LOGIN, "device_id": "D1"}
    report = ingest(embedded_store, tmp_path, write_events([bad, bad, clean], "a.csv"))
    summary = report.as_dict()
    assert (summary["rows_loaded"], summary["rows_duplicate"], summary["fields_quarantined"]) == (
        1,
        2,
        1,
    )
    assert [(e["row_number"], e["level"]) for e in quarantined(report)] == [(1, "field")]
    changed = {**LOGIN, "device_id": "D2", "ip": "bad"}
    report2 = ingest(embedded_store, tmp_path, write_events([changed], "b.csv"))
    assert [(e["reason"], e["level"]) for e in quarantined(report2)] == [
        ("conflicting_duplicate", "row")
    ]


def test_bank_style_label_files_load(embedded_store: EmbeddedStore, tmp_path: Path) -> None:
    """account_id + label (fraud-only) and account_id + is_fraud files load as Account
    labels; the source defaults to the file name; bank label words are understood."""
    fraud_only = write_rows(
        tmp_path / "fraud.csv",
        [
            {"account_id": "A1", "label": "confirmed_fraud", "ts": "2026-02-01"},
            {"account_id": "A2", "label": "Chargeback", "ts": "1767323045"},
            {"account_id": "A3", "label": "maybe", "ts": "2026-02-01"},
        ],
        ["account_id", "label", "ts"],
    )
    flags = write_rows(
        tmp_path / "flags.csv",
        [
            {"Account Number": "A4", "is_fraud": "1", "reported_at": "2026-02-02T10:00:00Z"},
            {"Account Number": "A5", "is_fraud": "false", "reported_at": "2026-02-02"},
        ],
        ["Account Number", "is_fraud", "reported_at"],
    )
    report = ingest(embedded_store, tmp_path, fraud_only, flags)
    assert [m.kind for m in report.files] == ["labels", "labels"]
    assert [(e["reason"], e["input_column"]) for e in quarantined(report)] == [
        ("unknown_label", "label")
    ]
    labels = embedded_store.labels().to_pylist()
    assert sorted((r["entity_type"], r["entity_key"], r["label"], r["source"]) for r in labels) == [
        ("Account", "A1", "fraud", "file:fraud.csv"),
        ("Account", "A2", "fraud", "file:fraud.csv"),
        ("Account", "A4", "fraud", "file:flags.csv"),
        ("Account", "A5", "legit", "file:flags.csv"),
    ]


def test_entity_file_attribute_errors_are_field_level(
    embedded_store: EmbeddedStore, tmp_path: Path
) -> None:
    """An attribute file row keeps its good attributes when one is malformed."""
    path = write_rows(
        tmp_path / "ips.csv",
        [{"type": "IP", "key": "10.1.1.1", "asn": "ASx", "country": "Germany", "proxy": "1"}],
        ["type", "key", "asn", "country", "proxy"],
    )
    report = ingest(embedded_store, tmp_path, path, kind=FileKind.ENTITIES)
    assert [(e["field"], e["reason"], e["input_value"]) for e in quarantined(report)] == [
        ("asn", "bad_type", "ASx")
    ]
    ip = embedded_store.get_entity(NodeType.IP, "10.1.1.1")
    assert (ip.attributes["country"], ip.attributes["is_proxy"]) == ("DE", True)
    assert "asn" not in ip.attributes


def test_directory_with_other_files_ingests_what_it_recognises(
    embedded_store: EmbeddedStore, tmp_path: Path
) -> None:
    """Events and labels in a directory load; a truth file, a README and a JSON metadata
    object are reported as not ingested, each with its reason."""
    data = tmp_path / "feed"
    write_rows(data / "events.csv", GOOD_EVENTS)
    write_rows(
        data / "labels.csv",
        [{"account_id": "A1", "label": "fraud", "ts": "2026-02-01"}],
        ["account_id", "label", "ts"],
    )
    write_rows(
        data / "truth.csv",
        [{"ring_id": "R1", "typology": "mule", "account_id": "A1"}],
        ["ring_id", "typology", "account_id"],
    )
    (data / "README.md").write_text("# data\n")
    (data / "meta.json").write_text('{\n  "rows": 6\n}\n')
    report = ingest(embedded_store, tmp_path, data)
    assert sorted(Path(m.path).name for m in report.files) == ["events.csv", "labels.csv"]
    skipped = {Path(u.path).name: u.reason for u in report.unrecognised}
    assert sorted(skipped) == ["README.md", "meta.json", "truth.csv"]
    assert skipped["README.md"] == "unknown file type '.md'"
    assert "cannot tell the kind of file" in skipped["truth.csv"]
    assert "JSON lines or one JSON array" in skipped["meta.json"]
    summary = report.as_dict()
    assert {Path(u["path"]).name for u in summary["files_unrecognised"]} == set(skipped)
    assert summary["rows_loaded"] == 7


def test_directory_of_nothing_recognisable_fails_with_the_reasons(
    embedded_store: EmbeddedStore, tmp_path: Path
) -> None:
    """When no file under the paths can be ingested, the error says which were skipped."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "README.md").write_text("hi")
    with pytest.raises(InvalidInput, match=r"no input files under .*README\.md: unknown file"):
        ingest(embedded_store, tmp_path, tmp_path / "d")


def _events_with_bad_fields(n: int) -> list[dict[str, Any]]:
    rows = _many_events(n)
    for i, row in enumerate(rows):
        if i % 7 == 0:
            row["asn"] = f"ASx{i}"
        if i % 11 == 0:
            row["ip"] = "999.0.0.1"
    return rows


def test_killed_ingest_with_field_quarantine_resumes_with_the_right_counts(
    tmp_path: Path,
) -> None:
    """SIGKILL mid-ingest and a re-run give the counts and quarantine of a clean run: each
    batch's field entries are committed with it, never twice and never lost."""
    rows = _events_with_bad_fields(20_000)
    expected_fields = sum(1 for i in range(20_000) if i % 7 == 0) + sum(
        1 for i in range(20_000) if i % 11 == 0
    )
    source = write_rows(tmp_path / "big.parquet", rows, [*EVENT_COLUMNS])
    store_dir = tmp_path / "store"
    env = dict(os.environ, FRAUDGRAPH_DUCKDB_THREADS="1")
    cmd = [sys.executable, "-m", "fraudgraph.cli", "ingest", str(source), "--store"]
    cmd += [str(store_dir), "--batch-size", "500", "--json"]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(list((store_dir / "events").glob("*.parquet"))) >= 4:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with EmbeddedStore(store_dir) as partial:
        (progress,) = [
            partial.source_progress(r[0])
            for r in partial._con.execute("SELECT source FROM ingest_sources").fetchall()
        ]
        assert progress is not None and not progress.complete
        assert 0 < len(progress.batches_done) < 40
        assert progress.fields_quarantined == partial.quarantine().num_rows
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    summary = json.loads(resumed.stdout)
    assert summary["manifests"][0]["batches_resumed"] > 0
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_quarantined"]) == (
        20_000,
        20_000,
        0,
    )
    assert summary["fields_quarantined"] == expected_fields
    with EmbeddedStore(tmp_path / "clean") as clean, EmbeddedStore(store_dir) as recovered:
        ingest(clean, tmp_path, source, batch_size=500)
        assert (
            recovered.quarantine()
            .drop_columns(["path"])
            .equals(clean.quarantine().drop_columns(["path"]))
        )
        assert recovered.source_progress(
            summary["manifests"][0]["source"]
        ) == clean.source_progress(summary["manifests"][0]["source"])
        assert recovered.export_nodes().equals(clean.export_nodes())
        assert recovered.export_links().equals(clean.export_links())


def test_ingestion_engines_never_draw_a_progress_bar(
    embedded_store: EmbeddedStore, tmp_path: Path
) -> None:
    """The loader's and the validator's DuckDB engines keep stdout clean on long queries."""
    from ingestion.validate import Validator

    ingestor = Ingestor(embedded_store, quarantine_dir=tmp_path / "q")
    validator = Validator(FileKind.EVENTS)
    try:
        for con in (ingestor._engine, validator._con):
            assert con.sql("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
    finally:
        ingestor.close()
        validator.close()


def _links(store: EmbeddedStore, account: str) -> list[Link]:
    """Every aggregated link of an account (through the neighbourhood query)."""
    page = neighbourhood(store, NodeType.ACCOUNT, account, limit=MAX_PAGE)
    return [row.link for row in page.neighbours]


def _neighbour_keys(store: EmbeddedStore, account: str) -> list[str]:
    """Keys of everything linked to an account, sorted."""
    page = neighbourhood(store, NodeType.ACCOUNT, account, limit=MAX_PAGE)
    return sorted(row.neighbour.key for row in page.neighbours)


# -- bulk and incremental load paths --------------------------------------------------


def _messy_files(base: Path) -> list[Path]:
    """Two event files, an entity file and a label file with every outcome: good rows, row
    and field quarantine, exact and conflicting duplicates within a file and across files,
    device and IP attributes changing over time."""
    rows = _events_with_bad_fields(400)
    for i, row in enumerate(rows):
        row["phone"] = f"+44 7400 {i % 37:06d}" if i % 3 == 0 else ""
        row["email"] = f"User{i % 41}@Example.com" if i % 5 == 0 else ""
        row["os"] = ["android", "ios", ""][i % 3]
        row["is_emulator"] = ["true", "false", ""][i % 4 % 3]
        if i % 9 == 0:
            row.update(event_type="payment", merchant_id=f"M{i % 13}", amount=f"{i % 17}.25")
        if i % 10 == 1:
            row.update(event_type="transfer", counterparty_account_id=f"A{(i + 3) % 500}")
            row["amount"] = f"{i % 23}.5"
    bad = [row for row, _ in BAD_ROWS]
    first = [*GOOD_EVENTS, *rows[:250], *bad, rows[3], dict(rows[4], amount="77")]
    second = [*rows[250:], rows[10], dict(GOOD_EVENTS[2], amount="99"), GOOD_EVENTS[0]]
    entities = [
        {"entity_type": "device", "entity_key": "D7", "os": "linux", "is_emulator": "true"},
        {"entity_type": "ip", "entity_key": "10.1.1.1", "asn": "x"},
        {"entity_type": "account", "entity_key": "ZZ-new", "country": "GB"},
    ]
    labels = [
        {"entity_type": "account", "entity_key": "A7", "label": "fraud", "ts": "2026-03-02"},
        {"entity_type": "device", "entity_key": "nope", "label": "legit", "ts": "2026-03-02"},
        {"entity_type": "account", "entity_key": "A8", "label": "maybe", "ts": "2026-03-02"},
    ]
    return [
        write_rows(base / "a-events.csv", first),
        write_rows(
            base / "b-entities.csv",
            entities,
            ["entity_type", "entity_key", "os", "is_emulator", "asn", "country"],
        ),
        write_rows(base / "c-events.jsonl", second),
        write_rows(base / "d-labels.csv", labels, ["entity_type", "entity_key", "label", "ts"]),
    ]


def _store_state(store: EmbeddedStore) -> dict[str, Any]:
    """Everything a load leaves in a store, ids included (amounts compared apart: the order
    of a floating-point sum is not fixed)."""
    links = store.export_links()
    ledger = store._con.execute(
        "SELECT source, batch_index, rows_read, rows_loaded, rows_quarantined, rows_duplicate, "
        "fields_quarantined, events_file IS NOT NULL FROM ingest_batches "
        "ORDER BY source, batch_index"
    ).fetchall()
    manifests = [
        {k: v for k, v in m.items() if k not in ("seconds", "finished_at", "batches_bulk")}
        for m in store.manifests()
    ]
    return {
        "counts": store.counts(),
        "nodes": store.export_nodes().to_pylist(),
        "links": links.drop_columns(["amount_sum"]).to_pylist(),
        "amounts": [round(a, 9) for a in links.column("amount_sum").to_pylist()],
        "labels": store.labels().drop_columns(["recorded_at"]).to_pylist(),
        "quarantine": store.quarantine().to_pylist(),
        "ledger": ledger,
        "manifests": manifests,
        "event_keys": store._con.execute(
            "SELECT event_id, fingerprint FROM event_keys ORDER BY event_id"
        ).fetchall(),
    }


def _load(base: Path, name: str, paths: list[Path], **kwargs: Any) -> dict[str, Any]:
    with EmbeddedStore(base / name, memory_limit="512MB", threads=2) as store:
        report = ingest(store, base / name, *paths, **kwargs)
        assert report.as_dict()["reconciled"]
        state = _store_state(store)
        state["bulk_batches"] = report.total("batches_bulk")
        return state


def test_bulk_and_incremental_paths_give_identical_stores(tmp_path: Path) -> None:
    """The bulk path (graph built in one set-based pass) leaves exactly the store the
    incremental path does: entity ids and facts, links and aggregates, labels, row and
    field quarantine, ledger and manifests, event keys; and so does a mix of both."""
    paths = _messy_files(tmp_path / "in")
    incremental = _load(tmp_path, "inc", paths, batch_size=37, mode=LoadMode.INCREMENTAL)
    bulk = _load(tmp_path, "bulk", paths, batch_size=37, mode=LoadMode.BULK)
    assert incremental["bulk_batches"] == 0
    assert bulk["bulk_batches"] >= 10
    assert incremental["quarantine"] and incremental["labels"]  # the scenario is messy
    for key in incremental:
        if key != "bulk_batches":
            assert bulk[key] == incremental[key], key
    # Auto with a threshold between file sizes: the big files bulk, the small incremental.
    mixed = _load(tmp_path, "auto", paths, batch_size=37, bulk_min_rows=100)
    assert 0 < mixed["bulk_batches"] < bulk["bulk_batches"]
    # Bulk with a graph build every ~2 batches during the run, not one at its end.
    stepped = _load(
        tmp_path, "stepped", paths, batch_size=37, mode=LoadMode.BULK, bulk_build_rows=70
    )
    assert stepped["bulk_batches"] == bulk["bulk_batches"]
    for other in (mixed, stepped):
        for key in incremental:
            if key != "bulk_batches":
                assert other[key] == incremental[key], key


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=40),
    batch_size=st.integers(min_value=1, max_value=12),
)
def test_bulk_equals_incremental_for_any_mix_of_rows(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]], batch_size: int
) -> None:
    """For any mix of good, bad and repeated rows and any batch size, both paths give the
    same store."""
    base = tmp_path_factory.mktemp("paths")
    path = write_rows(base / "in.csv", rows)
    incremental = _load(base, "inc", [path], batch_size=batch_size, mode=LoadMode.INCREMENTAL)
    bulk = _load(base, "bulk", [path], batch_size=batch_size, mode=LoadMode.BULK)
    for key in incremental:
        if key != "bulk_batches":
            assert bulk[key] == incremental[key], key


def _pending(store: EmbeddedStore) -> int:
    row = store._con.execute("SELECT count(*) FROM ingest_batches WHERE graph_pending").fetchone()
    assert row is not None
    return int(row[0])


def test_auto_mode_takes_the_bulk_path_for_new_events_only(
    embedded_store: EmbeddedStore, tmp_path: Path
) -> None:
    """Auto: a batch of events none of whose ids is stored, from a file of at least
    ``bulk_min_rows`` rows, defers its graph (built at the end of the run); a batch that
    repeats a stored id, or the batches of a smaller file, build their graph at once."""
    rows = _many_events(70)
    fresh = write_rows(tmp_path / "fresh.csv", rows[:45])  # batches of 10, 10, 10, 10, 5
    report = ingest(embedded_store, tmp_path, fresh, batch_size=10, bulk_min_rows=10)
    assert report.total("batches_bulk") == 5  # the short last batch does not switch paths
    assert report.graph_build_seconds > 0
    assert _pending(embedded_store) == 0  # the run built the graph it deferred
    assert embedded_store.counts().nodes[NodeType.ACCOUNT] == 45
    # Batch 0 repeats a stored id (a re-delivery): incremental; batch 1 is all new: bulk.
    overlap = write_rows(tmp_path / "overlap.csv", [rows[0], *rows[45:54], *rows[54:64]])
    report = ingest(embedded_store, tmp_path, overlap, batch_size=10, bulk_min_rows=10)
    assert report.total("batches_bulk") == 1
    assert report.as_dict()["rows_duplicate"] == 1
    # A file under the threshold: incremental even though every id is new.
    small = write_rows(tmp_path / "small.parquet", rows[64:])
    report = ingest(embedded_store, tmp_path, small, batch_size=2, bulk_min_rows=10)
    assert report.total("batches_bulk") == 0
    assert _pending(embedded_store) == 0
    assert embedded_store.counts().nodes[NodeType.ACCOUNT] == 70


def test_killed_bulk_ingest_resumes_and_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL during a bulk load leaves whole batches with their graph pending; the re-run
    finishes the file, builds the graph of every batch, the earlier run's included, and
    equals an uninterrupted incremental run, ids included."""
    source = write_rows(tmp_path / "big.parquet", _events_with_bad_fields(30_000))
    store_dir = tmp_path / "store"
    env = dict(os.environ, FRAUDGRAPH_DUCKDB_THREADS="1")
    cmd = [sys.executable, "-m", "fraudgraph.cli", "ingest", str(source), "--store"]
    cmd += [str(store_dir), "--batch-size", "500", "--load-mode", "bulk", "--json"]
    _kill_after_batches(cmd, env, store_dir, batches=5)
    with EmbeddedStore(store_dir, read_only=True) as partial:  # read-only: no compaction
        committed = partial._con.execute(
            "SELECT count(*), sum(rows_loaded), count(*) FILTER (graph_pending) FROM ingest_batches"
        ).fetchone()
        assert committed is not None
        batches, loaded, pending = committed
        assert 0 < batches < 60 and loaded == 500 * batches and pending == batches
        assert partial._con.execute("SELECT count(*) FROM entities").fetchone() == (0,)
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    summary = json.loads(resumed.stdout)
    manifest = summary["manifests"][0]
    assert manifest["batches_resumed"] == batches
    assert manifest["batches_bulk"] == 60 - batches
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_duplicate"]) == (
        30_000,
        30_000,
        0,
    )
    with EmbeddedStore(tmp_path / "clean") as clean:
        ingest(clean, tmp_path, source, batch_size=500, mode=LoadMode.INCREMENTAL)
        expected = _store_state(clean)
    with EmbeddedStore(store_dir) as recovered:
        state = _store_state(recovered)
    for key in expected:
        if key != "manifests":  # the resumed one counts batches_resumed
            assert state[key] == expected[key], key


def _kill_after_batches(cmd: list[str], env: dict[str, str], store_dir: Path, batches: int) -> None:
    """Run an ingest and SIGKILL it once ``batches`` event files are committed."""
    with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 120
        events_dir = store_dir / "events"
        while time.monotonic() < deadline:
            if events_dir.exists() and len(list(events_dir.glob("*.parquet"))) >= batches:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
