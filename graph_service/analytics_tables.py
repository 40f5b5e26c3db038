"""Versioned analytics tables: the checks and encodings both backends share.

Analytics jobs (ring detection, flagged clusters, super-node lists) keep their outputs in
the store as *named, versioned Arrow tables* next to the graph, so that queries, the API
and the next run read them from one place. ``GraphStore.write_table`` stores one version
of a table atomically; ``read_table`` returns the latest version (or a named one) with the
exact Arrow schema it was written with; ``table_versions`` lists the versions, oldest
first. This module holds the rules both backends apply before writing:

* table and column names are lower-case identifiers (``^[a-z][a-z0-9_]{0,62}$``), so they
  are safe as DuckDB table names and as Neo4j property keys; names starting with ``_`` are
  reserved for the store's own bookkeeping;
* versions are short printable tokens (letters, digits and ``._:+-``), e.g. an ISO
  timestamp or ``run-42``;
* columns are numbers, booleans, strings, timestamps/dates, or lists and structs of those;
  dictionary columns are stored decoded.

The schema of each version is kept as text (:func:`schema_to_text`), so a read gives back
the same types on both backends whatever each engine stores natively.
"""

from __future__ import annotations

import base64
import re
from typing import Final

import pyarrow as pa

from graph_service.errors import EntityNotFound, InvalidInput

#: What a table name or column name may look like.
ANALYTICS_NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

#: What a version string may look like.
ANALYTICS_VERSION_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")


def check_table_name(name: str) -> str:
    """Return ``name`` if it is a valid analytics table name.

    Parameters
    ----------
    name : str
        The table name, e.g. ``"rings"``.

    Returns
    -------
    str
        ``name`` unchanged.

    Raises
    ------
    InvalidInput
        If ``name`` is not a lower-case identifier of at most 63 characters.

    Examples
    --------
    >>> check_table_name("ring_members")
    'ring_members'
    """
    if not isinstance(name, str) or not ANALYTICS_NAME_PATTERN.match(name):
        raise InvalidInput(
            f"analytics table name {name!r} is not valid: use lower-case letters, digits "
            "and '_', starting with a letter (at most 63 characters)"
        )
    return name


def check_version(version: str) -> str:
    """Return ``version`` if it is a valid analytics table version.

    Parameters
    ----------
    version : str
        The version, e.g. ``"2026-11-29T20:00:00Z"`` or ``"run-7"``.

    Returns
    -------
    str
        ``version`` unchanged.

    Raises
    ------
    InvalidInput
        If ``version`` is empty, longer than 128 characters or has characters other than
        letters, digits and ``._:+-``.
    """
    if not isinstance(version, str) or not ANALYTICS_VERSION_PATTERN.match(version):
        raise InvalidInput(
            f"analytics table version {version!r} is not valid: use 1-128 letters, digits "
            "and '._:+-', starting with a letter or digit"
        )
    return version


def prepare_table(table: pa.Table) -> pa.Table:
    """Check an analytics table's columns and decode its dictionary columns.

    Parameters
    ----------
    table : pa.Table
        The table to store.

    Returns
    -------
    pa.Table
        The same data, with dictionary-encoded columns decoded to their value type.

    Raises
    ------
    InvalidInput
        If ``table`` is not an Arrow table, a column name is not a lower-case identifier
        or repeats, or a column has a type the stores do not keep (binary, null,
        decimal, map, union, ...).

    Notes
    -----
    O(columns) checks; decoding is O(rows) for each dictionary column.
    """
    if not isinstance(table, pa.Table):
        raise InvalidInput(f"an analytics table must be a pyarrow.Table, got {type(table)!r}")
    seen: set[str] = set()
    for name in table.column_names:
        if not ANALYTICS_NAME_PATTERN.match(name):
            raise InvalidInput(
                f"column name {name!r} is not valid: use lower-case letters, digits and "
                "'_', starting with a letter"
            )
        if name in seen:
            raise InvalidInput(f"column {name!r} appears twice")
        seen.add(name)
    columns = []
    fields = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_dictionary(field.type):
            column = column.cast(field.type.value_type)
            field = field.with_type(field.type.value_type)
        _check_type(field.name, field.type)
        columns.append(column)
        fields.append(field)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def _check_type(column: str, data_type: pa.DataType) -> None:
    if (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_boolean(data_type)
        or pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_timestamp(data_type)
        or pa.types.is_date(data_type)
    ):
        return
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        _check_type(column, data_type.value_type)
        return
    if pa.types.is_struct(data_type):
        for i in range(data_type.num_fields):
            _check_type(column, data_type.field(i).type)
        return
    raise InvalidInput(
        f"column {column!r} has type {data_type}, which analytics tables do not keep "
        "(use numbers, booleans, strings, timestamps, dates, or lists/structs of those)"
    )


def schema_to_text(schema: pa.Schema) -> str:
    """The schema as printable text (base64 of its Arrow IPC form), for catalogs.

    Parameters
    ----------
    schema : pa.Schema

    Returns
    -------
    str
        Text that :func:`schema_from_text` turns back into an equal schema.
    """
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def schema_from_text(text: str) -> pa.Schema:
    """The schema that :func:`schema_to_text` encoded.

    Parameters
    ----------
    text : str

    Returns
    -------
    pa.Schema
    """
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def no_such_table(name: str) -> EntityNotFound:
    """The error for a table name with no stored version."""
    return EntityNotFound(f"no analytics table {name!r} in the store")


def no_such_version(name: str, version: str, known: list[str]) -> EntityNotFound:
    """The error for a version the table does not have (lists the latest few known)."""
    latest = ", ".join(repr(v) for v in known[-5:]) or "none"
    return EntityNotFound(
        f"analytics table {name!r} has no version {version!r} (latest versions: {latest})"
    )
