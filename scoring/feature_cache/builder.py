"""Building a feature snapshot from an analysed store's scores, rings and links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from graph_service.errors import EntityNotFound
from graph_service.model import LINK_TYPE_CODE, NodeType
from graph_service.store import GraphStore
from graph_service.typing import I64
from scoring.feature_cache.snapshot import (
    FLOAT_FEATURES,
    INT_FEATURES,
    SHARED_COUNT_FEATURES,
    SNAPSHOT_SCHEMA,
    SNAPSHOT_TABLE,
    FeatureSnapshot,
    _created_from_version,
)


def build_feature_snapshot(
    store: GraphStore,
    *,
    reasons: pa.Table | None = None,
    version: str | None = None,
    created_at: datetime | None = None,
) -> FeatureSnapshot:
    """The feature snapshot of every scored account, from the store's analytics outputs.

    Parameters
    ----------
    store : GraphStore
        A store analysed by :func:`scoring.analysis.analyse` (scores ``entity_risk``,
        ``ring_score``, ``pagerank``, ``seeded_pagerank``, ``community``; optionally
        ``gnn_score``) and flagged by :func:`scoring.flagging.flag_clusters` (tables
        ``rings`` and ``ring_members``; optional).
    reasons : pa.Table, optional
        ``(id, reasons)`` per account, as in ``AnalysisResult.entity_risk``. Without it,
        the reasons of the latest published snapshot are carried over, and the ring's
        reasons stand in for ring members that have none.
    version : str, optional
        Snapshot version; default the UTC time, e.g. ``"20261129T230000.123456Z"``.
    created_at : datetime, optional
        Default: the time ``version`` names when it is a UTC time, else now (UTC).

    Returns
    -------
    FeatureSnapshot

    Raises
    ------
    EntityNotFound
        If the store holds no ``entity_risk`` scores (run ``fraudgraph analyse`` first).

    Notes
    -----
    O(N + L) vectorised over the accounts' scores and the identifier links (one export),
    plus the rings tables.
    """
    if created_at is None and version is not None:
        parsed = _created_from_version(version)
        created_at = parsed if parsed.timestamp() > 0 else None
    created_at = created_at or datetime.now(UTC)
    version = version or created_at.strftime("%Y%m%dT%H%M%S.%fZ")
    risk = store.read_scores("entity_risk")
    if risk.num_rows == 0:
        raise EntityNotFound("no entity_risk scores in the store; run `fraudgraph analyse` first")
    ids = risk.column("entity_id").to_numpy().astype(np.int64)
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    columns: dict[str, Any] = {"entity_id": ids}
    columns["risk"] = risk.column("value").to_numpy()[order]
    for name in ("pagerank", "seeded_pagerank", "gnn_score", "community"):
        columns[name] = _aligned_score(store, name, ids)
    community = columns.pop("community")
    columns["community_size"] = _community_sizes(community)
    nodes = store.export_nodes().select(["id", "type", "key"])
    node_ids = nodes.column("id").to_numpy()
    positions = np.searchsorted(node_ids, ids)
    positions = np.clip(positions, 0, max(len(node_ids) - 1, 0))
    known = node_ids[positions] == ids if len(node_ids) else np.zeros(len(ids), bool)
    keys = pc.take(nodes.column("key"), pa.array(positions[known]))
    type_codes = nodes.column("type").to_numpy()[positions[known]]
    for name in list(columns):
        columns[name] = columns[name][known]
    ids = ids[known]
    columns.update(_shared_counts(store, ids))
    ring_ids, ring_scores, ring_reasons = _rings_of(store, ids)
    columns["ring_score"] = ring_scores
    type_names = np.array([t.value for t in NodeType], dtype=object)[type_codes]
    table = pa.table(
        {
            "entity_type": pa.array(type_names.tolist(), pa.string()),
            "key": keys,
            "entity_id": pa.array(ids, pa.int64()),
            **{name: pa.array(columns[name], pa.float64()) for name in FLOAT_FEATURES},
            **{name: pa.array(columns[name], pa.int64()) for name in INT_FEATURES},
            "ring_id": ring_ids,
            "reasons": _reasons_for(store, ids, reasons, ring_reasons),
        },
        schema=SNAPSHOT_SCHEMA,
    )
    return FeatureSnapshot(table, version=version, created_at=created_at)


def _aligned_score(store: GraphStore, name: str, ids: I64) -> npt.NDArray[np.float64]:
    """Score ``name`` at ``ids`` (NaN where the score is absent)."""
    table = store.read_scores(name)
    out = np.full(len(ids), np.nan)
    if table.num_rows == 0:
        return out
    score_ids = table.column("entity_id").to_numpy().astype(np.int64)
    values = table.column("value").to_numpy().astype(np.float64)
    order = np.argsort(score_ids, kind="stable")
    score_ids, values = score_ids[order], values[order]
    at = np.clip(np.searchsorted(score_ids, ids), 0, len(score_ids) - 1)
    hit = score_ids[at] == ids
    out[hit] = values[at[hit]]
    return out


def _community_sizes(community: npt.NDArray[np.float64]) -> I64:
    """Accounts per community, for each account (1 where the community is unknown)."""
    sizes = np.ones(len(community), np.int64)
    known = ~np.isnan(community)
    if known.any():
        _, inverse, counts = np.unique(community[known], return_inverse=True, return_counts=True)
        sizes[known] = counts[inverse]
    return sizes


def _shared_counts(store: GraphStore, ids: I64) -> dict[str, I64]:
    """Per account, identifiers of each type it shares with at least one other account."""
    types = list(SHARED_COUNT_FEATURES)
    links = store.export_links(types).select(["src", "dst", "type"])
    out = {name: np.zeros(len(ids), np.int64) for name in SHARED_COUNT_FEATURES.values()}
    total = np.zeros(len(ids), np.int64)
    if links.num_rows == 0 or len(ids) == 0:
        return {**out, "shared_identifiers": total}
    src = links.column("src").to_numpy().astype(np.int64)
    dst = links.column("dst").to_numpy().astype(np.int64)
    link_type = links.column("type").to_numpy()
    size = int(max(dst.max(), src.max())) + 1
    # Accounts per identifier: one link per (account, identifier) pair.
    accounts_per_identifier = np.bincount(dst, minlength=size)
    shared = accounts_per_identifier[dst] >= 2
    at = np.searchsorted(ids, src)
    at = np.clip(at, 0, len(ids) - 1)
    mine = shared & (ids[at] == src)
    for link, name in SHARED_COUNT_FEATURES.items():
        selected = mine & (link_type == LINK_TYPE_CODE[link])
        out[name] = np.bincount(at[selected], minlength=len(ids)).astype(np.int64)
        total += out[name]
    return {**out, "shared_identifiers": total}


def _rings_of(
    store: GraphStore, ids: I64
) -> tuple[pa.Array, npt.NDArray[np.float64], list[list[str] | None]]:
    """Ring id, ring score and ring reasons per account (highest-scoring ring wins)."""
    n = len(ids)
    empty: list[list[str] | None] = [None] * n
    if not store.table_versions("rings"):
        return pa.nulls(n, pa.string()), np.full(n, np.nan), empty
    rings = store.read_table("rings").select(["ring_id", "score", "reasons", "members"])
    if rings.num_rows == 0:
        return pa.nulls(n, pa.string()), np.full(n, np.nan), empty
    members = rings.column("members").combine_chunks()
    parent = pc.list_parent_indices(members).to_numpy()
    member_ids = pc.list_flatten(members).to_numpy().astype(np.int64)
    scores = rings.column("score").to_numpy().astype(np.float64)
    # Highest score first, so the first ring seen per account is kept.
    order = np.lexsort((parent, -scores[parent]))
    member_ids, parent = member_ids[order], parent[order]
    first_ids, first_at = np.unique(member_ids, return_index=True)
    ring_of = parent[first_at]
    at = np.clip(np.searchsorted(first_ids, ids), 0, max(len(first_ids) - 1, 0))
    hit = first_ids[at] == ids if len(first_ids) else np.zeros(n, bool)
    ring_index = np.where(hit, ring_of[at], -1)
    ring_id_values = rings.column("ring_id").combine_chunks()
    mask = pa.array(ring_index < 0)
    ring_ids = pc.if_else(
        mask,
        pa.scalar(None, pa.string()),
        pc.take(ring_id_values, pa.array(np.maximum(ring_index, 0))),
    )
    ring_scores = np.where(hit, scores[np.maximum(ring_index, 0)], np.nan)
    reasons_by_ring = rings.column("reasons").to_pylist()
    ring_reasons: list[list[str] | None] = [
        reasons_by_ring[i] if i >= 0 else None for i in ring_index.tolist()
    ]
    return ring_ids, ring_scores, ring_reasons


def _reasons_for(
    store: GraphStore,
    ids: I64,
    reasons: pa.Table | None,
    ring_reasons: list[list[str] | None],
) -> pa.Array:
    """Reason codes per account: the analysis's, else the last snapshot's, else the ring's."""
    source: pa.Table | None = None
    if reasons is not None:
        source = reasons.select(["id", "reasons"])
    elif store.table_versions(SNAPSHOT_TABLE):
        previous = store.read_table(SNAPSHOT_TABLE)
        source = pa.table(
            {"id": previous.column("entity_id"), "reasons": previous.column("reasons")}
        )
    out: list[list[str] | None] = list(ring_reasons)
    if source is not None and source.num_rows:
        source_ids = source.column("id").to_numpy().astype(np.int64)
        order = np.argsort(source_ids, kind="stable")
        source_ids = source_ids[order]
        at = np.clip(np.searchsorted(source_ids, ids), 0, len(source_ids) - 1)
        hit = source_ids[at] == ids
        values = source.column("reasons").combine_chunks().take(pa.array(order[at])).to_pylist()
        out = [v if h and v else r for v, h, r in zip(values, hit.tolist(), out, strict=True)]
    return pa.array([r or [] for r in out], pa.list_(pa.string()))
