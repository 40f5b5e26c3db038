"""Every Cypher statement of the Neo4j backend, and nothing else.

All values reach Neo4j as parameters. The only text assembled here is made of identifiers
taken from our own enums and constants (node labels from :class:`NodeType`, relationship
types from :class:`LinkType`, attribute names from ``ENTITY_ATTRIBUTES``), each checked
against :data:`_IDENTIFIER` before use; nothing a caller passes is ever spliced in.

Read statements are :class:`ReadQuery` objects, which refuse text without a ``LIMIT $cap``:
the store supplies the cap on every call, so no read is unbounded.

Write statements take *columns* rather than rows: ``UNWIND range(0, size($key) - 1) AS i``
and ``$key[i]``. A list of maps repeats every key name in every row on the wire; columns
pack each value once, which halves the driver's serialisation work.

Timestamps are stored as Neo4j ``DATETIME`` values in UTC and travel as integer
microseconds since the epoch (:func:`_datetime_of` and :func:`_micros_of` convert). Integers
pack much faster than temporal structs, and ``epochMillis`` (unlike ``epochSeconds``) floors
correctly before 1970, which keeps the round trip exact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType, NodeType
from graph_service.store import ENTITY_ATTRIBUTES

#: What a label, relationship type or property name spliced into Cypher may look like.
_IDENTIFIER: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

#: Node label every entity carries next to its ``NodeType`` label.
ENTITY_LABEL: Final = "Entity"

#: Name of the single ``:_Meta`` node holding the id and label-sequence counters.
META_NAME: Final = "graph"

#: Internal property holding the ``attr_ts`` (micros) of the value of an attribute.
ATTRIBUTE_TS_PREFIX: Final = "_ts_"

_CAP_CLAUSE: Final = "LIMIT $cap"


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A read-only statement that always carries a row cap.

    Parameters
    ----------
    text : str
        The Cypher text; must contain ``LIMIT $cap``.
    collected : bool
        The query returns one row whose single value is the list of result rows (built
        with ``collect([...])``): one record instead of many, which the driver decodes
        about twice as fast for large pages.

    Raises
    ------
    ValueError
        If the text has no ``LIMIT $cap``.
    """

    text: str
    collected: bool = False

    def __post_init__(self) -> None:
        if _CAP_CLAUSE not in self.text:
            raise ValueError("a read query must cap its rows with LIMIT $cap")


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a safe Cypher identifier")
    return value


def label_of(node_type: NodeType) -> str:
    """The Neo4j label of a node type, validated.

    Raises
    ------
    TypeError
        If ``node_type`` is not a :class:`NodeType`.
    """
    if not isinstance(node_type, NodeType):
        raise TypeError(f"expected a NodeType, got {node_type!r}")
    return _identifier(node_type.value)


def rel_type_of(link_type: LinkType) -> str:
    """The Neo4j relationship type of a link type, validated.

    Raises
    ------
    TypeError
        If ``link_type`` is not a :class:`LinkType`.
    """
    if not isinstance(link_type, LinkType):
        raise TypeError(f"expected a LinkType, got {link_type!r}")
    return _identifier(link_type.value)


def _attribute(name: str) -> str:
    if name not in ENTITY_ATTRIBUTES:
        raise ValueError(f"{name!r} is not an entity attribute")
    return _identifier(name)


def _rel_alternation(link_types: Sequence[LinkType]) -> str:
    if not link_types:
        raise ValueError("at least one link type is needed")
    return "|".join(rel_type_of(t) for t in dict.fromkeys(link_types))


def _datetime_of(micros: str) -> str:
    """Cypher turning integer epoch microseconds (never null) into a UTC ``DATETIME``."""
    return (
        f"datetime.fromepoch(({micros} - ({micros} % 1000000 + 1000000) % 1000000) / 1000000, "
        f"({micros} % 1000000 + 1000000) % 1000000 * 1000)"
    )


def _micros_of(value: str) -> str:
    """Cypher turning a ``DATETIME`` (or null) into integer epoch microseconds."""
    return f"{value}.epochMillis * 1000 + {value}.nanosecond / 1000 % 1000"


