"""Input schemas: the columns of event, label and entity-attribute files, and the many
ways real feeds spell them.

Events
------
One row per signup, login, payment or transfer. Required: ``event_id, ts, event_type,
account_id``. Optional identifiers: ``device_id, ip, phone, email, card_id, address,
merchant_id, counterparty_account_id``; money: ``amount, currency``; device attributes:
``is_emulator, is_rooted, os``; IP attributes: ``is_proxy, asn, country``.

Every event turns each identifier it carries into an aggregated link from its account
(see ``graph_service.model.LINK_TARGET_COLUMN``). ``payment`` events need ``merchant_id``
and ``amount``; ``transfer`` events need ``counterparty_account_id`` and ``amount``.
``card_id`` is expected to be a token or hash, never a clear card number. The values each
column accepts are documented in ``ingestion.normalise``.

Labels
------
``entity_type, entity_key, label, source, ts`` and optional ``author, reason``, or the
form banks export: ``account_id`` instead of ``entity_key`` (the entity type is then
``Account`` unless an ``entity_type`` column says otherwise), ``is_fraud`` (a flag)
instead of ``label``, no ``source`` (a missing or blank source is ``file:<file name>``).
``label`` accepts ``fraud``, ``confirmed_fraud``, ``chargeback``, ``sar``, ``1``,
``true`` for fraud and ``legit``, ``genuine``, ``not_fraud``, ``0``, ``false`` for legit
(see ``ingestion.normalise.codes.LABEL_SYNONYMS``).

Entity attributes
-----------------
``entity_type, entity_key`` and any of the attribute columns.

Column names
------------
A column is matched to a field by its *folded* name: camelCase split at the case change,
letters lower-cased, every run of other characters made one ``_`` (``eventId``,
``Event ID``, ``event-id``, ``EVENT_ID`` all fold to ``event_id``), then looked up among
the canonical names and in ``COLUMN_ALIASES`` (``timestamp`` -> ``ts``, ``msisdn`` ->
``phone``, ...). When two columns give the same field, the one whose name is exactly the
canonical name wins, then one whose folded name is, then the first alias; the others,
and every column that names no field, are reported (``columns_ignored`` in the
manifest), never silently dropped from the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import pyarrow as pa


class EventType(StrEnum):
    """The kinds of event accepted."""

    SIGNUP = "signup"
    LOGIN = "login"
    PAYMENT = "payment"
    TRANSFER = "transfer"


class FileKind(StrEnum):
    """What an input file holds; detected from its columns or forced on the command line."""

    EVENTS = "events"
    LABELS = "labels"
    ENTITIES = "entities"


TIMESTAMP: Final = pa.timestamp("us", tz="UTC")

#: The canonical (normalised) event schema. Readers cast input to it row by row; a row
#: that cannot be cast is quarantined, never dropped.
EVENT_SCHEMA: Final = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("ts", TIMESTAMP, nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("device_id", pa.string()),
        pa.field("ip", pa.string()),
        pa.field("phone", pa.string()),
        pa.field("email", pa.string()),
        pa.field("card_id", pa.string()),
        pa.field("address", pa.string()),
        pa.field("merchant_id", pa.string()),
        pa.field("counterparty_account_id", pa.string()),
        pa.field("amount", pa.float64()),
        pa.field("currency", pa.string()),
        pa.field("is_emulator", pa.bool_()),
        pa.field("is_rooted", pa.bool_()),
        pa.field("os", pa.string()),
        pa.field("is_proxy", pa.bool_()),
        pa.field("asn", pa.int64()),
        pa.field("country", pa.string()),
    ]
)

EVENT_REQUIRED: Final[tuple[str, ...]] = ("event_id", "ts", "event_type", "account_id")

LABEL_SCHEMA: Final = pa.schema(
    [
        pa.field("entity_type", pa.string(), nullable=False),
        pa.field("entity_key", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("ts", TIMESTAMP, nullable=False),
        pa.field("author", pa.string()),
        pa.field("reason", pa.string()),
    ]
)

LABEL_REQUIRED: Final[tuple[str, ...]] = ("entity_type", "entity_key", "label", "source", "ts")

#: Attributes an entity-attribute file may set (device and IP attributes).
ENTITY_ATTRIBUTE_FIELDS: Final[tuple[pa.Field, ...]] = (
    pa.field("is_emulator", pa.bool_()),
    pa.field("is_rooted", pa.bool_()),
    pa.field("os", pa.string()),
    pa.field("is_proxy", pa.bool_()),
    pa.field("asn", pa.int64()),
    pa.field("country", pa.string()),
)

ENTITY_SCHEMA: Final = pa.schema(
    [
        pa.field("entity_type", pa.string(), nullable=False),
        pa.field("entity_key", pa.string(), nullable=False),
        *ENTITY_ATTRIBUTE_FIELDS,
    ]
)

ENTITY_REQUIRED: Final[tuple[str, ...]] = ("entity_type", "entity_key")

SCHEMAS: Final[dict[FileKind, pa.Schema]] = {
    FileKind.EVENTS: EVENT_SCHEMA,
    FileKind.LABELS: LABEL_SCHEMA,
    FileKind.ENTITIES: ENTITY_SCHEMA,
}

REQUIRED: Final[dict[FileKind, tuple[str, ...]]] = {
    FileKind.EVENTS: EVENT_REQUIRED,
    FileKind.LABELS: LABEL_REQUIRED,
    FileKind.ENTITIES: ENTITY_REQUIRED,
}

#: Label-file columns that stand in for canonical ones (the form banks export).
LABEL_SUBSTITUTES: Final[Mapping[str, str]] = MappingProxyType(
    {"account_id": "entity_key", "is_fraud": "label"}
)

_TS_ALIASES: Final = (
    "timestamp",
    "event_time",
    "event_ts",
    "event_timestamp",
    "time",
    "datetime",
    "date_time",
    "created_at",
    "occurred_at",
    "transaction_time",
    "txn_time",
    "date",
)
_ACCOUNT_ALIASES: Final = (
    "account",
    "acct",
    "acct_id",
    "account_number",
    "account_no",
    "acct_no",
    "customer_account",
    "accountid",
)
_ATTRIBUTE_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "is_emulator": ("emulator", "is_emulated", "emulated"),
    "is_rooted": ("rooted", "jailbroken", "is_jailbroken"),
    "os": ("os_name", "platform", "operating_system", "device_os"),
    "is_proxy": ("proxy", "is_vpn", "vpn"),
    "asn": ("as_number", "asn_number", "as_num", "autonomous_system", "ip_asn"),
    "country": ("country_code", "ip_country", "country_iso", "ip_country_code", "geo_country"),
}
_ENTITY_KEY_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "entity_type": ("type", "node_type", "entity_kind", "kind"),
    "entity_key": ("key", "entity_id", "entity", "identifier", "entity_value"),
}


def _aliases(table: dict[str, tuple[str, ...]]) -> Mapping[str, str]:
    return MappingProxyType(
        {alias: name for name, spellings in table.items() for alias in spellings}
    )


#: Per file kind: folded alias -> field. Canonical names are not listed (they match as
#: themselves).
COLUMN_ALIASES: Final[Mapping[FileKind, Mapping[str, str]]] = MappingProxyType(
    {
        FileKind.EVENTS: _aliases(
            {
                "event_id": ("eventid", "event_uuid", "transaction_id", "txn_id", "tx_id"),
                "ts": _TS_ALIASES,
                "event_type": (
                    "type",
                    "event",
                    "action",
                    "event_name",
                    "transaction_type",
                    "txn_type",
                ),
                "account_id": _ACCOUNT_ALIASES,
                "device_id": ("device", "device_fingerprint", "deviceid", "device_hash"),
                "ip": (
                    "ip_address",
                    "ipaddress",
                    "ip_addr",
                    "client_ip",
                    "source_ip",
                    "src_ip",
                    "remote_ip",
                    "ipv4",
                ),
                "phone": (
                    "phone_number",
                    "phone_no",
                    "msisdn",
                    "mobile",
                    "mobile_number",
                    "telephone",
                    "tel",
                ),
                "email": ("email_address", "e_mail", "mail"),
                "card_id": ("card", "card_token", "card_hash", "pan_token", "card_fingerprint"),
                "address": (
                    "street_address",
                    "postal_address",
                    "billing_address",
                    "mailing_address",
                    "home_address",
                    "full_address",
                    "addr",
                ),
                "merchant_id": ("merchant", "merchant_code", "mid", "merchantid"),
                "counterparty_account_id": (
                    "counterparty",
                    "counterparty_account",
                    "counterparty_id",
                    "beneficiary_account",
                    "to_account",
                    "to_account_id",
                    "payee_account",
                    "dest_account",
                    "destination_account",
                    "recipient_account",
                ),
                "amount": ("amt", "transaction_amount", "txn_amount"),
                "currency": ("ccy", "currency_code", "transaction_currency"),
                **_ATTRIBUTE_ALIASES,
            }
        ),
        FileKind.LABELS: _aliases(
            {
                **_ENTITY_KEY_ALIASES,
                "label": ("fraud_label", "label_value", "status", "outcome", "verdict"),
                "source": ("label_source", "source_system", "origin"),
                "ts": (
                    "label_ts",
                    "labelled_at",
                    "labeled_at",
                    "reported_at",
                    "confirmed_at",
                    "label_date",
                    "label_time",
                    *_TS_ALIASES,
                ),
                "author": ("analyst", "investigator", "labelled_by", "labeled_by", "reviewer"),
                "reason": ("notes", "note", "comment", "comments", "label_reason"),
                "account_id": _ACCOUNT_ALIASES,
                "is_fraud": ("fraud", "fraud_flag", "is_fraudulent", "fraudulent"),
            }
        ),
        FileKind.ENTITIES: _aliases({**_ENTITY_KEY_ALIASES, **_ATTRIBUTE_ALIASES}),
    }
)


def fold_column(name: str) -> str:
    """The folded form of a column name (see the module docstring).

    Parameters
    ----------
    name : str
        A column name as the file has it.

    Returns
    -------
    str
        Lower-case words joined by ``_``: camelCase split at each case change, every
        run of other characters one ``_``, none at the ends.

    Examples
    --------
    >>> [fold_column(n) for n in ["eventId", "Event ID", "event-id", "IPAddress", " TS "]]
    ['event_id', 'event_id', 'event_id', 'ip_address', 'ts']

    Notes
    -----
    O(length of the name).
    """
    split = _ACRONYM_BOUNDARY.sub(r"\1_\2", _CASE_BOUNDARY.sub(r"\1_\2", name))
    return _NOT_WORD.sub("_", split.lower()).strip("_")


_CASE_BOUNDARY: Final = re.compile("([a-z0-9])([A-Z])")
_ACRONYM_BOUNDARY: Final = re.compile("([A-Z]+)([A-Z][a-z])")
_NOT_WORD: Final = re.compile("[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class IgnoredColumn:
    """An input column that is not loaded, and why."""

    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which input column feeds which field of a file kind.

    Attributes
    ----------
    kind : FileKind
    fields : Mapping[str, str]
        Field -> the input column it is read from.
    ignored : tuple of IgnoredColumn
        Input columns that feed no field.
    """

    kind: FileKind
    fields: Mapping[str, str]
    ignored: tuple[IgnoredColumn, ...] = field(default=())

    @property
    def renamed(self) -> dict[str, str]:
        """Input column -> field, for the columns whose name is not the field's."""
        return {column: name for name, column in self.fields.items() if column != name}

    def missing(self) -> list[str]:
        """Required fields no column provides.

        Returns
        -------
        list of str
            In schema order. For labels, ``account_id`` stands for ``entity_type`` and
            ``entity_key``, ``is_fraud`` for ``label``, and ``source`` is never missing.
        """
        present = set(self.fields)
        for substitute, canonical in LABEL_SUBSTITUTES.items():
            if self.kind is FileKind.LABELS and substitute in present:
                present.add(canonical)
                if canonical == "entity_key":
                    present.add("entity_type")
        if self.kind is FileKind.LABELS:
            present.add("source")
        return [name for name in REQUIRED[self.kind] if name not in present]


