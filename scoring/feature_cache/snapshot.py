"""The feature snapshot: one immutable version of every entity's risk feature.

A :class:`FeatureSnapshot` holds the ``feature_snapshot`` rows (:data:`SNAPSHOT_SCHEMA`)
as a row-major numpy matrix with a ``key -> row`` index per node type;
:class:`EntityFeatures` is the feature of one entity as the caches return it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import InvalidInput
from graph_service.model import LinkType

if TYPE_CHECKING:
    from scoring.feature_cache.bodies import BodyTable

#: Analytics table holding every published snapshot (one version per snapshot).
SNAPSHOT_TABLE: Final = "feature_snapshot"

#: Identifier link types counted as shared-identifier features, with the feature name.
SHARED_COUNT_FEATURES: Final[dict[LinkType, str]] = {
    LinkType.USES_DEVICE: "shared_devices",
    LinkType.LOGS_IN_FROM: "shared_ips",
    LinkType.HAS_PHONE: "shared_phones",
    LinkType.HAS_EMAIL: "shared_emails",
    LinkType.HAS_CARD: "shared_cards",
    LinkType.HAS_ADDRESS: "shared_addresses",
}

#: Float features (NaN where unknown, e.g. no GNN score yet).
FLOAT_FEATURES: Final[tuple[str, ...]] = (
    "risk",
    "ring_score",
    "pagerank",
    "seeded_pagerank",
    "gnn_score",
)
#: Integer features.
INT_FEATURES: Final[tuple[str, ...]] = (
    "community_size",
    "shared_identifiers",
    *SHARED_COUNT_FEATURES.values(),
)

#: Every numeric feature (what a columnar batch lookup gathers).
FEATURE_COLUMNS_NUMERIC: Final[tuple[str, ...]] = (*FLOAT_FEATURES, *INT_FEATURES)

#: Column of each numeric feature in a snapshot's row-major matrix, then the ring and
#: reason-set codes.
_FEATURE_AT: Final[dict[str, int]] = {name: i for i, name in enumerate(FEATURE_COLUMNS_NUMERIC)}
_RING_AT: Final = len(FEATURE_COLUMNS_NUMERIC)
_REASONS_AT: Final = _RING_AT + 1
_SHARED_AT: Final[tuple[tuple[str, int], ...]] = tuple(
    (name, _FEATURE_AT[name]) for name in SHARED_COUNT_FEATURES.values()
)

#: The ``feature_snapshot`` table: one row per entity.
SNAPSHOT_SCHEMA: Final = pa.schema(
    [
        pa.field("entity_type", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("entity_id", pa.int64(), nullable=False),
        *(pa.field(name, pa.float64()) for name in FLOAT_FEATURES),
        *(pa.field(name, pa.int64()) for name in INT_FEATURES),
        pa.field("ring_id", pa.string()),
        pa.field("reasons", pa.list_(pa.string())),
    ]
)


@dataclass(frozen=True, slots=True)
class EntityFeatures:
    """The risk feature of one entity, as of one snapshot.

    Attributes
    ----------
    entity_type : str
        Node type (``"Account"``).
    key : str
        Normalised natural key.
    risk : float or None
        Calibrated probability that the entity is fraudulent.
    ring_id : str or None
        The ring it belongs to, if any.
    ring_score : float or None
        That ring's score.
    community_size : int
        Accounts in its community.
    shared_identifiers : int
        Identifiers it shares with at least one other account (all types).
    shared_counts : dict of str to int
        The same, per identifier type (``shared_devices``, ``shared_ips``...).
    pagerank, seeded_pagerank : float or None
        Centrality and fraud-seeded propagation score.
    gnn_score : float or None
        Score of the graph neural network, when one was published.
    reasons : tuple of str
        Top reason codes, strongest first.
    snapshot_version : str
    snapshot_time : datetime
    """

    entity_type: str
    key: str
    risk: float | None
    ring_id: str | None
    ring_score: float | None
    community_size: int
    shared_identifiers: int
    shared_counts: dict[str, int]
    pagerank: float | None
    seeded_pagerank: float | None
    gnn_score: float | None
    reasons: tuple[str, ...]
    snapshot_version: str
    snapshot_time: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (timestamps as ISO 8601, reasons as a list)."""
        return {
            "entity_type": self.entity_type,
            "key": self.key,
            "risk": self.risk,
            "ring_id": self.ring_id,
            "ring_score": self.ring_score,
            "community_size": self.community_size,
            "shared_identifiers": self.shared_identifiers,
            "shared_counts": self.shared_counts,
            "pagerank": self.pagerank,
            "seeded_pagerank": self.seeded_pagerank,
            "gnn_score": self.gnn_score,
            "reasons": list(self.reasons),
            "snapshot_version": self.snapshot_version,
            "snapshot_time": self.snapshot_time.isoformat(),
        }


