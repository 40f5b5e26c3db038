"""The embedded graph-algorithm engine: scipy and igraph over the store's exports.

:class:`EmbeddedAlgorithms` implements :class:`~graph_service.algorithms.GraphAlgorithms`
in-process. A projection is first turned into a :class:`ProjectedGraph`: a canonical,
symmetric scipy CSR adjacency over the projected nodes (ids ascending), built with array
operations only. Every algorithm then runs on that CSR with vectorised numpy/scipy code,
or hands the edge arrays to igraph (C) for community detection. No Python loop
runs per node or per edge; the only Python loops are over iterations or row blocks.

Projection semantics (shared with the GDS engine in ``graph_service.neo4j.gds``)
--------------------------------------------------------------------------------
* Links are undirected. All links between the same two nodes (of any selected type and
  either direction, e.g. ``A -TRANSFERS_TO-> B`` and ``B -TRANSFERS_TO-> A``) collapse into
  one edge: its weight is the **sum** of their weights, and unweighted topology counts it
  **once** (degree, Jaccard neighbour sets, PageRank out-degree).
* Self-loops are dropped. Nodes of the selected types without any selected link are part
  of the projection (isolated nodes).
* Links to nodes of unselected types are dropped, as in a GDS native projection.

The result tables (schemas below) are shared by both engines, so that they compare equal.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graph_service.algorithms import (
    Algorithm,
    EdgeListProjection,
    MemoryEstimate,
    NativeProjection,
    Projection,
)
from graph_service.errors import InvalidInput, LimitExceeded
from graph_service.model import NODE_TYPE_CODE

if TYPE_CHECKING:
    from graph_service.store import GraphStore

log = logging.getLogger(__name__)

#: ``wcc`` result.
COMPONENT_SCHEMA: Final = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("component", pa.int64(), nullable=False)]
)
#: ``louvain`` / ``leiden`` result.
COMMUNITY_SCHEMA: Final = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("community", pa.int64(), nullable=False)]
)
#: ``pagerank`` result.
SCORE_SCHEMA: Final = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("score", pa.float64(), nullable=False)]
)
#: ``degree`` result.
DEGREE_SCHEMA: Final = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("degree", pa.float64(), nullable=False)]
)
#: ``node_similarity`` result.
SIMILARITY_SCHEMA: Final = pa.schema(
    [
        pa.field("id1", pa.int64(), nullable=False),
        pa.field("id2", pa.int64(), nullable=False),
        pa.field("similarity", pa.float64(), nullable=False),
    ]
)

#: FastRP defaults of GDS 2.x, used by both engines.
FASTRP_ITERATION_WEIGHTS: Final[tuple[float, ...]] = (0.0, 1.0, 1.0)
#: Sparsity ``s`` of the random projection: entries are ``±sqrt(s / d)`` w.p. ``1/(2s)`` each.
FASTRP_SPARSITY: Final = 3

#: Leiden iterations at most; each moves nodes, refines and aggregates once.
LEIDEN_MAX_ITERATIONS: Final = 10
#: Leiden stops once an iteration raises modularity by less than this (GDS's default).
LEIDEN_TOLERANCE: Final = 1e-4

# Memory model constants (bytes), see ``EmbeddedAlgorithms.estimate_memory``.
_STORE_CSR_PER_ENTRY: Final = 8 + 1 + 8 + 1  # indices, link_type, n_events, direction
_BUILD_PER_ENTRY: Final = 8 + 8 + 8 + 8 + 1  # rows, cols, local rows/cols, weights, mask
_CSR_PER_ENTRY: Final = 8 + 8  # indices (int64 at worst), float64 data
_LINK_EXPORT_PER_LINK: Final = 8 + 8 + 1 + 8 + 8 + 8 + 8  # LINK_EXPORT_SCHEMA row
_STATE_PER_NODE: Final[dict[Algorithm, int]] = {
    Algorithm.WCC: 40,
    Algorithm.LOUVAIN: 160,
    Algorithm.LEIDEN: 160,
    Algorithm.PAGERANK: 64,
    Algorithm.DEGREE: 24,
    Algorithm.NODE_SIMILARITY: 24,
    Algorithm.FASTRP: 0,  # dimension-dependent, added separately
}
_STATE_PER_EDGE: Final[dict[Algorithm, int]] = {
    Algorithm.WCC: 0,
    Algorithm.LOUVAIN: 96,
    Algorithm.LEIDEN: 96,
    Algorithm.PAGERANK: 0,
    Algorithm.DEGREE: 0,
    Algorithm.NODE_SIMILARITY: 32,
    Algorithm.FASTRP: 16,
}
_SIMILARITY_PER_PRODUCT_ENTRY: Final = 64
_SIMILARITY_PER_RESULT: Final = 40

#: igraph draws from one process-wide generator; Louvain calls swap in a seeded one.
_IGRAPH_RNG_LOCK = threading.Lock()


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


# -- result tables (shared with the GDS engine) ---------------------------------------------


def canonical_labels(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Relabel a partition so that every part is named by the smallest id it contains.

    Parameters
    ----------
    ids : ndarray of int64, shape (n,)
    labels : ndarray of int, shape (n,)
        Arbitrary part labels aligned with ``ids``.

    Returns
    -------
    ndarray of int64, shape (n,)

    Notes
    -----
    O(n log n), two sorts.

    Examples
    --------
    >>> canonical_labels(np.array([5, 2, 9]), np.array([1, 1, 0])).tolist()
    [2, 2, 9]
    """
    ids = np.asarray(ids, np.int64)
    if ids.shape[0] == 0:
        return ids.copy()
    uniq, inverse = np.unique(np.asarray(labels), return_inverse=True)
    smallest = np.full(uniq.shape[0], np.iinfo(np.int64).max, np.int64)
    np.minimum.at(smallest, inverse, ids)
    return smallest[inverse]


