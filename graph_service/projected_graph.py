"""A projection in canonical form, the graph every algorithm engine works on.

:func:`project_store` (a :class:`~graph_service.algorithms.NativeProjection` over any
``GraphStore``) and :func:`project_edge_list` (an
:class:`~graph_service.algorithms.EdgeListProjection`) build a :class:`ProjectedGraph`: a
canonical, symmetric scipy CSR adjacency over the projected nodes (ids ascending), with
array operations only. The embedded engine runs its algorithms on it; the GDS engine sends
the canonical edge list of an edge-list projection to the server.

Projection semantics (the same for every engine)
------------------------------------------------
* Links are undirected. All links between the same two nodes (of any selected type and
  either direction, e.g. ``A -TRANSFERS_TO-> B`` and ``B -TRANSFERS_TO-> A``) collapse into
  one edge: its weight is the **sum** of their weights, and unweighted topology counts it
  **once** (degree, Jaccard neighbour sets, PageRank out-degree).
* Self-loops are dropped. Nodes of the selected types without any selected link are part
  of the projection (isolated nodes).
* Links to nodes of unselected types are dropped, as in a GDS native projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from graph_service.algorithms import EdgeListProjection, NativeProjection
from graph_service.errors import InvalidInput
from graph_service.model import NODE_TYPE_CODE

if TYPE_CHECKING:
    from graph_service.store import GraphStore


@dataclass(frozen=True, slots=True)
class ProjectedGraph:
    """A projection in canonical form: a simple, undirected, weighted graph in CSR.

    Attributes
    ----------
    ids : ndarray of int64, shape (n,)
        Store ids of the projected nodes, strictly ascending; row ``i`` is node ``ids[i]``.
    adjacency : scipy.sparse.csr_array of float64, shape (n, n)
        Symmetric, sorted indices, no duplicates, no diagonal. Values are the summed link
        weights (``1.0`` for every edge when unweighted). Zero-weight edges stay as
        explicit entries, so the sparsity structure is exactly the topology.
    weighted : bool
        Whether ``adjacency`` holds link weights.
    """

    ids: np.ndarray
    adjacency: Any
    weighted: bool

    @property
    def n_nodes(self) -> int:
        """Number of projected nodes."""
        return int(self.ids.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of undirected edges (each counted once)."""
        return int(self.adjacency.nnz // 2)

    def neighbour_counts(self) -> np.ndarray:
        """Distinct neighbours of every node, shape ``(n,)``, int64."""
        return np.asarray(np.diff(self.adjacency.indptr), np.int64)

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Undirected edges once each, as row positions ``(src < dst, weight)``.

        Returns
        -------
        src, dst : ndarray of int64, shape (m,)
            Positions into :attr:`ids` (not store ids), ``src < dst``.
        weight : ndarray of float64, shape (m,)
        """
        adj = self.adjacency
        rows = np.repeat(np.arange(self.n_nodes, dtype=np.int64), np.diff(adj.indptr))
        cols = adj.indices.astype(np.int64, copy=False)
        upper = rows < cols
        return rows[upper], cols[upper], np.asarray(adj.data, np.float64)[upper]


# -- building projections ------------------------------------------------------------------


def _symmetric_csr(
    n: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, keep_nodes: np.ndarray | None
) -> tuple[np.ndarray, Any]:
    """Canonical symmetric CSR from directed entries that already include both directions.

    Entries between excluded nodes and self-loops are dropped, duplicates summed; the kept
    nodes are renumbered ``0..k-1`` in their original order.

    Returns
    -------
    kept : ndarray of int64, shape (k,)
        Original positions of the kept nodes.
    adjacency : csr_array, shape (k, k)

    Notes
    -----
    O(n + e log(e / n)) time (scipy sorts each row), O(n + e) memory.
    """
    if keep_nodes is None:
        kept = np.arange(n, dtype=np.int64)
        keep = rows != cols
        local_rows, local_cols = rows[keep], cols[keep]
    else:
        kept = np.flatnonzero(keep_nodes).astype(np.int64)
        keep = keep_nodes[rows] & keep_nodes[cols] & (rows != cols)
        local = np.cumsum(keep_nodes, dtype=np.int64) - 1
        local_rows, local_cols = local[rows[keep]], local[cols[keep]]
    k = int(kept.shape[0])
    # coo -> csr sorts each row and sums duplicates; explicit zeros are kept (scipy >= 1.11).
    adjacency = sp.csr_array(
        (np.asarray(weights, np.float64)[keep], (local_rows, local_cols)), shape=(k, k)
    )
    adjacency.sum_duplicates()
    return kept, adjacency


def project_store(store: GraphStore, projection: NativeProjection) -> ProjectedGraph:
    """Build the canonical graph of a native projection from a store's exports.

    Parameters
    ----------
    store : GraphStore
        Any backend; ``to_csr`` (and ``export_links`` for ``amount_sum``) are read.
    projection : NativeProjection

    Returns
    -------
    ProjectedGraph

    Notes
    -----
    O(N + L log(L / N)) time and O(N + L) memory for N stored nodes and L selected links;
    one export, then array operations only.
    """
    link_types = tuple(dict.fromkeys(projection.link_types))
    node_codes = np.array(sorted({NODE_TYPE_CODE[t] for t in projection.node_types}), np.uint8)
    csr = store.to_csr(list(link_types) or None)
    n_all = csr.n_nodes
    keep_nodes = np.isin(csr.node_type, node_codes)
    if not link_types:
        rows = cols = np.zeros(0, np.int64)
        weights = np.zeros(0, np.float64)
    elif projection.weight == "amount_sum":
        links = store.export_links(list(link_types))
        src = links.column("src").to_numpy().astype(np.int64, copy=False)
        dst = links.column("dst").to_numpy().astype(np.int64, copy=False)
        amount = links.column("amount_sum").to_numpy().astype(np.float64, copy=False)
        rows, cols = np.concatenate([src, dst]), np.concatenate([dst, src])
        weights = np.concatenate([amount, amount])
    else:
        # The store's CSR already holds both directions of every link.
        rows = np.repeat(np.arange(n_all, dtype=np.int64), np.diff(csr.indptr))
        cols = csr.indices.astype(np.int64, copy=False)
        weights = (
            csr.n_events.astype(np.float64)
            if projection.weight == "n_events"
            else np.ones(rows.shape[0], np.float64)
        )
    kept, adjacency = _symmetric_csr(n_all, rows, cols, weights, keep_nodes)
    if projection.weight is None:
        adjacency.data[:] = 1.0
    return ProjectedGraph(ids=kept, adjacency=adjacency, weighted=projection.weight is not None)


def project_edge_list(projection: EdgeListProjection) -> ProjectedGraph:
    """Build the canonical graph of an edge-list projection.

    Parameters
    ----------
    projection : EdgeListProjection

    Returns
    -------
    ProjectedGraph

    Raises
    ------
    InvalidInput
        If an edge end is not among ``nodes``, array shapes differ, or a weight is negative
        or not finite.

    Notes
    -----
    O(n + m) time for ids in a dense range (a lookup table maps edge ends), O((n + m) log n)
    otherwise (sort of the node ids, binary search of the ends).

    Examples
    --------
    >>> import numpy as np
    >>> g = project_edge_list(EdgeListProjection(
    ...     nodes=np.array([7, 3, 5]), src=np.array([3, 7]), dst=np.array([5, 5])))
    >>> g.ids.tolist(), g.n_edges
    ([3, 5, 7], 2)
    """
    nodes = np.asarray(projection.nodes, np.int64)
    if nodes.shape[0] > 1 and not (np.diff(nodes) > 0).all():
        nodes = np.unique(nodes)
    src = np.asarray(projection.src, np.int64)
    dst = np.asarray(projection.dst, np.int64)
    if src.shape != dst.shape or src.ndim != 1:
        raise InvalidInput(f"src {src.shape} and dst {dst.shape} must be 1-d of equal length")
    if projection.weight is None:
        weight = np.ones(src.shape[0], np.float64)
    else:
        weight = np.asarray(projection.weight, np.float64)
        if weight.shape != src.shape:
            raise InvalidInput(f"weight {weight.shape} must have the shape of src {src.shape}")
        if not np.isfinite(weight).all() or (weight < 0).any():
            raise InvalidInput("edge weights must be finite and non-negative")
    n = int(nodes.shape[0])
    s, d = _positions(nodes, src), _positions(nodes, dst)
    missing = (s < 0) | (d < 0)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise InvalidInput(
            f"{int(missing.sum())} edge(s) have an end outside nodes, "
            f"e.g. ({int(src[first])}, {int(dst[first])})"
        )
    _, adjacency = _symmetric_csr(
        n, np.concatenate([s, d]), np.concatenate([d, s]), np.concatenate([weight, weight]), None
    )
    if projection.weight is None:
        adjacency.data[:] = 1.0
    return ProjectedGraph(ids=nodes, adjacency=adjacency, weighted=projection.weight is not None)


def _positions(nodes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Positions of ``query`` ids in the sorted unique ``nodes``; -1 where absent.

    Dense id ranges (the store's ids are ``0..N-1``) use a lookup table, O(n + q); sparse
    ones fall back to binary search, O(q log n).
    """
    n = int(nodes.shape[0])
    if n == 0 or query.shape[0] == 0:
        return np.full(query.shape[0], -1, np.int64)
    low, high = int(nodes[0]), int(nodes[-1])
    inside = (query >= low) & (query <= high)
    if high - low + 1 <= 4 * n + (1 << 20):
        table = np.full(high - low + 1, -1, np.int64)
        table[nodes - low] = np.arange(n, dtype=np.int64)
        return np.where(inside, table[np.where(inside, query - low, 0)], -1)
    found = np.minimum(np.searchsorted(nodes, query), n - 1)
    return np.where(inside & (nodes[found] == query), found, -1)
