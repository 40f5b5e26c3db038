"""Row validation and normalisation: raw chunks in, clean rows and quarantine rows out.

Every input row ends in exactly one of two places: the clean table (normalised, typed to
the canonical schema) or the quarantine (``graph_service.store.QUARANTINE_SCHEMA``, with
``level = 'row'``, the original row as JSON in ``raw`` and a machine-readable ``reason``).

A row is quarantined whole only when it cannot be loaded at all: a field the event cannot
exist without is missing or malformed. A malformed *optional* field does not cost the row:
the row loads without that field (null) and the field alone goes to quarantine, with
``level = 'field'``, the same reason code, the canonical ``field``, the ``input_column``
it came from and the original ``input_value``. A row can leave several fields behind.
Field quarantine is not a row outcome: ``rows_read = rows_loaded + rows_quarantined +
rows_duplicate`` still holds, and the manifest counts ``fields_quarantined`` beside it.

========================= ===== ===========================================================
reason                    level meaning (``detail`` names the column and the value)
========================= ===== ===========================================================
malformed_row             row   the reader could not parse the row (wrong field count, not
                                JSON, torn last line of a truncated file)
truncated_file            row   the rest of a damaged file could not be read
missing_field             row   a required column is empty: ``event_id, ts, event_type,
                                account_id``; ``merchant_id``/``amount`` of a payment,
                                ``counterparty_account_id``/``amount`` of a transfer;
                                ``entity_type``/``entity_key``/``label``/``ts`` of a label
unknown_event_type        row   ``event_type`` names no event type (after synonyms)
bad_timestamp             row   ``ts`` is not a timestamp in an accepted form
bad_amount                row   a payment's or transfer's ``amount`` is not a finite number
                          field the same for any other event (the event loads without it)
negative_amount           row   a payment's or transfer's ``amount`` < 0
                          field the same for any other event
self_transfer             row   a transfer to the same account
unknown_entity_type       row   labels and entity files: ``entity_type`` is not a node type
bad_value                 row   labels and entity files: the ``entity_key`` is not valid for
                                its type (an IP, phone or email key)
unknown_label             row   the label (or ``is_fraud``) is not fraud/legit
conflicting_duplicate     row   an event id seen before with different content
bad_type                  field a flag or number column holds something else (``asn=abc``,
                                ``is_rooted=maybe``)
bad_value                 field a code column is malformed (``country``, ``currency``)
invalid_ip                field not an IPv4/IPv6 address
invalid_phone             field not a valid phone number (national numbers are read in
                                the row's country, else the default region)
invalid_email             field not an email address
========================= ===== ===========================================================

Entity-attribute files follow the same rule for their attribute columns. Identifier keys
(``device_id``, ``card_id``, ``merchant_id``...) are never invalid: any non-blank text is a
key. Parsing runs in Arrow kernels (``ingestion.normalise``) and, for the row-level rules,
one DuckDB query per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.model import NodeType
from graph_service.store import QUARANTINE_SCHEMA, QuarantineLevel
from ingestion import normalise as norm
from ingestion.quarantine import (
    FieldProblem,
    as_text,
    field_rejects,
    input_columns,
    quarantine_row,
)
from ingestion.readers import RawChunk
from ingestion.schema import (
    ENTITY_SCHEMA,
    EVENT_SCHEMA,
    LABEL_SCHEMA,
    ColumnMapping,
    FileKind,
    resolve_columns,
)

#: Identifier columns kept as trimmed keys.
_KEY_COLUMNS: Final = (
    "event_id",
    "account_id",
    "device_id",
    "card_id",
    "merchant_id",
    "counterparty_account_id",
)

#: Content fingerprint of a normalised event: DuckDB's vectorised 64-bit ``hash`` over every
#: canonical column. ``hash`` is pinned with the engine version; if an engine upgrade ever
#: changed it, a true repeat would be quarantined as a conflicting duplicate (visible,
#: never loaded twice) rather than silently double counted.
FINGERPRINT_SQL: Final = "hash({})".format(", ".join(f.name for f in EVENT_SCHEMA))

_SCHEMAS: Final = {
    FileKind.EVENTS: EVENT_SCHEMA,
    FileKind.LABELS: LABEL_SCHEMA,
    FileKind.ENTITIES: ENTITY_SCHEMA,
}


#: Label-file substitutes and the field whose reasons they answer for.
@dataclass(frozen=True, slots=True)
class Validated:
    """Result of validating one chunk.

    Attributes
    ----------
    clean : pa.Table
        Loadable rows in the kind's schema plus ``row_number`` (and ``fingerprint`` for
        events).
    rejects : pa.Table
        Row-level quarantine rows (``QUARANTINE_SCHEMA``).
    field_rejects : pa.Table
        Field-level quarantine rows of rows in ``clean`` (``QUARANTINE_SCHEMA``).
    columns : ColumnMapping
        How this chunk's columns were matched to fields.
    """

    clean: pa.Table
    rejects: pa.Table
    field_rejects: pa.Table
    columns: ColumnMapping


@dataclass(slots=True)
class _Parsed:
    table: pa.Table  # row_number, the kind's fields, _reason ("code:field" or null)
    problems: list[FieldProblem] = field(default_factory=list)


class Validator:
    """Validates chunks of one file kind. Holds an in-memory DuckDB for the row rules.

    Parameters
    ----------
    kind : FileKind
    default_region : str
        Region for national phone numbers whose row has no usable ``country``.
    """

    def __init__(self, kind: FileKind, *, default_region: str = "GB") -> None:
        self.kind = kind
        self.default_region = default_region
        self._con = duckdb.connect(config={"threads": 2})
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute("SET enable_progress_bar = false")

    def close(self) -> None:
        """Release the in-memory engine."""
        self._con.close()

    def validate(self, chunk: RawChunk, *, source: str, path: str) -> Validated:
        """Split a chunk into clean rows, quarantined rows and quarantined fields.

        Parameters
        ----------
        chunk : RawChunk
        source, path : str
            Written into each quarantine row; a label file's default ``source`` is
            ``file:<name of path>``.

        Returns
        -------
        Validated
            ``clean.num_rows + rejects.num_rows == chunk.rows_read``.

        Notes
        -----
        O(rows x columns) in Arrow and DuckDB kernels; Python work per *rejected* row
        (its JSON for ``raw``) and per distinct phone or unusual IP value.
        """
        mapping = resolve_columns(chunk.table.column_names, self.kind)
        n = chunk.table.num_rows
        columns = {
            name: _plain(chunk.table.column(chunk.table.column_names.index(column)))
            for name, column in mapping.fields.items()
        }
        if self.kind is FileKind.EVENTS:
            parsed = self._events(columns, chunk.row_numbers, n)
        elif self.kind is FileKind.LABELS:
            parsed = self._labels(columns, chunk.row_numbers, n, PurePath(path).name)
        else:
            parsed = self._entities(columns, chunk.row_numbers, n)
        return self._split(parsed, chunk, mapping, columns, source=source, path=path)

    # -- per kind -----------------------------------------------------------------------
    def _events(self, columns: Mapping[str, pa.Array], row_numbers: pa.Array, n: int) -> _Parsed:
        def get(name: str) -> pa.Array:
            return columns.get(name, pa.nulls(n, pa.string()))

        cols: dict[str, Any] = {"row_number": row_numbers}
        for name in _KEY_COLUMNS:
            cols[name] = norm.normalise_keys(_strings(get(name)))[0]
        flags: dict[str, pa.Array] = {}
        cols["ip"], flags["ip"] = norm.normalise_ips(_strings(get("ip")))
        cols["country"], flags["country"] = norm.normalise_countries(_strings(get("country")))
        cols["phone"], flags["phone"] = norm.normalise_phones(
            _strings(get("phone")), self.default_region, countries=cols["country"]
        )
        cols["email"], flags["email"] = norm.normalise_emails(_strings(get("email")))
        cols["address"], _ = norm.normalise_addresses(_strings(get("address")))
        cols["currency"], flags["currency"] = norm.normalise_currencies(get("currency"))
        cols["os"] = norm.normalise_keys(_strings(get("os")))[0]
        for name in ("is_emulator", "is_rooted", "is_proxy"):
            cols[name], flags[name] = norm.normalise_bools(get(name))
        cols["asn"], flags["asn"] = norm.normalise_asns(get("asn"))
        cols["ts"], bad_ts = norm.normalise_timestamps(get("ts"))
        cols["event_type"], bad_type = norm.normalise_event_types(get("event_type"))
        amount = get("amount")
        work = pa.table(
            {
                **cols,
                "_amount": amount,
                "_bad_ts": bad_ts,
                "_bad_type": bad_type,
                "_amount_given": pc.invert(_blank(amount)),
            }
        )
        parsed_amount = _amount_expr("_amount", amount.type)
        money = "event_type IN ('payment', 'transfer')"
        sql = f"""
        WITH p AS (SELECT *, {parsed_amount} AS _parsed FROM work),
        q AS (
            SELECT *, CASE
                WHEN _amount_given AND (_parsed IS NULL OR isnan(_parsed) OR isinf(_parsed))
                    THEN 'bad_amount'
                WHEN _parsed < 0 THEN 'negative_amount'
            END AS _amount_problem
            FROM p)
        SELECT CASE WHEN _amount_problem IS NULL THEN _parsed END AS amount,
               CASE WHEN NOT ({money}) THEN _amount_problem END AS _amount_field,
               CASE
                 WHEN event_id IS NULL THEN 'missing_field:event_id'
                 WHEN ts IS NULL AND NOT _bad_ts THEN 'missing_field:ts'
                 WHEN event_type IS NULL AND NOT _bad_type THEN 'missing_field:event_type'
                 WHEN account_id IS NULL THEN 'missing_field:account_id'
                 WHEN _bad_type THEN 'unknown_event_type:event_type'
                 WHEN _bad_ts THEN 'bad_timestamp:ts'
                 WHEN {money} AND _amount_problem IS NOT NULL
                      THEN _amount_problem || ':amount'
                 WHEN event_type = 'payment' AND merchant_id IS NULL
                      THEN 'missing_field:merchant_id'
                 WHEN {money} AND _parsed IS NULL THEN 'missing_field:amount'
                 WHEN event_type = 'transfer' AND counterparty_account_id IS NULL
                      THEN 'missing_field:counterparty_account_id'
                 WHEN event_type = 'transfer' AND counterparty_account_id = account_id
                      THEN 'self_transfer:counterparty_account_id'
               END AS _reason
        FROM q
        """
        parsed = self._run(sql, work)
        table = pa.table({**cols, **{c: parsed.column(c) for c in ("amount", "_reason")}})
        problems = [
            FieldProblem("ip", norm.InvalidReason.IP.value, flags["ip"]),
            FieldProblem("phone", norm.InvalidReason.PHONE.value, flags["phone"]),
            FieldProblem("email", norm.InvalidReason.EMAIL.value, flags["email"]),
            FieldProblem("currency", norm.InvalidReason.BAD_VALUE.value, flags["currency"]),
            FieldProblem("country", norm.InvalidReason.BAD_VALUE.value, flags["country"]),
            FieldProblem("asn", norm.InvalidReason.BAD_TYPE.value, flags["asn"]),
            *(
                FieldProblem(name, norm.InvalidReason.BAD_TYPE.value, flags[name])
                for name in ("is_emulator", "is_rooted", "is_proxy")
            ),
        ]
        amount_field = parsed.column("_amount_field").combine_chunks()
        problems.append(FieldProblem("amount", amount_field, pc.is_valid(amount_field)))
        return _Parsed(table, problems)

    def _labels(
        self, columns: Mapping[str, pa.Array], row_numbers: pa.Array, n: int, file_name: str
    ) -> _Parsed:
        def get(name: str) -> pa.Array:
            return columns.get(name, pa.nulls(n, pa.string()))

        by_account = "entity_key" not in columns and "account_id" in columns
        raw_types = _strings(get("entity_type"))
        if by_account:
            raw_types = pc.if_else(_blank(raw_types), pa.scalar(NodeType.ACCOUNT.value), raw_types)
        raw_keys = _strings(get("account_id") if by_account else get("entity_key"))
        entity_type, key, bad_key, bad_type = _typed_keys(raw_types, raw_keys, self.default_region)
        if "label" not in columns and "is_fraud" in columns:
            flags, bad_label = norm.normalise_bools(columns["is_fraud"])
            label = pc.if_else(flags, pa.scalar("fraud"), pa.scalar("legit"))
        else:
            label, bad_label = norm.normalise_labels(get("label"))
        ts, bad_ts = norm.normalise_timestamps(get("ts"))
        source = norm.normalise_keys(_strings(get("source")))[0]
        source = pc.fill_null(source, f"file:{file_name}")
        reason = _strings(get("reason"))
        reason = pc.if_else(_blank(reason), pa.scalar(None, pa.string()), reason)
        work = pa.table(
            {
                "row_number": row_numbers,
                "entity_type": entity_type,
                "entity_key": key,
                "label": label,
                "source": source,
                "ts": ts,
                "author": norm.normalise_keys(_strings(get("author")))[0],
                "reason": reason,
                "_bad_type": bad_type,
                "_bad_key": bad_key,
                "_bad_label": bad_label,
                "_bad_ts": bad_ts,
                "_blank_type": _blank(raw_types),
            }
        )
        sql = """
        SELECT row_number, entity_type, entity_key, label, source, ts, author, reason,
               CASE
                 WHEN _blank_type THEN 'missing_field:entity_type'
                 WHEN _bad_type THEN 'unknown_entity_type:entity_type'
                 WHEN entity_key IS NULL AND NOT _bad_key THEN 'missing_field:entity_key'
                 WHEN _bad_key THEN 'bad_value:entity_key'
                 WHEN label IS NULL AND NOT _bad_label THEN 'missing_field:label'
                 WHEN _bad_label THEN 'unknown_label:label'
                 WHEN ts IS NULL AND NOT _bad_ts THEN 'missing_field:ts'
                 WHEN _bad_ts THEN 'bad_timestamp:ts'
               END AS _reason
        FROM work
        """
        return _Parsed(self._run(sql, work))

    def _entities(self, columns: Mapping[str, pa.Array], row_numbers: pa.Array, n: int) -> _Parsed:
        def get(name: str) -> pa.Array:
            return columns.get(name, pa.nulls(n, pa.string()))

        raw_types = _strings(get("entity_type"))
        entity_type, key, bad_key, bad_type = _typed_keys(
            raw_types, _strings(get("entity_key")), self.default_region
        )
        cols: dict[str, Any] = {
            "row_number": row_numbers,
            "entity_type": entity_type,
            "entity_key": key,
        }
        problems: list[FieldProblem] = []
        for name in ("is_emulator", "is_rooted", "is_proxy"):
            cols[name], bad = norm.normalise_bools(get(name))
            problems.append(FieldProblem(name, norm.InvalidReason.BAD_TYPE.value, bad))
        cols["os"] = norm.normalise_keys(_strings(get("os")))[0]
        cols["asn"], bad = norm.normalise_asns(get("asn"))
        problems.append(FieldProblem("asn", norm.InvalidReason.BAD_TYPE.value, bad))
        cols["country"], bad = norm.normalise_countries(_strings(get("country")))
        problems.append(FieldProblem("country", norm.InvalidReason.BAD_VALUE.value, bad))
        work = pa.table(
            {
                "row_number": row_numbers,
                "entity_key": key,
                "_bad_type": bad_type,
                "_bad_key": bad_key,
                "_blank_type": _blank(raw_types),
            }
        )
        sql = """
        SELECT CASE
                 WHEN _blank_type THEN 'missing_field:entity_type'
                 WHEN _bad_type THEN 'unknown_entity_type:entity_type'
                 WHEN entity_key IS NULL AND NOT _bad_key THEN 'missing_field:entity_key'
                 WHEN _bad_key THEN 'bad_value:entity_key'
               END AS _reason
        FROM work
        """
        reasons = self._run(sql, work).column("_reason")
        return _Parsed(pa.table({**cols, "_reason": reasons}), problems)

    # -- shared -------------------------------------------------------------------------
    def _run(self, sql: str, work: pa.Table) -> pa.Table:
        self._con.register("work", work)
        try:
            return self._con.execute(sql).to_arrow_table()
        finally:
            self._con.unregister("work")

    def _split(
        self,
        parsed: _Parsed,
        chunk: RawChunk,
        mapping: ColumnMapping,
        columns: Mapping[str, pa.Array],
        *,
        source: str,
        path: str,
    ) -> Validated:
        reason = parsed.table.column("_reason").combine_chunks()
        bad_mask = pc.is_valid(reason)
        keep = pc.invert(bad_mask)
        schema = _SCHEMAS[self.kind]
        clean = parsed.table.filter(keep).drop_columns(["_reason"])
        clean = clean.select(["row_number", *schema.names]).cast(
            pa.schema([pa.field("row_number", pa.int64()), *schema])
        )
        if self.kind is FileKind.EVENTS:
            fingerprint = self._run(f"SELECT {FINGERPRINT_SQL} AS fingerprint FROM work", clean)
            clean = clean.append_column("fingerprint", fingerprint.column("fingerprint"))
        columns_of = input_columns(mapping)
        rejected_idx = pc.indices_nonzero(bad_mask)
        originals = chunk.table.take(rejected_idx).to_pylist()
        rows = [
            quarantine_row(source, path, int(num), r, original, columns_of)
            for num, r, original in zip(
                pc.take(parsed.table.column("row_number"), rejected_idx).to_pylist(),
                pc.take(reason, rejected_idx).to_pylist(),
                originals,
                strict=True,
            )
        ]
        rows.extend(
            {
                "source": source,
                "path": path,
                "row_number": b.row_number,
                "reason": b.reason,
                "detail": b.detail,
                "raw": b.raw,
                "level": QuarantineLevel.ROW.value,
            }
            for b in chunk.bad_rows
        )
        fields = field_rejects(
            parsed.problems,
            keep,
            parsed.table.column("row_number"),
            columns,
            columns_of,
            source=source,
            path=path,
        )
        return Validated(
            clean=clean,
            rejects=pa.Table.from_pylist(rows, QUARANTINE_SCHEMA),
            field_rejects=fields,
            columns=mapping,
        )


def _plain(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array, dictionary-decoded."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _strings(column: pa.Array) -> pa.Array:
    """Any column as text (for the string normalisers)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.string())
    return as_text(column)