def partition_table(ids: np.ndarray, labels: np.ndarray, column: str) -> pa.Table:
    """``(id, <column>)`` sorted by id with canonical labels (``component``/``community``)."""
    schema = COMPONENT_SCHEMA if column == "component" else COMMUNITY_SCHEMA
    ids = np.asarray(ids, np.int64)
    order = np.argsort(ids, kind="stable")
    canon = canonical_labels(ids, labels)
    return pa.table({"id": ids[order], column: canon[order]}, schema=schema)


def value_table(ids: np.ndarray, values: np.ndarray, column: str) -> pa.Table:
    """``(id, <column> float64)`` sorted by id (``score`` or ``degree``)."""
    schema = SCORE_SCHEMA if column == "score" else DEGREE_SCHEMA
    ids = np.asarray(ids, np.int64)
    order = np.argsort(ids, kind="stable")
    return pa.table(
        {"id": ids[order], column: np.asarray(values, np.float64)[order]}, schema=schema
    )


def similarity_table(id1: np.ndarray, id2: np.ndarray, similarity: np.ndarray) -> pa.Table:
    """``(id1, id2, similarity)`` ordered by id1, similarity descending, id2."""
    id1 = np.asarray(id1, np.int64)
    id2 = np.asarray(id2, np.int64)
    similarity = np.asarray(similarity, np.float64)
    order = np.lexsort((id2, -similarity, id1))
    return pa.table(
        {"id1": id1[order], "id2": id2[order], "similarity": similarity[order]},
        schema=SIMILARITY_SCHEMA,
    )


def embedding_schema(dimension: int) -> pa.Schema:
    """``fastrp`` result schema: ``(id int64, embedding fixed_size_list<float32>[dimension])``."""
    return pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dimension), nullable=False),
        ]
    )


