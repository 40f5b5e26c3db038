"""Input schemas: the columns of event, label and entity-attribute files.

Events
------
One row per signup, login, payment or transfer. Required: ``event_id, ts, event_type,
account_id``. Optional identifiers: ``device_id, ip, phone, email, card_id, address,
merchant_id, counterparty_account_id``; money: ``amount, currency``; device attributes:
``is_emulator, is_rooted, os``; IP attributes: ``is_proxy, asn, country``.

Every event turns each identifier it carries into an aggregated link from its account
(see ``graph_service.model.LINK_TARGET_COLUMN``). ``payment`` events need ``merchant_id``
and ``amount``; ``transfer`` events need ``counterparty_account_id`` and ``amount``.
``card_id`` is expected to be a token or hash, never a clear card number.

Labels
------
``entity_type, entity_key, label (fraud|legit), source, ts`` and optional ``author, reason``.

Entity attributes
-----------------
``entity_type, entity_key`` and any of the attribute columns.
"""

from __future__ import annotations

from enum import StrEnum
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


def detect_kind(columns: list[str]) -> FileKind:
    """Tell what a file holds from its column names.

    Parameters
    ----------
    columns : list of str
        The file's column names.

    Returns
    -------
    FileKind
        ``EVENTS`` when the event key columns are present, ``LABELS`` when a ``label``
        column is, ``ENTITIES`` for ``entity_type, entity_key`` with attributes only.

    Raises
    ------
    ValueError
        If the columns match no kind.

    Examples
    --------
    >>> detect_kind(["event_id", "ts", "event_type", "account_id"])
    <FileKind.EVENTS: 'events'>
    """
    names = {c.strip().lower() for c in columns}
    if {"event_id", "event_type"} <= names:
        return FileKind.EVENTS
    if {"entity_type", "entity_key", "label"} <= names:
        return FileKind.LABELS
    if {"entity_type", "entity_key"} <= names:
        return FileKind.ENTITIES
    raise ValueError(
        "cannot tell the kind of file from its columns "
        f"{sorted(names)}: events need event_id and event_type, labels need "
        "entity_type, entity_key and label, entity attributes need entity_type and entity_key"
    )
