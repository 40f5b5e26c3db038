"""The ``GraphStore`` protocol: the one storage contract every caller depends on.

Callers never import a backend class: they call :func:`open_store`, which picks the
backend named in :class:`~graph_service.settings.Settings` and imports it lazily, so a
missing optional driver only matters to whoever asks for that backend.

Writes arrive as :class:`BatchCommit` objects built by ``ingestion``. A commit is applied
in one transaction together with its ledger entry, so a process killed mid-ingest leaves
whole batches only and a re-run knows exactly which batches are already in.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import BackendUnavailable
from graph_service.model import LINK_TYPE_CODE, NODE_TYPE_CODE, LinkType, NodeType

if TYPE_CHECKING:
    from graph_service.algorithms import GraphAlgorithms
    from graph_service.csr import CSRGraph
    from graph_service.labels import LabelEntry
    from graph_service.settings import Settings


class QuarantineLevel(StrEnum):
    """What a quarantine row stands for (its ``level`` column)."""

    ROW = "row"
    """The input row was not loaded; ``raw`` holds it (as JSON)."""
    FIELD = "field"
    """The row was loaded without one field; ``input_value`` holds the field's value."""


#: The quarantine table. ``reason`` is a machine-readable code (see ``ingestion.validate``);
#: ``field`` the canonical field concerned (when there is one), ``input_column`` the
#: column it was read from and ``input_value`` the value as text. ``level`` says whether
#: the whole row or only that field was left out. The last four columns were added with
#: field-level quarantine; rows stored before have ``level = 'row'`` and nulls.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("raw", pa.string()),
        pa.field("level", pa.string(), nullable=False),
        pa.field("field", pa.string()),
        pa.field("input_column", pa.string()),
        pa.field("input_value", pa.string()),
    ]
)


def conform_quarantine(table: pa.Table) -> pa.Table:
    """``table`` in ``QUARANTINE_SCHEMA``, adding the columns older stores lack.

    Parameters
    ----------
    table : pa.Table
        Quarantine rows in the current layout or the one before field-level quarantine
        (``source, path, row_number, reason, detail, raw``).

    Returns
    -------
    pa.Table
        The same rows in ``QUARANTINE_SCHEMA``: a missing ``level`` is ``row`` (all
        quarantine was row-level before), the other missing columns are null.

    Examples
    --------
    >>> old = pa.table({n: pa.array([], pa.string()) for n in ("source", "path", "reason")})
    >>> conform_quarantine(old.append_column("row_number", pa.array([], pa.int64()))).schema.names[-4:]
    ['level', 'field', 'input_column', 'input_value']

    Notes
    -----
    O(rows): casts and constant columns.
    """
    columns = []
    for spec in QUARANTINE_SCHEMA:
        if spec.name in table.column_names:
            columns.append(table.column(spec.name).cast(spec.type))
        elif spec.name == "level":
            columns.append(pa.array([QuarantineLevel.ROW.value] * table.num_rows, spec.type))
        else:
            columns.append(pa.nulls(table.num_rows, spec.type))
    return pa.Table.from_arrays(columns, schema=QUARANTINE_SCHEMA)


def ordered_quarantine(table: pa.Table) -> pa.Table:
    """Quarantine rows by source, row number, level (``row`` first) and field.

    Parameters
    ----------
    table : pa.Table
        Rows in ``QUARANTINE_SCHEMA``.

    Returns
    -------
    pa.Table
        The same rows in the order both backends return them.

    Notes
    -----
    O(n log n).
    """
    if table.num_rows <= 1:
        return table
    keys = [
        ("source", "ascending"),
        ("row_number", "ascending"),
        ("level", "descending"),
        ("field", "ascending"),
        ("reason", "ascending"),
    ]
    return table.take(pc.sort_indices(table, keys))


def count_level(quarantine: pa.Table, level: QuarantineLevel) -> int:
    """Rows of a quarantine table at ``level``.

    Parameters
    ----------
    quarantine : pa.Table
        Quarantine rows, in either layout (without ``level`` every row is row-level).
    level : QuarantineLevel

    Returns
    -------
    int

    Notes
    -----
    O(rows), one comparison kernel.
    """
    if quarantine.num_rows == 0:
        return 0
    if "level" not in quarantine.column_names:
        return quarantine.num_rows if level is QuarantineLevel.ROW else 0
    return int(pc.sum(pc.equal(quarantine.column("level"), level.value)).as_py() or 0)