def _blank(column: pa.Array) -> pa.Array:
    """True where the column is absent: null, or only whitespace for text."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        trimmed = pc.utf8_trim(column, characters=norm.WHITESPACE)
        return pc.fill_null(pc.equal(trimmed, ""), True)
    return pc.is_null(column)


def _amount_expr(column: str, arrow_type: pa.DataType) -> str:
    """SQL parsing an amount column to DOUBLE; native numbers pass through unchanged."""
    if pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type):
        return f"{column}::DOUBLE"
    return f"TRY_CAST(trim({column}::VARCHAR) AS DOUBLE)"


_KEY_NORMALISERS: Final[dict[NodeType, Callable[[pa.Array], tuple[pa.Array, pa.Array]]]] = {
    NodeType.IP: norm.normalise_ips,
    NodeType.EMAIL: norm.normalise_emails,
    NodeType.ADDRESS: norm.normalise_addresses,
}


def _typed_keys(
    raw_types: pa.Array, raw_keys: pa.Array, default_region: str
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """Parse ``entity_type`` and normalise ``entity_key`` with the normaliser of its type.

    Returns (type name, normalised key, key invalid, type unknown).
    """
    n = len(raw_keys)
    folded = pc.utf8_lower(pc.utf8_trim_whitespace(raw_types))
    by_folded = {t.value.lower(): t for t in NodeType}
    type_names = pc.if_else(
        pc.is_in(folded, pa.array(list(by_folded))),
        pc.take(
            pa.array([t.value for t in by_folded.values()]),
            pc.index_in(folded, pa.array(list(by_folded))),
        ),
        pa.scalar(None, pa.string()),
    )
    unknown = pc.and_(
        pc.is_valid(folded), pc.and_(pc.not_equal(folded, ""), pc.is_null(type_names))
    )
    keys = pa.nulls(n, pa.string())
    bad = pa.array([False] * n, pa.bool_())
    for node_type in NodeType:
        mask = pc.fill_null(pc.equal(type_names, node_type.value), False)
        if not pc.any(mask).as_py():
            continue
        if node_type is NodeType.PHONE:
            values, invalid = norm.normalise_phones(raw_keys, default_region)
        else:
            values, invalid = _KEY_NORMALISERS.get(node_type, norm.normalise_keys)(raw_keys)
        keys = pc.if_else(mask, values, keys)
        bad = pc.or_(bad, pc.and_(mask, invalid))
    return type_names, keys, bad, pc.fill_null(unknown, False)