def _fields_of(kind: FileKind) -> tuple[str, ...]:
    names = tuple(SCHEMAS[kind].names)
    return (*names, *LABEL_SUBSTITUTES) if kind is FileKind.LABELS else names


def resolve_columns(columns: Sequence[str], kind: FileKind) -> ColumnMapping:
    """Match input column names to the fields of ``kind``.

    Parameters
    ----------
    columns : sequence of str
        The file's column names, in file order.
    kind : FileKind

    Returns
    -------
    ColumnMapping
        The column chosen for each field found, and the columns left out with the reason.

    Examples
    --------
    >>> m = resolve_columns(["eventId", "timestamp", "Type", "acct_id", "colour"], FileKind.EVENTS)
    >>> dict(m.fields)
    {'event_id': 'eventId', 'ts': 'timestamp', 'event_type': 'Type', 'account_id': 'acct_id'}
    >>> [(i.column, i.reason) for i in m.ignored]
    [('colour', 'matches no field')]

    Notes
    -----
    O(number of columns).
    """
    canonical = set(_fields_of(kind))
    aliases = COLUMN_ALIASES[kind]
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    ignored: list[IgnoredColumn] = []
    for index, column in enumerate(columns):
        folded = fold_column(column)
        if column in canonical:
            rank, name = 0, column
        elif folded in canonical:
            rank, name = 1, folded
        elif folded in aliases:
            rank, name = 2, aliases[folded]
        else:
            ignored.append(IgnoredColumn(column, "matches no field"))
            continue
        candidates.setdefault(name, []).append((rank, index, column))
    best: dict[str, tuple[int, int, str]] = {}
    for name, found in candidates.items():
        winner = min(found)
        best[name] = winner
        ignored.extend(
            IgnoredColumn(other[2], f"{name} is read from {winner[2]!r}")
            for other in found
            if other != winner
        )
    if kind is FileKind.LABELS:
        for substitute, canonical_name in LABEL_SUBSTITUTES.items():
            if substitute in best and canonical_name in best:
                column = best.pop(substitute)[2]
                ignored.append(IgnoredColumn(column, f"{canonical_name} is given"))
    order = {column: i for i, column in enumerate(columns)}
    ignored.sort(key=lambda item: order.get(item.column, len(order)))
    fields = {name: best[name][2] for name in _fields_of(kind) if name in best}
    return ColumnMapping(kind, MappingProxyType(fields), tuple(ignored))