#: Columns of ``export_nodes``: dense id, type code (see ``NODE_TYPE_CODE``), key, attributes.
NODE_EXPORT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("type", pa.uint8(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("first_ts", pa.timestamp("us", tz="UTC")),
        pa.field("last_ts", pa.timestamp("us", tz="UTC")),
        pa.field("is_emulator", pa.bool_()),
        pa.field("is_rooted", pa.bool_()),
        pa.field("os", pa.string()),
        pa.field("is_proxy", pa.bool_()),
        pa.field("asn", pa.int64()),
        pa.field("country", pa.string()),
    ]
)

#: Columns of ``export_links``: one row per aggregated link.
LINK_EXPORT_SCHEMA = pa.schema(
    [
        pa.field("src", pa.int64(), nullable=False),
        pa.field("dst", pa.int64(), nullable=False),
        pa.field("type", pa.uint8(), nullable=False),
        pa.field("n_events", pa.int64(), nullable=False),
        pa.field("amount_sum", pa.float64(), nullable=False),
        pa.field("first_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("last_ts", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

ENTITY_ATTRIBUTES: tuple[str, ...] = (
    "is_emulator",
    "is_rooted",
    "os",
    "is_proxy",
    "asn",
    "country",
)


@dataclass(frozen=True, slots=True)
class Entity:
    """One node of the graph.

    Attributes
    ----------
    id : int
        Dense internal id (stable for the life of the store).
    type : NodeType
    key : str
        The normalised natural key.
    attributes : dict
        Non-null attributes (device flags, IP facts, first/last seen).
    """

    id: int
    type: NodeType
    key: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GraphCounts:
    """Entity counts per node type and link counts per link type (zeros included)."""

    nodes: dict[NodeType, int]
    links: dict[LinkType, int]

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Plain JSON-ready form: ``{"nodes": {type: n}, "links": {type: n}}``."""
        return {
            "nodes": {t.value: n for t, n in self.nodes.items()},
            "links": {t.value: n for t, n in self.links.items()},
        }


@dataclass(frozen=True, slots=True)
class Subgraph:
    """Nodes and the links among them, as Arrow tables in the export schemas."""

    nodes: pa.Table
    links: pa.Table


@dataclass(frozen=True, slots=True)
class BatchCommit:
    """One batch of validated input, applied atomically with its ledger entry.

    Attributes
    ----------
    source : str
        Ledger key of the input (the file's content checksum).
    path : str
        Where the input was read from (for manifests and quarantine rows).
    batch_index : int
        0-based position of the batch within the source.
    rows_read : int
        Input rows this batch covers, loaded or not.
    rows_duplicate : int
        Rows recognised as exact repeats of events already loaded (not in ``events``).
    events : pa.Table or None
        New events in the normalised event schema plus a ``fingerprint`` (uint64) column.
    labels : pa.Table or None
        Labels in the label schema, with normalised ``entity_type`` and ``entity_key``.
    entity_attributes : pa.Table or None
        Entity attribute rows in the entity schema.
    quarantine : pa.Table
        Quarantine rows in ``QUARANTINE_SCHEMA``: rejected rows (``level = 'row'``) and
        fields left out of loaded rows (``level = 'field'``).
    defer_graph : bool
        Bulk path: commit the events, their keys, the quarantine and the ledger row now,
        and build their entities and links later in one set-based pass over every deferred
        batch (the graph then equals the one the batches would have built one by one). A
        sink that cannot defer builds the graph with the batch.
    """

    source: str
    path: str
    batch_index: int
    rows_read: int
    rows_duplicate: int
    quarantine: pa.Table
    events: pa.Table | None = None
    labels: pa.Table | None = None
    entity_attributes: pa.Table | None = None
    defer_graph: bool = False

    @property
    def rows_loaded(self) -> int:
        """Rows that this commit adds to the store."""
        return sum(
            t.num_rows for t in (self.events, self.labels, self.entity_attributes) if t is not None
        )

    @property
    def rows_quarantined(self) -> int:
        """Input rows this commit rejects (row-level quarantine rows)."""
        return count_level(self.quarantine, QuarantineLevel.ROW)

    @property
    def fields_quarantined(self) -> int:
        """Fields left out of loaded rows (field-level quarantine rows)."""
        return count_level(self.quarantine, QuarantineLevel.FIELD)


@dataclass(frozen=True, slots=True)
class SourceProgress:
    """What the ledger knows about one input source (file checksum)."""

    source: str
    batches_done: frozenset[int]
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_duplicate: int
    complete: bool
    batch_size: int | None
    fields_quarantined: int = 0


@runtime_checkable
class IngestSink(Protocol):
    """What ingestion writes to: the ledger of sources and batches, and the quarantine.

    A batch and its ledger entry commit in one transaction, so a crash never leaves half a
    batch and a re-delivered batch is a no-op.
    """

    # -- ingestion ledger ------------------------------------------------------------
    def source_progress(self, source: str) -> SourceProgress | None:
        """Ledger state of ``source``, or ``None`` if it was never seen.

        Args: source, the file checksum. Returns: committed batches and summed counts.
        """
        ...

    def begin_source(self, source: str, *, path: str, kind: str, batch_size: int) -> None:
        """Record that ingestion of ``source`` started (idempotent)."""
        ...

    def commit_batch(self, commit: BatchCommit) -> None:
        """Apply one batch and its ledger entry in one transaction.

        A batch index already in the ledger for this source is ignored (no-op), so a
        re-delivered batch is harmless.
        """
        ...

    def complete_source(self, source: str, manifest: dict[str, Any]) -> None:
        """Mark ``source`` fully ingested and store its manifest."""
        ...

    def event_fingerprints(self, event_ids: pa.Array) -> pa.Table:
        """Fingerprints of the stored events among ``event_ids``.

        Returns: a table ``(event_id: string, fingerprint: uint64)`` with one row per
        stored event id found; ids not stored are absent.
        """
        ...

    def quarantine(self, source: str | None = None) -> pa.Table:
        """Quarantine rows (of one source, or all) in ``QUARANTINE_SCHEMA``, both levels.

        Rows stored before field-level quarantine existed come back with ``level = 'row'``.
        """
        ...

    def manifests(self) -> list[dict[str, Any]]:
        """Manifests of all completed sources, oldest first."""
        ...


@runtime_checkable
class DeferredGraphSink(Protocol):
    """An ingest sink that can defer the graph of a batch (``BatchCommit.defer_graph``)."""

    def build_pending_graph(self) -> int:
        """Build the graph of every deferred batch, in commit order, in one transaction.

        Returns: the number of events whose graph was built (0 when none was pending).
        """
        ...


@runtime_checkable
class GraphReader(Protocol):
    """Reads of the entity graph: entities, neighbourhoods, exports and the algorithm engine."""

    def get_entity(self, node_type: NodeType, key: str) -> Entity:
        """The entity with this type and normalised key.

        Raises: EntityNotFound if there is none.
        """
        ...

    def get_entities(self, ids: Sequence[int]) -> list[Entity]:
        """Entities by internal id, in the order asked; unknown ids are skipped."""
        ...

    def subgraph(self, ids: Sequence[int]) -> Subgraph:
        """The given nodes and every link whose two ends are both among them."""
        ...

    def counts(self) -> GraphCounts:
        """Entities per node type and links per link type."""
        ...

    def export_nodes(self) -> pa.Table:
        """All nodes in ``NODE_EXPORT_SCHEMA``, ordered by id."""
        ...

    def export_links(self, link_types: Sequence[LinkType] | None = None) -> pa.Table:
        """All aggregated links (optionally of some types) in ``LINK_EXPORT_SCHEMA``."""
        ...

    def export_transfers(self) -> pa.Table:
        """Every single transfer between two accounts, oldest first, in
        ``graph_service.transfers.TRANSFER_EXPORT_SCHEMA`` (read from the stored events:
        the ``TRANSFERS_TO`` links aggregate them)."""
        ...

    def to_csr(self, link_types: Sequence[LinkType] | None = None) -> CSRGraph:
        """The graph as an undirected CSR over all node ids, for algorithms."""
        ...

    def algorithms(self) -> GraphAlgorithms:
        """The graph-algorithm engine of this backend (in-process or GDS)."""
        ...


@runtime_checkable
class LabelBook(Protocol):
    """The append-only history of verdicts (fraud / legit) on entities."""

    def labels(self) -> pa.Table:
        """The append-only labels table, with the entity id where the entity exists."""
        ...

    def add_label(
        self,
        node_type: NodeType,
        key: str,
        *,
        label: Literal["fraud", "legit"],
        source: str,
        author: str | None,
        reason: str | None,
        ts: datetime | None = None,
    ) -> None:
        """Append one label (investigator feedback) to the append-only labels table.

        Args: the entity by type and normalised key (it need not exist: labels are kept
        for entities not yet in the graph, with a null entity id); label; source (e.g.
        ``"api"``); author and reason (free text); ts, the verdict's time (default now).
        The row's ``recorded_at`` is the time of the write.
        """
        ...

    def add_labels(self, entries: Sequence[LabelEntry]) -> None:
        """Append several labels in one transaction: all of them or, on error, none.

        Args: entries, checked by ``graph_service.labels.checked_label_entries`` (an
        entry without ``ts`` gets the time of the write). An empty sequence is a no-op.
        Raises: InvalidInput for a bad entry (nothing is written).
        """
        ...


@runtime_checkable
class AnalyticsStore(Protocol):
    """Scores per entity and versioned analytics tables (see ``graph_service.analytics_tables``)."""

    def write_scores(self, name: str, ids: np.ndarray, values: np.ndarray, *, version: str) -> None:
        """Replace score ``name`` for the given entity ids with ``values`` (one version)."""
        ...

    def read_scores(self, name: str, ids: Sequence[int] | None = None) -> pa.Table:
        """Score ``name`` as ``(entity_id, value, version)``, for ``ids`` or all."""
        ...

    def write_table(self, name: str, table: pa.Table, *, version: str) -> None:
        """Store ``table`` as version ``version`` of analytics table ``name``, atomically.

        Readers see either the whole new version or none of it. Writing a version that
        exists replaces it and makes it the latest.

        Args: name, a lower-case identifier; table, numbers, booleans, strings,
        timestamps, dates, or lists/structs of those; version, a short token.
        Raises: InvalidInput for a bad name, version, column name or column type.
        """
        ...

    def read_table(self, name: str, *, version: str | None = None) -> pa.Table:
        """Version ``version`` (default: the latest written) of analytics table ``name``.

        Returns: the rows in the order written, with the schema they were written with.
        Raises: InvalidInput for a bad name; EntityNotFound for an unknown table or version.
        """
        ...

    def table_versions(self, name: str) -> list[str]:
        """Versions of analytics table ``name``, oldest written first (empty if none).

        Raises: InvalidInput for a bad name.
        """
        ...

    def drop_table_version(self, name: str, version: str) -> None:
        """Delete version ``version`` of analytics table ``name`` (retention), atomically.

        Raises: InvalidInput for a bad name or version; EntityNotFound if there is no
        such version.
        """
        ...


@runtime_checkable
class GraphStore(IngestSink, GraphReader, LabelBook, AnalyticsStore, Protocol):
    """The storage contract shared by the embedded and the Neo4j backend: every role.

    A caller that needs one role only (ingestion: :class:`IngestSink`; queries:
    :class:`GraphReader`; ...) should ask for that role, so it can be served by anything
    implementing it. Every method is safe to call from one thread at a time; open one store
    per worker. Both backends must return the same answers for the same data (parity tests).
    """

    backend: str

    def close(self) -> None:
        """Release connections and locks."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


#: Backend name -> "module:factory". Imported only when asked for.
BACKENDS: dict[str, str] = {
    "embedded": "graph_service.embedded.store:EmbeddedStore.from_settings",
    "neo4j": "graph_service.neo4j.store:Neo4jStore.from_settings",
}

#: The pip extra that brings a backend's driver.
BACKEND_EXTRAS: dict[str, str] = {"neo4j": "neo4j"}


def open_store(
    settings: Settings | None = None, *, read_only: bool = False, **overrides: Any
) -> GraphStore:
    """Open the store configured in ``settings`` (``FRAUDGRAPH_BACKEND``).

    Parameters
    ----------
    settings : Settings, optional
        Defaults to ``Settings()`` read from the environment.
    read_only : bool
        Open for reading only. The embedded store then takes no write lock, so several
        readers (API workers, CLI queries) share the file; writes raise. Neo4j arbitrates
        access itself and opens the same way.
    **overrides
        Settings fields to override (e.g. ``store_dir=...``).

    Returns
    -------
    GraphStore

    Raises
    ------
    BackendUnavailable
        If the backend is unknown or its driver is not installed.
    """
    from graph_service.settings import Settings

    settings = (settings or Settings()).model_copy(update=overrides)
    target = BACKENDS.get(settings.backend)
    if target is None:
        raise BackendUnavailable(
            f"unknown backend {settings.backend!r}; use one of {sorted(BACKENDS)}"
        )
    module_name, _, factory_path = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = BACKEND_EXTRAS.get(settings.backend)
        hint = f"; install it with: pip install 'fraudgraph[{extra}]'" if extra else ""
        raise BackendUnavailable(
            f"backend {settings.backend!r} is not available ({exc}){hint}"
        ) from exc
    factory: Any = module
    for part in factory_path.split("."):
        factory = getattr(factory, part)
    store: GraphStore = factory(settings, read_only=read_only)
    return store


def node_type_of(code: int) -> NodeType:
    """The node type for a stored type code."""
    return _NODE_TYPES[code]


def link_type_of(code: int) -> LinkType:
    """The link type for a stored type code."""
    return _LINK_TYPES[code]


_NODE_TYPES = {c: t for t, c in NODE_TYPE_CODE.items()}
_LINK_TYPES = {c: t for t, c in LINK_TYPE_CODE.items()}