Columns = Sequence[tuple[str, str]]


def _projection(columns: Columns) -> str:
    """``expr AS name, ...`` for a RETURN or WITH clause."""
    return ", ".join(f"{expr} AS {_identifier(name)}" for expr, name in columns)


def _entity_columns(var: str) -> list[tuple[str, str]]:
    return [
        (f"{var}.id", "id"),
        (f"{var}.type", "type"),
        (f"{var}.key", "key"),
        (_micros_of(f"{var}.first_ts"), "first_ts"),
        (_micros_of(f"{var}.last_ts"), "last_ts"),
        *((f"{var}.{_attribute(a)}", a) for a in ENTITY_ATTRIBUTES),
    ]


def _collected(match: str, columns: Columns, order_by: str = "") -> ReadQuery:
    """``match`` projected to ``columns``, ordered, capped, returned as one list of rows."""
    names = ", ".join(name for _, name in columns)
    order = f"ORDER BY {order_by} " if order_by else ""
    return ReadQuery(
        f"{match} WITH {_projection(columns)} {order}LIMIT $cap RETURN collect([{names}]) AS rows",
        collected=True,
    )


#: Column order of every entity row read back (see ``_entity_columns``).
ENTITY_COLUMNS: Final[tuple[str, ...]] = tuple(name for _, name in _entity_columns("n"))

_LINK_COLUMNS: Final[Columns] = (
    ("s.id", "src"),
    ("d.id", "dst"),
    ("$link_codes[type(r)]", "type"),
    ("r.n_events", "n_events"),
    ("r.amount_sum", "amount_sum"),
    (_micros_of("r.first_ts"), "first_ts"),
    (_micros_of("r.last_ts"), "last_ts"),
)

#: Column order of every link row read back.
LINK_COLUMNS: Final[tuple[str, ...]] = tuple(name for _, name in _LINK_COLUMNS)


def link_code_map() -> dict[str, int]:
    """Parameter ``$link_codes``: relationship type -> stored link type code."""
    return {rel_type_of(t): code for t, code in LINK_TYPE_CODE.items()}


# -- schema ------------------------------------------------------------------------------


def schema_statements() -> list[str]:
    """Constraints and indexes, each idempotent (``IF NOT EXISTS``)."""
    statements = [
        f"CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:{ENTITY_LABEL}) REQUIRE n.id IS UNIQUE",
        "CREATE CONSTRAINT meta_name IF NOT EXISTS FOR (m:_Meta) REQUIRE m.name IS UNIQUE",
        "CREATE CONSTRAINT ingest_source IF NOT EXISTS FOR (s:_IngestSource) "
        "REQUIRE s.source IS UNIQUE",
        "CREATE CONSTRAINT ingest_batch IF NOT EXISTS FOR (b:_IngestBatch) "
        "REQUIRE (b.source, b.batch_index) IS UNIQUE",
        "CREATE CONSTRAINT label_seq IF NOT EXISTS FOR (l:_Label) REQUIRE l.seq IS UNIQUE",
        "CREATE INDEX score_name_entity IF NOT EXISTS FOR (s:_Score) ON (s.name, s.entity_id)",
    ]
    for node_type in NodeType:
        label = label_of(node_type)
        statements.append(
            f"CREATE CONSTRAINT entity_key_{label} IF NOT EXISTS FOR (n:{label}) "
            "REQUIRE n.key IS UNIQUE"
        )
    return statements


AWAIT_INDEXES: Final = "CALL db.awaitIndexes($seconds)"

# -- ledger ------------------------------------------------------------------------------

META: Final = ReadQuery(
    "OPTIONAL MATCH (m:_Meta {name: $meta}) "
    "RETURN coalesce(m.next_id, 0) AS next_id, coalesce(m.next_label_seq, 0) AS next_label_seq "
    "LIMIT $cap"
)

