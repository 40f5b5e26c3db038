"""The embedded engine's algorithm kernels: vectorised numpy/scipy, and igraph (C).

Each kernel takes a :class:`~graph_service.projected_graph.ProjectedGraph` or its CSR
adjacency and returns plain arrays (positions into the projection's ``ids``);
:class:`~graph_service.embedded.algorithms.EmbeddedAlgorithms` turns them into the result
tables. No Python loop runs per node or per edge; the only Python loops are over
iterations or row blocks.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import scipy.sparse as sp

from graph_service.algorithms import FASTRP_ITERATION_WEIGHTS
from graph_service.projected_graph import ProjectedGraph

#: Sparsity ``s`` of the random projection: entries are ``±sqrt(s / d)`` w.p. ``1/(2s)`` each.
FASTRP_SPARSITY: Final = 3

#: Leiden iterations at most; each moves nodes, refines and aggregates once.
LEIDEN_MAX_ITERATIONS: Final = 10
#: Leiden stops once an iteration raises modularity by less than this (GDS's default).
LEIDEN_TOLERANCE: Final = 1e-4

#: igraph draws from one process-wide generator; Louvain calls swap in a seeded one.
_IGRAPH_RNG_LOCK = threading.Lock()


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


def louvain_membership(graph: ProjectedGraph, seed: int) -> np.ndarray:
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


def leiden_membership(
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
