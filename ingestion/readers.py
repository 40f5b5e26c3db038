"""Streaming readers for Parquet, CSV, JSON lines and JSON-array input, in record batches.

Readers never hold a whole file in memory: they yield :class:`RawChunk` objects of at most
``batch_size`` rows, numbered from the start of the file, so a batch boundary is the same
on every run (which is what lets an interrupted ingestion resume by batch index).

Rows a reader cannot parse at all (a CSV line with the wrong number of fields, a JSONL line
that is not a JSON object, the torn last line of a truncated file) are handed on as
:class:`BadRow` objects with their raw text, to be quarantined, never dropped.

A ``.json`` file is read as one JSON array of objects when its first non-blank character
is ``[``, and as JSON lines otherwise. An array is parsed element by element (a Python
JSON decode per element, so it is slower than the other formats: prefer JSON lines or
Parquet for large inputs), without holding the file in memory.

:func:`discover` expands directories into the files to read and the files it leaves out
(with the reason), so that a directory of mixed content can be ingested in part.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from graph_service.errors import InvalidInput
from ingestion.errors import TruncatedFile
from ingestion.json_array import NULL, ArrayElements

_PARQUET_MAGIC = b"PAR1"


class FileFormat(StrEnum):
    """Input formats understood by the readers."""

    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"
    JSON = "json"


_SUFFIXES: dict[str, FileFormat] = {
    ".parquet": FileFormat.PARQUET,
    ".pq": FileFormat.PARQUET,
    ".csv": FileFormat.CSV,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".json": FileFormat.JSONL,
}


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be parsed; kept for quarantine with its raw text."""

    row_number: int
    reason: str
    detail: str
    raw: str