def _optional(value: float) -> float | None:
    return None if value != value else value  # NaN -> None


class FeatureSnapshot:
    """One immutable version of every entity's feature, in columns with a key index.

    Parameters
    ----------
    table : pa.Table
        Rows in ``SNAPSHOT_SCHEMA`` (extra columns are ignored).
    version : str
        The snapshot's version token.
    created_at : datetime
        When analytics produced it (UTC).

    Raises
    ------
    InvalidInput
        If a column is missing or an ``(entity_type, key)`` pair repeats.

    Notes
    -----
    Building is O(n): the columns become numpy arrays, reasons are dictionary-encoded
    (distinct reason lists are few), and the index is one dict per node type. A lookup is
    one dict probe plus a handful of array reads.
    """

    __slots__ = (
        "_bodies",
        "_id_order",
        "_index",
        "_matrix",
        "_reason_sets",
        "_ring_ids",
        "_sorted_ids",
        "_time_text",
        "created_at",
        "entity_types",
        "keys",
        "table",
        "version",
    )

    def __init__(self, table: pa.Table, *, version: str, created_at: datetime) -> None:
        missing = [name for name in SNAPSHOT_SCHEMA.names if name not in table.column_names]
        if missing:
            raise InvalidInput(f"feature snapshot lacks columns {missing}")
        table = table.select(SNAPSHOT_SCHEMA.names).cast(SNAPSHOT_SCHEMA)
        self.table = table
        self.version = version
        self.created_at = created_at
        self._time_text = created_at.isoformat()
        self.entity_types: list[str] = table.column("entity_type").to_pylist()
        self.keys: list[str] = table.column("key").to_pylist()
        ring_codes, ring_ids = _dictionary(table.column("ring_id"))
        joined = pc.binary_join(
            pc.fill_null(table.column("reasons"), pa.scalar([], pa.list_(pa.string()))), "\x1f"
        )
        reason_codes, reason_texts = _dictionary(joined)
        # Row-major: one entity's numbers share two cache lines, so a look-up in a large
        # snapshot costs two memory reads, not one per feature.
        columns = [
            table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
            for name in FLOAT_FEATURES
        ]
        columns += [
            pc.fill_null(table.column(name), 0).to_numpy().astype(np.float64)
            for name in INT_FEATURES
        ]
        columns += [ring_codes.astype(np.float64), reason_codes.astype(np.float64)]
        self._matrix = np.ascontiguousarray(np.column_stack(columns)).reshape(
            len(self.keys), len(columns)
        )
        self._ring_ids = ring_ids
        self._reason_sets = [tuple(t.split("\x1f")) if t else () for t in reason_texts]
        index: dict[str, dict[str, int]] = {}
        for entity_type in set(self.entity_types):
            index[entity_type] = {}
        for row, (entity_type, key) in enumerate(zip(self.entity_types, self.keys, strict=True)):
            by_key = index[entity_type]
            if key in by_key:
                raise InvalidInput(f"feature snapshot repeats entity {entity_type}:{key}")
            by_key[key] = row
        self._index = index
        entity_ids = table.column("entity_id").to_numpy().astype(np.int64)
        self._id_order = np.argsort(entity_ids, kind="stable")
        self._sorted_ids = entity_ids[self._id_order]
        self._bodies: BodyTable | None = None

    def rows_of_ids(self, ids: Sequence[int]) -> npt.NDArray[np.int64]:
        """Rows of entities by internal id (-1 where the snapshot has none).

        Notes
        -----
        One vectorised binary search over the sorted ids: O(len(ids) log n).
        """
        wanted = np.asarray(ids, np.int64)
        if len(self._sorted_ids) == 0 or wanted.size == 0:
            return np.full(wanted.shape, -1, np.int64)
        at = np.clip(np.searchsorted(self._sorted_ids, wanted), 0, len(self._sorted_ids) - 1)
        return np.where(self._sorted_ids[at] == wanted, self._id_order[at], -1).astype(np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def row_of(self, entity_type: str, key: str) -> int:
        """Row of an entity, or -1 if the snapshot has none."""
        by_key = self._index.get(entity_type)
        if by_key is None:
            return -1
        return by_key.get(key, -1)

    def rows_of(self, entity_type: str, keys: Sequence[str]) -> npt.NDArray[np.int64]:
        """Rows of many entities of one type (-1 where missing).

        Notes
        -----
        O(len(keys)) dict probes driven from C (``map`` over the index's ``get``): no
        Python frame per key.
        """
        by_key = self._index.get(entity_type)
        if by_key is None:
            return np.full(len(keys), -1, np.int64)
        return np.fromiter(map(by_key.get, keys, repeat(-1)), np.int64, count=len(keys))

    def features_at(self, row: int) -> EntityFeatures:
        """The :class:`EntityFeatures` stored at ``row``."""
        values = self._matrix[row].tolist()
        ring_code = int(values[_RING_AT])
        ring_id = self._ring_ids[ring_code] if ring_code >= 0 else None
        return EntityFeatures(
            entity_type=self.entity_types[row],
            key=self.keys[row],
            risk=_optional(values[0]),
            ring_id=ring_id,
            ring_score=_optional(values[1]) if ring_id else None,
            community_size=int(values[5]),
            shared_identifiers=int(values[6]),
            shared_counts={name: int(values[i]) for name, i in _SHARED_AT},
            pagerank=_optional(values[2]),
            seeded_pagerank=_optional(values[3]),
            gnn_score=_optional(values[4]),
            reasons=self._reason_sets[int(values[_REASONS_AT])],
            snapshot_version=self.version,
            snapshot_time=self.created_at,
        )

    def column(self, name: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """Values of feature ``name`` at ``rows`` (rows must be valid), vectorised.

        Raises
        ------
        InvalidInput
            If ``name`` is not a numeric feature.
        """
        at = _FEATURE_AT.get(name)
        if at is None:
            raise InvalidInput(f"no numeric feature {name!r}")
        values: npt.NDArray[Any] = self._matrix[rows, at]
        return values.astype(np.int64) if name in INT_FEATURES else values

    def numeric(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Every numeric feature at ``rows`` (valid rows), as a ``(len(rows), k)`` array.

        Columns follow :data:`FEATURE_COLUMNS_NUMERIC`; one vectorised row gather, the
        fastest batch read.
        """
        gathered: npt.NDArray[np.float64] = self._matrix[rows, : len(FEATURE_COLUMNS_NUMERIC)]
        return gathered

    def payload_at(self, row: int) -> dict[str, Any]:
        """The JSON-ready feature at ``row`` (a valid row): what the feature endpoints send.

        The same content as :meth:`EntityFeatures.as_dict`, except that unknown float
        scores stay NaN (orjson writes them as ``null``); :meth:`payloads` gives equal
        dicts for many rows at once.
        """
        v = self._matrix[row].tolist()
        ring_code = int(v[_RING_AT])
        ring_id = self._ring_ids[ring_code] if ring_code >= 0 else None
        return {
            "entity_type": self.entity_types[row],
            "key": self.keys[row],
            "risk": v[0],
            "ring_id": ring_id,
            "ring_score": v[1] if ring_id is not None else None,
            "community_size": int(v[5]),
            "shared_identifiers": int(v[6]),
            "shared_counts": {
                "shared_devices": int(v[7]),
                "shared_ips": int(v[8]),
                "shared_phones": int(v[9]),
                "shared_emails": int(v[10]),
                "shared_cards": int(v[11]),
                "shared_addresses": int(v[12]),
            },
            "pagerank": v[2],
            "seeded_pagerank": v[3],
            "gnn_score": v[4],
            "reasons": list(self._reason_sets[int(v[_REASONS_AT])]),
            "snapshot_version": self.version,
            "snapshot_time": self._time_text,
        }

    def body_at(self, row: int) -> bytes:
        """The JSON body of the feature at ``row``: :meth:`built_body_at`, read from the
        attached :class:`~scoring.feature_cache.bodies.BodyTable` when there is one."""
        table = self._bodies
        if table is not None:
            return table.body(row)
        return feature_body(self.payload_at(row))

    def built_body_at(self, row: int) -> bytes:
        """The JSON body of the feature at ``row`` built now: :func:`feature_body` of
        :meth:`payload_at`."""
        return feature_body(self.payload_at(row))

    def attach_bodies(self, table: BodyTable) -> None:
        """Answer :meth:`body_at` from ``table``, this snapshot's bodies built once.

        Raises
        ------
        InvalidInput
            If ``table`` belongs to another version or has another row count.
        """
        if table.version != self.version or len(table) != len(self):
            raise InvalidInput(
                f"feature bodies of {table.version} ({len(table)} rows) do not belong to "
                f"snapshot {self.version} ({len(self)} rows)"
            )
        self._bodies = table

    @property
    def body_table(self) -> BodyTable | None:
        """The attached body table, if any."""
        return self._bodies

    def payloads(self, rows: npt.NDArray[np.int64]) -> list[dict[str, Any] | None]:
        """JSON-ready features of ``rows`` (``None`` where a row is -1), gathered at once.

        Equal to :meth:`payload_at` row by row.

        Notes
        -----
        Columnar: one vectorised row gather, the float and the integer block each turned
        into Python lists column by column, then one dict per row built from zipped
        columns (no per-row indexing or conversion): the batch path of the feature
        endpoints.
        """
        rows = np.asarray(rows, np.int64)
        valid = rows >= 0
        found = rows[valid]
        gathered = self._matrix[found]
        floats = gathered[:, : len(FLOAT_FEATURES)].T.tolist()
        ints = gathered[:, len(FLOAT_FEATURES) :].astype(np.int64).T.tolist()
        version, time_text = self.version, self._time_text
        types, keys, ring_ids, reason_sets = (
            self.entity_types,
            self.keys,
            self._ring_ids,
            self._reason_sets,
        )
        built = [
            {
                "entity_type": types[row],
                "key": keys[row],
                "risk": risk,
                "ring_id": ring_ids[ring] if ring >= 0 else None,
                "ring_score": ring_score if ring >= 0 else None,
                "community_size": community,
                "shared_identifiers": shared,
                "shared_counts": {
                    "shared_devices": devices,
                    "shared_ips": ips,
                    "shared_phones": phones,
                    "shared_emails": emails,
                    "shared_cards": cards,
                    "shared_addresses": addresses,
                },
                "pagerank": pagerank,
                "seeded_pagerank": seeded,
                "gnn_score": gnn,
                "reasons": list(reason_sets[reasons]),
                "snapshot_version": version,
                "snapshot_time": time_text,
            }
            for (
                row,
                risk,
                ring_score,
                pagerank,
                seeded,
                gnn,
                community,
                shared,
                devices,
                ips,
                phones,
                emails,
                cards,
                addresses,
                ring,
                reasons,
            ) in zip(found.tolist(), *floats, *ints, strict=True)
        ]
        if len(built) == len(rows):
            return list(built)
        out: list[dict[str, Any] | None] = [None] * len(rows)
        for at, item in zip(np.flatnonzero(valid).tolist(), built, strict=True):
            out[at] = item
        return out

    def bodies(self, rows: npt.NDArray[np.int64]) -> list[bytes | None]:
        """The JSON bodies of ``rows`` (``None`` where a row is -1): what Redis stores."""
        return [None if p is None else feature_body(p) for p in self.payloads(rows)]


def feature_body(payload: Mapping[str, Any]) -> bytes:
    """The JSON body of one feature payload, as every cache and endpoint sends it.

    Compact orjson (NaN as ``null``), so the in-process path, the Redis path and a batch
    (the bodies joined) give the same bytes for the same entity and snapshot.
    """
    return orjson.dumps(payload)


def features_from_record(
    entity_type: str, key: str, record: Mapping[str, Any], version: str, created_at: datetime
) -> EntityFeatures:
    """The :class:`EntityFeatures` of a compact record, as releases before the body format
    stored in Redis."""
    ring_id = record.get("ring_id")
    return EntityFeatures(
        entity_type=entity_type,
        key=key,
        risk=record.get("risk"),
        ring_id=ring_id,
        ring_score=record.get("ring_score") if ring_id else None,
        community_size=int(record.get("community_size", 0)),
        shared_identifiers=int(record.get("shared_identifiers", 0)),
        shared_counts={name: int(record.get(name, 0)) for name in SHARED_COUNT_FEATURES.values()},
        pagerank=record.get("pagerank"),
        seeded_pagerank=record.get("seeded_pagerank"),
        gnn_score=record.get("gnn_score"),
        reasons=tuple(record.get("reasons", ())),
        snapshot_version=version,
        snapshot_time=created_at,
    )


def features_from_payload(payload: Mapping[str, Any], created_at: datetime) -> EntityFeatures:
    """The :class:`EntityFeatures` of a parsed JSON body (see :meth:`FeatureSnapshot.payload_at`)."""
    counts = payload["shared_counts"]
    ring_id = payload.get("ring_id")
    return EntityFeatures(
        entity_type=payload["entity_type"],
        key=payload["key"],
        risk=payload.get("risk"),
        ring_id=ring_id,
        ring_score=payload.get("ring_score") if ring_id else None,
        community_size=int(payload.get("community_size") or 0),
        shared_identifiers=int(payload.get("shared_identifiers") or 0),
        shared_counts={name: int(counts.get(name, 0)) for name in SHARED_COUNT_FEATURES.values()},
        pagerank=payload.get("pagerank"),
        seeded_pagerank=payload.get("seeded_pagerank"),
        gnn_score=payload.get("gnn_score"),
        reasons=tuple(payload.get("reasons") or ()),
        snapshot_version=str(payload["snapshot_version"]),
        snapshot_time=created_at,
    )


def _dictionary(values: pa.ChunkedArray | pa.Array) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Dictionary codes (-1 for null) and the distinct strings of a string column."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    codes = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)
    return codes, [str(v) for v in encoded.dictionary.to_pylist()]


def _created_from_version(version: str) -> datetime:
    """The creation time encoded in a default version token (the epoch for other tokens)."""
    try:
        return datetime.strptime(version, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