#: Takes the write lock on ``:_Meta`` (serialising batch commits) and reads the counters.
LOCK_META: Final = (
    "MERGE (m:_Meta {name: $meta}) "
    "ON CREATE SET m.next_id = 0, m.next_label_seq = 0, m.commits = 0 "
    "SET m.commits = m.commits + 1 "
    "RETURN m.next_id AS next_id, m.next_label_seq AS next_label_seq"
)

UPDATE_META: Final = (
    "MATCH (m:_Meta {name: $meta}) SET m.next_id = $next_id, m.next_label_seq = $next_label_seq"
)

BATCH_DONE: Final = ReadQuery(
    "MATCH (b:_IngestBatch {source: $source, batch_index: $batch_index}) "
    "RETURN count(b) AS n LIMIT $cap"
)

CREATE_BATCH: Final = (
    "CREATE (:_IngestBatch {source: $source, batch_index: $batch_index, rows_read: $rows_read, "
    "rows_loaded: $rows_loaded, rows_quarantined: $rows_quarantined, "
    "fields_quarantined: $fields_quarantined, "
    "rows_duplicate: $rows_duplicate, events_file: $events_file, "
    "quarantine_file: $quarantine_file, committed_at: datetime.transaction()})"
)

BEGIN_SOURCE: Final = (
    "MERGE (s:_IngestSource {source: $source}) "
    "ON CREATE SET s.path = $path, s.kind = $kind, s.batch_size = $batch_size, "
    "s.started_at = datetime.transaction()"
)

COMPLETE_SOURCE: Final = (
    "MATCH (s:_IngestSource {source: $source}) "
    "SET s.completed_at = datetime.transaction(), s.manifest = $manifest"
)

SOURCE_PROGRESS: Final = ReadQuery(
    "MATCH (s:_IngestSource {source: $source}) "
    "OPTIONAL MATCH (b:_IngestBatch {source: $source}) "
    "WITH s, collect(b.batch_index) AS batches, sum(b.rows_read) AS rows_read, "
    "sum(b.rows_loaded) AS rows_loaded, sum(b.rows_quarantined) AS rows_quarantined, "
    "sum(b.rows_duplicate) AS rows_duplicate, "
    # Ledger nodes written before field-level quarantine have no fields_quarantined.
    "sum(coalesce(b.fields_quarantined, 0)) AS fields_quarantined "
    "RETURN s.batch_size AS batch_size, s.completed_at IS NOT NULL AS complete, batches, "
    "rows_read, rows_loaded, rows_quarantined, rows_duplicate, fields_quarantined LIMIT $cap"
)

MANIFESTS: Final = ReadQuery(
    "MATCH (s:_IngestSource) WHERE s.manifest IS NOT NULL "
    "RETURN s.manifest AS manifest ORDER BY s.completed_at, s.source LIMIT $cap"
)

BATCH_FILES: Final = ReadQuery(
    "MATCH (b:_IngestBatch) WHERE $source IS NULL OR b.source = $source "
    "RETURN b.events_file AS events_file, b.quarantine_file AS quarantine_file "
    "ORDER BY b.committed_at, b.source, b.batch_index LIMIT $cap"
)


# -- entities ----------------------------------------------------------------------------


def lookup_keys(node_type: NodeType) -> str:
    """Positions (into ``$key``) and ids of the keys that already exist, as two lists."""
    return (
        f"UNWIND range(0, size($key) - 1) AS i MATCH (n:{label_of(node_type)} {{key: $key[i]}}) "
        "RETURN collect(i) AS positions, collect(n.id) AS ids"
    )


def lookup_and_touch_keys(node_type: NodeType) -> str:
    """``lookup_keys`` that also widens the found entities' first/last seen.

    One index seek per key instead of a lookup and a separate update by id.
    """
    return (
        f"UNWIND range(0, size($key) - 1) AS i MATCH (n:{label_of(node_type)} {{key: $key[i]}}) "
        f"WITH n, i, {_datetime_of('$first[i]')} AS f, {_datetime_of('$last[i]')} AS l "
        "SET n.first_ts = CASE WHEN n.first_ts IS NULL OR f < n.first_ts THEN f ELSE n.first_ts END, "
        "n.last_ts = CASE WHEN n.last_ts IS NULL OR l > n.last_ts THEN l ELSE n.last_ts END "
        "RETURN collect(i) AS positions, collect(n.id) AS ids"
    )


