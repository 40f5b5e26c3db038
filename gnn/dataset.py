"""Point-in-time heterogeneous graphs from a ``GraphStore`` export.

:func:`build_graph` turns ``export_nodes()`` / ``export_links()`` (either backend, Arrow)
into a PyG ``HeteroData``: one node type per :class:`~graph_service.model.NodeType`, one
edge type per :class:`~graph_service.model.LinkType` plus its reverse (``rev_<TYPE>``), and
node features computed from the links alone. Given a ``cutoff``, only links first seen
strictly before it exist and every feature is computed from them, so a snapshot holds
nothing that happened at or after the cutoff.

Features are the label-free account features of the ring scoring (links per type, the
largest and the rare shares of each identifier kind, emulator / rooted / proxy
identifiers, sign-up bursts on shared devices, transfer fan-in / fan-out) plus the
account's age, recomputed on the snapshot. Scores the store holds (``pagerank``,
``seeded_pagerank``, ``entity_risk``, ``community``) are *not* used: they are computed on
the whole history, and the seeded ones from every label, so they would leak the future
and the labels into a training example. ``n_events`` and ``amount_sum`` of a link are not
used either: they aggregate events after the cutoff too.

The examples (labelled accounts and, without enough legit labels, unlabelled ones) and
their reference times come from :mod:`gnn.labels`; :func:`build_temporal_graph` computes
the features at the snapshot times they are read on.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import torch
from torch_geometric.data import HeteroData

from graph_service.errors import InvalidInput
from graph_service.model import (
    IDENTIFIER_TYPES,
    LINK_ENDPOINTS,
    LINK_TYPE_CODE,
    NODE_TYPE_CODE,
    LinkType,
    NodeType,
)
from graph_service.store import GraphStore
from graph_service.temporal import DAY_US, signup_burst

log = logging.getLogger(__name__)


#: An identifier shared by at least 2 and at most this many accounts counts as a rare share.
RARE_SHARE_MAX: Final = 50

#: Sign-up burst window: accounts first seen on the same device within this many days.
BURST_WINDOW_DAYS: Final = 3.0

#: Identifier link types, in feature order.
IDENTIFIER_LINKS: Final[tuple[LinkType, ...]] = tuple(
    t for t in LinkType if t != LinkType.TRANSFERS_TO
)

#: Account feature columns, in order (float32 tensors ``data["Account"].x``).
ACCOUNT_FEATURES: Final[tuple[str, ...]] = (
    *(f"links_{t.value.lower()}" for t in IDENTIFIER_LINKS),
    *(f"share_max_{t.value.lower()}" for t in IDENTIFIER_TYPES),
    *(f"rare_shared_{t.value.lower()}" for t in IDENTIFIER_TYPES),
    "emulator_devices",
    "rooted_devices",
    "proxy_ips",
    "signup_burst",
    "fan_in",
    "fan_out",
    "age_days",
)

#: Identifier feature columns, in order (every identifier node type).
IDENTIFIER_FEATURES: Final[tuple[str, ...]] = (
    "accounts",
    "is_emulator",
    "is_rooted",
    "is_proxy",
    "age_days",
)


def feature_schema() -> dict[str, list[str]]:
    """Feature names per node type: what a saved model was trained on."""
    schema = {NodeType.ACCOUNT.value: list(ACCOUNT_FEATURES)}
    for node_type in IDENTIFIER_TYPES:
        schema[node_type.value] = list(IDENTIFIER_FEATURES)
    return schema


def edge_types() -> list[tuple[str, str, str]]:
    """Every edge type of the graph: each link type and its reverse."""
    out: list[tuple[str, str, str]] = []
    for link, (src, dst) in LINK_ENDPOINTS.items():
        out.append((src.value, link.value, dst.value))
        out.append((dst.value, f"rev_{link.value}", src.value))
    return out


@dataclass(frozen=True)
class GraphSnapshot:
    """A heterogeneous graph as of a cutoff.

    Attributes
    ----------
    data : HeteroData
        ``data[T].x`` (float32, ``(n_T, f_T)``) for every node type ``T``;
        ``data[S, R, T].edge_index`` (int64, ``(2, e)``) for every edge type of
        :func:`edge_types`, local indices.
    store_ids : dict of str to ndarray of int64
        Store id of every local node index, per node type (ascending).
    cutoff_us : int or None
        Links first seen at or after this time (microseconds since the epoch) are left
        out; ``None`` keeps every link.
    edge_time : dict of edge type to Tensor
        First-seen time (int64 µs) of every edge, aligned with ``edge_index``.
    """

    data: HeteroData
    store_ids: dict[str, np.ndarray]
    cutoff_us: int | None
    edge_time: dict[tuple[str, str, str], torch.Tensor]

    def account_index(self, ids: np.ndarray) -> np.ndarray:
        """Local ``Account`` indices of store ids (every id must be an account)."""
        accounts = self.store_ids[NodeType.ACCOUNT.value]
        position = np.searchsorted(accounts, ids)
        position = np.minimum(position, max(accounts.shape[0] - 1, 0))
        if ids.shape[0] and (accounts.shape[0] == 0 or np.any(accounts[position] != ids)):
            raise InvalidInput("some ids are not accounts of this graph")
        return position


def build_graph(nodes: pa.Table, links: pa.Table, *, cutoff_us: int | None = None) -> GraphSnapshot:
    """The heterogeneous graph of an export, as of ``cutoff_us``.

    Parameters
    ----------
    nodes : pa.Table
        ``export_nodes()`` (``NODE_EXPORT_SCHEMA``).
    links : pa.Table
        ``export_links()`` (``LINK_EXPORT_SCHEMA``).
    cutoff_us : int, optional
        Keep only links first seen strictly before this time (µs since the epoch); also
        the "now" of age features. ``None``: every link, "now" is the latest link time.

    Returns
    -------
    GraphSnapshot

    Notes
    -----
    O(N + L log L) for N nodes and L links, all vectorised (numpy / torch).

    Shapes: ``x[Account]`` is ``(n_accounts, len(ACCOUNT_FEATURES))``; ``x[T]`` for an
    identifier type is ``(n_T, len(IDENTIFIER_FEATURES))``; every ``edge_index`` is
    ``(2, e)``.
    """
    node_ids = nodes.column("id").to_numpy().astype(np.int64)
    node_type = nodes.column("type").to_numpy().astype(np.int64)
    size = int(node_ids.max()) + 1 if node_ids.shape[0] else 0
    type_of = np.full(size, -1, np.int64)
    type_of[node_ids] = node_type
    local = np.zeros(size, np.int64)
    store_ids: dict[str, np.ndarray] = {}
    for t in NodeType:
        ids_t = np.sort(node_ids[node_type == NODE_TYPE_CODE[t]])
        store_ids[t.value] = ids_t
        local[ids_t] = np.arange(ids_t.shape[0])

    link_first = links.column("first_ts").cast(pa.int64()).to_numpy()
    if cutoff_us is None:
        keep = np.ones(link_first.shape[0], bool)
        now = (
            int(links.column("last_ts").cast(pa.int64()).to_numpy().max()) if links.num_rows else 0
        )
    else:
        keep = link_first < cutoff_us
        now = int(cutoff_us)
    src = links.column("src").to_numpy().astype(np.int64)[keep]
    dst = links.column("dst").to_numpy().astype(np.int64)[keep]
    link_code = links.column("type").to_numpy().astype(np.int64)[keep]
    first = link_first[keep]

    def attribute(column: str) -> np.ndarray:
        values = np.zeros(size, bool)
        values[node_ids] = np.asarray(
            nodes.column(column).fill_null(False).to_numpy(zero_copy_only=False), bool
        )
        return values

    is_emulator, is_rooted, is_proxy = (
        attribute("is_emulator"),
        attribute("is_rooted"),
        attribute("is_proxy"),
    )
    node_first = np.zeros(size, np.int64)
    node_first[node_ids] = nodes.column("first_ts").cast(pa.int64()).fill_null(now).to_numpy()
    age_days = np.log1p(np.maximum(now - node_first, 0) / DAY_US).astype(np.float32)

    identifier_link = link_code != LINK_TYPE_CODE[LinkType.TRANSFERS_TO]
    # Accounts sharing each identifier on the snapshot.
    shares = np.bincount(dst[identifier_link], minlength=size)

    accounts = store_ids[NodeType.ACCOUNT.value]
    n_accounts = accounts.shape[0]
    row = local[src]
    columns: dict[str, np.ndarray] = {}
    for link in IDENTIFIER_LINKS:
        mask = link_code == LINK_TYPE_CODE[link]
        columns[f"links_{link.value.lower()}"] = np.bincount(row[mask], minlength=n_accounts)
    for ident in IDENTIFIER_TYPES:
        mask = identifier_link & (type_of[dst] == NODE_TYPE_CODE[ident])
        share_max = np.zeros(n_accounts, np.int64)
        np.maximum.at(share_max, row[mask], shares[dst[mask]])
        columns[f"share_max_{ident.value.lower()}"] = share_max
        rare = mask & (shares[dst] >= 2) & (shares[dst] <= RARE_SHARE_MAX)
        columns[f"rare_shared_{ident.value.lower()}"] = np.bincount(row[rare], minlength=n_accounts)
    device = identifier_link & (type_of[dst] == NODE_TYPE_CODE[NodeType.DEVICE])
    columns["emulator_devices"] = np.bincount(row[device & is_emulator[dst]], minlength=n_accounts)
    columns["rooted_devices"] = np.bincount(row[device & is_rooted[dst]], minlength=n_accounts)
    ip = identifier_link & (type_of[dst] == NODE_TYPE_CODE[NodeType.IP])
    columns["proxy_ips"] = np.bincount(row[ip & is_proxy[dst]], minlength=n_accounts)
    columns["signup_burst"] = signup_burst(
        row[device],
        dst[device],
        first[device],
        n_accounts,
        window_us=int(BURST_WINDOW_DAYS * DAY_US),
    )
    transfer = ~identifier_link
    columns["fan_out"] = np.bincount(row[transfer], minlength=n_accounts)
    columns["fan_in"] = np.bincount(local[dst[transfer]], minlength=n_accounts)

    data = HeteroData()
    account_x = np.column_stack(
        [np.log1p(np.asarray(columns[name], np.float64)) for name in ACCOUNT_FEATURES[:-1]]
        + [age_days[accounts].astype(np.float64)]
    ).astype(np.float32)
    data[NodeType.ACCOUNT.value].x = torch.from_numpy(account_x)
    for ident in IDENTIFIER_TYPES:
        ids_t = store_ids[ident.value]
        x = np.column_stack(
            [
                np.log1p(shares[ids_t].astype(np.float64)),
                is_emulator[ids_t],
                is_rooted[ids_t],
                is_proxy[ids_t],
                age_days[ids_t],
            ]
        ).astype(np.float32)
        data[ident.value].x = torch.from_numpy(x.reshape(ids_t.shape[0], len(IDENTIFIER_FEATURES)))
    edge_time: dict[tuple[str, str, str], torch.Tensor] = {}
    for link, (src_type, dst_type) in LINK_ENDPOINTS.items():
        mask = link_code == LINK_TYPE_CODE[link]
        forward = torch.from_numpy(np.stack([local[src[mask]], local[dst[mask]]]))
        when = torch.from_numpy(np.ascontiguousarray(first[mask]))
        forward_type = (src_type.value, link.value, dst_type.value)
        reverse_type = (dst_type.value, f"rev_{link.value}", src_type.value)
        data[forward_type].edge_index = forward
        data[reverse_type].edge_index = forward.flip(0)
        edge_time[forward_type] = edge_time[reverse_type] = when
    log.info(
        "graph snapshot built",
        extra={"cutoff_us": cutoff_us, "links": int(keep.sum()), "accounts": n_accounts},
    )
    return GraphSnapshot(data=data, store_ids=store_ids, cutoff_us=cutoff_us, edge_time=edge_time)


@dataclass(frozen=True)
class TemporalGraph:
    """Every link with its first-seen time, and node features at several cutoffs.

    Attributes
    ----------
    full : GraphSnapshot
        Every link (``cutoff_us`` None); ``edge_time`` lets a sampler keep only the
        links older than a cutoff.
    cutoffs_us : ndarray of int64
        Ascending snapshot times.
    features : list of dict of str to Tensor
        ``features[k][T]``: the features of node type ``T`` computed on the links first
        seen before ``cutoffs_us[k]``.
    """

    full: GraphSnapshot
    cutoffs_us: np.ndarray
    features: list[dict[str, torch.Tensor]]

    def at(self, k: int) -> HeteroData:
        """A ``HeteroData`` with snapshot ``k``'s features and every edge (shared tensors);
        a sampler limited to snapshot ``k``'s cutoff must pick its edges."""
        data = HeteroData()
        for t, x in self.features[k].items():
            data[t].x = x
        for edge_type, edge_index in self.full.data.edge_index_dict.items():
            data[edge_type].edge_index = edge_index
        return data