def detect_kind(columns: list[str]) -> FileKind:
    """Tell what a file holds from its column names (folded, aliases applied).

    Parameters
    ----------
    columns : list of str
        The file's column names.

    Returns
    -------
    FileKind
        ``EVENTS`` when ``event_id`` and ``event_type`` are present, ``LABELS`` when a
        label (``label`` or ``is_fraud``) and an entity (``entity_key`` or
        ``account_id``) are, ``ENTITIES`` for ``entity_type, entity_key`` without a label.

    Raises
    ------
    ValueError
        If the columns match no kind.

    Examples
    --------
    >>> detect_kind(["event_id", "ts", "event_type", "account_id"])
    <FileKind.EVENTS: 'events'>
    >>> detect_kind(["acct_id", "Label", "reported_at"])
    <FileKind.LABELS: 'labels'>

    Notes
    -----
    O(number of columns).
    """
    events = resolve_columns(columns, FileKind.EVENTS).fields
    if {"event_id", "event_type"} <= set(events):
        return FileKind.EVENTS
    labels = set(resolve_columns(columns, FileKind.LABELS).fields)
    if labels & {"label", "is_fraud"} and labels & {"entity_key", "account_id"}:
        return FileKind.LABELS
    entities = resolve_columns(columns, FileKind.ENTITIES).fields
    if {"entity_type", "entity_key"} <= set(entities):
        return FileKind.ENTITIES
    names = sorted(fold_column(c) for c in columns)
    raise ValueError(
        f"cannot tell the kind of file from its columns {names}: events need event_id "
        "and event_type, labels need a label (or is_fraud) and entity_key (or account_id), "
        "entity attributes need entity_type and entity_key"
    )