def create_seen_entities(node_type: NodeType) -> str:
    """Create entities first seen in events: ids ``$first_id + i``, with first/last seen."""
    label = label_of(node_type)
    return (
        "UNWIND range(0, size($key) - 1) AS i "
        f"CREATE (n:{ENTITY_LABEL}:{label} {{id: $first_id + i, type: $type, key: $key[i], "
        f"first_ts: {_datetime_of('$first[i]')}, last_ts: {_datetime_of('$last[i]')}}})"
    )


def create_bare_entities(node_type: NodeType) -> str:
    """Create entities known only from attribute files (no first/last seen yet)."""
    label = label_of(node_type)
    return (
        "UNWIND range(0, size($key) - 1) AS i "
        f"CREATE (:{ENTITY_LABEL}:{label} {{id: $first_id + i, type: $type, key: $key[i]}})"
    )


def set_attributes(attributes: Sequence[str]) -> str:
    """Set the given attributes where this delta is at least as recent as the stored value.

    ``$attr_ts[i]`` is the delta's time (micros); each attribute remembers the time of its
    value in ``_ts_<name>``, so the latest delta wins per attribute whatever the order in
    which batches arrive. A null in a column leaves the attribute untouched.
    """
    if not attributes:
        raise ValueError("at least one attribute is needed")
    arms = []
    for name in attributes:
        attr = _attribute(name)
        ts_prop = ATTRIBUTE_TS_PREFIX + attr
        wins = f"(${attr}[i] IS NOT NULL AND (n.{ts_prop} IS NULL OR n.{ts_prop} <= $attr_ts[i]))"
        arms.append(f"n.{attr} = CASE WHEN {wins} THEN ${attr}[i] ELSE n.{attr} END")
        arms.append(f"n.{ts_prop} = CASE WHEN {wins} THEN $attr_ts[i] ELSE n.{ts_prop} END")
    return (
        "UNWIND range(0, size($id) - 1) AS i "
        f"MATCH (n:{ENTITY_LABEL} {{id: $id[i]}}) SET " + ", ".join(arms)
    )


def entity_by_key(node_type: NodeType) -> ReadQuery:
    """The entity with label ``node_type`` and ``$key``."""
    return ReadQuery(
        f"MATCH (n:{label_of(node_type)} {{key: $key}}) RETURN {_projection(_entity_columns('n'))} LIMIT $cap"
    )


ENTITIES_BY_ID: Final = _collected(
    f"UNWIND $ids AS wanted MATCH (n:{ENTITY_LABEL} {{id: wanted}})", _entity_columns("n")
)

NODES_PAGE: Final = _collected(
    f"MATCH (n:{ENTITY_LABEL}) WHERE n.id >= $lo AND n.id < $hi", _entity_columns("n"), "id"
)

#: Accounts by the id range of the entity id index (a range over the account label alone
#: would scan every account per page).
ACCOUNT_KEYS_PAGE: Final = _collected(
    f"MATCH (n:{ENTITY_LABEL}) WHERE n.id >= $lo AND n.id < $hi "
    f"AND n.type = {NODE_TYPE_CODE[NodeType.ACCOUNT]}",
    [("n.id", "id"), ("n.key", "key")],
    "id",
)

NODE_TYPES_PAGE: Final = _collected(
    f"MATCH (n:{ENTITY_LABEL}) WHERE n.id >= $lo AND n.id < $hi",
    [("n.id", "id"), ("n.type", "type")],
    "id",
)

SUBGRAPH_NODES: Final = _collected(
    f"UNWIND $ids AS wanted MATCH (n:{ENTITY_LABEL} {{id: wanted}})", _entity_columns("n"), "id"
)