def build_temporal_graph(nodes: pa.Table, links: pa.Table, cutoffs_us: np.ndarray) -> TemporalGraph:
    """The full graph plus the node features as of each cutoff.

    Parameters
    ----------
    nodes, links : pa.Table
        ``export_nodes()`` and ``export_links()``.
    cutoffs_us : ndarray of int64
        Ascending snapshot times.

    Returns
    -------
    TemporalGraph

    Notes
    -----
    ``len(cutoffs_us) + 1`` calls of :func:`build_graph`: O(K (N + L log L)); only the
    features of each snapshot are kept.
    """
    full = build_graph(nodes, links)
    features = [dict(build_graph(nodes, links, cutoff_us=int(c)).data.x_dict) for c in cutoffs_us]
    return TemporalGraph(full=full, cutoffs_us=np.asarray(cutoffs_us, np.int64), features=features)


def build_graph_from_store(store: GraphStore, *, cutoff_us: int | None = None) -> GraphSnapshot:
    """:func:`build_graph` on ``store.export_nodes()`` and ``store.export_links()``."""
    return build_graph(store.export_nodes(), store.export_links(), cutoff_us=cutoff_us)


def snapshot_id(nodes: pa.Table, links: pa.Table, labels: pa.Table) -> str:
    """A fingerprint of the data a model is trained on (counts and time ranges).

    Notes
    -----
    O(N + L + l): sums and extremes of the id and time columns, no sort.
    """
    digest = hashlib.sha256()
    for table, columns in (
        (nodes, ("id", "type")),
        (links, ("src", "dst", "type", "first_ts")),
        (labels, ("entity_id", "ts")),
    ):
        digest.update(str(table.num_rows).encode())
        for name in columns:
            if name not in table.column_names or table.num_rows == 0:
                continue
            values = table.column(name)
            if pa.types.is_timestamp(values.type):
                values = values.cast(pa.int64())
            numbers = np.asarray(values.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
            digest.update(
                np.array([numbers.sum(), numbers.min(), numbers.max()]).astype(np.int64).tobytes()
            )
    return f"snap-{digest.hexdigest()[:16]}"