def embedding_table(ids: np.ndarray, embeddings: np.ndarray) -> pa.Table:
    """``(id, embedding)`` sorted by id, from a ``(n, dimension)`` float array."""
    ids = np.asarray(ids, np.int64)
    matrix = np.asarray(embeddings, np.float32)
    dimension = int(matrix.shape[1])
    order = np.argsort(ids, kind="stable")
    flat = pa.array(np.ascontiguousarray(matrix[order]).reshape(-1), pa.float32())
    return pa.table(
        {"id": ids[order], "embedding": pa.FixedSizeListArray.from_arrays(flat, dimension)},
        schema=embedding_schema(dimension),
    )


# -- algorithm kernels ---------------------------------------------------------------------


def gds_pagerank(
    adjacency: Any, *, damping: float, max_iterations: int, tolerance: float
) -> np.ndarray:
    """PageRank exactly as GDS 2.x computes it, on a symmetric (weighted) adjacency.

    GDS runs PageRank as a Pregel computation that accumulates *deltas*: every node
    starts at ``1 - d``; in superstep 0 it sends ``rank / deg`` along each relationship;
    in every later superstep it adds ``delta = d * sum(messages)`` to its rank and, only
    while ``delta > tolerance``, sends ``delta / deg`` on. With no relationship weight
    ``deg`` is the number of relationships; with a weight, the sum of the weights, and
    each message is multiplied by the weight of the relationship it travels. At most
    ``max_iterations`` supersteps run (superstep 0 included). The scores are therefore
    **not** normalised to sum to 1: an isolated node keeps ``1 - d``, and on a connected
    undirected graph they average to about 1. Nodes without relationships (``deg = 0``)
    send nothing; their mass is not redistributed.

    Parameters
    ----------
    adjacency : csr_array, shape (n, n)
        Symmetric; the values are the relationship weights (all 1 when unweighted).
    damping : float
    max_iterations : int
    tolerance : float

    Returns
    -------
    ndarray of float64, shape (n,)

    Notes
    -----
    O(max_iterations * (n + e)) time, one sparse mat-vec per superstep; O(n) extra memory.
    """
    n = int(adjacency.shape[0])
    degree = np.asarray(adjacency.sum(axis=1), np.float64).reshape(-1)
    inverse = np.divide(1.0, degree, out=np.zeros(n), where=degree > 0)
    rank = np.full(n, 1.0 - damping)
    delta = rank.copy()
    sending = degree > 0
    for _ in range(1, max_iterations):
        message = np.where(sending, delta * inverse, 0.0)
        delta = damping * (adjacency @ message)
        rank += delta
        sending = (delta > tolerance) & (degree > 0)
        if not sending.any():
            break
    return rank


def _louvain_membership(graph: ProjectedGraph, seed: int) -> np.ndarray:
    import igraph as ig  # type: ignore[import-untyped]

    src, dst, weight = graph.edges()
    g = ig.Graph(n=graph.n_nodes, edges=np.column_stack([src, dst]))
    if graph.weighted:
        g.es["weight"] = weight
    # igraph draws from a process-wide generator (Python's ``random`` module by default);
    # a private seeded Random makes the run reproducible without reseeding ``random`` itself.
    with _IGRAPH_RNG_LOCK:
        ig.set_random_number_generator(random.Random(seed))
        try:
            clustering = g.community_multilevel(weights="weight" if graph.weighted else None)
        finally:
            ig.set_random_number_generator(random)
    return np.asarray(clustering.membership, np.int64)