def counts() -> ReadQuery:
    """Entities per label and relationships per type, from Neo4j's count store."""
    arms = [
        f"MATCH (n:{label_of(t)}) RETURN 'node' AS kind, '{label_of(t)}' AS name, count(n) AS n"
        for t in NodeType
    ]
    arms += [
        f"MATCH ()-[r:{rel_type_of(t)}]->() RETURN 'link' AS kind, '{rel_type_of(t)}' AS name, "
        "count(r) AS n"
        for t in LinkType
    ]
    return ReadQuery("CALL () { " + " UNION ALL ".join(arms) + " } RETURN kind, name, n LIMIT $cap")


# -- links -------------------------------------------------------------------------------

_LINK_VALUES = f"WITH s, d, i, {_datetime_of('$first[i]')} AS f, {_datetime_of('$last[i]')} AS l "


def create_links(link_type: LinkType) -> str:
    """Create links known to be new (one end was created in this batch)."""
    return (
        "UNWIND range(0, size($src) - 1) AS i "
        f"MATCH (s:{ENTITY_LABEL} {{id: $src[i]}}) MATCH (d:{ENTITY_LABEL} {{id: $dst[i]}}) "
        + _LINK_VALUES
        + f"CREATE (s)-[:{rel_type_of(link_type)} {{n_events: $n[i], amount_sum: $amount[i], "
        "first_ts: f, last_ts: l}]->(d)"
    )


def merge_links(link_type: LinkType) -> str:
    """Add per-batch aggregates to links that may already exist (created if not)."""
    return (
        "UNWIND range(0, size($src) - 1) AS i "
        f"MATCH (s:{ENTITY_LABEL} {{id: $src[i]}}) MATCH (d:{ENTITY_LABEL} {{id: $dst[i]}}) "
        + _LINK_VALUES
        + f"MERGE (s)-[r:{rel_type_of(link_type)}]->(d) "
        "ON CREATE SET r.n_events = $n[i], r.amount_sum = $amount[i], r.first_ts = f, "
        "r.last_ts = l "
        "ON MATCH SET r.n_events = r.n_events + $n[i], r.amount_sum = r.amount_sum + $amount[i], "
        "r.first_ts = CASE WHEN f < r.first_ts THEN f ELSE r.first_ts END, "
        "r.last_ts = CASE WHEN l > r.last_ts THEN l ELSE r.last_ts END"
    )


#: Column order of ``neighbours`` rows.
NEIGHBOUR_COLUMNS: Final[tuple[str, ...]] = (
    *ENTITY_COLUMNS,
    "link_type",
    "n_events",
    "amount_sum",
    "link_first_ts",
    "link_last_ts",
    "direction",
)


def links_page(link_types: Sequence[LinkType]) -> ReadQuery:
    """Links whose source id is in ``[$lo, $hi)``, ordered by (src, dst, type)."""
    return _collected(
        f"MATCH (s:{ENTITY_LABEL}) WHERE s.id >= $lo AND s.id < $hi "
        f"MATCH (s)-[r:{_rel_alternation(link_types)}]->(d:{ENTITY_LABEL})",
        _LINK_COLUMNS,
        "src, dst, type",
    )


def subgraph_links(link_types: Sequence[LinkType]) -> ReadQuery:
    """Links from any of ``$src`` to any of ``$ids``, ordered by (src, dst, type)."""
    return _collected(
        f"UNWIND $src AS src_id MATCH (s:{ENTITY_LABEL} {{id: src_id}})"
        f"-[r:{_rel_alternation(link_types)}]->(d:{ENTITY_LABEL}) WHERE d.id IN $ids",
        _LINK_COLUMNS,
        "src, dst, type",
    )


# -- labels ------------------------------------------------------------------------------

CREATE_LABELS: Final = (
    "UNWIND range(0, size($entity_key) - 1) AS i "
    "CREATE (:_Label {seq: $first_seq + i, entity_type: $entity_type[i], "
    "entity_key: $entity_key[i], label: $label[i], source: $source[i], author: $author[i], "
    f"reason: $reason[i], ts: {_datetime_of('$ts[i]')}, recorded_at: datetime.transaction()}})"
)


