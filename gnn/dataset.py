"""Point-in-time heterogeneous graphs and time-split labels from a ``GraphStore`` export.

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

:func:`time_split` splits the latest label of every labelled account by label time:
the oldest ``train_fraction`` train, the next ``val_fraction`` validate, the newest test.
The training and validation examples are read on the snapshot at the first validation
label's time; test examples on the snapshot at the first test label's time.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
from graph_service.temporal import signup_burst

log = logging.getLogger(__name__)

_DAY_US: Final = 86_400 * 1_000_000

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


@dataclass(frozen=True)
class LabelSplit:
    """Labelled accounts split by label time.

    Attributes
    ----------
    train_ids, val_ids, test_ids : ndarray of int64
        Store ids of the accounts in each part.
    train_y, val_y, test_y : ndarray of float32
        1 = fraud, 0 = legit (the account's latest label).
    train_cutoff_us : int
        First validation label time: every training label is older.
    test_cutoff_us : int
        First test label time: every validation label is older.
    labels : pa.Table
        ``entity_id, label, ts, author, split``: the latest label of every labelled
        account and the part it went to.
    train_ts, val_ts, test_ts : ndarray of int64
        Label times (µs) of each part's accounts.
    cutoffs_us : ndarray of int64
        Ascending snapshot times (the first is the oldest label time); see
        :meth:`snapshot_of`.
    """

    def snapshot_of(self, ts: np.ndarray) -> np.ndarray:
        """Index of the latest snapshot at or before each label time."""
        index = np.searchsorted(self.cutoffs_us, ts, side="right") - 1
        return np.maximum(index, 0)

    train_ids: np.ndarray
    train_y: np.ndarray
    val_ids: np.ndarray
    val_y: np.ndarray
    test_ids: np.ndarray
    test_y: np.ndarray
    train_cutoff_us: int
    test_cutoff_us: int
    labels: pa.Table
    train_ts: np.ndarray
    val_ts: np.ndarray
    test_ts: np.ndarray
    cutoffs_us: np.ndarray

    def counts(self) -> dict[str, dict[str, int]]:
        """Fraud and legit counts per part."""
        out = {}
        for name, y in (("train", self.train_y), ("val", self.val_y), ("test", self.test_y)):
            out[name] = {"fraud": int(y.sum()), "legit": int(y.shape[0] - y.sum())}
        return out


@dataclass(frozen=True, slots=True)
class SplitConfig:
    """How labels are split by time.

    Parameters
    ----------
    train_fraction : float
        Oldest share of labelled accounts used for training (0.6).
    val_fraction : float
        Next share, for early stopping and model selection (0.2); the newest rest tests.
    min_per_class : int
        Fraud and legit labels each part needs (3).
    snapshots : int
        Feature snapshots taken at label-time quantiles (16). Every example is read on the
        latest snapshot at or before its own label time, so its features and sampled
        neighbourhood hold only links first seen before it was labelled.
    """

    train_fraction: float = 0.6
    val_fraction: float = 0.2
    min_per_class: int = 3
    snapshots: int = 16


def latest_account_labels(labels: pa.Table) -> pa.Table:
    """The latest label of every labelled account in the graph.

    Parameters
    ----------
    labels : pa.Table
        ``store.labels()``.

    Returns
    -------
    pa.Table
        ``entity_id`` (int64), ``label`` (string), ``ts`` (int64 µs), ``author`` (string),
        ordered by ``ts`` then ``entity_id``.

    Notes
    -----
    O(l log l) for l labels.
    """
    if labels.num_rows == 0:
        return pa.table(
            {
                "entity_id": pa.array([], pa.int64()),
                "label": pa.array([], pa.string()),
                "ts": pa.array([], pa.int64()),
                "author": pa.array([], pa.string()),
            }
        )
    mask = pc.and_(
        pc.equal(labels.column("entity_type"), NodeType.ACCOUNT.value),
        pc.is_valid(labels.column("entity_id")),
    )
    rows = labels.filter(mask)
    ids = rows.column("entity_id").to_numpy().astype(np.int64)
    ts = rows.column("ts").cast(pa.int64()).fill_null(0).to_numpy()
    order = np.lexsort((np.arange(ids.shape[0]), ts, ids))
    last = np.r_[ids[order][1:] != ids[order][:-1], True] if ids.size else np.zeros(0, bool)
    keep = order[last]
    keep = keep[np.lexsort((ids[keep], ts[keep]))]
    author = rows.column("author") if "author" in rows.column_names else pa.nulls(rows.num_rows)
    return pa.table(
        {
            "entity_id": pa.array(ids[keep], pa.int64()),
            "label": rows.column("label").take(pa.array(keep)),
            "ts": pa.array(ts[keep], pa.int64()),
            "author": author.cast(pa.string()).take(pa.array(keep)),
        }
    )


def time_split(labels: pa.Table, config: SplitConfig | None = None) -> LabelSplit:
    """Split labelled accounts into train / validation / test by label time.

    Parameters
    ----------
    labels : pa.Table
        ``store.labels()``.
    config : SplitConfig, optional

    Returns
    -------
    LabelSplit

    Raises
    ------
    InvalidInput
        If a part would hold fewer than ``min_per_class`` labels of either class, or the
        fractions are out of range.

    Notes
    -----
    O(l log l). Accounts whose label time equals a boundary go to the later part, so no
    training label is as recent as the snapshot it is read on.
    """
    config = config or SplitConfig()
    if not (0 < config.train_fraction < 1 and 0 < config.val_fraction < 1) or (
        config.train_fraction + config.val_fraction >= 1
    ):
        raise InvalidInput("train_fraction and val_fraction must be in (0, 1) and sum below 1")
    latest = latest_account_labels(labels)
    ids = latest.column("entity_id").to_numpy()
    ts = latest.column("ts").to_numpy()
    fraud = np.asarray(pc.equal(latest.column("label"), "fraud").to_numpy(zero_copy_only=False))
    n = ids.shape[0]
    if n < 3:
        raise InvalidInput(f"need labelled accounts to train on, found {n}")
    t1 = int(ts[min(int(n * config.train_fraction), n - 1)])
    t2 = int(ts[min(int(n * (config.train_fraction + config.val_fraction)), n - 1)])
    part = np.where(ts < t1, 0, np.where(ts < t2, 1, 2))
    chosen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for index, name in enumerate(("train", "validation", "test")):
        mask = part == index
        y = fraud[mask].astype(np.float32)
        positives, negatives = int(y.sum()), int(y.shape[0] - y.sum())
        if min(positives, negatives) < config.min_per_class:
            raise InvalidInput(
                f"the {name} labels hold {positives} fraud / {negatives} legit; each part "
                f"needs {config.min_per_class} of each (add labels or change the split)"
            )
        chosen.append((ids[mask], y, ts[mask]))
    quantiles = np.linspace(0.0, 1.0, max(config.snapshots, 1), endpoint=False)
    cutoffs = np.unique(ts[np.minimum((quantiles * n).astype(np.int64), n - 1)])
    names = np.array(["train", "val", "test"])[part]
    table = latest.append_column("split", pa.array(names, pa.string()))
    return LabelSplit(
        train_ids=chosen[0][0],
        train_y=chosen[0][1],
        val_ids=chosen[1][0],
        val_y=chosen[1][1],
        test_ids=chosen[2][0],
        test_y=chosen[2][1],
        train_cutoff_us=t1,
        test_cutoff_us=t2,
        labels=table,
        train_ts=chosen[0][2],
        val_ts=chosen[1][2],
        test_ts=chosen[2][2],
        cutoffs_us=cutoffs.astype(np.int64),
    )


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
    age_days = np.log1p(np.maximum(now - node_first, 0) / _DAY_US).astype(np.float32)

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
        window_us=int(BURST_WINDOW_DAYS * _DAY_US),
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
