"""Streaming readers: fixed batch boundaries, row numbering, bad rows kept, format checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_service import InvalidInput
from ingestion.errors import TruncatedFile
from ingestion.readers import (
    FileFormat,
    discover,
    file_checksum,
    format_of,
    read_chunks,
    read_columns,
)
from ingestion.schema import FileKind, detect_kind, fold_column, resolve_columns
from tests.conftest import write_rows

ROWS = [
    {"event_id": f"e{i}", "ts": "2026-01-01", "event_type": "login", "account_id": "A"}
    for i in range(10)
]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_chunks_have_fixed_size_and_consecutive_row_numbers(tmp_path: Path, suffix: str) -> None:
    """Every format yields batch_size rows per chunk, numbered 1..n across chunks."""
    path = write_rows(tmp_path / f"e{suffix}", ROWS)
    chunks = list(read_chunks(path, format_of(path), batch_size=4))
    assert [c.rows_read for c in chunks] == [4, 4, 2]
    numbers = [n for c in chunks for n in c.row_numbers.to_pylist()]
    assert numbers == list(range(1, 11))


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(min_value=1, max_value=12), bad_at=st.sets(st.integers(1, 10), max_size=4))
def test_csv_bad_rows_keep_their_numbers(
    tmp_path_factory: pytest.TempPathFactory, batch: int, bad_at: set[int]
) -> None:
    """Unparseable CSV lines are reported with their row number; the rest stay numbered."""
    path = tmp_path_factory.mktemp("csv") / "e.csv"
    lines = ["event_id,ts,event_type,account_id"]
    for i in range(1, 11):
        lines.append(f"e{i},x" if i in bad_at else f"e{i},2026-01-01,login,A")
    path.write_text("\n".join(lines) + "\n")
    chunks = list(read_chunks(path, FileFormat.CSV, batch_size=batch))
    good = [n for c in chunks for n in c.row_numbers.to_pylist()]
    bad = sorted(b.row_number for c in chunks for b in c.bad_rows)
    assert bad == sorted(bad_at)
    assert good == [i for i in range(1, 11) if i not in bad_at]
    assert sum(c.rows_read for c in chunks) == 10
    assert all(c.table.num_rows <= batch for c in chunks)


def test_jsonl_mixed_types_and_bad_lines(tmp_path: Path) -> None:
    """JSONL with a number in one line and text in another parses; non-JSON lines are kept."""
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"event_id": "a", "amount": 5}\n{"event_id": "b", "amount": "five"}\nnot json\n\n'
        '["array"]\n{"event_id": "c", "amount": 2.5}\n'
    )
    (chunk,) = list(read_chunks(path, FileFormat.JSONL, batch_size=100))
    assert chunk.table.column("event_id").to_pylist() == ["a", "b", "c"]
    assert chunk.table.column("amount").to_pylist() == ["5", "five", "2.5"]
    assert [(b.row_number, b.reason) for b in chunk.bad_rows] == [
        (3, "malformed_row"),
        (5, "malformed_row"),
    ]
    assert chunk.row_numbers.to_pylist() == [1, 2, 6]


def test_discover_expands_directories_and_rejects_missing_paths(tmp_path: Path) -> None:
    """Directories expand to their input files in sorted order, other files are listed as
    skipped with the reason, hidden ones are not looked at; a missing path is an error."""
    write_rows(tmp_path / "d" / "b.csv", ROWS)
    write_rows(tmp_path / "d" / "a.parquet", ROWS)
    (tmp_path / "d" / "notes.txt").write_text("ignored")
    (tmp_path / "d" / ".git").mkdir()
    (tmp_path / "d" / ".git" / "HEAD").write_text("ref")
    named = write_rows(tmp_path / "c.jsonl", ROWS)
    found = discover([tmp_path / "d", named])
    assert [p.name for p in found.files] == ["a.parquet", "b.csv", "c.jsonl"]
    assert found.named == frozenset({named})
    assert [(p.name, why) for p, why in found.skipped] == [
        ("notes.txt", "unknown file type '.txt'")
    ]
    with pytest.raises(InvalidInput, match="no such file"):
        discover([tmp_path / "missing.csv"])


def test_json_array_is_read_element_by_element(tmp_path: Path) -> None:
    """A .json file holding one array of objects reads like JSON lines: values as text,
    elements numbered from 1, non-objects kept as bad rows, fixed batch boundaries."""
    path = tmp_path / "e.json"
    path.write_text(
        json.dumps([{"event_id": "a", "amount": 5}, 7, {"event_id": "b", "tags": [1]}], indent=2)
    )
    assert format_of(path) is FileFormat.JSON
    chunks = list(read_chunks(path, FileFormat.JSON, batch_size=2))
    assert [c.rows_read for c in chunks] == [2, 1]
    assert chunks[0].table.to_pylist() == [{"event_id": "a", "amount": "5"}]
    assert [(b.row_number, b.raw) for b in chunks[0].bad_rows] == [(2, "7")]
    assert chunks[1].table.to_pylist() == [{"event_id": "b", "tags": "[1]"}]
    assert chunks[1].row_numbers.to_pylist() == [3]


def test_damaged_json_array_is_a_truncated_file(tmp_path: Path) -> None:
    """An array cut short yields the whole elements before the damage, then TruncatedFile."""
    path = tmp_path / "e.json"
    path.write_text('[{"event_id": "a"}, {"event_id": "b"}, {"event_id": ')
    read: list[str] = []
    with pytest.raises(TruncatedFile, match="damaged after element 2"):
        for chunk in read_chunks(path, FileFormat.JSON, batch_size=1):
            read.extend(chunk.table.column("event_id").to_pylist())
    assert read == ["a", "b"]


def test_json_object_file_is_neither_lines_nor_array(tmp_path: Path) -> None:
    """A .json metadata file (one pretty-printed object) is refused with the reason."""
    path = tmp_path / "meta.json"
    path.write_text('{\n  "generated": "2026-01-01"\n}\n')
    assert format_of(path) is FileFormat.JSONL
    with pytest.raises(InvalidInput, match="JSON lines or one JSON array of objects"):
        read_columns(path, FileFormat.JSONL)


def test_checksum_depends_on_bytes_only(tmp_path: Path) -> None:
    """The ledger key is the content hash: same bytes under another name, same checksum."""
    a = write_rows(tmp_path / "a.csv", ROWS)
    b = tmp_path / "b.csv"
    b.write_bytes(a.read_bytes())
    assert file_checksum(a) == file_checksum(b)
    b.write_bytes(a.read_bytes() + b"e99,2026-01-01,login,A\n")
    assert file_checksum(a) != file_checksum(b)


def test_kind_detection_from_columns() -> None:
    """Events, labels and entity files are told apart by their (folded, aliased) columns;
    a ground-truth file is none of them."""
    assert detect_kind(["event_id", "ts", "event_type", "account_id"]) is FileKind.EVENTS
    assert detect_kind(["eventId", "Timestamp", "Type", "acct_id"]) is FileKind.EVENTS
    assert detect_kind(["entity_type", "entity_key", "label", "source", "ts"]) is FileKind.LABELS
    assert detect_kind(["account_id", "label", "ts"]) is FileKind.LABELS
    assert detect_kind(["Account Number", "is_fraud", "reported_at"]) is FileKind.LABELS
    assert detect_kind(["Entity_Type", "entity_key", "is_proxy"]) is FileKind.ENTITIES
    with pytest.raises(ValueError, match="cannot tell the kind"):
        detect_kind(["a", "b"])
    with pytest.raises(ValueError, match="cannot tell the kind"):
        detect_kind(["ring_id", "typology", "account_id"])


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("eventId", "event_id"),
        ("EventID", "event_id"),
        ("Event ID", "event_id"),
        ("event-id", "event_id"),
        ("EVENT_ID", "event_id"),
        ("IPAddress", "ip_address"),
        ("isEmulator", "is_emulator"),
        ("e-mail", "e_mail"),
        ("\ufeffts ", "ts"),
    ],
)
def test_column_names_fold(name: str, folded: str) -> None:
    """camelCase, spaces, dashes and case fold to one snake_case name."""
    assert fold_column(name) == folded


def test_column_resolution_prefers_canonical_names_and_reports_the_rest() -> None:
    """An exact canonical name beats a folded one, which beats an alias; the losers and
    the columns of no field are reported with the reason."""
    mapping = resolve_columns(
        ["ip_address", "IP", "ip", "Event ID", "event_id", "colour", "ts", "type", "acct"],
        FileKind.EVENTS,
    )
    assert dict(mapping.fields) == {
        "event_id": "event_id",
        "ts": "ts",
        "event_type": "type",
        "account_id": "acct",
        "ip": "ip",
    }
    assert [(i.column, i.reason) for i in mapping.ignored] == [
        ("ip_address", "ip is read from 'ip'"),
        ("IP", "ip is read from 'ip'"),
        ("Event ID", "event_id is read from 'event_id'"),
        ("colour", "matches no field"),
    ]
    assert mapping.renamed == {"type": "event_type", "acct": "account_id"}
    assert mapping.missing() == []