def _leiden_membership(
    graph: ProjectedGraph, seed: int, resolution: float, max_levels: int = LEIDEN_MAX_ITERATIONS
) -> np.ndarray:
    import igraph as ig

    src, dst, weight = graph.edges()
    g = ig.Graph(n=graph.n_nodes, edges=np.column_stack([src, dst]))
    weights = weight if graph.weighted else np.ones(src.shape[0])
    g.es["weight"] = weights
    membership: list[int] | None = None
    quality = -np.inf
    # One iteration at a time from the previous partition, as GDS does: the first two
    # find nearly all of the structure; later ones chase gains of 1e-5 at the full cost.
    with _IGRAPH_RNG_LOCK:
        ig.set_random_number_generator(random.Random(seed))
        try:
            for _ in range(max(max_levels, 1)):
                clustering = g.community_leiden(
                    objective_function="modularity",
                    weights="weight",
                    resolution=float(resolution),
                    n_iterations=1,
                    initial_membership=membership,
                )
                membership = clustering.membership
                improved = g.modularity(membership, weights="weight", resolution=resolution)
                if improved - quality < LEIDEN_TOLERANCE:
                    break
                quality = improved
        finally:
            ig.set_random_number_generator(random)
    return np.asarray(membership, np.int64)


def jaccard_top_k(
    adjacency: Any, *, top_k: int, cutoff: float, block_entries: int = 1 << 22
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k Jaccard neighbours of every node with at least one neighbour (GDS semantics).

    For nodes ``u != v`` with neighbour sets ``N(u)``, ``N(v)`` (both non-empty),
    ``J = |N(u) ∩ N(v)| / |N(u) ∪ N(v)|``. Pairs with ``J >= cutoff`` (and ``J > 0``) are
    kept, then the ``top_k`` best per ``u`` (ties by smaller ``v``). Both ``(u, v)`` and
    ``(v, u)`` are reported when each is in the other's top k, as in GDS.

    Parameters
    ----------
    adjacency : csr_array, shape (n, n)
        Symmetric; only its structure is used.
    top_k : int
    cutoff : float
    block_entries : int
        Upper bound on intersection entries materialised at once (row blocks).

    Returns
    -------
    u, v : ndarray of int64
        Row positions.
    similarity : ndarray of float64

    Notes
    -----
    Intersections are ``B @ B`` of the binary adjacency ``B`` computed for row blocks: time
    O(sum over nodes of deg²) (the number of 2-paths), memory O(block_entries + n * top_k).
    """
    structure = sp.csr_array(
        (np.ones(adjacency.nnz, np.float64), adjacency.indices, adjacency.indptr),
        shape=adjacency.shape,
    )
    n = int(structure.shape[0])
    degree = np.diff(structure.indptr).astype(np.float64)
    # Product entries of a row are bounded by the 2-paths starting there: cut the rows into
    # blocks of about ``block_entries`` 2-paths (a single heavy row may exceed it alone).
    cumulative = np.cumsum(np.asarray(structure @ degree, np.float64))
    total = float(cumulative[-1]) if n else 0.0
    marks = np.arange(1, int(total // block_entries) + 1, dtype=np.float64) * block_entries
    cuts = np.searchsorted(cumulative, marks, side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [n]]).astype(np.int64))
    out_u: list[np.ndarray] = []
    out_v: list[np.ndarray] = []
    out_s: list[np.ndarray] = []
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        product = structure[start:stop] @ structure
        u = np.repeat(np.arange(start, stop, dtype=np.int64), np.diff(product.indptr))
        v = product.indices.astype(np.int64, copy=False)
        shared = np.asarray(product.data, np.float64)
        similarity = shared / (degree[u] + degree[v] - shared)
        keep = (u != v) & (similarity >= cutoff) & (similarity > 0)
        u, v, similarity = u[keep], v[keep], similarity[keep]
        order = np.lexsort((v, -similarity, u))
        u, v, similarity = u[order], v[order], similarity[order]
        first = np.searchsorted(u, u, side="left")
        rank = np.arange(u.shape[0]) - first
        best = rank < top_k
        out_u.append(u[best])
        out_v.append(v[best])
        out_s.append(similarity[best])
    if not out_u:
        empty = np.zeros(0, np.int64)
        return empty, empty.copy(), np.zeros(0, np.float64)
    return np.concatenate(out_u), np.concatenate(out_v), np.concatenate(out_s)


def fastrp_embeddings(
    adjacency: Any,
    *,
    dimension: int,
    seed: int,
    iteration_weights: Sequence[float] = FASTRP_ITERATION_WEIGHTS,
    normalization_strength: float = 0.0,
    node_self_influence: float = 0.0,
    chunk_rows: int = 1 << 16,
) -> np.ndarray:
    """FastRP node embeddings (Chen et al., 2019) as GDS defines them, vectorised.

    ``R`` is a very sparse random projection: each entry is ``+sqrt(s/d)`` or
    ``-sqrt(s/d)`` with probability ``1/(2s)`` each (``s = 3``), else 0, scaled per node by
    ``deg^normalization_strength``. With ``X_0 = R`` and ``D`` the neighbour counts,
    ``X_i = normalise_rows(D^-1 A X_{i-1})`` (``A`` weighted when the graph is), and the
    embedding is ``node_self_influence * R + sum_i w_i X_i``.

    Parameters
    ----------
    adjacency : csr_array, shape (n, n)
    dimension : int
    seed : int
        Seeds ``numpy.random.default_rng``; the same graph and seed give the same result.
    iteration_weights : sequence of float
    normalization_strength : float
    node_self_influence : float
    chunk_rows : int
        Rows of ``R`` drawn at a time (bounds the temporary memory).

    Returns
    -------
    ndarray of float32, shape (n, dimension)

    Notes
    -----
    O(len(iteration_weights) * e * dimension) time, O(n * dimension) memory (three float32
    matrices). Random draws differ from GDS's, so values are comparable only in shape and
    quality (neighbours end up close), not numerically.
    """
    n = int(adjacency.shape[0])
    counts = np.diff(adjacency.indptr).astype(np.float64)
    rng = np.random.default_rng(seed)
    entry = np.float32(np.sqrt(FASTRP_SPARSITY / dimension))
    scale = np.where(counts > 0, np.power(np.maximum(counts, 1.0), normalization_strength), 1.0)
    initial = np.empty((n, dimension), np.float32)
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        draw = rng.integers(0, 2 * FASTRP_SPARSITY, size=(stop - start, dimension), dtype=np.int8)
        block = np.where(draw == 0, entry, np.where(draw == 1, -entry, np.float32(0.0)))
        initial[start:stop] = block * scale[start:stop, None].astype(np.float32)
    weights = sp.csr_array(
        (np.asarray(adjacency.data, np.float32), adjacency.indices, adjacency.indptr),
        shape=adjacency.shape,
    )
    inverse_count = (1.0 / np.maximum(counts, 1.0)).astype(np.float32)
    embedding = (
        initial * np.float32(node_self_influence)
        if node_self_influence
        else np.zeros((n, dimension), np.float32)
    )
    previous = initial
    for weight in iteration_weights:
        current = np.asarray(weights @ previous, np.float32)
        current *= inverse_count[:, None]
        norm = np.sqrt(np.einsum("ij,ij->i", current, current))
        current /= np.where(norm > 0, norm, 1.0).astype(np.float32)[:, None]
        if weight:
            embedding += np.float32(weight) * current
        previous = current
    return embedding


# -- memory ---------------------------------------------------------------------------------


def available_memory_bytes() -> int:
    """Memory this process can still allocate: ``MemAvailable``, capped by the cgroup limit.

    Uses ``psutil`` when installed, else ``/proc/meminfo``, else ``os.sysconf``; a cgroup v2
    ``memory.max`` (containers) lowers the figure to ``memory.max - memory.current``.
    """
    available: int | None = None
    try:
        import psutil

        available = int(psutil.virtual_memory().available)
    except ImportError:
        meminfo = Path("/proc/meminfo")
        if meminfo.exists():
            for line in meminfo.read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    if available is None:
        available = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    limit, current = Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")
    try:
        cap = limit.read_text().strip()
        if cap != "max":
            available = min(available, int(cap) - int(current.read_text().strip()))
    except (OSError, ValueError):
        pass
    return max(0, available)


# -- the engine -----------------------------------------------------------------------------


class EmbeddedAlgorithms:
    """``GraphAlgorithms`` in-process: scipy for WCC/PageRank/degree/similarity/FastRP,
    igraph for Louvain and Leiden.

    Parameters
    ----------
    store : GraphStore or None
        Source of native projections (its ``to_csr``/``export_links``). ``None`` allows
        only :class:`EdgeListProjection`.
    available_memory : int, optional
        Bytes the engine may use. Defaults to what the machine has free right now
        (:func:`available_memory_bytes`); pass a figure to cap the engine (or to test).
    similarity_block_entries : int
        Intersection entries node similarity materialises at once.

    Raises
    ------
    LimitExceeded
        From every algorithm, before any work, when :meth:`estimate_memory` does not fit.
    InvalidInput
        For a native projection without a store, or an invalid edge list.

    Examples
    --------
    >>> import numpy as np
    >>> from graph_service.algorithms import EdgeListProjection
    >>> engine = EmbeddedAlgorithms(None)
    >>> graph = EdgeListProjection(nodes=np.arange(4), src=np.array([0, 2]), dst=np.array([1, 3]))
    >>> engine.wcc(graph).column("component").to_pylist()
    [0, 0, 2, 2]
    """

    engine = "embedded"

    def __init__(
        self,
        store: GraphStore | None,
        *,
        available_memory: int | None = None,
        similarity_block_entries: int = 1 << 22,
    ) -> None:
        if similarity_block_entries < 1:
            raise InvalidInput("similarity_block_entries must be >= 1")
        self._store = store
        self._available_memory = available_memory
        self._block_entries = similarity_block_entries

    # -- projection + guard ------------------------------------------------------------
    def _graph(
        self, projection: Projection, algorithm: Algorithm, **options: int
    ) -> ProjectedGraph:
        estimate = self.estimate_memory(projection, algorithm, **options)
        if not estimate.fits:
            raise LimitExceeded(
                f"{algorithm.value} needs up to {_mib(estimate.bytes_max)} but only "
                f"{_mib(estimate.available_bytes)} is available "
                f"({estimate.node_count} nodes, {estimate.relationship_count} links)"
            )
        if isinstance(projection, EdgeListProjection):
            graph = project_edge_list(projection)
        else:
            graph = project_store(self._require_store(), projection)
        log.debug(
            "projected graph",
            extra={
                "algorithm": algorithm.value,
                "nodes": graph.n_nodes,
                "edges": graph.n_edges,
                "estimated_bytes": estimate.bytes_max,
            },
        )
        return graph

    def _require_store(self) -> GraphStore:
        if self._store is None:
            raise InvalidInput("a NativeProjection needs an engine constructed with a store")
        return self._store

    # -- algorithms ----------------------------------------------------------------------
    def wcc(self, projection: Projection) -> pa.Table:
        """Weakly connected components: ``(id, component)``, component = smallest id in it.

        Notes
        -----
        O(n + m) with scipy's ``connected_components``, plus O(n log n) to canonicalise.
        """
        graph = self._graph(projection, Algorithm.WCC)
        _, labels = connected_components(graph.adjacency, directed=False)
        return partition_table(graph.ids, labels, "component")

    def louvain(self, projection: Projection, *, seed: int = 42) -> pa.Table:
        """Louvain communities (igraph ``community_multilevel``): ``(id, community)``.

        The run is reproducible: igraph's (process-wide) random generator is swapped for a
        ``random.Random(seed)`` for the call, under a lock, and restored to Python's
        ``random`` module afterwards. Weighted when the projection has a weight.

        Notes
        -----
        About O(m log n) (Blondel et al.); graph construction from arrays ~1 µs per edge.
        """
        graph = self._graph(projection, Algorithm.LOUVAIN)
        membership = _louvain_membership(graph, seed)
        return partition_table(graph.ids, membership, "community")

    def leiden(
        self,
        projection: Projection,
        *,
        seed: int = 42,
        resolution: float = 1.0,
        max_levels: int = LEIDEN_MAX_ITERATIONS,
    ) -> pa.Table:
        """Leiden communities (igraph, modularity with resolution): ``(id, community)``.

        igraph's Leiden with the modularity objective and ``resolution`` (GDS's
        ``gamma``), seeded with ``seed``, one iteration at a time from the previous
        partition until an iteration raises modularity by less than ``LEIDEN_TOLERANCE``
        (GDS's default tolerance) or ``max_levels`` iterations ran (GDS's ``maxLevels``,
        default ``LEIDEN_MAX_ITERATIONS``).

        Notes
        -----
        Each iteration is about O(m); usually 2-4 iterations are needed.
        """
        graph = self._graph(projection, Algorithm.LEIDEN)
        membership = _leiden_membership(graph, seed, resolution, max_levels)
        return partition_table(graph.ids, membership, "community")

    def pagerank(
        self,
        projection: Projection,
        *,
        damping: float = 0.85,
        max_iterations: int = 40,
        tolerance: float = 1e-7,
    ) -> pa.Table:
        """PageRank with GDS's definition and scaling (see :func:`gds_pagerank`): ``(id, score)``.

        Notes
        -----
        O(max_iterations * (n + m)).
        """
        if not 0.0 <= damping < 1.0 or max_iterations < 1 or tolerance < 0:
            raise InvalidInput("need 0 <= damping < 1, max_iterations >= 1, tolerance >= 0")
        graph = self._graph(projection, Algorithm.PAGERANK)
        scores = gds_pagerank(
            graph.adjacency, damping=damping, max_iterations=max_iterations, tolerance=tolerance
        )
        return value_table(graph.ids, scores, "score")

    def degree(self, projection: Projection) -> pa.Table:
        """Degree: distinct neighbours, or the summed weight when weighted: ``(id, degree)``.

        Notes
        -----
        O(n + m).
        """
        graph = self._graph(projection, Algorithm.DEGREE)
        if graph.weighted:
            values = np.asarray(graph.adjacency.sum(axis=1), np.float64).reshape(-1)
        else:
            values = graph.neighbour_counts().astype(np.float64)
        return value_table(graph.ids, values, "degree")

    def node_similarity(
        self, projection: Projection, *, top_k: int = 10, cutoff: float = 0.1
    ) -> pa.Table:
        """Jaccard similarity of neighbour sets, top-k per node (see :func:`jaccard_top_k`).

        Every node with at least one neighbour in the undirected projection is compared
        with every other such node, as GDS's ``nodeSimilarity`` does on an UNDIRECTED
        graph (``degreeCutoff = 1``); similarities ``>= cutoff`` are kept. Weights are
        ignored (plain Jaccard). Rows: ``(id1, id2, similarity)``, ordered by ``id1``,
        similarity descending, ``id2``.

        Notes
        -----
        O(number of 2-paths) time, bounded memory (row blocks).
        """
        if top_k < 1 or not 0.0 <= cutoff <= 1.0:
            raise InvalidInput("need top_k >= 1 and 0 <= cutoff <= 1")
        graph = self._graph(projection, Algorithm.NODE_SIMILARITY, top_k=top_k)
        u, v, similarity = jaccard_top_k(
            graph.adjacency, top_k=top_k, cutoff=cutoff, block_entries=self._block_entries
        )
        return similarity_table(graph.ids[u], graph.ids[v], similarity)

    def fastrp(self, projection: Projection, *, dimension: int = 64, seed: int = 42) -> pa.Table:
        """FastRP embeddings (see :func:`fastrp_embeddings`): ``(id, embedding[dimension])``.

        GDS defaults: iteration weights ``(0, 1, 1)``, normalisation strength 0, no self
        influence; weighted when the projection is. Deterministic for a given seed.

        Notes
        -----
        O(3 * m * dimension) time, O(n * dimension) memory.
        """
        if dimension < 1:
            raise InvalidInput("dimension must be >= 1")
        graph = self._graph(projection, Algorithm.FASTRP, dimension=dimension)
        embeddings = fastrp_embeddings(graph.adjacency, dimension=dimension, seed=seed)
        return embedding_table(graph.ids, embeddings)

    # -- memory --------------------------------------------------------------------------
    def estimate_memory(
        self, projection: Projection, algorithm: Algorithm, *, top_k: int = 10, dimension: int = 64
    ) -> MemoryEstimate:
        """Memory to project and run ``algorithm``, against the memory available.

        With ``N`` stored nodes, ``n`` nodes of the projected types, ``L`` links of the
        projected types (upper bounds taken from ``store.counts()``, so nothing is loaded)
        and ``e = 2L`` adjacency entries:

        * projection, kept: ``e * 16 + n * 16`` (CSR indices + float64 weights, ids,
          indptr);
        * projection, transient (max only): the store's CSR export
          ``N * 17 + e * 18`` (+ ``L * 49`` for the ``amount_sum`` link export) and the
          build arrays ``e * 33``;
        * algorithm state: ``n * a + e * b`` with per-algorithm constants (WCC 40/0,
          PageRank 64/0, degree 24/0, Louvain/Leiden 160/96 for the igraph copy and the
          partition, similarity 24/32 + the product block ``min(2-paths, block) * 64`` +
          ``n * top_k * 40``, FastRP ``16 / e`` + ``n * dimension * 16``).

        ``bytes_min`` is kept projection + state, ``bytes_max`` adds the transients.

        Parameters
        ----------
        projection : Projection
        algorithm : Algorithm
        top_k, dimension : int
            The node similarity / FastRP parameters that size their state.

        Returns
        -------
        MemoryEstimate

        Notes
        -----
        O(1) for edge lists; one ``counts()`` call on the store for native projections.
        """
        n_all, n, links, amount = self._sizes(projection)
        entries = 2 * links
        kept = entries * _CSR_PER_ENTRY + n * 16
        transient = entries * _BUILD_PER_ENTRY
        if isinstance(projection, NativeProjection):
            transient += n_all * 17 + entries * _STORE_CSR_PER_ENTRY
            if amount:
                transient += links * _LINK_EXPORT_PER_LINK
        state = n * _STATE_PER_NODE[algorithm] + entries * _STATE_PER_EDGE[algorithm]
        if algorithm == Algorithm.NODE_SIMILARITY:
            # Upper bound of the 2-paths without loading: e * max degree <= e * n.
            product = min(self._block_entries, entries * max(n - 1, 0))
            state += product * _SIMILARITY_PER_PRODUCT_ENTRY + n * top_k * _SIMILARITY_PER_RESULT
        elif algorithm == Algorithm.FASTRP:
            state += n * dimension * 16
        return MemoryEstimate(
            algorithm=algorithm,
            bytes_min=int(kept + state),
            bytes_max=int(kept + state + transient),
            available_bytes=int(
                self._available_memory
                if self._available_memory is not None
                else available_memory_bytes()
            ),
            node_count=int(n),
            relationship_count=int(links),
        )

    def _sizes(self, projection: Projection) -> tuple[int, int, int, bool]:
        """``(stored nodes, projected nodes, projected links, needs amount export)``."""
        if isinstance(projection, EdgeListProjection):
            n = int(np.asarray(projection.nodes).shape[0])
            return n, n, int(np.asarray(projection.src).shape[0]), False
        counts = self._require_store().counts()
        n_all = sum(counts.nodes.values())
        n = sum(counts.nodes[t] for t in set(projection.node_types))
        links = sum(counts.links[t] for t in set(projection.link_types))
        return n_all, n, links, projection.weight == "amount_sum"


def _mib(value: int) -> str:
    return f"{value / 2**20:,.1f} MiB"
