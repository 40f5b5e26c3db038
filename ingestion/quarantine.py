"""Quarantine rows: how a rejected row or a rejected field is recorded, with its reason,
its input column and its original value, so that nothing is ever dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from graph_service.store import QUARANTINE_SCHEMA, QuarantineLevel
from ingestion.schema import ColumnMapping

#: Label-file columns that stand for a canonical field when it is absent.
STANDS_FOR: Final = {"entity_key": "account_id", "label": "is_fraud"}


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """Rows whose ``field`` could not be loaded, and why (one reason, or one per row)."""

    field: str
    reason: str | pa.Array
    rows: pa.Array


def quarantine_rows(
    source: str, path: str, rows: pa.Table, reason: str, detail: str | None
) -> pa.Table:
    """Row-level quarantine rows for clean rows rejected later (conflicting duplicates).

    ``raw`` holds the normalised row as JSON (the original is no longer at hand).
    """
    records = [
        {
            "source": source,
            "path": path,
            "row_number": int(r.pop("row_number")),
            "reason": reason,
            "detail": detail,
            "raw": json.dumps(r, default=str, sort_keys=True),
            "level": QuarantineLevel.ROW.value,
        }
        for r in rows.to_pylist()
    ]
    return pa.Table.from_pylist(records, QUARANTINE_SCHEMA)


def input_columns(mapping: ColumnMapping) -> dict[str, str]:
    """Field -> input column, with a label file's substitutes standing for their fields."""
    columns = dict(mapping.fields)
    for canonical, substitute in STANDS_FOR.items():
        if canonical not in columns and substitute in columns:
            columns[canonical] = columns[substitute]
    return columns


def quarantine_row(
    source: str,
    path: str,
    row_number: int,
    reason: str,
    original: dict[str, Any],
    input_columns: Mapping[str, str],
) -> dict[str, Any]:
    code, _, name = reason.partition(":")
    column = input_columns.get(name) if name else None
    value = original.get(column) if column else None
    if not column:
        detail: str | None = name or None
    elif code == "missing_field":
        detail = column
    else:
        detail = f"{column}={value!r}"
    return {
        "source": source,
        "path": path,
        "row_number": row_number,
        "reason": code,
        "detail": detail,
        "raw": json.dumps(original, default=str, sort_keys=True),
        "level": QuarantineLevel.ROW.value,
        "field": name or None,
        "input_column": column,
        "input_value": None if value is None else str(value),
    }


def field_rejects(
    problems: list[FieldProblem],
    keep: pa.Array,
    row_numbers: pa.Array,
    columns: Mapping[str, pa.Array],
    input_columns: Mapping[str, str],
    *,
    source: str,
    path: str,
) -> pa.Table:
    """Field-level quarantine rows for the loaded rows' rejected fields.

    Notes
    -----
    O(rows) per field, in Arrow kernels: no Python per quarantined field.
    """
    pieces: list[pa.Table] = []
    for problem in problems:
        rows = pc.indices_nonzero(pc.and_(pc.fill_null(problem.rows, False), keep))
        count = len(rows)
        if count == 0:
            continue
        column = input_columns[problem.field]
        value = pc.take(as_text(columns[problem.field]), rows)
        reason = (
            pa.repeat(problem.reason, count)
            if isinstance(problem.reason, str)
            else pc.take(problem.reason, rows)
        )
        detail = pc.binary_join_element_wise(
            pa.scalar(f"{column}='"), value, pa.scalar("'"), pa.scalar("")
        )

        def constant(text: str, n: int = count) -> pa.Array:
            return pa.repeat(pa.scalar(text, pa.string()), n)

        pieces.append(
            pa.Table.from_arrays(
                [
                    constant(source),
                    constant(path),
                    pc.take(row_numbers, rows),
                    reason.cast(pa.string()),
                    detail,
                    pa.nulls(count, pa.string()),
                    constant(QuarantineLevel.FIELD.value),
                    constant(problem.field),
                    constant(column),
                    value,
                ],
                schema=QUARANTINE_SCHEMA,
            )
        )
    if not pieces:
        return QUARANTINE_SCHEMA.empty_table()
    return pa.concat_tables(pieces)


def as_text(column: pa.Array) -> pa.Array:
    """A column's values as the text to report (JSON for nested values)."""
    if pa.types.is_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        # Lists and structs have no cast to text; quarantine keeps their JSON.
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()],
            pa.string(),
        )