def labels_page() -> ReadQuery:
    """Labels with ``seq`` in ``[$lo, $hi)`` and the id of their entity where it exists."""
    arms = [
        f"MATCH (l:_Label) WHERE l.seq >= $lo AND l.seq < $hi AND l.entity_type = {code} "
        f"OPTIONAL MATCH (n:{label_of(t)} {{key: l.entity_key}}) RETURN l, n.id AS entity_id"
        for t, code in NODE_TYPE_CODE.items()
    ]
    return _collected("CALL () { " + " UNION ALL ".join(arms) + " }", _LABEL_COLUMNS, "seq")


_LABEL_COLUMNS: Final[Columns] = (
    ("entity_id", "entity_id"),
    ("l.entity_type", "entity_type"),
    ("l.entity_key", "entity_key"),
    ("l.label", "label"),
    ("l.source", "source"),
    ("l.author", "author"),
    ("l.reason", "reason"),
    (_micros_of("l.ts"), "ts"),
    (_micros_of("l.recorded_at"), "recorded_at"),
    ("l.seq", "seq"),
)

#: Column order of ``labels_page`` rows.
LABEL_COLUMNS: Final[tuple[str, ...]] = tuple(name for _, name in _LABEL_COLUMNS)

# -- scores ------------------------------------------------------------------------------

DELETE_SCORES: Final = (
    "UNWIND $entity_id AS id MATCH (s:_Score {name: $name, entity_id: id}) DELETE s"
)

CREATE_SCORES: Final = (
    "UNWIND range(0, size($entity_id) - 1) AS i "
    "CREATE (:_Score {entity_id: $entity_id[i], name: $name, value: $value[i], "
    "version: $version, written_at: datetime.transaction()})"
)

SCORE_RANGE: Final = ReadQuery(
    "MATCH (s:_Score {name: $name}) "
    "RETURN min(s.entity_id) AS lo, max(s.entity_id) AS hi LIMIT $cap"
)

SCORES_PAGE: Final = _collected(
    "MATCH (s:_Score {name: $name}) WHERE s.entity_id >= $lo AND s.entity_id < $hi",
    [("s.entity_id", "entity_id"), ("s.value", "value"), ("s.version", "version")],
    "entity_id",
)

SCORES_BY_ID: Final = _collected(
    "UNWIND $ids AS wanted MATCH (s:_Score {name: $name, entity_id: wanted})",
    [("s.entity_id", "entity_id"), ("s.value", "value"), ("s.version", "version")],
)

# -- analytics tables --------------------------------------------------------------------
# One ``:_AnalyticsRow`` node per row (properties: the row's columns plus ``_table``,
# ``_version``, ``_row``, its position, and ``_seq``, the write it belongs to) and one
# ``:_AnalyticsVersion`` node per version, created in the same transaction as its rows.
# Column names never reach the Cypher text: rows travel as maps (``SET r = row``) and come
# back with ``properties(r)``.

#: Constraints and indexes of the analytics tables, each idempotent.
ANALYTICS_SCHEMA_STATEMENTS: Final[tuple[str, ...]] = (
    "CREATE CONSTRAINT analytics_version IF NOT EXISTS FOR (v:_AnalyticsVersion) "
    "REQUIRE (v.name, v.version) IS UNIQUE",
    "CREATE INDEX analytics_row IF NOT EXISTS FOR (r:_AnalyticsRow) ON (r._table, r._version, r._row)",
)

#: Takes the write lock of the analytics counter and returns the next version sequence.
NEXT_ANALYTICS_SEQ: Final = (
    "MERGE (c:_AnalyticsCounter {name: 'versions'}) ON CREATE SET c.seq = 0 "
    "SET c.seq = c.seq + 1 RETURN c.seq AS seq"
)

DELETE_ANALYTICS_ROWS: Final = (
    "MATCH (r:_AnalyticsRow {_table: $name, _version: $version}) "
    "WITH r LIMIT $batch DELETE r RETURN count(*) AS deleted"
)

