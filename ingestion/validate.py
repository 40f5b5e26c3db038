"""Row validation and normalisation: raw chunks in, clean rows and quarantine rows out.

Every input row ends in exactly one of two places: the clean table (normalised, typed to
the canonical schema) or the rejects table (``graph_service.store.QUARANTINE_SCHEMA``,
with the original row as JSON and a machine-readable ``reason``). Reasons:

================== ==============================================================
reason             meaning (``detail`` names the column)
================== ==============================================================
malformed_row      the reader could not parse the row (wrong field count, not JSON,
                   torn last line of a truncated file)
missing_field      a required column is empty (also ``merchant_id``/``amount`` for
                   payments, ``counterparty_account_id``/``amount`` for transfers)
unknown_event_type ``event_type`` is not signup/login/payment/transfer
bad_timestamp      ``ts`` is not an ISO-8601 timestamp
bad_amount         ``amount`` is not a finite number
negative_amount    ``amount`` < 0
bad_type           a flag or number column holds something else (e.g. ``asn=abc``)
bad_value          a code column is malformed (currency, country)
invalid_ip         not an IPv4/IPv6 address
invalid_phone      not a valid phone number
invalid_email      not an email address
self_transfer      a transfer to the same account
unknown_entity_type / unknown_label   (labels and entity files)
conflicting_duplicate   an event id seen before with different content
================== ==============================================================

Type parsing runs in DuckDB (vectorised ``TRY_CAST``: a bad value becomes NULL for that
row only); identifier normalisation runs in ``ingestion.normalise``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.model import NodeType
from graph_service.store import QUARANTINE_SCHEMA
from ingestion import normalise as norm
from ingestion.readers import RawChunk
from ingestion.schema import (
    ENTITY_ATTRIBUTE_FIELDS,
    ENTITY_SCHEMA,
    EVENT_SCHEMA,
    LABEL_SCHEMA,
    EventType,
    FileKind,
)

#: Identifier columns and the normaliser each goes through, with its invalid reason.
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


@dataclass(frozen=True, slots=True)
class Validated:
    """Result of validating one chunk."""

    clean: pa.Table
    rejects: pa.Table


class Validator:
    """Validates chunks of one file kind. Holds an in-memory DuckDB for vectorised parsing.

    Parameters
    ----------
    kind : FileKind
    default_region : str
        Region for phone numbers without a country code.
    """

    def __init__(self, kind: FileKind, *, default_region: str = "GB") -> None:
        self.kind = kind
        self.default_region = default_region
        self._con = duckdb.connect(config={"threads": 2})
        self._con.execute("SET TimeZone = 'UTC'")

    def close(self) -> None:
        """Release the in-memory engine."""
        self._con.close()

    def validate(self, chunk: RawChunk, *, source: str, path: str) -> Validated:
        """Split a chunk into clean rows and quarantine rows.

        Parameters
        ----------
        chunk : RawChunk
        source, path : str
            Written into each quarantine row.

        Returns
        -------
        Validated
            ``clean`` in the kind's schema plus ``row_number`` (and ``fingerprint`` for
            events); ``rejects`` in
            ``QUARANTINE_SCHEMA``. ``clean.num_rows + rejects.num_rows == chunk.rows_read``.
        """
        table = _canonical_columns(chunk.table)
        if self.kind is FileKind.EVENTS:
            parsed = self._events(table, chunk.row_numbers)
        elif self.kind is FileKind.LABELS:
            parsed = self._labels(table, chunk.row_numbers)
        else:
            parsed = self._entities(table, chunk.row_numbers)
        return self._split(parsed, chunk, source=source, path=path)

    # -- per kind -----------------------------------------------------------------------
    def _events(self, table: pa.Table, row_numbers: pa.Array) -> pa.Table:
        n = table.num_rows
        cols: dict[str, Any] = {"row_number": row_numbers}
        flags: dict[str, Any] = {}
        for name in _KEY_COLUMNS:
            cols[name], flags[f"_bad_{name}"] = norm.normalise_keys(_strings(table, name, n))
        cols["ip"], flags["_bad_ip"] = norm.normalise_ips(_strings(table, "ip", n))
        cols["phone"], flags["_bad_phone"] = norm.normalise_phones(
            _strings(table, "phone", n), self.default_region
        )
        cols["email"], flags["_bad_email"] = norm.normalise_emails(_strings(table, "email", n))
        cols["address"], flags["_bad_address"] = norm.normalise_addresses(
            _strings(table, "address", n)
        )
        for name in (
            "ts",
            "event_type",
            "amount",
            "currency",
            "is_emulator",
            "is_rooted",
            "os",
            "is_proxy",
            "asn",
            "country",
        ):
            cols[name] = _column(table, name, n)
        work = pa.table({**cols, **flags})
        ts = _ts_expr(work.schema.field("ts").type)
        amount = _typed_expr("amount", work.schema.field("amount").type, "DOUBLE")
        bools = {
            c: _typed_expr(c, work.schema.field(c).type, "BOOLEAN")
            for c in ("is_emulator", "is_rooted", "is_proxy")
        }
        asn = _typed_expr("asn", work.schema.field("asn").type, "BIGINT")
        types = ", ".join(f"'{t.value}'" for t in EventType)
        sql = f"""
        WITH p AS (
            SELECT *, {ts} AS _ts, lower(trim(event_type::VARCHAR)) AS _event_type,
                   {amount} AS _amount, {bools["is_emulator"]} AS _is_emulator,
                   {bools["is_rooted"]} AS _is_rooted, {bools["is_proxy"]} AS _is_proxy,
                   {asn} AS _asn, nullif(upper(trim(currency::VARCHAR)), '') AS _currency,
                   nullif(upper(trim(country::VARCHAR)), '') AS _country,
                   nullif(trim(os::VARCHAR), '') AS _os
            FROM work)
        SELECT _ts AS ts, _event_type AS event_type, _amount AS amount, _currency AS currency,
               _is_emulator AS is_emulator, _is_rooted AS is_rooted, _os AS os,
               _is_proxy AS is_proxy, _asn AS asn, _country AS country,
               CASE
                 WHEN event_id IS NULL THEN 'missing_field:event_id'
                 WHEN {_blank("ts", work.schema.field("ts").type)} THEN 'missing_field:ts'
                 WHEN {_blank("event_type", work.schema.field("event_type").type)} THEN 'missing_field:event_type'
                 WHEN account_id IS NULL THEN 'missing_field:account_id'
                 WHEN _event_type NOT IN ({types}) THEN 'unknown_event_type:event_type'
                 WHEN _ts IS NULL THEN 'bad_timestamp:ts'
                 WHEN NOT {_blank("amount", work.schema.field("amount").type)} AND (_amount IS NULL OR isnan(_amount)
                      OR isinf(_amount)) THEN 'bad_amount:amount'
                 WHEN _amount < 0 THEN 'negative_amount:amount'
                 WHEN NOT {_blank("is_emulator", work.schema.field("is_emulator").type)} AND _is_emulator IS NULL THEN 'bad_type:is_emulator'
                 WHEN NOT {_blank("is_rooted", work.schema.field("is_rooted").type)} AND _is_rooted IS NULL THEN 'bad_type:is_rooted'
                 WHEN NOT {_blank("is_proxy", work.schema.field("is_proxy").type)} AND _is_proxy IS NULL THEN 'bad_type:is_proxy'
                 WHEN NOT {_blank("asn", work.schema.field("asn").type)} AND (_asn IS NULL OR _asn < 0) THEN 'bad_type:asn'
                 WHEN _currency IS NOT NULL AND NOT regexp_full_match(_currency, '[A-Z]{{3}}')
                      THEN 'bad_value:currency'
                 WHEN _country IS NOT NULL AND NOT regexp_full_match(_country, '[A-Z]{{2}}')
                      THEN 'bad_value:country'
                 WHEN _bad_ip THEN 'invalid_ip:ip'
                 WHEN _bad_phone THEN 'invalid_phone:phone'
                 WHEN _bad_email THEN 'invalid_email:email'
                 WHEN _bad_address THEN 'bad_value:address'
                 WHEN _event_type = 'payment' AND merchant_id IS NULL THEN 'missing_field:merchant_id'
                 WHEN _event_type IN ('payment', 'transfer') AND _amount IS NULL
                      THEN 'missing_field:amount'
                 WHEN _event_type = 'transfer' AND counterparty_account_id IS NULL
                      THEN 'missing_field:counterparty_account_id'
                 WHEN _event_type = 'transfer' AND counterparty_account_id = account_id
                      THEN 'self_transfer:counterparty_account_id'
               END AS _reason
        FROM p
        """
        # Only parsed columns come back from the engine; identifiers stay in Arrow.
        parsed = self._run(sql, work)
        identifiers = {k: v for k, v in cols.items() if k not in parsed.column_names}
        return pa.table({**identifiers, **{c: parsed.column(c) for c in parsed.column_names}})

    def _labels(self, table: pa.Table, row_numbers: pa.Array) -> pa.Table:
        n = table.num_rows
        entity_type, key, bad_key, bad_type = _typed_keys(table, n, self.default_region)
        work = pa.table(
            {
                "row_number": row_numbers,
                "entity_type": entity_type,
                "entity_key": key,
                "_bad_type": bad_type,
                "_bad_key": bad_key,
                "label": _column(table, "label", n),
                "source": norm.normalise_keys(_strings(table, "source", n))[0],
                "ts": _column(table, "ts", n),
                "author": norm.normalise_keys(_strings(table, "author", n))[0],
                "reason": _strings(table, "reason", n),
                "_raw_type": _strings(table, "entity_type", n),
            }
        )
        ts = _ts_expr(work.schema.field("ts").type)
        sql = f"""
        WITH p AS (SELECT *, {ts} AS _ts, lower(trim(label::VARCHAR)) AS _label FROM work)
        SELECT row_number, entity_type, entity_key, _label AS label, source, _ts AS ts,
               author, nullif(trim(reason), '') AS reason,
               CASE
                 WHEN {_blank("_raw_type", work.schema.field("_raw_type").type)} THEN 'missing_field:entity_type'
                 WHEN _bad_type THEN 'unknown_entity_type:entity_type'
                 WHEN entity_key IS NULL AND NOT _bad_key THEN 'missing_field:entity_key'
                 WHEN _bad_key THEN 'bad_value:entity_key'
                 WHEN {_blank("label", work.schema.field("label").type)} THEN 'missing_field:label'
                 WHEN _label NOT IN ('fraud', 'legit') THEN 'unknown_label:label'
                 WHEN source IS NULL THEN 'missing_field:source'
                 WHEN {_blank("ts", work.schema.field("ts").type)} THEN 'missing_field:ts'
                 WHEN _ts IS NULL THEN 'bad_timestamp:ts'
               END AS _reason
        FROM p
        """
        return self._run(sql, work)

    def _entities(self, table: pa.Table, row_numbers: pa.Array) -> pa.Table:
        n = table.num_rows
        entity_type, key, bad_key, bad_type = _typed_keys(table, n, self.default_region)
        cols: dict[str, Any] = {
            "row_number": row_numbers,
            "entity_type": entity_type,
            "entity_key": key,
            "_bad_type": bad_type,
            "_bad_key": bad_key,
            "_raw_type": _strings(table, "entity_type", n),
        }
        for f in ENTITY_ATTRIBUTE_FIELDS:
            cols[f.name] = _column(table, f.name, n)
        work = pa.table(cols)
        exprs = []
        checks = []
        for f in ENTITY_ATTRIBUTE_FIELDS:
            if f.type == pa.string():
                upper = "upper" if f.name == "country" else ""
                exprs.append(f"nullif({upper}(trim({f.name}::VARCHAR)), '') AS {f.name}")
                continue
            sql_type = "BOOLEAN" if f.type == pa.bool_() else "BIGINT"
            exprs.append(
                f"{_typed_expr(f.name, work.schema.field(f.name).type, sql_type)} AS {f.name}"
            )
            checks.append(
                f"WHEN NOT {_blank(f.name, work.schema.field(f.name).type)} AND "
                f"{_typed_expr(f.name, work.schema.field(f.name).type, sql_type)} IS NULL "
                f"THEN 'bad_type:{f.name}'"
            )
        sql = f"""
        SELECT row_number, entity_type, entity_key, {", ".join(exprs)},
               CASE
                 WHEN {_blank("_raw_type", work.schema.field("_raw_type").type)} THEN 'missing_field:entity_type'
                 WHEN _bad_type THEN 'unknown_entity_type:entity_type'
                 WHEN entity_key IS NULL AND NOT _bad_key THEN 'missing_field:entity_key'
                 WHEN _bad_key THEN 'bad_value:entity_key'
                 {" ".join(checks)}
               END AS _reason
        FROM work
        """
        return self._run(sql, work)

    # -- shared -------------------------------------------------------------------------
    def _run(self, sql: str, work: pa.Table) -> pa.Table:
        self._con.register("work", work)
        try:
            return self._con.execute(sql).to_arrow_table()
        finally:
            self._con.unregister("work")

    def _split(self, parsed: pa.Table, chunk: RawChunk, *, source: str, path: str) -> Validated:
        reason = parsed.column("_reason")
        bad_mask = pc.is_valid(reason)
        schema = {
            FileKind.EVENTS: EVENT_SCHEMA,
            FileKind.LABELS: LABEL_SCHEMA,
            FileKind.ENTITIES: ENTITY_SCHEMA,
        }[self.kind]
        clean = parsed.filter(pc.invert(bad_mask)).drop_columns(["_reason"])
        clean = clean.select(["row_number", *schema.names]).cast(
            pa.schema([pa.field("row_number", pa.int64()), *schema])
        )
        if self.kind is FileKind.EVENTS:
            fingerprint = self._run(f"SELECT {FINGERPRINT_SQL} AS fingerprint FROM work", clean)
            clean = clean.append_column("fingerprint", fingerprint.column("fingerprint"))
        rejected_idx = pc.indices_nonzero(bad_mask)
        reasons = pc.take(reason, rejected_idx).to_pylist()
        originals = chunk.table.take(rejected_idx).to_pylist()
        rows = [
            _quarantine_row(source, path, int(num), r, original)
            for num, r, original in zip(
                pc.take(parsed.column("row_number"), rejected_idx).to_pylist(),
                reasons,
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
            }
            for b in chunk.bad_rows
        )
        return Validated(clean=clean, rejects=pa.Table.from_pylist(rows, QUARANTINE_SCHEMA))


def quarantine_rows(
    source: str, path: str, rows: pa.Table, reason: str, detail: str | None
) -> pa.Table:
    """Quarantine rows for clean rows rejected later (e.g. conflicting duplicates)."""
    records = [
        {
            "source": source,
            "path": path,
            "row_number": int(r.pop("row_number")),
            "reason": reason,
            "detail": detail,
            "raw": json.dumps(r, default=str, sort_keys=True),
        }
        for r in rows.to_pylist()
    ]
    return pa.Table.from_pylist(records, QUARANTINE_SCHEMA)


def _quarantine_row(
    source: str, path: str, row_number: int, reason: str, original: dict[str, Any]
) -> dict[str, Any]:
    code, _, column = reason.partition(":")
    value = original.get(column) if column else None
    detail = f"{column}={value!r}" if column and code != "missing_field" else column
    return {
        "source": source,
        "path": path,
        "row_number": row_number,
        "reason": code,
        "detail": detail,
        "raw": json.dumps(original, default=str, sort_keys=True),
    }


def _canonical_columns(table: pa.Table) -> pa.Table:
    """Column names trimmed and lower-cased (``Event_ID `` reads as ``event_id``)."""
    return table.rename_columns([c.strip().lower() for c in table.column_names])


def _column(table: pa.Table, name: str, n: int) -> pa.Array:
    if name in table.column_names:
        column = table.column(name)
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return pa.nulls(n, pa.string())


def _strings(table: pa.Table, name: str, n: int) -> pa.Array:
    column = _column(table, name, n)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    if pa.types.is_null(column.type):
        return pa.nulls(n, pa.string())
    return pc.cast(column, pa.string())


def _blank(column: str, arrow_type: pa.DataType | None = None) -> str:
    """SQL: the column is absent (null, or only whitespace for text columns)."""
    if arrow_type is not None and not (
        pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    ):
        return f"{column} IS NULL"  # typed columns: no text to trim (and no costly cast)
    return f"coalesce(trim({column}::VARCHAR), '') = ''"


def _typed_expr(column: str, arrow_type: pa.DataType, sql_type: str) -> str:
    """Parse a column to ``sql_type``; native typed columns pass through unchanged."""
    native = {
        "DOUBLE": pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type),
        "BOOLEAN": pa.types.is_boolean(arrow_type),
        "BIGINT": pa.types.is_integer(arrow_type),
    }[sql_type]
    if native:
        return f"{column}::{sql_type}"
    return f"TRY_CAST(trim({column}::VARCHAR) AS {sql_type})"


def _ts_expr(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "ts::TIMESTAMPTZ"
    return "TRY_CAST(trim(ts::VARCHAR) AS TIMESTAMPTZ)"


_KEY_NORMALISERS: Final[dict[NodeType, Callable[[pa.Array], tuple[pa.Array, pa.Array]]]] = {
    NodeType.IP: norm.normalise_ips,
    NodeType.EMAIL: norm.normalise_emails,
    NodeType.ADDRESS: norm.normalise_addresses,
}


def _typed_keys(
    table: pa.Table, n: int, default_region: str
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """Parse ``entity_type`` and normalise ``entity_key`` with the normaliser of its type.

    Returns (type name, normalised key, key invalid, type unknown).
    """
    raw_types = pc.utf8_lower(pc.utf8_trim_whitespace(_strings(table, "entity_type", n)))
    by_folded = {t.value.lower(): t for t in NodeType}
    type_names = pc.if_else(
        pc.is_in(raw_types, pa.array(list(by_folded))),
        pc.take(
            pa.array([t.value for t in by_folded.values()]),
            pc.index_in(raw_types, pa.array(list(by_folded))),
        ),
        pa.scalar(None, pa.string()),
    )
    unknown = pc.and_(
        pc.is_valid(raw_types), pc.and_(pc.not_equal(raw_types, ""), pc.is_null(type_names))
    )
    raw_keys = _strings(table, "entity_key", n)
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