@dataclass(slots=True)
class RawChunk:
    """Up to ``batch_size`` consecutive input rows, as read (no validation yet).

    Attributes
    ----------
    table : pa.Table
        Parsed rows; column types are whatever the file had (CSV: all strings).
    row_numbers : pa.Array
        1-based row number of each parsed row within the file (int64).
    bad_rows : list of BadRow
        Rows in this chunk's range that could not be parsed.
    """

    table: pa.Table
    row_numbers: pa.Array
    bad_rows: list[BadRow] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Parsed plus unparseable rows."""
        return int(self.table.num_rows) + len(self.bad_rows)


def format_of(path: Path, declared: FileFormat | None = None) -> FileFormat:
    """The declared format, or the one the file's suffix names.

    A ``.json`` file is a JSON array when its first non-blank byte is ``[``, JSON lines
    otherwise.

    Raises
    ------
    InvalidInput
        If no format is declared and the suffix is not a known one.
    """
    if declared is not None:
        return declared
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"{path}: unknown file type {path.suffix!r}; use .parquet, .csv, .jsonl or .json "
            "or pass --format"
        )
    if path.suffix.lower() == ".json" and _first_byte(path) == b"[":
        return FileFormat.JSON
    return fmt


def _first_byte(path: Path) -> bytes:
    """The first byte that is not whitespace (or a byte-order mark), or ``b""``."""
    with path.open("rb") as fh:
        while block := fh.read(4096):
            stripped = block.lstrip(b" \t\r\n\xef\xbb\xbf")
            if stripped:
                return stripped[:1]
    return b""


@dataclass(frozen=True, slots=True)
class Discovered:
    """What a list of paths expands to.

    Attributes
    ----------
    files : list of Path
        Every file to try, in order: named files as given, directories' files sorted.
    named : frozenset of Path
        The files named explicitly (a file that cannot be read is an error for these, a
        skipped file for the others).
    skipped : list of (Path, str)
        Files inside directories that are not read at all, with the reason (an unknown
        file type).
    """

    files: list[Path]
    named: frozenset[Path]
    skipped: list[tuple[Path, str]]


def discover(paths: list[Path]) -> Discovered:
    """Expand directories into their files (sorted), keep files as given.

    Inside a directory, hidden files and directories (names starting with ``.``) are not
    looked at; a file with an unknown suffix is skipped with the reason.

    Parameters
    ----------
    paths : list of Path
        Files and directories, in the order to ingest them.

    Returns
    -------
    Discovered
        The files to try, which of them were named, and the files skipped.

    Raises
    ------
    InvalidInput
        If a path does not exist.

    Notes
    -----
    O(entries under the directories).
    """
    files: list[Path] = []
    named: set[Path] = set()
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in found.relative_to(path).parts)
                if hidden or not found.is_file():
                    continue
                if found.suffix.lower() in _SUFFIXES:
                    files.append(found)
                else:
                    skipped.append((found, f"unknown file type {found.suffix or '(none)'!r}"))
        elif path.is_file():
            files.append(path)
            named.add(path)
        else:
            raise InvalidInput(f"{path}: no such file or directory")
    return Discovered(files, frozenset(named), skipped)


def file_checksum(path: Path) -> str:
    """SHA-256 of the file's bytes (the ledger key: same bytes, same source).

    Notes
    -----
    O(file size), streamed in 8 MiB blocks.
    """
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_columns(path: Path, fmt: FileFormat) -> list[str]:
    """The column names of a file, read from its header / schema / first record.

    Raises
    ------
    InvalidInput
        If the file is not of the declared format.
    """
    if fmt is FileFormat.PARQUET:
        return list(_open_parquet(path).schema_arrow.names)
    if fmt is FileFormat.CSV:
        return _csv_header(path)
    if fmt is FileFormat.JSON:
        return list(_first_array_object(path).keys())
    return list(_first_json_object(path).keys())


def read_chunks(path: Path, fmt: FileFormat, batch_size: int) -> Iterator[RawChunk]:
    """Stream the file as chunks of at most ``batch_size`` rows.

    Raises
    ------
    InvalidInput
        If the file is not of the declared format (one-line message).
    """
    if fmt is FileFormat.PARQUET:
        yield from _parquet_chunks(path, batch_size)
    elif fmt is FileFormat.CSV:
        yield from _csv_chunks(path, batch_size)
    elif fmt is FileFormat.JSON:
        yield from _json_array_chunks(path, batch_size)
    else:
        yield from _jsonl_chunks(path, batch_size)


# -- parquet ---------------------------------------------------------------------------


def _open_parquet(path: Path) -> pq.ParquetFile:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head != _PARQUET_MAGIC:
        raise InvalidInput(f"{path}: not a Parquet file (it does not start with the PAR1 magic)")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TruncatedFile(
            f"{path}: Parquet file is truncated or damaged ({str(exc).splitlines()[0]})"
        ) from exc


def _parquet_chunks(path: Path, batch_size: int) -> Iterator[RawChunk]:
    parquet = _open_parquet(path)
    start = 1
    try:
        for batch in parquet.iter_batches(batch_size=batch_size):
            table = pa.Table.from_batches([batch])
            yield RawChunk(table, pa.array(range(start, start + table.num_rows), pa.int64()))
            start += table.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise TruncatedFile(
            f"{path}: Parquet data is damaged after row {start - 1} ({str(exc).splitlines()[0]})"
        ) from exc


# -- csv -------------------------------------------------------------------------------


def _looks_binary(sample: bytes) -> bool:
    return b"\x00" in sample or sample.startswith(_PARQUET_MAGIC)


def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as fh:
        sample = fh.read(64 << 10)
    if _looks_binary(sample):
        raise InvalidInput(f"{path}: not a CSV text file (binary content)")
    try:
        first = sample.split(b"\n", 1)[0].decode("utf-8").strip("\r\ufeff")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not a UTF-8 CSV file") from exc
    if not first:
        raise InvalidInput(f"{path}: empty CSV file (no header line)")
    return [c.strip() for c in next(csv.reader([first]))]


def _csv_chunks(path: Path, batch_size: int) -> Iterator[RawChunk]:
    header = _csv_header(path)
    bad: list[BadRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        # Row numbers count the header as line 1; data rows start at 1 like other formats.
        number = (row.number - 1) if row.number is not None else -1
        bad.append(
            BadRow(
                row_number=number,
                reason="malformed_row",
                detail=f"expected {row.expected_columns} fields, got {row.actual_columns}",
                raw=row.text,
            )
        )
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=8 << 20, use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,
        ),
    )
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    next_row = 1
    try:
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= batch_size:
                table = pa.Table.from_batches(pending).combine_chunks()
                head, rest = table.slice(0, batch_size), table.slice(batch_size)
                chunk, next_row = _number_rows(head, next_row, bad)
                yield chunk
                pending = rest.to_batches()
                pending_rows = rest.num_rows
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})") from exc
    if pending_rows or bad:
        table = (
            pa.Table.from_batches(pending)
            if pending
            else pa.table({n: pa.array([], pa.string()) for n in header})
        )
        chunk, _ = _number_rows(table, next_row, bad)
        chunk.bad_rows.extend(bad)
        bad.clear()
        yield chunk


def _number_rows(table: pa.Table, next_row: int, bad: list[BadRow]) -> tuple[RawChunk, int]:
    """Number the rows of ``table``, skipping the row numbers taken by bad rows."""
    taken = sorted(b.row_number for b in bad if b.row_number >= next_row)
    numbers: list[int] = []
    row = next_row
    ti = 0
    while len(numbers) < table.num_rows:
        if ti < len(taken) and taken[ti] == row:
            ti += 1
        else:
            numbers.append(row)
        row += 1
    owned = [b for b in bad if b.row_number < row]
    for b in owned:
        bad.remove(b)
    return RawChunk(table, pa.array(numbers, pa.int64()), owned), row


# -- jsonl -----------------------------------------------------------------------------


def _first_json_object(path: Path) -> dict[str, object]:
    with path.open("rb") as fh:
        sample = fh.read(64 << 10)
        if _looks_binary(sample):
            raise InvalidInput(f"{path}: not a JSONL text file (binary content)")
        fh.seek(0)
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InvalidInput(
                    f"{path}: not a JSONL file (first line is not JSON: {exc}){_hint(path)}"
                ) from exc
            if not isinstance(obj, dict):
                raise InvalidInput(
                    f"{path}: not a JSONL file (first line is not a JSON object){_hint(path)}"
                )
            return obj
    raise InvalidInput(f"{path}: empty JSONL file")


def _jsonl_chunks(path: Path, batch_size: int) -> Iterator[RawChunk]:
    _first_json_object(path)
    lines: list[bytes] = []
    numbers: list[int] = []
    number = 0
    with path.open("rb") as fh:
        for raw in fh:
            number += 1
            if not raw.strip():
                continue
            lines.append(raw if raw.endswith(b"\n") else raw + b"\n")
            numbers.append(number)
            if len(lines) >= batch_size:
                yield _parse_json_lines(lines, numbers)
                lines, numbers = [], []
    if lines:
        yield _parse_json_lines(lines, numbers)


def _parse_json_lines(lines: list[bytes], numbers: list[int]) -> RawChunk:
    """Parse lines with Arrow; if any line is bad, find it and keep the rest."""
    try:
        table = _read_json_bytes(b"".join(lines))
        if table.num_rows == len(lines):
            return RawChunk(table, pa.array(numbers, pa.int64()))
    except pa.ArrowInvalid:
        pass
    good: list[bytes] = []
    good_numbers: list[int] = []
    bad: list[BadRow] = []
    for line, n in zip(lines, numbers, strict=True):
        text = line.decode("utf-8", errors="replace").rstrip("\n")
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            bad.append(BadRow(n, "malformed_row", f"not valid JSON: {exc.args[0]}", text))
            continue
        if not isinstance(obj, dict):
            bad.append(BadRow(n, "malformed_row", "line is not a JSON object", text))
            continue
        # Values are re-serialised as strings where Arrow would see mixed types.
        good.append(json.dumps({k: _jsonable(v) for k, v in obj.items()}).encode() + b"\n")
        good_numbers.append(n)
    table = _read_json_bytes(b"".join(good)) if good else pa.table({})
    return RawChunk(table, pa.array(good_numbers, pa.int64()), bad)


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _hint(path: Path) -> str:
    if path.suffix.lower() != ".json":
        return ""
    return "; a .json file must hold JSON lines or one JSON array of objects"


def _read_json_bytes(data: bytes) -> pa.Table:
    return pajson.read_json(
        io.BytesIO(data),
        read_options=pajson.ReadOptions(block_size=max(1 << 20, len(data) + 1)),
        parse_options=pajson.ParseOptions(newlines_in_values=False),
    )


def _first_array_object(path: Path) -> dict[str, object]:
    elements = ArrayElements(path)
    try:
        first = elements.next()
    finally:
        elements.close()
    if first is None:
        raise InvalidInput(f"{path}: empty JSON array")
    if not isinstance(first, dict):
        raise InvalidInput(f"{path}: not a JSON array of objects (the first element is not one)")
    return first


def _json_array_chunks(path: Path, batch_size: int) -> Iterator[RawChunk]:
    _first_array_object(path)
    elements = ArrayElements(path)
    lines: list[bytes] = []
    numbers: list[int] = []
    bad: list[BadRow] = []
    try:
        while (element := elements.next()) is not None:
            if isinstance(element, dict):
                record = {k: _jsonable(v) for k, v in element.items()}
                lines.append(json.dumps(record).encode() + b"\n")
                numbers.append(elements.index)
            else:
                raw = "null" if element is NULL else json.dumps(element)
                bad.append(
                    BadRow(elements.index, "malformed_row", "element is not a JSON object", raw)
                )
            if len(lines) + len(bad) >= batch_size:
                yield _array_chunk(lines, numbers, bad)
                lines, numbers, bad = [], [], []
    finally:
        elements.close()
    if lines or bad:
        yield _array_chunk(lines, numbers, bad)


def _array_chunk(lines: list[bytes], numbers: list[int], bad: list[BadRow]) -> RawChunk:
    table = _read_json_bytes(b"".join(lines)) if lines else pa.table({})
    return RawChunk(table, pa.array(numbers, pa.int64()), list(bad))