CREATE_ANALYTICS_ROWS: Final = (
    "UNWIND $rows AS row CREATE (r:_AnalyticsRow) SET r = row, r._table = $name, "
    "r._version = $version, r._seq = $seq"
)

PUT_ANALYTICS_VERSION: Final = (
    "MERGE (v:_AnalyticsVersion {name: $name, version: $version}) "
    "SET v.seq = $seq, v.n_rows = $n_rows, v.schema = $schema, "
    "v.json_columns = $json_columns, v.written_at = datetime.transaction()"
)

DELETE_ANALYTICS_VERSION: Final = (
    "OPTIONAL MATCH (v:_AnalyticsVersion {name: $name, version: $version}) "
    "WITH v, count(v) AS deleted DELETE v RETURN deleted"
)

ANALYTICS_VERSIONS: Final = ReadQuery(
    "MATCH (v:_AnalyticsVersion {name: $name}) "
    "RETURN v.version AS version ORDER BY v.seq LIMIT $cap"
)

#: The newest version of ``$name``, or version ``$version`` when it is not null.
ANALYTICS_VERSION: Final = ReadQuery(
    "MATCH (v:_AnalyticsVersion {name: $name}) WHERE $version IS NULL OR v.version = $version "
    "RETURN v.version AS version, v.seq AS seq, v.n_rows AS n_rows, v.schema AS schema, "
    "v.json_columns AS json_columns ORDER BY v.seq DESC LIMIT $cap"
)

ANALYTICS_ROWS_PAGE: Final = ReadQuery(
    "MATCH (r:_AnalyticsRow {_table: $name, _version: $version}) "
    "WHERE r._row >= $lo AND r._row < $hi AND r._seq = $seq "
    "WITH r ORDER BY r._row LIMIT $cap RETURN collect(properties(r)) AS rows",
    collected=True,
)


# -- bulk import: the ledger of the imported database -----------------------------------


def _datetime_or_null(micros: str) -> str:
    return f"CASE WHEN {micros} IS NULL THEN null ELSE {_datetime_of(micros)} END"


IMPORT_SOURCES: Final = (
    "UNWIND range(0, size($source) - 1) AS i "
    "CREATE (:_IngestSource {source: $source[i], path: $path[i], kind: $kind[i], "
    f"batch_size: $batch_size[i], started_at: {_datetime_of('$started_at[i]')}, "
    f"completed_at: {_datetime_or_null('$completed_at[i]')}, manifest: $manifest[i]}})"
)

IMPORT_BATCHES: Final = (
    "UNWIND range(0, size($source) - 1) AS i "
    "CREATE (:_IngestBatch {source: $source[i], batch_index: $batch_index[i], "
    "rows_read: $rows_read[i], rows_loaded: $rows_loaded[i], "
    "rows_quarantined: $rows_quarantined[i], fields_quarantined: $fields_quarantined[i], "
    "rows_duplicate: $rows_duplicate[i], events_file: $events_file[i], "
    f"quarantine_file: $quarantine_file[i], committed_at: {_datetime_of('$committed_at[i]')}}})"
)

IMPORT_LABELS: Final = (
    "UNWIND range(0, size($entity_key) - 1) AS i "
    "CREATE (:_Label {seq: $first_seq + i, entity_type: $entity_type[i], "
    "entity_key: $entity_key[i], label: $label[i], source: $source[i], author: $author[i], "
    f"reason: $reason[i], ts: {_datetime_of('$ts[i]')}, "
    f"recorded_at: {_datetime_of('$recorded_at[i]')}}})"
)

#: The counters after an import: ids continue after the imported entities.
IMPORT_META: Final = (
    "MERGE (m:_Meta {name: $meta}) "
    "SET m.next_id = $next_id, m.next_label_seq = $next_label_seq, "
    "m.commits = coalesce(m.commits, 0) + 1"
)

#: Is the database empty of ledger and entities (a fresh import, not yet given a ledger)?
LEDGER_PRESENT: Final = ReadQuery(
    "OPTIONAL MATCH (m:_Meta {name: $meta}) RETURN m IS NOT NULL AS present LIMIT $cap"
)
