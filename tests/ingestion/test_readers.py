"""Streaming readers: fixed batch boundaries, row numbering, bad rows kept, format checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_service import InvalidInput
from ingestion.readers import FileFormat, discover, file_checksum, format_of, read_chunks
from ingestion.schema import FileKind, detect_kind
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
    """Directories expand to their input files in sorted order; a missing path is an error."""
    write_rows(tmp_path / "d" / "b.csv", ROWS)
    write_rows(tmp_path / "d" / "a.parquet", ROWS)
    (tmp_path / "d" / "notes.txt").write_text("ignored")
    assert [p.name for p in discover([tmp_path / "d"])] == ["a.parquet", "b.csv"]
    with pytest.raises(InvalidInput, match="no such file"):
        discover([tmp_path / "missing.csv"])


def test_checksum_depends_on_bytes_only(tmp_path: Path) -> None:
    """The ledger key is the content hash: same bytes under another name, same checksum."""
    a = write_rows(tmp_path / "a.csv", ROWS)
    b = tmp_path / "b.csv"
    b.write_bytes(a.read_bytes())
    assert file_checksum(a) == file_checksum(b)
    b.write_bytes(a.read_bytes() + b"e99,2026-01-01,login,A\n")
    assert file_checksum(a) != file_checksum(b)


def test_kind_detection_from_columns() -> None:
    """Events, labels and entity files are told apart by their columns."""
    assert detect_kind(["event_id", "ts", "event_type", "account_id"]) is FileKind.EVENTS
    assert detect_kind(["entity_type", "entity_key", "label", "source", "ts"]) is FileKind.LABELS
    assert detect_kind(["Entity_Type", "entity_key", "is_proxy"]) is FileKind.ENTITIES
    with pytest.raises(ValueError, match="cannot tell the kind"):
        detect_kind(["a", "b"])
